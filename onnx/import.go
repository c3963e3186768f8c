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
)

// ImportGraph reads back a student that Export wrote: a chain of Gemm, Relu, Conv, MaxPool and Flatten
// nodes from the single float input to the single float output, weights as float32 initializers or as
// float16 initializers widened by Cast nodes. Gemm nodes written by other tools with transB = 1 are
// accepted too (the weight is transposed to [in, out]). Anything else is an error naming the file and
// the node. Export(ImportGraph(f)) reproduces f byte for byte when f came from Export.
//
// The issue named github.com/owulveryck/onnx-go v0.5.0 (with its gorgonnx backend) for this. It does
// not fit: its decoder rejects FLOAT16 tensors (ErrNotYetImplemented), has no Cast operator, drops
// symbolic dimensions such as the batch axis N (the input tensor gets the wrong rank), and builds a
// Gorgonia graph rather than giving back the layers and weights, while the student (package student)
// is rebuilt from a spec and named parameters. So the ModelProto is read directly with the generated
// protobuf types of github.com/advancedclimatesystems/gonnx/onnx.
func ImportGraph(path string) (*ExportGraph, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("import onnx %s: %w", path, err)
	}
	g, err := importModel(data)
	if err != nil {
		return nil, fmt.Errorf("import onnx %s: %w", path, err)
	}
	return g, nil
}

// initializer is a decoded weight tensor.
type initializer struct {
	dims   []int
	values []float32
	fp16   bool
	used   bool
}

func importModel(data []byte) (*ExportGraph, error) {
	var m pb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("not an ONNX model: %w", err)
	}
	graph := m.GetGraph()
	if graph == nil {
		return nil, errors.New("model has no graph")
	}
	g := &ExportGraph{}
	for _, op := range m.GetOpsetImport() {
		if op.GetDomain() == "" || op.GetDomain() == "ai.onnx" {
			if g.Opset != 0 {
				return nil, errors.New("more than one ai.onnx opset import")
			}
			if op.GetVersion() < 1 || op.GetVersion() > MaxOpset {
				return nil, fmt.Errorf("opset %d is outside the supported range %d..%d", op.GetVersion(), MinOpset, MaxOpset)
			}
			g.Opset = int(op.GetVersion())
		}
	}
	if g.Opset == 0 {
		return nil, errors.New("no ai.onnx opset import")
	}
	if len(m.GetMetadataProps()) > 0 {
		g.Metadata = make(map[string]string, len(m.GetMetadataProps()))
		for _, p := range m.GetMetadataProps() {
			if _, dup := g.Metadata[p.GetKey()]; dup {
				return nil, fmt.Errorf("metadata key %q appears twice", p.GetKey())
			}
			g.Metadata[p.GetKey()] = p.GetValue()
		}
	}
	if err := checkModelChecksum(data, g.Metadata); err != nil {
		return nil, err
	}
	if _, ok := g.Metadata[ChecksumKey]; ok {
		delete(g.Metadata, ChecksumKey)
		g.Checksum = true
	}

	inits := make(map[string]*initializer, len(graph.GetInitializer()))
	nfp16 := 0
	for _, t := range graph.GetInitializer() {
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
		inits[t.GetName()] = in
	}
	if nfp16 > 0 && nfp16 != len(inits) {
		return nil, errors.New("mixed float16 and float32 initializers are not supported")
	}
	g.FP16 = nfp16 > 0

	// Inputs: the one that is not an initializer (IR < 4 lists initializers as inputs too).
	for _, vi := range graph.GetInput() {
		if _, ok := inits[vi.GetName()]; ok {
			continue
		}
		if g.InputName != "" {
			return nil, fmt.Errorf("more than one graph input (%q, %q)", g.InputName, vi.GetName())
		}
		dims, err := batchShape(vi)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", vi.GetName(), err)
		}
		g.InputName, g.InputShape = vi.GetName(), dims
	}
	if g.InputName == "" {
		return nil, errors.New("no graph input")
	}
	if len(graph.GetOutput()) != 1 {
		return nil, fmt.Errorf("graph has %d outputs, want 1", len(graph.GetOutput()))
	}
	out := graph.GetOutput()[0]
	dims, err := batchShape(out)
	if err != nil {
		return nil, fmt.Errorf("output %q: %w", out.GetName(), err)
	}
	if len(dims) != 1 {
		return nil, fmt.Errorf("output %q has per-sample shape %v, want [classes]", out.GetName(), dims)
	}
	g.OutputName, g.Classes = out.GetName(), dims[0]

	// casts maps the float32 output of each Cast node to its float16 initializer.
	casts := map[string]*initializer{}
	// weight resolves a node input to the initializer behind it.
	weight := func(name string) (*initializer, error) {
		if in, ok := casts[name]; ok {
			return in, nil
		}
		in, ok := inits[name]
		if !ok {
			return nil, fmt.Errorf("input %q is not an initializer", name)
		}
		if in.fp16 {
			return nil, fmt.Errorf("float16 initializer %q used without a Cast", name)
		}
		if in.used {
			return nil, fmt.Errorf("initializer %q used twice", name)
		}
		in.used = true
		return in, nil
	}

	cur := g.InputName
	for i, n := range graph.GetNode() {
		l, err := importNode(n, cur, inits, casts, weight)
		if err != nil {
			return nil, fmt.Errorf("node %d %q (%s): %w", i, n.GetName(), n.GetOpType(), err)
		}
		if l == nil { // a Cast
			continue
		}
		g.Layers = append(g.Layers, *l)
		cur = n.GetOutput()[0]
	}
	if cur != g.OutputName {
		return nil, fmt.Errorf("the node chain ends in %q, not in the graph output %q", cur, g.OutputName)
	}
	for name, in := range inits {
		if !in.used {
			return nil, fmt.Errorf("initializer %q is not used", name)
		}
	}
	if len(casts) > 0 {
		return nil, errors.New("a Cast output is not used")
	}
	n, err := g.normalized()
	if err != nil {
		return nil, err
	}
	return n, nil
}

// importNode decodes one node whose data input must be cur. It returns nil for a Cast of a float16
// initializer, which it records in casts.
func importNode(n *pb.NodeProto, cur string, inits map[string]*initializer, casts map[string]*initializer,
	weight func(string) (*initializer, error)) (*Layer, error) {
	if n.GetDomain() != "" && n.GetDomain() != "ai.onnx" {
		return nil, fmt.Errorf("op domain %q is not supported", n.GetDomain())
	}
	if len(n.GetOutput()) != 1 || n.GetOutput()[0] == "" {
		return nil, fmt.Errorf("has %d outputs, want 1", len(n.GetOutput()))
	}
	attrs := map[string]*pb.AttributeProto{}
	for _, a := range n.GetAttribute() {
		if _, dup := attrs[a.GetName()]; dup {
			return nil, fmt.Errorf("attribute %q appears twice", a.GetName())
		}
		attrs[a.GetName()] = a
	}
	// intAttr returns an INT attribute's value, or def when it is absent.
	intAttr := func(name string, def int64) (int64, error) {
		a, ok := attrs[name]
		if !ok {
			return def, nil
		}
		delete(attrs, name)
		if a.GetType() != pb.AttributeProto_INT {
			return 0, fmt.Errorf("attribute %q: want INT, got %v", name, a.GetType())
		}
		return a.GetI(), nil
	}
	// sameInts returns the common value of an INTS attribute of length k, or def when it is absent.
	sameInts := func(name string, k int, def int64) (int64, error) {
		a, ok := attrs[name]
		if !ok {
			return def, nil
		}
		delete(attrs, name)
		if a.GetType() != pb.AttributeProto_INTS || len(a.GetInts()) != k {
			return 0, fmt.Errorf("attribute %q: want %d INTS", name, k)
		}
		v := a.GetInts()
		for _, x := range v {
			if x != v[0] {
				return 0, fmt.Errorf("attribute %q = %v: only equal values are supported", name, v)
			}
		}
		if v[0] < 0 || v[0] >= maxDim {
			return 0, fmt.Errorf("attribute %q = %v out of range", name, v)
		}
		return v[0], nil
	}
	leftover := func() error {
		for name := range attrs {
			return fmt.Errorf("attribute %q is not supported", name)
		}
		return nil
	}

	if n.GetOpType() == "Cast" {
		if len(n.GetInput()) != 1 {
			return nil, errors.New("want 1 input")
		}
		to, err := intAttr("to", -1)
		if err != nil {
			return nil, err
		}
		if err := leftover(); err != nil {
			return nil, err
		}
		in, ok := inits[n.GetInput()[0]]
		if !ok || !in.fp16 || to != int64(pb.TensorProto_FLOAT) {
			return nil, errors.New("only casts of float16 initializers to float are supported")
		}
		if in.used {
			return nil, fmt.Errorf("initializer %q cast twice", n.GetInput()[0])
		}
		if _, dup := casts[n.GetOutput()[0]]; dup || n.GetOutput()[0] == cur {
			return nil, fmt.Errorf("output %q is defined twice", n.GetOutput()[0])
		}
		in.used = true
		casts[n.GetOutput()[0]] = in
		return nil, nil
	}

	if len(n.GetInput()) == 0 || n.GetInput()[0] != cur {
		return nil, fmt.Errorf("does not consume the previous layer's output %q", cur)
	}
	if _, ok := inits[n.GetOutput()[0]]; ok {
		return nil, fmt.Errorf("output %q shadows an initializer", n.GetOutput()[0])
	}
	// params resolves the weight (and optional bias) inputs, taking Cast outputs out of casts.
	params := func(maxInputs int) (w, b *initializer, err error) {
		if len(n.GetInput()) < 2 || len(n.GetInput()) > maxInputs {
			return nil, nil, fmt.Errorf("has %d inputs, want 2..%d", len(n.GetInput()), maxInputs)
		}
		for j, name := range n.GetInput()[1:] {
			in, err := weight(name)
			if err != nil {
				return nil, nil, err
			}
			delete(casts, name)
			if j == 0 {
				w = in
			} else {
				b = in
			}
		}
		if b != nil && len(b.dims) != 1 {
			return nil, nil, fmt.Errorf("bias has shape %v, want a vector", b.dims)
		}
		return w, b, nil
	}
	l := &Layer{Op: n.GetOpType()}
	switch n.GetOpType() {
	case "Relu":
		if len(n.GetInput()) != 1 {
			return nil, errors.New("want 1 input")
		}
	case "Flatten":
		if len(n.GetInput()) != 1 {
			return nil, errors.New("want 1 input")
		}
		if axis, err := intAttr("axis", 1); err != nil || axis != 1 {
			return nil, fmt.Errorf("only axis 1 is supported (%v)", err)
		}
	case "Gemm":
		w, b, err := params(3)
		if err != nil {
			return nil, err
		}
		for _, f := range []string{"alpha", "beta"} {
			if a, ok := attrs[f]; ok {
				if a.GetType() != pb.AttributeProto_FLOAT || a.GetF() != 1 {
					return nil, fmt.Errorf("attribute %q must be 1", f)
				}
				delete(attrs, f)
			}
		}
		transA, err := intAttr("transA", 0)
		if err != nil || transA != 0 {
			return nil, fmt.Errorf("only transA = 0 is supported (%v)", err)
		}
		transB, err := intAttr("transB", 0)
		if err != nil || (transB != 0 && transB != 1) {
			return nil, fmt.Errorf("transB must be 0 or 1 (%v)", err)
		}
		if len(w.dims) != 2 {
			return nil, fmt.Errorf("weight has shape %v, want 2-D", w.dims)
		}
		l.Weight, l.WeightShape = w.values, w.dims
		if transB == 1 {
			l.Weight, l.WeightShape = transpose(w.values, w.dims[0], w.dims[1]), []int{w.dims[1], w.dims[0]}
		}
		if b != nil {
			l.Bias = b.values
		}
	case "Conv", "MaxPool":
		if n.GetOpType() == "Conv" {
			w, b, err := params(3)
			if err != nil {
				return nil, err
			}
			if len(w.dims) != 4 {
				return nil, fmt.Errorf("weight has shape %v, want [filters, channels, k, k]", w.dims)
			}
			l.Weight, l.WeightShape = w.values, w.dims
			if b != nil {
				l.Bias = b.values
			}
			if d, err := sameInts("dilations", 2, 1); err != nil || d != 1 {
				return nil, fmt.Errorf("only dilation 1 is supported (%v)", err)
			}
			if gr, err := intAttr("group", 1); err != nil || gr != 1 {
				return nil, fmt.Errorf("only group 1 is supported (%v)", err)
			}
		} else {
			if len(n.GetInput()) != 1 {
				return nil, errors.New("want 1 input")
			}
			if c, err := intAttr("ceil_mode", 0); err != nil || c != 0 {
				return nil, fmt.Errorf("only ceil_mode 0 is supported (%v)", err)
			}
			if d, err := sameInts("dilations", 2, 1); err != nil || d != 1 {
				return nil, fmt.Errorf("only dilation 1 is supported (%v)", err)
			}
			if so, err := intAttr("storage_order", 0); err != nil || so != 0 {
				return nil, fmt.Errorf("only storage_order 0 is supported (%v)", err)
			}
		}
		if a, ok := attrs["auto_pad"]; ok {
			if a.GetType() != pb.AttributeProto_STRING || string(a.GetS()) != "NOTSET" {
				return nil, errors.New("only auto_pad NOTSET is supported")
			}
			delete(attrs, "auto_pad")
		}
		k, err := sameInts("kernel_shape", 2, -1)
		if err != nil {
			return nil, err
		}
		if k < 0 {
			return nil, errors.New("missing kernel_shape")
		}
		s, err := sameInts("strides", 2, 1)
		if err != nil {
			return nil, err
		}
		p, err := sameInts("pads", 4, 0)
		if err != nil {
			return nil, err
		}
		if s == 0 {
			return nil, errors.New("stride 0")
		}
		l.Kernel, l.Stride, l.Pad = int(k), int(s), int(p)
	default:
		return nil, errors.New("op is not supported (want Gemm, Relu, Conv, MaxPool, Flatten or a Cast of a float16 weight)")
	}
	if err := leftover(); err != nil {
		return nil, err
	}
	return l, nil
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

// decodeTensor reads a FLOAT or FLOAT16 initializer from raw_data (little endian), float_data or
// int32_data (float16 bits).
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
	default:
		return nil, fmt.Errorf("data type %v is not supported (want FLOAT or FLOAT16)", pb.TensorProto_DataType(t.GetDataType()))
	}
	return in, nil
}

// transpose returns the [c, r] transpose of the row-major [r, c] matrix a.
func transpose(a []float32, r, c int) []float32 {
	t := make([]float32, len(a))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			t[j*r+i] = a[i*c+j]
		}
	}
	return t
}
