package nn

import "math"

// tanh is the hyperbolic tangent elementwise: no fields; ONNX Tanh.
func init() {
	Register(&activation{
		typ: "tanh", ops: []string{"Tanh"},
		f:      func(_ *Layer, x float64) float64 { return math.Tanh(x) },
		df:     func(_ *Layer, _, y float64) float64 { return 1 - y*y },
		encode: func(e *Encoder, c EncodeConfig) { e.Node("Tanh", c.Inputs) },
		decode: func(_ *Decoder, n *ONNXNode) (Layer, error) { return Layer{}, oneInput(n) },
	})
}
