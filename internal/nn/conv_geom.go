package nn

// This file holds conv2d's geometry and its im2col and col2im copies.

// convGeom is the geometry of one conv2d layer: input [C,H,W] per sample, F filters of k×k in G
// groups, stride and symmetric zero padding, output [F,OH,OW]. c and f count one group's
// channels and filters.
type convGeom struct {
	c, h, w       int
	f, k, st, pad int
	groups        int
	oh, ow        int
	batch         int
}

func newConvGeom(batch int, l *Layer, in, out Shape) convGeom {
	g := l.groups()
	return convGeom{c: in[0] / g, h: in[1], w: in[2], f: l.Filters / g, k: l.Kernel, st: l.stride(1), pad: l.pad(),
		groups: g, oh: out[1], ow: out[2], batch: batch}
}

func (g convGeom) rows() int   { return g.c * g.k * g.k } // rows of a group's column matrix
func (g convGeom) cols() int   { return g.oh * g.ow }     // its columns: output positions
func (g convGeom) inSize() int { return g.groups * g.c * g.h * g.w }
func (g convGeom) outSize() int {
	return g.groups * g.f * g.cols()
}

// span returns the output columns [lo, hi) whose input column ox·st + off lies inside [0, n).
func span(off, st, n, out int) (lo, hi int) {
	lo = 0
	if off < 0 {
		lo = (-off + st - 1) / st
	}
	hi = 0
	if n-1-off >= 0 {
		hi = (n-1-off)/st + 1
	}
	return min(lo, out), max(min(hi, out), min(lo, out))
}

// im2col writes the columns of one group of one sample, x [c,H,W], into col [c·k·k, OH·OW]:
// row (c, ki, kj), column (oy, ox) holds x[c, oy·st + ki − pad, ox·st + kj − pad], or 0 in the
// padding.
func (g convGeom) im2col(x, col []float32) {
	p := g.cols()
	for c := range g.c {
		xc := x[c*g.h*g.w : (c+1)*g.h*g.w]
		for ki := range g.k {
			for kj := range g.k {
				row := col[((c*g.k+ki)*g.k+kj)*p : ((c*g.k+ki)*g.k+kj+1)*p]
				lo, hi := span(kj-g.pad, g.st, g.w, g.ow)
				for oy := range g.oh {
					dst := row[oy*g.ow : (oy+1)*g.ow]
					iy := oy*g.st + ki - g.pad
					if iy < 0 || iy >= g.h {
						clear(dst)
						continue
					}
					clear(dst[:lo])
					clear(dst[hi:])
					src := xc[iy*g.w : (iy+1)*g.w]
					if g.st == 1 {
						copy(dst[lo:hi], src[lo+kj-g.pad:])
						continue
					}
					for ox := lo; ox < hi; ox++ {
						dst[ox] = src[ox*g.st+kj-g.pad]
					}
				}
			}
		}
	}
}

// col2im adds the columns col [c·k·k, OH·OW] back onto dx [c,H,W] (the adjoint of im2col).
func (g convGeom) col2im(col, dx []float32) {
	p := g.cols()
	clear(dx)
	for c := range g.c {
		xc := dx[c*g.h*g.w : (c+1)*g.h*g.w]
		for ki := range g.k {
			for kj := range g.k {
				row := col[((c*g.k+ki)*g.k+kj)*p : ((c*g.k+ki)*g.k+kj+1)*p]
				lo, hi := span(kj-g.pad, g.st, g.w, g.ow)
				for oy := range g.oh {
					iy := oy*g.st + ki - g.pad
					if iy < 0 || iy >= g.h {
						continue
					}
					src := row[oy*g.ow : (oy+1)*g.ow]
					dst := xc[iy*g.w : (iy+1)*g.w]
					for ox := lo; ox < hi; ox++ {
						dst[ox*g.st+kj-g.pad] += src[ox]
					}
				}
			}
		}
	}
}
