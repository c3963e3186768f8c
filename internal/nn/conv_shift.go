package nn

import "runtime"

// This file holds conv2d's training kernels for stride 1 without groups: k·k shifted products
// over a zero-padded copy of the input instead of im2col and col2im.
//
// With the input padded to [C, Hp, Wp] (Hp = H + 2·pad, Wp = W + 2·pad), output position
// (oy, ox) of tap (ki, kj) reads padded element (oy + ki)·Wp + ox + kj: the tap's input for every
// output position is the padded plane shifted by off = ki·Wp + kj, read as a matrix [C, OH·Wp]
// with row stride Hp·Wp. So
//
//	Y[F, OH·Wp] = Σ_taps W_tap[F, C] · Xp[C, off : off + OH·Wp]
//
// is k·k sgemms reading the input in place: the columns ox ≥ OW of each output row are computed
// and dropped (Wp/OW − 1 more arithmetic, 7% on 28×28 with pad 1), and the k·k-times larger
// column matrix of im2col is never written. The weight gradient is the same products transposed,
// over the output gradient laid out as [F, OH, Wp] with zeros in the dropped columns; the input
// gradient adds Wᵀ_tap · dY into the padded plane at each tap's offset (the zero columns add
// nothing), replacing col2im's scattered additions, and the interior is then copied out.

// shiftConv reports whether the layer runs as shifted products: stride 1, one group.
func (g convGeom) shiftConv() bool { return g.st == 1 && g.groups == 1 }

// shiftGeom holds the padded sizes of a shifted convolution.
type shiftGeom struct {
	hp, wp int  // padded height and width
	plane  int  // hp·wp: one padded channel
	n      int  // oh·wp: the columns each tap's product computes
	taps   int  // k·k
	direct bool // a 1×1 kernel without padding: the input and output are used as they are
}

func (g convGeom) shift() shiftGeom {
	hp, wp := g.h+2*g.pad, g.w+2*g.pad
	return shiftGeom{hp: hp, wp: wp, plane: hp * wp, n: g.oh * wp, taps: g.k * g.k, direct: g.k == 1 && g.pad == 0}
}

// padLen is the length of a padded input: its channels, plus k−1 elements read (and, for the
// input gradient, written with zeros) past the last one by the dropped columns of the last tap.
func (g convGeom) padLen() int { s := g.shift(); return g.c*s.plane + g.k - 1 }

// padInput copies x [C, H, W] into the interior of xp [C, Hp, Wp] and zeroes its border.
func (g convGeom) padInput(x, xp []float32) {
	s, p := g.shift(), g.pad
	for c := range g.c {
		src, dst := x[c*g.h*g.w:(c+1)*g.h*g.w], xp[c*s.plane:(c+1)*s.plane]
		clear(dst[:p*s.wp])
		clear(dst[(p+g.h)*s.wp:])
		for y := range g.h {
			row := dst[(p+y)*s.wp : (p+y+1)*s.wp]
			clear(row[:p])
			copy(row[p:p+g.w], src[y*g.w:(y+1)*g.w])
			clear(row[p+g.w:])
		}
	}
}

// unpadInput copies the interior of the padded gradient dxp [C, Hp, Wp] into dx [C, H, W].
func (g convGeom) unpadInput(dxp, dx []float32) {
	s, p := g.shift(), g.pad
	for c := range g.c {
		src, dst := dxp[c*s.plane:(c+1)*s.plane], dx[c*g.h*g.w:(c+1)*g.h*g.w]
		for y := range g.h {
			copy(dst[y*g.w:(y+1)*g.w], src[(p+y)*s.wp+p:])
		}
	}
}

// packTaps writes the weight w [F, C, k, k] as k·k matrices wt [tap][F][C].
func (g convGeom) packTaps(w, wt []float32) {
	kk := g.k * g.k
	for f := range g.f {
		for c := range g.c {
			src := w[(f*g.c+c)*kk : (f*g.c+c+1)*kk]
			for t, v := range src {
				wt[(t*g.f+f)*g.c+c] = v
			}
		}
	}
}

// unpackTaps is packTaps' inverse: dw [F, C, k, k] from dwt [tap][F][C].
func (g convGeom) unpackTaps(dwt, dw []float32) {
	kk := g.k * g.k
	for f := range g.f {
		for c := range g.c {
			dst := dw[(f*g.c+c)*kk : (f*g.c+c+1)*kk]
			for t := range dst {
				dst[t] = dwt[(t*g.f+f)*g.c+c]
			}
		}
	}
}

// shiftBufs are one goroutine's buffers of a shifted convolution: the padded input, the output
// or its gradient with Wp columns a row, and the padded input gradient.
type shiftBufs struct{ xp, yp, dxp []float32 }

func (k *convKernel) shiftBufs(parts int) []shiftBufs {
	g, s := k.g, k.g.shift()
	for len(k.sbufs) < parts {
		var b shiftBufs
		if !s.direct {
			b = shiftBufs{xp: make([]float32, g.padLen()), yp: make([]float32, g.f*s.n), dxp: make([]float32, g.padLen())}
		}
		k.sbufs = append(k.sbufs, b)
	}
	return k.sbufs[:parts]
}

// weightTaps returns the weight as tap matrices [tap][F][C] (the weight itself for a 1×1 kernel).
func (k *convKernel) weightTaps() []float32 {
	w := k.c.Tensors[0].Value
	if k.g.k == 1 {
		return w
	}
	if k.wt == nil {
		k.wt = make([]float32, len(w))
	}
	k.g.packTaps(w, k.wt)
	return k.wt
}

// shiftForward computes y = conv(x) + b, then relu when fused, sample by sample.
func (k *convKernel) shiftForward(x, b, y []float32) {
	g, s := k.g, k.g.shift()
	in, out, p := g.inSize(), g.outSize(), g.cols()
	wt := k.weightTaps()
	blas := k.c.BLAS()
	bufs := k.shiftBufs(min(runtime.GOMAXPROCS(0), g.batch))
	parallelParts(g.batch, func(part, lo, hi int) {
		bf := bufs[part]
		for n := lo; n < hi; n++ {
			xp, yp, yn := x[n*in:(n+1)*in], y[n*out:(n+1)*out], y[n*out:(n+1)*out]
			if !s.direct {
				g.padInput(xp, bf.xp)
				xp, yp = bf.xp, bf.yp
			}
			for t := range s.taps {
				off := t/g.k*s.wp + t%g.k
				beta := float32(min(t, 1))
				blas.Sgemm('N', 'N', g.f, s.n, g.c, 1, wt[t*g.f*g.c:], g.c, xp[off:], s.plane, beta, yp, s.n)
			}
			if s.direct && b == nil && !k.c.Relu {
				continue // the product wrote the output in place
			}
			for f := range g.f {
				var bias float32
				if b != nil {
					bias = b[f]
				}
				dst := yn[f*p : (f+1)*p]
				for oy := range g.oh {
					row, src := dst[oy*g.ow:(oy+1)*g.ow], yp[f*s.n+oy*s.wp:f*s.n+oy*s.wp+g.ow]
					if k.c.Relu {
						for j, v := range src {
							row[j] = max(v+bias, 0)
						}
					} else {
						for j, v := range src {
							row[j] = v + bias
						}
					}
				}
			}
		}
	})
}

// shiftBackward computes dW = Σ_n dY_n · Xp_nᵀ per tap, summed in fixed blocks of convBlock
// samples (as weightGrad), and, when asked, dx, each sample's padded input made once for both.
func (k *convKernel) shiftBackward(x, dy, dx []float32) {
	g, s := k.g, k.g.shift()
	in, out, p := g.inSize(), g.outSize(), g.cols()
	size := s.taps * g.f * g.c
	blocks := (g.batch + convBlock - 1) / convBlock
	wt := k.weightTaps()
	blas := k.c.BLAS()
	needDx := k.c.NeedGrad[0]
	bufs := k.shiftBufs(min(runtime.GOMAXPROCS(0), blocks))
	parallelParts(blocks, func(part, lo, hi int) {
		bf := bufs[part]
		for blk := lo; blk < hi; blk++ {
			dst := k.part[blk*size : (blk+1)*size]
			for n := blk * convBlock; n < min((blk+1)*convBlock, g.batch); n++ {
				xp, dyp := x[n*in:(n+1)*in], dy[n*out:(n+1)*out]
				if !s.direct {
					g.padInput(xp, bf.xp)
					xp = bf.xp
					// dY laid out [F, OH, Wp], zero in the dropped columns.
					for f := range g.f {
						for oy := range g.oh {
							row := bf.yp[f*s.n+oy*s.wp : f*s.n+(oy+1)*s.wp]
							copy(row, dyp[f*p+oy*g.ow:f*p+(oy+1)*g.ow])
							clear(row[g.ow:])
						}
					}
					dyp = bf.yp
				}
				beta := float32(1)
				if n == blk*convBlock {
					beta = 0
				}
				for t := range s.taps {
					off := t/g.k*s.wp + t%g.k
					blas.Sgemm('N', 'T', g.f, g.c, s.n, 1, dyp, s.n, xp[off:], s.plane, beta, dst[t*g.f*g.c:], g.c)
				}
				if !needDx {
					continue
				}
				dxn := dx[n*in : (n+1)*in]
				if s.direct {
					blas.Sgemm('T', 'N', g.c, s.n, g.f, 1, wt, g.c, dyp, s.n, 0, dxn, s.n)
					continue
				}
				clear(bf.dxp)
				for t := range s.taps {
					off := t/g.k*s.wp + t%g.k
					blas.Sgemm('T', 'N', g.c, s.n, g.f, 1, wt[t*g.f*g.c:], g.c, dyp, s.n, 1, bf.dxp[off:], s.plane)
				}
				g.unpadInput(bf.dxp, dxn)
			}
		}
	})
	dw := k.c.Tensors[0].Grad
	if g.k == 1 {
		sumBlocks(dw, k.part, blocks)
		return
	}
	if k.dwt == nil {
		k.dwt = make([]float32, size)
	}
	sumBlocks(k.dwt, k.part, blocks)
	g.unpackTaps(k.dwt, dw)
}
