package onnx

import (
	"errors"
	"fmt"
	"slices"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// chain holds what decoding the nodes of an imported graph shares: the initializers, and the
// float32 outputs of the Cast and DequantizeLinear nodes seen so far, each mapped to the float16
// initializer it widens or the weight it dequantises (taken out again when a layer consumes it);
// int8 says that the graph's weights are int8.
type chain struct {
	inits map[string]*initializer
	casts map[string]*initializer
	int8  bool
}

// layerImporters decode the nodes that become a Layer, by op type. Each reads the node's weight
// inputs and attributes (consuming every attribute it accepts) into l, whose Op is set.
var layerImporters = map[string]func(c *chain, n *pb.NodeProto, a attrs, l *Layer) error{
	"Relu":    importRelu,
	"Flatten": importFlatten,
	"Gemm":    importGemm,
	"Conv":    importConv,
	"MaxPool": importMaxPool,
}

// node decodes one node whose data input must be cur. It returns nil for a Cast of a float16
// initializer, which it records in c.casts.
func (c *chain) node(n *pb.NodeProto, cur string) (*Layer, error) {
	if n.GetDomain() != "" && n.GetDomain() != "ai.onnx" {
		return nil, fmt.Errorf("op domain %q is not supported", n.GetDomain())
	}
	if len(n.GetOutput()) != 1 || n.GetOutput()[0] == "" {
		return nil, fmt.Errorf("has %d outputs, want 1", len(n.GetOutput()))
	}
	a, err := nodeAttrs(n)
	if err != nil {
		return nil, err
	}
	switch n.GetOpType() {
	case "Cast":
		return nil, c.cast(n, a, cur)
	case "DequantizeLinear":
		return nil, c.dequantize(n, a, cur)
	}
	if len(n.GetInput()) == 0 || n.GetInput()[0] != cur {
		return nil, fmt.Errorf("does not consume the previous layer's output %q", cur)
	}
	if _, ok := c.inits[n.GetOutput()[0]]; ok {
		return nil, fmt.Errorf("output %q shadows an initializer", n.GetOutput()[0])
	}
	decode, ok := layerImporters[n.GetOpType()]
	if !ok {
		return nil, errors.New("op is not supported (want Gemm, Relu, Conv, MaxPool, Flatten, a Cast of a float16 weight or a DequantizeLinear of an int8 one)")
	}
	l := &Layer{Op: n.GetOpType()}
	if err := decode(c, n, a, l); err != nil {
		return nil, err
	}
	if err := a.leftover(); err != nil {
		return nil, err
	}
	return l, nil
}

// cast records a Cast node that widens a float16 initializer to float.
func (c *chain) cast(n *pb.NodeProto, a attrs, cur string) error {
	if len(n.GetInput()) != 1 {
		return errors.New("want 1 input")
	}
	to, err := a.int("to", -1)
	if err != nil {
		return err
	}
	if err := a.leftover(); err != nil {
		return err
	}
	in, ok := c.inits[n.GetInput()[0]]
	if !ok || !in.fp16 || to != int64(pb.TensorProto_FLOAT) {
		return errors.New("only casts of float16 initializers to float are supported")
	}
	if in.used {
		return fmt.Errorf("initializer %q cast twice", n.GetInput()[0])
	}
	if _, dup := c.casts[n.GetOutput()[0]]; dup || n.GetOutput()[0] == cur {
		return fmt.Errorf("output %q is defined twice", n.GetOutput()[0])
	}
	in.used = true
	c.casts[n.GetOutput()[0]] = in
	return nil
}

// weight resolves a node input to the initializer behind it: the float16 initializer of a Cast
// output, the dequantised weight of a DequantizeLinear output, or a float32 initializer used by no
// other node.
func (c *chain) weight(name string) (*initializer, error) {
	if in, ok := c.casts[name]; ok {
		return in, nil
	}
	in, ok := c.inits[name]
	if !ok {
		return nil, fmt.Errorf("input %q is not an initializer", name)
	}
	if in.fp16 {
		return nil, fmt.Errorf("float16 initializer %q used without a Cast", name)
	}
	if in.int8 {
		return nil, fmt.Errorf("int8 initializer %q used without a DequantizeLinear", name)
	}
	if in.used {
		return nil, fmt.Errorf("initializer %q used twice", name)
	}
	in.used = true
	return in, nil
}

// params resolves the weight (and optional bias) inputs of n, taking Cast outputs out of c.casts.
func (c *chain) params(n *pb.NodeProto, maxInputs int) (w, b *initializer, err error) {
	if len(n.GetInput()) < 2 || len(n.GetInput()) > maxInputs {
		return nil, nil, fmt.Errorf("has %d inputs, want 2..%d", len(n.GetInput()), maxInputs)
	}
	for j, name := range n.GetInput()[1:] {
		in, err := c.weight(name)
		if err != nil {
			return nil, nil, err
		}
		delete(c.casts, name)
		if j == 0 {
			w = in
		} else {
			b = in
		}
	}
	if b != nil && len(b.dims) != 1 {
		return nil, nil, fmt.Errorf("bias has shape %v, want a vector", b.dims)
	}
	if b != nil && b.deq != nil {
		return nil, nil, errors.New("int8 biases are not supported (biases stay float32)")
	}
	if c.int8 {
		if err := checkInt8Weight(n.GetOpType(), w); err != nil {
			return nil, nil, err
		}
	}
	return w, b, nil
}

func importRelu(_ *chain, n *pb.NodeProto, _ attrs, _ *Layer) error {
	if len(n.GetInput()) != 1 {
		return errors.New("want 1 input")
	}
	return nil
}

func importFlatten(_ *chain, n *pb.NodeProto, a attrs, _ *Layer) error {
	if len(n.GetInput()) != 1 {
		return errors.New("want 1 input")
	}
	if axis, err := a.int("axis", 1); err != nil || axis != 1 {
		return fmt.Errorf("only axis 1 is supported (%v)", err)
	}
	return nil
}

// importGemm reads y = x W + b with alpha = beta = 1 and transA = 0; a weight stored transposed
// (transB = 1) is transposed back to [in, out].
func importGemm(c *chain, n *pb.NodeProto, a attrs, l *Layer) error {
	w, b, err := c.params(n, 3)
	if err != nil {
		return err
	}
	for _, f := range []string{"alpha", "beta"} {
		if at, ok := a[f]; ok {
			if at.GetType() != pb.AttributeProto_FLOAT || at.GetF() != 1 {
				return fmt.Errorf("attribute %q must be 1", f)
			}
			delete(a, f)
		}
	}
	transA, err := a.int("transA", 0)
	if err != nil || transA != 0 {
		return fmt.Errorf("only transA = 0 is supported (%v)", err)
	}
	transB, err := a.int("transB", 0)
	if err != nil || (transB != 0 && transB != 1) {
		return fmt.Errorf("transB must be 0 or 1 (%v)", err)
	}
	if len(w.dims) != 2 {
		return fmt.Errorf("weight has shape %v, want 2-D", w.dims)
	}
	l.Weight, l.WeightShape = w.values, w.dims
	if transB == 1 && w.deq != nil {
		return errors.New("int8 weights are read only untransposed (transB = 0)")
	}
	if transB == 1 {
		l.Weight, l.WeightShape = transpose(w.values, w.dims[0], w.dims[1]), []int{w.dims[1], w.dims[0]}
	}
	if b != nil {
		l.Bias = b.values
	}
	return nil
}

// importConv reads a square convolution with dilation 1 and one group.
func importConv(c *chain, n *pb.NodeProto, a attrs, l *Layer) error {
	w, b, err := c.params(n, 3)
	if err != nil {
		return err
	}
	if len(w.dims) != 4 {
		return fmt.Errorf("weight has shape %v, want [filters, channels, k, k]", w.dims)
	}
	l.Weight, l.WeightShape = w.values, w.dims
	if b != nil {
		l.Bias = b.values
	}
	if d, err := a.sameInts("dilations", 2, 1); err != nil || d != 1 {
		return fmt.Errorf("only dilation 1 is supported (%v)", err)
	}
	if gr, err := a.int("group", 1); err != nil || gr != 1 {
		return fmt.Errorf("only group 1 is supported (%v)", err)
	}
	return importWindow(a, l)
}

// importMaxPool reads a square max pool with the default ceil_mode, dilation and storage order.
func importMaxPool(_ *chain, n *pb.NodeProto, a attrs, l *Layer) error {
	if len(n.GetInput()) != 1 {
		return errors.New("want 1 input")
	}
	if c, err := a.int("ceil_mode", 0); err != nil || c != 0 {
		return fmt.Errorf("only ceil_mode 0 is supported (%v)", err)
	}
	if d, err := a.sameInts("dilations", 2, 1); err != nil || d != 1 {
		return fmt.Errorf("only dilation 1 is supported (%v)", err)
	}
	if so, err := a.int("storage_order", 0); err != nil || so != 0 {
		return fmt.Errorf("only storage_order 0 is supported (%v)", err)
	}
	return importWindow(a, l)
}

// importWindow reads the window attributes that Conv and MaxPool share into l: explicit padding
// (auto_pad NOTSET), and a kernel, stride and pad equal along every axis.
func importWindow(a attrs, l *Layer) error {
	if at, ok := a["auto_pad"]; ok {
		if at.GetType() != pb.AttributeProto_STRING || string(at.GetS()) != "NOTSET" {
			return errors.New("only auto_pad NOTSET is supported")
		}
		delete(a, "auto_pad")
	}
	k, err := a.sameInts("kernel_shape", 2, -1)
	if err != nil {
		return err
	}
	if k < 0 {
		return errors.New("missing kernel_shape")
	}
	s, err := a.sameInts("strides", 2, 1)
	if err != nil {
		return err
	}
	p, err := a.sameInts("pads", 4, 0)
	if err != nil {
		return err
	}
	if s == 0 {
		return errors.New("stride 0")
	}
	l.Kernel, l.Stride, l.Pad = int(k), int(s), int(p)
	return nil
}

// attrs are a node's attributes by name. The readers below delete each attribute they read, so
// that leftover can report any the importer does not know.
type attrs map[string]*pb.AttributeProto

// nodeAttrs returns n's attributes; a name given twice is an error.
func nodeAttrs(n *pb.NodeProto) (attrs, error) {
	a := attrs{}
	for _, at := range n.GetAttribute() {
		if _, dup := a[at.GetName()]; dup {
			return nil, fmt.Errorf("attribute %q appears twice", at.GetName())
		}
		a[at.GetName()] = at
	}
	return a, nil
}

// int returns an INT attribute's value, or def when it is absent.
func (a attrs) int(name string, def int64) (int64, error) {
	at, ok := a[name]
	if !ok {
		return def, nil
	}
	delete(a, name)
	if at.GetType() != pb.AttributeProto_INT {
		return 0, fmt.Errorf("attribute %q: want INT, got %v", name, at.GetType())
	}
	return at.GetI(), nil
}

// sameInts returns the common value of an INTS attribute of length k, or def when it is absent.
func (a attrs) sameInts(name string, k int, def int64) (int64, error) {
	at, ok := a[name]
	if !ok {
		return def, nil
	}
	delete(a, name)
	if at.GetType() != pb.AttributeProto_INTS || len(at.GetInts()) != k {
		return 0, fmt.Errorf("attribute %q: want %d INTS", name, k)
	}
	v := at.GetInts()
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

// leftover reports an attribute that no reader took (the first by name), or nil.
func (a attrs) leftover() error {
	if len(a) == 0 {
		return nil
	}
	names := make([]string, 0, len(a))
	for name := range a {
		names = append(names, name)
	}
	return fmt.Errorf("attribute %q is not supported", slices.Min(names))
}
