package nn

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
)

// Graph is a validated Spec with its layers resolved: each layer's operator, inputs and shapes.
type Graph struct {
	// Spec is the spec the graph was resolved from (not a copy).
	Spec *Spec
	// Nodes holds one node per layer, in spec order.
	Nodes []*Node
}

// Node is one resolved layer.
type Node struct {
	// Index is the layer's index in Spec.Layers.
	Index int
	// Layer is the spec's layer.
	Layer *Layer
	// Op is its operator.
	Op Operator
	// Inputs are the indices of the layers it reads, SampleInput for the sample.
	Inputs []int
	// In are the per-sample shapes of its inputs, Out that of its output.
	In  []Shape
	Out Shape
	// Users are the indices of the layers that read its output, in spec order (a layer reading it
	// twice appears twice).
	Users []int
	// Tensors are its parameters and buffers (Op.Tensors).
	Tensors []TensorSpec
}

// SampleInput is the producer index of a layer that reads the sample.
const SampleInput = -1

// TensorName returns the full name of layer i's tensor name: "layers.<i>.<name>".
func TensorName(i int, name string) string { return fmt.Sprintf("layers.%d.%s", i, name) }

// validName is what a layer's name may be: a letter, then letters, digits, '_', '-' and '.'.
var validName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.\-]*$`)

// Graph resolves and validates the spec (see Validate).
func (s *Spec) Graph() (*Graph, error) {
	if err := s.checkTop(); err != nil {
		return nil, err
	}
	g := &Graph{Spec: s, Nodes: make([]*Node, len(s.Layers))}
	names := map[string]int{}
	for i := range s.Layers {
		l := &s.Layers[i]
		n, err := s.resolve(i, names, g)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.label(i), err)
		}
		g.Nodes[i] = n
		if l.Name != "" {
			names[l.Name] = i
		}
	}
	params := false
	for _, n := range g.Nodes {
		for _, t := range n.Tensors {
			params = params || !t.Buffer
		}
	}
	if !params {
		return nil, errors.New(`field "layers": no trainable layer (dense or conv2d)`)
	}
	if n := g.NumParams(); n > MaxParams {
		return nil, fmt.Errorf(`field "layers": the network has %d parameters and buffers, over the limit of %d (2^28, 1 GiB of float32; an ONNX file holds at most 2 GiB)`, n, MaxParams)
	}
	last := len(s.Layers) - 1
	if out := g.Nodes[last].Out; len(out) != 1 || out[0] != s.Classes {
		return nil, fmt.Errorf("%s: output shape %v does not match field \"classes\" = %d", s.label(last), []int(out), s.Classes)
	}
	for _, n := range g.Nodes[:last] {
		if len(n.Users) == 0 {
			return nil, fmt.Errorf("%s: its output is not used by any later layer (only the last layer's output is the logits)", s.label(n.Index))
		}
	}
	return g, nil
}

// resolve checks layer i and resolves its inputs; names holds the named layers before it.
func (s *Spec) resolve(i int, names map[string]int, g *Graph) (*Node, error) {
	l := &s.Layers[i]
	if l.Type == "" {
		return nil, fieldErr("type", "missing")
	}
	op, ok := Lookup(l.Type)
	if !ok {
		return nil, unknownType(l.Type)
	}
	if l.Name != "" {
		switch _, dup := names[l.Name]; {
		case !validName.MatchString(l.Name):
			return nil, fieldErr("name", "%q: want a letter, then letters, digits, '_', '-' or '.'", l.Name)
		case l.Name == InputName:
			return nil, fieldErr("name", "%q names the sample: choose another name", l.Name)
		case dup:
			return nil, fieldErr("name", "%q is already the name of layer %d", l.Name, names[l.Name])
		}
	}
	if err := checkFields(op, l); err != nil {
		return nil, err
	}
	n := &Node{Index: i, Layer: l, Op: op}
	if len(l.Inputs) == 0 {
		n.Inputs = []int{i - 1} // the sample (SampleInput) for the first layer
	}
	for _, name := range l.Inputs {
		j, err := s.inputIndex(i, name, names)
		if err != nil {
			return nil, err
		}
		n.Inputs = append(n.Inputs, j)
	}
	if k := len(n.Inputs); !fits(op, k) {
		return nil, fieldErr("inputs", "a %s layer reads %s inputs, got %d", l.Type, arity(op), k)
	}
	for _, j := range n.Inputs {
		if j == SampleInput {
			n.In = append(n.In, slices.Clone(Shape(s.Input)))
			continue
		}
		n.In = append(n.In, g.Nodes[j].Out)
	}
	out, err := op.Shape(l, n.In)
	if err != nil {
		return nil, err
	}
	if err := checkValues("its output of shape", out, "per sample"); err != nil {
		return nil, err
	}
	n.Out = out
	n.Tensors = op.Tensors(l, n.In, out)
	for _, t := range n.Tensors {
		if err := checkValues("its "+t.Name+" of shape", t.Shape, "per tensor"); err != nil {
			return nil, err
		}
	}
	for _, j := range n.Inputs {
		if j != SampleInput {
			g.Nodes[j].Users = append(g.Nodes[j].Users, i)
		}
	}
	return n, nil
}

// inputIndex resolves the input name of layer i.
func (s *Spec) inputIndex(i int, name string, names map[string]int) (int, error) {
	if name == InputName {
		return SampleInput, nil
	}
	if j, ok := names[name]; ok {
		return j, nil
	}
	if name == s.Layers[i].Name {
		return 0, fieldErr("inputs", "%q is this layer's own output: a cycle", name)
	}
	for j := i + 1; j < len(s.Layers); j++ {
		if s.Layers[j].Name == name {
			return 0, fieldErr("inputs", "%q is layer %d, which comes later: a layer may read only earlier layers (a cycle, or layers out of order)", name, j)
		}
	}
	return 0, fieldErr("inputs", "no earlier layer is named %q", name)
}

// checkTop checks the fields of the spec itself: the input shape, the class count and that
// there are layers.
func (s *Spec) checkTop() error {
	if len(s.Input) != 1 && len(s.Input) != 3 {
		return fmt.Errorf("field \"input\": want [features] or [channels, height, width], got %v", s.Input)
	}
	for _, d := range s.Input {
		if d <= 0 {
			return fmt.Errorf("field \"input\": dimensions must be > 0, got %v", s.Input)
		}
	}
	if err := checkValues("field \"input\":", s.Input, "per sample"); err != nil {
		return err
	}
	if s.Classes < 1 {
		return fmt.Errorf("field \"classes\": must be > 0, got %d", s.Classes)
	}
	if len(s.Layers) == 0 {
		return fmt.Errorf("field \"layers\": no layers")
	}
	return nil
}

// Params lists the network's parameters and buffers in order: layer by layer, each layer's
// tensors in its operator's order.
func (g *Graph) Params() []NamedTensor {
	var out []NamedTensor
	for _, n := range g.Nodes {
		for _, t := range n.Tensors {
			out = append(out, NamedTensor{Name: TensorName(n.Index, t.Name), Spec: t})
		}
	}
	return out
}

// NamedTensor is a tensor of a graph with its full name.
type NamedTensor struct {
	Name string
	Spec TensorSpec
}

// ReluAfter reports whether layer i's output goes into a relu, directly or through layers that
// keep the pre-activation's sign and scale per channel (dropout, batchnorm): it decides He
// against Glorot initialisation.
func (g *Graph) ReluAfter(i int) bool {
	n := g.Nodes[i]
	if len(n.Users) != 1 {
		return false
	}
	u := g.Nodes[n.Users[0]]
	switch u.Layer.Type {
	case "relu":
		return true
	case "dropout", "batchnorm":
		return g.ReluAfter(u.Index)
	}
	return false
}

// FusedRelu reports whether layer i is a ReluFuser whose only user is a relu, which its kernel
// then applies (and the relu layer passes the values through).
func (g *Graph) FusedRelu(i int) bool {
	n := g.Nodes[i]
	f, ok := n.Op.(ReluFuser)
	if !ok || !f.FusesRelu() || len(n.Users) != 1 {
		return false
	}
	return g.Nodes[n.Users[0]].Layer.Type == "relu"
}

// Fused reports whether layer i is a relu that the layer it reads applies itself.
func (g *Graph) Fused(i int) bool {
	n := g.Nodes[i]
	return n.Layer.Type == "relu" && n.Inputs[0] != SampleInput && g.FusedRelu(n.Inputs[0])
}

// fits reports whether op's layers may read k inputs.
func fits(op Operator, k int) bool {
	least, most := op.Arity()
	return k >= least && (most < 0 || k <= most)
}

// arity says how many inputs op's layers read: "1", "1 to 3" or "at least 2".
func arity(op Operator) string {
	least, most := op.Arity()
	switch {
	case most < 0:
		return fmt.Sprintf("at least %d", least)
	case most != least:
		return fmt.Sprintf("%d to %d", least, most)
	}
	return fmt.Sprintf("%d", least)
}
