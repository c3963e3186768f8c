package student

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// requireOpenBLAS returns the OpenBLAS implementation or skips the test when it cannot be loaded.
func requireOpenBLAS(t *testing.T) blasImpl {
	t.Helper()
	ob, _, searched, err := loadOpenBLAS()
	if err != nil {
		t.Skipf("openblas not loadable (searched %v): %v", searched, err)
	}
	return ob
}

func maxRelDiff32(a, b []float32) float64 {
	var worst float64
	for i := range a {
		d := math.Abs(float64(a[i]-b[i])) / math.Max(1, math.Abs(float64(b[i])))
		worst = math.Max(worst, d)
	}
	return worst
}

// TestOpenBLASGemm compares OpenBLAS's gemm and gemv with gonum's on random matrices, with every
// transpose combination and padded leading dimensions.
func TestOpenBLASGemm(t *testing.T) {
	ob := requireOpenBLAS(t)
	ref := gonum.Implementation{}
	rng := newTestRNG()
	for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
		for _, tB := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			for _, d := range []struct{ m, n, k, pad int }{{1, 1, 1, 0}, {7, 5, 3, 2}, {64, 33, 129, 0}, {100, 80, 60, 5}, {300, 200, 100, 3}, {100, 300, 200, 1}} {
				t.Run(fmt.Sprintf("%c%c/%dx%dx%d+%d", tA, tB, d.m, d.n, d.k, d.pad), func(t *testing.T) {
					ar, ac := d.m, d.k
					if tA == blas.Trans {
						ar, ac = d.k, d.m
					}
					br, bc := d.k, d.n
					if tB == blas.Trans {
						br, bc = d.n, d.k
					}
					lda, ldb, ldc := ac+d.pad, bc+d.pad, d.n+d.pad
					a := randSlice(rng, ar*lda, 1)
					b := randSlice(rng, br*ldb, 1)
					c0 := randSlice(rng, d.m*ldc, 1)
					got := append([]float32(nil), c0...)
					want := append([]float32(nil), c0...)
					ob.Sgemm(tA, tB, d.m, d.n, d.k, 1.5, a, lda, b, ldb, 0.5, got, ldc)
					ref.Sgemm(tA, tB, d.m, d.n, d.k, 1.5, a, lda, b, ldb, 0.5, want, ldc)
					if e := maxRelDiff32(got, want); e > 1e-4 {
						t.Errorf("sgemm: max relative difference %g > 1e-4", e)
					}
					a64, b64, c64 := widen(a), widen(b), widen(c0)
					want64 := append([]float64(nil), c64...)
					ob.Dgemm(tA, tB, d.m, d.n, d.k, 1.5, a64, lda, b64, ldb, 0.5, c64, ldc)
					ref.Dgemm(tA, tB, d.m, d.n, d.k, 1.5, a64, lda, b64, ldb, 0.5, want64, ldc)
					for i := range c64 {
						if math.Abs(c64[i]-want64[i]) > 1e-10*math.Max(1, math.Abs(want64[i])) {
							t.Fatalf("dgemm: element %d: %v, gonum %v", i, c64[i], want64[i])
						}
					}
				})
			}
			// gemv with op(A) of size m x n (A stored ar x ac).
			t.Run(fmt.Sprintf("gemv%c", tA), func(t *testing.T) {
				m, n := 37, 23
				a := randSlice(rng, m*n, 1)
				lx, ly := n, m
				if tA == blas.Trans {
					lx, ly = m, n
				}
				x := randSlice(rng, lx*2, 1)
				y0 := randSlice(rng, ly, 1)
				got, want := append([]float32(nil), y0...), append([]float32(nil), y0...)
				ob.Sgemv(tA, m, n, 2, a, n, x, 2, 0.25, got, 1)
				ref.Sgemv(tA, m, n, 2, a, n, x, 2, 0.25, want, 1)
				if e := maxRelDiff32(got, want); e > 1e-4 {
					t.Errorf("sgemv: max relative difference %g > 1e-4", e)
				}
			})
		}
	}
}

func widen(s []float32) []float64 {
	d := make([]float64, len(s))
	for i, v := range s {
		d[i] = float64(v)
	}
	return d
}

// TestUseBLAS checks backend selection and that both backends give the same logits.
func TestUseBLAS(t *testing.T) {
	defer UseBLAS("auto")
	if _, err := UseBLAS("mkl"); err == nil {
		t.Error("UseBLAS(mkl): no error")
	}
	got, err := UseBLAS("go")
	if err != nil || got != "go" {
		t.Fatalf("UseBLAS(go) = %q, %v", got, err)
	}
	spec := mustSpec(t, mlpSpec)
	net, err := NewNet(spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	x := randSlice(newTestRNG(), 9*6, 1)
	zGo, err := net.Forward(x, 9)
	if err != nil {
		t.Fatal(err)
	}
	requireOpenBLAS(t)
	if got, err := UseBLAS("openblas"); err != nil || got != "openblas" {
		t.Fatalf("UseBLAS(openblas) = %q, %v", got, err)
	}
	zOB, err := net.Forward(x, 9)
	if err != nil {
		t.Fatal(err)
	}
	if e := maxRelDiff32(zOB, zGo); e > 1e-4 {
		t.Errorf("openblas and go logits differ by %g", e)
	}
	if got, err := UseBLAS("auto"); err != nil || got != "openblas" {
		t.Errorf("UseBLAS(auto) = %q, %v with openblas present", got, err)
	}
}

// TestCoreTypeFor checks the OpenBLAS kernel set chosen from CPU features.
func TestCoreTypeFor(t *testing.T) {
	avx512 := cpuFeatures{AVX2: true, FMA: true, AVX512F: true, AVX512CD: true, AVX512BW: true,
		AVX512DQ: true, AVX512VL: true}
	noVL := avx512
	noVL.AVX512VL = false
	for _, tc := range []struct {
		name string
		x    cpuFeatures
		want string
	}{
		{"avx512", avx512, "SkylakeX"},
		{"avx512 without VL", noVL, "Haswell"},
		{"avx2 fma", cpuFeatures{AVX2: true, FMA: true}, "Haswell"},
		{"avx2 without fma", cpuFeatures{AVX2: true}, ""},
		{"neither", cpuFeatures{}, ""},
	} {
		if got := coreTypeFor(tc.x); got != tc.want {
			t.Errorf("%s: coreTypeFor = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestOpenBLASCoreType checks that OpenBLAS, once loaded, runs the kernels chosen for this CPU:
// os.Setenv must reach the C environment its constructor reads.
func TestOpenBLASCoreType(t *testing.T) {
	requireOpenBLAS(t)
	want := coreTypeFor(hostFeatures())
	if want == "" || os.Getenv(coreTypeEnv) != want || openBLASCore == "" {
		t.Skipf("no core type to check (for this CPU %q, %s=%q, openblas_get_corename=%q)",
			want, coreTypeEnv, os.Getenv(coreTypeEnv), openBLASCore)
	}
	if !strings.EqualFold(openBLASCore, want) {
		t.Errorf("OpenBLAS runs %q kernels, want %q (%s)", openBLASCore, want, coreTypeEnv)
	}
}
