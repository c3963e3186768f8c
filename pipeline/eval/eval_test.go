package eval_test

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/pipeline/internal/synth"
	"github.com/distillgo/distill/pipeline/train"
)

// trainedCheckpoint trains the tiny net on hard labels for a few epochs and returns the fixture,
// the checkpoint path and the training result.
func trainedCheckpoint(t *testing.T) (*synth.Fixture, string, *train.Result) {
	t.Helper()
	f := synth.NewFixture(t, 300, 0)
	o := train.DefaultOptions()
	o.Spec, o.Data, o.Labels = f.Spec, f.Data, f.Labels
	o.EvalData, o.EvalLabels = f.EvalData, f.EvalLabels
	o.Preprocess = dataset.Preprocess{Scale: 255}
	o.Epochs, o.Batch, o.LR, o.Seed = 3, 32, 1e-2, 3
	o.Checkpoint = filepath.Join(f.Dir, "eval.ckpt")
	res, err := train.Train(context.Background(), o, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f, o.Checkpoint, res
}

func TestEvalCheckpoint(t *testing.T) {
	f, ckpt, res := trainedCheckpoint(t)
	tests := []struct {
		name    string
		teacher model.Teacher
		tpre    *dataset.Preprocess
	}{
		{"alone", nil, nil},
		{"with teacher", &synth.RowTeacher{C: synth.Classes, Gain: 8}, &dataset.Preprocess{Scale: 255}},
		{"with teacher, preprocessing from the checkpoint", &synth.RowTeacher{C: synth.Classes, Gain: 8}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := eval.Eval(context.Background(), eval.Options{Model: ckpt, Data: f.EvalData, Labels: f.EvalLabels,
				TeacherPath: "row", TeacherPreprocess: tt.tpre, Batch: 7}, nil, tt.teacher)
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != eval.KindCheckpoint || got.Preprocess.Scale != 255 {
				t.Errorf("kind %q, preprocess %+v: want a checkpoint with scale 255", got.Kind, got.Preprocess)
			}
			// The same eval set was scored at the end of training, in batches of 32 instead of 7.
			opt := cmpopts.EquateApprox(0, 1e-5)
			if d := cmp.Diff(res.Eval, got.Metrics, opt); d != "" {
				t.Errorf("Eval metrics differ from training's last eval (-train +eval):\n%s", d)
			}
			if (tt.teacher != nil) != (got.Agreement != nil) || (tt.teacher != nil) != (got.TeacherMetrics != nil) {
				t.Fatalf("teacher %v: agreement %v, teacher metrics %v", tt.teacher != nil, got.Agreement, got.TeacherMetrics)
			}
			if tt.teacher != nil {
				if got.TeacherMetrics.Accuracy < 0.99 || *got.Agreement < 0.9 {
					t.Errorf("teacher accuracy %.3f, agreement %.3f: want >= 0.99 and >= 0.9", got.TeacherMetrics.Accuracy, *got.Agreement)
				}
			}
			var text strings.Builder
			if err := got.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"accuracy", "mean NLL", "ECE", "confusion matrix"} {
				if !strings.Contains(text.String(), want) {
					t.Errorf("text output lacks %q:\n%s", want, text.String())
				}
			}
			if _, err := json.Marshal(got); err != nil {
				t.Errorf("marshal result: %v", err)
			}
		})
	}
}

func TestEvalBadInput(t *testing.T) {
	f, ckpt, _ := trainedCheckpoint(t)
	badLabels := filepath.Join(f.Dir, "bad-labels.idx")
	y := make([]uint8, 150)
	y[42] = 7
	synth.WriteIDX(t, badLabels, []int{len(y)}, y)
	tests := []struct {
		name    string
		opts    eval.Options
		teacher model.Teacher
		want    string
	}{
		{"labels out of range", eval.Options{Model: ckpt, Data: f.EvalData, Labels: badLabels}, nil, "sample 42 (from 0) has label 7, but the model has"},
		{"no labels", eval.Options{Model: ckpt, Data: f.EvalData}, nil, "no labels"},
		{"missing model", eval.Options{Model: filepath.Join(f.Dir, "none.ckpt"), Data: f.EvalData, Labels: f.EvalLabels}, nil, "none.ckpt"},
		{"teacher classes", eval.Options{Model: ckpt, Data: f.EvalData, Labels: f.EvalLabels, TeacherPath: "t5"},
			&synth.RowTeacher{C: 5}, "teacher t5 has 5 classes, but model"},
		{"teacher NaN", eval.Options{Model: ckpt, Data: f.EvalData, Labels: f.EvalLabels, TeacherPath: "nan",
			TeacherPreprocess: &dataset.Preprocess{Scale: 255}}, &synth.RowTeacher{C: 3, NaNAbove: 1e-9}, "teacher nan output: check teacher logits: sample 0 has NaN for class 1"},
		{"onnx without a runtime", eval.Options{Model: onnxFile(t, f), Data: f.EvalData, Labels: f.EvalLabels}, nil, "no model runtime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := eval.Eval(context.Background(), tt.opts, nil, tt.teacher)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Eval error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestEvalONNX evaluates a Gemm classifier under onnxruntime, with preprocessing from flags or
// from the model's metadata.
func TestEvalONNX(t *testing.T) {
	onnxtest.RequireLibrary(t)
	f := synth.NewFixture(t, 30, 0)
	plain := onnxFile(t, f)
	withMeta := filepath.Join(f.Dir, "row-meta.onnx")
	onnxtest.GemmClassifier(t, withMeta, synth.RowWeights(8), make([]float32, synth.Classes),
		onnxtest.Metadata(map[string]string{meta.Preprocess: `{"scale":255}`}))

	tests := []struct {
		name  string
		model string
		pre   *dataset.Preprocess
		want  string // error, or "" for success
	}{
		{"flags", plain, &dataset.Preprocess{Scale: 255}, ""},
		{"metadata", withMeta, nil, ""},
		{"no preprocessing: the defaults for 8-bit data", plain, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := eval.Eval(context.Background(), eval.Options{Model: tt.model, Data: f.EvalData, Labels: f.EvalLabels,
				Preprocess: tt.pre, TeacherPreprocess: &dataset.Preprocess{Scale: 255}}, &onnx.Runtime{}, &synth.RowTeacher{C: synth.Classes, Gain: 8})
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Eval error = %v, want it to contain %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Preprocess.Scale != 255 {
				t.Errorf("preprocessing %+v, want scale 255", res.Preprocess)
			}
			if res.Kind != eval.KindONNX {
				t.Errorf("kind %q, want %q", res.Kind, eval.KindONNX)
			}
			// The ONNX model and the Go teacher compute the same function.
			if res.Metrics.Accuracy < 0.99 || *res.Agreement != 1 {
				t.Errorf("accuracy %.3f, agreement %.3f: want >= 0.99 and 1", res.Metrics.Accuracy, *res.Agreement)
			}
			if math.Abs(res.Metrics.MeanNLL-res.TeacherMetrics.MeanNLL) > 1e-5 {
				t.Errorf("mean NLL %v under onnxruntime, %v in Go", res.Metrics.MeanNLL, res.TeacherMetrics.MeanNLL)
			}
		})
	}
}

func TestModelKind(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "a")
	if err := os.WriteFile(ck, []byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"__metadata__\":{}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	ox := filepath.Join(dir, "b")
	if err := os.WriteFile(ox, []byte("\x08\x08\x12\x07distill"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{{ck, eval.KindCheckpoint}, {ox, eval.KindONNX}} {
		got, err := eval.ModelKind(tt.path)
		if err != nil || got != tt.want {
			t.Errorf("ModelKind(%s) = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
}

// onnxFile writes the task's linear classifier (synth.RowWeights) as ONNX without metadata.
func onnxFile(t *testing.T, f *synth.Fixture) string {
	t.Helper()
	path := filepath.Join(f.Dir, "row.onnx")
	onnxtest.GemmClassifier(t, path, synth.RowWeights(8), make([]float32, synth.Classes))
	return path
}

// TestEvalBiasShifts: a shift given and one fitted on the evaluation data itself (asked for) are
// applied before scoring; the unshifted figures are those of a plain eval; and a fit with no
// held-out set is refused on the option.
func TestEvalBiasShifts(t *testing.T) {
	f, ckpt, _ := trainedCheckpoint(t)
	base := eval.Options{Model: ckpt, Data: f.EvalData, Labels: f.EvalLabels}
	plain, err := eval.Eval(context.Background(), base, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := base
	o.BiasShifts, o.FitBias, o.FitOnData = []eval.BiasShift{{Class: 2, Delta: -30}}, []int{1}, true
	got, err := eval.Eval(context.Background(), o, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(plain.Metrics, got.Unshifted); d != "" {
		t.Errorf("unshifted figures differ from a plain eval:\n%s", d)
	}
	// -30 on class 2 makes every sample of class 2 wrong; the fit of class 1 cannot undo that.
	if pc := got.Metrics.PerClass[2]; pc.Errors != pc.N {
		t.Errorf("class 2 shifted by -30: %d errors of %d", pc.Errors, pc.N)
	}
	if got.BiasFit == nil || got.BiasFit.N != plain.Metrics.N || got.BiasFit.Data != f.EvalData || len(got.BiasShifts) != 2 {
		t.Fatalf("bias fit %+v, shifts %v", got.BiasFit, got.BiasShifts)
	}
	if got.BiasFit.ErrorsAfter != got.Metrics.Errors || got.BiasFit.ErrorsBefore < got.BiasFit.ErrorsAfter {
		t.Errorf("fitted on the eval data: %d -> %d errors there, %d scored", got.BiasFit.ErrorsBefore, got.BiasFit.ErrorsAfter, got.Metrics.Errors)
	}
	o.FitOnData = false
	var oe *eval.OptionError
	if _, err := eval.Eval(context.Background(), o, nil, nil); !errors.As(err, &oe) || oe.Option != "FitData" {
		t.Errorf("fit without a held-out set: %v, want an OptionError on FitData", err)
	}
}
