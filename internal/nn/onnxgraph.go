package nn

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// This file holds the ONNX form of a network, neutral of any protobuf library: package onnx
// writes and reads it as a ModelProto, onnx/purego/direct reads it with its own wire reader.

// ONNXGraph is a network as ONNX nodes and initializers, between one float input [N, InputShape...]
// and one float output [N, Classes].
type ONNXGraph struct {
	// Input and Output are the graph's input and output value names.
	Input, Output string
	// InputShape is the per-sample input shape; Classes the output's per-sample size.
	InputShape []int
	Classes    int
	// Nodes are the operator nodes in topological order, without the Cast and
	// DequantizeLinear nodes that widen stored initializers (package onnx adds and removes those).
	Nodes []ONNXNode
	// Inits are the initializers as float32 values, in the order they are first used.
	Inits []ONNXInit
	// Opset is the ai.onnx opset the nodes are written for.
	Opset int
}

// ONNXNode is one ONNX node.
type ONNXNode struct {
	Name, Op        string
	Inputs, Outputs []string
	Attrs           []ONNXAttr
	read            map[string]bool
}

// ONNXAttr is one attribute of a node: an int, ints, a float or a string (Kind).
type ONNXAttr struct {
	Name string
	Kind AttrKind
	Int  int64
	Ints []int64
	F    float32
	S    string
}

// AttrKind is the type of an ONNXAttr.
type AttrKind int

// The attribute types an ONNXAttr holds.
const (
	AttrInt AttrKind = iota + 1
	AttrInts
	AttrFloat
	AttrString
)

// IntAttr, IntsAttr, FloatAttr and StringAttr make attributes.
func IntAttr(name string, v int64) ONNXAttr     { return ONNXAttr{Name: name, Kind: AttrInt, Int: v} }
func IntsAttr(name string, v ...int64) ONNXAttr { return ONNXAttr{Name: name, Kind: AttrInts, Ints: v} }
func FloatAttr(name string, v float32) ONNXAttr { return ONNXAttr{Name: name, Kind: AttrFloat, F: v} }
func StringAttr(name string, v string) ONNXAttr { return ONNXAttr{Name: name, Kind: AttrString, S: v} }

// ONNXInit is an initializer: float32 values of a shape. ChannelAxis is the axis of its output
// channels, along which an int8 export quantises it per channel (-1: stored as float, or float16
// in an fp16 export).
type ONNXInit struct {
	Name        string
	Dims        []int
	Values      []float32
	ChannelAxis int
	// Source is the full name of the network tensor Encode wrote it from ("layers.2.weight";
	// empty for a constant of an operator's nodes). Package onnx neither writes nor reads it.
	Source string
}

// attr returns the node's attribute name and marks it read.
func (n *ONNXNode) attr(name string) (*ONNXAttr, bool) {
	for i := range n.Attrs {
		if n.Attrs[i].Name == name {
			if n.read == nil {
				n.read = map[string]bool{}
			}
			n.read[name] = true
			return &n.Attrs[i], true
		}
	}
	return nil, false
}

// Int returns an INT attribute, or def when it is absent.
func (n *ONNXNode) Int(name string, def int64) (int64, error) {
	a, ok := n.attr(name)
	if !ok {
		return def, nil
	}
	if a.Kind != AttrInt {
		return 0, fmt.Errorf("attribute %q: want an int", name)
	}
	return a.Int, nil
}

// Float returns a FLOAT attribute, or def when it is absent.
func (n *ONNXNode) Float(name string, def float32) (float32, error) {
	a, ok := n.attr(name)
	if !ok {
		return def, nil
	}
	if a.Kind != AttrFloat {
		return 0, fmt.Errorf("attribute %q: want a float", name)
	}
	return a.F, nil
}

// String returns a STRING attribute, or def when it is absent.
func (n *ONNXNode) String(name, def string) (string, error) {
	a, ok := n.attr(name)
	if !ok {
		return def, nil
	}
	if a.Kind != AttrString {
		return "", fmt.Errorf("attribute %q: want a string", name)
	}
	return a.S, nil
}

// SameInts returns the common value of an INTS attribute of k values, or def when it is absent.
func (n *ONNXNode) SameInts(name string, k int, def int64) (int64, error) {
	a, ok := n.attr(name)
	if !ok {
		return def, nil
	}
	if a.Kind != AttrInts || len(a.Ints) != k {
		return 0, fmt.Errorf("attribute %q: want %d ints", name, k)
	}
	for _, v := range a.Ints {
		if v != a.Ints[0] {
			return 0, fmt.Errorf("attribute %q = %v: only equal values are supported", name, a.Ints)
		}
	}
	if a.Ints[0] < 0 || a.Ints[0] >= 1<<31 {
		return 0, fmt.Errorf("attribute %q = %v out of range", name, a.Ints)
	}
	return a.Ints[0], nil
}

// leftover reports the first attribute (by name) no decoder read.
func (n *ONNXNode) leftover() error {
	var names []string
	for _, a := range n.Attrs {
		if !n.read[a.Name] {
			names = append(names, a.Name)
		}
	}
	if len(names) > 0 {
		return fmt.Errorf("attribute %q is not supported", slices.Min(names))
	}
	return nil
}

// Encoder writes the ONNX nodes of one layer at a time (see Encode). A layer's nodes and
// initializers are named after its position k among the layers that write nodes: initializers
// "layer<k>.<tensor>", nodes "layer<k>.<Op>", the layer's output "layer<k>.out" (the graph's
// output for the last).
type Encoder struct {
	g     *ONNXGraph
	k     int    // the layer's position
	out   string // its output value
	first int    // index of its first node in g.Nodes
}

// EncodeConfig is the layer an Encoder is writing.
type EncodeConfig struct {
	Layer *Layer
	In    []Shape
	Out   Shape
	// Inputs are the value names of its inputs.
	Inputs []string
	// Specs and Tensors are its tensors and their values (folded, when a batchnorm was folded
	// into the layer).
	Specs   []TensorSpec
	Tensors [][]float32
	sources []string // the full names of the tensors the values come from
}

// Opset is the opset the graph is written for.
func (e *Encoder) Opset() int { return e.g.Opset }

// Init adds tensor t of the layer as an initializer and returns its name.
func (e *Encoder) Init(c EncodeConfig, t int) string {
	s := c.Specs[t]
	name := fmt.Sprintf("layer%d.%s", e.k, s.Name)
	e.g.Inits = append(e.g.Inits, ONNXInit{Name: name, Dims: slices.Clone(s.Shape), Values: c.Tensors[t], ChannelAxis: s.ChannelAxis,
		Source: c.sources[t]})
	return name
}

// Const adds an initializer of constant values the layer's nodes need (never quantised) and
// returns its name, "layer<k>.<name>".
func (e *Encoder) Const(name string, dims []int, values ...float32) string {
	full := fmt.Sprintf("layer%d.%s", e.k, name)
	e.g.Inits = append(e.g.Inits, ONNXInit{Name: full, Dims: dims, Values: values, ChannelAxis: -1})
	return full
}

// Node adds a node of op reading inputs and returns its output's name. The layer's last node
// writes the layer's output.
func (e *Encoder) Node(op string, inputs []string, attrs ...ONNXAttr) string {
	name := fmt.Sprintf("layer%d.%s", e.k, op)
	for i := e.first; i < len(e.g.Nodes); i++ {
		if strings.HasPrefix(e.g.Nodes[i].Name, name) {
			name = fmt.Sprintf("layer%d.%s.%d", e.k, op, len(e.g.Nodes)-e.first)
			break
		}
	}
	e.g.Nodes = append(e.g.Nodes, ONNXNode{Name: name, Op: op, Inputs: inputs, Outputs: []string{name + ".out"}, Attrs: attrs})
	return name + ".out"
}

// finish renames the output of the layer's last node to the layer's output.
func (e *Encoder) finish() error {
	if len(e.g.Nodes) == e.first {
		return errors.New("the operator wrote no node")
	}
	e.g.Nodes[len(e.g.Nodes)-1].Outputs[0] = e.out
	return nil
}

// Decoder reads the nodes of an ONNXGraph as layers (see Decode).
type Decoder struct {
	g     *ONNXGraph
	inits map[string]*ONNXInit
	used  map[string]bool
	// producer of each value: the index of the node writing it
	producer map[string]int
	// readers counts the nodes reading each value
	readers map[string]int
	next    int // the next node to decode
	shapes  map[string]Shape
}

// Decoded is one layer read from ONNX nodes: the layer (its Name and Inputs are set by Decode)
// and its tensors' values in the operator's order.
type Decoded struct {
	Layer   Layer
	Tensors [][]float32
}

// Init returns the initializer an input of a node names and marks it used; it is an error when
// the input is not an initializer or is used by another node.
func (d *Decoder) Init(name string) (*ONNXInit, error) {
	in, ok := d.inits[name]
	if !ok {
		return nil, fmt.Errorf("input %q is not an initializer", name)
	}
	if d.used[name] {
		return nil, fmt.Errorf("initializer %q is used twice", name)
	}
	d.used[name] = true
	return in, nil
}

// IsInit reports whether a node input names an initializer.
func (d *Decoder) IsInit(name string) bool { return d.inits[name] != nil }

// Const reads an initializer input holding one value (any shape of one element).
func (d *Decoder) Const(name string) (float32, error) {
	in, err := d.Init(name)
	if err != nil {
		return 0, err
	}
	if len(in.Values) != 1 {
		return 0, fmt.Errorf("initializer %q has %d values, want 1", name, len(in.Values))
	}
	return in.Values[0], nil
}

// Shape returns the per-sample shape of a value decoded so far.
func (d *Decoder) Shape(value string) (Shape, bool) {
	s, ok := d.shapes[value]
	return s, ok
}

// Follow returns the next node when it is of type op and its first input is value, the only
// reader of value: the second node of a layer written as two (a Flatten after a
// GlobalAveragePool). The node is then part of the layer being decoded.
func (d *Decoder) Follow(value, op string) (*ONNXNode, bool) {
	if d.next >= len(d.g.Nodes) {
		return nil, false
	}
	n := &d.g.Nodes[d.next]
	if n.Op != op || len(n.Inputs) == 0 || n.Inputs[0] != value || d.readers[value] != 1 {
		return nil, false
	}
	d.next++
	return n, true
}

// Readers is the number of nodes that read value.
func (d *Decoder) Readers(value string) int { return d.readers[value] }
