package eval_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
	"github.com/distillgo/distill/onnx/purego/direct"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/pipeline/internal/synth"
)

// nchw says the synthetic task's images, [1 4 4], have their channel first.
var nchw = dataset.PreprocessOverride{Layout: dataset.LayoutNCHW}

// softmax returns softmax(row) in float64.
func softmax(row []float32) []float64 {
	out := make([]float64, len(row))
	eval.AddSoftmax(out, row)
	return out
}

// TestPredictMatchesEval: on labelled data, Predict's top-1 classes score what Eval scores, for
// a checkpoint and an ONNX model; each probability is the softmax of the model's logits; without
// the labels the predictions are the same, unscored.
func TestPredictMatchesEval(t *testing.T) {
	f, ckpt, _ := trainedCheckpoint(t)
	tests := []struct {
		name  string
		model string
		rt    model.Runtime
	}{
		{"checkpoint", ckpt, nil},
		{"onnx, pure Go runtime", onnxFile(t, f), direct.Runtime{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := eval.Eval(context.Background(), eval.Options{Model: tt.model, Data: f.EvalData, Labels: f.EvalLabels}, tt.rt, nil)
			if err != nil {
				t.Fatal(err)
			}
			o := eval.PredictOptions{Model: tt.model, Data: f.EvalData, Labels: f.EvalLabels, Batch: 7, Logits: true}
			got, err := eval.Predict(context.Background(), o, tt.rt)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(ev.Metrics, got.Metrics, cmpopts.EquateApprox(0, 1e-6)); d != "" {
				t.Errorf("Predict's scores differ from Eval's (-eval +predict):\n%s", d)
			}
			if got.Kind != ev.Kind || got.Preprocess.Scale != 255 || got.ByFile || got.LabelsFrom != f.EvalLabels || len(got.Samples) != 150 {
				t.Fatalf("kind %q, preprocess %+v, by file %v, labels from %q, %d samples", got.Kind, got.Preprocess, got.ByFile, got.LabelsFrom, len(got.Samples))
			}
			for i, s := range got.Samples {
				p := softmax(s.Logits)
				top := s.Top[0]
				if s.ID != fmt.Sprint(i) || top.Class != eval.Argmax(s.Logits) || top.Name != fmt.Sprint(top.Class) || math.Abs(top.Prob-p[top.Class]) > 1e-12 {
					t.Fatalf("sample %d: %+v, want id %d, class %d (%.6f)", i, s, i, eval.Argmax(s.Logits), p[top.Class])
				}
			}
			o.Labels = ""
			unlabelled, err := eval.Predict(context.Background(), o, tt.rt)
			if err != nil {
				t.Fatal(err)
			}
			if unlabelled.Metrics != nil || unlabelled.LabelsFrom != "" || unlabelled.Samples[0].Label != -1 {
				t.Errorf("without labels: metrics %v, labels from %q, label %d", unlabelled.Metrics, unlabelled.LabelsFrom, unlabelled.Samples[0].Label)
			}
			for i := range got.Samples {
				got.Samples[i].Label = -1
			}
			if d := cmp.Diff(got.Samples, unlabelled.Samples); d != "" {
				t.Errorf("predictions with and without labels differ:\n%s", d)
			}
		})
	}
}

// flatFolder writes n 4x4 gray PNGs to a new folder, image i bright in row i%3 (so of class
// i%3), and the same pixels as an IDX file; it returns both and the file names, sorted.
func flatFolder(t *testing.T, n int) (dir, idx string, names []string) {
	t.Helper()
	dir, root := filepath.Join(t.TempDir(), "images"), t.TempDir()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pix := make([]uint8, 0, n*synth.H*synth.W)
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, synth.W, synth.H))
		for p := range img.Pix {
			img.Pix[p] = 20
			if p/synth.W == i%synth.Classes {
				img.Pix[p] = 200
			}
		}
		pix = append(pix, img.Pix...)
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("img-%02d.png", i)
		names = append(names, name)
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx = filepath.Join(root, "images.idx")
	synth.WriteIDX(t, idx, []int{n, synth.H, synth.W}, pix)
	return dir, idx, names
}

// TestPredictFlatFolder runs ONNX models over a flat folder of images: samples are named by
// file, classes by the names the model records, the top classes are sorted and their
// probabilities those of the same pixels given as an array; a model that outputs
// probabilities gives them back.
func TestPredictFlatFolder(t *testing.T) {
	dir, idx, names := flatFolder(t, 6)
	root := t.TempDir()
	named := filepath.Join(root, "named.onnx")
	onnxtest.GemmClassifier(t, named, synth.RowWeights(8), make([]float32, synth.Classes),
		onnxtest.Metadata(map[string]string{meta.ClassNames: `["top","middle","bottom"]`, meta.Preprocess: `{"scale":255}`}))
	probs := filepath.Join(root, "probs.onnx")
	onnxtest.GemmClassifier(t, probs, synth.RowWeights(8), make([]float32, synth.Classes), onnxtest.Softmax())
	wantNames := []string{"top", "middle", "bottom"}
	tests := []struct {
		name  string
		model string
		rt    func(t *testing.T) model.Runtime
		names []string // the class names expected
	}{
		{"names recorded, pure Go runtime", named, func(*testing.T) model.Runtime { return direct.Runtime{} }, wantNames},
		{"probabilities out, onnxruntime", probs, func(t *testing.T) model.Runtime { onnxtest.RequireLibrary(t); return &onnx.Runtime{} }, []string{"0", "1", "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := tt.rt(t)
			// A 4x4 gray image, [1 4 4], could be channels-last: say which.
			o := eval.PredictOptions{Model: tt.model, Data: dir, TopK: 3, Logits: true, PreprocessOverride: nchw}
			got, err := eval.Predict(context.Background(), o, rt)
			if err != nil {
				t.Fatal(err)
			}
			o.Data = idx
			arr, err := eval.Predict(context.Background(), o, rt)
			if err != nil {
				t.Fatal(err)
			}
			if !got.ByFile || arr.ByFile || got.Metrics != nil || len(got.Samples) != len(names) {
				t.Fatalf("by file %v (array %v), metrics %v, %d samples", got.ByFile, arr.ByFile, got.Metrics, len(got.Samples))
			}
			for i, s := range got.Samples {
				if s.ID != names[i] || s.Top[0].Class != i%synth.Classes || s.Top[0].Name != tt.names[i%synth.Classes] {
					t.Errorf("sample %d: %q, class %d %q; want %q, class %d %q", i, s.ID, s.Top[0].Class, s.Top[0].Name, names[i], i%synth.Classes, tt.names[i%synth.Classes])
				}
				sum := 0.0
				for r, c := range s.Top {
					sum += c.Prob
					if r > 0 && c.Prob > s.Top[r-1].Prob {
						t.Errorf("sample %d: top classes %+v not sorted", i, s.Top)
					}
				}
				if math.Abs(sum-1) > 1e-9 {
					t.Errorf("sample %d: the 3 classes' probabilities sum to %v", i, sum)
				}
				if d := cmp.Diff(arr.Samples[i].Top, s.Top, cmpopts.EquateApprox(0, 1e-12)); d != "" {
					t.Errorf("sample %d: the folder's predictions differ from the array's:\n%s", i, d)
				}
			}
			if tt.model == probs {
				// The model's own probabilities: softmax of its Gemm scores on pixels / 255.
				x := make([]float32, synth.H*synth.W)
				for p := range x {
					x[p] = 20.0 / 255
					if p/synth.W == 0 {
						x[p] = 200.0 / 255
					}
				}
				want := softmax(onnxtest.GemmRef(x, 1, synth.RowWeights(8), make([]float32, synth.Classes)))
				if p := got.Samples[0].Top[0].Prob; math.Abs(p-want[0]) > 1e-6 {
					t.Errorf("probability %v, the model outputs %v", p, want[0])
				}
			}
		})
	}
}

// TestPredictErrors: bad options are refused on the option, before the data is read where they
// can be; an unlabelled folder is refused by Eval with a word on predict.
func TestPredictErrors(t *testing.T) {
	f, ckpt, _ := trainedCheckpoint(t)
	dir, _, _ := flatFolder(t, 3)
	tests := []struct {
		name   string
		opts   eval.PredictOptions
		option string // the OptionError's option, or "" for another error
		want   string
	}{
		{"no model", eval.PredictOptions{Data: f.EvalData}, "Model", "no model"},
		{"no data", eval.PredictOptions{Model: ckpt}, "Data", "no data"},
		{"negative top-k", eval.PredictOptions{Model: ckpt, Data: f.EvalData, TopK: -1}, "TopK", "-1 must be at least 1"},
		{"top-k above the classes", eval.PredictOptions{Model: ckpt, Data: f.EvalData, TopK: 4}, "TopK", "4 classes asked for, but model " + ckpt + " has 3"},
		{"missing data", eval.PredictOptions{Model: ckpt, Data: filepath.Join(f.Dir, "none.idx")}, "", "predict: read data " + filepath.Join(f.Dir, "none.idx")},
		{"labels with a folder", eval.PredictOptions{Model: ckpt, Data: dir, Labels: f.EvalLabels}, "", "is not allowed with an image folder"},
		{"onnx without a runtime", eval.PredictOptions{Model: onnxFile(t, f), Data: f.EvalData}, "", "predict: " + filepath.Join(f.Dir, "row.onnx") + " is an ONNX model, and no model runtime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := eval.Predict(context.Background(), tt.opts, nil)
			var oe *eval.OptionError
			if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.option != "") != errors.As(err, &oe) || (oe != nil && oe.Option != tt.option) {
				t.Errorf("Predict error = %v, want one containing %q on option %q", err, tt.want, tt.option)
			}
		})
	}
	_, err := eval.Eval(context.Background(), eval.Options{Model: ckpt, Data: dir, PreprocessOverride: nchw}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "without class folders, so it has no labels") || !strings.Contains(err.Error(), "distill predict") {
		t.Errorf("Eval of a flat folder: %v, want it to say the folder has no labels and point to predict", err)
	}
}
