package purego

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/distillgo/distill/onnx/purego/internal/wire"
)

// ErrUnsupported is returned (wrapped) for a model this package cannot run: an operator
// gorgonnx does not implement (the message names it), a Conv with groups, a Cast that is not a
// float16 initializer's, or an input that is not one float32 tensor with a dynamic batch axis.
var ErrUnsupported = errors.New("not supported by the pure-Go runtime")

// supportedOps are the operators gorgonnx v0.5.0 registers (backend/x/gorgonnx, register calls).
// Cast is not among them; Load folds the Casts of float16 initializers away.
var supportedOps = map[string]bool{
	"Abs": true, "Add": true, "BatchNormalization": true, "Ceil": true, "Concat": true,
	"Constant": true, "Conv": true, "Cos": true, "Cube": true, "Div": true, "Dropout": true,
	"Exp": true, "Flatten": true, "Floor": true, "Gemm": true, "GlobalAveragePool": true,
	"Identity": true, "ImageScaler": true, "Inverse": true, "LeakyRelu": true, "Log": true,
	"MatMul": true, "Max": true, "MaxPool": true, "Min": true, "Mul": true, "Neg": true,
	"Relu": true, "Reshape": true, "Sigmoid": true, "Sign": true, "Sin": true, "Softmax": true,
	"Softplus": true, "Sqrt": true, "Square": true, "Squeeze": true, "Sub": true, "Tanh": true,
	"Transpose": true, "Unsqueeze": true,
}

// checkOps refuses a graph with an operator gorgonnx lacks, and returns the nodes to fold (by
// index): Casts that widen a float16 initializer to float32, and DequantizeLinear nodes of int8
// or uint8 initializers (distill's int8 export).
func checkOps(g *wire.Graph) (map[int]bool, error) {
	inits := map[string]*wire.Tensor{}
	for i := range g.Inits {
		inits[g.Inits[i].Name] = &g.Inits[i]
	}
	for _, t := range g.Inits {
		if err := t.Check(); err != nil { // onnx-go would allocate or index by the dims
			return nil, err
		}
	}
	readers := map[string]int{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			readers[in]++
		}
	}
	for _, in := range g.Inputs {
		readers[in.Name]++ // the caller's samples: never to be written
	}
	folded := map[int]bool{}
	for i, n := range g.Nodes {
		what := fmt.Sprintf("node %q", n.Name)
		if n.Domain != "" && n.Domain != "ai.onnx" {
			return nil, fmt.Errorf("%w: %s: operator %s of domain %q", ErrUnsupported, what, n.Op, n.Domain)
		}
		switch {
		case n.Op == "Cast":
			t := inits[first(n.Inputs)]
			if t == nil || t.DType != wire.DTFloat16 || len(n.Outputs) != 1 || !equal(n.Ints["to"], wire.DTFloat) {
				return nil, fmt.Errorf("%w: %s: operator Cast (only a float16 initializer's Cast to float32 is folded away)", ErrUnsupported, what)
			}
			folded[i] = true
		case n.Op == "DequantizeLinear":
			if len(n.Inputs) < 2 || len(n.Outputs) != 1 || !allInits(n.Inputs, inits) {
				return nil, fmt.Errorf("%w: %s: operator DequantizeLinear (only one of initializers is folded away)", ErrUnsupported, what)
			}
			folded[i] = true
		case !supportedOps[n.Op]:
			return nil, fmt.Errorf("%w: %s: operator %s", ErrUnsupported, what, n.Op)
		case n.Op == "Conv" && len(n.Ints["group"]) > 0 && !equal(n.Ints["group"], 1):
			return nil, fmt.Errorf("%w: %s: Conv with group %v (gorgonnx ignores groups)", ErrUnsupported, what, n.Ints["group"])
		case n.Op == "Gemm" && len(n.Inputs) < 3:
			return nil, fmt.Errorf("%w: %s: Gemm without a bias (gorgonnx needs three inputs)", ErrUnsupported, what)
		case n.Op == "LeakyRelu" && readers[first(n.Inputs)] > 1:
			// gorgonnx's LeakyRelu overwrites its input: another reader of it (a residual's add,
			// or the caller, for the graph's input) would see the activations instead.
			return nil, fmt.Errorf("%w: %s: LeakyRelu of a value another node reads (gorgonnx overwrites its input)", ErrUnsupported, what)
		case n.Op == "Concat":
			// gorgonnx v0.5.0 joins distill's channel concatenations wrongly (the conformance
			// fixture nn_concat-branches.onnx gives logits off by 15): refuse it.
			return nil, fmt.Errorf("%w: %s: operator Concat (gorgonnx computes it wrongly)", ErrUnsupported, what)
		}
	}
	for i, n := range g.Nodes {
		if folded[i] {
			continue
		}
		for _, in := range n.Inputs {
			if t := inits[in]; t != nil && (t.DType == wire.DTFloat16 || t.DType == wire.DTInt8 || t.DType == wire.DTUint8) {
				return nil, fmt.Errorf("%w: initializer %q of type %d read by %s node %q (gorgonnx has no float16 or int8 arithmetic)", ErrUnsupported, in, t.DType, n.Op, n.Name)
			}
		}
	}
	return folded, nil
}

// allInits reports whether every non-empty name is an initializer.
func allInits(names []string, inits map[string]*wire.Tensor) bool {
	for _, name := range names {
		if name != "" && inits[name] == nil {
			return false
		}
	}
	return true
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func equal(v []int64, want int64) bool { return len(v) == 1 && v[0] == want }

// folding is how foldWeights rewrites a graph: the folded nodes' outputs, the float32 values
// that replace each folded node's first input (under the node's output name), and the other
// initializers the folded nodes read (scales, zero points), which are dropped.
type folding struct {
	outputs map[string]bool
	repl    map[string]replacement
	drop    map[string]bool
}

// replacement is a float32 initializer that replaces a folded node's input.
type replacement struct {
	name string
	dims []int64
	vals []float32
}

// foldWeights returns data with every folded node removed and the initializer it read replaced
// by a float32 initializer named as the node's output. Other fields keep their bytes, so
// nothing else of the model changes.
func foldWeights(data []byte, g *wire.Graph, folded map[int]bool) ([]byte, error) {
	if len(folded) == 0 {
		return data, nil
	}
	inits := map[string]wire.Tensor{}
	for _, t := range g.Inits {
		inits[t.Name] = t
	}
	fd := folding{outputs: map[string]bool{}, repl: map[string]replacement{}, drop: map[string]bool{}}
	for i := range folded {
		n := g.Nodes[i]
		x := inits[n.Inputs[0]]
		var vals []float32
		var err error
		if n.Op == "Cast" {
			vals, err = x.Values()
		} else {
			vals, err = dequantize(n, inits)
			for _, in := range n.Inputs[1:] {
				fd.drop[in] = true
			}
		}
		if err != nil {
			return nil, fmt.Errorf("fold node %q (%s): %w", n.Name, n.Op, err)
		}
		fd.outputs[n.Outputs[0]] = true
		fd.repl[x.Name] = replacement{name: n.Outputs[0], dims: x.Dims, vals: vals}
	}
	var out []byte
	err := wire.EachField(data, func(f wire.Field) error {
		if f.Num != wire.ModelGraph || f.Type != protowire.BytesType {
			out = append(out, f.Raw...)
			return nil
		}
		graph, err := foldGraph(f.B, fd)
		out = protowire.AppendTag(out, wire.ModelGraph, protowire.BytesType)
		out = protowire.AppendBytes(out, graph)
		return err
	})
	return out, err
}

// dequantize returns the values of DequantizeLinear node n of initializers.
func dequantize(n wire.Node, inits map[string]wire.Tensor) ([]float32, error) {
	var zp *wire.Tensor
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		z := inits[n.Inputs[2]]
		zp = &z
	}
	axis := int64(1)
	if v := n.Ints["axis"]; len(v) == 1 {
		axis = v[0]
	}
	return wire.Dequantize(inits[n.Inputs[0]], inits[n.Inputs[1]], zp, axis)
}

// foldGraph rewrites the GraphProto data as fd says.
func foldGraph(data []byte, fd folding) ([]byte, error) {
	var out []byte
	err := wire.EachField(data, func(f wire.Field) error {
		switch {
		case f.Num == wire.GraphNode && f.Type == protowire.BytesType:
			n, err := wire.ParseNode(f.B)
			if err != nil {
				return err
			}
			if (n.Op == "Cast" || n.Op == "DequantizeLinear") && fd.outputs[first(n.Outputs)] {
				return nil
			}
		case f.Num == wire.GraphInitializer && f.Type == protowire.BytesType:
			t, err := wire.ParseTensor(f.B)
			if err != nil {
				return err
			}
			if r, ok := fd.repl[t.Name]; ok {
				out = protowire.AppendTag(out, wire.GraphInitializer, protowire.BytesType)
				out = protowire.AppendBytes(out, floatTensor(r))
				return nil
			}
			if fd.drop[t.Name] {
				return nil
			}
		}
		out = append(out, f.Raw...)
		return nil
	})
	return out, err
}

// floatTensor returns the TensorProto bytes of r as float32 raw_data.
func floatTensor(r replacement) []byte {
	raw := make([]byte, 4*len(r.vals))
	for i, v := range r.vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	var dims []byte
	for _, d := range r.dims {
		dims = protowire.AppendVarint(dims, uint64(d))
	}
	out := protowire.AppendTag(nil, wire.TensorDims, protowire.BytesType)
	out = protowire.AppendBytes(out, dims)
	out = protowire.AppendTag(out, wire.TensorDataType, protowire.VarintType)
	out = protowire.AppendVarint(out, wire.DTFloat)
	out = protowire.AppendTag(out, wire.TensorName, protowire.BytesType)
	out = protowire.AppendString(out, r.name)
	out = protowire.AppendTag(out, wire.TensorRawData, protowire.BytesType)
	return protowire.AppendBytes(out, raw)
}
