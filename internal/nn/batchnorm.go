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
	k := &bnKernel{c: c, ch: ch, hw: c.In[0].Size() / ch, mean: make([]float32, ch), invstd: make([]float32, ch)}
	return k
}

// bnKernel trains a batchnorm layer; Forward in training mode keeps each channel's batch mean
// and 1/sqrt(var + eps) for Backward.
type bnKernel struct {
	c            KernelConfig
	ch, hw       int
	mean, invstd []float32
}

// channel calls fn(c, off) for the offset of each sample's plane of channel c: [N, C, HW].
func (k *bnKernel) planes(c int, fn func(off int)) {
	for n := range k.c.Batch {
		fn((n*k.ch + c) * k.hw)
	}
}

// The sums below keep four partial sums (elements i mod 4, the tail in the first), added as
// (s0 + s1) + (s2 + s3) at the end: four independent additions in flight instead of one chain,
// in local variables the compiler keeps in registers.

// sum4 adds the values of x to the partial sums s.
func sum4(s *[4]float64, x []float32) {
	s0, s1, s2, s3 := s[0], s[1], s[2], s[3]
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		s0 += float64(v[0])
		s1 += float64(v[1])
		s2 += float64(v[2])
		s3 += float64(v[3])
	}
	for _, v := range x[i:] {
		s0 += float64(v)
	}
	*s = [4]float64{s0, s1, s2, s3}
}

// sqdev4 adds the squared deviations (x − mean)² to the partial sums s.
func sqdev4(s *[4]float64, x []float32, mean float64) {
	s0, s1, s2, s3 := s[0], s[1], s[2], s[3]
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		d0, d1, d2, d3 := float64(v[0])-mean, float64(v[1])-mean, float64(v[2])-mean, float64(v[3])-mean
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for _, v := range x[i:] {
		d := float64(v) - mean
		s0 += d * d
	}
	*s = [4]float64{s0, s1, s2, s3}
}

// gradSums4 adds g to sb and g·(x − mu)·inv to sg, for the gradient g, the input x and, when
// y is not nil, g zeroed where the relu output y is not positive.
func gradSums4(sb, sg *[4]float64, g, x, y []float32, mu, inv float32) {
	b0, b1, b2, b3 := sb[0], sb[1], sb[2], sb[3]
	g0, g1, g2, g3 := sg[0], sg[1], sg[2], sg[3]
	x = x[:len(g)]
	if y != nil {
		y = y[:len(g)]
	}
	i := 0
	for ; i+4 <= len(g); i += 4 {
		d, v := g[i:i+4:i+4], x[i:i+4:i+4]
		d0, d1, d2, d3 := d[0], d[1], d[2], d[3]
		if y != nil {
			o := y[i : i+4 : i+4]
			d0, d1, d2, d3 = reluMask(d0, o[0]), reluMask(d1, o[1]), reluMask(d2, o[2]), reluMask(d3, o[3])
		}
		b0 += float64(d0)
		b1 += float64(d1)
		b2 += float64(d2)
		b3 += float64(d3)
		g0 += float64(d0) * float64((v[0]-mu)*inv)
		g1 += float64(d1) * float64((v[1]-mu)*inv)
		g2 += float64(d2) * float64((v[2]-mu)*inv)
		g3 += float64(d3) * float64((v[3]-mu)*inv)
	}
	for ; i < len(g); i++ {
		d := g[i]
		if y != nil {
			d = reluMask(d, y[i])
		}
		b0 += float64(d)
		g0 += float64(d) * float64((x[i]-mu)*inv)
	}
	*sb, *sg = [4]float64{b0, b1, b2, b3}, [4]float64{g0, g1, g2, g3}
}

// total returns the partial sums' total.
func total(s *[4]float64) float64 { return (s[0] + s[1]) + (s[2] + s[3]) }

// reluMask returns g where the relu output y is > 0 and 0 elsewhere, without a branch (see
// reluGrad).
func reluMask(g, y float32) float32 {
	mask := uint32(-int32(math.Float32bits(y)&0x7fffffff) >> 31)
	return math.Float32frombits(math.Float32bits(g) & mask)
}

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
	parallelRows(k.ch, k.c.Batch*k.hw, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			var s [4]float64
			k.planes(c, func(off int) { sum4(&s, x[off:off+k.hw]) })
			mean := total(&s) / m
			s = [4]float64{}
			k.planes(c, func(off int) { sqdev4(&s, x[off:off+k.hw], mean) })
			ss := total(&s)
			variance := ss / m
			inv := float32(1 / math.Sqrt(float64(float32(variance)+eps)))
			k.mean[c], k.invstd[c] = float32(mean), inv
			mu, g, b := float32(mean), gamma[c], beta[c]
			k.planes(c, func(off int) {
				xs := x[off : off+k.hw]
				ys := y[off : off+len(xs)]
				if !relu {
					for i, v := range xs {
						ys[i] = (v-mu)*inv*g + b
					}
					return
				}
				for i, v := range xs {
					ys[i] = max((v-mu)*inv*g+b, 0)
				}
			})
			unbiased := variance
			if m > 1 {
				unbiased = ss / (m - 1)
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
// is first zeroed where the output y is not positive.
func (k *bnKernel) Backward(ins [][]float32, y, dy []float32, dins [][]float32) {
	x := ins[0]
	t := k.c.Tensors
	gamma, dgamma, dbeta := t[0].Value, t[0].Grad, t[1].Grad
	m := float32(k.c.Batch * k.hw)
	relu := k.c.Relu
	parallelRows(k.ch, k.c.Batch*k.hw, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			mu, inv := k.mean[c], k.invstd[c]
			var sb, sg [4]float64
			k.planes(c, func(off int) {
				var ys []float32
				if relu {
					ys = y[off : off+k.hw]
				}
				gradSums4(&sb, &sg, dy[off:off+k.hw], x[off:off+k.hw], ys, mu, inv)
			})
			db, dg := float32(total(&sb)), float32(total(&sg))
			dbeta[c], dgamma[c] = db, dg
			if !k.c.NeedGrad[0] {
				continue
			}
			dx := dins[0]
			f := gamma[c] * inv / m
			k.planes(c, func(off int) {
				gs := dy[off : off+k.hw]
				xs, ys, ds := x[off:off+len(gs)], y[off:off+len(gs)], dx[off:off+len(gs)]
				if !relu {
					for i, g := range gs {
						ds[i] = f * (m*g - db - (xs[i]-mu)*inv*dg)
					}
					return
				}
				for i, g := range gs {
					ds[i] = f * (m*reluMask(g, ys[i]) - db - (xs[i]-mu)*inv*dg)
				}
			})
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
