package nn

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// EncodeOptions configures Encode.
type EncodeOptions struct {
	// Opset is the ai.onnx opset to write for (package onnx checks its range; 0 is taken as 13).
	Opset int
	// InputName and OutputName name the graph's input and output (default "input", "logits").
	InputName, OutputName string
	// FoldBN folds every batchnorm whose input is a dense or conv2d layer read by nothing else into
	// that layer's weights and bias, so that no BatchNormalization node is written for it.
	FoldBN bool
}

// Encode returns the graph as ONNX nodes: each layer's operator writes its nodes, in spec order,
// with the values of its tensors taken from tensors by full name ("layers.<i>.weight"). A layer
// whose operator writes no node (dropout) passes its input on; so does a folded batchnorm.
func Encode(g *Graph, tensors map[string][]float32, o EncodeOptions) (*ONNXGraph, error) {
	if o.InputName == "" {
		o.InputName = InputName
	}
	if o.OutputName == "" {
		o.OutputName = "logits"
	}
	if o.Opset == 0 {
		o.Opset = 13
	}
	og := &ONNXGraph{Input: o.InputName, Output: o.OutputName, InputShape: slices.Clone(g.Spec.Input), Classes: g.Spec.Classes, Opset: o.Opset}
	values := make([][][]float32, len(g.Nodes))
	for _, n := range g.Nodes {
		for _, t := range n.Tensors {
			v, ok := tensors[TensorName(n.Index, t.Name)]
			if !ok || len(v) != t.Size() {
				return nil, fmt.Errorf("%s: tensor %s: have %d values, want %d for shape %v", g.Spec.label(n.Index), TensorName(n.Index, t.Name), len(v), t.Size(), t.Shape)
			}
			values[n.Index] = append(values[n.Index], v)
		}
	}
	folded := map[int]bool{}
	specs := make([][]TensorSpec, len(g.Nodes))
	sources := make([][]string, len(g.Nodes))
	for _, n := range g.Nodes {
		specs[n.Index] = n.Tensors
		for _, t := range n.Tensors {
			sources[n.Index] = append(sources[n.Index], TensorName(n.Index, t.Name))
		}
	}
	if o.FoldBN {
		for _, n := range g.Nodes {
			if j, ok := g.foldable(n.Index); ok {
				scale, shift := n.Op.(Foldable).ChannelAffine(n.Layer, values[n.Index])
				p := g.Nodes[j]
				values[j] = p.Op.(Affine).Fold(p.Layer, values[j], scale, shift)
				if len(specs[j]) < len(values[j]) {
					// A layer without a bias gets one: the batchnorm's shift, whose bias it
					// comes back into on import.
					specs[j] = append(slices.Clone(specs[j]), biasSpec(len(shift)))
					sources[j] = append(slices.Clone(sources[j]), TensorName(n.Index, "bias"))
				}
				folded[n.Index] = true
			}
		}
	}
	names := make([]string, len(g.Nodes))
	value := func(j int) string {
		if j == SampleInput {
			return o.InputName
		}
		return names[j]
	}
	k := 0
	for _, n := range g.Nodes {
		ins := make([]string, len(n.Inputs))
		for x, j := range n.Inputs {
			ins[x] = value(j)
		}
		if folded[n.Index] {
			names[n.Index] = ins[0]
			continue
		}
		e := &Encoder{g: og, k: k, out: fmt.Sprintf("layer%d.out", k), first: len(og.Nodes)}
		c := EncodeConfig{Layer: n.Layer, In: n.In, Out: n.Out, Inputs: ins, Specs: specs[n.Index], Tensors: values[n.Index], sources: sources[n.Index]}
		if err := n.Op.Encode(e, c); err != nil {
			return nil, fmt.Errorf("%s: encode: %w", g.Spec.label(n.Index), err)
		}
		if len(og.Nodes) == e.first { // no node: the layer passes its input on
			names[n.Index] = ins[0]
			continue
		}
		if err := e.finish(); err != nil {
			return nil, err
		}
		names[n.Index] = e.out
		k++
	}
	// The value holding the logits takes the graph's output name.
	last := names[len(names)-1]
	if last == o.InputName {
		return nil, fmt.Errorf("the network writes no node")
	}
	for i := range og.Nodes {
		nd := &og.Nodes[i]
		for x := range nd.Inputs {
			if nd.Inputs[x] == last {
				nd.Inputs[x] = o.OutputName
			}
		}
		if nd.Outputs[0] == last {
			nd.Outputs[0] = o.OutputName
		}
	}
	return og, nil
}

// Folded reports whether layer i is a batchnorm that Encode with FoldBN folds into the layer
// before it.
func Folded(g *Graph, i int) bool {
	_, ok := g.foldable(i)
	return ok
}

// IdentityAffine sets the tensors of a Foldable layer (vals, in its operator's order) to the
// values that make it the identity at inference exactly, and folding it a no-op: what an
// importer gives a batchnorm that an export folded away.
func IdentityAffine(n *Node, vals [][]float32) {
	if f, ok := n.Op.(Foldable); ok {
		f.Identity(n.Layer, vals)
	}
}

// foldable returns the layer a batchnorm at i can be folded into: an Affine layer read by it
// alone.
func (g *Graph) foldable(i int) (int, bool) {
	n := g.Nodes[i]
	if _, ok := n.Op.(Foldable); !ok || n.Inputs[0] == SampleInput {
		return 0, false
	}
	p := g.Nodes[n.Inputs[0]]
	if _, ok := p.Op.(Affine); !ok || len(p.Users) != 1 {
		return 0, false
	}
	return p.Index, true
}

// Decode reads an ONNX graph as a spec and its tensors by full name: each node is read by the
// operator that claims its op type (Operator.ONNXOps), which may take the nodes after it that
// belong to the same layer. The layers are named only where a later layer does not simply read
// the one before. Errors name the node.
func Decode(in *ONNXGraph) (*Spec, map[string][]float32, error) {
	og := *in
	og.Nodes = slices.Clone(in.Nodes) // the decoders mark the attributes they read
	for i := range og.Nodes {
		og.Nodes[i].read = nil
	}
	d := &Decoder{g: &og, inits: map[string]*ONNXInit{}, used: map[string]bool{}, producer: map[string]int{},
		readers: map[string]int{}, shapes: map[string]Shape{og.Input: slices.Clone(Shape(og.InputShape))}}
	for i := range og.Inits {
		in := &og.Inits[i]
		if _, dup := d.inits[in.Name]; dup {
			return nil, nil, fmt.Errorf("initializer %q appears twice", in.Name)
		}
		d.inits[in.Name] = in
	}
	for _, n := range og.Nodes {
		for _, in := range n.Inputs {
			d.readers[in]++
		}
	}
	spec := &Spec{Input: slices.Clone(og.InputShape), Classes: og.Classes}
	tensors := map[string][]float32{}
	layerOf := map[string]int{og.Input: SampleInput} // value -> the layer writing it
	for d.next < len(og.Nodes) {
		n := &og.Nodes[d.next]
		d.next++
		where := fmt.Sprintf("node %q (%s)", n.Name, n.Op)
		op, ok := decoders[n.Op]
		if !ok {
			return nil, nil, fmt.Errorf("%s: op is not supported (want one of %s)", where, strings.Join(decodedOps(), ", "))
		}
		if len(n.Outputs) != 1 || n.Outputs[0] == "" {
			return nil, nil, fmt.Errorf("%s: has %d outputs, want 1", where, len(n.Outputs))
		}
		var data []string // the inputs that are values, not initializers
		for _, in := range n.Inputs {
			if _, ok := d.inits[in]; !ok {
				data = append(data, in)
			}
		}
		if !fits(op, len(data)) {
			return nil, nil, fmt.Errorf("%s: reads %d values that are not initializers, where a %s layer reads %s", where, len(data), op.Type(), arity(op))
		}
		var in []Shape
		for _, v := range data {
			s, ok := d.shapes[v]
			if !ok {
				return nil, nil, fmt.Errorf("%s: input %q is not written by an earlier node", where, v)
			}
			in = append(in, s)
		}
		first := d.next - 1
		dec, err := op.Decode(d, n)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", where, err)
		}
		for i := first; i < d.next; i++ { // the layer's nodes: Decode may have taken more
			m := &og.Nodes[i]
			if len(m.Outputs) != 1 || m.Outputs[0] == "" {
				return nil, nil, fmt.Errorf("node %q (%s): has %d outputs, want 1", m.Name, m.Op, len(m.Outputs))
			}
			if err := m.leftover(); err != nil {
				return nil, nil, fmt.Errorf("node %q (%s): %w", m.Name, m.Op, err)
			}
		}
		last := &og.Nodes[d.next-1]
		out := last.Outputs[0]
		if _, dup := d.shapes[out]; dup || d.inits[out] != nil {
			return nil, nil, fmt.Errorf("%s: output %q is written twice", where, out)
		}
		i := len(spec.Layers)
		l := dec.Layer
		l.Type = op.Type()
		chain := len(data) == 1 && layerOf[data[0]] == i-1
		if !chain {
			for _, v := range data {
				j := layerOf[v]
				if j == SampleInput {
					l.Inputs = append(l.Inputs, InputName)
					continue
				}
				if spec.Layers[j].Name == "" {
					spec.Layers[j].Name = fmt.Sprintf("layer%d", j)
				}
				l.Inputs = append(l.Inputs, spec.Layers[j].Name)
			}
		}
		shape, err := op.Shape(&l, in)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", where, err)
		}
		specs := op.Tensors(&l, in, shape)
		if len(specs) != len(dec.Tensors) {
			return nil, nil, fmt.Errorf("%s: decoded %d tensors, the operator has %d", where, len(dec.Tensors), len(specs))
		}
		for x, t := range specs {
			if len(dec.Tensors[x]) != t.Size() {
				return nil, nil, fmt.Errorf("%s: %s has %d values, want %d for shape %v", where, t.Name, len(dec.Tensors[x]), t.Size(), t.Shape)
			}
			tensors[TensorName(i, t.Name)] = dec.Tensors[x]
		}
		spec.Layers = append(spec.Layers, l)
		d.shapes[out] = shape
		layerOf[out] = i
	}
	if j, ok := layerOf[og.Output]; !ok || j != len(spec.Layers)-1 || j < 0 {
		return nil, nil, fmt.Errorf("the graph output %q is not written by the last node", og.Output)
	}
	for _, in := range og.Inits {
		if !d.used[in.Name] {
			return nil, nil, fmt.Errorf("initializer %q is not used", in.Name)
		}
	}
	if err := spec.Validate(); err != nil {
		return nil, nil, err
	}
	return spec, tensors, nil
}

// decoders maps an ONNX op type to the operator that decodes it.
var decoders = map[string]Operator{}

// decodedOps lists the ONNX op types Decode reads, sorted.
func decodedOps() []string {
	ops := make([]string, 0, len(decoders))
	for op := range decoders {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// EncodeSpec is Encode of the spec's graph, for tools and tests that hold a spec and its tensors'
// values by full name.
func EncodeSpec(s *Spec, tensors map[string][]float32, o EncodeOptions) (*ONNXGraph, error) {
	g, err := s.Graph()
	if err != nil {
		return nil, err
	}
	return Encode(g, tensors, o)
}

// Decodes reports whether an operator decodes ONNX nodes of type op.
func Decodes(op string) bool {
	_, ok := decoders[op]
	return ok
}
