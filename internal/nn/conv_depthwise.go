package nn

import "runtime"

// This file holds conv2d's kernels for depthwise convolutions (one input channel per group).
//
// Each sample's channel plane is copied into a zero-padded plane [Hp, Wp] (plus dwSlack zeros
// past its end, which the vector loops may read), so that every kernel tap reads inside it
// without a test: the forward pass is a correlation of the padded plane with the taps
// (Vec.DWCorr), the weight gradient a dot product of the output gradient with each tap's window
// (Vec.DWDots), and the input gradient a correlation of the output gradient, spread out to the
// stride and padded by k − 1 − pad, with the flipped taps.

// depthwise says whether each group has one input channel (a depthwise convolution, with any
// number of filters per channel): its kernels then loop over the windows directly, which beats a
// matrix product with one row per group.
func (g convGeom) depthwise() bool { return g.c == 1 && g.groups > 1 }

// dwSlack is the number of zeros past a padded plane that the vector loops may read: up to 8
// columns at stride st past the last window.
func dwSlack(st int) int { return 8*st + 8 }

// dwPadded returns the padded plane's width and its length with slack, for a plane of h×w
// padded by p on every side.
func dwPadded(h, w, p, st int) (wp, size int) {
	wp = w + 2*p
	return wp, (h+2*p)*wp + dwSlack(st)
}

// padPlane copies the plane x [h, w] into xp [h+2p, w+2p] at (p, p) and zeroes the rest of xp.
func padPlane(x []float32, h, w, p int, xp []float32) {
	wp := w + 2*p
	clear(xp[:p*wp])
	clear(xp[(p+h)*wp:])
	for y := range h {
		row := xp[(p+y)*wp : (p+y+1)*wp]
		clear(row[:p])
		copy(row[p:p+w], x[y*w:(y+1)*w])
		clear(row[p+w:])
	}
}

// dwForward computes one sample of a depthwise convolution: filter f of group (input channel)
// f/g.f, plus the bias (b may be nil), then relu when asked. xp is a padded plane's buffer.
func (g convGeom) dwForward(x, w, b, y, xp []float32, relu bool) {
	hw, p, kk := g.h*g.w, g.cols(), g.k*g.k
	wp, _ := dwPadded(g.h, g.w, g.pad, g.st)
	for f := range g.groups * g.f {
		if f%g.f == 0 {
			padPlane(x[f/g.f*hw:(f/g.f+1)*hw], g.h, g.w, g.pad, xp)
		}
		plane := y[f*p : (f+1)*p]
		vec.DWCorr(xp, wp, w[f*kk:(f+1)*kk], g.k, g.st, plane, g.oh, g.ow)
		var bf float32
		if b != nil {
			bf = b[f]
		}
		if b == nil && !relu {
			continue
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

// dwWeightGrad computes dW of a depthwise convolution: each filter's gradient is summed over the
// batch by one goroutine, sample by sample (each sample's eight lanes of DWDots added in a fixed
// order), so it does not depend on their number.
func (k *convKernel) dwWeightGrad(x, dy []float32) {
	g := k.g
	in, out, hw, p, kk := g.inSize(), g.outSize(), g.h*g.w, g.cols(), g.k*g.k
	wp, _ := dwPadded(g.h, g.w, g.pad, g.st)
	dW := k.c.Tensors[0].Grad
	bufs := k.col.get(runtime.GOMAXPROCS(0))
	parallelRowsPart(g.groups*g.f, g.batch*p*kk, func(part, lo, hi int) {
		xp, acc := bufs[part][:k.col.size-8*kk], bufs[part][k.col.size-8*kk:]
		for f := lo; f < hi; f++ {
			d := dW[f*kk : (f+1)*kk]
			clear(d)
			for n := range g.batch {
				padPlane(x[n*in+f/g.f*hw:n*in+(f/g.f+1)*hw], g.h, g.w, g.pad, xp)
				clear(acc)
				vec.DWDots(xp, wp, dy[n*out+f*p:n*out+(f+1)*p], g.oh, g.ow, g.k, g.st, acc)
				for t := range d {
					a := acc[8*t : 8*t+8]
					d[t] += ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
				}
			}
		}
	})
}

// dwInputGrad computes dx of a depthwise convolution, sample by sample, as the correlation of
// the output gradient, spread out to the stride and padded (upsample), with the flipped taps
// (summed over the channel's filters in order).
func (k *convKernel) dwInputGrad(dy, dx []float32) {
	g := k.g
	in, out, hw, p, kk := g.inSize(), g.outSize(), g.h*g.w, g.cols(), g.k*g.k
	w := k.c.Tensors[0].Value
	wq := g.w + g.k - 1
	if len(k.flip) != len(w) {
		k.flip = make([]float32, len(w))
	}
	for f := range g.groups * g.f {
		for t := range kk {
			k.flip[f*kk+t] = w[f*kk+kk-1-t]
		}
	}
	bufs := k.col.get(runtime.GOMAXPROCS(0))
	parallelRowsPart(g.batch, out*kk, func(part, lo, hi int) {
		buf := bufs[part]
		dyp, sum := buf[:k.col.size-hw], buf[k.col.size-hw:]
		for n := lo; n < hi; n++ {
			for f := range g.groups * g.f {
				dc := dx[n*in+f/g.f*hw : n*in+(f/g.f+1)*hw]
				g.upsample(dy[n*out+f*p:n*out+(f+1)*p], dyp[:g.upsampleLen()])
				if f%g.f == 0 {
					vec.DWCorr(dyp, wq, k.flip[f*kk:(f+1)*kk], g.k, 1, dc, g.h, g.w)
					continue
				}
				vec.DWCorr(dyp, wq, k.flip[f*kk:(f+1)*kk], g.k, 1, sum, g.h, g.w)
				for i, v := range sum {
					dc[i] += v
				}
			}
		}
	})
}

// upsampleLen is the length of upsample's plane: [H + k − 1, W + k − 1] and slack.
func (g convGeom) upsampleLen() int { return (g.h+g.k-1)*(g.w+g.k-1) + dwSlack(1) }

// upsample writes the output-gradient plane dy [OH, OW] into the zeroed plane up [H + k − 1,
// W + k − 1] at (q + oy·st, q + ox·st), q = k − 1 − pad: correlating it with the flipped taps at
// stride 1 gives input position i the sum of w[ki]·dy[oy] over oy·st + ki − pad = i (each row and
// column alike), the input gradient.
func (g convGeom) upsample(dy, up []float32) {
	q, wq := g.k-1-g.pad, g.w+g.k-1
	clear(up)
	if g.st == 1 {
		for oy := range g.oh {
			copy(up[(q+oy)*wq+q:], dy[oy*g.ow:(oy+1)*g.ow])
		}
		return
	}
	for oy := range g.oh {
		row, src := up[(q+oy*g.st)*wq+q:], dy[oy*g.ow:(oy+1)*g.ow]
		for ox, v := range src {
			row[ox*g.st] = v
		}
	}
}

// dwScratch is the size of one goroutine's buffer for a depthwise kernel: the larger of a padded
// input plane with the weight gradient's lanes, and an upsampled output-gradient plane with one
// input plane.
func (g convGeom) dwScratch() int {
	_, x := dwPadded(g.h, g.w, g.pad, g.st)
	return max(x+8*g.k*g.k, g.upsampleLen()+g.h*g.w)
}
