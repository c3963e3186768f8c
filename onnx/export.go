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

// normalized returns a copy of g with defaults filled in (names, opset, strides) and checks that the
// graph is one Export can write: every layer's weights match the shapes flowing through the graph,
// the last layer yields [Classes], and the opset is in range and new enough for every op.
func (g *ExportGraph) normalized() (*ExportGraph, error) {
	n := *g
	if n.InputName == "" {
		n.InputName = DefaultInputName
	}
	if n.OutputName == "" {
		n.OutputName = DefaultOutputName
	}
	if n.InputName == n.OutputName {
		return nil, fmt.Errorf("input and output share the name %q", n.InputName)
	}
	if n.Opset == 0 {
		n.Opset = DefaultOpset
	}
	if n.Opset > MaxOpset || n.Opset < 1 {
		return nil, fmt.Errorf("opset %d is outside the supported range %d..%d", n.Opset, MinOpset, MaxOpset)
	}
	if len(n.InputShape) == 0 {
		return nil, errors.New("empty input shape")
	}
	if n.Classes < 1 || n.Classes >= maxDim {
		return nil, fmt.Errorf("classes must be > 0, got %d", n.Classes)
	}
	if len(n.Layers) == 0 {
		return nil, errors.New("no layers")
	}
	cur := append([]int(nil), n.InputShape...)
	if _, err := numel(cur); err != nil {
		return nil, fmt.Errorf("input shape %v: %w", cur, err)
	}
	n.Layers = make([]Layer, len(g.Layers))
	for i, l := range g.Layers {
		if min, ok := opMinOpset[l.Op]; ok && n.Opset < min {
			return nil, fmt.Errorf("layer %d: %w: %s needs opset >= %d, got %d", i, ErrOpsetTooOld, l.Op, min, n.Opset)
		}
		var err error
		if l, cur, err = checkLayer(l, cur, n.Opset); err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", i, l.Op, err)
		}
		n.Layers[i] = l
	}
	if n.FP16 && n.Opset < opMinOpset["Cast"] {
		return nil, fmt.Errorf("%w: Cast (fp16 weights) needs opset >= %d, got %d", ErrOpsetTooOld, opMinOpset["Cast"], n.Opset)
	}
	if n.Opset < MinOpset {
		return nil, fmt.Errorf("%w: onnxruntime needs opset >= %d, got %d", ErrOpsetTooOld, MinOpset, n.Opset)
	}
	if len(cur) != 1 || cur[0] != n.Classes {
		return nil, fmt.Errorf("last layer yields per-sample shape %v, want [%d] (classes)", cur, n.Classes)
	}
	return &n, nil
}

// checkLayer validates l against the per-sample input shape in and returns the layer with defaults
// filled in and its per-sample output shape.
func checkLayer(l Layer, in []int, opset int) (Layer, []int, error) {
	switch l.Op {
	case "Gemm":
		return checkGemm(l, in, opset)
	case "Relu", "Flatten":
		return checkNoParams(l, in)
	case "Conv", "MaxPool":
		return checkWindow(l, in)
	case "":
		return l, nil, errors.New("missing op")
	default:
		return l, nil, fmt.Errorf("unsupported op %q (want Gemm, Relu, Conv, MaxPool or Flatten)", l.Op)
	}
}

// checkGemm checks a Gemm layer: a weight [in, out] and a bias [out] (optional from opset 11).
func checkGemm(l Layer, in []int, opset int) (Layer, []int, error) {
	if len(in) != 1 {
		return l, nil, fmt.Errorf("input has per-sample shape %v; Gemm needs a vector (add a Flatten)", in)
	}
	if len(l.WeightShape) != 2 || l.WeightShape[0] != in[0] || l.WeightShape[1] < 1 {
		return l, nil, fmt.Errorf("weight shape %v, want [%d, out]", l.WeightShape, in[0])
	}
	out := l.WeightShape[1]
	if err := checkData("weight", l.Weight, l.WeightShape); err != nil {
		return l, nil, err
	}
	if l.Bias == nil && opset < 11 {
		return l, nil, fmt.Errorf("%w: Gemm without a bias needs opset >= 11, got %d", ErrOpsetTooOld, opset)
	}
	if l.Bias != nil {
		if err := checkData("bias", l.Bias, []int{out}); err != nil {
			return l, nil, err
		}
	}
	if l.Kernel != 0 || l.Stride != 0 || l.Pad != 0 {
		return l, nil, errors.New("kernel, stride and pad do not apply to Gemm")
	}
	return l, []int{out}, nil
}

// checkNoParams checks a Relu or Flatten layer, which has neither weights nor a window.
func checkNoParams(l Layer, in []int) (Layer, []int, error) {
	if l.Weight != nil || l.Bias != nil || l.WeightShape != nil || l.Kernel != 0 || l.Stride != 0 || l.Pad != 0 {
		return l, nil, fmt.Errorf("%s takes no weights or window", l.Op)
	}
	if l.Op == "Flatten" {
		size, _ := numel(in)
		return l, []int{size}, nil
	}
	return l, in, nil
}

// checkWindow checks a Conv or MaxPool layer over [channels, height, width]: its kernel, stride
// (0 becomes 1 for Conv and Kernel for MaxPool) and pad, and Conv's weight and bias.
func checkWindow(l Layer, in []int) (Layer, []int, error) {
	if len(in) != 3 {
		return l, nil, fmt.Errorf("input has per-sample shape %v; %s needs [channels, height, width]", in, l.Op)
	}
	if l.Kernel < 1 || l.Kernel >= maxDim || l.Stride < 0 || l.Stride >= maxDim || l.Pad < 0 || l.Pad >= maxDim {
		return l, nil, fmt.Errorf("kernel %d, stride %d, pad %d: want kernel > 0, stride >= 0, pad >= 0", l.Kernel, l.Stride, l.Pad)
	}
	if l.Stride == 0 {
		l.Stride = 1
		if l.Op == "MaxPool" {
			l.Stride = l.Kernel
		}
	}
	if l.Pad >= l.Kernel {
		// ONNX requires pads smaller than the kernel (a window of padding only).
		return l, nil, fmt.Errorf("pad %d must be smaller than kernel %d", l.Pad, l.Kernel)
	}
	h, w := in[1]+2*l.Pad-l.Kernel, in[2]+2*l.Pad-l.Kernel
	if h < 0 || w < 0 {
		return l, nil, fmt.Errorf("kernel %d larger than padded input %dx%d", l.Kernel, in[1]+2*l.Pad, in[2]+2*l.Pad)
	}
	h, w = h/l.Stride+1, w/l.Stride+1
	if l.Op == "MaxPool" {
		if l.Weight != nil || l.Bias != nil || l.WeightShape != nil {
			return l, nil, errors.New("MaxPool takes no weights")
		}
		return l, []int{in[0], h, w}, nil
	}
	f, err := checkConvParams(l, in[0])
	if err != nil {
		return l, nil, err
	}
	out := []int{f, h, w}
	if _, err := numel(out); err != nil {
		return l, nil, fmt.Errorf("output shape %v: %w", out, err)
	}
	return l, out, nil
}

// checkConvParams checks a Conv layer's weight [filters, c, Kernel, Kernel] and optional bias
// [filters], and returns the number of filters.
func checkConvParams(l Layer, c int) (int, error) {
	if len(l.WeightShape) != 4 || l.WeightShape[0] < 1 || l.WeightShape[1] != c || l.WeightShape[2] != l.Kernel || l.WeightShape[3] != l.Kernel {
		return 0, fmt.Errorf("weight shape %v, want [filters, %d, %d, %d]", l.WeightShape, c, l.Kernel, l.Kernel)
	}
	if err := checkData("weight", l.Weight, l.WeightShape); err != nil {
		return 0, err
	}
	f := l.WeightShape[0]
	if l.Bias != nil {
		if err := checkData("bias", l.Bias, []int{f}); err != nil {
			return 0, err
		}
	}
	return f, nil
}

// numel returns the product of dims, each of which must be in 1..maxDim-1, as must the product.
func numel(dims []int) (int, error) {
	n := 1
	for _, d := range dims {
		if d < 1 || d >= maxDim {
			return 0, fmt.Errorf("dimension %d out of range 1..%d", d, maxDim-1)
		}
		n *= d
		if n >= maxDim {
			return 0, fmt.Errorf("%v has too many elements", dims)
		}
	}
	return n, nil
}

func checkData(what string, data []float32, shape []int) error {
	n, err := numel(shape)
	if err != nil {
		return fmt.Errorf("%s shape %v: %w", what, shape, err)
	}
	if len(data) != n {
		return fmt.Errorf("%s has %d values, shape %v needs %d", what, len(data), shape, n)
	}
	return nil
}

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
		b.layer(i, l, cur, out)
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
// (and, with FP16, the Cast nodes) of its weight and bias.
func (b *graphBuilder) layer(i int, l Layer, in, out string) {
	node := &pb.NodeProto{Name: fmt.Sprintf("layer%d.%s", i, l.Op), OpType: l.Op, Input: []string{in}, Output: []string{out}}
	switch l.Op {
	case "Gemm", "Conv":
		node.Input = append(node.Input, b.param(weightName(i), l.Weight, l.WeightShape))
		if l.Bias != nil {
			node.Input = append(node.Input, b.param(biasName(i), l.Bias, []int{len(l.Bias)}))
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
}

// param adds an initializer and returns the float32 value name the layer node consumes: the
// initializer itself, or with FP16 the output of a Cast node that widens it.
func (b *graphBuilder) param(name string, data []float32, shape []int) string {
	t := initializerTensor(name, data, toInt64(shape), b.g.FP16)
	b.graph.Initializer = append(b.graph.Initializer, t)
	if irVersion(b.g.Opset) < 4 {
		// Before IR 4 every initializer must also be declared as a graph input.
		b.graph.Input = append(b.graph.Input, &pb.ValueInfoProto{Name: name, Type: tensorType(pb.TensorProto_DataType(t.DataType), t.Dims, false)})
	}
	if !b.g.FP16 {
		return name
	}
	f32 := name + ".f32"
	b.graph.Node = append(b.graph.Node, &pb.NodeProto{
		Name: name + ".cast", OpType: "Cast", Input: []string{name}, Output: []string{f32},
		Attribute: []*pb.AttributeProto{intAttr("to", int64(pb.TensorProto_FLOAT))},
	})
	return f32
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
