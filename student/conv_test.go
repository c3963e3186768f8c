package student

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// naiveConv is the direct definition of a convolution with zero padding, for checking convOp.
func naiveConv(g convGeom, x, w []float32) []float32 {
	y := make([]float32, g.batch*g.f*g.oh*g.ow)
	for n := range g.batch {
		for f := range g.f {
			for oy := range g.oh {
				for ox := range g.ow {
					var s float64
					for c := range g.c {
						for ki := range g.k {
							for kj := range g.k {
								iy, ix := oy*g.st+ki-g.pad, ox*g.st+kj-g.pad
								if iy < 0 || iy >= g.h || ix < 0 || ix >= g.w {
									continue
								}
								s += float64(x[((n*g.c+c)*g.h+iy)*g.w+ix]) * float64(w[((f*g.c+c)*g.k+ki)*g.k+kj])
							}
						}
					}
					y[((n*g.f+f)*g.oh+oy)*g.ow+ox] = float32(s)
				}
			}
		}
	}
	return y
}

// vec wraps x as a 1-d tensor (the ops read only the data).
func vec(x []float32) *tensor.Dense {
	return tensor.New(tensor.WithShape(len(x)), tensor.WithBacking(x))
}

// TestConvOpMatchesDefinition checks the im2col convolution against the direct sum over the
// kernel for strides, paddings and kernels that make the padding clip rows and columns unevenly.
func TestConvOpMatchesDefinition(t *testing.T) {
	for _, tc := range []struct {
		in []int
		l  LayerSpec
	}{
		{[]int{1, 5, 5}, LayerSpec{Filters: 2, Kernel: 3, Pad: 1}},
		{[]int{2, 7, 6}, LayerSpec{Filters: 3, Kernel: 3, Stride: 2, Pad: 1}},
		{[]int{3, 6, 9}, LayerSpec{Filters: 4, Kernel: 5, Stride: 3, Pad: 2}},
		{[]int{2, 4, 4}, LayerSpec{Filters: 1, Kernel: 1}},
		{[]int{1, 3, 3}, LayerSpec{Filters: 2, Kernel: 3, Pad: 4}},
		{[]int{2, 8, 8}, LayerSpec{Filters: 2, Kernel: 2, Stride: 2}},
	} {
		t.Run(fmt.Sprintf("%v-k%d-s%d-p%d", tc.in, tc.l.Kernel, tc.l.Stride, tc.l.Pad), func(t *testing.T) {
			g := newConvGeom(3, tc.in, tc.l)
			rng := rand.New(rand.NewPCG(5, 6))
			x := randSlice(rng, g.batch*g.inSize(), 1)
			w := randSlice(rng, g.f*g.rows(), 1)
			b := randSlice(rng, g.f, 1)
			op := newConvOp(g, false, make([]float32, len(w)), make([]float32, g.f))
			got, err := op.Do(vec(x), vec(w), vec(b))
			if err != nil {
				t.Fatal(err)
			}
			// col2im is the adjoint of im2col: <im2col(x), c> = <x, col2im(c)>.
			col := make([]float32, g.rows()*g.cols())
			g.im2col(x[:g.inSize()], col)
			c := randSlice(rng, len(col), 1)
			back := make([]float32, g.inSize())
			g.col2im(c, back)
			var lhs, rhs float64
			for i := range col {
				lhs += float64(col[i]) * float64(c[i])
			}
			for i := range back {
				rhs += float64(x[i]) * float64(back[i])
			}
			if math.Abs(lhs-rhs) > 1e-4*(1+math.Abs(lhs)) {
				t.Errorf("<im2col(x), c> = %g, <x, col2im(c)> = %g", lhs, rhs)
			}
			want := naiveConv(g, x, w)
			for i := range want {
				want[i] += b[i/g.cols()%g.f]
			}
			for i, v := range f32s(got) {
				if math.Abs(float64(v-want[i])) > 1e-5*(1+math.Abs(float64(want[i]))) {
					t.Fatalf("y[%d] = %g, want %g", i, v, want[i])
				}
			}
		})
	}
}

// TestMaxPool2MatchesGeneral checks the unrolled 2×2 stride-2 loop against the general one, on
// an odd-sized plane (the last row and column are dropped) with ties.
func TestMaxPool2MatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	x := make([]float32, 2*3*7*9)
	for i := range x {
		x[i] = float32(rng.IntN(4)) // small integers: many ties
	}
	op := newMaxPoolOp(2, []int{3, 7, 9}, LayerSpec{Kernel: 2})
	if _, err := op.Do(vec(x)); err != nil {
		t.Fatal(err)
	}
	in, out := 7*9, op.oh*op.ow
	for pl := range 2 * 3 {
		y, a := make([]float32, out), make([]int32, out)
		op.pool2(x[pl*in:(pl+1)*in], y, a)
		for oy := range op.oh {
			for ox := range op.ow {
				best := 2*oy*9 + 2*ox
				for _, i := range []int{best + 1, best + 9, best + 10} {
					if x[pl*in+i] > x[pl*in+best] {
						best = i
					}
				}
				if j := oy*op.ow + ox; y[j] != x[pl*in+best] || a[j] != int32(best) || op.arg[pl*out+j] != int32(best) {
					t.Fatalf("plane %d output %d: pool2 %g at %d, Do at %d, want %g at %d", pl, j, y[j], a[j], op.arg[pl*out+j], x[pl*in+best], best)
				}
			}
		}
	}
}

// TestMaxPoolOp checks max pooling, its first-of-equal-maxima choice and its gradient, with
// overlapping windows (stride below the kernel) whose gradients add up.
func TestMaxPoolOp(t *testing.T) {
	x := []float32{
		1, 5, 2, 0,
		3, 5, 7, 1,
		0, 2, 7, 4,
	}
	op := newMaxPoolOp(1, []int{1, 3, 4}, LayerSpec{Kernel: 2, Stride: 1})
	y, err := op.Do(vec(x))
	if err != nil {
		t.Fatal(err)
	}
	wantY := []float32{5, 7, 7, 5, 7, 7}
	wantArg := []int32{1, 6, 6, 5, 6, 6}
	for i := range wantY {
		if f32s(y)[i] != wantY[i] || op.arg[i] != wantArg[i] {
			t.Errorf("output %d: %g at %d, want %g at %d", i, f32s(y)[i], op.arg[i], wantY[i], wantArg[i])
		}
	}
	g := []float32{1, 2, 3, 4, 5, 6}
	dx, err := newMaxPoolGradOp(op).Do(y, vec(g))
	if err != nil {
		t.Fatal(err)
	}
	wantDX := []float32{0, 1, 0, 0, 0, 4, 2 + 3 + 5 + 6, 0, 0, 0, 0, 0}
	for i, v := range f32s(dx) {
		if v != wantDX[i] {
			t.Errorf("dx[%d] = %g, want %g", i, v, wantDX[i])
		}
	}
}
