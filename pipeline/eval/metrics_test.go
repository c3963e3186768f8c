package eval

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestClassify(t *testing.T) {
	ln := func(x float64) float32 { return float32(math.Log(x)) }
	tests := []struct {
		name   string
		logits []float32
		labels []int32
		c      int
		want   Classification
	}{
		{
			// Hand-computed: confidences 0.5 (right), 0.75 (wrong), 0.9, 0.9 (right) fall in bins
			// 7, 11 and 13 of 15, so ECE = 1/4*|1-0.5| + 1/4*|0-0.75| + 2/4*|1-0.9| = 0.3625.
			// NLL = (ln 2 + ln 4 + 2 ln(10/9)) / 4.
			name:   "two classes",
			logits: []float32{0, 0, ln(3), 0, 0, ln(9), 0, ln(9)},
			labels: []int32{0, 1, 1, 1},
			c:      2,
			want: Classification{N: 4, Classes: 2, Correct: 3, Errors: 1, Accuracy: 0.75,
				MeanNLL:   (math.Log(2) + math.Log(4) + 2*math.Log(10.0/9)) / 4,
				ECE:       0.3625,
				Confusion: [][]int{{1, 0}, {1, 2}},
				PerClass:  []ClassErrors{{Class: 0, N: 1, Errors: 0, Accuracy: 1}, {Class: 1, N: 3, Errors: 1, Accuracy: 2.0 / 3}}},
		},
		{
			// Confidences 0.8 (right, bin 11 = (11/15, 12/15]), 0.7 (wrong, bin 10) and 1/3
			// (uniform, right by the first-index tie rule, bin 4):
			// ECE = 1/3*|1-0.8| + 1/3*|0-0.7| + 1/3*|1-1/3|.
			name:   "three classes",
			logits: []float32{ln(8), ln(1), ln(1), ln(1), ln(7), ln(2), 0, 0, 0},
			labels: []int32{0, 2, 0},
			c:      3,
			want: Classification{N: 3, Classes: 3, Correct: 2, Errors: 1, Accuracy: 2.0 / 3,
				MeanNLL:   (-math.Log(0.8) - math.Log(0.2) - math.Log(1.0/3)) / 3,
				ECE:       (0.2 + 0.7 + 2.0/3) / 3,
				Confusion: [][]int{{2, 0, 0}, {0, 0, 0}, {0, 1, 0}},
				// Class 1 has no samples: accuracy 0, not NaN.
				PerClass: []ClassErrors{{Class: 0, N: 2, Errors: 0, Accuracy: 1}, {Class: 1}, {Class: 2, N: 1, Errors: 1, Accuracy: 0}}},
		},
	}
	const tol = 1e-6
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Classify(tt.logits, len(tt.labels), tt.c, tt.labels)
			if err != nil {
				t.Fatal(err)
			}
			opt := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) <= tol })
			if d := cmp.Diff(tt.want, *got, opt); d != "" {
				t.Errorf("Classify mismatch (-want +got):\n%s", d)
			}
		})
	}
}

func TestECEBin(t *testing.T) {
	tests := []struct {
		conf float64
		want int
	}{{0, 0}, {1.0 / 15, 0}, {0.0667, 1}, {0.5, 7}, {14.0 / 15, 13}, {0.99, 14}, {1, 14}}
	for _, tt := range tests {
		if got := eceBin(tt.conf); got != tt.want {
			t.Errorf("eceBin(%v) = %d, want %d", tt.conf, got, tt.want)
		}
	}
}

func TestClassifyErrors(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name   string
		logits []float32
		labels []int32
		n, c   int
		want   string
	}{
		{"label out of range", []float32{0, 1, 1, 0}, []int32{0, 2}, 2, 2, "sample 1: label 2 outside [0, 2)"},
		{"negative label", []float32{0, 1}, []int32{-1}, 1, 2, "sample 0: label -1"},
		{"nan logit", []float32{0, 1, nan, 0}, []int32{0, 1}, 2, 2, "sample 1: logit 0 is NaN"},
		{"inf logit", []float32{float32(math.Inf(1)), 1}, []int32{0}, 1, 2, "sample 0: logit 0 is +Inf"},
		{"no samples", nil, nil, 0, 2, "no samples"},
		{"size", []float32{0, 1, 2}, []int32{0, 1}, 2, 2, "3 logits for 2 samples"},
		{"labels", []float32{0, 1, 2, 3}, []int32{0}, 2, 2, "1 labels for 2 samples"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Classify(tt.logits, tt.n, tt.c, tt.labels)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Classify error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestAgreement(t *testing.T) {
	a := []float32{1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1}
	b := []float32{2, 1, 0, 0, 0, 3, 0, 0, 9, 0, 0, 0}
	got, err := Agreement(a, b, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Rows: 0 vs 0 (same), 1 vs 2, 2 vs 2 (same), 0 vs 0 (tie resolved to the first: same).
	if want := 0.75; math.Abs(got-want) > 1e-12 {
		t.Errorf("Agreement = %v, want %v", got, want)
	}
	if _, err := Agreement(a, b[:3], 4, 3); err == nil {
		t.Error("Agreement with mismatched sizes: no error")
	}
}

func TestArgmax(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		row  []float32
		want int
	}{{[]float32{1, 3, 2}, 1}, {[]float32{2, 2}, 0}, {[]float32{nan, 1, 0}, 1}, {[]float32{-1}, 0}}
	for _, tt := range tests {
		if got := Argmax(tt.row); got != tt.want {
			t.Errorf("Argmax(%v) = %d, want %d", tt.row, got, tt.want)
		}
	}
}
