package nn

import "errors"

// reluOp is max(x, 0) elementwise: no fields, any input shape; ONNX Relu. A relu that is the only
// reader of a dense, conv2d, batchnorm or add layer is applied by that layer's kernels
// (ReluFuser).
func init() { Register(reluOp{}) }

type reluOp struct{}

func (reluOp) Type() string                                { return "relu" }
func (reluOp) Fields() []string                            { return nil }
func (reluOp) Arity() (int, int)                           { return 1, 1 }
func (reluOp) ONNXOps() []string                           { return []string{"Relu"} }
func (reluOp) Shape(_ *Layer, in []Shape) (Shape, error)   { return in[0], nil }
func (reluOp) Tensors(*Layer, []Shape, Shape) []TensorSpec { return nil }

func (reluOp) Encode(e *Encoder, c EncodeConfig) error {
	e.Node("Relu", c.Inputs)
	return nil
}

func (reluOp) Decode(_ *Decoder, n *ONNXNode) (Decoded, error) {
	if len(n.Inputs) != 1 {
		return Decoded{}, errors.New("want 1 input")
	}
	return Decoded{}, nil
}

func (reluOp) Kernel(c KernelConfig) Kernel { return reluKernel{} }

// reluKernel is a stand-alone relu (one not fused into the layer before it).
type reluKernel struct{}

func (reluKernel) Forward(ins [][]float32, out []float32) {
	x := ins[0]
	parallelFor(len(out), func(lo, hi int) { vec.Relu(x[lo:hi], out[lo:hi]) })
}

func (reluKernel) Backward(_ [][]float32, out, dout []float32, dins [][]float32) {
	reluGrad(dins[0], dout, out)
}

func (reluOp) Infer(InferConfig) InferKernel { return reluInfer{} }

type reluInfer struct{}

func (reluInfer) Run(_ Gemmer, ins [][]float32, out []float32, _ int) {
	copy(out, ins[0])
	reluInPlace(out)
}

// reluInPlace sets v to max(v, 0) (max keeps a NaN).
func reluInPlace(v []float32) { vec.Relu(v, v) }
