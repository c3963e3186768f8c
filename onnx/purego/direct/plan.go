package direct

import (
	"errors"
	"fmt"
	"slices"

	"github.com/distillgo/distill/internal/nn"
	"github.com/distillgo/distill/onnx/purego/internal/wire"
)

// ErrUnsupported is returned (wrapped) for a graph this package cannot run; the message names
// the operator or what is wrong.
var ErrUnsupported = errors.New("not supported by the direct runtime")

// step is one layer of the network: its inference kernel, where it reads and what it writes.
type step struct {
	k       nn.InferKernel // nil for a view: the output is the input's values
	inputs  []int          // the steps it reads; -1: the sample
	inSize  []int          // per-sample values of each input
	outSize int            // per-sample values of its output
}

// plan turns the graph into steps: the nodes are read as layers by internal/nn's operators
// (nn.Decode) after the Cast and DequantizeLinear nodes of stored weights are folded into
// float32 initializers, and each layer gets its operator's inference kernel.
func plan(g *wire.Graph, io wire.IO, batch int) ([]step, int, error) {
	og, err := neutral(g, io)
	if err != nil {
		return nil, 0, err
	}
	spec, tensors, err := nn.Decode(og)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	gr, err := spec.Graph()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	configs := make([]nn.InferConfig, len(gr.Nodes))
	widest := nn.Shape(io.Sample).Size()
	for _, n := range gr.Nodes {
		c := nn.InferConfig{Layer: n.Layer, In: n.In, Out: n.Out, Batch: 1, Relu: gr.FusedRelu(n.Index)}
		for _, t := range n.Tensors {
			c.Tensors = append(c.Tensors, tensors[nn.TensorName(n.Index, t.Name)])
		}
		widest = max(widest, n.Out.Size())
		if s, ok := n.Op.(nn.Scratcher); ok {
			widest = max(widest, s.Scratch(c)) // a Conv's im2col buffer
		}
		configs[n.Index] = c
	}
	if widest > maxSampleElems {
		return nil, 0, fmt.Errorf("%w: a layer of %d values per sample (at most %d)", ErrUnsupported, widest, maxSampleElems)
	}
	batch = min(batch, max(1, maxRunElems/widest))
	steps := make([]step, len(gr.Nodes))
	for _, n := range gr.Nodes {
		st := step{inputs: n.Inputs, outSize: n.Out.Size()}
		for _, s := range n.In {
			st.inSize = append(st.inSize, s.Size())
		}
		v, isView := n.Op.(nn.Viewer)
		if !(isView && v.View(n.Layer, false)) && !gr.Fused(n.Index) {
			c := configs[n.Index]
			c.Batch = batch
			st.k = n.Op.Infer(c)
		}
		steps[n.Index] = st
	}
	return steps, batch, nil
}

// neutral returns g in internal/nn's ONNX form: float32 and float16 initializers as float32
// values, each Cast of an initializer to float32 and each DequantizeLinear of int8 or uint8
// initializers folded into an initializer named as the node's output, the other nodes as they
// are.
func neutral(g *wire.Graph, io wire.IO) (*nn.ONNXGraph, error) {
	og := &nn.ONNXGraph{Input: io.Input, Output: io.Output, InputShape: io.Sample, Classes: io.Classes}
	params := map[string][]float32{}
	dims := map[string][]int64{}
	quant := map[string]wire.Tensor{} // int8 and uint8 initializers, for DequantizeLinear
	for _, t := range g.Inits {
		if t.DType == wire.DTInt8 || t.DType == wire.DTUint8 {
			quant[t.Name] = t
			continue
		}
		v, err := t.Values()
		if err != nil {
			return nil, err
		}
		params[t.Name], dims[t.Name] = v, t.Dims
	}
	added := map[string]bool{}
	for _, n := range g.Nodes {
		if n.Domain != "" && n.Domain != "ai.onnx" {
			return nil, fmt.Errorf("%w: node %q: operator domain %q", ErrUnsupported, n.Name, n.Domain)
		}
		switch n.Op {
		case "Cast":
			if len(n.Inputs) != 1 || len(n.Outputs) != 1 || params[n.Inputs[0]] == nil || !one(n.Ints["to"], wire.DTFloat) {
				return nil, fmt.Errorf("%w: node %q: operator Cast (only an initializer's Cast to float32 is folded)", ErrUnsupported, n.Name)
			}
			params[n.Outputs[0]], dims[n.Outputs[0]] = params[n.Inputs[0]], dims[n.Inputs[0]]
			continue
		case "DequantizeLinear":
			if err := dequantize(n, quant, params, dims); err != nil {
				return nil, err
			}
			continue
		}
		nd := nn.ONNXNode{Name: n.Name, Op: n.Op, Inputs: slices.Clone(n.Inputs), Outputs: slices.Clone(n.Outputs)}
		for _, a := range n.Attrs {
			at := nn.ONNXAttr{Name: a.Name}
			switch {
			case a.Type == wire.AttrTypeFloat:
				at.Kind, at.F = nn.AttrFloat, a.F
			case a.Type == wire.AttrTypeString:
				at.Kind, at.S = nn.AttrString, a.S
			case a.Type == wire.AttrTypeInts || (a.Type == 0 && len(a.Ints) > 1):
				at.Kind, at.Ints = nn.AttrInts, a.Ints
			case len(a.Ints) == 1:
				at.Kind, at.Int = nn.AttrInt, a.Ints[0]
			default:
				return nil, fmt.Errorf("%w: node %q (%s): attribute %q of type %d", ErrUnsupported, n.Name, n.Op, a.Name, a.Type)
			}
			nd.Attrs = append(nd.Attrs, at)
		}
		for _, in := range n.Inputs {
			v, ok := params[in]
			if !ok || added[in] {
				continue
			}
			added[in] = true
			d := make([]int, len(dims[in]))
			for i, x := range dims[in] {
				d[i] = int(x)
			}
			og.Inits = append(og.Inits, nn.ONNXInit{Name: in, Dims: d, Values: v, ChannelAxis: -1})
		}
		og.Nodes = append(og.Nodes, nd)
	}
	return og, nil
}

// dequantize folds a DequantizeLinear of initializers (distill's int8 export: an int8 weight,
// float32 scales per output channel) into the float32 parameter named as its output.
func dequantize(n wire.Node, quant map[string]wire.Tensor, params map[string][]float32, dims map[string][]int64) error {
	bad := fmt.Errorf("%w: node %q: operator DequantizeLinear (only one of int8 or uint8 initializers is folded)", ErrUnsupported, n.Name)
	if len(n.Inputs) < 2 || len(n.Inputs) > 3 || len(n.Outputs) != 1 {
		return bad
	}
	x, ok := quant[n.Inputs[0]]
	if !ok || params[n.Inputs[1]] == nil {
		return bad
	}
	scale := wire.Tensor{Name: n.Inputs[1], DType: wire.DTFloat, Dims: dims[n.Inputs[1]]}
	var zp *wire.Tensor
	if len(n.Inputs) == 3 && n.Inputs[2] != "" {
		z, ok := quant[n.Inputs[2]]
		if !ok || z.DType != x.DType {
			return bad
		}
		zp = &z
	}
	scale.FloatData = params[n.Inputs[1]]
	delete(params, n.Inputs[1]) // read by this node only
	v, err := wire.Dequantize(x, scale, zp, attr(n, "axis", 1))
	if err != nil {
		return fmt.Errorf("node %q: %w", n.Name, err)
	}
	params[n.Outputs[0]], dims[n.Outputs[0]] = v, x.Dims
	return nil
}

func one(v []int64, want int64) bool { return len(v) == 1 && v[0] == want }

// attr returns node n's int attribute name, or def when it is absent.
func attr(n wire.Node, name string, def int64) int64 {
	if v := n.Ints[name]; len(v) == 1 {
		return v[0]
	}
	return def
}
