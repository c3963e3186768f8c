package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/x448/float16"
	"google.golang.org/protobuf/proto"

	"github.com/distillgo/distill/internal/filekind"
	"github.com/distillgo/distill/internal/nn"
)

// ImportGraph reads back a network that Export wrote: its nodes, with the weights as float32
// initializers, as float16 initializers widened by Cast nodes, or as int8 initializers with
// per-channel float32 scales widened by DequantizeLinear nodes (returned dequantised, with Int8
// set and each weight's channel axis; only the form Export writes is read: scales and values as
// QuantizeChannels makes them). The Cast and DequantizeLinear nodes are folded into the
// initializers they widen. The graph must be one internal/nn decodes (nn.Decode: every node an
// operator it knows, with shapes that fit); anything else is an error naming the file and the
// node (a Git LFS pointer in place of the model wraps ErrLFSPointer). Export(ImportGraph(f))
// reproduces f byte for byte when f came from Export.
//
// The ModelProto is decoded with the generated protobuf types of
// github.com/advancedclimatesystems/gonnx/onnx.
func ImportGraph(path string) (*ExportGraph, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("import onnx %s: %w", path, err)
	}
	g, err := importModel(data)
	if err != nil {
		if kerr := filekind.MismatchBytes(path, data, filekind.ONNX); kerr != nil {
			return nil, fmt.Errorf("import onnx: %w", kerr)
		}
		return nil, fmt.Errorf("import onnx %s: %w", path, err)
	}
	return g, nil
}

// initializer is a decoded weight tensor (int8 values are held as float32), or the float32
// weight a DequantizeLinear node makes of one (deq set).
type initializer struct {
	name   string
	dims   []int
	values []float32
	fp16   bool
	int8   bool
	used   bool
	deq    *dequantized
}

// importModel does the work of ImportGraph on the file's bytes: the opset, the metadata (with its
// checksum), the initializers, the graph's input and output, then the nodes, which nn.Decode
// checks.
func importModel(data []byte) (*ExportGraph, error) {
	if err := checkNotLFSPointer(data); err != nil {
		return nil, err
	}
	var m pb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("not an ONNX model: %w", err)
	}
	graph := m.GetGraph()
	if graph == nil {
		return nil, errors.New("model has no graph")
	}
	g := &ExportGraph{}
	var err error
	if g.Opset, err = importOpset(m.GetOpsetImport()); err != nil {
		return nil, err
	}
	if g.Metadata, g.Checksum, err = importMetadata(data, m.GetMetadataProps()); err != nil {
		return nil, err
	}
	inits, err := importInitializers(graph.GetInitializer())
	if err != nil {
		return nil, err
	}
	for _, in := range inits {
		g.FP16, g.Int8 = g.FP16 || in.fp16, g.Int8 || in.int8
	}
	if g.Input, g.InputShape, err = importInput(graph.GetInput(), inits); err != nil {
		return nil, err
	}
	if g.Output, g.Classes, err = importOutput(graph.GetOutput()); err != nil {
		return nil, err
	}
	if err := importNodes(g, graph.GetNode(), inits); err != nil {
		return nil, err
	}
	if g.Opset < MinOpset {
		return nil, fmt.Errorf("%w: onnxruntime needs opset >= %d, got %d", ErrOpsetTooOld, MinOpset, g.Opset)
	}
	if _, _, err := nn.Decode(&g.ONNXGraph); err != nil {
		return nil, err
	}
	return g, nil
}

// importOpset returns the version of the single ai.onnx opset import.
func importOpset(imports []*pb.OperatorSetIdProto) (int, error) {
	opset := 0
	for _, op := range imports {
		if op.GetDomain() == "" || op.GetDomain() == "ai.onnx" {
			if opset != 0 {
				return 0, errors.New("more than one ai.onnx opset import")
			}
			if op.GetVersion() < 1 || op.GetVersion() > MaxOpset {
				return 0, fmt.Errorf("opset %d is outside the supported range %d..%d", op.GetVersion(), MinOpset, MaxOpset)
			}
			opset = int(op.GetVersion())
		}
	}
	if opset == 0 {
		return 0, errors.New("no ai.onnx opset import")
	}
	return opset, nil
}

// importMetadata returns the model's metadata_props (nil when it has none) after verifying the
// checksum of data; checksum says whether the model had a ChecksumKey entry, which is left out of
// the map.
func importMetadata(data []byte, props []*pb.StringStringEntryProto) (meta map[string]string, checksum bool, err error) {
	if len(props) > 0 {
		meta = make(map[string]string, len(props))
		for _, p := range props {
			if _, dup := meta[p.GetKey()]; dup {
				return nil, false, fmt.Errorf("metadata key %q appears twice", p.GetKey())
			}
			meta[p.GetKey()] = p.GetValue()
		}
	}
	if err := checkModelChecksum(data, meta); err != nil {
		return nil, false, err
	}
	if _, ok := meta[ChecksumKey]; ok {
		delete(meta, ChecksumKey)
		checksum = true
	}
	return meta, checksum, nil
}

// importInitializers decodes the initializers by name: all float16, or float32 and int8 (the
// weights and scales of an Int8 export); float16 mixed with another type is an error.
func importInitializers(tensors []*pb.TensorProto) (map[string]*initializer, error) {
	inits := make(map[string]*initializer, len(tensors))
	nfp16 := 0
	for _, t := range tensors {
		if _, dup := inits[t.GetName()]; dup {
			return nil, fmt.Errorf("initializer %q appears twice", t.GetName())
		}
		in, err := decodeTensor(t)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", t.GetName(), err)
		}
		if in.fp16 {
			nfp16++
		}
		in.name = t.GetName()
		inits[t.GetName()] = in
	}
	if nfp16 > 0 && nfp16 != len(inits) {
		return nil, errors.New("float16 initializers mixed with others are not supported")
	}
	return inits, nil
}

// importInput returns the name and per-sample shape of the one graph input that is not an
// initializer (IR < 4 lists initializers as inputs too).
func importInput(inputs []*pb.ValueInfoProto, inits map[string]*initializer) (name string, shape []int, err error) {
	for _, vi := range inputs {
		if _, ok := inits[vi.GetName()]; ok {
			continue
		}
		if name != "" {
			return "", nil, fmt.Errorf("more than one graph input (%q, %q)", name, vi.GetName())
		}
		dims, err := batchShape(vi)
		if err != nil {
			return "", nil, fmt.Errorf("input %q: %w", vi.GetName(), err)
		}
		name, shape = vi.GetName(), dims
	}
	if name == "" {
		return "", nil, errors.New("no graph input")
	}
	return name, shape, nil
}

// importOutput returns the name and class count of the single graph output [N, classes].
func importOutput(outputs []*pb.ValueInfoProto) (name string, classes int, err error) {
	if len(outputs) != 1 {
		return "", 0, fmt.Errorf("graph has %d outputs, want 1", len(outputs))
	}
	out := outputs[0]
	dims, err := batchShape(out)
	if err != nil {
		return "", 0, fmt.Errorf("output %q: %w", out.GetName(), err)
	}
	if len(dims) != 1 {
		return "", 0, fmt.Errorf("output %q has per-sample shape %v, want [classes]", out.GetName(), dims)
	}
	return out.GetName(), dims[0], nil
}

// batchShape returns the per-sample dims of a float32 tensor value [batch, dims...], where batch is
// symbolic or unknown and every other dim is fixed.
func batchShape(vi *pb.ValueInfoProto) ([]int, error) {
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return nil, errors.New("not a tensor")
	}
	if tt.GetElemType() != int32(pb.TensorProto_FLOAT) {
		return nil, fmt.Errorf("element type %v, want FLOAT", pb.TensorProto_DataType(tt.GetElemType()))
	}
	dims := tt.GetShape().GetDim()
	if len(dims) < 2 {
		return nil, fmt.Errorf("rank %d, want [N, ...]", len(dims))
	}
	if _, ok := dims[0].GetValue().(*pb.TensorShapeProto_Dimension_DimValue); ok {
		return nil, fmt.Errorf("batch axis is fixed at %d, want a dynamic axis", dims[0].GetDimValue())
	}
	out := make([]int, len(dims)-1)
	for i, d := range dims[1:] {
		v, ok := d.GetValue().(*pb.TensorShapeProto_Dimension_DimValue)
		if !ok || v.DimValue < 1 || v.DimValue >= maxDim {
			return nil, fmt.Errorf("dimension %d is not a fixed positive size", i+1)
		}
		out[i] = int(v.DimValue)
	}
	return out, nil
}

// decodeTensor reads a FLOAT, FLOAT16 or INT8 initializer from raw_data (little endian),
// float_data or int32_data (float16 bits, int8 values).
func decodeTensor(t *pb.TensorProto) (*initializer, error) {
	if t.GetDataLocation() == pb.TensorProto_EXTERNAL || len(t.GetExternalData()) > 0 {
		return nil, errors.New("external data is not supported")
	}
	in := &initializer{dims: make([]int, len(t.GetDims()))}
	for i, d := range t.GetDims() {
		if d < 1 || d >= maxDim {
			return nil, fmt.Errorf("dimension %d out of range", d)
		}
		in.dims[i] = int(d)
	}
	n, err := numel(in.dims)
	if err != nil {
		return nil, err
	}
	raw := t.GetRawData()
	switch pb.TensorProto_DataType(t.GetDataType()) {
	case pb.TensorProto_FLOAT:
		switch {
		case raw != nil:
			if len(raw) != 4*n {
				return nil, fmt.Errorf("raw_data has %d bytes, shape %v needs %d", len(raw), in.dims, 4*n)
			}
			in.values = make([]float32, n)
			for i := range in.values {
				in.values[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		case len(t.GetFloatData()) == n:
			in.values = append([]float32(nil), t.GetFloatData()...)
		default:
			return nil, fmt.Errorf("has %d values, shape %v needs %d", len(t.GetFloatData()), in.dims, n)
		}
	case pb.TensorProto_FLOAT16:
		in.fp16 = true
		switch {
		case raw != nil:
			if len(raw) != 2*n {
				return nil, fmt.Errorf("raw_data has %d bytes, shape %v needs %d", len(raw), in.dims, 2*n)
			}
			in.values = make([]float32, n)
			for i := range in.values {
				in.values[i] = float16.Frombits(binary.LittleEndian.Uint16(raw[2*i:])).Float32()
			}
		case len(t.GetInt32Data()) == n:
			in.values = make([]float32, n)
			for i, v := range t.GetInt32Data() {
				in.values[i] = float16.Frombits(uint16(v)).Float32()
			}
		default:
			return nil, fmt.Errorf("has %d values, shape %v needs %d", len(t.GetInt32Data()), in.dims, n)
		}
	case pb.TensorProto_INT8:
		in.int8 = true
		switch {
		case raw != nil:
			if len(raw) != n {
				return nil, fmt.Errorf("raw_data has %d bytes, shape %v needs %d", len(raw), in.dims, n)
			}
			in.values = make([]float32, n)
			for i, b := range raw {
				in.values[i] = float32(int8(b))
			}
		case len(t.GetInt32Data()) == n:
			in.values = make([]float32, n)
			for i, v := range t.GetInt32Data() {
				if v < math.MinInt8 || v > math.MaxInt8 {
					return nil, fmt.Errorf("int32_data value %d is not an int8", v)
				}
				in.values[i] = float32(v)
			}
		default:
			return nil, fmt.Errorf("has %d values, shape %v needs %d", len(t.GetInt32Data()), in.dims, n)
		}
	default:
		return nil, fmt.Errorf("data type %v is not supported (want FLOAT, FLOAT16 or INT8)", pb.TensorProto_DataType(t.GetDataType()))
	}
	return in, nil
}
