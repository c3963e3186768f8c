package student

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestTrainStepFeatures: with feature losses on two inner layers the gradients are those of the
// logits' loss plus the feature losses, against central finite differences of the total.
func TestTrainStepFeatures(t *testing.T) {
	// Smooth operators (tanh, avgpool), so that finite differences meet no kink.
	spec, err := ParseSpec([]byte(`{"input":[1,6,6],"classes":4,"layers":[
		{"type":"conv2d","name":"c1","filters":3,"kernel":3,"pad":1},{"type":"tanh","name":"r1"},
		{"type":"avgpool","kernel":2},{"type":"flatten","name":"flat"},{"type":"dense","units":5,"name":"d1"},
		{"type":"dense","units":4}]}`), "spec")
	if err != nil {
		t.Fatal(err)
	}
	net, err := NewNet(spec, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	if _, _, err := net.FeatureLayer("nope"); err == nil || !strings.Contains(err.Error(), "c1, r1, flat, d1") {
		t.Errorf("unknown layer: %v", err)
	}
	r1, shape, err := net.FeatureLayer("r1")
	if err != nil || len(shape) != 3 || shape[0] != 3 {
		t.Fatalf("r1: %d %v %v", r1, shape, err)
	}
	d1, _, err := net.FeatureLayer("d1")
	if err != nil {
		t.Fatal(err)
	}
	const batch = 3
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*36)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	targets := map[int][]float32{}
	// 0.5·mean over the batch of ‖f − target‖², a FitNets-style hint without projection.
	sq := func(layer int) FeatureLossFunc {
		return func(f []float32, n int, df []float32) float32 {
			tg, ok := targets[layer]
			if !ok {
				tg = make([]float32, len(f))
				for i := range tg {
					tg[i] = float32(rng.NormFloat64())
				}
				targets[layer] = tg
			}
			var l float64
			for i, v := range f {
				d := float64(v - tg[i])
				l += 0.5 * d * d / float64(n)
				df[i] = float32(d / float64(n))
			}
			return float32(l)
		}
	}
	labels := []int32{0, 3, 1}
	ce := func(z []float32, n, c int, dz []float32) float32 {
		return float32(Loss{T: 1, Kind: "kl"}.Parts(z, n, c, dz, nil, 0, labels).Total)
	}
	feats := []FeatureLoss{{Layer: r1, Fn: sq(r1)}, {Layer: d1, Fn: sq(d1)}}
	total := func() float64 {
		l, fl, err := net.TrainStepFeatures(x, batch, nil, ce, feats)
		if err != nil {
			t.Fatal(err)
		}
		s := float64(l)
		for _, v := range fl {
			s += float64(v)
		}
		return s
	}
	total()
	grads := make([][]float32, len(net.Params()))
	for i, p := range net.Params() {
		grads[i] = append([]float32(nil), p.Grad...)
	}
	const eps = 1e-2
	checked := 0
	for i, p := range net.Params() {
		for _, j := range []int{0, len(p.Value) / 2, len(p.Value) - 1} {
			v := p.Value[j]
			p.Value[j] = v + eps
			up := total()
			p.Value[j] = v - eps
			down := total()
			p.Value[j] = v
			num := (up - down) / (2 * eps)
			if got := float64(grads[i][j]); math.Abs(got-num) > 2e-2*math.Max(1, math.Abs(num)) {
				t.Errorf("%s[%d]: gradient %.5f, finite difference %.5f", p.Name, j, got, num)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("nothing checked")
	}
	// Without feature losses, TrainStepFeatures is TrainStep.
	a, _, _ := net.TrainStepFeatures(x, batch, nil, ce, nil)
	b, _ := net.TrainStep(x, batch, nil, ce)
	if a != b {
		t.Errorf("no features: %v, TrainStep %v", a, b)
	}
}

// TestFeatureLayerFusedRelu: a layer whose relu it would apply itself (dense, batchnorm, add)
// gives its output before the relu as a feature, the relu then running on its own; the relu layer
// gives the activated one; and the training step with such a feature trains the same weights as
// without it when the feature loss is zero.
func TestFeatureLayerFusedRelu(t *testing.T) {
	spec, err := ParseSpec([]byte(`{"input":[1,4,4],"classes":2,"layers":[
		{"type":"conv2d","filters":2,"kernel":3,"pad":1,"bias":false},{"type":"batchnorm","name":"bn"},{"type":"relu","name":"r"},
		{"type":"conv2d","filters":2,"kernel":1,"name":"c2"},{"type":"add","inputs":["c2","r"],"name":"sum"},{"type":"relu"},
		{"type":"flatten"},{"type":"dense","units":3,"name":"h"},{"type":"relu","name":"hr"},{"type":"dense","units":2}]}`), "spec")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"bn", "sum", "h", "hr"} {
		net, err := NewNet(spec, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := NewNet(spec, 1)
		if err != nil {
			t.Fatal(err)
		}
		layer, _, err := net.FeatureLayer(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		const batch = 4
		rng := rand.New(rand.NewPCG(3, 4))
		x := make([]float32, batch*16)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		labels := []int32{0, 1, 1, 0}
		ce := func(z []float32, n, c int, dz []float32) float32 {
			return float32(Loss{T: 1, Kind: "kl"}.Parts(z, n, c, dz, nil, 0, labels).Total)
		}
		negative := false
		zero := func(f []float32, n int, df []float32) float32 {
			for i, v := range f {
				negative = negative || v < 0
				df[i] = 0
			}
			return 0
		}
		for step := range 3 {
			l1, _, err := net.TrainStepFeatures(x, batch, nil, ce, []FeatureLoss{{Layer: layer, Fn: zero}})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			l2, err := ref.TrainStep(x, batch, nil, ce)
			if err != nil {
				t.Fatal(err)
			}
			if l1 != l2 {
				t.Errorf("%s, step %d: loss %v with a zero feature loss, %v without", name, step, l1, l2)
			}
			for i, p := range net.Params() {
				if !slices.Equal(p.Grad, ref.Params()[i].Grad) {
					t.Errorf("%s, step %d: %s's gradient differs with a zero feature loss", name, step, p.Name)
				}
			}
		}
		// Before its relu, the feature has negative values; the relu's output has none.
		if want := name != "hr"; negative != want {
			t.Errorf("feature %s has negative values: %v, want %v", name, negative, want)
		}
		net.Close()
		ref.Close()
	}
}
