package teacher

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/option"
	"github.com/distillgo/distill/pipeline/dataset"
)

func ptr(v float64) *float64 { return &v }

// TestArgLayers checks the order every command takes a teacher's preprocessing in: the spec's
// options over the --teacher-* flags, over what the model records, else over the base.
func TestArgLayers(t *testing.T) {
	recorded := &dataset.Preprocess{Scale: 255, Mean: []float64{0.1307}, Std: []float64{0.3081}}
	base := dataset.Preprocess{Scale: 1, Mean: []float64{0.5}, Std: []float64{0.5}}
	for _, tc := range []struct {
		name     string
		arg      string
		flags    dataset.PreprocessOverride
		recorded *dataset.Preprocess
		want     dataset.Preprocess
		output   string
	}{
		{"base alone", "t.onnx", dataset.PreprocessOverride{}, nil, base, ""},
		{"recorded over base", "t.onnx", dataset.PreprocessOverride{}, recorded, *recorded, ""},
		{"flags over recorded", "t.onnx", dataset.PreprocessOverride{Mean: []float64{0}}, recorded,
			dataset.Preprocess{Scale: 255, Mean: []float64{0}, Std: []float64{0.3081}}, ""},
		{"spec over flags", "t.onnx:mean=0.2,output=probs", dataset.PreprocessOverride{Mean: []float64{0}, Scale: ptr(2)}, recorded,
			dataset.Preprocess{Scale: 2, Mean: []float64{0.2}, Std: []float64{0.3081}}, "probs"},
		{"spec over base", "t.onnx:scale=255,shape=1x28x28", dataset.PreprocessOverride{}, nil,
			dataset.Preprocess{Scale: 255, Mean: []float64{0.5}, Std: []float64{0.5}, InputShape: []int{1, 28, 28}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Parse(tc.arg, tc.flags)
			if err != nil {
				t.Fatal(err)
			}
			a.Recorded = tc.recorded
			ts, _, err := a.Spec(base, "the student's")
			if err != nil {
				t.Fatal(err)
			}
			got := ts.Preprocess
			if ts.Path != "t.onnx" || ts.Output != tc.output || got.Scale != tc.want.Scale || !slices.Equal(got.Mean, tc.want.Mean) ||
				!slices.Equal(got.Std, tc.want.Std) || !slices.Equal(got.InputShape, tc.want.InputShape) {
				t.Errorf("%s: got %+v (path %q, output %q), want %+v (output %q)", tc.arg, got, ts.Path, ts.Output, tc.want, tc.output)
			}
		})
	}
}

// TestParseRefusesBadSpecs: a spec's error names the spec.
func TestParseRefusesBadSpecs(t *testing.T) {
	for _, arg := range []string{"", "t.onnx:scale=0", "t.onnx:mean=x", "t.onnx:bogus=1"} {
		if _, err := Parse(arg, dataset.PreprocessOverride{}); err == nil {
			t.Errorf("Parse(%q) = nil error", arg)
		}
	}
}

// TestRecorded reads the preprocessing the shipped MNIST teacher records, and an error for a
// file that is not a model.
func TestRecorded(t *testing.T) {
	p, err := Recorded("../../models/mnist-teacher.onnx")
	if err != nil {
		t.Fatal(err)
	}
	if p == nil || p.Scale == 0 || !strings.Contains(p.ScaleFrom, "mnist-teacher.onnx") {
		t.Errorf("Recorded = %+v, want the model's recorded scale", p)
	}
	if _, err := Recorded("teacher_test.go"); err == nil {
		t.Error("Recorded(a Go file) = nil error")
	}
}

// fakeModel is a model with the given inputs.
type fakeModel struct {
	ins    []model.InputInfo
	closed bool
}

func (m *fakeModel) Logits(context.Context, []float32, int) ([]float32, error) { return nil, nil }
func (m *fakeModel) Classes() int                                              { return 2 }
func (m *fakeModel) Close() error                                              { m.closed = true; return nil }
func (m *fakeModel) Describe() model.Description                               { return model.Description{} }
func (m *fakeModel) Inputs() []model.InputInfo                                 { return m.ins }
func (m *fakeModel) LogitsInputs(context.Context, []model.Input, int) ([]float32, error) {
	return nil, nil
}

// fakeRuntime opens m, or fails with err.
type fakeRuntime struct {
	m   *fakeModel
	err error
}

func (r fakeRuntime) Open(string, model.Options) (model.Model, error) {
	if r.err != nil {
		return nil, r.err
	}
	return r.m, nil
}

// TestOpen: a teacher fed from the data takes one float input; one with token ids is refused
// (and closed) naming its inputs, unless fed from arrays; the runtime's option errors become the
// teacher's.
func TestOpen(t *testing.T) {
	for _, dt := range []string{"float32", "float16", "float64"} {
		m := &fakeModel{ins: []model.InputInfo{{Name: "x", DType: dt}}}
		if _, err := Open(fakeRuntime{m: m}, "t.onnx", model.Options{}, true); err != nil {
			t.Errorf("%s input: %v", dt, err)
		}
	}
	tokens := &fakeModel{ins: []model.InputInfo{{Name: "ids", DType: "int64"}, {Name: "mask", DType: "int64"}}}
	_, err := Open(fakeRuntime{m: tokens}, "t.onnx", model.Options{}, true)
	var oe *option.Error
	if !errors.As(err, &oe) || oe.Option != "Teacher.Inputs" || !strings.Contains(err.Error(), `"ids" int64`) || !tokens.closed {
		t.Errorf("token teacher fed from data: err %v (closed %v), want a Teacher.Inputs error naming the inputs", err, tokens.closed)
	}
	tokens.closed = false
	if _, err := Open(fakeRuntime{m: tokens}, "t.onnx", model.Options{}, false); err != nil || tokens.closed {
		t.Errorf("token teacher fed from arrays: %v (closed %v)", err, tokens.closed)
	}
	_, err = Open(fakeRuntime{err: &option.Error{Scope: "onnx", Option: "InputShape", Err: errors.New("bad")}}, "t.onnx", model.Options{}, true)
	if !errors.As(err, &oe) || oe.Option != "Teacher.InputShape" {
		t.Errorf("runtime option error: %v, want Option Teacher.InputShape", err)
	}
}
