package student

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/distillgo/distill/internal/nn/nntest"
)

// TestOperatorGradients is the training face of the operators' conformance suite: for every case
// of nntest (each operator of internal/nn in at least one), the gradient TrainStep computes for
// each parameter, in training mode (batch statistics, dropout masks), agrees with central finite
// differences of the loss. The loss is a fixed random linear function of the logits, computed in
// float64.
func TestOperatorGradients(t *testing.T) {
	for _, c := range nntest.Cases {
		t.Run(c.Name, func(t *testing.T) {
			spec := c.Parse()
			net, err := NewNet(spec, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			nntest.Randomize(spec, net.Params(), 2)
			const batch = 8
			x := nntest.Inputs(spec, batch, 3)
			rng := rand.New(rand.NewPCG(4, 5))
			r := randSlice(rng, batch*spec.Classes, 1)
			var loss float64
			lossFn := func(z []float32, n, k int, dz []float32) float32 {
				loss = 0
				for i, v := range z {
					loss += float64(r[i]) * float64(v) / float64(n)
					dz[i] = r[i] / float32(n)
				}
				return float32(loss)
			}
			eval := func() float64 {
				if _, err := net.TrainStep(x, batch, rand.New(rand.NewPCG(6, 7)), lossFn); err != nil {
					t.Fatal(err)
				}
				return loss
			}
			l0 := eval()
			grads := map[string][]float32{}
			for _, p := range net.Params() {
				grads[p.Name] = append([]float32(nil), p.Grad...)
			}
			// Small enough that few relu or pooling choices flip, large enough that float32
			// rounding of the logits stays well below the differences.
			const eps = 2e-3
			pick := rand.New(rand.NewPCG(8, 9))
			for _, p := range net.Params() {
				for range min(8, len(p.Value)) {
					i := pick.IntN(len(p.Value))
					v := p.Value[i]
					p.Value[i] = v + eps
					up := eval()
					p.Value[i] = v - eps
					down := eval()
					p.Value[i] = v
					fd, an := (up-down)/(2*eps), float64(grads[p.Name][i])
					tol := 1e-2*math.Max(math.Abs(fd), math.Abs(an)) + 1e-3
					// Where a relu or a pooling window switches between θ−ε and θ+ε, the loss has
					// a kink: the gradient is then one of the one-sided slopes, or between them.
					lo, hi := (l0-down)/eps, (up-l0)/eps
					if lo > hi {
						lo, hi = hi, lo
					}
					if math.Abs(fd-an) > tol && (an < lo-tol || an > hi+tol) {
						t.Errorf("d loss / d %s[%d] = %.6g, finite differences give %.6g (one-sided %.6g, %.6g)", p.Name, i, an, fd, lo, hi)
					}
				}
			}
		})
	}
}

// TestBatchnormBuffers checks that training mode updates batchnorm's running statistics with
// PyTorch's rule and leaves them out of Params, and that they come back from a checkpoint.
func TestBatchnormBuffers(t *testing.T) {
	spec, err := ParseSpec([]byte(`{"input":[3],"classes":2,"layers":[{"type":"dense","units":2},{"type":"batchnorm","momentum":0.25},{"type":"dense","units":2}]}`), "bn")
	if err != nil {
		t.Fatal(err)
	}
	net, err := NewNet(spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	for _, p := range net.Params() {
		if p.Buffer {
			t.Errorf("Params holds the buffer %s", p.Name)
		}
	}
	var mean, vr *Param
	for _, p := range net.Tensors() {
		switch p.Name {
		case "layers.1.running_mean":
			mean = p
		case "layers.1.running_var":
			vr = p
		}
	}
	if mean == nil || vr == nil || !mean.Buffer || mean.Grad != nil {
		t.Fatalf("running statistics missing or not buffers: %+v %+v", mean, vr)
	}
	x := []float32{1, 2, 3, -1, 0, 4, 2, 2, -2, 0, 1, 1}
	h, err := denseOut(net, x, 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.TrainStep(x, 4, nil, func(z []float32, n, c int, dz []float32) float32 { clear(dz); return 0 }); err != nil {
		t.Fatal(err)
	}
	for c := range 2 {
		var s, ss float64
		for n := range 4 {
			s += float64(h[n*2+c])
		}
		m := s / 4
		for n := range 4 {
			d := float64(h[n*2+c]) - m
			ss += d * d
		}
		wantMean, wantVar := 0.25*m, 0.75+0.25*ss/3
		if math.Abs(float64(mean.Value[c])-wantMean) > 1e-5 || math.Abs(float64(vr.Value[c])-wantVar) > 1e-5 {
			t.Errorf("channel %d: running mean %g var %g, want %g %g", c, mean.Value[c], vr.Value[c], wantMean, wantVar)
		}
	}
}

// denseOut returns the first dense layer's output for x, computed from its weights.
func denseOut(net *Net, x []float32, n int) ([]float32, error) {
	var w, b []float32
	for _, p := range net.Params() {
		switch p.Name {
		case "layers.0.weight":
			w = p.Value
		case "layers.0.bias":
			b = p.Value
		}
	}
	if w == nil || b == nil {
		return nil, fmt.Errorf("no first dense layer")
	}
	in, out := len(w)/len(b), len(b)
	h := make([]float32, n*out)
	for r := range n {
		for j := range out {
			s := b[j]
			for i := range in {
				s += x[r*in+i] * w[i*out+j]
			}
			h[r*out+j] = s
		}
	}
	return h, nil
}
