package nn

import (
	"errors"
	"fmt"
)

// dense is a fully connected layer, y = x W + b: fields units (> 0) and bias (default true);
// input a vector [in]; tensors weight [in, units] (row-major, the transpose of PyTorch's
// Linear.weight) and bias [units]; ONNX Gemm (transB 0; Gemm nodes of other tools with transB 1
// are read too).
type dense struct{}

func init() { Register(dense{}) }

func (dense) Type() string      { return "dense" }
func (dense) Fields() []string  { return []string{"units", "bias"} }
func (dense) Arity() (int, int) { return 1, 1 }
func (dense) FusesRelu() bool   { return true }
func (dense) ONNXOps() []string { return []string{"Gemm"} }

func (dense) Shape(l *Layer, in []Shape) (Shape, error) {
	if l.Units <= 0 {
		return nil, fieldErr("units", "must be > 0, got %d", l.Units)
	}
	if len(in[0]) != 1 {
		return nil, fieldErr("type", "input has shape %v; add a flatten layer before dense", []int(in[0]))
	}
	return Shape{l.Units}, nil
}

func (dense) Tensors(l *Layer, in []Shape, out Shape) []TensorSpec {
	t := []TensorSpec{{Name: "weight", Shape: []int{in[0][0], l.Units}, Init: InitWeight, FanIn: in[0][0], FanOut: l.Units, ChannelAxis: 1}}
	if l.hasBias() {
		t = append(t, biasSpec(l.Units))
	}
	return t
}

// biasSpec is the bias of a dense or conv2d layer with n output channels.
func biasSpec(n int) TensorSpec { return TensorSpec{Name: "bias", Shape: []int{n}, ChannelAxis: -1} }

// Fold scales and shifts each output column.
func (dense) Fold(l *Layer, t [][]float32, scale, shift []float32) [][]float32 {
	out := len(scale)
	w, b := append([]float32(nil), t[0]...), make([]float32, out)
	for i := range w {
		w[i] *= scale[i%out]
	}
	for j := range b {
		b[j] = bias(t, j)*scale[j] + shift[j]
	}
	return [][]float32{w, b}
}

// bias returns value j of the bias among a dense or conv2d layer's tensors t, 0 without one.
func bias(t [][]float32, j int) float32 {
	if len(t) < 2 {
		return 0
	}
	return t[1][j]
}

func (dense) Encode(e *Encoder, c EncodeConfig) error {
	ins := []string{c.Inputs[0], e.Init(c, 0)}
	if len(c.Tensors) > 1 {
		ins = append(ins, e.Init(c, 1))
	}
	e.Node("Gemm", ins)
	return nil
}

// Decode reads y = x W + b with alpha = beta = 1 and transA = 0; a weight stored transposed
// (transB = 1) is transposed back to [in, out]; a Gemm without a bias gets zeros.
func (dense) Decode(d *Decoder, n *ONNXNode) (Decoded, error) {
	if len(n.Inputs) < 2 || len(n.Inputs) > 3 {
		return Decoded{}, fmt.Errorf("has %d inputs, want 2 or 3", len(n.Inputs))
	}
	for _, f := range []string{"alpha", "beta"} {
		if v, err := n.Float(f, 1); err != nil || v != 1 {
			return Decoded{}, fmt.Errorf("attribute %q must be 1", f)
		}
	}
	if a, err := n.Int("transA", 0); err != nil || a != 0 {
		return Decoded{}, errors.New("only transA = 0 is supported")
	}
	transB, err := n.Int("transB", 0)
	if err != nil || (transB != 0 && transB != 1) {
		return Decoded{}, errors.New("transB must be 0 or 1")
	}
	w, err := d.Init(n.Inputs[1])
	if err != nil {
		return Decoded{}, err
	}
	if len(w.Dims) != 2 {
		return Decoded{}, fmt.Errorf("weight has shape %v, want 2-D", w.Dims)
	}
	in, out, wv := w.Dims[0], w.Dims[1], w.Values
	if transB == 1 {
		wv, in, out = transpose(w.Values, in, out), out, in
	}
	if s, ok := d.Shape(n.Inputs[0]); ok && len(s) != 1 {
		return Decoded{}, fmt.Errorf("input has shape %v; a Gemm needs a vector (add a flatten layer before dense)", []int(s))
	} else if ok && s[0] != in {
		return Decoded{}, fmt.Errorf("weight [%d %d] for an input of shape %v", in, out, []int(s))
	}
	if len(n.Inputs) == 2 {
		no := false
		return Decoded{Layer: Layer{Units: out, Bias: &no}, Tensors: [][]float32{wv}}, nil
	}
	b, err := d.Init(n.Inputs[2])
	if err != nil {
		return Decoded{}, err
	}
	if len(b.Values) != out || len(b.Dims) == 0 || b.Dims[len(b.Dims)-1] != out {
		return Decoded{}, fmt.Errorf("bias has shape %v, want [%d]", b.Dims, out)
	}
	return Decoded{Layer: Layer{Units: out}, Tensors: [][]float32{wv, b.Values}}, nil
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

func (dense) Kernel(c KernelConfig) Kernel {
	k := &denseKernel{c: c, in: c.In[0][0], out: c.Out[0]}
	if c.Train {
		if c.Relu {
			k.gp = make([]float32, c.Batch*k.out)
		}
		k.part = make([]float32, rowSumsPart(c.Batch, k.out))
	}
	return k
}

// denseKernel trains a dense layer. Backward calls sgemm directly: dW = xᵀ g', db = colsum(g'),
// dx = g' Wᵀ, where g' = g·(y > 0) with a fused relu and g otherwise.
type denseKernel struct {
	c       KernelConfig
	in, out int
	gp      []float32 // g' with a fused relu
	part    []float32 // rowSums' partial sums
}

func (k *denseKernel) Forward(ins [][]float32, y []float32) {
	x, w := ins[0], k.c.Tensors[0].Value
	out, batch := k.out, k.c.Batch
	k.c.BLAS().Sgemm('N', 'N', batch, out, k.in, 1, x, k.in, w, out, 0, y, out)
	relu := k.c.Relu
	if len(k.c.Tensors) < 2 {
		if relu {
			parallelFor(len(y), func(lo, hi int) { reluInPlace(y[lo:hi]) })
		}
		return
	}
	b := k.c.Tensors[1].Value
	parallelRows(batch, out, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := y[r*out : r*out+out]
			if relu {
				for j, v := range row {
					v += b[j]
					if v < 0 {
						v = 0
					}
					row[j] = v
				}
			} else {
				for j := range row {
					row[j] += b[j]
				}
			}
		}
	})
}

func (k *denseKernel) Backward(ins [][]float32, y, g []float32, dins [][]float32) {
	x, w := ins[0], k.c.Tensors[0].Value
	dW := k.c.Tensors[0].Grad
	batch, in, out := k.c.Batch, k.in, k.out
	if k.c.Relu {
		reluGrad(k.gp, g, y)
		g = k.gp
	}
	blas := k.c.BLAS()
	blas.Sgemm('T', 'N', in, out, batch, 1, x, in, g, out, 0, dW, out)
	if len(k.c.Tensors) > 1 {
		rowSums(k.c.Tensors[1].Grad, k.part, g, batch)
	}
	if k.c.NeedGrad[0] {
		blas.Sgemm('N', 'T', batch, in, out, 1, g, out, w, out, 0, dins[0], in)
	}
}

func (dense) Infer(c InferConfig) InferKernel {
	return &denseInfer{c: c, in: c.In[0][0], out: c.Out[0]}
}

// denseInfer runs out = x W + b (and relu when fused) as one product into rows that start as
// the bias.
type denseInfer struct {
	c       InferConfig
	in, out int
}

func (k *denseInfer) Run(g Gemmer, ins [][]float32, y []float32, n int) {
	if len(k.c.Tensors) > 1 {
		b := k.c.Tensors[1]
		for r := range n {
			copy(y[r*k.out:(r+1)*k.out], b)
		}
	} else {
		clear(y)
	}
	g.Gemm(n, k.out, k.in, ins[0], k.c.Tensors[0], y, true)
	if k.c.Relu {
		reluInPlace(y)
	}
}
