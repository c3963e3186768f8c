package student

import (
	"github.com/distillgo/distill/internal/nn"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
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
	// cnnStridedSpec has a strided conv with uneven padding after a first conv (so the first
	// layer's input gradient is skipped, the second's is not), overlapping max-pool windows and a
	// batch over convBlock, so the weight gradient's partial sums span several blocks.
	cnnStridedSpec = `{"input":[1,7,7],"classes":2,"layers":[{"type":"conv2d","filters":2,"kernel":3,"pad":1},
		{"type":"relu"},{"type":"conv2d","filters":2,"kernel":3,"stride":2,"pad":2},{"type":"maxpool","kernel":3,"stride":2},
		{"type":"flatten"},{"type":"dense","units":2}]}`
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
		{"cnn-strided", cnnStridedSpec, 10, 3e-4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := mustSpec(t, tc.spec)
			net, err := NewNet(spec, 7)
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			data := rand.New(rand.NewPCG(1, 2))
			in := nn.Shape(spec.Input).Size()
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

func newTestRNG() *rand.Rand { return rand.New(rand.NewPCG(11, 12)) }

// trainRun builds a net from seed and runs steps SGD steps on fixed data with dropout drawn from a
// seeded rng; it returns the losses and final weights.
func trainRun(t *testing.T, spec *Spec, seed uint64, batches []int) ([]float32, map[string][]float32) {
	t.Helper()
	net, err := NewNet(spec, seed)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	data := newTestRNG()
	in := nn.Shape(spec.Input).Size()
	rng := rand.New(rand.NewPCG(seed, 99))
	opt := NewSGD(0.05, 0.9)
	var losses []float32
	var last float64
	for _, b := range batches {
		x := randSlice(data, b*in, 1)
		target := randSlice(data, b*spec.Classes, 1)
		l, err := net.TrainStep(x, b, rng, mseLoss(target, &last))
		if err != nil {
			t.Fatal(err)
		}
		opt.Step(net.Params())
		losses = append(losses, l)
	}
	w := map[string][]float32{}
	for _, p := range net.Params() {
		w[p.Name] = append([]float32(nil), p.Value...)
	}
	return losses, w
}

// TestDeterministic checks that the same seed gives the same weights and the same losses, with
// dropout and a smaller last batch, and that another seed gives other weights.
func TestDeterministic(t *testing.T) {
	spec := mustSpec(t, mlpSpec)
	batches := []int{8, 8, 8, 3}
	l1, w1 := trainRun(t, spec, 5, batches)
	l2, w2 := trainRun(t, spec, 5, batches)
	if diff := cmp.Diff(l1, l2); diff != "" {
		t.Errorf("losses differ between runs (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(w1, w2); diff != "" {
		t.Errorf("weights differ between runs (-first +second):\n%s", diff)
	}
	if l1[0] == l1[1] && l1[1] == l1[2] {
		t.Errorf("losses do not change: %v", l1)
	}
	_, w3 := trainRun(t, spec, 6, batches)
	if cmp.Equal(w1, w3) {
		t.Error("seeds 5 and 6 gave the same weights")
	}
	a, _ := NewNet(spec, 5)
	b, _ := NewNet(spec, 5)
	for i, p := range a.Params() {
		if !cmp.Equal(p.Value, b.Params()[i].Value) {
			t.Errorf("%s: initial weights differ for the same seed", p.Name)
		}
	}
}

// TestForwardBatches checks that logits do not depend on the batch size or on the graph cache, that
// an in-place change of Param.Value is seen, and that gradients do not accumulate across steps.
func TestForwardBatches(t *testing.T) {
	for _, tc := range []struct{ name, spec string }{{"mlp", mlpSpec}, {"cnn", cnnSpec}} {
		t.Run(tc.name, func(t *testing.T) {
			spec := mustSpec(t, tc.spec)
			net, err := NewNet(spec, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			in, c := nn.Shape(spec.Input).Size(), spec.Classes
			const n = 7
			x := randSlice(newTestRNG(), n*in, 1)
			all, err := net.Forward(x, n)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range []int{1, 2, 3, 5, 6, 4} { // more sizes than the cache holds
				for i := 0; i+b <= n; i += b {
					z, err := net.Forward(x[i*in:(i+b)*in], b)
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(all[i*c:(i+b)*c], z, cmpopts.EquateApprox(0, 1e-5)); diff != "" {
						t.Fatalf("batch %d at %d (-all +part):\n%s", b, i, diff)
					}
				}
			}
			// An optimiser's in-place update must be seen by the next run.
			p := net.Params()[len(net.Params())-1] // last bias
			for i := range p.Value {
				p.Value[i] += 1
			}
			z, err := net.Forward(x, n)
			if err != nil {
				t.Fatal(err)
			}
			for i := range z {
				if math.Abs(float64(z[i]-all[i]-1)) > 1e-4 {
					t.Fatalf("logit %d: %v before, %v after adding 1 to the bias", i, all[i], z[i])
				}
			}
			// Two steps on the same data give the same gradients (no accumulation).
			var last float64
			loss := mseLoss(randSlice(newTestRNG(), n*c, 1), &last)
			if _, err := net.TrainStep(x, n, newTestRNG(), loss); err != nil {
				t.Fatal(err)
			}
			g1 := map[string][]float32{}
			for _, p := range net.Params() {
				g1[p.Name] = append([]float32(nil), p.Grad...)
			}
			if _, err := net.TrainStep(x, n, newTestRNG(), loss); err != nil {
				t.Fatal(err)
			}
			for _, p := range net.Params() {
				if diff := cmp.Diff(g1[p.Name], p.Grad); diff != "" {
					t.Errorf("%s: gradient changed between identical steps (-first +second):\n%s", p.Name, diff)
				}
			}
		})
	}
}

func TestNetErrors(t *testing.T) {
	net, err := NewNet(mustSpec(t, mlpSpec), 1)
	if err != nil {
		t.Fatal(err)
	}
	var last float64
	loss := mseLoss(make([]float32, 6), &last)
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"short input", func() error { _, err := net.Forward(make([]float32, 5), 1); return err }},
		{"zero batch", func() error { _, err := net.Forward(nil, 0); return err }},
		{"nil loss", func() error { _, err := net.TrainStep(make([]float32, 12), 2, newTestRNG(), nil); return err }},
		{"nil rng with dropout", func() error { _, err := net.TrainStep(make([]float32, 12), 2, nil, loss); return err }},
		{"nil spec", func() error { _, err := NewNet(nil, 1); return err }},
		{"invalid spec", func() error { _, err := NewNet(&Spec{Input: []int{3}, Classes: 2}, 1); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); err == nil {
				t.Error("no error")
			}
		})
	}
}

// TestGOMAXPROCSIndependent checks that a training step gives bit-identical gradients whether the
// large sgemms and reductions run on one goroutine or are split across several.
func TestGOMAXPROCSIndependent(t *testing.T) {
	spec, err := LoadSpec("../models/mnist-student.json")
	if err != nil {
		t.Fatal(err)
	}
	const batch = 300
	data := newTestRNG()
	x := randSlice(data, batch*784, 1)
	target := randSlice(data, batch*10, 1)
	grads := func(procs int) map[string][]float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		net, err := NewNet(spec, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer net.Close()
		var last float64
		if _, err := net.TrainStep(x, batch, nil, mseLoss(target, &last)); err != nil {
			t.Fatal(err)
		}
		g := map[string][]float32{}
		for _, p := range net.Params() {
			g[p.Name] = append([]float32(nil), p.Grad...)
		}
		return g
	}
	one, four := grads(1), grads(4)
	if diff := cmp.Diff(one, four); diff != "" {
		t.Errorf("gradients differ between GOMAXPROCS 1 and 4 (-1 +4):\n%.2000s", diff)
	}
}
