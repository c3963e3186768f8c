package student

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Param is one named trainable tensor. Names are stable: "layers.<i>.weight", "layers.<i>.bias"
// (i = index in Spec.Layers). Dense weight shape is [in, out] (row-major, y = x W + b); conv weight
// is [filters, inC, k, k] (ONNX/PyTorch layout). Value and Grad alias the live tensors of the
// network: an optimiser updates Value in place and the next step sees it; TrainStep overwrites Grad
// (gradients never accumulate across steps).
type Param struct {
	Name  string
	Shape []int
	Value []float32
	Grad  []float32
}

// LossFunc computes the mean loss over the batch of logits z [n,c] and writes dL/dz into dz.
type LossFunc func(z []float32, n, c int, dz []float32) float32

// maxGraphs bounds the compiled graphs kept per mode (training, inference); each holds activation
// buffers for its batch size. Beyond it the cache is emptied, so odd batch sizes cannot pile up.
const maxGraphs = 4

// Net is a student network built from a Spec as a Gorgonia expression graph: one graph per batch
// size and mode (training with loss and gradients, or inference), compiled once to a TapeMachine and
// reused. Weights are shared by all graphs. A Net is not safe for concurrent use.
type Net struct {
	spec   *Spec
	shapes []layerShape
	params []*Param
	weight []*Param // per layer: weight param or nil
	bias   []*Param // per layer: bias param or nil

	mu    sync.Mutex
	train map[int]*graph
	infer map[int]*graph
}

// graph is one compiled expression graph for a batch size.
type graph struct {
	g      *gorgonia.ExprGraph
	vm     gorgonia.VM
	batch  int
	x      *gorgonia.Node
	logits *gorgonia.Node
	masks  []dropMask
	loss   *lossOp
	wrt    []*gorgonia.Node // parameter nodes, in n.params order
	grads  []*gorgonia.Node // their gradient nodes
}

// dropMask is the mask input of one dropout layer.
type dropMask struct {
	p   float64
	buf []float32
}

// NewNet builds the network for spec with weights initialised from seed: He initialisation for
// layers followed by relu, Glorot for the others, biases zero.
func NewNet(spec *Spec, seed uint64) (*Net, error) {
	if spec == nil {
		return nil, errors.New("new net: nil spec")
	}
	shapes, err := spec.shapes()
	if err != nil {
		return nil, fmt.Errorf("new net: %w", err)
	}
	ensureBLAS()
	n := &Net{spec: spec.Clone(), shapes: shapes, weight: make([]*Param, len(spec.Layers)),
		bias: make([]*Param, len(spec.Layers)), train: map[int]*graph{}, infer: map[int]*graph{}}
	rng := initRNG(seed)
	in := layerShape(spec.Input)
	for i, l := range spec.Layers {
		var wShape []int
		var fanIn, fanOut, nb int
		switch l.Type {
		case "dense":
			wShape, fanIn, fanOut, nb = []int{in[0], l.Units}, in[0], l.Units, l.Units
		case "conv2d":
			k2 := l.Kernel * l.Kernel
			wShape, fanIn, fanOut, nb = []int{l.Filters, in[0], l.Kernel, l.Kernel}, in[0]*k2, l.Filters*k2, l.Filters
		}
		if wShape != nil {
			w := newParam(fmt.Sprintf("layers.%d.weight", i), wShape)
			if followedByRelu(spec.Layers, i) {
				initHe(w.Value, fanIn, rng)
			} else {
				initGlorot(w.Value, fanIn, fanOut, rng)
			}
			b := newParam(fmt.Sprintf("layers.%d.bias", i), []int{nb})
			n.weight[i], n.bias[i] = w, b
			n.params = append(n.params, w, b)
		}
		in = shapes[i]
	}
	return n, nil
}

func newParam(name string, shape []int) *Param {
	size := 1
	for _, d := range shape {
		size *= d
	}
	return &Param{Name: name, Shape: shape, Value: make([]float32, size), Grad: make([]float32, size)}
}

// followedByRelu reports whether layer i's output reaches a relu through dropout layers only.
func followedByRelu(layers []LayerSpec, i int) bool {
	for j := i + 1; j < len(layers); j++ {
		switch layers[j].Type {
		case "relu":
			return true
		case "dropout":
			continue
		}
		return false
	}
	return false
}

// Spec returns the network's spec.
func (n *Net) Spec() *Spec { return n.spec }

// Params returns the trainable tensors in layer order (weight before bias).
func (n *Net) Params() []*Param { return n.params }

// Forward runs inference (dropout off) on batch samples x [batch, input...] and returns batch*Classes
// logits in a new slice.
func (n *Net) Forward(x []float32, batch int) ([]float32, error) {
	gr, err := n.graphFor(x, batch, false)
	if err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	if err := n.run(gr, x); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	return append([]float32(nil), f32s(gr.logits.Value())...), nil
}

// TrainStep runs forward (dropout on, masks drawn from rng) and backward on batch samples x and
// fills every Param.Grad with d loss / d param; it returns the loss. Masks are drawn layer by layer,
// sample by sample, one rng.Float64 per unit, so the same rng state gives the same step.
func (n *Net) TrainStep(x []float32, batch int, rng *rand.Rand, loss LossFunc) (float32, error) {
	if loss == nil {
		return 0, errors.New("train step: nil loss function")
	}
	gr, err := n.graphFor(x, batch, true)
	if err != nil {
		return 0, fmt.Errorf("train step: %w", err)
	}
	for _, m := range gr.masks {
		if rng == nil {
			return 0, errors.New("train step: dropout needs an rng")
		}
		scale := float32(1 / (1 - m.p))
		for i := range m.buf {
			if rng.Float64() < m.p {
				m.buf[i] = 0
			} else {
				m.buf[i] = scale
			}
		}
	}
	gr.loss.fn = loss
	defer func() { gr.loss.fn = nil }()
	if err := n.run(gr, x); err != nil {
		return 0, fmt.Errorf("train step: %w", err)
	}
	// Gradients of Gorgonia's own ops (conv) live in buffers the tape allocates: copy them into the
	// stable Param.Grad slices. Dense and bias gradients are already written in place.
	for i, p := range n.params {
		g := f32s(gr.grads[i].Value())
		if len(g) != len(p.Grad) {
			return 0, fmt.Errorf("train step: gradient of %s has %d values, want %d", p.Name, len(g), len(p.Grad))
		}
		if &g[0] != &p.Grad[0] {
			copy(p.Grad, g)
		}
	}
	return gr.loss.loss, nil
}

// run binds x and executes the tape once.
func (n *Net) run(gr *graph, x []float32) error {
	xt := tensor.New(tensor.WithShape(gr.x.Shape()...), tensor.WithBacking(x))
	if err := gorgonia.Let(gr.x, xt); err != nil {
		return err
	}
	gr.vm.Reset()
	return gr.vm.RunAll()
}

// graphFor returns the compiled graph for batch, building it on first use.
func (n *Net) graphFor(x []float32, batch int, train bool) (*graph, error) {
	if batch < 1 {
		return nil, fmt.Errorf("batch must be > 0, got %d", batch)
	}
	in := layerShape(n.spec.Input).size()
	if len(x) != batch*in {
		return nil, fmt.Errorf("input has %d values, want batch %d x %d = %d", len(x), batch, in, batch*in)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	cache := n.infer
	if train {
		cache = n.train
	}
	if gr, ok := cache[batch]; ok {
		return gr, nil
	}
	if len(cache) >= maxGraphs {
		for k, gr := range cache {
			gr.vm.Close()
			delete(cache, k)
		}
	}
	gr, err := n.build(batch, train)
	if err != nil {
		return nil, fmt.Errorf("build graph for batch %d: %w", batch, err)
	}
	cache[batch] = gr
	return gr, nil
}

// build constructs the expression graph for one batch size. A dense layer directly followed by relu
// becomes one fused op; dropout is skipped when not training.
func (n *Net) build(batch int, train bool) (*graph, error) {
	b := &netBuilder{n: n, g: gorgonia.NewGraph(), batch: batch, train: train, pnode: map[*Param]*gorgonia.Node{}}
	b.gr = &graph{g: b.g, batch: batch}
	xs := append(tensor.Shape{batch}, n.spec.Input...)
	b.gr.x = gorgonia.NewTensor(b.g, tensor.Float32, len(xs), gorgonia.WithShape(xs...), gorgonia.WithName("x"))
	cur := b.gr.x
	curShape := xs
	layers := n.spec.Layers
	for i := 0; i < len(layers); i++ {
		l := layers[i]
		outShape := append(tensor.Shape{batch}, n.shapes[i]...)
		next, fused, err := b.layer(i, cur, curShape, outShape)
		if fused {
			i++
		}
		if err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", i, l.Type, err)
		}
		if !next.Shape().Eq(outShape) && l.Type != "dropout" {
			return nil, fmt.Errorf("layer %d (%s): graph shape %v, spec says %v", i, l.Type, next.Shape(), outShape)
		}
		cur, curShape = next, outShape
	}
	b.gr.logits = cur
	if train {
		if err := b.lossAndGrads(cur); err != nil {
			return nil, err
		}
	}
	b.gr.vm = gorgonia.NewTapeMachine(b.g)
	return b.gr, nil
}

// netBuilder holds the state of one Net.build: the graph being built and the node of each
// parameter added to it.
type netBuilder struct {
	n     *Net
	g     *gorgonia.ExprGraph
	gr    *graph
	batch int
	train bool
	pnode map[*Param]*gorgonia.Node
}

// paramNode adds p to the graph as a node whose value is p.Value (shared, not copied).
func (b *netBuilder) paramNode(p *Param) *gorgonia.Node {
	t := tensor.New(tensor.WithShape(p.Shape...), tensor.WithBacking(p.Value))
	nd := gorgonia.NewTensor(b.g, tensor.Float32, len(p.Shape), gorgonia.WithShape(p.Shape...),
		gorgonia.WithName(p.Name), gorgonia.WithValue(t))
	b.pnode[p] = nd
	return nd
}

// layer adds layer i to the graph after cur (shaped curShape, batch first) and returns its output,
// which the spec says is shaped outShape. fused reports a dense or conv2d layer that took the relu
// after it into its op.
func (b *netBuilder) layer(i int, cur *gorgonia.Node, curShape, outShape tensor.Shape) (out *gorgonia.Node, fused bool, err error) {
	l := b.n.spec.Layers[i]
	switch l.Type {
	case "dense":
		return b.dense(i, cur, curShape)
	case "relu":
		out, err = gorgonia.ApplyOp(newReluOp(outShape), cur)
	case "dropout":
		out, err = b.dropout(i, cur, outShape)
	case "conv2d":
		return b.conv2d(i, cur, curShape)
	case "maxpool":
		out, err = gorgonia.ApplyOp(newMaxPoolOp(b.batch, curShape[1:], l), cur)
	case "flatten":
		out = cur
		if len(curShape) != 2 {
			out, err = gorgonia.Reshape(cur, outShape)
		}
	}
	return out, false, err
}

// dense adds dense layer i as one op, fused with the relu that follows it if there is one.
func (b *netBuilder) dense(i int, cur *gorgonia.Node, curShape tensor.Shape) (*gorgonia.Node, bool, error) {
	layers := b.n.spec.Layers
	w, bias := b.n.weight[i], b.n.bias[i]
	relu := i+1 < len(layers) && layers[i+1].Type == "relu"
	op := newDenseOp(b.batch, curShape[1], layers[i].Units, relu, cur != b.gr.x, w.Grad, bias.Grad)
	out, err := gorgonia.ApplyOp(op, cur, b.paramNode(w), b.paramNode(bias))
	return out, relu, err
}

// dropout multiplies cur by the mask of dropout layer i, an input refilled before each training
// step; it is left out (cur returned) for inference or p = 0.
func (b *netBuilder) dropout(i int, cur *gorgonia.Node, outShape tensor.Shape) (*gorgonia.Node, error) {
	l := b.n.spec.Layers[i]
	if !b.train || l.P == 0 {
		return cur, nil
	}
	m := dropMask{p: l.P, buf: make([]float32, outShape.TotalSize())}
	mt := tensor.New(tensor.WithShape(outShape...), tensor.WithBacking(m.buf))
	mn := gorgonia.NewTensor(b.g, tensor.Float32, len(outShape), gorgonia.WithShape(outShape...),
		gorgonia.WithName(fmt.Sprintf("layers.%d.mask", i)), gorgonia.WithValue(mt))
	b.gr.masks = append(b.gr.masks, m)
	return gorgonia.ApplyOp(newMaskOp(outShape), cur, mn)
}

// conv2d adds conv2d layer i as one op (conv.go's im2col convolution and the per-channel bias),
// fused with the relu that follows it if there is one.
func (b *netBuilder) conv2d(i int, cur *gorgonia.Node, curShape tensor.Shape) (*gorgonia.Node, bool, error) {
	layers := b.n.spec.Layers
	w, bias := b.n.weight[i], b.n.bias[i]
	relu := i+1 < len(layers) && layers[i+1].Type == "relu"
	g := newConvGeom(b.batch, curShape[1:], layers[i])
	g.needDX = cur != b.gr.x
	out, err := gorgonia.ApplyOp(newConvOp(g, relu, w.Grad, bias.Grad), cur, b.paramNode(w), b.paramNode(bias))
	return out, relu, err
}

// lossAndGrads adds the loss over logits and the gradient of every parameter.
func (b *netBuilder) lossAndGrads(logits *gorgonia.Node) error {
	gr := b.gr
	gr.loss = newLossOp(b.batch, b.n.spec.Classes)
	cost, err := gorgonia.ApplyOp(gr.loss, logits)
	if err != nil {
		return fmt.Errorf("loss: %w", err)
	}
	for _, p := range b.n.params {
		gr.wrt = append(gr.wrt, b.pnode[p])
	}
	if gr.grads, err = gorgonia.Grad(cost, gr.wrt...); err != nil {
		return fmt.Errorf("gradients: %w", err)
	}
	return nil
}

// Close releases the compiled graphs. The Net can still be used; graphs are rebuilt on demand.
func (n *Net) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for _, cache := range []map[int]*graph{n.train, n.infer} {
		for k, gr := range cache {
			errs = append(errs, gr.vm.Close())
			delete(cache, k)
		}
	}
	return errors.Join(errs...)
}
