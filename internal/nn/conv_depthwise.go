package nn

// This file holds conv2d's kernels for depthwise convolutions (one input channel per group).

// depthwise says whether each group has one input channel (a depthwise convolution, with any
// number of filters per channel): its kernels then loop over the windows directly, which beats a
// matrix product with one row per group.
func (g convGeom) depthwise() bool { return g.c == 1 && g.groups > 1 }

// dwForward computes one sample of a depthwise convolution: filter f of group (input channel)
// f/g.f, plus the bias (b may be nil), then relu when asked. Each kernel tap adds its weight times
// the shifted input plane over the output positions it reaches (span), a loop without branches.
func (g convGeom) dwForward(x, w, b, y []float32, relu bool) {
	hw, p, kk := g.h*g.w, g.cols(), g.k*g.k
	for f := range g.groups * g.f {
		xc, wf, plane := x[f/g.f*hw:(f/g.f+1)*hw], w[f*kk:(f+1)*kk], y[f*p:(f+1)*p]
		clear(plane)
		g.taps(func(ki, kj, oy, lo, hi, iy, off int) {
			wv, src, dst := wf[ki*g.k+kj], xc[iy*g.w:(iy+1)*g.w], plane[oy*g.ow:(oy+1)*g.ow]
			if g.st == 1 {
				for ox, v := range src[lo+off : hi+off] {
					dst[lo+ox] += wv * v
				}
				return
			}
			for ox := lo; ox < hi; ox++ {
				dst[ox] += wv * src[ox*g.st+off]
			}
		})
		var bf float32
		if b != nil {
			bf = b[f]
		}
		for i, v := range plane {
			v += bf
			if relu {
				v = max(v, 0)
			}
			plane[i] = v
		}
	}
}

// taps calls fn for every kernel tap (ki, kj) and output row oy whose input row iy lies inside
// the input, with the output columns [lo, hi) whose input column ox·st + off lies inside it
// (off = kj − pad).
func (g convGeom) taps(fn func(ki, kj, oy, lo, hi, iy, off int)) {
	for ki := range g.k {
		for kj := range g.k {
			lo, hi := span(kj-g.pad, g.st, g.w, g.ow)
			if lo >= hi {
				continue
			}
			for oy := range g.oh {
				if iy := oy*g.st + ki - g.pad; iy >= 0 && iy < g.h {
					fn(ki, kj, oy, lo, hi, iy, kj-g.pad)
				}
			}
		}
	}
}

// dwWeightGrad computes dW of a depthwise convolution: each filter's gradient is summed over the
// batch and the positions in a fixed order by one goroutine, so it does not depend on their number.
func (k *convKernel) dwWeightGrad(x, dy []float32) {
	g := k.g
	in, out, hw, p, kk := g.inSize(), g.outSize(), g.h*g.w, g.cols(), g.k*g.k
	dW := k.c.Tensors[0].Grad
	parallelRows(g.groups*g.f, g.batch*p*kk, func(lo, hi int) {
		for f := lo; f < hi; f++ {
			d := dW[f*kk : (f+1)*kk]
			clear(d)
			for n := range g.batch {
				xc, gp := x[n*in+f/g.f*hw:n*in+(f/g.f+1)*hw], dy[n*out+f*p:n*out+(f+1)*p]
				g.taps(func(ki, kj, oy, lo, hi, iy, off int) {
					src, gr := xc[iy*g.w:(iy+1)*g.w], gp[oy*g.ow:(oy+1)*g.ow]
					var s float32
					for ox := lo; ox < hi; ox++ {
						s += gr[ox] * src[ox*g.st+off]
					}
					d[ki*g.k+kj] += s
				})
			}
		}
	})
}

// dwInputGrad computes dx of a depthwise convolution, sample by sample.
func (k *convKernel) dwInputGrad(dy, dx []float32) {
	g := k.g
	in, out, hw, p, kk := g.inSize(), g.outSize(), g.h*g.w, g.cols(), g.k*g.k
	w := k.c.Tensors[0].Value
	parallelRows(g.batch, out*kk, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			dxn := dx[n*in : (n+1)*in]
			clear(dxn)
			for f := range g.groups * g.f {
				dc, wf, gp := dxn[f/g.f*hw:(f/g.f+1)*hw], w[f*kk:(f+1)*kk], dy[n*out+f*p:n*out+(f+1)*p]
				g.taps(func(ki, kj, oy, lo, hi, iy, off int) {
					wv, dst, gr := wf[ki*g.k+kj], dc[iy*g.w:(iy+1)*g.w], gp[oy*g.ow:(oy+1)*g.ow]
					for ox := lo; ox < hi; ox++ {
						dst[ox*g.st+off] += wv * gr[ox]
					}
				})
			}
		}
	})
}
