package nn

import "math"

// sigmoid is 1/(1 + exp(−x)) elementwise: no fields; ONNX Sigmoid.
func init() {
	Register(&activation{
		typ: "sigmoid", ops: []string{"Sigmoid"},
		f: func(_ *Layer, x, out []float32) {
			for i, v := range x {
				out[i] = float32(1 / (1 + math.Exp(-float64(v))))
			}
		},
		df: func(_ *Layer, _, y, g, dx []float32) {
			for i, v := range y {
				dx[i] = g[i] * v * (1 - v)
			}
		},
		encode: func(e *Encoder, c EncodeConfig) { e.Node("Sigmoid", c.Inputs) },
		decode: func(_ *Decoder, n *ONNXNode) (Layer, error) { return Layer{}, oneInput(n) },
	})
}
