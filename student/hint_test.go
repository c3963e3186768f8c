package student

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestHintGradients: each hint loss and its gradients (on the student's feature and on the
// projection) against central finite differences, with maps pooled on either side and vectors.
func TestHintGradients(t *testing.T) {
	for _, tc := range []struct {
		loss             string
		student, teacher []int
	}{
		{HintMSE, []int{3, 4, 4}, []int{5, 2, 2}}, // the student's map pooled 2x2
		{HintMSE, []int{3, 2, 2}, []int{2, 4, 2}}, // the teacher's pooled 2x1
		{HintCosine, []int{3, 4, 4}, []int{2, 4, 4}},
		{HintCosine, []int{6}, []int{4}},
		{HintMSE, []int{6}, []int{4}},
		{HintAT, []int{3, 4, 4}, []int{5, 2, 2}},
		{HintAT, []int{2, 3, 3}, []int{4, 3, 3}},
	} {
		h, err := NewHint("hint0", tc.loss, 0.7, tc.student, tc.teacher, 5)
		if err != nil {
			t.Fatalf("%s %v %v: %v", tc.loss, tc.student, tc.teacher, err)
		}
		const n = 3
		rng := rand.New(rand.NewPCG(2, 3))
		size := func(s []int) int {
			v := n
			for _, d := range s {
				v *= d
			}
			return v
		}
		f, tf := make([]float32, size(tc.student)), make([]float32, size(tc.teacher))
		for i := range f {
			f[i] = float32(rng.NormFloat64())
		}
		for i := range tf {
			tf[i] = float32(rng.NormFloat64())
		}
		df := make([]float32, len(f))
		fn := h.Func(tf)
		fn(f, n, df)
		var grads [][]float32
		for _, p := range h.Params() {
			grads = append(grads, append([]float32(nil), p.Grad...))
		}
		value := func() float64 { return float64(fn(f, n, make([]float32, len(f)))) }
		check := func(what string, x []float32, j int, got float32) {
			const eps = 1e-2
			v := x[j]
			x[j] = v + eps
			up := value()
			x[j] = v - eps
			down := value()
			x[j] = v
			num := (up - down) / (2 * eps)
			if math.Abs(float64(got)-num) > 1e-2*math.Max(1e-1, math.Abs(num)) {
				t.Errorf("%s %v→%v: d/d%s[%d] %.6f, finite difference %.6f", tc.loss, tc.student, tc.teacher, what, j, got, num)
			}
		}
		for j := 0; j < len(f); j += 7 {
			check("feature", f, j, df[j])
		}
		for k, p := range h.Params() {
			for j := 0; j < len(p.Value); j += 3 {
				check(p.Name, p.Value, j, grads[k][j])
			}
		}
	}
}

func TestNewHintRefuses(t *testing.T) {
	for _, tc := range []struct {
		loss             string
		student, teacher []int
		want             string
	}{
		{"l1", []int{4}, []int{4}, `hint loss "l1"`},
		{HintMSE, []int{4, 2, 2}, []int{4}, "want [C H W] maps on both sides"},
		{HintMSE, []int{4, 6, 6}, []int{4, 4, 4}, "not a whole multiple"},
		{HintAT, []int{4}, []int{4}, "attention transfer needs spatial maps"},
		{HintMSE, []int{4, 8, 2}, []int{4, 2, 8}, "one is taller, the other wider"},
	} {
		_, err := NewHint("h", tc.loss, 1, tc.student, tc.teacher, 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v %v: %v, want %q", tc.loss, tc.student, tc.teacher, err, tc.want)
		}
	}
	if h, err := NewHint("h", HintAT, 1, []int{4, 4, 4}, []int{8, 4, 4}, 1); err != nil || len(h.Params()) != 0 {
		t.Errorf("at: %v, %d parameters (want none)", err, len(h.Params()))
	}
}
