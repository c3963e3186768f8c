package student

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// randLogits returns m values uniform in [-scale, scale] from a seeded generator.
func randLogits(rng *rand.Rand, m int, scale float64) []float32 {
	out := make([]float32, m)
	for i := range out {
		out[i] = float32((2*rng.Float64() - 1) * scale)
	}
	return out
}

// zeroMean shifts each row of x [n][c] to mean zero.
func zeroMean(x []float32, n, c int) {
	for i := range n {
		row := x[i*c : (i+1)*c]
		var m float64
		for _, v := range row {
			m += float64(v)
		}
		m /= float64(c)
		for j := range row {
			row[j] = float32(float64(row[j]) - m)
		}
	}
}

// softmaxNaive is the textbook softmax(x·s) in float64, for small inputs.
func softmaxNaive(x []float32, s float64) []float64 {
	out := make([]float64, len(x))
	var sum float64
	for j, v := range x {
		out[j] = math.Exp(float64(v) * s)
		sum += out[j]
	}
	for j := range out {
		out[j] /= sum
	}
	return out
}

func randLabels(rng *rand.Rand, n, c int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(rng.IntN(c))
	}
	return out
}

func TestLossGradientFiniteDifferences(t *testing.T) {
	const n, c = 4, 5
	tests := []struct {
		name     string
		loss     Loss
		k        int // teachers; 0 = none
		labels   bool
		scale    float64
		teachers float64
	}{
		{name: "kl+ce T=1", loss: Loss{T: 1, Alpha: 0.7}, k: 1, labels: true, scale: 2},
		{name: "kl+ce T=4", loss: Loss{T: 4, Alpha: 0.5, Kind: "kl"}, k: 1, labels: true, scale: 3},
		{name: "kl T=20 soft only", loss: Loss{T: 20, Alpha: 1}, k: 1, labels: true, scale: 5},
		{name: "kl no labels", loss: Loss{T: 3, Alpha: 0.3}, k: 1, scale: 2},
		{name: "kl ensemble probs", loss: Loss{T: 2, Alpha: 0.6, Ensemble: "probs"}, k: 3, labels: true, scale: 3},
		{name: "kl ensemble logits", loss: Loss{T: 2, Alpha: 0.6, Ensemble: "logits"}, k: 3, labels: true, scale: 3},
		{name: "mse+ce", loss: Loss{T: 1, Alpha: 0.5, Kind: "mse"}, k: 1, labels: true, scale: 2},
		{name: "mse ensemble", loss: Loss{T: 1, Alpha: 1, Kind: "mse"}, k: 2, scale: 2},
		{name: "ce only", loss: Loss{T: 1, Alpha: 0.9}, labels: true, scale: 3},
		{name: "dkd+ce T=4", loss: Loss{T: 4, Alpha: 0.5, Kind: "dkd", DKDAlpha: 1, DKDBeta: 8}, k: 1, labels: true, scale: 3},
		{name: "dkd T=1 soft only", loss: Loss{T: 1, Alpha: 1, Kind: "dkd", DKDAlpha: 2, DKDBeta: 0.5}, k: 1, labels: true, scale: 2},
		{name: "dkd ensemble probs", loss: Loss{T: 2, Alpha: 0.6, Kind: "dkd", DKDAlpha: 1, DKDBeta: 8, Ensemble: "probs"}, k: 3, labels: true, scale: 3},
		{name: "dkd ensemble logits", loss: Loss{T: 2, Alpha: 0.6, Kind: "dkd", DKDAlpha: 1, DKDBeta: 8, Ensemble: "logits"}, k: 2, labels: true, scale: 3},
		{name: "standardised kl+ce T=2", loss: Loss{T: 2, Alpha: 0.9, Standardize: true}, k: 1, labels: true, scale: 3},
		{name: "standardised kl no labels", loss: Loss{T: 1, Alpha: 0.5, Standardize: true}, k: 1, scale: 2},
		{name: "standardised kl ensemble", loss: Loss{T: 3, Alpha: 0.7, Standardize: true}, k: 3, labels: true, scale: 3},
		{name: "standardised dkd", loss: Loss{T: 2, Alpha: 0.5, Kind: "dkd", DKDAlpha: 1, DKDBeta: 8, Standardize: true}, k: 1, labels: true, scale: 3},
	}
	for ti, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ti), 7))
			z := randLogits(rng, n*c, tt.scale)
			var teacher []float32
			if tt.k > 0 {
				teacher = randLogits(rng, tt.k*n*c, tt.scale)
			}
			var labels []int32
			if tt.labels {
				labels = randLabels(rng, n, c)
			}
			dz := make([]float32, n*c)
			tt.loss.Parts(z, n, c, dz, teacher, tt.k, labels)
			const h = 1e-2
			zz := append([]float32(nil), z...)
			for j := range z {
				zz[j] = z[j] + h
				up := float64(zz[j])
				fp := tt.loss.Parts(zz, n, c, nil, teacher, tt.k, labels).Total
				zz[j] = z[j] - h
				down := float64(zz[j])
				fm := tt.loss.Parts(zz, n, c, nil, teacher, tt.k, labels).Total
				zz[j] = z[j]
				fd := (fp - fm) / (up - down)
				// Central differences err by O(h²·f''') ≈ 1e-4 here; float32 storage of dz by 1e-7.
				if diff := math.Abs(fd - float64(dz[j])); diff > 2e-4*max(1, math.Abs(fd)) {
					t.Errorf("dz[%d] = %.7g, finite difference %.7g (diff %.2g)", j, dz[j], fd, diff)
				}
			}
		})
	}
}

// The gradient of T²·KL(p ‖ softmax(z/T)), averaged over the batch, is T·(q − p)/n per example.
func TestSoftGradientIsTQMinusP(t *testing.T) {
	const n, c = 3, 7
	for _, T := range []float64{1, 2.5, 8, 20} {
		rng := rand.New(rand.NewPCG(3, uint64(T*10)))
		z := randLogits(rng, n*c, 4)
		v := randLogits(rng, n*c, 4)
		dz := make([]float32, n*c)
		Loss{T: T, Alpha: 1}.Parts(z, n, c, dz, v, 1, nil)
		for i := range n {
			q := softmaxNaive(z[i*c:(i+1)*c], 1/T)
			p := softmaxNaive(v[i*c:(i+1)*c], 1/T)
			for j := range c {
				want := T * (q[j] - p[j]) / n
				if d := math.Abs(float64(dz[i*c+j]) - want); d > 1e-6*max(1, math.Abs(want)) {
					t.Errorf("T=%v: dz[%d][%d] = %.8g, want T(q-p)/n = %.8g", T, i, j, dz[i*c+j], want)
				}
			}
		}
	}
}

// At a high temperature the soft gradient tends to the logit-matching gradient (z − v)/(C·n) for
// zero-mean logits (Hinton et al. 2015 §2.1), i.e. the mse gradient divided by C.
func TestHighTemperatureLimitIsLogitMatching(t *testing.T) {
	const n, c = 5, 10
	rng := rand.New(rand.NewPCG(11, 12))
	z := randLogits(rng, n*c, 1)
	v := randLogits(rng, n*c, 1)
	zeroMean(z, n, c)
	zeroMean(v, n, c)
	kl := make([]float32, n*c)
	Loss{T: 1000, Alpha: 1}.Parts(z, n, c, kl, v, 1, nil)
	mse := make([]float32, n*c)
	Loss{T: 1000, Alpha: 1, Kind: "mse"}.Parts(z, n, c, mse, v, 1, nil)
	var maxRef, maxDiff float64
	for j := range z {
		want := (float64(z[j]) - float64(v[j])) / (c * n)
		maxRef = max(maxRef, math.Abs(want))
		maxDiff = max(maxDiff, math.Abs(float64(kl[j])-want))
		if d := math.Abs(float64(mse[j])/c - want); d > 1e-7 {
			t.Errorf("mse dz[%d]/C = %.8g, want (z-v)/(C n) = %.8g", j, mse[j]/c, want)
		}
	}
	// The next term of the expansion is O(|z|/T) = O(1e-3) relative.
	if rel := maxDiff / maxRef; rel > 1e-3 {
		t.Errorf("T=1000 soft gradient differs from (z-v)/(C n) by %.3g relative, want < 1e-3", rel)
	}
	t.Logf("T=1000: max relative difference from (z-v)/(C n): %.3g", maxDiff/maxRef)
}

// The T² factor keeps the soft gradient's scale independent of T (KD-NOTES "T² or not").
func TestSoftGradientScaleIndependentOfT(t *testing.T) {
	const n, c = 8, 10
	rng := rand.New(rand.NewPCG(5, 6))
	z := randLogits(rng, n*c, 2)
	v := randLogits(rng, n*c, 2)
	zeroMean(z, n, c)
	zeroMean(v, n, c)
	norm := func(T float64) float64 {
		dz := make([]float32, n*c)
		Loss{T: T, Alpha: 1}.Parts(z, n, c, dz, v, 1, nil)
		var s float64
		for _, g := range dz {
			s += float64(g) * float64(g)
		}
		return math.Sqrt(s)
	}
	ref := norm(1000)
	for _, T := range []float64{4, 8, 20, 50, 100} {
		got := norm(T)
		// Without T² the norm would shrink like 1/T² (by 6e4 from T=4 to T=1000); with it the ratio
		// stays near 1, approaching it as T grows.
		if r := got / ref; r < 0.75 || r > 1.33 {
			t.Errorf("T=%v: soft gradient norm %.4g is %.3g× that at T=1000, want within [0.75, 1.33]", T, got, r)
		}
	}
}

// The soft loss is KL summed over classes and averaged over examples ('batchmean'), not divided by
// the number of elements n·C as PyTorch's reduction 'mean' does.
func TestSoftLossIsBatchmean(t *testing.T) {
	const n, c, T = 6, 10, 3.0
	rng := rand.New(rand.NewPCG(8, 9))
	z := randLogits(rng, n*c, 3)
	v := randLogits(rng, n*c, 3)
	var sum float64
	for i := range n {
		p := softmaxNaive(v[i*c:(i+1)*c], 1/T)
		q := softmaxNaive(z[i*c:(i+1)*c], 1/T)
		for j := range c {
			sum += p[j] * math.Log(p[j]/q[j])
		}
	}
	batchmean := T * T * sum / n
	mean := T * T * sum / (n * c)
	got := Loss{T: T, Alpha: 1}.Parts(z, n, c, nil, v, 1, nil)
	if d := math.Abs(got.Soft - batchmean); d > 1e-9*batchmean {
		t.Errorf("soft loss %.10g, want batchmean T²·ΣKL/n = %.10g ('mean' would be %.10g)", got.Soft, batchmean, mean)
	}
	if got.Total != got.Soft {
		t.Errorf("no labels: total %v != soft %v", got.Total, got.Soft)
	}
	// Doubling the batch with the same examples leaves a mean over examples unchanged.
	z2 := append(append([]float32(nil), z...), z...)
	v2 := append(append([]float32(nil), v...), v...)
	got2 := Loss{T: T, Alpha: 1}.Parts(z2, 2*n, c, nil, v2, 1, nil)
	if d := math.Abs(got2.Soft - got.Soft); d > 1e-12*got.Soft {
		t.Errorf("doubled batch: soft loss %.12g, want %.12g", got2.Soft, got.Soft)
	}
}

// Two teachers, one example, three classes, T=1: mean of probabilities vs mean of logits, by hand.
func TestEnsembleProbsVsLogits(t *testing.T) {
	ln := func(x float64) float32 { return float32(math.Log(x)) }
	teacher := []float32{
		ln(0.5), ln(0.25), ln(0.25), // teacher 0
		ln(0.25), ln(0.25), ln(0.5), // teacher 1
	}
	z := []float32{0, 0, 0} // q = 1/3 each
	r := math.Sqrt(0.125)
	tests := []struct {
		ensemble string
		p        []float64
	}{
		// mean of probabilities
		{"probs", []float64{0.375, 0.25, 0.375}},
		// softmax of mean logits ∝ geometric mean sqrt(p0·p1)
		{"logits", []float64{r / (2*r + 0.25), 0.25 / (2*r + 0.25), r / (2*r + 0.25)}},
	}
	var kls []float64
	for _, tt := range tests {
		t.Run(tt.ensemble, func(t *testing.T) {
			var want float64
			for _, p := range tt.p {
				want += p * math.Log(3*p)
			}
			dz := make([]float32, 3)
			got := Loss{T: 1, Alpha: 1, Ensemble: tt.ensemble}.Parts(z, 1, 3, dz, teacher, 2, nil)
			if d := math.Abs(got.Soft - want); d > 1e-6 {
				t.Errorf("KL = %.8g, want %.8g", got.Soft, want)
			}
			for j, p := range tt.p {
				if d := math.Abs(float64(dz[j]) - (1.0/3 - p)); d > 1e-6 {
					t.Errorf("dz[%d] = %.7g, want q-p = %.7g", j, dz[j], 1.0/3-p)
				}
			}
			kls = append(kls, got.Soft)
		})
	}
	if len(kls) == 2 && math.Abs(kls[0]-kls[1]) < 1e-3 {
		t.Errorf("probs and logits ensembles agree (%v, %v); they should differ here", kls[0], kls[1])
	}
}

func TestLossPartsWeights(t *testing.T) {
	const n, c = 4, 3
	rng := rand.New(rand.NewPCG(1, 1))
	z := randLogits(rng, n*c, 2)
	v := randLogits(rng, n*c, 2)
	y := randLabels(rng, n, c)
	both := Loss{T: 2, Alpha: 0.25}.Parts(z, n, c, nil, v, 1, y)
	if want := 0.25*both.Soft + 0.75*both.Hard; math.Abs(both.Total-want) > 1e-12 {
		t.Errorf("total %v, want 0.25 soft + 0.75 hard = %v", both.Total, want)
	}
	if both.Soft <= 0 || both.Hard <= 0 {
		t.Errorf("parts %+v, want both positive", both)
	}
	hardOnly := Loss{T: 2, Alpha: 0.25}.Parts(z, n, c, nil, nil, 0, y)
	if hardOnly.Total != hardOnly.Hard || hardOnly.Soft != 0 || math.Abs(hardOnly.Hard-both.Hard) > 1e-12 {
		t.Errorf("no teacher: %+v, want total = hard = %v (alpha ignored)", hardOnly, both.Hard)
	}
	alpha1 := Loss{T: 2, Alpha: 1}.Parts(z, n, c, nil, v, 1, y)
	if alpha1.Total != alpha1.Soft || alpha1.Hard != both.Hard {
		t.Errorf("alpha=1: %+v, want total = soft and hard still reported", alpha1)
	}
	// Func returns the same total and gradient as Parts.
	dz1 := make([]float32, n*c)
	dz2 := make([]float32, n*c)
	for i := range dz1 {
		dz1[i] = 99 // Func overwrites, it does not accumulate
	}
	l := Loss{T: 2, Alpha: 0.25}
	got := l.Func(v, 1, y)(z, n, c, dz1)
	want := l.Parts(z, n, c, dz2, v, 1, y)
	if got != float32(want.Total) {
		t.Errorf("Func returned %v, Parts total %v", got, want.Total)
	}
	for i := range dz1 {
		if dz1[i] != dz2[i] {
			t.Fatalf("Func dz[%d] = %v, Parts dz %v", i, dz1[i], dz2[i])
		}
	}
}

func TestLossStableForHugeLogits(t *testing.T) {
	z := []float32{1e4, -1e4, 0, -1e4, 1e4, 0}
	v := []float32{-1e4, 1e4, 0, 1e4, 0, -1e4}
	labels := []int32{0, 0}
	for _, l := range []Loss{{T: 1, Alpha: 0.5}, {T: 20, Alpha: 0.5}, {T: 1, Alpha: 0.5, Ensemble: "logits"}, {T: 1, Alpha: 0.5, Kind: "mse"}} {
		dz := make([]float32, 6)
		p := l.Parts(z, 2, 3, dz, v, 1, labels)
		for _, x := range []float64{p.Total, p.Soft, p.Hard} {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				t.Fatalf("%+v: parts %+v not finite", l, p)
			}
		}
		for j, g := range dz {
			if math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) {
				t.Fatalf("%+v: dz[%d] = %v", l, j, g)
			}
		}
		// Example 0 is right by a margin of 1e4 (CE ≈ 0), example 1 wrong by 2e4 (CE = 2e4).
		if math.Abs(p.Hard-1e4) > 1e-6*1e4 {
			t.Errorf("%+v: hard %v, want (0 + 2e4)/2 = 1e4", l, p.Hard)
		}
	}
	// Teacher probabilities that underflow to 0 contribute 0 (p log p → 0), not NaN.
	p := Loss{T: 1, Alpha: 1}.Parts([]float32{0, 0}, 1, 2, nil, []float32{1e4, -1e4}, 1, nil)
	if want := math.Log(2); math.Abs(p.Soft-want) > 1e-12 {
		t.Errorf("KL(one-hot ‖ uniform) = %v, want log 2", p.Soft)
	}
}

func TestLossValidate(t *testing.T) {
	tests := []struct {
		loss Loss
		want string // "" = valid
	}{
		{Loss{T: 20, Alpha: 0.7}, ""},
		{Loss{T: 1, Alpha: 0, Kind: "mse", Ensemble: "logits"}, ""},
		{Loss{T: 0, Alpha: 0.5}, "temperature"},
		{Loss{T: math.NaN(), Alpha: 0.5}, "temperature"},
		{Loss{T: math.Inf(1), Alpha: 0.5}, "temperature"},
		{Loss{T: 1, Alpha: 1.5}, "alpha"},
		{Loss{T: 1, Alpha: math.NaN()}, "alpha"},
		{Loss{T: 1, Kind: "ce"}, "kind"},
		{Loss{T: 1, Ensemble: "median"}, "ensemble"},
		{Loss{T: 4, Alpha: 0.5, Kind: "dkd", DKDAlpha: 1, DKDBeta: 8, Standardize: true}, ""},
		{Loss{T: 4, Kind: "dkd", DKDAlpha: -1, DKDBeta: 8}, "dkd weight"},
		{Loss{T: 4, Kind: "dkd", DKDAlpha: 1, DKDBeta: math.Inf(1)}, "dkd weight"},
		{Loss{T: 4, Kind: "dkd", DKDAlpha: math.NaN(), DKDBeta: 8}, "dkd weight"},
		{Loss{T: 1, Kind: "mse", Standardize: true}, "standardisation"},
	}
	for _, tt := range tests {
		err := tt.loss.Validate()
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: Validate() = %v, want error about %q", tt.loss, err, tt.want)
		}
	}
}

func TestCheckLabels(t *testing.T) {
	if err := CheckLabels([]int32{0, 9, 3}, 10); err != nil {
		t.Errorf("valid labels: %v", err)
	}
	for _, tt := range []struct {
		labels []int32
		want   string
	}{
		{[]int32{0, 10, 3}, "sample 1 has label 10"},
		{[]int32{0, 1, -1}, "sample 2 has label -1"},
	} {
		err := CheckLabels(tt.labels, 10)
		if !errors.Is(err, ErrBadLabel) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckLabels(%v) = %v, want %q", tt.labels, err, tt.want)
		}
	}
}

func TestCheckTeacher(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(-1))
	tests := []struct {
		name    string
		v       []float32
		k, n, c int
		want    string // "" = valid
	}{
		{"finite", []float32{1, 2, 3, 4}, 1, 2, 2, ""},
		{"nan", []float32{1, 2, 3, nan}, 1, 2, 2, "sample 101 has NaN for class 1"},
		{"inf second teacher", []float32{1, 2, 3, 4, inf, 0, 1, 1}, 2, 2, 2, "sample 100 of teacher 1 has -Inf for class 0"},
		{"length", []float32{1, 2, 3}, 1, 2, 2, "3 values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckTeacher(tt.v, tt.k, tt.n, tt.c, 100)
			if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckTeacher = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestLogitLossesHandComputed checks DKD and standardised KL against values worked out in float64
// from the papers' definitions with plain probabilities (Python's math module: softmax by
// exponentials, KL(a ‖ b) = Σ a log(a/b), the binary and non-target distributions built
// explicitly, Z(x) with the sample std ÷ (C − 1) plus 1e-7): z = (1, 2, 0.5), v = (3, 1, 0),
// T = 2, DKD weights 1 and 8, soft part only.
func TestLogitLossesHandComputed(t *testing.T) {
	z, v := []float32{1, 2, 0.5}, []float32{3, 1, 0}
	for _, tc := range []struct {
		name  string
		loss  Loss
		label int32
		want  float64
	}{
		{"kl", Loss{T: 2, Alpha: 1}, 0, 0.9813098291824851},
		{"dkd label 0 (teacher's top class)", Loss{T: 2, Alpha: 1, Kind: "dkd", DKDAlpha: 1, DKDBeta: 8}, 0, 1.2003765173003087},
		{"dkd label 1", Loss{T: 2, Alpha: 1, Kind: "dkd", DKDAlpha: 1, DKDBeta: 8}, 1, 5.218640343011636},
		{"standardised kl", Loss{T: 2, Alpha: 1, Standardize: true}, 0, 0.6640961605886923},
		{"standardised dkd", Loss{T: 2, Alpha: 1, Kind: "dkd", DKDAlpha: 1, DKDBeta: 8, Standardize: true}, 0, 2.156170070776492},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.loss.Parts(z, 1, 3, nil, v, 1, []int32{tc.label})
			if math.Abs(got.Soft-tc.want) > 1e-6*tc.want {
				t.Errorf("soft part %.10g, want %.10g", got.Soft, tc.want)
			}
			if math.Abs(got.Total-got.Soft) > 1e-12 {
				t.Errorf("total %.10g with alpha 1, want the soft part %.10g", got.Total, got.Soft)
			}
		})
	}
}

// TestDKDDecomposesKL checks KL(p ‖ q) = TCKD + (1 − p_t)·NCKD (Zhao et al. 2022, eq. 4): DKD
// with weights 1 and 1 − p_t equals "kl", value and gradient, per example.
func TestDKDDecomposesKL(t *testing.T) {
	const c, T = 6, 3.0
	rng := rand.New(rand.NewPCG(4, 5))
	for i := range 5 {
		z, v := randLogits(rng, c, 4), randLogits(rng, c, 4)
		y := int32(i % c)
		pt := softmaxNaive(v, 1/T)[y]
		kl, dkd := Loss{T: T, Alpha: 1}, Loss{T: T, Alpha: 1, Kind: "dkd", DKDAlpha: 1, DKDBeta: 1 - pt}
		gk, gd := make([]float32, c), make([]float32, c)
		a := kl.Parts(z, 1, c, gk, v, 1, []int32{y})
		b := dkd.Parts(z, 1, c, gd, v, 1, []int32{y})
		if math.Abs(a.Soft-b.Soft) > 1e-9*max(1, a.Soft) {
			t.Errorf("example %d: kl %.12g, dkd with beta 1 - p_t %.12g", i, a.Soft, b.Soft)
		}
		for j := range gk {
			if math.Abs(float64(gk[j]-gd[j])) > 1e-6 {
				t.Errorf("example %d: dz[%d] kl %g, dkd %g", i, j, gk[j], gd[j])
			}
		}
	}
}

// TestStandardizedLossIgnoresLogitScale checks what logit standardisation is for: the soft part
// does not change when either side's logits are scaled by a positive factor and shifted.
func TestStandardizedLossIgnoresLogitScale(t *testing.T) {
	const n, c = 3, 5
	rng := rand.New(rand.NewPCG(8, 9))
	z, v := randLogits(rng, n*c, 3), randLogits(rng, n*c, 3)
	labels := randLabels(rng, n, c)
	affine := func(x []float32, a, b float32) []float32 {
		out := make([]float32, len(x))
		for i, x := range x {
			out[i] = a*x + b
		}
		return out
	}
	for _, l := range []Loss{{T: 2, Alpha: 1, Standardize: true}, {T: 4, Alpha: 1, Kind: "dkd", DKDAlpha: 1, DKDBeta: 8, Standardize: true}} {
		base := l.Parts(z, n, c, nil, v, 1, labels).Soft
		moved := l.Parts(affine(z, 0.25, 3), n, c, nil, affine(v, 6, -2), 1, labels).Soft
		if math.Abs(base-moved) > 1e-5*max(1, base) {
			t.Errorf("%s: soft %.8g, after scaling the logits %.8g", l.Kind, base, moved)
		}
		plain := l
		plain.Standardize = false
		if p := plain.Parts(affine(z, 0.25, 3), n, c, nil, affine(v, 6, -2), 1, labels).Soft; math.Abs(p-moved) < 1e-3 {
			t.Errorf("%s: unstandardised soft %.8g equals the standardised one: the test cannot tell them apart", l.Kind, p)
		}
	}
}

// TestPartsMixed: a mixed batch's hard term is Lam·CE(y1) + (1−Lam)·CE(y2), and its gradient is
// q minus the mixed target, computed by hand: softmax([0, ln 3]) = [1/4, 3/4].
func TestPartsMixed(t *testing.T) {
	z := []float32{0, float32(math.Log(3))}
	dz := make([]float32, 2)
	got := Loss{T: 1, Kind: "kl"}.PartsMixed(z, 1, 2, dz, nil, 0, []int32{0}, &Mixed{Labels: []int32{1}, Lam: 0.3})
	want := 0.3*math.Log(4) + 0.7*math.Log(4.0/3)
	if math.Abs(got.Hard-want) > 1e-6 || math.Abs(got.Total-want) > 1e-6 {
		t.Errorf("hard %v total %v, want %v", got.Hard, got.Total, want)
	}
	if math.Abs(float64(dz[0])+0.05) > 1e-6 || math.Abs(float64(dz[1])-0.05) > 1e-6 {
		t.Errorf("gradient %v, want [-0.05 0.05]", dz)
	}
	// Lam 1 is the unmixed loss.
	plain := Loss{T: 1, Kind: "kl"}.Parts(z, 1, 2, nil, nil, 0, []int32{0})
	if one := (Loss{T: 1, Kind: "kl"}).PartsMixed(z, 1, 2, nil, nil, 0, []int32{0}, &Mixed{Labels: []int32{1}, Lam: 1}); math.Abs(one.Hard-plain.Hard) > 1e-12 {
		t.Errorf("lam 1: %v, unmixed %v", one.Hard, plain.Hard)
	}
}
