package nn

import (
	"errors"
	"fmt"
	"math"
)

// gelu is x·Φ(x) elementwise, Φ the standard normal distribution function (Hendrycks and Gimpel
// 2016; PyTorch's exact form, not the tanh approximation): no fields; ONNX nodes that opset 13
// has (Gelu itself came in opset 20): Div by √2, Erf, Add 1, Mul by x, Mul by 1/2.
func init() {
	Register(&activation{
		typ: "gelu", ops: []string{"Div"},
		f: func(_ *Layer, x, out []float32) {
			for i, v := range x {
				x := float64(v)
				out[i] = float32(0.5 * x * (1 + math.Erf(x/math.Sqrt2)))
			}
		},
		df: func(_ *Layer, x, _, g, dx []float32) {
			for i, v := range x {
				x := float64(v)
				dx[i] = g[i] * float32(0.5*(1+math.Erf(x/math.Sqrt2))+x*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi))
			}
		},
		encode: func(e *Encoder, c EncodeConfig) {
			x := c.Inputs[0]
			t := e.Node("Div", []string{x, e.Const("sqrt2", nil, math.Sqrt2)})
			t = e.Node("Erf", []string{t})
			t = e.Node("Add", []string{t, e.Const("one", nil, 1)})
			t = e.Node("Mul", []string{t, x})
			e.Node("Mul", []string{t, e.Const("half", nil, 0.5)})
		},
		decode: decodeGelu,
	})
}

// decodeGelu reads the five nodes gelu writes.
func decodeGelu(d *Decoder, n *ONNXNode) (Layer, error) {
	bad := errors.New("only a Div that starts a gelu (Div by √2, Erf, Add 1, Mul by the input, Mul by 1/2) is supported")
	if len(n.Inputs) != 2 || !d.IsInit(n.Inputs[1]) {
		return Layer{}, bad
	}
	x := n.Inputs[0]
	consts := []struct {
		name string
		want float32
	}{{n.Inputs[1], math.Sqrt2}}
	cur := n.Outputs[0]
	for _, step := range []struct {
		op    string
		other string // the second input: "x", a constant's value, or "" for none
		value float32
	}{{"Erf", "", 0}, {"Add", "const", 1}, {"Mul", "x", 0}, {"Mul", "const", 0.5}} {
		m, ok := d.Follow(cur, step.op)
		if !ok {
			return Layer{}, bad
		}
		switch step.other {
		case "":
			if len(m.Inputs) != 1 {
				return Layer{}, bad
			}
		case "x":
			if len(m.Inputs) != 2 || m.Inputs[1] != x {
				return Layer{}, bad
			}
		default:
			if len(m.Inputs) != 2 || !d.IsInit(m.Inputs[1]) {
				return Layer{}, bad
			}
			consts = append(consts, struct {
				name string
				want float32
			}{m.Inputs[1], step.value})
		}
		cur = m.Outputs[0]
	}
	for _, c := range consts {
		v, err := d.Const(c.name)
		if err != nil {
			return Layer{}, err
		}
		// An fp16 export stores the constants rounded to 11 significant bits.
		if math.Abs(float64(v-c.want)) > 1e-3*float64(c.want) {
			return Layer{}, fmt.Errorf("gelu constant %q is %v, want %v", c.name, v, c.want)
		}
	}
	return Layer{}, nil
}
