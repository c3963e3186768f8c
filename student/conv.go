package student

import (
	"runtime"
	"sync"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds the convolution and max-pooling ops. A convolution is im2col into the project's
// sgemm, one sample at a time: the columns of sample n, col [C·k·k, OH·OW], times the weight
// [F, C·k·k] give its output [F, OH·OW], already in NCHW order. Samples run on GOMAXPROCS
// goroutines, each with its own column buffer, so the scratch memory does not grow with the batch.
// Gorgonia's own Conv2d and MaxPool2D (im2col through its tensor iterators, transposes and
// allocations of every intermediate) trained the benchmark CNN at 532 samples/s here.

// convGeom is the geometry of one conv2d layer: input [C,H,W] per sample, F filters of k×k, stride
// and symmetric zero padding, output [F,OH,OW].
type convGeom struct {
	c, h, w       int
	f, k, st, pad int
	oh, ow        int
	batch         int
	needDX        bool // false for a first layer: no one wants d loss / d input
}

func newConvGeom(batch int, in []int, l LayerSpec) convGeom {
	st := l.stride(1)
	return convGeom{c: in[0], h: in[1], w: in[2], f: l.Filters, k: l.Kernel, st: st, pad: l.Pad,
		oh: (in[1]+2*l.Pad-l.Kernel)/st + 1, ow: (in[2]+2*l.Pad-l.Kernel)/st + 1, batch: batch}
}

func (g convGeom) rows() int   { return g.c * g.k * g.k } // rows of a column matrix
func (g convGeom) cols() int   { return g.oh * g.ow }     // its columns: output positions
func (g convGeom) inSize() int { return g.c * g.h * g.w }

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

// im2col writes the columns of one sample x [C,H,W] into col [C·k·k, OH·OW]: row (c, ki, kj),
// column (oy, ox) holds x[c, oy·st + ki − pad, ox·st + kj − pad], or 0 in the padding.
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

// col2im adds the columns col [C·k·k, OH·OW] back onto dx [C,H,W] (the adjoint of im2col).
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

// scratch is one buffer per goroutine of a parallel op, grown to GOMAXPROCS on demand.
type scratch struct {
	size int
	bufs [][]float32
}

func (s *scratch) get(parts int) [][]float32 {
	for len(s.bufs) < parts {
		s.bufs = append(s.bufs, make([]float32, s.size))
	}
	return s.bufs
}

// parallelParts runs fn(part, lo, hi) over [0, n) in at most GOMAXPROCS contiguous chunks; part is
// the chunk's index (for its scratch buffer), below GOMAXPROCS.
func parallelParts(n int, fn func(part, lo, hi int)) {
	p := min(runtime.GOMAXPROCS(0), n)
	if p < 2 {
		fn(0, 0, n)
		return
	}
	chunk := (n + p - 1) / p
	var wg sync.WaitGroup
	for part, lo := 1, chunk; lo < n; part, lo = part+1, lo+chunk {
		wg.Go(func() { fn(part, lo, min(lo+chunk, n)) })
	}
	fn(0, 0, min(chunk, n))
	wg.Wait()
}

// convOp computes y = conv(x, W) + b for x [N,C,H,W], W [F,C,k,k], b [F] into y [N,F,OH,OW],
// followed by relu when relu is set (a conv2d layer directly followed by relu is one op). The bias
// and the relu are applied to each sample's output right after its sgemm, while it is in cache.
type convOp struct {
	opBase
	g      convGeom
	relu   bool
	dW, db []float32 // the parameters' gradient buffers (Param.Grad)
	col    scratch
	t      *tensor.Dense
	buf    []float32
}

func newConvOp(g convGeom, relu bool, dW, db []float32) *convOp {
	op := &convOp{opBase: newOpBase("conv2d", tensor.Shape{g.batch, g.f, g.oh, g.ow}, 4, 4, 1), g: g, relu: relu,
		dW: dW, db: db, col: scratch{size: g.rows() * g.cols()}}
	op.t, op.buf = newBuf(op.shape, nil)
	return op
}

// Do runs the op on its inputs (gorgonia.Op).
func (op *convOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	x, w, b := f32s(vs[0]), f32s(vs[1]), f32s(vs[2])
	g := op.g
	in, out, rows, p := g.inSize(), g.f*g.cols(), g.rows(), g.cols()
	bufs := op.col.get(runtime.GOMAXPROCS(0))
	blas := currentBLAS()
	parallelParts(g.batch, func(part, lo, hi int) {
		col := bufs[part]
		for n := lo; n < hi; n++ {
			g.im2col(x[n*in:(n+1)*in], col)
			y := op.buf[n*out : (n+1)*out]
			blas.Sgemm('N', 'N', g.f, p, rows, 1, w, rows, col, p, 0, y, p)
			for f, bf := range b {
				plane := y[f*p : (f+1)*p]
				if op.relu {
					for j, v := range plane {
						plane[j] = max(v+bf, 0)
					}
				} else {
					for j := range plane {
						plane[j] += bf
					}
				}
			}
		}
	})
	return op.t, nil
}

// DiffWRT says which inputs have gradients (gorgonia.SDOp).
func (op *convOp) DiffWRT(int) []bool { return []bool{op.g.needDX, true, true} }

// SymDiff adds the gradient ops of the inputs to the graph (gorgonia.SDOp).
func (op *convOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	gp := grad
	var err error
	if op.relu {
		if gp, err = gorgonia.ApplyOp(newReluGradOp(op.shape), grad, output); err != nil {
			return nil, err
		}
	}
	db, err := gorgonia.ApplyOp(newChanBiasGradOp(op.shape, op.db), gp)
	if err != nil {
		return nil, err
	}
	dW, err := gorgonia.ApplyOp(newConvGradWOp(op), inputs[0], gp)
	if err != nil {
		return nil, err
	}
	var dx *gorgonia.Node
	if op.g.needDX {
		if dx, err = gorgonia.ApplyOp(newConvGradXOp(op), gp, inputs[1]); err != nil {
			return nil, err
		}
	}
	return gorgonia.Nodes{dx, dW, db}, nil
}

// convBlock is the number of samples whose weight gradients are summed into one partial sum; the
// partial sums are then added in block order, so dW does not depend on the number of goroutines.
const convBlock = 8

// convGradWOp computes dW = Σ_n dY_n · col_nᵀ from x and the upstream gradient dY.
type convGradWOp struct {
	opBase
	g    convGeom
	col  scratch
	part []float32 // per-block partial sums of dW
	t    *tensor.Dense
	buf  []float32
}

func newConvGradWOp(c *convOp) *convGradWOp {
	g := c.g
	op := &convGradWOp{opBase: newOpBase("conv2dGradW", tensor.Shape{g.f, g.c, g.k, g.k}, 4, 4), g: g,
		col: scratch{size: g.rows() * g.cols()}}
	op.part = make([]float32, (g.batch+convBlock-1)/convBlock*g.f*g.rows())
	op.t, op.buf = newBuf(op.shape, c.dW)
	return op
}

// Do runs the op on its inputs (gorgonia.Op).
func (op *convGradWOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	x, dy := f32s(vs[0]), f32s(vs[1])
	g := op.g
	in, out, rows, p, size := g.inSize(), g.f*g.cols(), g.rows(), g.cols(), g.f*g.rows()
	blocks := (g.batch + convBlock - 1) / convBlock
	bufs := op.col.get(runtime.GOMAXPROCS(0))
	blas := currentBLAS()
	parallelParts(blocks, func(part, lo, hi int) {
		col := bufs[part]
		for b := lo; b < hi; b++ {
			dst := op.part[b*size : (b+1)*size]
			for n := b * convBlock; n < min((b+1)*convBlock, g.batch); n++ {
				g.im2col(x[n*in:(n+1)*in], col)
				beta := float32(1)
				if n == b*convBlock {
					beta = 0
				}
				blas.Sgemm('N', 'T', g.f, rows, p, 1, dy[n*out:(n+1)*out], p, col, p, beta, dst, rows)
			}
		}
	})
	sumBlocks(op.buf, op.part, blocks)
	return op.t, nil
}

// convGradXOp computes dx_n = col2im(Wᵀ · dY_n) from the upstream gradient dY and W.
type convGradXOp struct {
	opBase
	g   convGeom
	col scratch
	t   *tensor.Dense
	buf []float32
}

func newConvGradXOp(c *convOp) *convGradXOp {
	g := c.g
	op := &convGradXOp{opBase: newOpBase("conv2dGradX", tensor.Shape{g.batch, g.c, g.h, g.w}, 4, 4), g: g,
		col: scratch{size: g.rows() * g.cols()}}
	op.t, op.buf = newBuf(op.shape, nil)
	return op
}

// Do runs the op on its inputs (gorgonia.Op).
func (op *convGradXOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	dy, w := f32s(vs[0]), f32s(vs[1])
	g := op.g
	in, out, rows, p := g.inSize(), g.f*g.cols(), g.rows(), g.cols()
	bufs := op.col.get(runtime.GOMAXPROCS(0))
	blas := currentBLAS()
	parallelParts(g.batch, func(part, lo, hi int) {
		col := bufs[part]
		for n := lo; n < hi; n++ {
			blas.Sgemm('T', 'N', rows, p, g.f, 1, w, rows, dy[n*out:(n+1)*out], p, 0, col, p)
			g.col2im(col, op.buf[n*in:(n+1)*in])
		}
	})
	return op.t, nil
}
