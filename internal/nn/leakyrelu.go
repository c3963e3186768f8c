package nn

import "math"

// leakyrelu is x for x > 0 and slope·x otherwise: field slope (default 0.01, PyTorch's
// negative_slope; a finite number); ONNX LeakyRelu (alpha).
func init() {
	Register(&activation{
		typ: "leakyrelu", fields: []string{"slope"}, ops: []string{"LeakyRelu"},
		check: func(l *Layer) error {
			if math.IsNaN(l.Slope) || math.IsInf(l.Slope, 0) {
				return fieldErr("slope", "must be a finite number, got %v", l.Slope)
			}
			return nil
		},
		f: func(l *Layer, x, out []float32) {
			a := float32(l.slope())
			for i, v := range x {
				if !(v > 0) {
					v *= a
				}
				out[i] = v
			}
		},
		df: func(l *Layer, x, _, g, dx []float32) {
			a := float32(l.slope())
			for i, v := range x {
				d := g[i]
				if !(v > 0) {
					d *= a
				}
				dx[i] = d
			}
		},
		encode: func(e *Encoder, c EncodeConfig) {
			e.Node("LeakyRelu", c.Inputs, FloatAttr("alpha", float32(c.Layer.slope())))
		},
		decode: func(_ *Decoder, n *ONNXNode) (Layer, error) {
			alpha, err := n.Float("alpha", 0.01)
			if err != nil {
				return Layer{}, err
			}
			var l Layer
			if alpha != float32(0.01) {
				l.Slope = float64(alpha)
				if alpha == 0 {
					l.Slope = math.SmallestNonzeroFloat64 // 0 means the default in a spec
				}
			}
			return l, oneInput(n)
		},
	})
}
