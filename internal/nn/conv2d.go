package nn

import (
	"errors"
	"fmt"
	"runtime"
)

// conv2d is a 2-D convolution: fields filters (> 0), kernel (> 0, square), stride (default 1),
// pad (default 0, or "same" for an odd kernel), bias (default true) and groups (default 1; input channels and
// filters split into that many groups, each filter seeing its group's channels: groups equal
// to the input channels is a depthwise convolution); input [channels, height, width]; tensors
// weight [filters, channels/groups, kernel, kernel] (ONNX and PyTorch's layout) and bias
// [filters]; ONNX Conv.
//
// Training without groups is k·k shifted sgemms over a padded copy of each sample
// (conv_shift.go); depthwise convolutions are vector loops over padded planes
// (conv_depthwise.go). Grouped convolutions with several channels a group are im2col into sgemm,
// one sample and group at a time: the columns of sample n, col [C/G·k·k, OH·OW], times the
// weight [F/G, C/G·k·k] give its output [F/G, OH·OW], already in NCHW order, with the bias and a
// fused relu applied while it is in cache; dx is Wᵀ·dY then col2im. Samples run on GOMAXPROCS
// goroutines, each with its own buffers. dW sums fixed blocks of convBlock samples whose partial
// sums are added in block order, so it does not depend on the thread count.
type conv2d struct{}

func init() { Register(conv2d{}) }

func (conv2d) Type() string { return "conv2d" }
func (conv2d) Fields() []string {
	return []string{"filters", "kernel", "stride", "pad", "groups", "bias"}
}
func (conv2d) Arity() (int, int) { return 1, 1 }
func (conv2d) FusesRelu() bool   { return true }
func (conv2d) ONNXOps() []string { return []string{"Conv"} }

// groups returns the layer's groups (default 1).
func (l *Layer) groups() int {
	if l.Groups == 0 {
		return 1
	}
	return l.Groups
}

// stride returns the layer's stride, or def when it is unset (0).
func (l *Layer) stride(def int) int {
	if l.Stride == 0 {
		return def
	}
	return l.Stride
}

// pad returns the layer's padding in pixels ("same" resolved for its kernel).
func (l *Layer) pad() int {
	if l.Pad == PadSame {
		return l.Kernel / 2
	}
	return int(l.Pad)
}

// checkWindow checks the kernel, stride and pad of a conv2d or pooling layer on input in and
// returns the output's height and width; defStride is the stride when unset.
func checkWindow(l *Layer, in Shape, defStride int) (int, int, error) {
	if l.Kernel <= 0 {
		return 0, 0, fieldErr("kernel", "must be > 0, got %d", l.Kernel)
	}
	if l.Stride < 0 {
		return 0, 0, fieldErr("stride", "must be >= 0 (0 means %s), got %d", map[bool]string{true: "1", false: "kernel"}[defStride == 1], l.Stride)
	}
	if l.Pad == PadSame && l.Kernel%2 == 0 {
		return 0, 0, fieldErr("pad", `"same" needs an odd kernel, got %d`, l.Kernel)
	}
	if l.Pad < 0 && l.Pad != PadSame {
		return 0, 0, fieldErr("pad", "must be >= 0 or \"same\", got %d", l.Pad)
	}
	if len(in) != 3 {
		return 0, 0, fieldErr("type", "needs a [channels, height, width] input, got %v", []int(in))
	}
	p, st := l.pad(), l.stride(defStride)
	if p > 0 && p >= l.Kernel {
		// ONNX requires pads smaller than the kernel (no window of padding only).
		return 0, 0, fieldErr("pad", "must be smaller than the kernel %d, got %d", l.Kernel, p)
	}
	if l.Pad != PadSame && (p > in[1] || p > in[2]) {
		// More padding than input on a side: the windows past the input see almost nothing but
		// zeros (and a mistyped pad, 1000000, would ask for an absurd output). "same" padding is
		// exempt: it keeps the output the input's size, whatever the kernel (a 5-wide kernel on
		// a 1x32 map pads 2 on every side).
		return 0, 0, fieldErr("pad", "%d is larger than the input %dx%d: at most %d", p, in[1], in[2], min(in[1], in[2]))
	}
	if in[1]+2*p < l.Kernel || in[2]+2*p < l.Kernel {
		if p == 0 {
			return 0, 0, fieldErr("kernel", "kernel %d larger than input %dx%d", l.Kernel, in[1], in[2])
		}
		return 0, 0, fieldErr("kernel", "kernel %d larger than padded input %dx%d", l.Kernel, in[1]+2*p, in[2]+2*p)
	}
	return (in[1]+2*p-l.Kernel)/st + 1, (in[2]+2*p-l.Kernel)/st + 1, nil
}

func (conv2d) Shape(l *Layer, in []Shape) (Shape, error) {
	if l.Filters <= 0 {
		return nil, fieldErr("filters", "must be > 0, got %d", l.Filters)
	}
	if l.Groups < 0 {
		return nil, fieldErr("groups", "must be > 0, got %d", l.Groups)
	}
	h, w, err := checkWindow(l, in[0], 1)
	if err != nil {
		return nil, err
	}
	if g := l.groups(); in[0][0]%g != 0 || l.Filters%g != 0 {
		return nil, fieldErr("groups", "%d groups do not divide the %d input channels and %d filters", g, in[0][0], l.Filters)
	}
	return Shape{l.Filters, h, w}, nil
}

func (conv2d) Tensors(l *Layer, in []Shape, out Shape) []TensorSpec {
	cg, k2, g := in[0][0]/l.groups(), l.Kernel*l.Kernel, l.groups()
	t := []TensorSpec{{Name: "weight", Shape: []int{l.Filters, cg, l.Kernel, l.Kernel}, Init: InitWeight, FanIn: cg * k2, FanOut: l.Filters / g * k2, ChannelAxis: 0}}
	if l.hasBias() {
		t = append(t, biasSpec(l.Filters))
	}
	return t
}

// Fold scales and shifts each filter.
func (conv2d) Fold(l *Layer, t [][]float32, scale, shift []float32) [][]float32 {
	w, b := append([]float32(nil), t[0]...), make([]float32, len(scale))
	per := len(w) / len(b)
	for i := range w {
		w[i] *= scale[i/per]
	}
	for f := range b {
		b[f] = bias(t, f)*scale[f] + shift[f]
	}
	return [][]float32{w, b}
}

func (conv2d) Encode(e *Encoder, c EncodeConfig) error {
	l := c.Layer
	k, s, p := int64(l.Kernel), int64(l.stride(1)), int64(l.pad())
	attrs := []ONNXAttr{IntsAttr("kernel_shape", k, k), IntsAttr("pads", p, p, p, p), IntsAttr("strides", s, s)}
	if l.groups() > 1 {
		attrs = append(attrs, IntAttr("group", int64(l.groups())))
	}
	ins := []string{c.Inputs[0], e.Init(c, 0)}
	if len(c.Tensors) > 1 {
		ins = append(ins, e.Init(c, 1))
	}
	e.Node("Conv", ins, attrs...)
	return nil
}

// Decode reads a square convolution with dilation 1, explicit equal pads and any group count;
// one without a bias gets zeros.
func (conv2d) Decode(d *Decoder, n *ONNXNode) (Decoded, error) {
	if len(n.Inputs) < 2 || len(n.Inputs) > 3 {
		return Decoded{}, fmt.Errorf("has %d inputs, want 2 or 3", len(n.Inputs))
	}
	w, err := d.Init(n.Inputs[1])
	if err != nil {
		return Decoded{}, err
	}
	if len(w.Dims) != 4 || w.Dims[2] != w.Dims[3] {
		return Decoded{}, fmt.Errorf("weight has shape %v, want [filters, channels, k, k]", w.Dims)
	}
	f := w.Dims[0]
	l := Layer{Filters: f}
	tensors := [][]float32{w.Values}
	if len(n.Inputs) == 3 {
		b, err := d.Init(n.Inputs[2])
		if err != nil {
			return Decoded{}, err
		}
		if len(b.Dims) != 1 || b.Dims[0] != f {
			return Decoded{}, fmt.Errorf("bias has shape %v, want [%d]", b.Dims, f)
		}
		tensors = append(tensors, b.Values)
	} else {
		no := false
		l.Bias = &no
	}
	if dil, err := n.SameInts("dilations", 2, 1); err != nil || dil != 1 {
		return Decoded{}, fmt.Errorf("only dilation 1 is supported (%v)", err)
	}
	g, err := n.Int("group", 1)
	if err != nil || g < 1 || g >= 1<<31 {
		return Decoded{}, fmt.Errorf("bad group (%v)", err)
	}
	if g > 1 {
		l.Groups = int(g)
	}
	if err := decodeWindow(n, &l, w.Dims[2], 1); err != nil {
		return Decoded{}, err
	}
	return Decoded{Layer: l, Tensors: tensors}, nil
}

// decodeWindow reads the window attributes of a Conv or a pooling node into l: explicit equal
// pads (auto_pad NOTSET), a square kernel (k > 0: the Conv's, from its weight) and equal strides;
// the stride is left 0 when it is defStride.
func decodeWindow(n *ONNXNode, l *Layer, k, defStride int) error {
	if ap, err := n.String("auto_pad", "NOTSET"); err != nil || ap != "NOTSET" {
		return errors.New("only auto_pad NOTSET is supported")
	}
	ks, err := n.SameInts("kernel_shape", 2, int64(k))
	if err != nil {
		return err
	}
	switch {
	case ks <= 0 && k == 0:
		return errors.New("missing kernel_shape")
	case ks <= 0 || (k > 0 && int(ks) != k):
		return fmt.Errorf("kernel_shape %d does not fit the weight's %d", ks, k)
	}
	s, err := n.SameInts("strides", 2, 1)
	if err != nil {
		return err
	}
	p, err := n.SameInts("pads", 4, 0)
	if err != nil {
		return err
	}
	if s == 0 {
		return errors.New("stride 0")
	}
	l.Kernel, l.Pad = int(ks), Pad(p)
	if int(s) != defStride {
		l.Stride = int(s)
	}
	return nil
}

// convBlock is the number of samples whose weight gradients are summed into one partial sum; the
// partial sums are then added in block order, so dW does not depend on the number of goroutines.
const convBlock = 8

func (conv2d) Kernel(c KernelConfig) Kernel {
	g := newConvGeom(c.Batch, c.Layer, c.In[0], c.Out)
	k := &convKernel{c: c, g: g, col: scratch{size: g.rows() * g.cols()}}
	if g.depthwise() {
		k.col.size = g.dwScratch()
	}
	if c.Train {
		if c.Relu {
			k.gp = make([]float32, c.Batch*g.outSize())
		}
		k.part = make([]float32, (g.batch+convBlock-1)/convBlock*g.groups*g.f*g.rows())
	}
	return k
}

// convKernel trains a conv2d layer.
type convKernel struct {
	c    KernelConfig
	g    convGeom
	col  scratch
	gp   []float32 // the gradient through a fused relu
	part []float32 // per-block partial sums of dW

	// The shifted products' buffers (conv_shift.go).
	sbufs   []shiftBufs
	wt, dwt []float32    // the weight and its gradient as tap matrices
	flip    []float32    // a depthwise convolution's taps, flipped, for its input gradient
	bsum    [][8]float64 // each filter's partial sums of the bias gradient
}

func (k *convKernel) Forward(ins [][]float32, y []float32) {
	x, w := ins[0], k.c.Tensors[0].Value
	var b []float32
	if len(k.c.Tensors) > 1 {
		b = k.c.Tensors[1].Value
	}
	g := k.g
	in, out, rows, p := g.inSize(), g.outSize(), g.rows(), g.cols()
	relu := k.c.Relu
	if g.shiftConv() {
		k.shiftForward(x, b, y)
		return
	}
	if g.depthwise() {
		bufs := k.col.get(runtime.GOMAXPROCS(0))
		parallelRowsPart(g.batch, out, func(part, lo, hi int) {
			for n := lo; n < hi; n++ {
				g.dwForward(x[n*in:(n+1)*in], w, b, y[n*out:(n+1)*out], bufs[part], relu)
			}
		})
		return
	}
	bufs := k.col.get(runtime.GOMAXPROCS(0))
	blas := k.c.BLAS()
	parallelParts(g.batch, func(part, lo, hi int) {
		col := bufs[part]
		for n := lo; n < hi; n++ {
			for gi := range g.groups {
				g.im2col(x[n*in+gi*g.c*g.h*g.w:], col)
				yg := y[n*out+gi*g.f*p : n*out+(gi+1)*g.f*p]
				blas.Sgemm('N', 'N', g.f, p, rows, 1, w[gi*g.f*rows:], rows, col, p, 0, yg, p)
			}
			yn := y[n*out : (n+1)*out]
			if b == nil && relu {
				reluInPlace(yn)
			}
			for f, bf := range b {
				plane := yn[f*p : (f+1)*p]
				if relu {
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
}

func (k *convKernel) Backward(ins [][]float32, y, dy []float32, dins [][]float32) {
	if k.c.Relu {
		reluGrad(k.gp, dy, y)
		dy = k.gp
	}
	if len(k.c.Tensors) > 1 {
		k.biasGrad(dy)
	}
	if k.g.shiftConv() {
		var dx []float32
		if k.c.NeedGrad[0] {
			dx = dins[0]
		}
		k.shiftBackward(ins[0], dy, dx)
		return
	}
	if k.g.depthwise() {
		k.dwWeightGrad(ins[0], dy)
		if k.c.NeedGrad[0] {
			k.dwInputGrad(dy, dins[0])
		}
		return
	}
	k.weightGrad(ins[0], dy)
	if k.c.NeedGrad[0] {
		k.inputGrad(dy, dins[0])
	}
}

// biasGrad sums dy [N,F,H,W] over N, H and W into the bias gradient [F], each filter's sum by
// one goroutine in a fixed order (eight partial sums in float64, Vec.Sums).
func (k *convKernel) biasGrad(dy []float32) {
	db := k.c.Tensors[1].Grad
	g := k.g
	f, hw := g.groups*g.f, g.cols()
	pl := Planes{N: g.batch, HW: hw, Stride: f * hw}
	if len(k.bsum) != f {
		k.bsum = make([][8]float64, f)
	}
	parallelRows(f, g.batch*hw, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			s := &k.bsum[c]
			*s = [8]float64{}
			vec.Sums(dy[c*hw:], pl, s)
			db[c] = float32(sum8(s))
		}
	})
}

// weightGrad computes dW = Σ_n dY_n · col_nᵀ.
func (k *convKernel) weightGrad(x, dy []float32) {
	g := k.g
	in, out, rows, p := g.inSize(), g.outSize(), g.rows(), g.cols()
	size := g.groups * g.f * rows
	blocks := (g.batch + convBlock - 1) / convBlock
	bufs := k.col.get(runtime.GOMAXPROCS(0))
	blas := k.c.BLAS()
	parallelParts(blocks, func(part, lo, hi int) {
		col := bufs[part]
		for b := lo; b < hi; b++ {
			dst := k.part[b*size : (b+1)*size]
			for n := b * convBlock; n < min((b+1)*convBlock, g.batch); n++ {
				beta := float32(1)
				if n == b*convBlock {
					beta = 0
				}
				for gi := range g.groups {
					g.im2col(x[n*in+gi*g.c*g.h*g.w:], col)
					blas.Sgemm('N', 'T', g.f, rows, p, 1, dy[n*out+gi*g.f*p:], p, col, p, beta, dst[gi*g.f*rows:], rows)
				}
			}
		}
	})
	sumBlocks(k.c.Tensors[0].Grad, k.part, blocks)
}

// inputGrad computes dx_n = col2im(Wᵀ · dY_n) for each sample and group.
func (k *convKernel) inputGrad(dy, dx []float32) {
	g := k.g
	w := k.c.Tensors[0].Value
	in, out, rows, p := g.inSize(), g.outSize(), g.rows(), g.cols()
	bufs := k.col.get(runtime.GOMAXPROCS(0))
	blas := k.c.BLAS()
	parallelParts(g.batch, func(part, lo, hi int) {
		col := bufs[part]
		for n := lo; n < hi; n++ {
			for gi := range g.groups {
				blas.Sgemm('T', 'N', rows, p, g.f, 1, w[gi*g.f*rows:], rows, dy[n*out+gi*g.f*p:], p, 0, col, p)
				g.col2im(col, dx[n*in+gi*g.c*g.h*g.w:n*in+(gi+1)*g.c*g.h*g.w])
			}
		}
	})
}

func (conv2d) Infer(c InferConfig) InferKernel {
	return &convInfer{c: c, g: newConvGeom(c.Batch, c.Layer, c.In[0], c.Out), col: make([]float32, conv2d{}.Scratch(c))}
}

// Scratch is the im2col buffer of one sample and group, or a depthwise convolution's padded plane.
func (conv2d) Scratch(c InferConfig) int {
	g := newConvGeom(c.Batch, c.Layer, c.In[0], c.Out)
	if g.depthwise() {
		_, n := dwPadded(g.h, g.w, g.pad, g.st)
		return n
	}
	return g.rows() * g.cols()
}

// convInfer runs a convolution one sample and group at a time: im2col, then one product into
// an output that starts as the bias.
type convInfer struct {
	c   InferConfig
	g   convGeom
	col []float32
}

func (k *convInfer) Run(gm Gemmer, ins [][]float32, y []float32, n int) {
	g := k.g
	w := k.c.Tensors[0]
	in, out, rows, p := g.inSize(), g.outSize(), g.rows(), g.cols()
	if g.depthwise() {
		for s := range n {
			g.dwForward(ins[0][s*in:(s+1)*in], w, convBias(k.c.Tensors), y[s*out:(s+1)*out], k.col, k.c.Relu)
		}
		return
	}
	for s := range n {
		yn := y[s*out : (s+1)*out]
		if len(k.c.Tensors) < 2 {
			clear(yn)
		}
		for f, bf := range convBias(k.c.Tensors) {
			plane := yn[f*p : (f+1)*p]
			for j := range plane {
				plane[j] = bf
			}
		}
		for gi := range g.groups {
			g.im2col(ins[0][s*in+gi*g.c*g.h*g.w:], k.col)
			gm.Gemm(g.f, p, rows, w[gi*g.f*rows:(gi+1)*g.f*rows], k.col, yn[gi*g.f*p:(gi+1)*g.f*p], true)
		}
		if k.c.Relu {
			reluInPlace(yn)
		}
	}
}

// convBias returns the bias among a conv2d layer's tensors, or nil.
func convBias(t [][]float32) []float32 {
	if len(t) < 2 {
		return nil
	}
	return t[1]
}
