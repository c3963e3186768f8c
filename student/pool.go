package student

import (
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// maxPoolOp takes the maximum of each k×k window (stride st, no padding) of x [N,C,H,W] into
// y [N,C,OH,OW] and remembers where it was (the first of equal maxima in row-major order), so that
// its gradient routes each upstream value to that input.
type maxPoolOp struct {
	opBase
	n, c, h, w, k, st, oh, ow int
	arg                       []int32 // per output element: the index of its maximum in its input plane
	t                         *tensor.Dense
	buf                       []float32
}

func newMaxPoolOp(batch int, in []int, l LayerSpec) *maxPoolOp {
	st := l.stride(l.Kernel)
	op := &maxPoolOp{n: batch, c: in[0], h: in[1], w: in[2], k: l.Kernel, st: st,
		oh: (in[1]-l.Kernel)/st + 1, ow: (in[2]-l.Kernel)/st + 1}
	op.opBase = newOpBase("maxpool", tensor.Shape{batch, op.c, op.oh, op.ow}, 4)
	op.t, op.buf = newBuf(op.shape, nil)
	op.arg = make([]int32, len(op.buf))
	return op
}

// Do runs the op on its inputs (gorgonia.Op).
func (op *maxPoolOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	x := f32s(vs[0])
	in, out := op.h*op.w, op.oh*op.ow
	parallelRows(op.n*op.c, in, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			xp, yp, ap := x[pl*in:(pl+1)*in], op.buf[pl*out:(pl+1)*out], op.arg[pl*out:(pl+1)*out]
			if op.k == 2 && op.st == 2 {
				op.pool2(xp, yp, ap)
				continue
			}
			for oy := range op.oh {
				for ox := range op.ow {
					best := (oy*op.st)*op.w + ox*op.st
					m := xp[best]
					for ki := range op.k {
						row := (oy*op.st+ki)*op.w + ox*op.st
						for kj, v := range xp[row : row+op.k] {
							if v > m {
								m, best = v, row+kj
							}
						}
					}
					yp[oy*op.ow+ox], ap[oy*op.ow+ox] = m, int32(best)
				}
			}
		}
	})
	return op.t, nil
}

// pool2 is Do's loop for one plane with 2×2 windows of stride 2, the common case, unrolled.
func (op *maxPoolOp) pool2(xp, yp []float32, ap []int32) {
	w := op.w
	for oy := range op.oh {
		r0 := 2 * oy * w
		y, a := yp[oy*op.ow:(oy+1)*op.ow], ap[oy*op.ow:(oy+1)*op.ow]
		for ox := range y {
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
			y[ox], a[ox] = m, int32(best)
		}
	}
}

// DiffWRT says which inputs have gradients (gorgonia.SDOp).
func (op *maxPoolOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff adds the gradient ops of the inputs to the graph (gorgonia.SDOp).
func (op *maxPoolOp) SymDiff(_ gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	// The gradient op reads the output node so that it runs after the forward op has set arg.
	g, err := gorgonia.ApplyOp(newMaxPoolGradOp(op), output, grad)
	return gorgonia.Nodes{g}, err
}

// maxPoolGradOp adds each upstream gradient element to the input its window's maximum came from.
type maxPoolGradOp struct {
	opBase
	p   *maxPoolOp
	t   *tensor.Dense
	buf []float32
}

func newMaxPoolGradOp(p *maxPoolOp) *maxPoolGradOp {
	op := &maxPoolGradOp{opBase: newOpBase("maxpoolGrad", tensor.Shape{p.n, p.c, p.h, p.w}, 4, 4), p: p}
	op.t, op.buf = newBuf(op.shape, nil)
	return op
}

// Do runs the op on its inputs (gorgonia.Op).
func (op *maxPoolGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	g := f32s(vs[1])
	p := op.p
	in, out := p.h*p.w, p.oh*p.ow
	parallelRows(p.n*p.c, in, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			dx := op.buf[pl*in : (pl+1)*in]
			clear(dx)
			for j, a := range p.arg[pl*out : (pl+1)*out] {
				dx[a] += g[pl*out+j]
			}
		}
	})
	return op.t, nil
}
