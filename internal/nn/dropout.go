package nn

import (
	"errors"
	"math/rand/v2"
)

// dropout zeroes each value with probability p while training and scales the others by
// 1/(1-p) (inverted dropout), so evaluation is the identity: field p in [0, 1); any input shape;
// no ONNX node (Dropout and Identity nodes of other tools are read as one with p 0).
type dropout struct{}

func init() { Register(dropout{}) }

func (dropout) Type() string                                { return "dropout" }
func (dropout) Fields() []string                            { return []string{"p"} }
func (dropout) Arity() (int, int)                           { return 1, 1 }
func (dropout) ONNXOps() []string                           { return []string{"Dropout", "Identity"} }
func (dropout) Tensors(*Layer, []Shape, Shape) []TensorSpec { return nil }

// View: dropout passes its input on when not training, or with p = 0.
func (dropout) View(l *Layer, train bool) bool { return !train || l.P == 0 }

func (dropout) Shape(l *Layer, in []Shape) (Shape, error) {
	if l.P < 0 || l.P >= 1 || l.P != l.P {
		return nil, fieldErr("p", "must be in [0, 1), got %v", l.P)
	}
	return in[0], nil
}

// Encode writes nothing: dropout is the identity at inference.
func (dropout) Encode(*Encoder, EncodeConfig) error { return nil }

func (dropout) Decode(_ *Decoder, n *ONNXNode) (Decoded, error) {
	if len(n.Inputs) != 1 {
		return Decoded{}, errors.New("want 1 input (a Dropout's ratio and training mode as inputs are not supported)")
	}
	if n.Op == "Dropout" {
		if _, err := n.Float("ratio", 0.5); err != nil {
			return Decoded{}, err
		}
		if _, err := n.Int("seed", 0); err != nil {
			return Decoded{}, err
		}
	}
	return Decoded{}, nil
}

func (dropout) Kernel(c KernelConfig) Kernel {
	return &dropoutKernel{p: c.Layer.P, mask: make([]float32, c.Batch*c.Out.Size())}
}

// dropoutKernel multiplies its input by a mask of 0 and 1/(1-p), drawn by Sample from the
// trainer's rng before each step, one rng.Float64 per value in order, so dropout is reproducible.
type dropoutKernel struct {
	p    float64
	mask []float32
}

func (k *dropoutKernel) Sample(rng *rand.Rand) {
	scale := float32(1 / (1 - k.p))
	for i := range k.mask {
		if rng.Float64() < k.p {
			k.mask[i] = 0
		} else {
			k.mask[i] = scale
		}
	}
}

func (k *dropoutKernel) Forward(ins [][]float32, out []float32) { mulMask(out, ins[0], k.mask) }

func (k *dropoutKernel) Backward(_ [][]float32, _, dout []float32, dins [][]float32) {
	mulMask(dins[0], dout, k.mask)
}

// mulMask sets dst to x·m elementwise.
func mulMask(dst, x, m []float32) {
	parallelFor(len(dst), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = x[i] * m[i]
		}
	})
}

func (dropout) Infer(InferConfig) InferKernel { return copyInfer{} }

// copyInfer copies its input: the kernel of a view, for a runtime that runs it anyway.
type copyInfer struct{}

func (copyInfer) Run(_ Gemmer, ins [][]float32, out []float32, _ int) { copy(out, ins[0]) }
