package nn

import "runtime"

// This file holds conv2d's training kernels without groups: k·k shifted products over a
// zero-padded copy of the input instead of im2col and col2im.
//
// At stride 1, with the input padded into rows of Wq = W + pad (a row's right padding is the
// next row's left padding, both zeros) and pad zero rows above and below, output position
// (oy, ox) of tap (ki, kj) reads padded element (oy + ki)·Wq + ox + kj: the tap's input for every
// output position is the padded plane shifted by off = ki·Wq + kj, read as a matrix [C, OH·Wq]
// with row stride the plane's size. So
//
//	Y[F, OH·Wq] = Σ_taps W_tap[F, C] · Xp[C, off : off + OH·Wq]
//
// is k·k sgemms reading the input in place: the columns ox ≥ OW of each output row are computed
// and dropped (Wq/OW − 1 more arithmetic, 4% on 28×28 with pad 1), and the k·k-times larger
// column matrix of im2col is never written. At stride s the padded input is first split into s·s
// phases, phase (a, b) holding the padded elements (r·s + a, c·s + b) as a plane [⌈Hp/s⌉,
// ⌈Wp/s⌉] (Wq = ⌈Wp/s⌉); tap (ki, kj) reads phase (ki mod s, kj mod s) shifted by
// (ki/s)·Wq + kj/s, and the same products apply. The weight gradient is the same products
// transposed, over the output gradient laid out as [F, OH, Wq] with zeros in the dropped
// columns; the input gradient adds Wᵀ_tap · dY into the padded phases at each tap's offset (the
// zero columns add nothing), replacing col2im's scattered additions, and the interior is then
// copied out.

// shiftConv reports whether the layer runs as shifted products: one group.
func (g convGeom) shiftConv() bool { return g.groups == 1 }

// shiftGeom holds the sizes of a shifted convolution's padded phases.
type shiftGeom struct {
	hp, wp int  // padded height and width
	wq     int  // a phase's row: W + pad at stride 1, else ⌈Wp/st⌉
	plane  int  // a phase's channel plane: Hp·Wq + pad at stride 1, else ⌈Hp/st⌉·Wq
	n      int  // OH·Wq: the columns each tap's product computes
	taps   int  // k·k
	direct bool // a 1×1 kernel at stride 1 without padding: the input and output are used as they are
}

func (g convGeom) shift() shiftGeom {
	hp, wp := g.h+2*g.pad, g.w+2*g.pad
	s := shiftGeom{hp: hp, wp: wp, taps: g.k * g.k, direct: g.k == 1 && g.pad == 0 && g.st == 1}
	if g.st == 1 {
		// Rows of W + pad: a row's right padding is the next row's left padding, both zeros,
		// so fewer columns are computed and dropped (pad instead of 2·pad; 3% of 28×28, 14% of
		// 7×7 with pad 1). Padded element (r, c) is at r·Wq + c; the plane ends pad past the
		// last row.
		s.wq = g.w + g.pad
		s.plane = hp*s.wq + g.pad
	} else {
		s.wq = (wp + g.st - 1) / g.st
		s.plane = (hp + g.st - 1) / g.st * s.wq
	}
	s.n = g.oh * s.wq
	return s
}

// tapOff returns the offset in the padded phases of tap t's first read.
func (g convGeom) tapOff(s shiftGeom, t int) int {
	ki, kj := t/g.k, t%g.k
	phase := ki%g.st*g.st + kj%g.st
	return phase*g.c*s.plane + ki/g.st*s.wq + kj/g.st
}

// padLen is the length of the padded phases: st·st of [C, Hq, Wq], plus k elements read (and,
// for the input gradient, written with zeros) past the last one by the dropped columns of the
// last tap.
func (g convGeom) padLen() int { s := g.shift(); return g.st*g.st*g.c*s.plane + g.k }

// padInput copies x [C, H, W] into the padded phases xp and zeroes the rest of them.
func (g convGeom) padInput(x, xp []float32) {
	s, p := g.shift(), g.pad
	if g.st == 1 {
		for c := range g.c {
			src, dst := x[c*g.h*g.w:(c+1)*g.h*g.w], xp[c*s.plane:(c+1)*s.plane]
			first := p*s.wq + p // the image's first element
			clear(dst[:first])
			for y := range g.h {
				at := first + y*s.wq
				copy(dst[at:at+g.w], src[y*g.w:(y+1)*g.w])
				clear(dst[at+g.w : at+s.wq])
			}
			clear(dst[first+g.h*s.wq:])
		}
		return
	}
	// The phases no tap reads (a or b ≥ k, for a kernel smaller than the stride) stay zero.
	hq, used := s.plane/s.wq, min(g.k, g.st)
	for a := range used {
		for b := range used {
			off := b - p
			lo, hi := span(off, g.st, g.w, s.wq)
			for c := range g.c {
				base := ((a*g.st+b)*g.c + c) * s.plane
				for rr := range hq {
					row := xp[base+rr*s.wq : base+(rr+1)*s.wq]
					y := rr*g.st + a - p
					if y < 0 || y >= g.h || lo >= hi {
						clear(row)
						continue
					}
					clear(row[:lo])
					clear(row[hi:])
					src, d := x[(c*g.h+y)*g.w+lo*g.st+off:(c*g.h+y+1)*g.w], row[lo:hi]
					for j, i := 0, 0; j < len(d); j, i = j+1, i+g.st {
						d[j] = src[i]
					}
				}
			}
		}
	}
}

// clearPhases zeroes the padded phases some tap writes into (all of them unless the kernel is
// smaller than the stride: one of four for a 1×1 stride-2 shortcut). The others only ever have
// zeros added (the dropped columns' spill) and are never read.
func (g convGeom) clearPhases(dxp []float32) {
	s, used := g.shift(), min(g.k, g.st)
	if used == g.st {
		clear(dxp)
		return
	}
	size := g.c * s.plane
	for a := range used {
		for b := range used {
			ph := a*g.st + b
			clear(dxp[ph*size : (ph+1)*size])
		}
	}
}

// unpadInput copies the interior of the padded gradient phases dxp into dx [C, H, W].
func (g convGeom) unpadInput(dxp, dx []float32) {
	s, p := g.shift(), g.pad
	if g.st == 1 {
		for c := range g.c {
			src, dst := dxp[c*s.plane:(c+1)*s.plane], dx[c*g.h*g.w:(c+1)*g.h*g.w]
			for y := range g.h {
				copy(dst[y*g.w:(y+1)*g.w], src[(p+y)*s.wq+p:])
			}
		}
		return
	}
	hq, used := s.plane/s.wq, min(g.k, g.st)
	if used < g.st {
		clear(dx[:g.c*g.h*g.w]) // the inputs no tap reads
	}
	for a := range used {
		for b := range used {
			off := b - p
			lo, hi := span(off, g.st, g.w, s.wq)
			if lo >= hi {
				continue
			}
			for c := range g.c {
				base := ((a*g.st+b)*g.c + c) * s.plane
				for rr := range hq {
					y := rr*g.st + a - p
					if y < 0 || y >= g.h {
						continue
					}
					src, d := dxp[base+rr*s.wq+lo:base+rr*s.wq+hi], dx[(c*g.h+y)*g.w+lo*g.st+off:(c*g.h+y+1)*g.w]
					for j, i := 0, 0; j < len(src); j, i = j+1, i+g.st {
						d[i] = src[j]
					}
				}
			}
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
// or its gradient with Wq columns a row, and the padded input gradient.
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
				beta := float32(min(t, 1))
				blas.Sgemm('N', 'N', g.f, s.n, g.c, 1, wt[t*g.f*g.c:], g.c, xp[g.tapOff(s, t):], s.plane, beta, yp, s.n)
			}
			if s.direct && b == nil && !k.c.Relu {
				continue // the product wrote the output in place
			}
			// Bias and relu on the rows in place (Vec.Normalize with mean 0 and scale 1 is
			// v + bias exactly), then the first OW columns of each row out.
			for f := range g.f {
				var bias float32
				if b != nil {
					bias = b[f]
				}
				rows := yp[f*s.n : (f+1)*s.n]
				if b != nil || k.c.Relu {
					vec.Normalize(rows, rows, Planes{N: g.oh, HW: g.ow, Stride: s.wq}, 0, 1, 1, bias, k.c.Relu)
				}
				if s.direct {
					continue
				}
				dst := yn[f*p : (f+1)*p]
				for oy := range g.oh {
					copy(dst[oy*g.ow:(oy+1)*g.ow], rows[oy*s.wq:])
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
	wt := k.c.Tensors[0].Value // as Forward packed them: the weights have not changed since
	if k.g.k > 1 {
		wt = k.wt
	}
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
					// dY laid out [F, OH, Wq], zero in the dropped columns.
					for f := range g.f {
						for oy := range g.oh {
							row := bf.yp[f*s.n+oy*s.wq : f*s.n+(oy+1)*s.wq]
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
					blas.Sgemm('N', 'T', g.f, g.c, s.n, 1, dyp, s.n, xp[g.tapOff(s, t):], s.plane, beta, dst[t*g.f*g.c:], g.c)
				}
				if !needDx {
					continue
				}
				dxn := dx[n*in : (n+1)*in]
				if s.direct {
					blas.Sgemm('T', 'N', g.c, s.n, g.f, 1, wt, g.c, dyp, s.n, 0, dxn, s.n)
					continue
				}
				g.clearPhases(bf.dxp)
				for t := range s.taps {
					blas.Sgemm('T', 'N', g.c, s.n, g.f, 1, wt[t*g.f*g.c:], g.c, dyp, s.n, 1, bf.dxp[g.tapOff(s, t):], s.plane)
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
