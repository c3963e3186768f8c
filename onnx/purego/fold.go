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

// checkOps refuses a graph with an operator gorgonnx lacks, and returns the Cast nodes to fold
// (by index): each must widen a float16 initializer to float32.
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
		case !supportedOps[n.Op]:
			return nil, fmt.Errorf("%w: %s: operator %s", ErrUnsupported, what, n.Op)
		case n.Op == "Conv" && len(n.Ints["group"]) > 0 && !equal(n.Ints["group"], 1):
			return nil, fmt.Errorf("%w: %s: Conv with group %v (gorgonnx ignores groups)", ErrUnsupported, what, n.Ints["group"])
		}
	}
	for _, n := range g.Nodes {
		if n.Op == "Cast" {
			continue
		}
		for _, in := range n.Inputs {
			if t := inits[in]; t != nil && t.DType == wire.DTFloat16 {
				return nil, fmt.Errorf("%w: float16 initializer %q read by %s node %q without a Cast", ErrUnsupported, in, n.Op, n.Name)
			}
		}
	}
	return folded, nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func equal(v []int64, want int64) bool { return len(v) == 1 && v[0] == want }

// foldCasts returns data with every folded Cast node removed and the float16 initializer it
// read replaced by a float32 initializer named as the Cast's output. Other fields keep their
// bytes, so nothing else of the model changes.
func foldCasts(data []byte, g *wire.Graph, folded map[int]bool) ([]byte, error) {
	if len(folded) == 0 {
		return data, nil
	}
	renamed := map[string]string{} // float16 initializer -> Cast output
	for i := range folded {
		renamed[g.Nodes[i].Inputs[0]] = g.Nodes[i].Outputs[0]
	}
	var out []byte
	err := wire.EachField(data, func(f wire.Field) error {
		if f.Num != wire.ModelGraph || f.Type != protowire.BytesType {
			out = append(out, f.Raw...)
			return nil
		}
		graph, err := foldGraph(f.B, renamed)
		out = protowire.AppendTag(out, wire.ModelGraph, protowire.BytesType)
		out = protowire.AppendBytes(out, graph)
		return err
	})
	return out, err
}

// foldGraph rewrites the GraphProto data: Cast nodes of the renamed initializers are dropped
// and those initializers widened to float32 under their Cast's output name.
func foldGraph(data []byte, renamed map[string]string) ([]byte, error) {
	var out []byte
	err := wire.EachField(data, func(f wire.Field) error {
		switch {
		case f.Num == wire.GraphNode && f.Type == protowire.BytesType:
			n, err := wire.ParseNode(f.B)
			if err != nil {
				return err
			}
			if n.Op == "Cast" && renamed[first(n.Inputs)] == first(n.Outputs) {
				return nil
			}
		case f.Num == wire.GraphInitializer && f.Type == protowire.BytesType:
			t, err := wire.ParseTensor(f.B)
			if err != nil {
				return err
			}
			if name, ok := renamed[t.Name]; ok {
				wide, err := widen(t, name)
				out = protowire.AppendTag(out, wire.GraphInitializer, protowire.BytesType)
				out = protowire.AppendBytes(out, wide)
				return err
			}
		}
		out = append(out, f.Raw...)
		return nil
	})
	return out, err
}

// widen returns the TensorProto bytes of float16 tensor t as float32 raw_data named name.
func widen(t wire.Tensor, name string) ([]byte, error) {
	vals, err := t.Values()
	if err != nil {
		return nil, err
	}
	raw := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	var dims []byte
	for _, d := range t.Dims {
		dims = protowire.AppendVarint(dims, uint64(d))
	}
	out := protowire.AppendTag(nil, wire.TensorDims, protowire.BytesType)
	out = protowire.AppendBytes(out, dims)
	out = protowire.AppendTag(out, wire.TensorDataType, protowire.VarintType)
	out = protowire.AppendVarint(out, wire.DTFloat)
	out = protowire.AppendTag(out, wire.TensorName, protowire.BytesType)
	out = protowire.AppendString(out, name)
	out = protowire.AppendTag(out, wire.TensorRawData, protowire.BytesType)
	return protowire.AppendBytes(out, raw), nil
}
