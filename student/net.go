package student

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/distillgo/distill/internal/nn"
)

// Param is one named tensor of a network: a parameter, or a buffer (Buffer set, Grad nil) such as
// batchnorm's running statistics. Names are stable: "layers.<i>.<name>" (i = index in
// Spec.Layers): "weight" and "bias" for dense, conv2d and batchnorm, "running_mean" and
// "running_var" for batchnorm's buffers. Dense weight shape is [in, out] (row-major,
// y = x W + b); conv weight is [filters, inC/groups, k, k] (ONNX/PyTorch layout). Value and Grad
// alias the live tensors of the network: an optimiser updates Value in place and the next step
// sees it; TrainStep overwrites Grad (gradients never accumulate across steps).
type Param = nn.Tensor

// LossFunc computes the mean loss over the batch of logits z [n,c] and writes dL/dz into dz.
type LossFunc func(z []float32, n, c int, dz []float32) float32

// maxGraphs bounds the compiled graphs kept per mode (training, inference); each holds activation
// buffers for its batch size. Beyond it the cache is emptied, so odd batch sizes cannot pile up.
const maxGraphs = 4

// Net is a student network built from a Spec as a Gorgonia expression graph: one graph per batch
// size and mode (training with loss and gradients, or inference), compiled once to a TapeMachine and
// reused. Each layer is one op running its operator's kernel (internal/nn). Weights are shared by
// all graphs. A Net is not safe for concurrent use.
type Net struct {
	spec    *Spec
	graph   *nn.Graph
	tensors []*Param   // every tensor, in the graph's order
	params  []*Param   // the trainable ones
	byLayer [][]*Param // each layer's tensors, in its operator's order

	mu        sync.Mutex
	train     map[int]*graph
	infer     map[int]*graph
	withFeats map[string]*graph // training graphs with feature losses, by batch and layers
}

// graph is one compiled expression graph for a batch size.
type graph struct {
	g        *gorgonia.ExprGraph
	vm       gorgonia.VM
	batch    int
	x        *gorgonia.Node
	logits   *gorgonia.Node
	samplers []nn.Sampler
	loss     *lossOp
	feats    []*lossOp        // the feature losses, in TrainStepFeatures' order
	wrt      []*gorgonia.Node // parameter nodes, in n.params order
	grads    []*gorgonia.Node // their gradient nodes
}

// NewNet builds the network for spec with weights initialised from seed: He initialisation for
// layers whose output goes into a relu, Glorot for the others, biases zero (nn.Graph.NewTensors).
func NewNet(spec *Spec, seed uint64) (*Net, error) {
	if spec == nil {
		return nil, errors.New("new net: nil spec")
	}
	spec = spec.Clone()
	g, err := spec.Graph()
	if err != nil {
		return nil, fmt.Errorf("new net: %w", err)
	}
	ensureBLAS()
	n := &Net{spec: spec, graph: g, tensors: g.NewTensors(seed), byLayer: make([][]*Param, len(g.Nodes)),
		train: map[int]*graph{}, infer: map[int]*graph{}, withFeats: map[string]*graph{}}
	i := 0
	for _, nd := range g.Nodes {
		n.byLayer[nd.Index] = n.tensors[i : i+len(nd.Tensors)]
		i += len(nd.Tensors)
	}
	for _, t := range n.tensors {
		if !t.Buffer {
			n.params = append(n.params, t)
		}
	}
	return n, nil
}

// Spec returns the network's spec.
func (n *Net) Spec() *Spec { return n.spec }

// Params returns the trainable tensors in layer order (weight before bias): what an optimiser
// updates.
func (n *Net) Params() []*Param { return n.params }

// Tensors returns every tensor, parameters and buffers, in layer order: what a checkpoint holds.
func (n *Net) Tensors() []*Param { return n.tensors }

// Forward runs inference (dropout off, batchnorm on its running statistics) on batch samples
// x [batch, input...] and returns batch*Classes logits in a new slice.
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

// TrainStep runs forward (dropout on, masks drawn from rng; batchnorm on the batch's statistics,
// updating its running ones) and backward on batch samples x and fills every Param.Grad with
// d loss / d param; it returns the loss. Masks are drawn layer by layer, sample by sample, one
// rng.Float64 per unit, so the same rng state gives the same step.
func (n *Net) TrainStep(x []float32, batch int, rng *rand.Rand, loss LossFunc) (float32, error) {
	if loss == nil {
		return 0, errors.New("train step: nil loss function")
	}
	gr, err := n.graphFor(x, batch, true)
	if err != nil {
		return 0, fmt.Errorf("train step: %w", err)
	}
	return n.step(gr, x, rng, loss)
}

// step runs one training step on the compiled training graph gr.
func (n *Net) step(gr *graph, x []float32, rng *rand.Rand, loss LossFunc) (float32, error) {
	for _, s := range gr.samplers {
		if rng == nil {
			return 0, errors.New("train step: dropout needs an rng")
		}
		s.Sample(rng)
	}
	gr.loss.logits = loss
	defer func() { gr.loss.logits = nil }()
	if err := n.run(gr, x); err != nil {
		return 0, fmt.Errorf("train step: %w", err)
	}
	// A gradient that Gorgonia computed itself (the sum of two paths into a parameter) lives in a
	// buffer of the tape: copy it into the stable Param.Grad slices. The kernels' gradients are
	// already written in place.
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
func (n *Net) graphFor(x []float32, batch int, train bool, layers ...int) (*graph, error) {
	if batch < 1 {
		return nil, fmt.Errorf("batch must be > 0, got %d", batch)
	}
	in := nn.Shape(n.spec.Input).Size()
	if len(x) != batch*in {
		return nil, fmt.Errorf("input has %d values, want batch %d x %d = %d", len(x), batch, in, batch*in)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	build := func() (*graph, error) {
		gr, err := n.build(batch, train, layers)
		if err != nil {
			return nil, fmt.Errorf("build graph for batch %d: %w", batch, err)
		}
		return gr, nil
	}
	if len(layers) > 0 {
		return cachedGraph(n.withFeats, fmt.Sprint(batch, layers), build)
	}
	cache := n.infer
	if train {
		cache = n.train
	}
	return cachedGraph(cache, batch, build)
}

// cachedGraph returns the graph of key in cache, building it on first use; a cache that holds
// maxGraphs graphs is emptied first, so odd batch sizes cannot pile up.
func cachedGraph[K comparable](cache map[K]*graph, key K, build func() (*graph, error)) (*graph, error) {
	if gr, ok := cache[key]; ok {
		return gr, nil
	}
	if len(cache) >= maxGraphs {
		for k, gr := range cache {
			gr.vm.Close()
			delete(cache, k)
		}
	}
	gr, err := build()
	if err != nil {
		return nil, err
	}
	cache[key] = gr
	return gr, nil
}

// build constructs the expression graph for one batch size: one layerOp per layer, in spec
// order, except views (flatten; dropout when not training), which reshape their input, and
// relus fused into the dense, conv2d, batchnorm or add layer before them (unless a feature loss
// reads that layer); for training, the loss on the logits and a feature loss on the output of
// each of layers.
func (n *Net) build(batch int, train bool, layers []int) (*graph, error) {
	b := &netBuilder{n: n, g: gorgonia.NewGraph(), batch: batch, train: train, pnode: map[*Param]*gorgonia.Node{},
		feature: map[int]bool{}}
	for _, l := range layers {
		b.feature[l] = true
	}
	b.gr = &graph{g: b.g, batch: batch}
	xs := append(tensor.Shape{batch}, n.spec.Input...)
	b.gr.x = gorgonia.NewTensor(b.g, tensor.Float32, len(xs), gorgonia.WithShape(xs...), gorgonia.WithName("x"))
	vals := make([]*gorgonia.Node, len(n.graph.Nodes))
	for _, nd := range n.graph.Nodes {
		out, err := b.layer(nd, vals)
		if err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", nd.Index, nd.Layer.Type, err)
		}
		vals[nd.Index] = out
	}
	b.gr.logits = vals[len(vals)-1]
	if train {
		feats := make([]*gorgonia.Node, len(layers))
		for i, l := range layers {
			feats[i] = vals[l]
		}
		if err := b.lossAndGrads(b.gr.logits, feats); err != nil {
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
	// feature holds the layers whose output a feature loss reads: such a layer keeps its output
	// as computed, so a relu after it runs as its own layer instead of inside it.
	feature map[int]bool
}

// fusedRelu reports whether layer i applies the relu after it itself in this graph.
func (b *netBuilder) fusedRelu(i int) bool { return b.n.graph.FusedRelu(i) && !b.feature[i] }

// paramNode adds p to the graph as a node whose value is p.Value (shared, not copied).
func (b *netBuilder) paramNode(p *Param) *gorgonia.Node {
	t := tensor.New(tensor.WithShape(p.Shape...), tensor.WithBacking(p.Value))
	nd := gorgonia.NewTensor(b.g, tensor.Float32, len(p.Shape), gorgonia.WithShape(p.Shape...),
		gorgonia.WithName(p.Name), gorgonia.WithValue(t))
	b.pnode[p] = nd
	return nd
}

// layer adds the layer of nd to the graph, reading the nodes of earlier layers in vals, and
// returns its output node.
func (b *netBuilder) layer(nd *nn.Node, vals []*gorgonia.Node) (*gorgonia.Node, error) {
	g := b.n.graph
	ins := make([]*gorgonia.Node, len(nd.Inputs))
	shapes := make([]tensor.Shape, len(nd.Inputs))
	need := make([]bool, len(nd.Inputs))
	for k, j := range nd.Inputs {
		ins[k] = b.gr.x
		if j != nn.SampleInput {
			ins[k], need[k] = vals[j], true
		}
		shapes[k] = append(tensor.Shape{b.batch}, nd.In[k]...)
	}
	outShape := append(tensor.Shape{b.batch}, nd.Out...)
	if v, ok := nd.Op.(nn.Viewer); ok && v.View(nd.Layer, b.train) {
		if ins[0].Shape().Eq(outShape) {
			return ins[0], nil
		}
		return gorgonia.Reshape(ins[0], outShape)
	}
	if g.Fused(nd.Index) && b.fusedRelu(nd.Inputs[0]) {
		return ins[0], nil // the layer before applied the relu
	}
	k := nd.Op.Kernel(nn.KernelConfig{Layer: nd.Layer, In: nd.In, Out: nd.Out, Batch: b.batch, Train: b.train,
		Tensors: b.n.byLayer[nd.Index], NeedGrad: need, Relu: b.fusedRelu(nd.Index), BLAS: kernelBLAS})
	if s, ok := k.(nn.Sampler); ok && b.train {
		b.gr.samplers = append(b.gr.samplers, s)
	}
	var params []*Param
	args := slices.Clone(ins)
	for _, p := range b.n.byLayer[nd.Index] {
		if !p.Buffer {
			params = append(params, p)
			args = append(args, b.paramNode(p))
		}
	}
	op := newLayerOp(nd.Layer.Type, k, outShape, shapes, need, params)
	return gorgonia.ApplyOp(op, args...)
}

// kernelBLAS is the BLAS the kernels call: the one in use when they run.
func kernelBLAS() blas.Float32 { return currentBLAS() }

// lossAndGrads adds the loss over logits, a feature loss over each of feats, and the gradient
// of their sum for every parameter.
func (b *netBuilder) lossAndGrads(logits *gorgonia.Node, feats []*gorgonia.Node) error {
	gr := b.gr
	gr.loss = newLossOp("loss", tensor.Shape{b.batch, b.n.spec.Classes})
	cost, err := gorgonia.ApplyOp(gr.loss, logits)
	if err != nil {
		return fmt.Errorf("loss: %w", err)
	}
	for _, f := range feats {
		op := newLossOp("featureLoss", f.Shape())
		fc, err := gorgonia.ApplyOp(op, f)
		if err != nil {
			return fmt.Errorf("feature loss: %w", err)
		}
		if cost, err = gorgonia.Add(cost, fc); err != nil {
			return fmt.Errorf("feature loss: %w", err)
		}
		gr.feats = append(gr.feats, op)
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
	for k, gr := range n.withFeats {
		errs = append(errs, gr.vm.Close())
		delete(n.withFeats, k)
	}
	return errors.Join(errs...)
}
