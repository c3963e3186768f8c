package nn

import (
	"errors"
	"fmt"
	"slices"
)

// add sums two or more inputs of one shape elementwise (a residual connection): no fields;
// ONNX Add, one node per input after the first. Its gradient goes unchanged to every input.
type add struct{}

func init() { Register(add{}) }

func (add) Type() string                                { return "add" }
func (add) Fields() []string                            { return nil }
func (add) Arity() (int, int)                           { return 2, -1 }
func (add) ONNXOps() []string                           { return []string{"Add"} }
func (add) Tensors(*Layer, []Shape, Shape) []TensorSpec { return nil }

func (add) Shape(l *Layer, in []Shape) (Shape, error) {
	for k, s := range in[1:] {
		if !slices.Equal(s, in[0]) {
			return nil, fieldErr("inputs", "input %d (%q) has shape %v, input 0 (%q) has %v: add needs one shape", k+1, l.Inputs[k+1], []int(s), l.Inputs[0], []int(in[0]))
		}
	}
	return in[0], nil
}

func (add) Encode(e *Encoder, c EncodeConfig) error {
	sum := c.Inputs[0]
	for _, in := range c.Inputs[1:] {
		sum = e.Node("Add", []string{sum, in})
	}
	return nil
}

// Decode reads an Add of two values of one shape (not a broadcast, nor a constant).
func (add) Decode(d *Decoder, n *ONNXNode) (Decoded, error) {
	if len(n.Inputs) != 2 {
		return Decoded{}, errors.New("want 2 inputs")
	}
	for _, in := range n.Inputs {
		if d.IsInit(in) {
			return Decoded{}, fmt.Errorf("input %q is a constant: only sums of two layers' outputs are supported", in)
		}
	}
	a, _ := d.Shape(n.Inputs[0])
	b, _ := d.Shape(n.Inputs[1])
	if !slices.Equal(a, b) {
		return Decoded{}, fmt.Errorf("inputs of shapes %v and %v: only sums of one shape are supported", []int(a), []int(b))
	}
	return Decoded{}, nil
}

func (add) Kernel(c KernelConfig) Kernel { return &addKernel{need: c.NeedGrad} }

// addKernel sums its inputs; the gradient of each is the output's.
type addKernel struct{ need []bool }

func (k *addKernel) Forward(ins [][]float32, out []float32) { sum(ins, out) }

func (k *addKernel) Backward(_ [][]float32, _, dout []float32, dins [][]float32) {
	for i, d := range dins {
		if k.need[i] {
			copy(d, dout)
		}
	}
}

// sum sets out to the elementwise sum of ins, added in input order.
func sum(ins [][]float32, out []float32) {
	parallelFor(len(out), func(lo, hi int) {
		copy(out[lo:hi], ins[0][lo:hi])
		for _, in := range ins[1:] {
			for i, v := range in[lo:hi] {
				out[lo+i] += v
			}
		}
	})
}

func (add) Infer(InferConfig) InferKernel { return addInfer{} }

type addInfer struct{}

func (addInfer) Run(_ Gemmer, ins [][]float32, out []float32, _ int) {
	copy(out, ins[0])
	for _, in := range ins[1:] {
		for i, v := range in {
			out[i] += v
		}
	}
}
