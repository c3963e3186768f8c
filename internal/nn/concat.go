package nn

import (
	"errors"
	"fmt"
	"slices"
)

// concat joins its inputs along the channels ([C_k, H, W] with one H and W give [ΣC_k, H, W]) or
// the features of vectors: no fields; ONNX Concat (axis 1).
type concat struct{}

func init() { Register(concat{}) }

func (concat) Type() string                                { return "concat" }
func (concat) Fields() []string                            { return nil }
func (concat) Arity() (int, int)                           { return 2, -1 }
func (concat) ONNXOps() []string                           { return []string{"Concat"} }
func (concat) Tensors(*Layer, []Shape, Shape) []TensorSpec { return nil }

func (concat) Shape(l *Layer, in []Shape) (Shape, error) {
	out := slices.Clone(in[0])
	for k, s := range in[1:] {
		if len(s) != len(in[0]) || !slices.Equal(s[1:], in[0][1:]) {
			return nil, fieldErr("inputs", "input %d (%q) has shape %v, input 0 (%q) has %v: concat needs the same shape but for the channels", k+1, l.Inputs[k+1], []int(s), l.Inputs[0], []int(in[0]))
		}
		out[0] += s[0]
	}
	return out, nil
}

func (concat) Encode(e *Encoder, c EncodeConfig) error {
	e.Node("Concat", c.Inputs, IntAttr("axis", 1))
	return nil
}

func (concat) Decode(d *Decoder, n *ONNXNode) (Decoded, error) {
	if len(n.Inputs) < 2 {
		return Decoded{}, errors.New("want 2 or more inputs")
	}
	for _, in := range n.Inputs {
		if d.IsInit(in) {
			return Decoded{}, fmt.Errorf("input %q is a constant: only layers' outputs are supported", in)
		}
	}
	if axis, err := n.Int("axis", -1); err != nil || axis != 1 {
		return Decoded{}, fmt.Errorf("only axis 1 (the channels) is supported (axis %d)", axis)
	}
	return Decoded{}, nil
}

func (concat) Kernel(c KernelConfig) Kernel { return &concatKernel{c: c} }

// concatKernel copies each input's block of every sample into place, and back for the
// gradients.
type concatKernel struct{ c KernelConfig }

func (k *concatKernel) Forward(ins [][]float32, out []float32) {
	concatInto(out, ins, k.c.In, k.c.Batch)
}

func (k *concatKernel) Backward(_ [][]float32, _, dout []float32, dins [][]float32) {
	size := k.c.Out.Size()
	for n := range k.c.Batch {
		off := n * size
		for i, s := range k.c.In {
			m := s.Size()
			if k.c.NeedGrad[i] {
				copy(dins[i][n*m:(n+1)*m], dout[off:off+m])
			}
			off += m
		}
	}
}

// concatInto writes the n samples of ins (shaped in) one after the other into each sample of out.
func concatInto(out []float32, ins [][]float32, in []Shape, n int) {
	off := 0
	for s := range n {
		for i, sh := range in {
			m := sh.Size()
			copy(out[off:off+m], ins[i][s*m:(s+1)*m])
			off += m
		}
	}
}

func (concat) Infer(c InferConfig) InferKernel { return &concatInfer{in: c.In} }

type concatInfer struct{ in []Shape }

func (k *concatInfer) Run(_ Gemmer, ins [][]float32, out []float32, n int) {
	concatInto(out, ins, k.in, n)
}
