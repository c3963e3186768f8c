//go:build cgo && amd64

package student

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/distillgo/distill/internal/nn"
)

// vecValues returns n values for the vector loops: mostly normal, some of them 0, −0, NaN, ±Inf,
// subnormal or exactly ±3 (hardswish's corners).
func vecValues(rng *rand.Rand, n int) []float32 {
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)),
		float32(math.Inf(-1)), 1e-40, -3, 3, 6, -6}
	x := make([]float32, n)
	for i := range x {
		if rng.IntN(10) == 0 {
			x[i] = special[rng.IntN(len(special))]
		} else {
			x[i] = float32(rng.NormFloat64() * 4)
		}
	}
	return x
}

// vecSameBits reports the first index where a and b differ in their bits.
func vecSameBits[T float32 | float64](a, b []T) (int, bool) {
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		if math.Float64bits(x) != math.Float64bits(y) && !(x != x && y != y) {
			return i, false
		}
	}
	return 0, true
}

// TestVecMatchesGo checks that the AVX2 C loops give the bits of internal/nn's Go loops, on
// planes of several sizes (whole vectors, tails, both) and strides, values including 0, −0, NaN,
// infinities and subnormals, with and without a fused relu.
func TestVecMatchesGo(t *testing.T) {
	if !hostFeatures().AVX2 {
		t.Skip("no AVX2")
	}
	c, g := avx2Vec(), nn.GoVec()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, hw := range []int{1, 5, 8, 13, 16, 49, 196} {
		for _, n := range []int{1, 3} {
			for _, extra := range []int{0, 7} {
				p := nn.Planes{N: n, HW: hw, Stride: hw + extra}
				size := (n-1)*p.Stride + hw
				x, gr, y := vecValues(rng, size), vecValues(rng, size), vecValues(rng, size)
				for i := range y {
					y[i] = max(y[i], 0) // a relu's output
				}
				name := fmt.Sprintf("hw=%d/n=%d/stride=%d", hw, n, p.Stride)
				x0 := x[0]
				if x0 != x0 || math.IsInf(float64(x0), 0) {
					x0 = 1.5
				}
				var s1, q1, s2, q2 [8]float64
				c.Moments(x, p, x0, &s1, &q1)
				g.Moments(x, p, x0, &s2, &q2)
				if i, ok := vecSameBits(append(s1[:], q1[:]...), append(s2[:], q2[:]...)); !ok {
					t.Errorf("%s: Moments differ at %d", name, i)
				}
				var u1, u2 [8]float64
				c.Sums(x, p, &u1)
				g.Sums(x, p, &u2)
				if i, ok := vecSameBits(u1[:], u2[:]); !ok {
					t.Errorf("%s: Sums differ at %d", name, i)
				}
				for _, relu := range []bool{false, true} {
					out1, out2 := vecValues(rng, size), []float32(nil)
					out2 = slices.Clone(out1)
					c.Normalize(x, out1, p, 0.3, 1.7, -0.9, 0.1, relu)
					g.Normalize(x, out2, p, 0.3, 1.7, -0.9, 0.1, relu)
					if i, ok := vecSameBits(out1, out2); !ok {
						t.Errorf("%s: Normalize(relu %v) differs at %d: %v, want %v", name, relu, i, out1[i], out2[i])
					}
					var ys []float32
					if relu {
						ys = y
					}
					var b1, g1, b2, g2 [8]float64
					c.GradSums(gr, x, ys, p, 0.3, 1.7, &b1, &g1)
					g.GradSums(gr, x, ys, p, 0.3, 1.7, &b2, &g2)
					if i, ok := vecSameBits(append(b1[:], g1[:]...), append(b2[:], g2[:]...)); !ok {
						t.Errorf("%s: GradSums(relu %v) differ at %d", name, relu, i)
					}
					c.GradInput(gr, x, ys, out1, p, 0.01, 96, 0.5, 0.3, 1.7, -2)
					g.GradInput(gr, x, ys, out2, p, 0.01, 96, 0.5, 0.3, 1.7, -2)
					if i, ok := vecSameBits(out1, out2); !ok {
						t.Errorf("%s: GradInput(relu %v) differs at %d: %v, want %v", name, relu, i, out1[i], out2[i])
					}
				}
			}
		}
	}
	for _, n := range []int{1, 7, 8, 9, 100, 1000} {
		x, gr := vecValues(rng, n), vecValues(rng, n)
		y1, y2 := make([]float32, n), make([]float32, n)
		c.Hardswish(x, y1)
		g.Hardswish(x, y2)
		if i, ok := vecSameBits(y1, y2); !ok {
			t.Errorf("Hardswish(%d values) differs at %d: f(%v) = %v, want %v", n, i, x[i], y1[i], y2[i])
		}
		c.Relu(x, y1)
		g.Relu(x, y2)
		if i, ok := vecSameBits(y1, y2); !ok {
			t.Errorf("Relu(%d values) differs at %d: relu(%v) = %v, want %v", n, i, x[i], y1[i], y2[i])
		}
		ys := slices.Clone(y2)
		c.ReluGrad(gr, ys, y1)
		g.ReluGrad(gr, ys, y2)
		if i, ok := vecSameBits(y1, y2); !ok {
			t.Errorf("ReluGrad(%d values) differs at %d: %v, want %v", n, i, y1[i], y2[i])
		}
		c.HardswishGrad(x, gr, y1)
		g.HardswishGrad(x, gr, y2)
		if i, ok := vecSameBits(y1, y2); !ok {
			t.Errorf("HardswishGrad(%d values) differs at %d: at %v, %v, want %v", n, i, x[i], y1[i], y2[i])
		}
	}
	for _, k := range []int{1, 3, 5} {
		for _, st := range []int{1, 2, 3} {
			for _, w := range []int{5, 8, 14, 17, 28} {
				h, pad := w-2, k/2
				wp := w + 2*pad
				oh, ow := (h+2*pad-k)/st+1, (w+2*pad-k)/st+1
				// Finite values wherever a window reads, infinities where only the lanes past a
				// row's end read (which must add +0 to DWDots' sums).
				xp := randSlice(rng, (h+2*pad)*wp+8*st+8, 1)
				for i := range xp {
					if i >= (h+2*pad)*wp || i%wp >= (ow-1)*st+k {
						xp[i] = float32(math.Inf(1))
					}
				}
				taps, dy := randSlice(rng, k*k, 1), randSlice(rng, oh*ow, 1)
				name := fmt.Sprintf("k=%d/st=%d/w=%d", k, st, w)
				y1, y2 := make([]float32, oh*ow), make([]float32, oh*ow)
				c.DWCorr(xp, wp, taps, k, st, y1, oh, ow)
				g.DWCorr(xp, wp, taps, k, st, y2, oh, ow)
				if i, ok := vecSameBits(y1, y2); !ok {
					t.Errorf("%s: DWCorr differs at %d: %v, want %v", name, i, y1[i], y2[i])
				}
				a1, a2 := randSlice(rng, 8*k*k, 1), []float32(nil)
				a2 = slices.Clone(a1)
				c.DWDots(xp, wp, dy, oh, ow, k, st, a1)
				g.DWDots(xp, wp, dy, oh, ow, k, st, a2)
				if i, ok := vecSameBits(a1, a2); !ok {
					t.Errorf("%s: DWDots differ at %d: %v, want %v", name, i, a1[i], a2[i])
				}
			}
		}
	}
	for _, hw := range [][2]int{{2, 2}, {4, 6}, {7, 7}, {28, 28}, {14, 33}, {3, 17}} {
		h, w := hw[0], hw[1]
		const n = 3
		x := vecValues(rng, n*h*w)
		for i := range x {
			if rng.IntN(4) == 0 {
				x[i] = x[max(i-1, 0)] // equal values: the first one wins
			}
		}
		y1, y2 := make([]float32, n*(h/2)*(w/2)), make([]float32, n*(h/2)*(w/2))
		a1, a2 := make([]int32, len(y1)), make([]int32, len(y2))
		c.MaxPool2(x, n, h, w, y1, a1)
		g.MaxPool2(x, n, h, w, y2, a2)
		if i, ok := vecSameBits(y1, y2); !ok || !slices.Equal(a1, a2) {
			t.Errorf("MaxPool2(%dx%d) differs at %d: %v, want %v; argmax %v, want %v", h, w, i, y1[i], y2[i], a1, a2)
		}
	}
}
