package nn

import "math"

// sigmoid is 1/(1 + exp(−x)) elementwise: no fields; ONNX Sigmoid.
func init() {
	Register(&activation{
		typ: "sigmoid", ops: []string{"Sigmoid"},
		f:      func(_ *Layer, x float64) float64 { return 1 / (1 + math.Exp(-x)) },
		df:     func(_ *Layer, _, y float64) float64 { return y * (1 - y) },
		encode: func(e *Encoder, c EncodeConfig) { e.Node("Sigmoid", c.Inputs) },
		decode: func(_ *Decoder, n *ONNXNode) (Layer, error) { return Layer{}, oneInput(n) },
	})
}
