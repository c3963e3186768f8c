package direct

import (
	"errors"
	"fmt"
	"slices"

	"github.com/distillgo/distill/onnx/purego/internal/wire"
)

// ErrUnsupported is returned (wrapped) for a graph that is not a chain of the operators this
// package runs; the message names the operator or what is wrong.
var ErrUnsupported = errors.New("not supported by the direct runtime")

// step is one layer of the chain: its operator, the per-sample shape it produces and its
// parameters.
type step struct {
	op       string
	out      []int     // per-sample output shape
	w, b     []float32 // Gemm: w [in, out] (transposed at load when transB); Conv: w [f, c*k*k]
	k, s, p  int       // Conv, MaxPool: kernel, stride, pad
	in       []int     // per-sample input shape
	inPlace  bool      // Relu, Flatten, Identity, Dropout: no buffer of its own
	colElems int       // Conv: elements of the im2col buffer of one sample
}

// elems is the product of shape.
func elems(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// plan turns the graph into the chain of steps from input to output, checking every operator.
func plan(g *wire.Graph, input, output string, sample []int) ([]step, error) {
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
	var steps []step
	cur, shape := input, slices.Clone(sample)
	for _, n := range g.Nodes {
		if n.Op == "Cast" {
			if len(n.Inputs) != 1 || len(n.Outputs) != 1 || params[n.Inputs[0]] == nil || !one(n.Ints["to"], wire.DTFloat) {
				return nil, fmt.Errorf("%w: node %q: operator Cast (only an initializer's Cast to float32 is folded)", ErrUnsupported, n.Name)
			}
			params[n.Outputs[0]], dims[n.Outputs[0]] = params[n.Inputs[0]], dims[n.Inputs[0]]
			continue
		}
		if n.Op == "DequantizeLinear" {
			if err := dequantize(n, quant, params, dims); err != nil {
				return nil, err
			}
			continue
		}
		if len(n.Inputs) == 0 || n.Inputs[0] != cur || len(n.Outputs) != 1 {
			return nil, fmt.Errorf("%w: node %q (%s) does not continue a chain from %q", ErrUnsupported, n.Name, n.Op, cur)
		}
		st, err := newStep(n, shape, params, dims)
		if err != nil {
			return nil, err
		}
		steps = append(steps, st)
		cur, shape = n.Outputs[0], st.out
	}
	if len(steps) > 0 && steps[0].op == "Relu" {
		steps[0].inPlace = false // it must not write to the caller's input
	}
	if cur != output {
		return nil, fmt.Errorf("%w: the chain ends at %q, not the output %q", ErrUnsupported, cur, output)
	}
	return steps, nil
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
	sv := params[n.Inputs[1]]
	scale.FloatData = sv
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

// newStep checks node n, which reads a value of per-sample shape in, and returns its step.
func newStep(n wire.Node, in []int, params map[string][]float32, dims map[string][]int64) (step, error) {
	st := step{op: n.Op, in: in, out: in}
	bad := func(why string, args ...any) (step, error) {
		return step{}, fmt.Errorf("%w: node %q: %s %s", ErrUnsupported, n.Name, n.Op, fmt.Sprintf(why, args...))
	}
	switch n.Op {
	case "Relu", "Identity", "Dropout":
		st.inPlace = true
	case "Flatten":
		if attr(n, "axis", 1) != 1 {
			return bad("with axis %d", attr(n, "axis", 1))
		}
		st.inPlace, st.out = true, []int{elems(in)}
	case "Gemm":
		return gemmStep(st, n, params, dims, bad)
	case "Conv":
		return convStep(st, n, params, dims, bad)
	case "MaxPool":
		if err := window(&st, n, 0); err != nil {
			return bad("%v", err)
		}
	default:
		return bad("(operator not implemented)")
	}
	return st, nil
}

// gemmStep checks a Gemm y = x W + b on [N, in] values.
func gemmStep(st step, n wire.Node, params map[string][]float32, dims map[string][]int64, bad func(string, ...any) (step, error)) (step, error) {
	if len(st.in) != 1 || len(n.Inputs) < 2 || attr(n, "transA", 0) != 0 {
		return bad("on a sample of shape %v, %d inputs, transA %d: want [in], 2 or 3 inputs, transA 0", st.in, len(n.Inputs), attr(n, "transA", 0))
	}
	w, wd := params[n.Inputs[1]], dims[n.Inputs[1]]
	if len(wd) != 2 {
		return bad("weight %q is not a 2-D initializer", n.Inputs[1])
	}
	rows, cols := int(wd[0]), int(wd[1])
	if attr(n, "transB", 0) == 1 { // W given as [out, in]: store it [in, out]
		t := make([]float32, len(w))
		for i := range rows {
			for j := range cols {
				t[j*rows+i] = w[i*cols+j]
			}
		}
		w, rows, cols = t, cols, rows
	}
	if rows != st.in[0] {
		return bad("weight [%d %d] for %d inputs", rows, cols, st.in[0])
	}
	st.w, st.out = w, []int{cols}
	if len(n.Inputs) == 3 {
		if st.b = params[n.Inputs[2]]; len(st.b) != cols {
			return bad("bias %q of %d values for %d outputs", n.Inputs[2], len(st.b), cols)
		}
	}
	return st, nil
}

// convStep checks a Conv of weight [f, c, k, k] on [c, h, w] values.
func convStep(st step, n wire.Node, params map[string][]float32, dims map[string][]int64, bad func(string, ...any) (step, error)) (step, error) {
	if attr(n, "group", 1) != 1 || len(n.Inputs) < 2 || len(st.in) != 3 {
		return bad("with group %d on a sample of shape %v", attr(n, "group", 1), st.in)
	}
	for _, d := range n.Ints["dilations"] {
		if d != 1 {
			return bad("with dilations %v", n.Ints["dilations"])
		}
	}
	wd := dims[n.Inputs[1]]
	if len(wd) != 4 || int(wd[1]) != st.in[0] || wd[2] != wd[3] {
		return bad("weight %q of dims %v for a sample of shape %v", n.Inputs[1], wd, st.in)
	}
	if err := window(&st, n, int(wd[2])); err != nil {
		return bad("%v", err)
	}
	f := int(wd[0])
	st.w, st.out = params[n.Inputs[1]], []int{f, st.out[1], st.out[2]}
	if len(n.Inputs) == 3 {
		if st.b = params[n.Inputs[2]]; len(st.b) != f {
			return bad("bias of %d values for %d filters", len(st.b), f)
		}
	}
	st.colElems = st.in[0] * st.k * st.k * st.out[1] * st.out[2]
	return st, nil
}

// window reads the square kernel, stride and symmetric pad of a Conv or MaxPool (k > 0: the
// Conv's kernel from its weight) and sets st.k, st.s, st.p and the output shape.
func window(st *step, n wire.Node, k int) error {
	ks, ss, ps := n.Ints["kernel_shape"], n.Ints["strides"], n.Ints["pads"]
	if len(st.in) != 3 {
		return fmt.Errorf("on a sample of shape %v: want [c h w]", st.in)
	}
	switch {
	case len(ks) == 2 && ks[0] == ks[1] && (k == 0 || int(ks[0]) == k):
		k = int(ks[0])
	case len(ks) != 0 || k == 0:
		return fmt.Errorf("kernel_shape %v: want a square kernel", ks)
	}
	s := 1 // the ONNX default for Conv and MaxPool alike
	if len(ss) == 2 && ss[0] == ss[1] {
		s = int(ss[0])
	} else if len(ss) != 0 {
		return fmt.Errorf("strides %v: want equal strides", ss)
	}
	p := 0
	if len(ps) == 4 && ps[0] == ps[1] && ps[1] == ps[2] && ps[2] == ps[3] {
		p = int(ps[0])
	} else if len(ps) != 0 {
		return fmt.Errorf("pads %v: want equal pads", ps)
	}
	if s < 1 || p < 0 || p >= k {
		return fmt.Errorf("kernel %d, stride %d, pad %d", k, s, p)
	}
	h, w := (st.in[1]+2*p-k)/s+1, (st.in[2]+2*p-k)/s+1
	if h < 1 || w < 1 {
		return fmt.Errorf("kernel %d larger than the padded input %v", k, st.in)
	}
	st.k, st.s, st.p, st.out = k, s, p, []int{st.in[0], h, w}
	return nil
}
