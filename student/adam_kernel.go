package student

import "math"

// adamCoeffs are the per-step constants of an Adam update (see (*Adam).Step).
type adamCoeffs struct {
	b1, b2, c1, c2  float32 // β1, β2, 1−β1, 1−β2
	stepSize        float32 // lr / (1−β1ᵗ)
	invBc2Sqrt, eps float32 // 1/√(1−β2ᵗ), eps
}

// adamGo is the reference Adam update of x with gradient g and moments m, v (all the same length),
// in plain Go. adamUpdate runs a vectorised C copy of it where cgo and the CPU allow; the two give
// bit-identical results (TestAdamKernelMatchesGo): same operations in the same order, no fused
// multiply-add, and √ of a float32 rounded once, as float32(math.Sqrt(float64(v))) is.
func adamGo(x, g, m, v []float32, k adamCoeffs) {
	g, m, v = g[:len(x)], m[:len(x)], v[:len(x)]
	for i := range x {
		gi := g[i]
		mi := flushSubnormal(k.b1*m[i] + k.c1*gi)
		vi := flushSubnormal(k.b2*v[i] + k.c2*gi*gi)
		m[i], v[i] = mi, vi
		x[i] -= k.stepSize * mi / (float32(math.Sqrt(float64(vi)))*k.invBc2Sqrt + k.eps)
	}
}
