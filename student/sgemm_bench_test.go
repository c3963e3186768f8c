//go:build cgo

package student

import (
	"fmt"
	"os"
	"testing"

	"gonum.org/v1/gonum/blas"
)

// BenchmarkOpenBLASSgemm times the sgemms of one training step of the 784-800-800-10 student at
// batch 128, as one OpenBLAS call and split across goroutines, in GFLOPS. It shows whether OpenBLAS
// runs kernels fit for this CPU (see coreTypeFor): on an Emerald Rapids Xeon VM, generic "Prescott"
// kernels gave about 30 GFLOPS a core, SkylakeX ones over 100.
func BenchmarkOpenBLASSgemm(b *testing.B) {
	impl, _, _, err := loadOpenBLAS()
	if err != nil {
		b.Skip(err)
	}
	ob := impl.(*openBLAS)
	b.Logf("%s=%s, openblas core %s", coreTypeEnv, getenvOr(coreTypeEnv, "(unset)"), openBLASCore)
	for _, sh := range []struct {
		name    string
		tA, tB  blas.Transpose
		m, n, k int
	}{
		{"forward1", blas.NoTrans, blas.NoTrans, 128, 800, 784},
		{"gradW1", blas.Trans, blas.NoTrans, 784, 800, 128},
		{"forward2", blas.NoTrans, blas.NoTrans, 128, 800, 800},
		{"gradW2", blas.Trans, blas.NoTrans, 800, 800, 128},
		{"gradX2", blas.NoTrans, blas.Trans, 128, 800, 800},
	} {
		for _, split := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/split=%v", sh.name, split), func(b *testing.B) {
				a := make([]float32, sh.m*sh.k)
				bm := make([]float32, sh.k*sh.n)
				for i := range a {
					a[i] = float32(i%7) * 0.1
				}
				for i := range bm {
					bm[i] = float32(i%5) * 0.1
				}
				c := make([]float32, sh.m*sh.n)
				lda, ldb := sh.k, sh.n
				if sh.tA != blas.NoTrans {
					lda = sh.m
				}
				if sh.tB != blas.NoTrans {
					ldb = sh.k
				}
				for b.Loop() {
					if split {
						ob.Sgemm(sh.tA, sh.tB, sh.m, sh.n, sh.k, 1, a, lda, bm, ldb, 0, c, sh.n)
					} else {
						ob.sgemm1(sh.tA, sh.tB, sh.m, sh.n, sh.k, 1, a, lda, bm, ldb, 0, c, sh.n)
					}
				}
				b.ReportMetric(2*float64(sh.m*sh.n*sh.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
		}
	}
}

func getenvOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}
