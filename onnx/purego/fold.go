package purego

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/x448/float16"
	"google.golang.org/protobuf/encoding/protowire"
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
func checkOps(g *graphProto) (map[int]bool, error) {
	inits := map[string]*tensorProto{}
	for i := range g.inits {
		inits[g.inits[i].name] = &g.inits[i]
	}
	folded := map[int]bool{}
	for i, n := range g.nodes {
		what := fmt.Sprintf("node %q", n.name)
		if n.domain != "" && n.domain != "ai.onnx" {
			return nil, fmt.Errorf("%w: %s: operator %s of domain %q", ErrUnsupported, what, n.op, n.domain)
		}
		switch {
		case n.op == "Cast":
			t := inits[first(n.inputs)]
			if t == nil || t.dtype != dtFloat16 || len(n.outputs) != 1 || !equal(n.ints["to"], dtFloat) {
				return nil, fmt.Errorf("%w: %s: operator Cast (only a float16 initializer's Cast to float32 is folded away)", ErrUnsupported, what)
			}
			folded[i] = true
		case !supportedOps[n.op]:
			return nil, fmt.Errorf("%w: %s: operator %s", ErrUnsupported, what, n.op)
		case n.op == "Conv" && len(n.ints["group"]) > 0 && !equal(n.ints["group"], 1):
			return nil, fmt.Errorf("%w: %s: Conv with group %v (gorgonnx ignores groups)", ErrUnsupported, what, n.ints["group"])
		}
	}
	for _, n := range g.nodes {
		if n.op == "Cast" {
			continue
		}
		for _, in := range n.inputs {
			if t := inits[in]; t != nil && t.dtype == dtFloat16 {
				return nil, fmt.Errorf("%w: float16 initializer %q read by %s node %q without a Cast", ErrUnsupported, in, n.op, n.name)
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
func foldCasts(data []byte, g *graphProto, folded map[int]bool) ([]byte, error) {
	if len(folded) == 0 {
		return data, nil
	}
	renamed := map[string]string{} // float16 initializer -> Cast output
	for i := range folded {
		renamed[g.nodes[i].inputs[0]] = g.nodes[i].outputs[0]
	}
	var out []byte
	err := eachField(data, func(f field) error {
		if f.num != modelGraph || f.typ != protowire.BytesType {
			out = append(out, f.raw...)
			return nil
		}
		graph, err := foldGraph(f.b, renamed)
		out = protowire.AppendTag(out, modelGraph, protowire.BytesType)
		out = protowire.AppendBytes(out, graph)
		return err
	})
	return out, err
}

// foldGraph rewrites the GraphProto data: Cast nodes of the renamed initializers are dropped
// and those initializers widened to float32 under their Cast's output name.
func foldGraph(data []byte, renamed map[string]string) ([]byte, error) {
	var out []byte
	err := eachField(data, func(f field) error {
		switch {
		case f.num == graphNode && f.typ == protowire.BytesType:
			n, err := parseNode(f.b)
			if err != nil {
				return err
			}
			if n.op == "Cast" && renamed[first(n.inputs)] == first(n.outputs) {
				return nil
			}
		case f.num == graphInitializer && f.typ == protowire.BytesType:
			t, err := parseTensor(f.b)
			if err != nil {
				return err
			}
			if name, ok := renamed[t.name]; ok {
				wide, err := widen(t, name)
				out = protowire.AppendTag(out, graphInitializer, protowire.BytesType)
				out = protowire.AppendBytes(out, wide)
				return err
			}
		}
		out = append(out, f.raw...)
		return nil
	})
	return out, err
}

// widen returns the TensorProto bytes of float16 tensor t as float32 raw_data named name.
func widen(t tensorProto, name string) ([]byte, error) {
	if t.external {
		return nil, fmt.Errorf("%w: initializer %q has external data", ErrUnsupported, t.name)
	}
	size := int64(1)
	for _, d := range t.dims {
		if d < 0 || d > math.MaxInt32 || size*d > math.MaxInt32 {
			return nil, fmt.Errorf("%w: initializer %q has dims %v", errMalformed, t.name, t.dims)
		}
		size *= d
	}
	var bits []uint16
	switch {
	case int64(len(t.raw)) == 2*size:
		for i := range size {
			bits = append(bits, binary.LittleEndian.Uint16(t.raw[2*i:]))
		}
	case t.raw == nil && int64(len(t.int32s)) == size:
		for _, v := range t.int32s {
			bits = append(bits, uint16(v))
		}
	default:
		return nil, fmt.Errorf("%w: float16 initializer %q holds %d bytes for %d values", errMalformed, t.name, len(t.raw), size)
	}
	raw := make([]byte, 4*len(bits))
	for i, b := range bits {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float16.Frombits(b).Float32()))
	}
	var out []byte
	out = protowire.AppendTag(out, tensorDims, protowire.BytesType)
	var dims []byte
	for _, d := range t.dims {
		dims = protowire.AppendVarint(dims, uint64(d))
	}
	out = protowire.AppendBytes(out, dims)
	out = protowire.AppendTag(out, tensorDataType, protowire.VarintType)
	out = protowire.AppendVarint(out, dtFloat)
	out = protowire.AppendTag(out, tensorName, protowire.BytesType)
	out = protowire.AppendString(out, name)
	out = protowire.AppendTag(out, tensorRawData, protowire.BytesType)
	return protowire.AppendBytes(out, raw), nil
}
