package student

import (
	"math"
	"math/rand/v2"
	"testing"
)

// mseLoss returns a LossFunc of 1/(2n) * sum (z - t)^2 against fixed targets t, accumulated in
// float64; the float64 value of the last call is stored in *last for finite-difference checks.
func mseLoss(t []float32, last *float64) LossFunc {
	return func(z []float32, n, c int, dz []float32) float32 {
		var s float64
		for i := range z[:n*c] {
			d := float64(z[i]) - float64(t[i])
			s += d * d
			dz[i] = float32(d / float64(n))
		}
		*last = s / float64(2*n)
		return float32(*last)
	}
}

func randSlice(rng *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64() * scale)
	}
	return s
}

func mustSpec(t testing.TB, js string) *Spec {
	t.Helper()
	s, err := ParseSpec([]byte(js), "test")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const (
	mlpSpec = `{"input":[6],"classes":3,"layers":[{"type":"dense","units":5},{"type":"relu"},
		{"type":"dropout","p":0.3},{"type":"dense","units":4},{"type":"dense","units":3}]}`
	cnnSpec = `{"input":[2,6,6],"classes":3,"layers":[{"type":"conv2d","filters":3,"kernel":3,"stride":1,"pad":1},
		{"type":"relu"},{"type":"maxpool","kernel":2,"stride":2},{"type":"conv2d","filters":2,"kernel":2,"stride":1},
		{"type":"flatten"},{"type":"dense","units":4},{"type":"relu"},{"type":"dense","units":3}]}`
)

// TestGradients compares the parameter gradients from TrainStep with central finite differences of
// the loss (computed in float64 from float32 logits).
func TestGradients(t *testing.T) {
	for _, tc := range []struct {
		name, spec string
		batch      int
		h          float64 // finite-difference step; small for the CNN so max-pool choices rarely flip
	}{
		{"mlp", mlpSpec, 4, 1e-2},
		{"cnn", cnnSpec, 3, 3e-3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := mustSpec(t, tc.spec)
			net, err := NewNet(spec, 7)
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			data := rand.New(rand.NewPCG(1, 2))
			in := layerShape(spec.Input).size()
			x := randSlice(data, tc.batch*in, 1)
			target := randSlice(data, tc.batch*spec.Classes, 1)
			var last float64
			loss := mseLoss(target, &last)
			step := func() float64 {
				t.Helper()
				if _, err := net.TrainStep(x, tc.batch, rand.New(rand.NewPCG(3, 4)), loss); err != nil {
					t.Fatal(err)
				}
				return last
			}
			step()
			grads := map[string][]float32{}
			for _, p := range net.Params() {
				grads[p.Name] = append([]float32(nil), p.Grad...)
			}
			h := tc.h
			checked := 0
			for _, p := range net.Params() {
				for i := range p.Value {
					orig := p.Value[i]
					p.Value[i] = orig + float32(h)
					lp := step()
					p.Value[i] = orig - float32(h)
					lm := step()
					p.Value[i] = orig
					num := (lp - lm) / (2 * h)
					got := float64(grads[p.Name][i])
					if d := math.Abs(num - got); d > 1e-2*math.Max(math.Abs(num), math.Abs(got))+2e-3 {
						t.Errorf("%s[%d]: backprop %.6g, finite difference %.6g", p.Name, i, got, num)
					}
					checked++
				}
			}
			if checked == 0 {
				t.Fatal("no parameters checked")
			}
		})
	}
}
