package student

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds the custom Gorgonia ops of the student networks. Each op instance owns its output
// buffer, allocated once when the graph for a batch size is built, so a training step allocates
// (almost) nothing. Ops are identified by a unique id in their hash: Gorgonia merges nodes with equal
// hashes, and two ops with separate buffers must never be merged.

var opSeq atomic.Uint64

// opBase implements the bookkeeping half of gorgonia.Op.
type opBase struct {
	name  string
	id    uint64
	arity int
	dims  []int // dims of each input (0 = scalar)
	shape tensor.Shape
}

func newOpBase(name string, out tensor.Shape, inDims ...int) opBase {
	return opBase{name: name, id: opSeq.Add(1), arity: len(inDims), dims: inDims, shape: out}
}

func (o *opBase) Arity() int { return o.arity }

func typeOfDims(d int) hm.Type {
	if d == 0 {
		return tensor.Float32
	}
	return gorgonia.TensorType{Dims: d, Of: tensor.Float32}
}

func (o *opBase) Type() hm.Type {
	ts := make([]hm.Type, 0, len(o.dims)+1)
	for _, d := range o.dims {
		ts = append(ts, typeOfDims(d))
	}
	ts = append(ts, typeOfDims(len(o.shape)))
	return hm.NewFnType(ts...)
}

func (o *opBase) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) { return o.shape.Clone(), nil }
func (o *opBase) ReturnsPtr() bool                                      { return false }
func (o *opBase) CallsExtern() bool                                     { return false }
func (o *opBase) OverwritesInput() int                                  { return -1 }
func (o *opBase) WriteHash(h hash.Hash)                                 { fmt.Fprintf(h, "%s#%d", o.name, o.id) }
func (o *opBase) String() string                                        { return fmt.Sprintf("%s#%d", o.name, o.id) }
func (o *opBase) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

// f32s returns the float32 data of a tensor value.
func f32s(v gorgonia.Value) []float32 {
	return v.Data().([]float32)
}

// newBuf allocates an output tensor of shape s (or wraps data when it is not nil).
func newBuf(s tensor.Shape, data []float32) (*tensor.Dense, []float32) {
	if data == nil {
		data = make([]float32, s.TotalSize())
	}
	return tensor.New(tensor.WithShape(s...), tensor.WithBacking(data)), data
}

// elemParallelMin is the smallest element count worth splitting across goroutines.
const elemParallelMin = 1 << 15

// parallelFor runs fn over [0,n) split into GOMAXPROCS contiguous chunks when n is large.
func parallelFor(n int, fn func(lo, hi int)) { parallelRows(n, 1, fn) }

// parallelRows runs fn over rows [0,n) of rowLen elements each, split into GOMAXPROCS contiguous
// chunks when there are enough elements to be worth it.
func parallelRows(n, rowLen int, fn func(lo, hi int)) {
	p := runtime.GOMAXPROCS(0)
	if p < 2 || n < 2 || n*rowLen < elemParallelMin {
		fn(0, n)
		return
	}
	p = min(p, n, n*rowLen/(elemParallelMin/2))
	var wg sync.WaitGroup
	chunk := (n + p - 1) / p
	for lo := chunk; lo < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, min(lo+chunk, n))
	}
	fn(0, min(chunk, n))
	wg.Wait()
}

// denseOp computes y = x W + b for x [batch,in], W [in,out], b [out], optionally followed by relu.
// Its gradient ops call sgemm directly: dW = x^T g', db = colsum(g'), dx = g' W^T, where
// g' = g * (y > 0) with relu and g otherwise.
type denseOp struct {
	opBase
	batch, in, out int
	relu           bool
	needDX         bool      // false for the first layer: no one wants d loss / d input
	dW, db         []float32 // the parameters' gradient buffers (Param.Grad)
	yT             *tensor.Dense
	y              []float32
}

func newDenseOp(batch, in, out int, relu, needDX bool, dW, db []float32) *denseOp {
	op := &denseOp{opBase: newOpBase("dense", tensor.Shape{batch, out}, 2, 2, 1),
		batch: batch, in: in, out: out, relu: relu, needDX: needDX, dW: dW, db: db}
	op.yT, op.y = newBuf(op.shape, nil)
	return op
}

func (op *denseOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	x, w, b := f32s(vs[0]), f32s(vs[1]), f32s(vs[2])
	y, out := op.y, op.out
	currentBLAS().Sgemm('N', 'N', op.batch, out, op.in, 1, x, op.in, w, out, 0, y, out)
	relu := op.relu
	parallelRows(op.batch, out, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := y[r*out : r*out+out]
			if relu {
				for j, v := range row {
					v += b[j]
					if v < 0 {
						v = 0
					}
					row[j] = v
				}
			} else {
				for j := range row {
					row[j] += b[j]
				}
			}
		}
	})
	return op.yT, nil
}

func (op *denseOp) DiffWRT(int) []bool { return []bool{op.needDX, true, true} }

func (op *denseOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	x, w := inputs[0], inputs[1]
	gp := grad
	var err error
	if op.relu {
		if gp, err = gorgonia.ApplyOp(newReluGradOp(op.shape), grad, output); err != nil {
			return nil, err
		}
	}
	dW, err := gorgonia.ApplyOp(newMatGradOp(op, gradW), x, gp)
	if err != nil {
		return nil, err
	}
	db, err := gorgonia.ApplyOp(newBiasGradOp(op.batch, op.out, op.db), gp)
	if err != nil {
		return nil, err
	}
	var dx *gorgonia.Node
	if op.needDX {
		if dx, err = gorgonia.ApplyOp(newMatGradOp(op, gradX), gp, w); err != nil {
			return nil, err
		}
	}
	return gorgonia.Nodes{dx, dW, db}, nil
}

const (
	gradW = iota // dW = x^T g'
	gradX        // dx = g' W^T
)

// matGradOp is one of the two matrix products of a dense layer's backward pass.
type matGradOp struct {
	opBase
	d     *denseOp
	which int
	t     *tensor.Dense
	buf   []float32
}

func newMatGradOp(d *denseOp, which int) *matGradOp {
	op := &matGradOp{d: d, which: which}
	if which == gradW {
		op.opBase = newOpBase("denseGradW", tensor.Shape{d.in, d.out}, 2, 2)
		op.t, op.buf = newBuf(op.shape, d.dW)
	} else {
		op.opBase = newOpBase("denseGradX", tensor.Shape{d.batch, d.in}, 2, 2)
		op.t, op.buf = newBuf(op.shape, nil)
	}
	return op
}

func (op *matGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	d := op.d
	if op.which == gradW {
		x, g := f32s(vs[0]), f32s(vs[1])
		currentBLAS().Sgemm('T', 'N', d.in, d.out, d.batch, 1, x, d.in, g, d.out, 0, op.buf, d.out)
	} else {
		g, w := f32s(vs[0]), f32s(vs[1])
		currentBLAS().Sgemm('N', 'T', d.batch, d.in, d.out, 1, g, d.out, w, d.out, 0, op.buf, d.in)
	}
	return op.t, nil
}

// reluGradOp computes g * (y > 0) from the upstream gradient g and the relu output y.
type reluGradOp struct {
	opBase
	t   *tensor.Dense
	buf []float32
}

func newReluGradOp(s tensor.Shape) *reluGradOp {
	op := &reluGradOp{opBase: newOpBase("reluGrad", s, len(s), len(s))}
	op.t, op.buf = newBuf(s, nil)
	return op
}

func (op *reluGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	g, y, dst := f32s(vs[0]), f32s(vs[1]), op.buf
	parallelFor(len(dst), func(lo, hi int) {
		g, y, dst := g[lo:hi], y[lo:hi], dst[lo:hi]
		for i := range dst {
			// y is a relu output, ≥ 0 or −0: keep g where y > 0, without a branch (one that is
			// taken for about half the units at random cost 3.5 ns an element here). The mask is
			// all ones when y's magnitude bits are not zero, else zero.
			mask := uint32(-int32(math.Float32bits(y[i])&0x7fffffff) >> 31)
			dst[i] = math.Float32frombits(math.Float32bits(g[i]) & mask)
		}
	})
	return op.t, nil
}

// biasGradOp sums the gradient [batch,out] over the batch into the bias gradient [out]. Rows are
// summed in fixed blocks of biasBlockRows whose partial sums are then added in block order, so the
// result does not depend on how many goroutines ran (a resumed run on another machine matches).
type biasGradOp struct {
	opBase
	batch, out int
	t          *tensor.Dense
	buf        []float32
	part       []float32 // per-block partial sums
}

// biasBlockRows is the number of rows summed per block by biasGradOp.
const biasBlockRows = 256

func newBiasGradOp(batch, out int, db []float32) *biasGradOp {
	op := &biasGradOp{opBase: newOpBase("biasGrad", tensor.Shape{out}, 2), batch: batch, out: out}
	op.t, op.buf = newBuf(op.shape, db)
	op.part = make([]float32, (batch+biasBlockRows-1)/biasBlockRows*out)
	return op
}

func (op *biasGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	g, out := f32s(vs[0]), op.out
	blocks := (op.batch + biasBlockRows - 1) / biasBlockRows
	sumBlock := func(b int) {
		dst := op.part[b*out : (b+1)*out]
		clear(dst)
		for r := b * biasBlockRows; r < min((b+1)*biasBlockRows, op.batch); r++ {
			for j, v := range g[r*out : r*out+out] {
				dst[j] += v
			}
		}
	}
	if p := runtime.GOMAXPROCS(0); p > 1 && blocks > 1 && op.batch*out >= elemParallelMin {
		// Worker w sums blocks w, w+p, w+2p, ...
		var wg sync.WaitGroup
		for w := range min(p, blocks) {
			wg.Go(func() {
				for b := w; b < blocks; b += p {
					sumBlock(b)
				}
			})
		}
		wg.Wait()
	} else {
		for b := range blocks {
			sumBlock(b)
		}
	}
	sumBlocks(op.buf, op.part, blocks)
	return op.t, nil
}

// sumBlocks sets dst to the sum of the first blocks blocks of len(dst) elements of part, added in
// block order, so a blocked reduction does not depend on how many goroutines filled part.
func sumBlocks(dst, part []float32, blocks int) {
	size := len(dst)
	copy(dst, part[:size])
	for b := 1; b < blocks; b++ {
		for j, v := range part[b*size : (b+1)*size] {
			dst[j] += v
		}
	}
}

// reluOp is a stand-alone relu (for conv layers and relus not fused into a dense layer).
type reluOp struct {
	opBase
	t   *tensor.Dense
	buf []float32
}

func newReluOp(s tensor.Shape) *reluOp {
	op := &reluOp{opBase: newOpBase("relu", s, len(s))}
	op.t, op.buf = newBuf(s, nil)
	return op
}

func (op *reluOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	x, dst := f32s(vs[0]), op.buf
	parallelFor(len(dst), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = max(x[i], 0)
		}
	})
	return op.t, nil
}

func (op *reluOp) DiffWRT(int) []bool { return []bool{true} }

func (op *reluOp) SymDiff(_ gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	g, err := gorgonia.ApplyOp(newReluGradOp(op.shape), grad, output)
	return gorgonia.Nodes{g}, err
}

// maskOp multiplies x elementwise by a mask input (dropout: 0 or 1/(1-p) per element). The mask is an
// input node filled from the rng given to TrainStep, so dropout is reproducible. Its gradient is the
// same product applied to the upstream gradient.
type maskOp struct {
	opBase
	t   *tensor.Dense
	buf []float32
}

func newMaskOp(s tensor.Shape) *maskOp {
	op := &maskOp{opBase: newOpBase("mask", s, len(s), len(s))}
	op.t, op.buf = newBuf(s, nil)
	return op
}

func (op *maskOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	x, m, dst := f32s(vs[0]), f32s(vs[1]), op.buf
	parallelFor(len(dst), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = x[i] * m[i]
		}
	})
	return op.t, nil
}

func (op *maskOp) DiffWRT(int) []bool { return []bool{true, false} }

func (op *maskOp) SymDiff(inputs gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	g, err := gorgonia.ApplyOp(newMaskOp(op.shape), grad, inputs[1])
	return gorgonia.Nodes{g, nil}, err
}

// chanBiasGradOp sums g [N,C,H,W] over N, H and W into [C].
type chanBiasGradOp struct {
	opBase
	in  tensor.Shape
	t   *tensor.Dense
	buf []float32
}

func newChanBiasGradOp(in tensor.Shape, db []float32) *chanBiasGradOp {
	op := &chanBiasGradOp{opBase: newOpBase("chanBiasGrad", tensor.Shape{in[1]}, 4), in: in}
	op.t, op.buf = newBuf(op.shape, db)
	return op
}

func (op *chanBiasGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	g := f32s(vs[0])
	n, c, hw := op.in[0], op.in[1], op.in[2]*op.in[3]
	clear(op.buf)
	for i := 0; i < n*c; i++ {
		var s float32
		for _, v := range g[i*hw : (i+1)*hw] {
			s += v
		}
		op.buf[i%c] += s
	}
	return op.t, nil
}

// lossOp applies the LossFunc set for the current step to the logits z [n,c]; it returns the scalar
// loss and keeps dL/dz for its gradient op, so one tape run does forward and backward.
type lossOp struct {
	opBase
	n, c int
	fn   LossFunc
	dz   []float32
	loss float32
}

func newLossOp(n, c int) *lossOp {
	return &lossOp{opBase: newOpBase("loss", tensor.ScalarShape(), 2), n: n, c: c, dz: make([]float32, n*c)}
}

func (op *lossOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	if op.fn == nil {
		return nil, fmt.Errorf("loss op: no loss function set")
	}
	z := f32s(vs[0])
	op.loss = op.fn(z, op.n, op.c, op.dz)
	return gorgonia.NewF32(op.loss), nil
}

func (op *lossOp) DiffWRT(int) []bool { return []bool{true} }

func (op *lossOp) SymDiff(_ gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	// The gradient op reads the loss node so that it runs after the loss has filled dz.
	g, err := gorgonia.ApplyOp(newLossGradOp(op), output, grad)
	return gorgonia.Nodes{g}, err
}

// lossGradOp returns dz (cached by its lossOp) scaled by the upstream scalar gradient.
type lossGradOp struct {
	opBase
	l   *lossOp
	t   *tensor.Dense
	buf []float32
}

func newLossGradOp(l *lossOp) *lossGradOp {
	op := &lossGradOp{opBase: newOpBase("lossGrad", tensor.Shape{l.n, l.c}, 0, 0), l: l}
	op.t, op.buf = newBuf(op.shape, nil)
	return op
}

func (op *lossGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	g := vs[1].Data().(float32)
	for i, v := range op.l.dz {
		op.buf[i] = v * g
	}
	return op.t, nil
}
