package student

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Reference values from torch.optim.Adam(lr=0.1) and torch.optim.SGD(lr=0.1, momentum=0.9),
// PyTorch 1.13 (Debian python3-torch), float32, p0 = [1, -0.5, 2] and the gradients below.
var (
	refGrads = [][]float32{{1, 0.25, -3}, {-2, 0.25, 1e-3}, {0.5, 0, 4}}
	refAdam  = [][]float64{
		{0.9000000357627869, -0.5999999642372131, 2.0999999046325684},
		{0.9366104006767273, -0.699999988079071, 2.1669809818267822},
		{0.9502794742584229, -0.777300238609314, 2.1469035148620605},
	}
	refSGD = [][]float64{
		{0.8999999761581421, -0.5249999761581421, 2.299999952316284},
		{1.0099999904632568, -0.5724999904632568, 2.5699000358581543},
		{1.059000015258789, -0.6152499914169312, 2.4128100872039795},
	}
)

func TestOptimizersMatchPyTorch(t *testing.T) {
	tests := []struct {
		name string
		opt  Optimizer
		want [][]float64
	}{
		{"adam", NewAdam(0.1, 0.9, 0.999, 1e-8), refAdam},
		{"sgd", NewSGD(0.1, 0.9), refSGD},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Param{Name: "w", Shape: []int{3}, Value: []float32{1, -0.5, 2}, Grad: make([]float32, 3)}
			for s, g := range refGrads {
				copy(p.Grad, g)
				tt.opt.Step([]*Param{p})
				for j, x := range p.Value {
					// float32 arithmetic in a different order than PyTorch's kernels: a few ulps.
					if d := math.Abs(float64(x) - tt.want[s][j]); d > 4e-7*max(1, math.Abs(tt.want[s][j])) {
						t.Errorf("step %d: p[%d] = %.9g, PyTorch %.9g", s+1, j, x, tt.want[s][j])
					}
				}
			}
		})
	}
}

// The first Adam steps worked by hand for one scalar, lr = 0.1, g = 1 then -2 then 0.5, p0 = 1:
// step 1: m = 0.1, v = 0.001, m̂ = 1, v̂ = 1, p = 1 − 0.1·1/(1+1e-8) ≈ 0.9;
// step 2: m = 0.09 − 0.2 = −0.11, v = 0.000999 + 0.004 = 0.004999, m̂ = −0.11/0.19,
// v̂ = 0.004999/0.001999, p = 0.9 + 0.1·0.578947/1.581376 ≈ 0.9366099.
func TestAdamByHand(t *testing.T) {
	a := NewAdam(0.1, 0.9, 0.999, 1e-8)
	p := &Param{Name: "x", Shape: []int{1}, Value: []float32{1}, Grad: []float32{1}}
	a.Step([]*Param{p})
	if d := math.Abs(float64(p.Value[0]) - 0.9); d > 1e-6 {
		t.Errorf("step 1: %v, want 0.9", p.Value[0])
	}
	p.Grad[0] = -2
	a.Step([]*Param{p})
	want := 0.9 + 0.1*(0.11/0.19)/math.Sqrt(0.004999/0.001999)
	if d := math.Abs(float64(p.Value[0]) - want); d > 1e-6 {
		t.Errorf("step 2: %v, want %v", p.Value[0], want)
	}
	// step 3: m = −0.099 + 0.05 = −0.049, v = 0.004994001 + 0.00025.
	p.Grad[0] = 0.5
	a.Step([]*Param{p})
	m, v := -0.049, 0.004999*0.999+0.001*0.25
	want -= 0.1 * (m / (1 - 0.729)) / (math.Sqrt(v/(1-math.Pow(0.999, 3))) + 1e-8)
	if d := math.Abs(float64(p.Value[0]) - want); d > 1e-6 {
		t.Errorf("step 3: %v, want %v", p.Value[0], want)
	}
	if a.Steps() != 3 {
		t.Errorf("Steps() = %d, want 3", a.Steps())
	}
}

func TestAdamConvergesOnQuadratic(t *testing.T) {
	// f(p) = ½ Σ a_i (p_i − c_i)², condition number 100.
	rng := rand.New(rand.NewPCG(21, 22))
	const n = 50
	a := make([]float32, n)
	c := make([]float32, n)
	p := &Param{Name: "p", Shape: []int{n}, Value: make([]float32, n), Grad: make([]float32, n)}
	for i := range n {
		a[i] = float32(0.1 + 9.9*float64(i)/(n-1))
		c[i] = float32(rng.NormFloat64())
	}
	opt := NewAdam(0.05, 0.9, 0.999, 1e-8)
	for range 2000 {
		for i := range n {
			p.Grad[i] = a[i] * (p.Value[i] - c[i])
		}
		opt.Step([]*Param{p})
	}
	for i := range n {
		if d := math.Abs(float64(p.Value[i] - c[i])); d > 1e-3 {
			t.Errorf("p[%d] = %v, minimum at %v", i, p.Value[i], c[i])
		}
	}
}

// gradsFor fills every Grad from the values and a step-dependent seeded noise, like a training
// step would.
func gradsFor(params []*Param, step int) {
	rng := rand.New(rand.NewPCG(uint64(step), 99))
	for _, p := range params {
		for i := range p.Grad {
			p.Grad[i] = 0.5*p.Value[i] + float32(rng.NormFloat64())
		}
	}
}

func newTestParams(seed uint64, sizes ...int) []*Param {
	rng := rand.New(rand.NewPCG(seed, 1))
	var ps []*Param
	for i, n := range sizes {
		p := &Param{Name: "layers." + string(rune('0'+i)) + ".weight", Shape: []int{n}, Value: make([]float32, n), Grad: make([]float32, n)}
		for j := range p.Value {
			p.Value[j] = float32(rng.NormFloat64())
		}
		ps = append(ps, p)
	}
	return ps
}

// sameBits compares float32 slices bit for bit and describes the first difference ("" if none).
func sameBits(a, b [][]float32) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d vs %d tensors", len(a), len(b))
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return fmt.Sprintf("tensor %d: %d vs %d values", i, len(a[i]), len(b[i]))
		}
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				return fmt.Sprintf("tensor %d [%d]: %v vs %v", i, j, a[i][j], b[i][j])
			}
		}
	}
	return ""
}

func values(ps []*Param) [][]float32 {
	var out [][]float32
	for _, p := range ps {
		out = append(out, append([]float32(nil), p.Value...))
	}
	return out
}

// 2 steps, save, restore into a fresh optimiser, 2 steps == 4 steps straight, bit for bit.
func TestOptimizerResumeIsExact(t *testing.T) {
	makers := map[string]func() Optimizer{
		"adam":       func() Optimizer { return NewAdam(1e-2, 0.9, 0.999, 1e-8) },
		"sgd":        func() Optimizer { return NewSGD(1e-2, 0.9) },
		"sgd plain":  func() Optimizer { return NewSGD(1e-2, 0) },
		"adam large": func() Optimizer { return NewAdam(1e-3, 0.8, 0.99, 1e-6) },
	}
	for name, mk := range makers {
		t.Run(name, func(t *testing.T) {
			sizes := []int{7, 3}
			if strings.HasSuffix(name, "large") {
				sizes = []int{300_000, 1000} // takes the parallel path
			}
			straight := newTestParams(5, sizes...)
			o1 := mk()
			for s := range 4 {
				gradsFor(straight, s)
				o1.Step(straight)
			}

			resumed := newTestParams(5, sizes...)
			o2 := mk()
			for s := range 2 {
				gradsFor(resumed, s)
				o2.Step(resumed)
			}
			saved := o2.State()
			vals := values(resumed)
			o2.Step(resumed) // mutate after saving: State must be a copy

			restored := newTestParams(5, sizes...)
			for i, p := range restored {
				copy(p.Value, vals[i])
			}
			o3 := mk()
			if err := o3.SetState(saved); err != nil {
				t.Fatal(err)
			}
			for s := 2; s < 4; s++ {
				gradsFor(restored, s)
				o3.Step(restored)
			}
			if err := sameBits(values(straight), values(restored)); err != "" {
				t.Errorf("resumed weights differ from straight run: %s", err)
			}
			st1, st3 := o1.State(), o3.State()
			if diff := cmp.Diff(slices.Sorted(maps.Keys(st1)), slices.Sorted(maps.Keys(st3))); diff != "" {
				t.Errorf("resumed optimiser state has other entries (-straight +resumed):\n%s", diff)
			}
			for k := range st1 {
				if err := sameBits([][]float32{st1[k]}, [][]float32{st3[k]}); err != "" {
					t.Errorf("resumed optimiser state %s differs: %s", k, err)
				}
			}
		})
	}
}

// The parallel update gives the same bits as the serial one.
func TestParallelUpdateDeterministic(t *testing.T) {
	big := newTestParams(3, 1<<18+123, 17)
	small := newTestParams(3, 1<<18+123, 17)
	gradsFor(big, 0)
	gradsFor(small, 0)
	oa, ob := NewAdam(1e-2, 0.9, 0.999, 1e-8), NewAdam(1e-2, 0.9, 0.999, 1e-8)
	oa.Step(big)
	// Serial reference: one param at a time, each below the parallel threshold in chunks.
	for _, p := range small {
		for lo := 0; lo < len(p.Value); lo += 1000 {
			hi := min(lo+1000, len(p.Value))
			part := &Param{Name: fmt.Sprintf("%s@%d", p.Name, lo), Value: p.Value[lo:hi], Grad: p.Grad[lo:hi]}
			ob.step = 0
			ob.Step([]*Param{part})
		}
	}
	if err := sameBits(values(big), values(small)); err != "" {
		t.Errorf("parallel and serial updates differ: %s", err)
	}
}

func TestSetStateRejectsBadState(t *testing.T) {
	good := func() map[string][]float32 {
		o := NewAdam(1e-3, 0.9, 0.999, 1e-8)
		ps := newTestParams(1, 4)
		gradsFor(ps, 0)
		o.Step(ps)
		return o.State()
	}
	tests := []struct {
		name string
		edit func(map[string][]float32)
		want string
	}{
		{"no step", func(st map[string][]float32) { delete(st, StepKey) }, `no "step"`},
		{"bad step", func(st map[string][]float32) { st[StepKey] = []float32{1.5, 0} }, "not a step count"},
		{"missing v", func(st map[string][]float32) { delete(st, "layers.0.weight.exp_avg_sq") }, "without layers.0.weight.exp_avg_sq"},
		{"length", func(st map[string][]float32) { st["layers.0.weight.exp_avg"] = []float32{1} }, "has 1 values"},
		{"unknown", func(st map[string][]float32) { st["layers.0.weight.momentum_buffer"] = []float32{1} }, "unexpected entry"},
		{"nan", func(st map[string][]float32) { st["layers.0.weight.exp_avg"][2] = float32(math.NaN()) }, "exp_avg[2] is NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := good()
			tt.edit(st)
			err := NewAdam(1e-3, 0.9, 0.999, 1e-8).SetState(st)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("SetState = %v, want error containing %q", err, tt.want)
			}
		})
	}
	big := map[string][]float32{StepKey: encodeStep(1<<30 + 5)}
	o := NewSGD(0.1, 0.9)
	if err := o.SetState(big); err != nil || o.Steps() != 1<<30+5 {
		t.Errorf("step 2^30+5: err %v, steps %d", err, o.Steps())
	}
}

func TestNewOptimizer(t *testing.T) {
	tests := []struct {
		name  string
		hyper map[string]float64
		want  map[string]float64
		err   string
	}{
		{"adam", nil, map[string]float64{"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}, ""},
		{"adam", map[string]float64{"lr": 0.01}, map[string]float64{"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}, ""},
		{"sgd", map[string]float64{"momentum": 0}, map[string]float64{"lr": 1e-2, "momentum": 0}, ""},
		{"sgd", map[string]float64{"lr": -1}, nil, "learning rate"},
		{"adam", map[string]float64{"beta2": 1}, nil, "betas"},
		{"adam", map[string]float64{"momentum": 0.9}, nil, "unknown hyper-parameter"},
		{"rmsprop", nil, nil, "unknown name"},
	}
	for _, tt := range tests {
		o, err := NewOptimizer(tt.name, tt.hyper)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("NewOptimizer(%s, %v) = %v, want error %q", tt.name, tt.hyper, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("NewOptimizer(%s, %v): %v", tt.name, tt.hyper, err)
		}
		if o.Name() != tt.name {
			t.Errorf("Name() = %q, want %q", o.Name(), tt.name)
		}
		if diff := cmp.Diff(tt.want, o.Hyper()); diff != "" {
			t.Errorf("Hyper() (-want +got):\n%s", diff)
		}
	}
}

func BenchmarkAdamStep(b *testing.B) {
	// The 784-800-800-10 student: 1.27 M parameters.
	ps := newTestParams(1, 784*800, 800, 800*800, 800, 800*10, 10)
	gradsFor(ps, 0)
	o := NewAdam(1e-3, 0.9, 0.999, 1e-8)
	b.SetBytes(int64(4 * 4 * (784*800 + 800*800 + 8000 + 1610)))
	for b.Loop() {
		o.Step(ps)
	}
}

// TestOptimizerStateNeverSubnormal checks that state decaying under zero gradients is flushed to
// zero instead of lingering as subnormal float32 values, which are some hundred times slower on x86.
func TestOptimizerStateNeverSubnormal(t *testing.T) {
	for _, opt := range []Optimizer{NewAdam(1e-3, 0.9, 0.999, 1e-8), NewSGD(1e-3, 0.9)} {
		p := &Param{Name: "w", Value: []float32{1, -1, 0.5}, Grad: []float32{1, -1e-3, 0}}
		opt.Step([]*Param{p})
		clear(p.Grad)
		// 0.9^k reaches the subnormal range (below 2^-126) after about 820 steps and rounds to
		// zero only after about 990; 0.999^k keeps Adam's second moment normal for far longer.
		for step := range 1000 {
			opt.Step([]*Param{p})
			for key, st := range opt.State() {
				for i, x := range st {
					if x != 0 && math.Abs(float64(x)) < 0x1p-126 {
						t.Fatalf("%s: step %d: %s[%d] = %g is subnormal", opt.Name(), step+2, key, i, x)
					}
				}
			}
		}
		st := opt.State()
		key := "w.exp_avg"
		if opt.Name() == "sgd" {
			key = "w.momentum_buffer"
		}
		if st[key][0] != 0 {
			t.Errorf("%s: %s = %v after 1000 zero gradients, want it flushed to 0", opt.Name(), key, st[key])
		}
	}
}

// BenchmarkAdamStepZeroGrads times Adam on parameters whose gradients stay zero, the case in which
// unflushed moments would be subnormal.
func BenchmarkAdamStepZeroGrads(b *testing.B) {
	n := 1 << 20
	p := &Param{Name: "w", Value: make([]float32, n), Grad: make([]float32, n)}
	for i := range p.Grad {
		p.Grad[i] = 1
	}
	opt := NewAdam(1e-3, 0.9, 0.999, 1e-8)
	opt.Step([]*Param{p})
	clear(p.Grad)
	for range 900 { // past the point where 0.1·0.9^k is subnormal
		opt.Step([]*Param{p})
	}
	b.ResetTimer()
	for range b.N {
		opt.Step([]*Param{p})
	}
}
