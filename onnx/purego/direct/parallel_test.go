package direct

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// naiveGemm returns c + a b in float64, rounded to float32.
func naiveGemm(m, n, k int, a, b, c []float32) []float32 {
	out := make([]float32, m*n)
	for i := range m {
		for j := range n {
			s := float64(c[i*n+j])
			for p := range k {
				s += float64(a[i*k+p]) * float64(b[p*n+j])
			}
			out[i*n+j] = float32(s)
		}
	}
	return out
}

func randSlice(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// TestGemmJobBlocks checks the blocked product against a naive one on shapes that are not
// multiples of the block (and smaller than one), with more goroutines than blocks and several
// products running at once on the shared pool.
func TestGemmJobBlocks(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(5))
	shapes := [][3]int{{1, 1, 1}, {2, 800, 784}, {63, 65, 64}, {64, 64, 64}, {130, 10, 200}, {257, 129, 3}, {5, 300, 1}}
	var wg sync.WaitGroup
	for si, s := range shapes {
		for rep := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m, n, k := s[0], s[1], s[2]
				rng := rand.New(rand.NewPCG(uint64(si), uint64(rep)))
				a, b, c := randSlice(rng, m*k), randSlice(rng, k*n), randSlice(rng, m*n)
				want := naiveGemm(m, n, k, a, b, c)
				var j gemmJob
				j.run(m, n, k, a, b, c)
				for i := range want {
					if d := math.Abs(float64(c[i] - want[i])); d > 1e-3*math.Sqrt(float64(k)) {
						t.Errorf("%dx%dx%d: c[%d] = %g, want %g", m, n, k, i, c[i], want[i])
						return
					}
				}
			}()
		}
	}
	wg.Wait()
}
