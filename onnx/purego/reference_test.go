package purego_test

import (
	"math"

	"github.com/x448/float16"
)

// reference computes the logits of s on n samples x in float64 from the spec's weights (rounded
// to float16 first for an fp16 model, as the file stores them).
func reference(s netSpec, x []float32, n int) []float32 {
	dim := 1
	for _, d := range s.inShape {
		dim *= d
	}
	out := make([]float32, 0, n*s.classes)
	for i := range n {
		v := make([]float64, dim)
		for j := range v {
			v[j] = float64(x[i*dim+j])
		}
		shape := append([]int(nil), s.inShape...)
		for _, l := range s.layers {
			v, shape = apply(l, s.fp16, v, shape)
		}
		for _, y := range v {
			out = append(out, float32(y))
		}
	}
	return out
}

func stored(w []float32, fp16 bool) []float64 {
	out := make([]float64, len(w))
	for i, v := range w {
		if fp16 {
			v = float16.Fromfloat32(v).Float32()
		}
		out[i] = float64(v)
	}
	return out
}

// apply runs one layer on one sample v of the given shape.
func apply(l layer, fp16 bool, v []float64, shape []int) ([]float64, []int) {
	switch l.op {
	case "Relu":
		for i := range v {
			v[i] = math.Max(v[i], 0)
		}
		return v, shape
	case "Flatten":
		return v, []int{len(v)}
	case "Gemm":
		w, b := stored(l.w, fp16), stored(l.b, fp16)
		in, out := l.wshape[0], l.wshape[1]
		y := make([]float64, out)
		for j := range out {
			y[j] = b[j]
			for k := range in {
				y[j] += v[k] * w[k*out+j]
			}
		}
		return y, []int{out}
	case "Conv":
		return conv(l, fp16, v, shape)
	case "MaxPool":
		return maxPool(l, v, shape)
	}
	panic("reference: op " + l.op)
}

func conv(l layer, fp16 bool, v []float64, shape []int) ([]float64, []int) {
	w, b := stored(l.w, fp16), stored(l.b, fp16)
	f, c, h, wd := l.wshape[0], shape[0], shape[1], shape[2]
	k, st, p := l.k, max(l.s, 1), l.p
	oh, ow := (h+2*p-k)/st+1, (wd+2*p-k)/st+1
	y := make([]float64, f*oh*ow)
	for o := range f {
		for i := range oh {
			for j := range ow {
				sum := b[o]
				for ch := range c {
					for a := range k {
						for bb := range k {
							r, q := i*st+a-p, j*st+bb-p
							if r >= 0 && r < h && q >= 0 && q < wd {
								sum += v[(ch*h+r)*wd+q] * w[((o*c+ch)*k+a)*k+bb]
							}
						}
					}
				}
				y[(o*oh+i)*ow+j] = sum
			}
		}
	}
	return y, []int{f, oh, ow}
}

func maxPool(l layer, v []float64, shape []int) ([]float64, []int) {
	c, h, wd := shape[0], shape[1], shape[2]
	k, st := l.k, l.s
	if st == 0 {
		st = k
	}
	oh, ow := (h-k)/st+1, (wd-k)/st+1
	y := make([]float64, c*oh*ow)
	for ch := range c {
		for i := range oh {
			for j := range ow {
				m := math.Inf(-1)
				for a := range k {
					for b := range k {
						m = math.Max(m, v[(ch*h+i*st+a)*wd+j*st+b])
					}
				}
				y[(ch*oh+i)*ow+j] = m
			}
		}
	}
	return y, []int{c, oh, ow}
}
