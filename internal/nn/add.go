package nn

import (
	"errors"
	"fmt"
	"slices"
)

// add sums two or more inputs of one shape elementwise (a residual connection): no fields;
// ONNX Add, one node per input after the first. Its gradient goes unchanged to every input. A
// relu that is its only reader is applied by its kernels (ReluFuser), as after a residual block.
type add struct{}

func init() { Register(add{}) }

func (add) Type() string                                { return "add" }
func (add) Fields() []string                            { return nil }
func (add) Arity() (int, int)                           { return 2, -1 }
func (add) ONNXOps() []string                           { return []string{"Add"} }
func (add) FusesRelu() bool                             { return true }
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

func (add) Kernel(c KernelConfig) Kernel { return &addKernel{need: c.NeedGrad, relu: c.Relu} }

// addKernel sums its inputs, then applies a fused relu; the gradient of each input is the
// output's (through the relu).
type addKernel struct {
	need []bool
	relu bool
}

func (k *addKernel) Forward(ins [][]float32, out []float32) { sum(ins, out, k.relu) }

func (k *addKernel) Backward(_ [][]float32, out, dout []float32, dins [][]float32) {
	var first []float32
	for i, d := range dins {
		switch {
		case !k.need[i]:
		case first != nil:
			copy(d, first)
		case k.relu:
			reluGrad(d, dout, out)
			first = d
		default:
			copy(d, dout)
			first = d
		}
	}
}

// sum sets out to the elementwise sum of ins, added in input order, then max(·, 0) when relu.
func sum(ins [][]float32, out []float32, relu bool) {
	parallelFor(len(out), func(lo, hi int) {
		o := out[lo:hi]
		copy(o, ins[0][lo:hi])
		for _, in := range ins[1:] {
			for i, v := range in[lo:hi] {
				o[i] += v
			}
		}
		if relu {
			vec.Relu(o, o)
		}
	})
}

func (add) Infer(c InferConfig) InferKernel { return addInfer{relu: c.Relu} }

type addInfer struct{ relu bool }

func (k addInfer) Run(_ Gemmer, ins [][]float32, out []float32, _ int) {
	copy(out, ins[0])
	for _, in := range ins[1:] {
		for i, v := range in {
			out[i] += v
		}
	}
	if k.relu {
		reluInPlace(out)
	}
}
