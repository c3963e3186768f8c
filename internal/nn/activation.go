package nn

import "errors"

// activation is an elementwise operator given by its function and derivative: what sigmoid,
// tanh, leakyrelu, hardswish and gelu (each in its own file) share. Each gives loops over slices,
// so that no call is made per value.
type activation struct {
	typ    string
	fields []string
	ops    []string // the ONNX op types it decodes (the first node of its encoding)
	// check validates the fields.
	check func(l *Layer) error
	// f sets out to the function of x; df sets dx to g times the derivative at x (y = f(x)).
	f  func(l *Layer, x, out []float32)
	df func(l *Layer, x, y, g, dx []float32)
	// encode writes the nodes; decode reads them (the first node n, and any that follow).
	encode func(e *Encoder, c EncodeConfig)
	decode func(d *Decoder, n *ONNXNode) (Layer, error)
}

func (a *activation) Type() string                                { return a.typ }
func (a *activation) Fields() []string                            { return a.fields }
func (a *activation) Arity() (int, int)                           { return 1, 1 }
func (a *activation) ONNXOps() []string                           { return a.ops }
func (a *activation) Tensors(*Layer, []Shape, Shape) []TensorSpec { return nil }

func (a *activation) Shape(l *Layer, in []Shape) (Shape, error) {
	if a.check != nil {
		if err := a.check(l); err != nil {
			return nil, err
		}
	}
	return in[0], nil
}

func (a *activation) Encode(e *Encoder, c EncodeConfig) error {
	a.encode(e, c)
	return nil
}

func (a *activation) Decode(d *Decoder, n *ONNXNode) (Decoded, error) {
	if len(n.Inputs) == 0 || d.IsInit(n.Inputs[0]) {
		return Decoded{}, errors.New("the first input must be a layer's output")
	}
	l, err := a.decode(d, n)
	return Decoded{Layer: l}, err
}

func (a *activation) Kernel(c KernelConfig) Kernel { return &actKernel{a: a, l: c.Layer} }

// actKernel applies an activation; Backward reads the input and the output.
type actKernel struct {
	a *activation
	l *Layer
}

func (k *actKernel) Forward(ins [][]float32, out []float32) {
	x := ins[0]
	parallelFor(len(out), func(lo, hi int) { k.a.apply(k.l, x[lo:hi], out[lo:hi]) })
}

func (k *actKernel) Backward(ins [][]float32, out, dout []float32, dins [][]float32) {
	x, dx := ins[0], dins[0]
	parallelFor(len(dx), func(lo, hi int) { k.a.df(k.l, x[lo:hi], out[lo:hi], dout[lo:hi], dx[lo:hi]) })
}

// apply sets out to f(x).
func (a *activation) apply(l *Layer, x, out []float32) { a.f(l, x, out) }

func (a *activation) Infer(c InferConfig) InferKernel { return &actInfer{a: a, l: c.Layer} }

type actInfer struct {
	a *activation
	l *Layer
}

func (k *actInfer) Run(_ Gemmer, ins [][]float32, out []float32, _ int) { k.a.apply(k.l, ins[0], out) }

// oneInput checks that a node has one input and returns nil.
func oneInput(n *ONNXNode) error {
	if len(n.Inputs) != 1 {
		return errors.New("want 1 input")
	}
	return nil
}
