package nn

import (
	"errors"
	"fmt"
)

// flatten reads a [channels, height, width] sample as the vector [channels·height·width] (a vector
// stays as it is): no fields; ONNX Flatten (axis 1). No kernel runs: it is a view of its input.
type flatten struct{}

func init() { Register(flatten{}) }

func (flatten) Type() string                                { return "flatten" }
func (flatten) Fields() []string                            { return nil }
func (flatten) Arity() (int, int)                           { return 1, 1 }
func (flatten) ONNXOps() []string                           { return []string{"Flatten"} }
func (flatten) Tensors(*Layer, []Shape, Shape) []TensorSpec { return nil }
func (flatten) View(*Layer, bool) bool                      { return true }

func (flatten) Shape(_ *Layer, in []Shape) (Shape, error) { return Shape{in[0].Size()}, nil }

func (flatten) Encode(e *Encoder, c EncodeConfig) error {
	e.Node("Flatten", c.Inputs, IntAttr("axis", 1))
	return nil
}

func (flatten) Decode(_ *Decoder, n *ONNXNode) (Decoded, error) {
	if len(n.Inputs) != 1 {
		return Decoded{}, errors.New("want 1 input")
	}
	if axis, err := n.Int("axis", 1); err != nil || axis != 1 {
		return Decoded{}, fmt.Errorf("only axis 1 is supported (axis %d)", axis)
	}
	return Decoded{}, nil
}

func (flatten) Kernel(KernelConfig) Kernel { return copyKernel{} }

// copyKernel is the kernel of a view, for a trainer that runs it anyway.
type copyKernel struct{}

func (copyKernel) Forward(ins [][]float32, out []float32) { copy(out, ins[0]) }
func (copyKernel) Backward(_ [][]float32, _, dout []float32, dins [][]float32) {
	copy(dins[0], dout)
}

func (flatten) Infer(InferConfig) InferKernel { return copyInfer{} }
