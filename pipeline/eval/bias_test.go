package eval

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseBiasShifts(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []BiasShift
		wantErr bool
	}{
		{"one", "3=+3.5", []BiasShift{{3, 3.5}}, false},
		{"two", "7=-7.6,8=-7.6", []BiasShift{{7, -7.6}, {8, -7.6}}, false},
		{"spaces", " 0 = 1 , 2=-0.25", []BiasShift{{0, 1}, {2, -0.25}}, false},
		{"no equals", "3", nil, true},
		{"negative class", "-1=2", nil, true},
		{"bad delta", "3=x", nil, true},
		{"infinite delta", "3=inf", nil, true},
		{"beyond float32", "3=1e39", nil, true},
		{"largest float32", "3=-3e38", []BiasShift{{3, -3e38}}, false},
		{"class twice", "3=1,3=2", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBiasShifts(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseBiasShifts(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("ParseBiasShifts(%q) (-want +got):\n%s", tt.in, d)
			}
			if err == nil {
				back, err := ParseBiasShifts(FormatBiasShifts(got))
				if err != nil || !cmp.Equal(back, got) {
					t.Errorf("round trip of %q: %v, %v", FormatBiasShifts(got), back, err)
				}
			}
		})
	}
}

func TestApplyBiasShifts(t *testing.T) {
	z := []float32{0, 1, 2, 3, 4, 5}
	if err := ApplyBiasShifts(z, 2, 3, []BiasShift{{2, -1}, {0, 0.5}}); err != nil {
		t.Fatal(err)
	}
	if want := []float32{0.5, 1, 1, 3.5, 4, 4}; !cmp.Equal(z, want) {
		t.Errorf("shifted logits %v, want %v", z, want)
	}
	if err := ApplyBiasShifts(z, 2, 3, []BiasShift{{3, 1}}); err == nil {
		t.Error("a shift of class 3 of 3 classes was accepted")
	}
}

// shiftedTask builds logits of n samples of c classes whose true labels were predicted right
// except that class k's logit was lowered by drop (a model that never saw class k), with a
// random margin per sample so that the best shift is near drop.
func shiftedTask(n, c, k int, drop float64, seed uint64) ([]float32, []int32) {
	rng := rand.New(rand.NewPCG(seed, 1))
	z := make([]float32, n*c)
	y := make([]int32, n)
	for i := range n {
		y[i] = int32(rng.IntN(c))
		for j := range c {
			z[i*c+j] = float32(rng.NormFloat64())
		}
		z[i*c+int(y[i])] += 3
		z[i*c+k] -= float32(drop)
	}
	return z, y
}

func TestFitBiasShifts(t *testing.T) {
	tests := []struct {
		name    string
		shifted int // the class whose logit was moved by -drop
		drop    float64
		classes []int // the classes fitted
	}{
		{"class 3 lowered by 4", 3, 4, []int{3}},
		{"class 1 raised by 6", 1, -6, []int{1}},
		{"two classes, one lowered", 3, 5, []int{0, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z, y := shiftedTask(4000, 5, tt.shifted, tt.drop, 7)
			fit, err := FitBiasShifts(z, len(y), 5, y, tt.classes, nil)
			if err != nil {
				t.Fatal(err)
			}
			if fit.ErrorsAfter >= fit.ErrorsBefore {
				t.Errorf("errors %d -> %d: the fit did not help", fit.ErrorsBefore, fit.ErrorsAfter)
			}
			if got := countErrors(z, len(y), 5, y, shiftsVector(fit.Shifts, 5)); got != fit.ErrorsAfter {
				t.Errorf("the fitted shifts give %d errors, the fit reports %d", got, fit.ErrorsAfter)
			}
			// The shifted class gets back about what it lost; the noise allows a step or two.
			for _, s := range fit.Shifts {
				want := 0.0
				if s.Class == tt.shifted {
					want = tt.drop
				}
				if math.Abs(s.Delta-want) > 1 {
					t.Errorf("class %d: fitted shift %+g, want about %+g", s.Class, s.Delta, want)
				}
			}
		})
	}
}

func TestFitBiasShiftsBase(t *testing.T) {
	z, y := shiftedTask(2000, 4, 2, 4, 3)
	// With the base already undoing the drop of class 2, nothing is left for class 0 to fix.
	base := []float64{0, 0, 4, 0}
	fit, err := FitBiasShifts(z, len(y), 4, y, []int{0}, base)
	if err != nil {
		t.Fatal(err)
	}
	if before := countErrors(z, len(y), 4, y, base); fit.ErrorsBefore != before {
		t.Errorf("errors before %d, want those with the base shifts, %d", fit.ErrorsBefore, before)
	}
	if d := fit.Shifts[0].Delta; math.Abs(d) > 0.5 {
		t.Errorf("class 0 shifted by %+g beside a base that fixes the task: want about 0", d)
	}
	for _, bad := range [][]int{{4}, {1, 1}, {-1}} {
		if _, err := FitBiasShifts(z, len(y), 4, y, bad, nil); err == nil {
			t.Errorf("classes %v were accepted", bad)
		}
	}
}

func shiftsVector(s []BiasShift, c int) []float64 {
	v, err := ShiftVector(s, c)
	if err != nil {
		panic(err)
	}
	return v
}
