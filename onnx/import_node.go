package onnx

import (
	"errors"
	"fmt"
	"math"
	"slices"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/distillgo/distill/internal/nn"
)

// importNodes decodes the nodes into g.Nodes and the initializers they read into g.Inits (in the
// order of first use), folding each Cast of a float16 initializer and each DequantizeLinear of an
// int8 one into the initializer it widens. Every initializer must be used, and in an Int8 graph
// every int8 one must hold exactly what QuantizeChannels makes of its dequantised values.
func importNodes(g *ExportGraph, nodes []*pb.NodeProto, inits map[string]*initializer) error {
	widened := map[string]*initializer{} // Cast and DequantizeLinear outputs
	added := map[string]bool{}
	for i, n := range nodes {
		where := fmt.Sprintf("node %d %q (%s)", i, n.GetName(), n.GetOpType())
		if n.GetDomain() != "" && n.GetDomain() != "ai.onnx" {
			return fmt.Errorf("%s: op domain %q is not supported", where, n.GetDomain())
		}
		if len(n.GetOutput()) != 1 || n.GetOutput()[0] == "" {
			return fmt.Errorf("%s: has %d outputs, want 1", where, len(n.GetOutput()))
		}
		out := n.GetOutput()[0]
		if _, ok := inits[out]; ok {
			return fmt.Errorf("%s: output %q shadows an initializer", where, out)
		}
		attrs, err := nodeAttrs(n)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		switch n.GetOpType() {
		case "Cast":
			err = cast(n, attrsOf(n), inits, widened)
		case "DequantizeLinear":
			err = dequantize(n, attrsOf(n), inits, widened)
		default:
			err = addNode(g, n, attrs, inits, widened, added)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	for name, in := range inits {
		if !in.used {
			return fmt.Errorf("initializer %q is not used", name)
		}
	}
	if len(widened) > 0 {
		return errors.New("a Cast or DequantizeLinear output is not used")
	}
	return nil
}

// addNode appends an operator node, its inputs that are (widened) initializers renamed to the
// initializer and added to g.Inits on first use.
func addNode(g *ExportGraph, n *pb.NodeProto, attrs []nn.ONNXAttr, inits, widened map[string]*initializer, added map[string]bool) error {
	nd := nn.ONNXNode{Name: n.GetName(), Op: n.GetOpType(), Inputs: slices.Clone(n.GetInput()), Outputs: slices.Clone(n.GetOutput()), Attrs: attrs}
	for k, name := range nd.Inputs {
		in, isWidened := widened[name]
		if isWidened {
			delete(widened, name)
		} else if in = inits[name]; in == nil {
			continue
		} else {
			switch {
			case in.fp16:
				return fmt.Errorf("float16 initializer %q used without a Cast", name)
			case in.int8:
				return fmt.Errorf("int8 initializer %q used without a DequantizeLinear", name)
			case in.used:
				return fmt.Errorf("initializer %q used twice", name)
			}
			in.used = true
		}
		if added[in.name] {
			return fmt.Errorf("initializer %q used twice", in.name)
		}
		added[in.name] = true
		nd.Inputs[k] = in.name
		axis := -1
		if in.deq != nil {
			if err := checkInt8Weight(in); err != nil {
				return err
			}
			axis = in.deq.axis
		}
		g.Inits = append(g.Inits, nn.ONNXInit{Name: in.name, Dims: in.dims, Values: in.values, ChannelAxis: axis})
	}
	g.Nodes = append(g.Nodes, nd)
	return nil
}

// cast records a Cast node that widens a float16 initializer to float.
func cast(n *pb.NodeProto, a attrMap, inits, widened map[string]*initializer) error {
	if len(n.GetInput()) != 1 {
		return errors.New("want 1 input")
	}
	to, err := a.int("to", -1)
	if err != nil {
		return err
	}
	if err := a.leftover(); err != nil {
		return err
	}
	in, ok := inits[n.GetInput()[0]]
	if !ok || !in.fp16 || to != int64(pb.TensorProto_FLOAT) {
		return errors.New("only casts of float16 initializers to float are supported")
	}
	if in.used {
		return fmt.Errorf("initializer %q cast twice", n.GetInput()[0])
	}
	if _, dup := widened[n.GetOutput()[0]]; dup {
		return fmt.Errorf("output %q is defined twice", n.GetOutput()[0])
	}
	in.used = true
	widened[n.GetOutput()[0]] = in
	return nil
}

// dequantized is what a DequantizeLinear node made of an int8 initializer: its values, scales and
// channel axis, kept so that the import can check the form Export writes.
type dequantized struct {
	q      []int8
	scales []float32
	axis   int
}

// dequantize records a DequantizeLinear node of an int8 initializer (inputs: the int8 values, the
// float32 scales along axis, and an optional zero point, which must be all zeros) as the
// dequantised float32 weight it yields, under the int8 initializer's name.
func dequantize(n *pb.NodeProto, a attrMap, inits, widened map[string]*initializer) error {
	if len(n.GetInput()) < 2 || len(n.GetInput()) > 3 {
		return fmt.Errorf("has %d inputs, want 2 or 3", len(n.GetInput()))
	}
	axis, err := a.int("axis", 1)
	if err != nil {
		return err
	}
	if err := a.leftover(); err != nil {
		return err
	}
	in := n.GetInput()
	q, ok := inits[in[0]]
	if !ok || !q.int8 || q.used {
		return fmt.Errorf("input %q is not an unused int8 initializer", in[0])
	}
	if axis < 0 || axis >= int64(len(q.dims)) {
		return fmt.Errorf("axis %d out of range for shape %v", axis, q.dims)
	}
	scale, ok := inits[in[1]]
	if !ok || scale.int8 || scale.fp16 || scale.used || !slices.Equal(scale.dims, []int{q.dims[axis]}) {
		return fmt.Errorf("scale %q is not an unused float32 initializer of shape [%d]", in[1], q.dims[axis])
	}
	if len(in) == 3 {
		zp, ok := inits[in[2]]
		if !ok || !zp.int8 || zp.used || !slices.Equal(zp.dims, scale.dims) || slices.ContainsFunc(zp.values, func(v float32) bool { return v != 0 }) {
			return fmt.Errorf("zero point %q is not an unused int8 initializer of zeros shaped like the scale", in[2])
		}
		zp.used = true
	}
	out := n.GetOutput()[0]
	if _, dup := widened[out]; dup {
		return fmt.Errorf("output %q is defined twice", out)
	}
	q.used, scale.used = true, true
	d := &dequantized{q: make([]int8, len(q.values)), scales: scale.values, axis: int(axis)}
	for i, v := range q.values {
		d.q[i] = int8(v)
	}
	_, _, inner := channelLayout(q.dims, d.axis)
	widened[out] = &initializer{name: q.name, dims: q.dims, values: DequantizeChannels(d.q, d.scales, 0, inner), deq: d, used: true}
	return nil
}

// checkInt8Weight checks that a dequantised weight holds exactly the values and scales
// QuantizeChannels gives for its dequantised values, so that a re-export reproduces the file.
func checkInt8Weight(w *initializer) error {
	rows, channels, inner := channelLayout(w.dims, w.deq.axis)
	q, scales, err := QuantizeChannels(w.values, rows, channels, inner)
	if err != nil {
		return fmt.Errorf("weight: %w", err)
	}
	for c, s := range scales {
		if math.Float32bits(s) != math.Float32bits(w.deq.scales[c]) {
			return fmt.Errorf("channel %d has scale %v, not the %v distill's quantiser gives", c, w.deq.scales[c], s)
		}
	}
	if !slices.Equal(q, w.deq.q) {
		return errors.New("int8 values are not those distill's quantiser gives for their scales")
	}
	return nil
}

// attrMap is a node's attributes by name, for the Cast and DequantizeLinear readers, which delete
// each attribute they read so that leftover can report any they do not know.
type attrMap map[string]*pb.AttributeProto

// nodeAttrs returns n's attributes in the neutral form (in file order) and as an attrMap; a name
// given twice, or a type other than INT, INTS, FLOAT and STRING, is an error.
func nodeAttrs(n *pb.NodeProto) ([]nn.ONNXAttr, error) {
	var out []nn.ONNXAttr
	seen := map[string]bool{}
	for _, at := range n.GetAttribute() {
		if seen[at.GetName()] {
			return nil, fmt.Errorf("attribute %q appears twice", at.GetName())
		}
		seen[at.GetName()] = true
		a := nn.ONNXAttr{Name: at.GetName()}
		switch at.GetType() {
		case pb.AttributeProto_INT:
			a.Kind, a.Int = nn.AttrInt, at.GetI()
		case pb.AttributeProto_INTS:
			a.Kind, a.Ints = nn.AttrInts, slices.Clone(at.GetInts())
		case pb.AttributeProto_FLOAT:
			a.Kind, a.F = nn.AttrFloat, at.GetF()
		case pb.AttributeProto_STRING:
			a.Kind, a.S = nn.AttrString, string(at.GetS())
		default:
			return nil, fmt.Errorf("attribute %q has type %v, which is not supported", at.GetName(), at.GetType())
		}
		out = append(out, a)
	}
	return out, nil
}

// attrsOf returns n's attributes as an attrMap.
func attrsOf(n *pb.NodeProto) attrMap {
	a := attrMap{}
	for _, at := range n.GetAttribute() {
		a[at.GetName()] = at
	}
	return a
}

// int returns an INT attribute's value, or def when it is absent.
func (a attrMap) int(name string, def int64) (int64, error) {
	at, ok := a[name]
	if !ok {
		return def, nil
	}
	delete(a, name)
	if at.GetType() != pb.AttributeProto_INT {
		return 0, fmt.Errorf("attribute %q: want INT, got %v", name, at.GetType())
	}
	return at.GetI(), nil
}

// leftover reports an attribute that no reader took (the first by name), or nil.
func (a attrMap) leftover() error {
	if len(a) == 0 {
		return nil
	}
	names := make([]string, 0, len(a))
	for name := range a {
		names = append(names, name)
	}
	return fmt.Errorf("attribute %q is not supported", slices.Min(names))
}
