package nn

import "errors"

// avgpool averages each kernel×kernel window: fields kernel (> 0), stride (default kernel) and
// pad (default 0; padded positions count as zeros in the divisor, PyTorch's
// count_include_pad=True); input [channels, height, width]; ONNX AveragePool with
// count_include_pad 1.
type avgpool struct{}

func init() { Register(avgpool{}) }

func (avgpool) Type() string                                { return "avgpool" }
func (avgpool) Fields() []string                            { return []string{"kernel", "stride", "pad"} }
func (avgpool) Arity() (int, int)                           { return 1, 1 }
func (avgpool) ONNXOps() []string                           { return []string{"AveragePool"} }
func (avgpool) Tensors(*Layer, []Shape, Shape) []TensorSpec { return nil }

func (avgpool) Shape(l *Layer, in []Shape) (Shape, error) { return poolShape(l, in[0]) }

func (avgpool) Encode(e *Encoder, c EncodeConfig) error {
	e.Node("AveragePool", c.Inputs, append([]ONNXAttr{IntAttr("count_include_pad", 1)}, poolAttrs(c.Layer)...)...)
	return nil
}

// Decode reads a square average pool with ceil_mode 0 that counts padding in the divisor (or has
// none).
func (avgpool) Decode(_ *Decoder, n *ONNXNode) (Decoded, error) {
	cip, err := n.Int("count_include_pad", 0)
	if err != nil {
		return Decoded{}, err
	}
	l, err := decodePool(n)
	if err == nil && l.Pad != 0 && cip != 1 {
		err = errors.New("padding left out of the divisor (count_include_pad 0) is not supported")
	}
	return Decoded{Layer: l}, err
}

func (avgpool) Kernel(c KernelConfig) Kernel {
	return &avgPoolKernel{g: newPoolGeom(c.Batch, c.Layer, c.In[0], c.Out)}
}

// avgPoolKernel trains an average-pooling layer.
type avgPoolKernel struct{ g poolGeom }

func (k *avgPoolKernel) Forward(ins [][]float32, y []float32) {
	g := k.g
	in, out := g.h*g.w, g.oh*g.ow
	parallelRows(g.planes, in, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			g.avgPlane(ins[0][pl*in:(pl+1)*in], y[pl*out:(pl+1)*out])
		}
	})
}

// avgPlane averages one plane's windows into yp.
func (g poolGeom) avgPlane(xp, yp []float32) {
	inv := 1 / float32(g.k*g.k)
	for oy := range g.oh {
		for ox := range g.ow {
			var s float32
			for ki := range g.k {
				iy := oy*g.st + ki - g.pad
				if iy < 0 || iy >= g.h {
					continue
				}
				for kj := range g.k {
					if ix := ox*g.st + kj - g.pad; ix >= 0 && ix < g.w {
						s += xp[iy*g.w+ix]
					}
				}
			}
			yp[oy*g.ow+ox] = s * inv
		}
	}
}

// Backward spreads each upstream value evenly over its window.
func (k *avgPoolKernel) Backward(_ [][]float32, _, dy []float32, dins [][]float32) {
	g := k.g
	in, out := g.h*g.w, g.oh*g.ow
	inv := 1 / float32(g.k*g.k)
	parallelRows(g.planes, in, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			dx, gp := dins[0][pl*in:(pl+1)*in], dy[pl*out:(pl+1)*out]
			clear(dx)
			for oy := range g.oh {
				for ox := range g.ow {
					v := gp[oy*g.ow+ox] * inv
					for ki := range g.k {
						iy := oy*g.st + ki - g.pad
						if iy < 0 || iy >= g.h {
							continue
						}
						for kj := range g.k {
							if ix := ox*g.st + kj - g.pad; ix >= 0 && ix < g.w {
								dx[iy*g.w+ix] += v
							}
						}
					}
				}
			}
		}
	})
}

func (avgpool) Infer(c InferConfig) InferKernel {
	return &avgPoolInfer{g: newPoolGeom(1, c.Layer, c.In[0], c.Out)}
}

type avgPoolInfer struct{ g poolGeom }

func (k *avgPoolInfer) Run(_ Gemmer, ins [][]float32, y []float32, _ int) {
	in, out := k.g.h*k.g.w, k.g.oh*k.g.ow
	for pl := range len(y) / out {
		k.g.avgPlane(ins[0][pl*in:(pl+1)*in], y[pl*out:(pl+1)*out])
	}
}
