package pipeline

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
)

// rowWeights are the weights of a linear teacher for the synthetic task: logit c = gain * mean of
// image row c (inputs scaled to [0, 1]), as rowTeacher computes.
func rowWeights(gain float32) [][]float32 {
	W := make([][]float32, synthH*synthW)
	for p := range W {
		W[p] = make([]float32, synthClasses)
		if r := p / synthW; r < synthClasses {
			W[p][r] = gain / synthW
		}
	}
	return W
}

// trainedCheckpoint trains the tiny net on hard labels for a few epochs and returns the fixture,
// the checkpoint path and the training result.
func trainedCheckpoint(t *testing.T) (*fixture, string, *TrainResult) {
	t.Helper()
	f := newFixture(t, 300, 0)
	o := f.opts("eval.ckpt")
	o.Epochs = 3
	res, err := Train(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f, o.Out, res
}

func TestEvalCheckpoint(t *testing.T) {
	f, ckpt, res := trainedCheckpoint(t)
	tests := []struct {
		name    string
		teacher Teacher
		tpre    *Preprocess
	}{
		{"alone", nil, nil},
		{"with teacher", &rowTeacher{classes: synthClasses, gain: 8}, &Preprocess{Scale: 255}},
		{"with teacher, preprocessing from the checkpoint", &rowTeacher{classes: synthClasses, gain: 8}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Eval(context.Background(), EvalOptions{Model: ckpt, Data: f.evalData, Labels: f.evalLabels,
				Teacher: tt.teacher, TeacherPath: "row", TeacherPreprocess: tt.tpre, Batch: 7})
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != KindCheckpoint || got.Preprocess.Scale != 255 {
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
	badLabels := filepath.Join(f.dir, "bad-labels.idx")
	y := make([]uint8, 150)
	y[42] = 7
	writeIDX(t, badLabels, []int{len(y)}, y)
	tests := []struct {
		name string
		opts EvalOptions
		want string
	}{
		{"labels out of range", EvalOptions{Model: ckpt, Data: f.evalData, Labels: badLabels}, "sample 42 has label 7"},
		{"no labels", EvalOptions{Model: ckpt, Data: f.evalData}, "no labels"},
		{"missing model", EvalOptions{Model: filepath.Join(f.dir, "none.ckpt"), Data: f.evalData, Labels: f.evalLabels}, "none.ckpt"},
		{"teacher classes", EvalOptions{Model: ckpt, Data: f.evalData, Labels: f.evalLabels, TeacherPath: "t5",
			Teacher: &rowTeacher{classes: 5}}, "teacher t5 has 5 classes, but model"},
		{"teacher NaN", EvalOptions{Model: ckpt, Data: f.evalData, Labels: f.evalLabels, TeacherPath: "nan",
			Teacher: &rowTeacher{classes: 3, nanAbove: 1e-9}, TeacherPreprocess: &Preprocess{Scale: 255}}, "teacher nan output: sample 0: logit 1 is NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Eval(context.Background(), tt.opts)
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
	f := newFixture(t, 30, 0)
	plain := filepath.Join(f.dir, "row.onnx")
	onnxtest.GemmClassifier(t, plain, rowWeights(8), make([]float32, synthClasses))
	withMeta := filepath.Join(f.dir, "row-meta.onnx")
	onnxtest.GemmClassifier(t, withMeta, rowWeights(8), make([]float32, synthClasses),
		onnxtest.Metadata(map[string]string{MetaPreprocess: `{"scale":255}`}))

	tests := []struct {
		name  string
		model string
		pre   *Preprocess
		want  string // error, or "" for success
	}{
		{"flags", plain, &Preprocess{Scale: 255}, ""},
		{"metadata", withMeta, nil, ""},
		{"no preprocessing", plain, nil, "records no preprocessing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Eval(context.Background(), EvalOptions{Model: tt.model, Data: f.evalData, Labels: f.evalLabels,
				Preprocess: tt.pre, Teacher: &rowTeacher{classes: synthClasses, gain: 8}, TeacherPreprocess: &Preprocess{Scale: 255}})
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Eval error = %v, want it to contain %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Kind != KindONNX {
				t.Errorf("kind %q, want %q", res.Kind, KindONNX)
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

// TestTrainOnlineORT distils the onnxruntime Gemm teacher online into the tiny student.
func TestTrainOnlineORT(t *testing.T) {
	onnxtest.RequireLibrary(t)
	f := newFixture(t, 300, 0)
	path := filepath.Join(f.dir, "teacher.onnx")
	onnxtest.GemmClassifier(t, path, rowWeights(8), make([]float32, synthClasses))
	s, err := onnx.Open(path, onnx.Options{Batch: 32})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	o := f.opts("online.ckpt")
	o.Teacher, o.TeacherPath, o.Jitter, o.Temperature = s, path, 1, 2
	res, err := Train(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if acc := lastAccuracy(t, res); acc < 0.9 {
		t.Errorf("eval accuracy %.3f, want >= 0.9", acc)
	}
	_, prov := loadProvenance(t, o.Out)
	sum, err := FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	if prov.TeacherSHA256 != sum || prov.Mode != ModeOnline || prov.Temperature != 2 {
		t.Errorf("provenance %+v: want online, T 2, teacher sha256 %s", prov, sum)
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
	for _, tt := range []struct{ path, want string }{{ck, KindCheckpoint}, {ox, KindONNX}} {
		got, err := ModelKind(tt.path)
		if err != nil || got != tt.want {
			t.Errorf("ModelKind(%s) = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
}

func TestChoosePreprocess(t *testing.T) {
	scale1 := 1.0
	stored := `{"scale":255,"mean":[0.5],"std":[0.5],"input_shape":[1,28,28]}`
	tests := []struct {
		name     string
		pre      *Preprocess
		override PreprocessOverride
		stored   string
		want     Preprocess
		wantErr  string
	}{
		{name: "stored", stored: stored,
			want: Preprocess{Scale: 255, Mean: []float64{0.5}, Std: []float64{0.5}, InputShape: []int{1, 28, 28}}},
		{name: "one flag keeps the other stored fields", stored: stored, override: PreprocessOverride{InputShape: []int{784}},
			want: Preprocess{Scale: 255, Mean: []float64{0.5}, Std: []float64{0.5}, InputShape: []int{784}}},
		{name: "scale and mean", stored: stored, override: PreprocessOverride{Scale: &scale1, Mean: []float64{0.1}},
			want: Preprocess{Scale: 1, Mean: []float64{0.1}, Std: []float64{0.5}, InputShape: []int{1, 28, 28}}},
		{name: "Preprocess replaces the stored one", stored: stored, pre: &Preprocess{Scale: 2},
			want: Preprocess{Scale: 2}},
		{name: "override over Preprocess", stored: stored, pre: &Preprocess{Scale: 2}, override: PreprocessOverride{Std: []float64{3}},
			want: Preprocess{Scale: 2, Std: []float64{3}}},
		{name: "nothing stored, flags", override: PreprocessOverride{Mean: []float64{0.5}},
			want: Preprocess{Scale: DefaultScale, Mean: []float64{0.5}}},
		{name: "nothing stored, no flags", wantErr: "records no preprocessing"},
		{name: "bad metadata", stored: "{", wantErr: "preprocessing metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := choosePreprocess(EvalOptions{Model: "m.onnx", Preprocess: tt.pre, PreprocessOverride: tt.override}, tt.stored)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("preprocessing (-want +got):\n%s", diff)
			}
		})
	}
}
