package student

import (
	"fmt"
	"hash"
	"hash/fnv"
	"sync/atomic"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/distillgo/distill/internal/nn"
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

// lossOp applies the loss set for the current step to one node's value [n, ...] (the logits, or
// a layer's output for a feature loss); it returns the scalar loss and keeps dL/d value for its
// gradient op, so one tape run does forward and backward.
type lossOp struct {
	opBase
	n      int
	in     tensor.Shape
	fn     FeatureLossFunc // a feature loss, or
	logits LossFunc        // the logits' loss, on [n, in[1]]
	dz     []float32
	loss   float32
}

func newLossOp(name string, in tensor.Shape) *lossOp {
	return &lossOp{opBase: newOpBase(name, tensor.ScalarShape(), len(in)), n: in[0], in: in.Clone(), dz: make([]float32, in.TotalSize())}
}

func (op *lossOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	switch {
	case op.logits != nil:
		op.loss = op.logits(f32s(vs[0]), op.n, op.in[1], op.dz) // writes all of dz
	case op.fn != nil:
		clear(op.dz)
		op.loss = op.fn(f32s(vs[0]), op.n, op.dz)
	default:
		return nil, fmt.Errorf("%s op: no loss function set", op.name)
	}
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
	op := &lossGradOp{opBase: newOpBase(l.name+"Grad", l.in, 0, 0), l: l}
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

// layerOp runs one layer's nn.Kernel as a Gorgonia op. Its inputs are the layer's inputs, then
// its parameters (as nodes, so that gorgonia.Grad reaches them; the kernel reads their values
// itself). Its gradient is one layerGradOp, which runs the kernel's Backward once for every
// input and parameter, and one pickOp per input and parameter, which hands Gorgonia the buffer
// that Backward wrote (a parameter's Grad, or the op's own buffer for an input).
type layerOp struct {
	opBase
	k        nn.Kernel
	nin      int         // data inputs
	needGrad []bool      // per data input
	grads    [][]float32 // per parameter: its Grad
	inShapes []tensor.Shape
	pShapes  []tensor.Shape
	t        *tensor.Dense
	buf      []float32
	ins      [][]float32 // the inputs of the last Do, reused
}

func newLayerOp(name string, k nn.Kernel, out tensor.Shape, ins []tensor.Shape, needGrad []bool, params []*Param) *layerOp {
	dims := make([]int, 0, len(ins)+len(params))
	for _, s := range ins {
		dims = append(dims, len(s))
	}
	op := &layerOp{k: k, nin: len(ins), needGrad: needGrad, inShapes: ins, ins: make([][]float32, len(ins))}
	for _, p := range params {
		dims = append(dims, len(p.Shape))
		op.grads = append(op.grads, p.Grad)
		op.pShapes = append(op.pShapes, tensor.Shape(p.Shape))
	}
	op.opBase = newOpBase(name, out, dims...)
	op.t, op.buf = newBuf(out, nil)
	return op
}

// Do runs the kernel's Forward (gorgonia.Op).
func (op *layerOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	for i := range op.nin {
		op.ins[i] = f32s(vs[i])
	}
	op.k.Forward(op.ins, op.buf)
	return op.t, nil
}

// DiffWRT says which inputs have gradients (gorgonia.SDOp): the data inputs that want one and
// every parameter.
func (op *layerOp) DiffWRT(int) []bool {
	d := append([]bool(nil), op.needGrad...)
	for range op.grads {
		d = append(d, true)
	}
	return d
}

// SymDiff adds the gradient ops of the inputs to the graph (gorgonia.SDOp).
func (op *layerOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	g := newLayerGradOp(op)
	args := append(append(gorgonia.Nodes{}, inputs...), output, grad)
	bwd, err := gorgonia.ApplyOp(g, args...)
	if err != nil {
		return nil, err
	}
	out := make(gorgonia.Nodes, len(inputs))
	for i := range op.nin {
		if op.needGrad[i] {
			if out[i], err = gorgonia.ApplyOp(newPickOp(op.name+"Grad", op.inShapes[i], g.dins[i]), bwd); err != nil {
				return nil, err
			}
		}
	}
	for j, dp := range op.grads {
		if out[op.nin+j], err = gorgonia.ApplyOp(newPickOp(op.name+"GradP", op.pShapes[j], dp), bwd); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// layerGradOp runs a layer kernel's Backward: its inputs are the layer op's inputs, its output and
// the upstream gradient; it writes the input gradients into dins and the parameters' into their
// Grad, and returns a one-value placeholder that the pickOps read so that they run after it.
type layerGradOp struct {
	opBase
	l    *layerOp
	dins [][]float32
	t    *tensor.Dense
}

func newLayerGradOp(l *layerOp) *layerGradOp {
	dims := append([]int(nil), l.dims...)
	dims = append(dims, len(l.shape), len(l.shape))
	op := &layerGradOp{opBase: newOpBase(l.name+"Backward", tensor.Shape{1}, dims...), l: l, dins: make([][]float32, l.nin)}
	for i, s := range l.inShapes {
		if l.needGrad[i] {
			op.dins[i] = make([]float32, s.TotalSize())
		}
	}
	op.t, _ = newBuf(op.shape, nil)
	return op
}

// Do runs the kernel's Backward (gorgonia.Op).
func (op *layerGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	l := op.l
	for i := range l.nin {
		l.ins[i] = f32s(vs[i])
	}
	n := len(vs)
	l.k.Backward(l.ins, f32s(vs[n-2]), f32s(vs[n-1]), op.dins)
	return op.t, nil
}

// pickOp returns a buffer a layerGradOp wrote, as the gradient of one input or parameter.
type pickOp struct {
	opBase
	t *tensor.Dense
}

func newPickOp(name string, s tensor.Shape, buf []float32) *pickOp {
	op := &pickOp{opBase: newOpBase(name, s, 1)}
	op.t, _ = newBuf(s, buf)
	return op
}

// Do returns the buffer (gorgonia.Op).
func (op *pickOp) Do(...gorgonia.Value) (gorgonia.Value, error) { return op.t, nil }
