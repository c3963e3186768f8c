package student

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// adamCase returns random parameters, gradients and moments of length n, with the special values
// an update meets: zeros of both signs, moments about to become subnormal, huge and tiny gradients,
// NaN and infinities.
func adamCase(rng *rand.Rand, n int) (x, g, m, v []float32) {
	x, g, m, v = make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-38, -1e-38, 2e-38, 1e-20, 1e30, -1e30,
		float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0x1p-126, -0x1p-126, 0x1p-149}
	pick := func() float32 {
		if rng.IntN(8) == 0 {
			return special[rng.IntN(len(special))]
		}
		return float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(12)-8)))
	}
	for i := range x {
		x[i], g[i], m[i] = pick(), pick(), pick()
		v[i] = float32(math.Abs(float64(pick())))
	}
	return x, g, m, v
}

// TestAdamKernelMatchesGo checks that adamUpdate (vectorised C where built) gives bit for bit the
// results of adamGo, for each vector width this CPU runs and lengths that do and do not fill whole
// vectors. A fused multiply-add or a differently rounded square root would show here.
func TestAdamKernelMatchesGo(t *testing.T) {
	if adamLanes == 0 {
		t.Skip("no vectorised Adam in this build or on this CPU: adamUpdate is adamGo")
	}
	lanes := []int{adamLanes}
	if adamLanes == 16 {
		lanes = append(lanes, 8) // AVX-512 CPUs also run the AVX2 copy
	}
	defer func(l int) { adamLanes = l }(adamLanes)
	ks := []adamCoeffs{
		{b1: 0.9, b2: 0.999, c1: 0.1, c2: 0.001, stepSize: 1e-3, invBc2Sqrt: 1, eps: 1e-8},
		{b1: 0.9, b2: 0.999, c1: 0.1, c2: 0.001, stepSize: 1e-2, invBc2Sqrt: 31.6, eps: 1e-8},
		{b1: 0.5, b2: 0.9, c1: 0.5, c2: 0.1, stepSize: 0.3, invBc2Sqrt: 3.2, eps: 0},
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for _, l := range lanes {
		adamLanes = l
		for _, n := range []int{0, 1, 7, 8, 15, 16, 17, 33, 1000, 4099} {
			for ki, k := range ks {
				t.Run(fmt.Sprintf("lanes=%d/n=%d/k=%d", l, n, ki), func(t *testing.T) {
					x, g, m, v := adamCase(rng, n)
					x2, m2, v2 := append([]float32(nil), x...), append([]float32(nil), m...), append([]float32(nil), v...)
					for step := range 3 {
						adamGo(x, g, m, v, k)
						adamUpdate(x2, g, m2, v2, k)
						for i := range n {
							for _, c := range []struct {
								name string
								a, b float32
							}{{"x", x[i], x2[i]}, {"m", m[i], m2[i]}, {"v", v[i], v2[i]}} {
								if math.Float32bits(c.a) != math.Float32bits(c.b) {
									t.Fatalf("step %d: %s[%d] = %g (%#x) in C, %g (%#x) in Go", step, c.name, i,
										c.b, math.Float32bits(c.b), c.a, math.Float32bits(c.a))
								}
							}
						}
					}
				})
			}
		}
	}
}
