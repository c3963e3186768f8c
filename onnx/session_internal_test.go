package onnx

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/distillgo/distill/internal/option"
)

func TestDetectKind(t *testing.T) {
	// softmax8 is a softmax rounded to steps of 1/255, as an 8-bit quantized model outputs it:
	// its rows sum to 1 only within ~1e-2.
	softmax8 := []float32{26.0 / 255, 51.0 / 255, 176.0 / 255, 0, 3.0 / 255, 249.0 / 255}
	for _, tc := range []struct {
		name string
		y    []float32
		c    int
		want string // "" for an error
		msg  string // what the error says
	}{
		{"probabilities", []float32{0.25, 0.75, 1, 0, 0.5, 0.5}, 2, OutputProbs, ""},
		{"probabilities within 1e-3", []float32{0.3, 0.7005}, 2, OutputProbs, ""},
		{"probabilities within 2e-2", []float32{0.3, 0.719, 0.49, 0.491}, 2, OutputProbs, ""},
		{"8-bit quantized softmax", softmax8, 3, OutputProbs, ""},
		{"log-probabilities", []float32{-0.6931472, -0.6931472, 0, -80}, 2, OutputLogProbs, ""},
		{"log-probabilities within 2e-2", []float32{-0.68, -0.69}, 2, OutputLogProbs, ""},
		{"logits", []float32{1, 2, -3, 0.5}, 2, OutputLogits, ""},
		{"all zero logits", []float32{0, 0, 0}, 3, OutputLogits, ""},
		{"entries in [0, 1] summing far from 1", []float32{0.1, 0.2, 0.9, 0.8}, 2, OutputLogits, ""},
		{"logits with a row like log-probabilities", []float32{2, 5, -0.6931472, -0.6931472}, 2, OutputLogits, ""},
		{"NaN", []float32{float32(nan()), 1}, 2, OutputLogits, ""},
		{"MNIST-like logits", []float32{-3.1, 8.2, 0.4, -1.7, 2.2, 5.5, -0.2, 1.1, -4.4, 0.9}, 10, OutputLogits, ""},
		{"some rows probabilities, one not", []float32{0.5, 0.5, -0.1, 1.1}, 2, "", "1 look like probabilities"},
		{"probabilities and logits", []float32{0.25, 0.75, 3, -2, 0.5, 0.5}, 2, "", "2 look like probabilities"},
		{"sums within 0.1 but not 2e-2", []float32{0.3, 0.75, 0.5, 0.45}, 2, "", "summing to 1 only within 0.1"},
		{"probabilities and one sum off by 0.05", []float32{0.25, 0.75, 0.5, 0.55}, 2, "", "row 1 sums to 1.05"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := detectKind(tc.y, tc.c)
			if tc.want != "" {
				if err != nil || got != tc.want {
					t.Errorf("detectKind(%v, %d) = %q, %v; want %q", tc.y, tc.c, got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("detectKind(%v, %d) = %q, want an error", tc.y, tc.c, got)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.msg) || !strings.Contains(msg, "give the output kind") {
				t.Errorf("error %q: want it to say %q and to ask for the output kind", msg, tc.msg)
			}
		})
	}
}

func TestFormatRow(t *testing.T) {
	for _, tc := range []struct {
		row  []float32
		want string
	}{
		{[]float32{0.5, -1}, "[0.5 -1]"},
		{[]float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, "[1 2 3 4 5 6 7 8 ... (10 entries)]"},
	} {
		if got := formatRow(tc.row); got != tc.want {
			t.Errorf("formatRow(%v) = %q, want %q", tc.row, got, tc.want)
		}
	}
}

func nan() float64 {
	var z float64
	return z / z
}

func TestChooseOutput(t *testing.T) {
	f32 := func(name string, shape ...int64) ValueInfo {
		return ValueInfo{Name: name, ElemType: "float32", Type: "float32", Shape: shape, DimNames: make([]string, len(shape))}
	}
	label := ValueInfo{Name: "label", ElemType: "int64", Type: "int64", Shape: []int64{-1}, DimNames: []string{"N"}}
	zip := ValueInfo{Name: "probs", ElemType: "sequence", Type: "seq(map(string,float32))"}
	mapOnly := ValueInfo{Name: "map", ElemType: "map", Type: "map(int64,float32)"}
	unknown := ValueInfo{Name: "y"}
	for _, tc := range []struct {
		name   string
		outs   []ValueInfo
		choose string
		want   int    // index chosen, -1 for an error
		msg    string // what the error says
		option bool   // the error is an *option.Error for OutputName
	}{
		{"one float32", []ValueInfo{f32("out", -1, 10)}, "", 0, "", false},
		{"unknown shape is a candidate", []ValueInfo{label, f32("out")}, "", 1, "", false},
		{"ZipMap beside a label", []ValueInfo{label, zip}, "", 1, "", false},
		{"rank 3 is not a candidate", []ValueInfo{f32("features", -1, 4, 4), f32("out", -1, 3)}, "", 1, "", false},
		{"named", []ValueInfo{f32("a", -1, 3), f32("b", -1, 3)}, "b", 1, "", false},
		{"two candidates", []ValueInfo{f32("a", -1, 3), f32("b", -1, 3)}, "", -1, `2 outputs that could hold the class scores, "a" float32 [?, 3], "b" float32 [?, 3]; choose one`, true},
		{"unknown name", []ValueInfo{label, zip}, "scores", -1, `no output "scores"; its outputs are "label" int64 [N], "probs" seq(map(string,float32))`, true},
		{"named label", []ValueInfo{label, zip}, "label", -1, `output "label" int64 [N] cannot hold class scores`, true},
		{"one int64", []ValueInfo{label}, "", -1, `output "label" int64 [N] cannot hold class scores`, false},
		{"one of unknown type", []ValueInfo{unknown}, "", -1, `output "y" of unknown type cannot hold class scores`, false},
		{"none of several", []ValueInfo{label, mapOnly}, "", -1, `none of the model's outputs "label" int64 [N], "map" map(int64,float32) can hold class scores`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chooseOutput(tc.outs, tc.choose)
			if tc.want >= 0 {
				if err != nil || got != tc.want {
					t.Errorf("chooseOutput = %d, %v; want %d", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("chooseOutput error %v, want one containing %q", err, tc.msg)
			}
			var oe *option.Error
			if isOpt := errors.As(err, &oe) && oe.Scope == "onnx" && oe.Option == "OutputName"; isOpt != tc.option {
				t.Errorf("error %v: option error for OutputName %v, want %v", err, isOpt, tc.option)
			}
		})
	}
}

// zipSeq builds a ZipMap output: a sequence of maps from int64 class keys to probabilities.
func zipSeq(t *testing.T, maps ...map[int64]float32) ort.Value {
	t.Helper()
	vals := make([]ort.Value, len(maps))
	for i, m := range maps {
		v, err := ort.NewMapFromGoMap(m)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Destroy()
		vals[i] = v
	}
	seq, err := ort.NewSequence(vals)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seq.Destroy() })
	return seq
}

// TestZipColumns reads ZipMaps built by hand: the columns follow the keys sorted numerically,
// and maps with other classes than the first are errors.
func TestZipColumns(t *testing.T) {
	lib, _, err := FindLibrary("", false)
	if err == nil {
		err = Init(lib)
	}
	if err != nil {
		if os.Getenv("DISTILL_REQUIRE_ORT") == "1" {
			t.Fatal(err)
		}
		t.Skipf("onnxruntime not available: %v", err)
	}
	first := zipSeq(t, map[int64]float32{10: 0.5, 2: 0.25, 7: 0.25})
	z, err := newZipColumns(first, scoreZipMapInt64)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"2", "7", "10"}; !slices.Equal(z.labels, want) {
		t.Errorf("labels %v, want %v", z.labels, want)
	}
	if _, err := newZipColumns(first, scoreZipMapString); err == nil {
		t.Error("int64 keys read as string keys: no error")
	}
	dst := make([]float32, 6)
	if err := z.read(dst, zipSeq(t, map[int64]float32{2: 0.1, 7: 0.2, 10: 0.7}, map[int64]float32{10: 1, 7: 0, 2: 0}), 2); err != nil {
		t.Fatal(err)
	}
	if want := []float32{0.1, 0.2, 0.7, 0, 0, 1}; !slices.Equal(dst, want) {
		t.Errorf("read %v, want %v", dst, want)
	}
	for _, tc := range []struct {
		name string
		seq  ort.Value
		r    int
		want string
	}{
		{"other class", zipSeq(t, map[int64]float32{2: 0.1, 7: 0.2, 11: 0.7}), 1, "map 0 has class 11, which the first run did not have (2, 7, 10)"},
		{"fewer classes", zipSeq(t, map[int64]float32{2: 0.5, 10: 0.5}), 1, "map 0 has 2 classes, the first run had 3"},
		{"fewer maps", zipSeq(t, map[int64]float32{2: 0.1, 7: 0.2, 10: 0.7}), 2, "got 1 maps for 2 samples"},
	} {
		if err := z.read(dst, tc.seq, tc.r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}
