package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/x448/float16"
	"google.golang.org/protobuf/proto"

	"github.com/distillgo/distill/internal/atomicfile"
)

// ProducerName and ProducerVersion are written into every exported model's producer fields.
// ProducerVersion is part of the file's bytes, so changing it changes the golden hashes in testdata/.
const (
	ProducerName    = "distill"
	ProducerVersion = "0.1.0"
)

// Opset limits of the exporter. DefaultOpset (13) is the opset written when ExportGraph.Opset is 0:
// every op the exporter uses exists there in its current form and it is widely supported (onnxruntime
// >= 1.8, Debian's python3-onnx 1.12). MinOpset (7) is the oldest opset onnxruntime loads and the first
// with Gemm's modern broadcasting form; MaxOpset (21) is the newest opset whose IR version is known here.
const (
	DefaultOpset = 13
	MinOpset     = 7
	MaxOpset     = 21
)

// Default value names of an exported graph.
const (
	DefaultInputName  = "input"
	DefaultOutputName = "logits"
)

// BatchDim is the symbolic name of the dynamic batch axis of the input and the output.
const BatchDim = "N"

// Layer is one inference layer of an exported student. Which fields apply depends on Op:
//
//	Gemm:    Weight [in, out] row-major (y = x W + b, written with transB = 0), Bias [out]
//	Relu:    none
//	Conv:    Weight [filters, channels, k, k], Bias [filters] or nil, Kernel k, Stride (0 means 1), Pad
//	MaxPool: Kernel k, Stride (0 means Kernel), Pad
//	Flatten: none (axis 1: [N, c, h, w] -> [N, c*h*w])
//
// WeightShape holds the dimensions of Weight. Dropout has no Op: callers leave it out.
type Layer struct {
	Op                  string
	Weight, Bias        []float32
	WeightShape         []int
	Kernel, Stride, Pad int
}

// ExportGraph is a feed-forward student in the form Export writes and ImportGraph reads back.
type ExportGraph struct {
	// InputName names the graph input (default "input"); OutputName the logits output (default "logits").
	InputName, OutputName string
	// InputShape is the shape of one sample, e.g. [784] or [1, 28, 28]; the exported input is
	// [N, InputShape...] with a dynamic batch axis N.
	InputShape []int
	// Classes is the number of logits per sample; the exported output is [N, Classes].
	Classes int
	// Layers are applied in order.
	Layers []Layer
	// Opset is the ai.onnx opset version to target (0 means DefaultOpset).
	Opset int
	// FP16 stores weights as float16 initializers, each widened by a Cast node; the model's input,
	// output and arithmetic stay float32.
	FP16 bool
	// Int8 stores every Gemm and Conv weight as a symmetric per-output-channel int8 initializer
	// with a float32 scale per channel (QuantizeChannels), widened by a DequantizeLinear node;
	// biases, input, output and arithmetic stay float32. It needs opset >= 13 and excludes FP16.
	// ImportGraph returns the dequantised weights with Int8 set (default false).
	Int8 bool
	// Metadata becomes the model's metadata_props, written in sorted key order.
	Metadata map[string]string
	// Checksum records a sha256 of the whole file under the metadata key ChecksumKey, which
	// ReadModelInfo, Open and ImportGraph verify (default false: the file has no such entry, and
	// a ChecksumKey entry in Metadata is dropped). ImportGraph sets it for a model that has one.
	Checksum bool
}

// ErrOpsetTooOld is returned (wrapped) when the requested opset lacks an op, or an op's form, the
// graph needs. Its message names the op and the minimum opset.
var ErrOpsetTooOld = errors.New("opset too old")

// opMinOpset is the first opset with the form of each op that Export writes: Gemm before opset 7
// needed a "broadcast" attribute for the bias, Relu before 6 and Cast before 6 had the old
// "consumed_inputs"/string "to" attributes.
var opMinOpset = map[string]int{
	"Gemm":    7,
	"Relu":    6,
	"Conv":    1,
	"MaxPool": 1,
	"Flatten": 1,
	"Cast":    6,
	// DequantizeLinear exists from opset 10; its per-axis scale (one per output channel), from 13.
	"DequantizeLinear": MinOpsetInt8,
}

// irVersion returns the IR version that came out with the ONNX release introducing opset
// (onnx/docs/Versioning.md): a model must not declare an IR older than its opset needs, and an IR
// newer than needed shuts out older runtimes.
func irVersion(opset int) int64 {
	switch {
	case opset <= 8:
		return 3
	case opset == 9:
		return 4
	case opset == 10:
		return 5
	case opset == 11:
		return 6
	case opset <= 14:
		return 7
	case opset <= 18:
		return 8
	case opset <= 20:
		return 9
	default:
		return 10
	}
}

// maxDim bounds every dimension and element count, so hostile files cannot make shape arithmetic
// overflow or ask for absurd allocations (2^31 floats is 8 GiB, far above any student).
const maxDim = 1 << 31

// Encode returns g as the bytes of an ONNX model: input InputName [N, InputShape...] float32 with
// a dynamic batch axis N, output OutputName [N, Classes] float32, one standard op per layer and
// the weights as initializers in little-endian raw_data. The same graph always gives the same
// bytes, and they are the bytes Export writes, so a caller can write them to a temporary file
// (internal/atomicfile), check them, and then put them in place. Errors say what is wrong with g;
// the caller wraps them with what it was writing.
func Encode(g ExportGraph) ([]byte, error) {
	m, err := buildModel(g)
	if err != nil {
		return nil, err
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshal: %w", err)
	}
	if g.Checksum {
		if err := sealChecksum(data); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// Export writes g to path as an ONNX model, the bytes of Encode. The file is written to a
// temporary name in the same directory and renamed into place (atomicfile.WriteFile).
func Export(path string, g ExportGraph) error {
	data, err := Encode(g)
	if err != nil {
		return fmt.Errorf("export onnx %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("export onnx %s: %w", path, err)
	}
	return nil
}

// Tensor and node names of exported graphs; ImportGraph relies on nothing but the wiring.
func weightName(i int) string { return fmt.Sprintf("layer%d.weight", i) }
func biasName(i int) string   { return fmt.Sprintf("layer%d.bias", i) }
func outName(i int) string    { return fmt.Sprintf("layer%d.out", i) }

// buildModel converts g into its ModelProto.
func buildModel(in ExportGraph) (*pb.ModelProto, error) {
	g, err := in.normalized()
	if err != nil {
		return nil, err
	}
	b := graphBuilder{g: g, graph: &pb.GraphProto{Name: "distill-student"}}
	b.graph.Input = []*pb.ValueInfoProto{valueInfo(g.InputName, pb.TensorProto_FLOAT, toInt64(g.InputShape))}
	b.graph.Output = []*pb.ValueInfoProto{valueInfo(g.OutputName, pb.TensorProto_FLOAT, []int64{int64(g.Classes)})}
	cur := g.InputName
	for i, l := range g.Layers {
		out := outName(i)
		if i == len(g.Layers)-1 {
			out = g.OutputName
		}
		if err := b.layer(i, l, cur, out); err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", i, l.Op, err)
		}
		cur = out
	}
	return &pb.ModelProto{
		IrVersion:       irVersion(g.Opset),
		OpsetImport:     []*pb.OperatorSetIdProto{{Domain: "", Version: int64(g.Opset)}},
		ProducerName:    ProducerName,
		ProducerVersion: ProducerVersion,
		Graph:           b.graph,
		MetadataProps:   metadataProps(g.Metadata, g.Checksum),
	}, nil
}

// graphBuilder appends the nodes and initializers of a normalized ExportGraph to a GraphProto.
type graphBuilder struct {
	g     *ExportGraph
	graph *pb.GraphProto
}

// layer appends layer i's node, reading value in and writing value out, after the initializers
// (and, with FP16, the Cast nodes, with Int8 the DequantizeLinear node) of its weight and bias.
func (b *graphBuilder) layer(i int, l Layer, in, out string) error {
	node := &pb.NodeProto{Name: fmt.Sprintf("layer%d.%s", i, l.Op), OpType: l.Op, Input: []string{in}, Output: []string{out}}
	switch l.Op {
	case "Gemm", "Conv":
		w := b.param
		if b.g.Int8 {
			w = b.int8Param(l.Op)
		}
		name, err := w(weightName(i), l.Weight, l.WeightShape)
		if err != nil {
			return err
		}
		node.Input = append(node.Input, name)
		if l.Bias != nil {
			name, _ := b.param(biasName(i), l.Bias, []int{len(l.Bias)})
			node.Input = append(node.Input, name)
		}
	}
	switch l.Op {
	case "Conv", "MaxPool":
		k, s, p := int64(l.Kernel), int64(l.Stride), int64(l.Pad)
		node.Attribute = []*pb.AttributeProto{
			intsAttr("kernel_shape", k, k),
			intsAttr("pads", p, p, p, p),
			intsAttr("strides", s, s),
		}
	case "Flatten":
		node.Attribute = []*pb.AttributeProto{intAttr("axis", 1)}
	}
	b.graph.Node = append(b.graph.Node, node)
	return nil
}

// param adds an initializer and returns the float32 value name the layer node consumes: the
// initializer itself, or with FP16 the output of a Cast node that widens it. It never fails; the
// error is that of the weight writers' common signature.
func (b *graphBuilder) param(name string, data []float32, shape []int) (string, error) {
	t := initializerTensor(name, data, toInt64(shape), b.g.FP16)
	b.graph.Initializer = append(b.graph.Initializer, t)
	if irVersion(b.g.Opset) < 4 {
		// Before IR 4 every initializer must also be declared as a graph input.
		b.graph.Input = append(b.graph.Input, &pb.ValueInfoProto{Name: name, Type: tensorType(pb.TensorProto_DataType(t.DataType), t.Dims, false)})
	}
	if !b.g.FP16 {
		return name, nil
	}
	f32 := name + ".f32"
	b.graph.Node = append(b.graph.Node, &pb.NodeProto{
		Name: name + ".cast", OpType: "Cast", Input: []string{name}, Output: []string{f32},
		Attribute: []*pb.AttributeProto{intAttr("to", int64(pb.TensorProto_FLOAT))},
	})
	return f32, nil
}

// initializerTensor holds data as little-endian raw_data: float16 when fp16, else float32.
func initializerTensor(name string, data []float32, dims []int64, fp16 bool) *pb.TensorProto {
	t := &pb.TensorProto{Name: name, Dims: dims}
	if fp16 {
		t.DataType = int32(pb.TensorProto_FLOAT16)
		t.RawData = make([]byte, 2*len(data))
		for i, v := range data {
			binary.LittleEndian.PutUint16(t.RawData[2*i:], float16.Fromfloat32(v).Bits())
		}
		return t
	}
	t.DataType = int32(pb.TensorProto_FLOAT)
	t.RawData = make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(t.RawData[4*i:], math.Float32bits(v))
	}
	return t
}

// metadataProps returns meta as metadata_props in sorted key order, any ChecksumKey entry
// dropped; with checksum, a placeholder ChecksumKey entry comes first, so that a file cut short
// anywhere after it fails the check. Encode seals it once the model is marshalled.
func metadataProps(meta map[string]string, checksum bool) []*pb.StringStringEntryProto {
	var props []*pb.StringStringEntryProto
	if checksum {
		props = append(props, &pb.StringStringEntryProto{Key: ChecksumKey, Value: string(checksumPlaceholder)})
	}
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		if k != ChecksumKey {
			props = append(props, &pb.StringStringEntryProto{Key: k, Value: meta[k]})
		}
	}
	return props
}

// valueInfo describes a float tensor [N, dims...] with the dynamic batch axis N.
func valueInfo(name string, dt pb.TensorProto_DataType, dims []int64) *pb.ValueInfoProto {
	return &pb.ValueInfoProto{Name: name, Type: tensorType(dt, dims, true)}
}

func tensorType(dt pb.TensorProto_DataType, dims []int64, batch bool) *pb.TypeProto {
	shape := &pb.TensorShapeProto{}
	if batch {
		shape.Dim = append(shape.Dim, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: BatchDim}})
	}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{ElemType: int32(dt), Shape: shape}}}
}

func intAttr(name string, v int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_INT, I: v}
}

func intsAttr(name string, v ...int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_INTS, Ints: v}
}
