package nn

import (
	"errors"
	"fmt"
)

// globalavgpool averages each channel of a [channels, height, width] input to one value, giving
// the vector [channels] (a pooling head): no fields; ONNX GlobalAveragePool then Flatten.
type globalavgpool struct{}

func init() { Register(globalavgpool{}) }

func (globalavgpool) Type() string                                { return "globalavgpool" }
func (globalavgpool) Fields() []string                            { return nil }
func (globalavgpool) Arity() (int, int)                           { return 1, 1 }
func (globalavgpool) ONNXOps() []string                           { return []string{"GlobalAveragePool"} }
func (globalavgpool) Tensors(*Layer, []Shape, Shape) []TensorSpec { return nil }

func (globalavgpool) Shape(_ *Layer, in []Shape) (Shape, error) {
	if len(in[0]) != 3 {
		return nil, fieldErr("type", "needs a [channels, height, width] input, got %v", []int(in[0]))
	}
	return Shape{in[0][0]}, nil
}

func (globalavgpool) Encode(e *Encoder, c EncodeConfig) error {
	e.Node("Flatten", []string{e.Node("GlobalAveragePool", c.Inputs)}, IntAttr("axis", 1))
	return nil
}

// Decode reads a GlobalAveragePool and the Flatten (axis 1) that must follow it.
func (globalavgpool) Decode(d *Decoder, n *ONNXNode) (Decoded, error) {
	if len(n.Inputs) != 1 {
		return Decoded{}, errors.New("want 1 input")
	}
	f, ok := d.Follow(n.Outputs[0], "Flatten")
	if !ok {
		return Decoded{}, errors.New("not followed by a Flatten of its output alone (a [C, 1, 1] output is not supported)")
	}
	if len(f.Inputs) != 1 || len(f.Outputs) != 1 {
		return Decoded{}, errors.New("its Flatten must have 1 input and 1 output")
	}
	if axis, err := f.Int("axis", 1); err != nil || axis != 1 {
		return Decoded{}, fmt.Errorf("its Flatten must have axis 1 (axis %d)", axis)
	}
	return Decoded{}, nil
}

func (globalavgpool) Kernel(c KernelConfig) Kernel {
	return &gapKernel{planes: c.Batch * c.In[0][0], hw: c.In[0][1] * c.In[0][2]}
}

// gapKernel averages planes of hw values.
type gapKernel struct{ planes, hw int }

func (k *gapKernel) Forward(ins [][]float32, y []float32) {
	parallelRows(k.planes, k.hw, func(lo, hi int) { meanPlanes(ins[0], y, k.hw, lo, hi) })
}

// meanPlanes sets y[p] to the mean of plane p of x, for p in [lo, hi).
func meanPlanes(x, y []float32, hw, lo, hi int) {
	inv := 1 / float32(hw)
	for p := lo; p < hi; p++ {
		var s float32
		for _, v := range x[p*hw : (p+1)*hw] {
			s += v
		}
		y[p] = s * inv
	}
}

func (k *gapKernel) Backward(_ [][]float32, _, dy []float32, dins [][]float32) {
	inv := 1 / float32(k.hw)
	parallelRows(k.planes, k.hw, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			v := dy[p] * inv
			dx := dins[0][p*k.hw : (p+1)*k.hw]
			for i := range dx {
				dx[i] = v
			}
		}
	})
}

func (globalavgpool) Infer(c InferConfig) InferKernel {
	return &gapInfer{hw: c.In[0][1] * c.In[0][2]}
}

type gapInfer struct{ hw int }

func (k *gapInfer) Run(_ Gemmer, ins [][]float32, y []float32, _ int) {
	meanPlanes(ins[0], y, k.hw, 0, len(y))
}
