package student

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Hint losses (Hint.Loss).
const (
	// HintMSE is FitNets' hint (Romero et al. 2015): the mean squared difference between the
	// teacher's feature and a learned projection of the student's (a 1×1 convolution for maps, a
	// dense layer for vectors).
	HintMSE = "mse"
	// HintCosine is one minus the cosine similarity of the projected student feature and the
	// teacher's, per sample, averaged over the batch.
	HintCosine = "cosine"
	// HintAT is attention transfer (Zagoruyko & Komodakis 2017): the mean squared difference of
	// the L2-normalised spatial maps of the channel-mean of squares; maps only, no projection, so
	// the channel counts may differ.
	HintAT = "at"
)

// Hint is one feature-distillation term: a loss between the student's output at one layer and a
// tensor of the teacher, for a batch. Spatial sizes that differ are average-pooled to the smaller
// (by whole factors); the projection of mse and cosine is trained with the student (Params) and
// is not part of the student's network (an export leaves it out).
type Hint struct {
	// Loss is HintMSE, HintCosine or HintAT; Weight multiplies it in the total loss.
	Loss   string
	Weight float64
	// Student and Teacher are the per-sample shapes: [C H W] maps or [D] vectors.
	Student, Teacher []int

	proj               []*Param // weight [out, in] and bias [out], nil for at
	maps               bool
	cs, ct, h, w       int       // channels (or lengths) and the common spatial size
	sfy, sfx, tfy, tfx int       // pooling factors of the student's and the teacher's maps
	ps, pt, p, dp, ds  []float32 // pooled student and teacher, projection, their gradients
}

// NewHint returns the hint of loss on a student feature of per-sample shape student against a
// teacher tensor of shape teacher, its projection (for mse and cosine) initialised from seed as
// PyTorch initialises a 1×1 convolution or a dense layer (uniform in ±1/√fan_in) and named
// "<name>.weight" and "<name>.bias". Shapes that cannot be matched are an error naming both.
func NewHint(name, loss string, weight float64, student, teacher []int, seed uint64) (*Hint, error) {
	h := &Hint{Loss: loss, Weight: weight, Student: slices.Clone(student), Teacher: slices.Clone(teacher)}
	switch loss {
	case HintMSE, HintCosine, HintAT:
	default:
		return nil, fmt.Errorf("hint loss %q: want mse, cosine or at", loss)
	}
	if !(weight > 0) || math.IsInf(weight, 0) {
		return nil, fmt.Errorf("hint weight %v: want a positive number", weight)
	}
	mismatch := func(why string) error {
		return fmt.Errorf("hint: the student's feature of shape %v and the teacher's of shape %v cannot be matched: %s", student, teacher, why)
	}
	switch {
	case len(student) == 3 && len(teacher) == 3:
		h.maps = true
		h.cs, h.ct = student[0], teacher[0]
		sh, sw, th, tw := student[1], student[2], teacher[1], teacher[2]
		h.h, h.w = min(sh, th), min(sw, tw)
		if (sh > th) != (sw > tw) && sh != th && sw != tw {
			return nil, mismatch("one is taller, the other wider")
		}
		if sh%h.h != 0 || sw%h.w != 0 || th%h.h != 0 || tw%h.w != 0 {
			return nil, mismatch(fmt.Sprintf("the larger spatial size is not a whole multiple of the smaller %dx%d", h.h, h.w))
		}
		h.sfy, h.sfx, h.tfy, h.tfx = sh/h.h, sw/h.w, th/h.h, tw/h.w
	case len(student) == 1 && len(teacher) == 1:
		if loss == HintAT {
			return nil, mismatch("attention transfer needs spatial maps ([C H W]) on both sides")
		}
		h.cs, h.ct, h.h, h.w = student[0], teacher[0], 1, 1
		h.sfy, h.sfx, h.tfy, h.tfx = 1, 1, 1, 1
	default:
		return nil, mismatch("want [C H W] maps on both sides, or [D] vectors on both sides")
	}
	if loss != HintAT {
		rng := rand.New(rand.NewPCG(seed, 0x41e7))
		bound := 1 / math.Sqrt(float64(h.cs))
		wt := &Param{Name: name + ".weight", Shape: []int{h.ct, h.cs}, Value: make([]float32, h.ct*h.cs), Grad: make([]float32, h.ct*h.cs)}
		b := &Param{Name: name + ".bias", Shape: []int{h.ct}, Value: make([]float32, h.ct), Grad: make([]float32, h.ct)}
		for _, p := range []*Param{wt, b} {
			for i := range p.Value {
				p.Value[i] = float32((2*rng.Float64() - 1) * bound)
			}
		}
		h.proj = []*Param{wt, b}
	}
	return h, nil
}

// Params returns the projection's weight and bias (none for at): trained with the student, saved
// in its checkpoints, left out of its export.
func (h *Hint) Params() []*Param { return h.proj }

// Func returns the loss of a batch whose teacher tensors are teacher ([n, Teacher...]), as a
// FeatureLossFunc on the student's layer: it writes the gradient of Weight·loss with respect to
// the student's feature into df and sets the projection's gradients.
func (h *Hint) Func(teacher []float32) FeatureLossFunc {
	return func(f []float32, n int, df []float32) float32 {
		return float32(h.loss(f, teacher, n, df))
	}
}

// loss computes Weight·loss of the batch, its gradient df on the student's feature f and the
// projection's gradients.
func (h *Hint) loss(f, teacher []float32, n int, df []float32) float64 {
	hw := h.h * h.w
	h.ps = pool(h.ps, f, n, h.cs, h.h, h.w, h.sfy, h.sfx)
	h.pt = pool(h.pt, teacher, n, h.ct, h.h, h.w, h.tfy, h.tfx)
	pooled := h.sfy > 1 || h.sfx > 1
	if pooled {
		h.ds = grow(h.ds, n*h.cs*hw)
	} else {
		h.ds = df[:n*h.cs*hw] // the losses write every value of ds: no unpooling, no copy
	}
	var l float64
	if h.Loss == HintAT {
		l = h.attention(n)
	} else {
		h.project(n)
		if h.Loss == HintMSE {
			l = h.mse(n)
		} else {
			l = h.cosine(n)
		}
		h.backProject(n)
	}
	if pooled {
		unpool(df, h.ds, n, h.cs, h.h, h.w, h.sfy, h.sfx)
	}
	return l
}

// project computes p = W·s + b per sample and spatial position: [n, ct, hw].
func (h *Hint) project(n int) {
	hw := h.h * h.w
	h.p = grow(h.p, n*h.ct*hw)
	W, b := h.proj[0].Value, h.proj[1].Value
	bl := currentBLAS()
	for i := range n {
		p := h.p[i*h.ct*hw : (i+1)*h.ct*hw]
		for c := range h.ct {
			for j := range hw {
				p[c*hw+j] = b[c]
			}
		}
		bl.Sgemm('N', 'N', h.ct, hw, h.cs, 1, W, h.cs, h.ps[i*h.cs*hw:(i+1)*h.cs*hw], hw, 1, p, hw)
	}
}

// backProject turns dp into the projection's gradients and ds = Wᵀ·dp.
func (h *Hint) backProject(n int) {
	hw := h.h * h.w
	W, dW, db := h.proj[0].Value, h.proj[0].Grad, h.proj[1].Grad
	clear(dW)
	clear(db)
	bl := currentBLAS()
	for i := range n {
		dp := h.dp[i*h.ct*hw : (i+1)*h.ct*hw]
		s := h.ps[i*h.cs*hw : (i+1)*h.cs*hw]
		bl.Sgemm('N', 'T', h.ct, h.cs, hw, 1, dp, hw, s, hw, 1, dW, h.cs)
		bl.Sgemm('T', 'N', h.cs, hw, h.ct, 1, W, h.cs, dp, hw, 0, h.ds[i*h.cs*hw:(i+1)*h.cs*hw], hw)
		for c := range h.ct {
			var sum float32
			for _, v := range dp[c*hw : (c+1)*hw] {
				sum += v
			}
			db[c] += sum
		}
	}
}

// mse is Weight·mean((p − t)²) over every value; it sets dp.
func (h *Hint) mse(n int) float64 {
	h.dp = grow(h.dp, len(h.p))
	scale := h.Weight / float64(len(h.p))
	var l float64
	for i, v := range h.p {
		d := float64(v - h.pt[i])
		l += d * d
		h.dp[i] = float32(2 * scale * d)
	}
	return scale * l
}

// cosine is Weight·mean over samples of 1 − cos(p_i, t_i); it sets dp.
func (h *Hint) cosine(n int) float64 {
	h.dp = grow(h.dp, len(h.p))
	m := len(h.p) / n
	const eps = 1e-8
	var l float64
	for i := range n {
		p, t, dp := h.p[i*m:(i+1)*m], h.pt[i*m:(i+1)*m], h.dp[i*m:(i+1)*m]
		var pt, pp, tt float64
		for j := range p {
			pt += float64(p[j]) * float64(t[j])
			pp += float64(p[j]) * float64(p[j])
			tt += float64(t[j]) * float64(t[j])
		}
		np, nt := math.Sqrt(pp)+eps, math.Sqrt(tt)+eps
		cos := pt / (np * nt)
		l += 1 - cos
		// d(1 − cos)/dp = −(t/(|p||t|) − cos·p/|p|²), scaled by Weight/n.
		g := h.Weight / float64(n)
		for j := range p {
			dp[j] = float32(-g * (float64(t[j])/(np*nt) - cos*float64(p[j])/(np*np)))
		}
	}
	return h.Weight * l / float64(n)
}

// attention is Weight·mean over samples and positions of (a_s − a_t)², a = A/‖A‖ with A the
// channel-mean of squares; it sets ds.
func (h *Hint) attention(n int) float64 {
	hw := h.h * h.w
	as, at := make([]float64, hw), make([]float64, hw)
	scale := h.Weight / float64(n*hw)
	var l float64
	for i := range n {
		ns := attentionMap(as, h.ps[i*h.cs*hw:(i+1)*h.cs*hw], h.cs, hw)
		attentionMap(at, h.pt[i*h.ct*hw:(i+1)*h.ct*hw], h.ct, hw)
		// g = dL/da_s; dL/dA = (g − a_s(a_s·g))/‖A‖; dA/ds[c] = 2s[c]/C.
		var dot float64
		for j := range hw {
			d := as[j] - at[j]
			l += d * d
			g := 2 * scale * d
			dot += as[j] * g
			at[j] = g // reused for g
		}
		s := h.ps[i*h.cs*hw : (i+1)*h.cs*hw]
		ds := h.ds[i*h.cs*hw : (i+1)*h.cs*hw]
		for j := range hw {
			dA := 0.0
			if ns > 0 {
				dA = (at[j] - as[j]*dot) / ns
			}
			for c := range h.cs {
				ds[c*hw+j] = float32(dA * 2 * float64(s[c*hw+j]) / float64(h.cs))
			}
		}
	}
	return scale * l
}

// attentionMap writes the L2-normalised channel-mean of squares of x [c, hw] into a and returns
// the norm before normalising.
func attentionMap(a []float64, x []float32, c, hw int) float64 {
	clear(a)
	for ch := range c {
		for j, v := range x[ch*hw : (ch+1)*hw] {
			a[j] += float64(v) * float64(v) / float64(c)
		}
	}
	var norm float64
	for _, v := range a {
		norm += v * v
	}
	norm = math.Sqrt(norm)
	if norm > 0 {
		for j := range a {
			a[j] /= norm
		}
	}
	return norm
}

// pool average-pools n maps of c channels by fy×fx into dst [n, c, h, w] and returns it; with
// factors of 1 it returns src itself.
func pool(dst, src []float32, n, c, h, w, fy, fx int) []float32 {
	if fy == 1 && fx == 1 {
		return src[:n*c*h*w] // read only: nothing to pool
	}
	dst = grow(dst, n*c*h*w)
	W := w * fx
	inv := 1 / float32(fy*fx)
	for m := range n * c {
		in, out := src[m*h*fy*W:(m+1)*h*fy*W], dst[m*h*w:(m+1)*h*w]
		for y := range h {
			for x := range w {
				var s float32
				for dy := range fy {
					for dx := range fx {
						s += in[(y*fy+dy)*W+x*fx+dx]
					}
				}
				out[y*w+x] = s * inv
			}
		}
	}
	return dst
}

// unpool spreads the gradient g [n, c, h, w] of an average pooling by fy×fx back over its input,
// into dst [n, c, h·fy, w·fx].
func unpool(dst, g []float32, n, c, h, w, fy, fx int) {
	if fy == 1 && fx == 1 {
		copy(dst, g[:n*c*h*w])
		return
	}
	W := w * fx
	inv := 1 / float32(fy*fx)
	for m := range n * c {
		in, out := g[m*h*w:(m+1)*h*w], dst[m*h*fy*W:(m+1)*h*fy*W]
		for y := range h * fy {
			for x := range W {
				out[y*W+x] = in[(y/fy)*w+x/fx] * inv
			}
		}
	}
}

// grow returns buf with length n, reallocated when too small.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}
