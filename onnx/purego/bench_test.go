package purego_test

import (
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/distillgo/distill/onnx/purego"
)

// benchWidths is the demo's student: a 784-800-800-10 MLP.
var benchWidths = []int{784, 800, 800, 10}

// BenchmarkPredict times Predict on the demo student at batch 1 and 256, reporting images/s.
func BenchmarkPredict(b *testing.B) {
	path := write(b, mlp(9, benchWidths...))
	m, err := purego.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	for _, n := range []int{1, 256} {
		b.Run("batch="+itoa3(n), func(b *testing.B) {
			x := randn(rand.New(rand.NewPCG(uint64(n), 3)), n*benchWidths[0], 1)
			if _, err := m.Predict(x, n); err != nil { // decode the graph of this size
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Predict(x, n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkRoofline times the same network's three layers as gonum Sgemm calls with bias and
// ReLU loops into preallocated buffers: what a pure-Go runtime on gonum's BLAS could reach.
// Batch 1 runs as 1 row (no workaround).
func BenchmarkRoofline(b *testing.B) {
	s := mlp(9, benchWidths...)
	var impl gonum.Implementation
	for _, n := range []int{1, 256} {
		b.Run("batch="+itoa3(n), func(b *testing.B) {
			x := randn(rand.New(rand.NewPCG(uint64(n), 3)), n*benchWidths[0], 1)
			var acts [][]float32
			for _, w := range benchWidths[1:] {
				acts = append(acts, make([]float32, n*w))
			}
			b.ReportAllocs()
			for b.Loop() {
				in, k := x, benchWidths[0]
				for li, l := range gemms(s) {
					out, w := acts[li], benchWidths[li+1]
					for r := range n {
						copy(out[r*w:(r+1)*w], l.b)
					}
					impl.Sgemm(blas.NoTrans, blas.NoTrans, n, w, k, 1, in, k, l.w, w, 1, out, w)
					if li+1 < len(acts) {
						for i, v := range out {
							out[i] = max(v, 0)
						}
					}
					in, k = out, w
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// gemms returns the Gemm layers of s.
func gemms(s netSpec) []layer {
	var out []layer
	for _, l := range s.layers {
		if l.op == "Gemm" {
			out = append(out, l)
		}
	}
	return out
}

func itoa3(n int) string {
	if n < 10 {
		return itoa(n)
	}
	return itoa(n/100) + itoa(n/10%10) + itoa(n%10)
}
