package nn

import (
	"errors"
	"fmt"
	"math"
)

// batchnorm is batch normalisation (Ioffe and Szegedy 2015) over the channels of a
// [channels, height, width] input or the features of a vector: fields momentum (default 0.1) and
// eps (default 1e-5), with PyTorch's meanings; tensors weight (γ, ones) and bias (β, zeros), and
// the buffers running_mean (zeros) and running_var (ones); ONNX BatchNormalization, or nothing
// when an export folds it into the dense or conv2d layer before it.
//
// Training normalises each channel with the batch's mean and biased variance over the samples
// (and positions), y = γ·(x − mean)/sqrt(var + eps) + β, and updates the running statistics,
// running = (1 − momentum)·running + momentum·batch, with the unbiased variance. Evaluation,
// export and inference use the running statistics: y = scale·x + shift per channel, scale =
// γ/sqrt(running_var + eps) and shift = β − running_mean·scale. Each channel's sums run on one
// goroutine in a fixed order, so results do not depend on GOMAXPROCS. A relu that is the layer's
// only reader is applied by its kernels (ReluFuser), saving the relu's pass over the batch.
type batchnorm struct{}

func init() { Register(batchnorm{}) }

func (batchnorm) Type() string      { return "batchnorm" }
func (batchnorm) Fields() []string  { return []string{"momentum", "eps"} }
func (batchnorm) Arity() (int, int) { return 1, 1 }
func (batchnorm) ONNXOps() []string { return []string{"BatchNormalization"} }
func (batchnorm) FusesRelu() bool   { return true }

func (batchnorm) Shape(l *Layer, in []Shape) (Shape, error) {
	if m := l.Momentum; m < 0 || m > 1 || m != m {
		return nil, fieldErr("momentum", "must be in (0, 1] (0 means 0.1), got %v", m)
	}
	if e := l.Eps; e < 0 || e != e || math.IsInf(e, 0) || (e > 0 && float32(e) == 0) {
		return nil, fieldErr("eps", "must be a positive float32 (0 means 1e-5), got %v", e)
	}
	if len(in[0]) != 1 && len(in[0]) != 3 {
		return nil, fieldErr("type", "needs a vector or a [channels, height, width] input, got %v", []int(in[0]))
	}
	return in[0], nil
}

func (batchnorm) Tensors(l *Layer, in []Shape, out Shape) []TensorSpec {
	c := []int{in[0][0]}
	return []TensorSpec{
		{Name: "weight", Shape: c, Init: InitOnes, ChannelAxis: -1},
		{Name: "bias", Shape: c, ChannelAxis: -1},
		{Name: "running_mean", Shape: c, Buffer: true, ChannelAxis: -1},
		{Name: "running_var", Shape: c, Buffer: true, Init: InitOnes, ChannelAxis: -1},
	}
}

// eps32 is the layer's eps as the float32 every kernel and the ONNX node use.
func (l *Layer) eps32() float32 { return float32(l.eps()) }

// ChannelAffine returns scale = γ/sqrt(running_var + eps) and shift = β − running_mean·scale, in
// float32.
func (batchnorm) ChannelAffine(l *Layer, t [][]float32) (scale, shift []float32) {
	gamma, beta, mean, v := t[0], t[1], t[2], t[3]
	scale, shift = make([]float32, len(gamma)), make([]float32, len(gamma))
	eps := l.eps32()
	for c := range gamma {
		scale[c] = gamma[c] / float32(math.Sqrt(float64(v[c]+eps)))
		shift[c] = beta[c] - mean[c]*scale[c]
	}
	return scale, shift
}

// Identity sets the tensors to γ 1, β 0, mean 0 and a variance v with v + eps = 1 in float32:
// scale 1 and shift 0 exactly, so the layer is the identity and folding it changes nothing.
func (batchnorm) Identity(l *Layer, t [][]float32) {
	eps := l.eps32()
	v := 1 - eps
	for k := 0; k < 64 && v+eps != 1; k++ {
		if v+eps > 1 {
			v = math.Nextafter32(v, 0)
		} else {
			v = math.Nextafter32(v, 2)
		}
	}
	for c := range t[0] {
		t[0][c], t[1][c], t[2][c], t[3][c] = 1, 0, 0, v
	}
}

func (batchnorm) Encode(e *Encoder, c EncodeConfig) error {
	e.Node("BatchNormalization", []string{c.Inputs[0], e.Init(c, 0), e.Init(c, 1), e.Init(c, 2), e.Init(c, 3)},
		FloatAttr("epsilon", c.Layer.eps32()))
	return nil
}

// Decode reads an inference-mode BatchNormalization (training_mode 0, the "spatial" form).
func (batchnorm) Decode(d *Decoder, n *ONNXNode) (Decoded, error) {
	if len(n.Inputs) != 5 {
		return Decoded{}, fmt.Errorf("has %d inputs, want 5 (x, scale, bias, mean, var)", len(n.Inputs))
	}
	eps, err := n.Float("epsilon", 1e-5)
	if err != nil {
		return Decoded{}, err
	}
	if _, err := n.Float("momentum", 0.9); err != nil {
		return Decoded{}, err
	}
	if s, err := n.Int("spatial", 1); err != nil || s != 1 {
		return Decoded{}, errors.New("only spatial 1 is supported")
	}
	if tm, err := n.Int("training_mode", 0); err != nil || tm != 0 {
		return Decoded{}, errors.New("only training_mode 0 is supported")
	}
	if !(eps > 0) || math.IsInf(float64(eps), 0) {
		return Decoded{}, fmt.Errorf("epsilon %v: only a positive finite epsilon is supported", eps)
	}
	var l Layer
	if eps != float32(1e-5) {
		l.Eps = float64(eps)
	}
	var t [][]float32
	for _, name := range n.Inputs[1:] {
		in, err := d.Init(name)
		if err != nil {
			return Decoded{}, err
		}
		if len(in.Dims) != 1 {
			return Decoded{}, fmt.Errorf("%q has shape %v, want a vector", name, in.Dims)
		}
		t = append(t, in.Values)
	}
	return Decoded{Layer: l, Tensors: t}, nil
}

func (batchnorm) Kernel(c KernelConfig) Kernel {
	ch := c.In[0][0]
	k := &bnKernel{c: c, ch: ch, hw: c.In[0].Size() / ch, mean: make([]float32, ch), invstd: make([]float32, ch),
		acc: make([][2][8]float64, ch)}
	return k
}

// bnKernel trains a batchnorm layer; Forward in training mode keeps each channel's batch mean
// and 1/sqrt(var + eps) for Backward.
type bnKernel struct {
	c            KernelConfig
	ch, hw       int
	mean, invstd []float32
	acc          [][2][8]float64 // each channel's partial sums, kept so that no call allocates them
}

// channel calls fn(c, off) for the offset of each sample's plane of channel c: [N, C, HW].
func (k *bnKernel) planes(c int, fn func(off int)) {
	for n := range k.c.Batch {
		fn((n*k.ch + c) * k.hw)
	}
}

// channel returns the planes of one channel: the batch's samples, C·HW apart.
func (k *bnKernel) channel() Planes { return Planes{N: k.c.Batch, HW: k.hw, Stride: k.ch * k.hw} }

func (k *bnKernel) Forward(ins [][]float32, y []float32) {
	x := ins[0]
	t := k.c.Tensors
	gamma, beta, rm, rv := t[0].Value, t[1].Value, t[2].Value, t[3].Value
	eps := k.c.Layer.eps32()
	relu := k.c.Relu
	if !k.c.Train {
		scale, shift := batchnorm{}.ChannelAffine(k.c.Layer, [][]float32{gamma, beta, rm, rv})
		parallelRows(k.ch, k.c.Batch*k.hw, func(lo, hi int) {
			for c := lo; c < hi; c++ {
				k.planes(c, func(off int) { affine(x[off:off+k.hw], y[off:off+k.hw], scale[c], shift[c], relu) })
			}
		})
		return
	}
	m := float64(k.c.Batch * k.hw)
	mom := float32(k.c.Layer.momentum())
	pl := k.channel()
	parallelRows(k.ch, k.c.Batch*k.hw, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			// One pass for the mean and variance, of the values less the channel's first (in
			// float64): with that shift the variance E[d²] − E[d]² loses nothing to a mean far
			// from 0.
			x0 := x[c*k.hw]
			s, ss := &k.acc[c][0], &k.acc[c][1]
			*s, *ss = [8]float64{}, [8]float64{}
			vec.Moments(x[c*k.hw:], pl, x0, s, ss)
			dm := sum8(s) / m
			variance := max(sum8(ss)/m-dm*dm, 0)
			mean := float64(x0) + dm
			inv := float32(1 / math.Sqrt(float64(float32(variance)+eps)))
			k.mean[c], k.invstd[c] = float32(mean), inv
			mu, g, b := float32(mean), gamma[c], beta[c]
			vec.Normalize(x[c*k.hw:], y[c*k.hw:], pl, mu, inv, g, b, relu)
			unbiased := variance
			if m > 1 {
				unbiased = variance * m / (m - 1)
			}
			rm[c] = (1-mom)*rm[c] + mom*float32(mean)
			rv[c] = (1-mom)*rv[c] + mom*float32(unbiased)
		}
	})
}

// affine sets y to x·scale + shift, then relu when asked.
func affine(x, y []float32, scale, shift float32, relu bool) {
	y = y[:len(x)]
	if !relu {
		for i, v := range x {
			y[i] = v*scale + shift
		}
		return
	}
	for i, v := range x {
		y[i] = max(v*scale+shift, 0)
	}
}

// Backward: with x̂ = (x − mean)·invstd, dβ = Σ dy, dγ = Σ dy·x̂ and
// dx = γ·invstd/M · (M·dy − dβ − x̂·dγ) over the M values of each channel; with a fused relu, dy
// is first zeroed where the relu cut the output y.
func (k *bnKernel) Backward(ins [][]float32, y, dy []float32, dins [][]float32) {
	x := ins[0]
	t := k.c.Tensors
	gamma, dgamma, dbeta := t[0].Value, t[0].Grad, t[1].Grad
	m := float32(k.c.Batch * k.hw)
	relu := k.c.Relu
	pl := k.channel()
	parallelRows(k.ch, k.c.Batch*k.hw, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			mu, inv := k.mean[c], k.invstd[c]
			sb, sg := &k.acc[c][0], &k.acc[c][1]
			*sb, *sg = [8]float64{}, [8]float64{}
			var ys []float32
			if relu {
				ys = y[c*k.hw:]
			}
			vec.GradSums(dy[c*k.hw:], x[c*k.hw:], ys, pl, mu, inv, sb, sg)
			db, dg := float32(sum8(sb)), float32(sum8(sg))
			dbeta[c], dgamma[c] = db, dg
			if !k.c.NeedGrad[0] {
				continue
			}
			dx := dins[0]
			f := gamma[c] * inv / m
			vec.GradInput(dy[c*k.hw:], x[c*k.hw:], ys, dx[c*k.hw:], pl, f, m, db, mu, inv, dg)
		}
	})
}

func (batchnorm) Infer(c InferConfig) InferKernel {
	scale, shift := batchnorm{}.ChannelAffine(c.Layer, c.Tensors)
	ch := c.In[0][0]
	return &bnInfer{scale: scale, shift: shift, ch: ch, hw: c.In[0].Size() / ch, relu: c.Relu}
}

// bnInfer applies each channel's scale and shift, then relu when fused.
type bnInfer struct {
	scale, shift []float32
	ch, hw       int
	relu         bool
}

func (k *bnInfer) Run(_ Gemmer, ins [][]float32, y []float32, n int) {
	x := ins[0]
	for s := range n {
		for c := range k.ch {
			off := (s*k.ch + c) * k.hw
			affine(x[off:off+k.hw], y[off:off+k.hw], k.scale[c], k.shift[c], k.relu)
		}
	}
}
