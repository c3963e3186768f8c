package nn

import "errors"

// hardswish is x·relu6(x + 3)/6 elementwise (Howard et al. 2019, MobileNetV3): no fields; ONNX
// HardSigmoid (alpha 1/6, beta 1/2) then Mul by x, which opset 13 has (HardSwish itself came in
// opset 14).
func init() {
	Register(&activation{
		typ: "hardswish", ops: []string{"HardSigmoid"},
		f:  func(_ *Layer, x, out []float32) { vec.Hardswish(x, out) },
		df: func(_ *Layer, x, _, g, dx []float32) { vec.HardswishGrad(x, g, dx) },
		encode: func(e *Encoder, c EncodeConfig) {
			hs := e.Node("HardSigmoid", c.Inputs, FloatAttr("alpha", 1.0/6), FloatAttr("beta", 0.5))
			e.Node("Mul", []string{hs, c.Inputs[0]})
		},
		decode: func(d *Decoder, n *ONNXNode) (Layer, error) {
			if err := oneInput(n); err != nil {
				return Layer{}, err
			}
			alpha, err := n.Float("alpha", 0.2)
			if err != nil {
				return Layer{}, err
			}
			beta, err := n.Float("beta", 0.5)
			if err != nil {
				return Layer{}, err
			}
			if alpha != float32(1.0/6) || beta != 0.5 {
				return Layer{}, errors.New("only the HardSigmoid of a hardswish (alpha 1/6, beta 1/2, then a Mul by its input) is supported")
			}
			m, ok := d.Follow(n.Outputs[0], "Mul")
			if !ok || len(m.Inputs) != 2 || m.Inputs[1] != n.Inputs[0] {
				return Layer{}, errors.New("only the HardSigmoid of a hardswish (then a Mul by its input) is supported")
			}
			return Layer{}, nil
		},
	})
}
