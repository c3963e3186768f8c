package nn

import "math"

// tanh is the hyperbolic tangent elementwise: no fields; ONNX Tanh.
func init() {
	Register(&activation{
		typ: "tanh", ops: []string{"Tanh"},
		f: func(_ *Layer, x, out []float32) {
			for i, v := range x {
				out[i] = float32(math.Tanh(float64(v)))
			}
		},
		df: func(_ *Layer, _, y, g, dx []float32) {
			for i, v := range y {
				dx[i] = g[i] * (1 - v*v)
			}
		},
		encode: func(e *Encoder, c EncodeConfig) { e.Node("Tanh", c.Inputs) },
		decode: func(_ *Decoder, n *ONNXNode) (Layer, error) { return Layer{}, oneInput(n) },
	})
}
