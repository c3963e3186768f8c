package dataset

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/distillgo/distill/internal/option"
)

// toCHW transposes n samples of h×w pixels of c channels from [H,W,C] to [C,H,W], by hand.
func toCHW(x []float32, n, h, w, c int) []float32 {
	out := make([]float32, len(x))
	for i := range n {
		for y := range h {
			for xx := range w {
				for ch := range c {
					out[i*c*h*w+ch*h*w+y*w+xx] = x[i*c*h*w+(y*w+xx)*c+ch]
				}
			}
		}
	}
	return out
}

// isLayoutError reports whether err is the *option.Error of the dataset's Layout.
func isLayoutError(err error) bool {
	var oe *option.Error
	return errors.As(err, &oe) && oe.Scope == "dataset" && oe.Option == "Layout"
}

func TestGuessLayout(t *testing.T) {
	tests := []struct {
		name          string
		sample, model []int
		want          string
		ambiguous     bool // an *option.Error on Layout
		mismatch      bool // a plain error naming both shapes
	}{
		{name: "2-D image", sample: []int{28, 28}, model: []int{1, 28, 28}, want: LayoutNCHW},
		{name: "flat", sample: []int{784}, model: []int{1, 28, 28}, want: LayoutNCHW},
		{name: "chw", sample: []int{3, 32, 32}, model: []int{3, 32, 32}, want: LayoutNCHW},
		{name: "hwc", sample: []int{32, 32, 3}, model: []int{3, 32, 32}, want: LayoutNHWC},
		{name: "hwc gray", sample: []int{28, 28, 1}, model: []int{1, 28, 28}, want: LayoutNHWC},
		{name: "hwc rgba", sample: []int{8, 16, 4}, model: []int{4, 8, 16}, want: LayoutNHWC},
		{name: "model tells [1,28,1] chw", sample: []int{1, 28, 1}, model: []int{1, 28, 1}, want: LayoutNCHW},
		{name: "model tells [1,28,1] hwc", sample: []int{1, 28, 1}, model: []int{1, 1, 28}, want: LayoutNHWC},
		{name: "model tells [3,32,3] hwc", sample: []int{3, 32, 3}, model: []int{3, 3, 32}, want: LayoutNHWC},
		{name: "cube", sample: []int{3, 3, 3}, model: []int{3, 3, 3}, ambiguous: true},
		{name: "neither fits", sample: []int{3, 32, 32}, model: []int{3, 16, 64}, mismatch: true},
		{name: "other count", sample: []int{32, 32, 3}, model: []int{3, 28, 28}, mismatch: true},
		{name: "flat model hwc", sample: []int{32, 32, 3}, model: []int{3072}, want: LayoutNHWC},
		{name: "flat model chw", sample: []int{3, 32, 32}, model: []int{3072}, want: LayoutNCHW},
		{name: "flat model [3,32,3]", sample: []int{3, 32, 3}, model: []int{288}, ambiguous: true},
		{name: "no model [1,28,1]", sample: []int{1, 28, 1}, ambiguous: true},
		{name: "no model [3,3,3]", sample: []int{3, 3, 3}, ambiguous: true},
		{name: "no model, no channel axis", sample: []int{2, 5, 5}, want: LayoutNCHW},
		{name: "flat model of another count", sample: []int{3, 32, 32}, model: []int{100}, mismatch: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := GuessLayout(tt.sample, tt.model)
			switch {
			case tt.ambiguous:
				if !isLayoutError(err) || !strings.Contains(err.Error(), "cannot be told") {
					t.Errorf("GuessLayout = %q, %v; want an option error on Layout", got, err)
				}
			case tt.mismatch:
				if err == nil || isLayoutError(err) || !strings.Contains(err.Error(), fmt.Sprint(tt.sample)) || !strings.Contains(err.Error(), fmt.Sprint(tt.model)) {
					t.Errorf("GuessLayout = %q, %v; want a plain error naming both shapes", got, err)
				}
			case err != nil || got != tt.want:
				t.Errorf("GuessLayout = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestForModel(t *testing.T) {
	tests := []struct {
		name          string
		p             Preprocess
		sample, model []int
		want          string
		err           bool
	}{
		{"hwc guessed", Preprocess{}, []int{32, 32, 3}, []int{3, 32, 32}, LayoutNHWC, false},
		{"chw left empty", Preprocess{}, []int{3, 32, 32}, []int{3, 32, 32}, "", false},
		{"2-D untouched", Preprocess{}, []int{28, 28}, []int{1, 28, 28}, "", false},
		{"given kept", Preprocess{Layout: LayoutNCHW}, []int{32, 32, 3}, []int{3, 32, 32}, LayoutNCHW, false},
		{"input shape is the model's", Preprocess{InputShape: []int{3, 32, 32}}, []int{32, 32, 3}, nil, LayoutNHWC, false},
		{"ambiguous", Preprocess{}, []int{3, 3, 3}, []int{3, 3, 3}, "", true},
		{"mismatch left to CheckInput", Preprocess{}, []int{3, 32, 32}, []int{3, 16, 64}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.p.ForModel(tt.sample, tt.model)
			if tt.err {
				if !isLayoutError(err) {
					t.Errorf("err = %v, want an option error on Layout", err)
				}
				return
			}
			if err != nil || got.Layout != tt.want {
				t.Errorf("ForModel = %q, %v; want %q", got.Layout, err, tt.want)
			}
		})
	}
}

func TestApplyNHWC(t *testing.T) {
	// Hand-computed: one [H,W,C] = [1,2,2] sample; channel 0 is 1, 2 and channel 1 is 10, 20.
	p := Preprocess{Scale: 1, Mean: []float64{0, 10}, Std: []float64{1, 10}, Layout: LayoutNHWC}
	dst := make([]float32, 4)
	if err := p.Apply([]float32{1, 10, 2, 20}, 1, []int{1, 2, 2}, dst); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float32{1, 2, 0, 1}, dst); diff != "" { // exact: small integers
		t.Errorf("(-want +got):\n%s", diff)
	}

	// Against a hand transposition: the same float32 operations in the same order on the same
	// values, so the results must be equal exactly (tolerance 0).
	const n, h, w, c = 3, 4, 5, 3
	rng := rand.New(rand.NewPCG(3, 4))
	raw := make([]float32, n*h*w*c)
	for i := range raw {
		raw[i] = float32(rng.IntN(256))
	}
	chw := toCHW(raw, n, h, w, c)
	base := Preprocess{Scale: 255, Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.229, 0.224, 0.225}}
	want := make([]float32, len(raw))
	if err := base.Apply(chw, n, []int{c, h, w}, want); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		sample     []int
		inputShape []int
	}{
		{"[H,W,C]", []int{h, w, c}, nil},
		{"[H,W,C] to [C,H,W]", []int{h, w, c}, []int{c, h, w}},
		{"[H,W,C] to a flat input", []int{h, w, c}, []int{c * h * w}},
		{"flat channel-last sample", []int{h * w * c}, []int{c, h, w}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := base
			q.Layout, q.InputShape = LayoutNHWC, tt.inputShape
			got := make([]float32, len(raw))
			if err := q.Apply(raw, n, tt.sample, got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-hand transposition +nhwc):\n%s", diff)
			}
			inPlace := append([]float32(nil), raw...)
			if err := q.Apply(inPlace, n, tt.sample, inPlace); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, inPlace); diff != "" {
				t.Errorf("in place (-want +got):\n%s", diff)
			}
		})
	}
	if got, err := (Preprocess{Layout: LayoutNHWC}).OutputShape([]int{h, w, c}); err != nil || !cmp.Equal(got, []int{c, h, w}) {
		t.Errorf("OutputShape = %v, %v; want [%d %d %d]", got, err, c, h, w)
	}
}

// TestApplyNCHWUnchanged holds channel-major preprocessing to its float32 formula exactly: the
// demo's numbers must not move by a bit.
func TestApplyNCHWUnchanged(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	raw := make([]float32, 2*28*28)
	for i := range raw {
		raw[i] = float32(rng.IntN(256))
	}
	want := make([]float32, len(raw))
	scale, m, s := float32(255), float32(0.1307), float32(0.3081)
	for i, x := range raw {
		want[i] = (x/scale - m) / s
	}
	for _, layout := range []string{"", LayoutNCHW} {
		for _, shape := range [][]int{{1, 28, 28}, {784}, nil} {
			p := Preprocess{Scale: 255, Mean: []float64{0.1307}, Std: []float64{0.3081}, InputShape: shape, Layout: layout}
			got := make([]float32, len(raw))
			if err := p.Apply(raw, 2, []int{28, 28}, got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" { // tolerance 0: the same operations
				t.Errorf("layout %q, input shape %v (-want +got):\n%s", layout, shape, diff)
			}
		}
	}
}

func TestLayoutErrors(t *testing.T) {
	raw := make([]float32, 12)
	tests := []struct {
		name   string
		p      Preprocess
		sample []int
		layout bool   // an *option.Error on Layout
		want   string // in the message; "" for no error
	}{
		{"channel-last refused", Preprocess{InputShape: []int{3, 2, 2}}, []int{2, 2, 3}, true, "look channel-last"},
		{"rgba channel-last refused", Preprocess{InputShape: []int{4, 1, 3}}, []int{1, 3, 4}, true, "look channel-last"},
		{"nchw given reshapes", Preprocess{InputShape: []int{3, 2, 2}, Layout: LayoutNCHW}, []int{2, 2, 3}, false, ""},
		{"nhwc given transposes", Preprocess{InputShape: []int{3, 2, 2}, Layout: LayoutNHWC}, []int{2, 2, 3}, false, ""},
		{"one channel is not refused", Preprocess{InputShape: []int{1, 3, 4}}, []int{3, 4, 1}, false, ""},
		{"channel-major accepted", Preprocess{InputShape: []int{3, 2, 2}}, []int{3, 2, 2}, false, ""},
		{"nhwc to a 3-D shape not [C,H,W]", Preprocess{InputShape: []int{2, 2, 3}, Layout: LayoutNHWC}, []int{2, 2, 3}, true, "transposes them to [3 2 2]"},
		{"nhwc of a flat sample without [C,H,W]", Preprocess{Layout: LayoutNHWC}, []int{12}, true, "needs samples of shape [H,W,C]"},
		{"unknown layout", Preprocess{Layout: "chw"}, []int{12}, true, `unknown layout "chw"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Apply(raw, 1, tt.sample, make([]float32, 12))
			if tt.want == "" {
				if err != nil {
					t.Errorf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || isLayoutError(err) != tt.layout {
				t.Errorf("err = %v, want %q (option error on Layout: %v)", err, tt.want, tt.layout)
			}
		})
	}
	if err := (Preprocess{Layout: "chw"}).Validate(); !isLayoutError(err) {
		t.Errorf("Validate of an unknown layout: %v", err)
	}
}

func TestCheckInputLayout(t *testing.T) {
	tests := []struct {
		name         string
		p            Preprocess
		sample, want []int
		layout       bool // an *option.Error on Layout; else no error
	}{
		{"channel-last for the model", Preprocess{}, []int{32, 32, 3}, []int{3, 32, 32}, true},
		{"nhwc", Preprocess{Layout: LayoutNHWC}, []int{32, 32, 3}, []int{3, 32, 32}, false},
		{"nhwc for a channel-last model", Preprocess{Layout: LayoutNHWC}, []int{32, 32, 3}, []int{32, 32, 3}, true},
		{"nhwc for a flat model", Preprocess{Layout: LayoutNHWC}, []int{32, 32, 3}, []int{3072}, false},
		{"flat model", Preprocess{}, []int{32, 32, 3}, []int{3072}, false},
		{"teacher checks its own input", Preprocess{}, []int{32, 32, 3}, nil, false},
		{"mnist", Preprocess{InputShape: []int{1, 28, 28}}, []int{28, 28}, []int{1, 28, 28}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.CheckInput(tt.sample, tt.want)
			if tt.layout != isLayoutError(err) || (!tt.layout && err != nil) {
				t.Errorf("CheckInput = %v, want an option error on Layout: %v", err, tt.layout)
			}
		})
	}
}
