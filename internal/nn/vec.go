package nn

import "math"

// This file holds the vector loops the training kernels spend their time outside the products
// in: batchnorm's sums and passes, relu, hardswish, conv2d's bias gradient, 2×2 max pooling and
// the depthwise convolutions' loops. They are plain Go here, since internal/nn uses no
// cgo; a package that has faster ones (student's AVX2 C) installs them with UseVec.
//
// A replacement must give the same bits as the Go loops, so that results do not depend on the
// build or the CPU: an element-wise loop does the same float32 operations on each element, in
// the same order, without fusing a multiply and an add; a sum keeps eight float64 partial sums,
// element i of the slice in sum i mod 8, that the caller adds with sum8. The conversions to
// float32 below are explicit so that Go never fuses a multiply and an add either.

// Planes are the n planes of hw values, stride apart, that the batchnorm loops work over: the
// values of one channel in a batch [N, C, hw] have stride C·hw. A slice x holds them from x[0].
type Planes struct{ N, HW, Stride int }

// check panics unless x holds the planes: their last value is x[(N−1)·Stride + HW − 1].
func (p Planes) check(xs ...[]float32) {
	for _, x := range xs {
		if p.N > 0 && p.HW > 0 && len(x) < (p.N-1)*p.Stride+p.HW {
			panic("nn: planes past the end of a slice")
		}
	}
}

// Vec is a set of the vector loops. In the batchnorm loops, i counts within a plane, and x, y,
// g and dx are the planes p of their slices; y may be nil.
type Vec struct {
	// Moments adds d = x[i] − x0 (in float64) to s[i mod 8] and d² to ss[i mod 8].
	Moments func(x []float32, p Planes, x0 float32, s, ss *[8]float64)
	// Sums adds x[i] (in float64) to s[i mod 8].
	Sums func(x []float32, p Planes, s *[8]float64)
	// Normalize sets y[i] = (x[i] − mu)·inv·g + b, then max(·, 0) when relu.
	Normalize func(x, y []float32, p Planes, mu, inv, g, b float32, relu bool)
	// GradSums adds d to sb[i mod 8] and d·(x[i] − mu)·inv to sg[i mod 8] (the product in
	// float64 of float32 d and float32 (x[i] − mu)·inv), where d is g[i], or 0 when y is not nil
	// and y[i] is 0 or −0 (the output of a fused relu that cut it).
	GradSums func(g, x, y []float32, p Planes, mu, inv float32, sb, sg *[8]float64)
	// GradInput sets dx[i] = (m·d − db − (x[i] − mu)·inv·dg)·f, with d as in GradSums.
	GradInput func(g, x, y, dx []float32, p Planes, f, m, db, mu, inv, dg float32)
	// Hardswish sets y[i] = x[i]·min(max(x[i] + 3, 0), 6)/6 for every element of x.
	Hardswish func(x, y []float32)
	// HardswishGrad sets dx[i] = 0 where x[i] < −3, g[i] where x[i] > 3, else g[i]·(2·x[i] + 3)/6.
	HardswishGrad func(x, g, dx []float32)

	// Relu sets y[i] = max(x[i], 0) (a NaN stays NaN, −0 becomes 0).
	Relu func(x, y []float32)
	// ReluGrad sets dx[i] = g[i] where the relu output y[i] is not 0 or −0, else 0.
	ReluGrad func(g, y, dx []float32)

	// MaxPool2 pools n planes [h, w] of x, one after another, with 2×2 windows of stride 2 into
	// n planes [h/2, w/2] of y, and sets a to the index in its plane of each window's maximum:
	// the first of the window's values, row by row, that no later one exceeds (a NaN first stays).
	MaxPool2 func(x []float32, n, h, w int, y []float32, a []int32)

	// DWCorr sets y[oy·ow + ox], for oh rows of ow, to the sum over the k×k taps t = (ki, kj), in
	// order and from 0, of w[t]·xp[(oy·st + ki)·wp + ox·st + kj]: a depthwise convolution of the
	// padded plane xp, which holds dwSlack(st) readable values past its last window.
	DWCorr func(xp []float32, wp int, w []float32, k, st int, y []float32, oh, ow int)
	// DWDots adds dy[oy·ow + ox]·xp[(oy·st + ki)·wp + ox·st + kj] to acc[8t + ox mod 8], for each
	// tap t = (ki, kj) in order, then each row oy, then each chunk of 8 columns, the lanes of a
	// row's last chunk past ow adding +0; xp is as for DWCorr.
	DWDots func(xp []float32, wp int, dy []float32, oh, ow, k, st int, acc []float32)
}

// GoVec returns the plain Go loops, the reference any replacement must match.
func GoVec() Vec {
	return Vec{Moments: goMoments, Sums: goSums, Normalize: goNormalize, GradSums: goGradSums, GradInput: goGradInput,
		Hardswish: goHardswish, HardswishGrad: goHardswishGrad, Relu: goRelu, ReluGrad: goReluGrad,
		MaxPool2: goMaxPool2, DWCorr: goDWCorr, DWDots: goDWDots}
}

var vec = GoVec()

// UseVec makes the kernels call v's loops; a nil field keeps the Go loop. Call it from an init
// function, before any kernel runs.
func UseVec(v Vec) {
	g := GoVec()
	if v.Moments == nil {
		v.Moments = g.Moments
	}
	if v.Sums == nil {
		v.Sums = g.Sums
	}
	if v.Normalize == nil {
		v.Normalize = g.Normalize
	}
	if v.GradSums == nil {
		v.GradSums = g.GradSums
	}
	if v.GradInput == nil {
		v.GradInput = g.GradInput
	}
	if v.Hardswish == nil {
		v.Hardswish = g.Hardswish
	}
	if v.HardswishGrad == nil {
		v.HardswishGrad = g.HardswishGrad
	}
	if v.Relu == nil {
		v.Relu = g.Relu
	}
	if v.ReluGrad == nil {
		v.ReluGrad = g.ReluGrad
	}
	if v.MaxPool2 == nil {
		v.MaxPool2 = g.MaxPool2
	}
	if v.DWCorr == nil {
		v.DWCorr = g.DWCorr
	}
	if v.DWDots == nil {
		v.DWDots = g.DWDots
	}
	vec = v
}

// sum8 adds eight partial sums in a fixed order.
func sum8(s *[8]float64) float64 {
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

// keep reports whether a fused relu let the gradient at output y through: y > 0 (or NaN), not
// 0 or −0.
func keep(y float32) bool { return math.Float32bits(y)&0x7fffffff != 0 }

// plane returns plane j of x, or nil for a nil x.
func (p Planes) plane(x []float32, j int) []float32 {
	if x == nil {
		return nil
	}
	return x[j*p.Stride : j*p.Stride+p.HW]
}

func goMoments(x []float32, p Planes, x0 float32, s, ss *[8]float64) {
	p.check(x)
	c := float64(x0)
	for j := range p.N {
		for i, v := range p.plane(x, j) {
			d := float64(v) - c
			s[i%8] += d
			ss[i%8] += float64(d * d)
		}
	}
}

func goSums(x []float32, p Planes, s *[8]float64) {
	p.check(x)
	for j := range p.N {
		for i, v := range p.plane(x, j) {
			s[i%8] += float64(v)
		}
	}
}

func goNormalize(x, y []float32, p Planes, mu, inv, g, b float32, relu bool) {
	p.check(x, y)
	for j := range p.N {
		ys := p.plane(y, j)
		for i, v := range p.plane(x, j) {
			o := float32(float32(float32(v-mu)*inv)*g) + b
			if relu {
				o = max(o, 0)
			}
			ys[i] = o
		}
	}
}

func goGradSums(g, x, y []float32, p Planes, mu, inv float32, sb, sg *[8]float64) {
	p.check(g, x)
	if y != nil {
		p.check(y)
	}
	for j := range p.N {
		xs, ys := p.plane(x, j), p.plane(y, j)
		for i, d := range p.plane(g, j) {
			if ys != nil && !keep(ys[i]) {
				d = 0
			}
			sb[i%8] += float64(d)
			sg[i%8] += float64(float64(d) * float64(float32(xs[i]-mu)*inv))
		}
	}
}

func goGradInput(g, x, y, dx []float32, p Planes, f, m, db, mu, inv, dg float32) {
	p.check(g, x, dx)
	if y != nil {
		p.check(y)
	}
	for j := range p.N {
		xs, ys, ds := p.plane(x, j), p.plane(y, j), p.plane(dx, j)
		for i, d := range p.plane(g, j) {
			if ys != nil && !keep(ys[i]) {
				d = 0
			}
			xh := float32(float32(xs[i]-mu) * inv)
			ds[i] = float32((float32(m*d)-db)-float32(xh*dg)) * f
		}
	}
}

func goHardswish(x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = float32(v*min(max(v+3, 0), 6)) / 6
	}
}

func goHardswishGrad(x, g, dx []float32) {
	g, dx = g[:len(x)], dx[:len(x)]
	for i, v := range x {
		switch {
		case v < -3:
			dx[i] = 0
		case v > 3:
			dx[i] = g[i]
		default:
			dx[i] = float32(g[i]*float32(float32(2*v)+3)) / 6
		}
	}
}

func goRelu(x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = max(v, 0)
	}
}

func goReluGrad(g, y, dx []float32) {
	y, dx = y[:len(g)], dx[:len(g)]
	for i := range dx {
		// y is a relu output, ≥ 0 or −0: keep g where y > 0, without a branch (one that is
		// taken for about half the units at random cost 3.5 ns an element here). The mask is
		// all ones when y's magnitude bits are not zero, else zero.
		mask := uint32(-int32(math.Float32bits(y[i])&0x7fffffff) >> 31)
		dx[i] = math.Float32frombits(math.Float32bits(g[i]) & mask)
	}
}

func goMaxPool2(x []float32, n, h, w int, y []float32, a []int32) {
	oh, ow := h/2, w/2
	for pl := range n {
		xp, yp, ap := x[pl*h*w:(pl+1)*h*w], y[pl*oh*ow:(pl+1)*oh*ow], a[pl*oh*ow:(pl+1)*oh*ow]
		for oy := range oh {
			r0 := 2 * oy * w
			yr, ar := yp[oy*ow:(oy+1)*ow], ap[oy*ow:(oy+1)*ow]
			for ox := range yr {
				i := r0 + 2*ox
				m, best := xp[i], i
				if v := xp[i+1]; v > m {
					m, best = v, i+1
				}
				if v := xp[i+w]; v > m {
					m, best = v, i+w
				}
				if v := xp[i+w+1]; v > m {
					m, best = v, i+w+1
				}
				yr[ox], ar[ox] = m, int32(best)
			}
		}
	}
}

// DWNeed is how many values of a padded plane of width wp the depthwise loops may read, for
// oh output rows of a k×k kernel at stride st.
func DWNeed(wp, k, st, oh int) int { return ((oh-1)*st+k)*wp + dwSlack(st) }

func goDWCorr(xp []float32, wp int, w []float32, k, st int, y []float32, oh, ow int) {
	_ = xp[DWNeed(wp, k, st, oh)-1]
	w, y = w[:k*k], y[:oh*ow]
	for oy := range oh {
		row := y[oy*ow : (oy+1)*ow]
		for ox := range row {
			var s float32
			for ki := range k {
				src := xp[(oy*st+ki)*wp+ox*st:]
				for kj, wv := range w[ki*k : (ki+1)*k] {
					s += float32(wv * src[kj])
				}
			}
			row[ox] = s
		}
	}
}

func goDWDots(xp []float32, wp int, dy []float32, oh, ow, k, st int, acc []float32) {
	_ = xp[DWNeed(wp, k, st, oh)-1]
	dy, acc = dy[:oh*ow], acc[:8*k*k]
	for t := range k * k {
		ki, kj := t/k, t%k
		a := acc[8*t : 8*t+8]
		for oy := range oh {
			src, d := xp[(oy*st+ki)*wp+kj:], dy[oy*ow:(oy+1)*ow]
			for ox := 0; ox < ow; ox += 8 {
				for l := range 8 {
					if ox+l < ow {
						a[l] += float32(d[ox+l] * src[(ox+l)*st])
					} else {
						a[l] += 0
					}
				}
			}
		}
	}
}
