package dataset

import (
	"bytes"
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestStandardize(t *testing.T) {
	captureLog(t) // the constant feature's warning
	// Two [2,1,2] samples: channel 0 takes 0, 2, 4, 6 (mean 3, population variance
	// (9+1+1+9)/4 = 5), channel 1 takes 10, 30, 50, 70 (mean 40, variance 500).
	chw := []float32{0, 2, 10, 30, 4, 6, 50, 70}
	hwcX := toCHWInverse(chw, 2, 2, 1, 2)
	tests := []struct {
		name      string
		ds        *Dataset
		p         Preprocess
		mean, std []float64
		scale     float64
	}{
		{"per channel", &Dataset{N: 2, Shape: []int{2, 1, 2}, X: chw, DType: "float32"}, Preprocess{},
			[]float64{3, 40}, []float64{math.Sqrt(5), math.Sqrt(500)}, 1},
		{"per channel, nhwc", &Dataset{N: 2, Shape: []int{1, 2, 2}, X: hwcX, DType: "float32"}, Preprocess{Layout: LayoutNHWC},
			[]float64{3, 40}, []float64{math.Sqrt(5), math.Sqrt(500)}, 1},
		{"per channel of a sample fed flat", &Dataset{N: 2, Shape: []int{2, 1, 2}, X: chw, DType: "float32"}, Preprocess{InputShape: []int{4}},
			[]float64{3, 40}, []float64{math.Sqrt(5), math.Sqrt(500)}, 1},
		{"per channel after scaling", &Dataset{N: 2, Shape: []int{2, 1, 2}, X: chw, DType: "float32"}, Preprocess{Scale: 2},
			[]float64{1.5, 20}, []float64{math.Sqrt(5) / 2, math.Sqrt(500) / 2}, 2},
		// Features: 1, 3 (mean 2, std 1); 10, 10 (constant: std 1); 5, 7 (mean 6, std 1); halved.
		{"per feature", &Dataset{N: 2, Shape: []int{3}, X: []float32{1, 10, 5, 3, 10, 7}, DType: "float64"}, Preprocess{Scale: 2, Mean: []float64{9}, Std: []float64{9}},
			[]float64{1, 5, 3}, []float64{0.5, 1, 0.5}, 2},
		// A 2-D 8-bit image: the scale is the data's, 255; values 0 and 1 half each.
		{"one value", &Dataset{N: 2, Shape: []int{2, 2}, X: []float32{0, 255, 0, 255, 255, 255, 0, 0}, DType: "uint8"}, Preprocess{InputShape: []int{1, 2, 2}},
			[]float64{0.5}, []float64{0.5}, 255},
		{"one value of an image read flat", &Dataset{N: 2, Shape: []int{2, 2}, X: []float32{0, 255, 0, 255, 255, 255, 0, 0}, DType: "uint8"}, Preprocess{InputShape: []int{4}},
			[]float64{0.5}, []float64{0.5}, 255},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Standardize(tt.ds, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			// float64 sums of a few exact values: agree to 1e-12.
			opt := cmpopts.EquateApprox(1e-12, 1e-12)
			if diff := cmp.Diff(tt.mean, got.Mean, opt); diff != "" {
				t.Errorf("mean (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.std, got.Std, opt); diff != "" {
				t.Errorf("std (-want +got):\n%s", diff)
			}
			if got.Scale != tt.scale || got.Layout != tt.p.Layout || !cmp.Equal(got.InputShape, tt.p.InputShape) {
				t.Errorf("other fields changed: %+v", got)
			}
			// The data preprocessed by the result has mean 0 (float32 values: to 1e-6).
			x := make([]float32, len(tt.ds.X))
			if err := got.Apply(tt.ds.X, tt.ds.N, tt.ds.Shape, x); err != nil {
				t.Fatal(err)
			}
			var sum float64
			for _, v := range x {
				sum += float64(v)
			}
			if m := sum / float64(len(x)); math.Abs(m) > 1e-6 {
				t.Errorf("preprocessed mean %v, want 0", m)
			}
		})
	}
}

// toCHWInverse transposes n samples from [C,H,W] to [H,W,C], the inverse of toCHW.
func toCHWInverse(x []float32, n, c, h, w int) []float32 {
	out := make([]float32, len(x))
	for i := range n {
		for ch := range c {
			for j := range h * w {
				out[i*c*h*w+j*c+ch] = x[i*c*h*w+ch*h*w+j]
			}
		}
	}
	return out
}

// captureLog sends the default logger's output to a buffer for the rest of the test.
func captureLog(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return &buf
}

func TestStandardizeConstantWarns(t *testing.T) {
	buf := captureLog(t)
	// Three features, two constant; 0.1 repeated has a float64 mean that is not exactly 0.1,
	// and must still be found constant.
	ds := &Dataset{Path: "t.csv", N: 3, Shape: []int{3}, X: []float32{0.1, 1, 5, 0.1, 2, 5, 0.1, 3, 5}, DType: "float64"}
	got, err := Standardize(ds, Preprocess{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Std[0] != 1 || got.Std[2] != 1 || got.Std[1] == 1 {
		t.Errorf("std = %v, want 1 for the constant features 0 and 2", got.Std)
	}
	if log := buf.String(); !strings.Contains(log, "constant=2") || !strings.Contains(log, "of=3") || !strings.Contains(log, "features") {
		t.Errorf("log = %q, want the count of constant features", log)
	}
}

func TestStandardizeErrors(t *testing.T) {
	tests := []struct {
		name   string
		ds     *Dataset
		p      Preprocess
		layout bool // an *option.Error on Layout
		want   string
	}{
		{"channel-last without a layout", &Dataset{N: 1, Shape: []int{2, 2, 3}, X: make([]float32, 12)}, Preprocess{}, true, "look channel-last"},
		{"either way", &Dataset{N: 1, Shape: []int{3, 2, 3}, X: make([]float32, 18)}, Preprocess{}, true, "cannot be told"},
		{"no samples", &Dataset{N: 0, Shape: []int{3}}, Preprocess{}, false, "no samples"},
		{"not finite", &Dataset{N: 2, Shape: []int{2}, X: []float32{1, float32(math.NaN()), 2, 3}}, Preprocess{}, false, "feature 1: the values are not all finite"},
		{"input shape of another size", &Dataset{N: 1, Shape: []int{3}, X: make([]float32, 3)}, Preprocess{InputShape: []int{4}}, false, "holds 4 values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Standardize(tt.ds, tt.p)
			if err == nil || !strings.Contains(err.Error(), tt.want) || isLayoutError(err) != tt.layout {
				t.Errorf("err = %v, want %q (option error on Layout: %v)", err, tt.want, tt.layout)
			}
		})
	}
	// With the layout given, the same channel-last data is standardised.
	ds := &Dataset{N: 1, Shape: []int{2, 2, 3}, X: make([]float32, 12)}
	for _, layout := range []string{LayoutNHWC, LayoutNCHW} {
		got, err := Standardize(ds, Preprocess{Layout: layout})
		if err != nil || len(got.Mean) != map[string]int{LayoutNHWC: 3, LayoutNCHW: 2}[layout] {
			t.Errorf("layout %s: %+v, %v", layout, got, err)
		}
	}
}
