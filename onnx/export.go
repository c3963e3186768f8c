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
	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/internal/nn"
)

// ProducerName is written into every exported model's producer_name.
const ProducerName = "distill"

// ProducerVersion is written into every exported model's producer_version: distill's version
// (meta.Version, stamped at build). It is part of the file's bytes, so changing it changes the
// golden hashes in testdata/.
var ProducerVersion = meta.Version

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

// ExportGraph is a network in the form Export writes and ImportGraph reads back: the ONNX nodes
// and float32 initializers of internal/nn's neutral form (nn.Encode makes them from a student),
// with how to store the weights and what metadata to add.
type ExportGraph struct {
	// ONNXGraph holds the input and output (their names default to "input" and "logits"), the
	// per-sample input shape, the classes, the opset (0 means DefaultOpset), the nodes and the
	// initializers. The exported input is [N, InputShape...] and the output [N, Classes], with a
	// dynamic batch axis N.
	nn.ONNXGraph
	// FP16 stores every initializer as float16, each widened by a Cast node; the model's input,
	// output and arithmetic stay float32.
	FP16 bool
	// Int8 stores every initializer with a channel axis (the weights of Gemm and Conv) as a
	// symmetric per-output-channel int8 initializer with a float32 scale per channel
	// (QuantizeChannels), widened by a DequantizeLinear node; the others (biases, batchnorm's
	// tensors), input, output and arithmetic stay float32. It needs opset >= 13 and excludes FP16.
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
	"Gemm":               7,
	"Relu":               6,
	"Conv":               1,
	"MaxPool":            1,
	"Flatten":            1,
	"Cast":               6,
	"BatchNormalization": 9, // the form without "spatial"
	"Add":                7, // broadcasting
	"Mul":                7,
	"Div":                7,
	"Concat":             4, // axis required
	"AveragePool":        7, // count_include_pad
	"GlobalAveragePool":  1,
	"Sigmoid":            6,
	"Tanh":               6,
	"LeakyRelu":          6,
	"HardSigmoid":        6,
	"Erf":                9,
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

// buildModel converts g into its ModelProto: the nodes in order, each initializer written (and,
// with FP16, cast or, with Int8 and a channel axis, dequantised) just before the first node that
// reads it.
func buildModel(in ExportGraph) (*pb.ModelProto, error) {
	g, err := in.normalized()
	if err != nil {
		return nil, err
	}
	b := graphBuilder{g: g, graph: &pb.GraphProto{Name: "distill-student"}}
	b.graph.Input = []*pb.ValueInfoProto{valueInfo(g.Input, pb.TensorProto_FLOAT, toInt64(g.InputShape))}
	b.graph.Output = []*pb.ValueInfoProto{valueInfo(g.Output, pb.TensorProto_FLOAT, []int64{int64(g.Classes)})}
	inits := map[string]*nn.ONNXInit{}
	for i := range g.Inits {
		in := &g.Inits[i]
		if _, dup := inits[in.Name]; dup {
			return nil, fmt.Errorf("initializer %q appears twice", in.Name)
		}
		if err := checkData(in.Name, in.Values, in.Dims); err != nil {
			return nil, err
		}
		inits[in.Name] = in
	}
	written := map[string]string{} // initializer -> the float32 value its readers read
	defined := map[string]bool{g.Input: true}
	for _, n := range g.Nodes {
		where := fmt.Sprintf("node %q (%s)", n.Name, n.Op)
		if min, ok := opMinOpset[n.Op]; ok && g.Opset < min {
			return nil, fmt.Errorf("%s: %w: %s needs opset >= %d, got %d", where, ErrOpsetTooOld, n.Op, min, g.Opset)
		}
		if n.Op == "Gemm" && len(n.Inputs) < 3 && g.Opset < 11 {
			return nil, fmt.Errorf("%s: %w: Gemm without a bias needs opset >= 11, got %d", where, ErrOpsetTooOld, g.Opset)
		}
		pn := &pb.NodeProto{Name: n.Name, OpType: n.Op, Input: slices.Clone(n.Inputs), Output: slices.Clone(n.Outputs)}
		for k, name := range n.Inputs {
			if in, ok := inits[name]; ok {
				v, done := written[name]
				if !done {
					if v, err = b.initializer(in); err != nil {
						return nil, fmt.Errorf("%s: initializer %q: %w", where, name, err)
					}
					written[name] = v
				}
				pn.Input[k] = v
				continue
			}
			if !defined[name] {
				return nil, fmt.Errorf("%s: input %q is neither an initializer nor written by an earlier node", where, name)
			}
		}
		for _, out := range n.Outputs {
			if defined[out] || inits[out] != nil {
				return nil, fmt.Errorf("%s: output %q is written twice", where, out)
			}
			defined[out] = true
		}
		for _, a := range n.Attrs {
			pn.Attribute = append(pn.Attribute, attrProto(a))
		}
		b.graph.Node = append(b.graph.Node, pn)
	}
	if !defined[g.Output] {
		return nil, fmt.Errorf("no node writes the output %q", g.Output)
	}
	for _, in := range g.Inits {
		if _, ok := written[in.Name]; !ok {
			return nil, fmt.Errorf("initializer %q is not used", in.Name)
		}
	}
	// The shapes must fit: internal/nn reads the graph back as it will on import.
	if _, _, err := nn.Decode(&g.ONNXGraph); err != nil {
		return nil, err
	}
	if g.Opset < MinOpset {
		return nil, fmt.Errorf("%w: onnxruntime needs opset >= %d, got %d", ErrOpsetTooOld, MinOpset, g.Opset)
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

// attrProto converts a neutral attribute.
func attrProto(a nn.ONNXAttr) *pb.AttributeProto {
	switch a.Kind {
	case nn.AttrInts:
		return &pb.AttributeProto{Name: a.Name, Type: pb.AttributeProto_INTS, Ints: a.Ints}
	case nn.AttrFloat:
		return &pb.AttributeProto{Name: a.Name, Type: pb.AttributeProto_FLOAT, F: a.F}
	case nn.AttrString:
		return &pb.AttributeProto{Name: a.Name, Type: pb.AttributeProto_STRING, S: []byte(a.S)}
	}
	return &pb.AttributeProto{Name: a.Name, Type: pb.AttributeProto_INT, I: a.Int}
}

// graphBuilder appends the nodes and initializers of a normalized ExportGraph to a GraphProto.
type graphBuilder struct {
	g     *ExportGraph
	graph *pb.GraphProto
}

// initializer writes in and returns the float32 value name its readers consume: the initializer
// itself, with FP16 the output of a Cast node that widens it, with Int8 (for an initializer with
// a channel axis) the output of a DequantizeLinear node.
func (b *graphBuilder) initializer(in *nn.ONNXInit) (string, error) {
	if b.g.Int8 && in.ChannelAxis >= 0 {
		return b.int8Param(in)
	}
	return b.param(in.Name, in.Values, in.Dims)
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
