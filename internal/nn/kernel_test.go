package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// goBLAS is the BLAS of the kernel tests.
func goBLAS() blas.Float32 { return gonum.Implementation{} }

func randSlice(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return v
}

// naiveConv is the direct definition of a grouped convolution with zero padding.
func naiveConv(g convGeom, x, w []float32) []float32 {
	y := make([]float32, g.batch*g.outSize())
	C, F := g.groups*g.c, g.groups*g.f
	for n := range g.batch {
		for f := range F {
			gi := f / g.f
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
								s += float64(x[((n*C+gi*g.c+c)*g.h+iy)*g.w+ix]) * float64(w[((f*g.c+c)*g.k+ki)*g.k+kj])
							}
						}
					}
					y[((n*F+f)*g.oh+oy)*g.ow+ox] = float32(s)
				}
			}
		}
	}
	return y
}

// TestConvMatchesDefinition checks the im2col convolution against the direct sum over the
// kernel for strides, paddings, kernels that make the padding clip rows and columns unevenly, and
// groups; and that col2im is the adjoint of im2col.
func TestConvMatchesDefinition(t *testing.T) {
	for _, tc := range []struct {
		in Shape
		l  Layer
	}{
		{Shape{1, 5, 5}, Layer{Filters: 2, Kernel: 3, Pad: 1}},
		{Shape{2, 7, 6}, Layer{Filters: 3, Kernel: 3, Stride: 2, Pad: 1}},
		{Shape{3, 6, 9}, Layer{Filters: 4, Kernel: 5, Stride: 3, Pad: 2}},
		{Shape{2, 4, 4}, Layer{Filters: 1, Kernel: 1}},
		{Shape{1, 3, 3}, Layer{Filters: 2, Kernel: 3, Pad: 2}},
		{Shape{2, 8, 8}, Layer{Filters: 2, Kernel: 2, Stride: 2}},
		{Shape{4, 6, 6}, Layer{Filters: 4, Kernel: 3, Pad: PadSame, Groups: 4}},
		{Shape{4, 7, 7}, Layer{Filters: 6, Kernel: 3, Stride: 2, Pad: 1, Groups: 2}},
		{Shape{3, 9, 9}, Layer{Filters: 6, Kernel: 3, Pad: PadSame, Groups: 3}},
		{Shape{2, 9, 11}, Layer{Filters: 2, Kernel: 5, Groups: 2}},
		{Shape{2, 17, 17}, Layer{Filters: 4, Kernel: 3, Stride: 2, Pad: 1, Groups: 2}},
		{Shape{2, 10, 10}, Layer{Filters: 2, Kernel: 3, Stride: 3, Pad: 1, Groups: 2}},
	} {
		tc.l.Type = "conv2d"
		t.Run(fmt.Sprintf("%v-k%d-s%d-p%v-g%d", tc.in, tc.l.Kernel, tc.l.Stride, tc.l.Pad, tc.l.Groups), func(t *testing.T) {
			op, _ := Lookup("conv2d")
			out, err := op.Shape(&tc.l, []Shape{tc.in})
			if err != nil {
				t.Fatal(err)
			}
			const batch = 3
			g := newConvGeom(batch, &tc.l, tc.in, out)
			rng := rand.New(rand.NewPCG(5, 6))
			x := randSlice(rng, batch*g.inSize(), 1)
			w := &Tensor{Value: randSlice(rng, g.groups*g.f*g.rows(), 1)}
			b := &Tensor{Value: randSlice(rng, g.groups*g.f, 1)}
			k := op.Kernel(KernelConfig{Layer: &tc.l, In: []Shape{tc.in}, Out: out, Batch: batch, Tensors: []*Tensor{w, b}, BLAS: goBLAS})
			got := make([]float32, batch*out.Size())
			k.Forward([][]float32{x}, got)
			// col2im is the adjoint of im2col: <im2col(x), c> = <x, col2im(c)>.
			col := make([]float32, g.rows()*g.cols())
			g.im2col(x, col)
			c := randSlice(rng, len(col), 1)
			back := make([]float32, g.c*g.h*g.w)
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
			want := naiveConv(g, x, w.Value)
			for i := range want {
				want[i] += b.Value[i/g.cols()%(g.groups*g.f)]
			}
			for i, v := range got {
				if math.Abs(float64(v-want[i])) > 1e-5*(1+math.Abs(float64(want[i]))) {
					t.Fatalf("y[%d] = %g, want %g", i, v, want[i])
				}
			}
		})
	}
}

// maxPoolKernelFor returns the training kernel of a max pool on in.
func maxPoolKernelFor(t *testing.T, batch int, in Shape, l Layer) (*maxPoolKernel, Shape) {
	t.Helper()
	l.Type = "maxpool"
	op, _ := Lookup("maxpool")
	out, err := op.Shape(&l, []Shape{in})
	if err != nil {
		t.Fatal(err)
	}
	return op.Kernel(KernelConfig{Layer: &l, In: []Shape{in}, Out: out, Batch: batch, Train: true}).(*maxPoolKernel), out
}

// TestMaxPool2MatchesGeneral checks the unrolled 2×2 stride-2 loop against the general one, on
// an odd-sized plane (the last row and column are dropped) with ties.
func TestMaxPool2MatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	x := make([]float32, 2*3*7*9)
	for i := range x {
		x[i] = float32(rng.IntN(4)) // small integers: many ties
	}
	k, out := maxPoolKernelFor(t, 2, Shape{3, 7, 9}, Layer{Kernel: 2})
	y := make([]float32, 2*out.Size())
	k.Forward([][]float32{x}, y)
	in, o := 7*9, out[1]*out[2]
	for pl := range 2 * 3 {
		yg, ag := make([]float32, o), make([]int32, o)
		k.g.maxPlane(x[pl*in:(pl+1)*in], yg, ag)
		for j := range o {
			if y[pl*o+j] != yg[j] || k.arg[pl*o+j] != ag[j] {
				t.Fatalf("plane %d output %d: pool2 %g at %d, general %g at %d", pl, j, y[pl*o+j], k.arg[pl*o+j], yg[j], ag[j])
			}
		}
	}
}

// TestMaxPoolKernel checks max pooling, its first-of-equal-maxima choice and its gradient, with
// overlapping windows (stride below the kernel) whose gradients add up.
func TestMaxPoolKernel(t *testing.T) {
	x := []float32{
		1, 5, 2, 0,
		3, 5, 7, 1,
		0, 2, 7, 4,
	}
	k, _ := maxPoolKernelFor(t, 1, Shape{1, 3, 4}, Layer{Kernel: 2, Stride: 1})
	y := make([]float32, 6)
	k.Forward([][]float32{x}, y)
	wantY := []float32{5, 7, 7, 5, 7, 7}
	wantArg := []int32{1, 6, 6, 5, 6, 6}
	for i := range wantY {
		if y[i] != wantY[i] || k.arg[i] != wantArg[i] {
			t.Errorf("output %d: %g at %d, want %g at %d", i, y[i], k.arg[i], wantY[i], wantArg[i])
		}
	}
	dx := make([]float32, len(x))
	k.Backward([][]float32{x}, y, []float32{1, 2, 3, 4, 5, 6}, [][]float32{dx})
	wantDX := []float32{0, 1, 0, 0, 0, 4, 2 + 3 + 5 + 6, 0, 0, 0, 0, 0}
	for i, v := range dx {
		if v != wantDX[i] {
			t.Errorf("dx[%d] = %g, want %g", i, v, wantDX[i])
		}
	}
}

// TestConvBackwardOverwrites checks that a convolution's Backward overwrites the whole input
// gradient, the inputs no window reads included (a 1×1 kernel at stride 2 reads every other
// row and column): a buffer full of NaN comes back with none.
func TestConvBackwardOverwrites(t *testing.T) {
	for _, l := range []Layer{
		{Type: "conv2d", Filters: 3, Kernel: 1, Stride: 2},
		{Type: "conv2d", Filters: 3, Kernel: 3, Stride: 3},
		{Type: "conv2d", Filters: 2, Kernel: 3, Pad: 1, Groups: 2},
	} {
		in := Shape{2, 7, 7}
		op, _ := Lookup("conv2d")
		out, err := op.Shape(&l, []Shape{in})
		if err != nil {
			t.Fatal(err)
		}
		const batch = 2
		rng := rand.New(rand.NewPCG(1, 2))
		tensors := []*Tensor{}
		for _, ts := range op.Tensors(&l, []Shape{in}, out) {
			n := 1
			for _, d := range ts.Shape {
				n *= d
			}
			tensors = append(tensors, &Tensor{Value: randSlice(rng, n, 1), Grad: make([]float32, n)})
		}
		k := op.Kernel(KernelConfig{Layer: &l, In: []Shape{in}, Out: out, Batch: batch, Train: true, Tensors: tensors,
			NeedGrad: []bool{true}, BLAS: goBLAS})
		x := randSlice(rng, batch*in.Size(), 1)
		y := make([]float32, batch*out.Size())
		k.Forward([][]float32{x}, y)
		dx := make([]float32, len(x))
		for i := range dx {
			dx[i] = float32(math.NaN())
		}
		k.Backward([][]float32{x}, y, randSlice(rng, len(y), 1), [][]float32{dx})
		for i, v := range dx {
			if v != v {
				t.Errorf("k%d s%d: dx[%d] is NaN: Backward left it as it was", l.Kernel, l.Stride, i)
				break
			}
		}
	}
}
