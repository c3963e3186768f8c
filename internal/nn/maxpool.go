package nn

import (
	"errors"
	"fmt"
	"math"
)

// maxpool takes the maximum of each kernel×kernel window: fields kernel (> 0), stride (default
// kernel) and pad (default 0; padding never wins); input [channels, height, width]; ONNX MaxPool.
// Training records each window's argmax (the first of equal maxima in row-major order), and the
// gradient goes to it.
type maxpool struct{}

func init() { Register(maxpool{}) }

func (maxpool) Type() string                                { return "maxpool" }
func (maxpool) Fields() []string                            { return []string{"kernel", "stride", "pad"} }
func (maxpool) Arity() (int, int)                           { return 1, 1 }
func (maxpool) ONNXOps() []string                           { return []string{"MaxPool"} }
func (maxpool) Tensors(*Layer, []Shape, Shape) []TensorSpec { return nil }

func (maxpool) Shape(l *Layer, in []Shape) (Shape, error) { return poolShape(l, in[0]) }

func (maxpool) Encode(e *Encoder, c EncodeConfig) error {
	e.Node("MaxPool", c.Inputs, poolAttrs(c.Layer)...)
	return nil
}

// Decode reads a square max pool with the default ceil_mode, dilation and storage order.
func (maxpool) Decode(_ *Decoder, n *ONNXNode) (Decoded, error) {
	if d, err := n.SameInts("dilations", 2, 1); err != nil || d != 1 {
		return Decoded{}, fmt.Errorf("only dilation 1 is supported (%v)", err)
	}
	if so, err := n.Int("storage_order", 0); err != nil || so != 0 {
		return Decoded{}, fmt.Errorf("only storage_order 0 is supported (%v)", err)
	}
	l, err := decodePool(n)
	return Decoded{Layer: l}, err
}

// poolShape checks a pooling layer's window on in and returns its output shape.
func poolShape(l *Layer, in Shape) (Shape, error) {
	if l.Pad == PadSame {
		return nil, fieldErr("pad", `"same" is for conv2d`)
	}
	h, w, err := checkWindow(l, in, l.Kernel)
	if err != nil {
		return nil, err
	}
	return Shape{in[0], h, w}, nil
}

// poolAttrs are a pooling node's window attributes.
func poolAttrs(l *Layer) []ONNXAttr {
	k, s, p := int64(l.Kernel), int64(l.stride(l.Kernel)), int64(l.pad())
	return []ONNXAttr{IntsAttr("kernel_shape", k, k), IntsAttr("pads", p, p, p, p), IntsAttr("strides", s, s)}
}

// decodePool reads the window of a pooling node with one input and ceil_mode 0.
func decodePool(n *ONNXNode) (Layer, error) {
	var l Layer
	if len(n.Inputs) != 1 {
		return l, errors.New("want 1 input")
	}
	if c, err := n.Int("ceil_mode", 0); err != nil || c != 0 {
		return l, fmt.Errorf("only ceil_mode 0 is supported (%v)", err)
	}
	if err := decodeWindow(n, &l, 0, -1); err != nil {
		return l, err
	}
	if l.Stride == l.Kernel {
		l.Stride = 0
	}
	return l, nil
}

// poolGeom is the geometry of a pooling layer over planes of h×w.
type poolGeom struct {
	planes, h, w, k, st, pad, oh, ow int
}

func newPoolGeom(batch int, l *Layer, in, out Shape) poolGeom {
	return poolGeom{planes: batch * in[0], h: in[1], w: in[2], k: l.Kernel, st: l.stride(l.Kernel), pad: l.pad(), oh: out[1], ow: out[2]}
}

func (maxpool) Kernel(c KernelConfig) Kernel {
	g := newPoolGeom(c.Batch, c.Layer, c.In[0], c.Out)
	return &maxPoolKernel{g: g, arg: make([]int32, g.planes*g.oh*g.ow)}
}

// maxPoolKernel trains a max-pooling layer.
type maxPoolKernel struct {
	g   poolGeom
	arg []int32 // per output element: the index of its maximum in its input plane
}

func (k *maxPoolKernel) Forward(ins [][]float32, y []float32) {
	x, g := ins[0], k.g
	in, out := g.h*g.w, g.oh*g.ow
	parallelRows(g.planes, in, func(lo, hi int) {
		if g.k == 2 && g.st == 2 && g.pad == 0 {
			// The common case, as vector loops.
			vec.MaxPool2(x[lo*in:hi*in], hi-lo, g.h, g.w, y[lo*out:hi*out], k.arg[lo*out:hi*out])
			return
		}
		for pl := lo; pl < hi; pl++ {
			g.maxPlane(x[pl*in:(pl+1)*in], y[pl*out:(pl+1)*out], k.arg[pl*out:(pl+1)*out])
		}
	})
}

// maxPlane pools one plane into yp, recording the argmax in ap when it is not nil.
func (g poolGeom) maxPlane(xp, yp []float32, ap []int32) {
	for oy := range g.oh {
		for ox := range g.ow {
			m, best := float32(math.Inf(-1)), -1
			for ki := range g.k {
				iy := oy*g.st + ki - g.pad
				if iy < 0 || iy >= g.h {
					continue
				}
				for kj := range g.k {
					ix := ox*g.st + kj - g.pad
					if ix < 0 || ix >= g.w {
						continue
					}
					if v := xp[iy*g.w+ix]; v > m || best < 0 {
						m, best = v, iy*g.w+ix
					}
				}
			}
			yp[oy*g.ow+ox] = m
			if ap != nil {
				ap[oy*g.ow+ox] = int32(best)
			}
		}
	}
}

// Backward adds each upstream gradient element to the input its window's maximum came from.
func (k *maxPoolKernel) Backward(_ [][]float32, _, dy []float32, dins [][]float32) {
	g := k.g
	in, out := g.h*g.w, g.oh*g.ow
	parallelRows(g.planes, in, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			dx := dins[0][pl*in : (pl+1)*in]
			clear(dx)
			for j, a := range k.arg[pl*out : (pl+1)*out] {
				dx[a] += dy[pl*out+j]
			}
		}
	})
}

func (maxpool) Infer(c InferConfig) InferKernel {
	return &maxPoolInfer{g: newPoolGeom(1, c.Layer, c.In[0], c.Out), planeIn: c.In[0][1] * c.In[0][2]}
}

// maxPoolInfer pools plane by plane.
type maxPoolInfer struct {
	g       poolGeom
	planeIn int
}

func (k *maxPoolInfer) Run(_ Gemmer, ins [][]float32, y []float32, _ int) {
	in, out := k.planeIn, k.g.oh*k.g.ow
	for pl := range len(y) / out {
		k.g.maxPlane(ins[0][pl*in:(pl+1)*in], y[pl*out:(pl+1)*out], nil)
	}
}
