package export_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/pipeline/export"
	"github.com/distillgo/distill/pipeline/internal/synth"
	"github.com/distillgo/distill/pipeline/train"
)

// TestCheckpointInputShape: a dense student trained on samples viewed as [1 4 4] (its spec takes
// [16]) exports a model whose metadata names the shape the model takes, so that the model is
// evaluated from its metadata alone, with the checkpoint's figures.
func TestCheckpointInputShape(t *testing.T) {
	onnxtest.RequireLibrary(t)
	f := synth.NewFixture(t, 200, 0)
	o := train.DefaultOptions()
	o.Spec, o.Data, o.Labels = f.Spec, f.Data, f.Labels
	o.Preprocess = dataset.Preprocess{Scale: 255, InputShape: []int{1, synth.H, synth.W}}
	o.Epochs, o.Batch, o.LR, o.Jitter = 2, 32, 1e-2, 1
	o.Checkpoint = filepath.Join(f.Dir, "s.ckpt")
	if _, err := train.Train(context.Background(), o, nil, nil); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(f.Dir, "s.onnx")
	rt := &onnx.Runtime{}
	res, err := export.Checkpoint(context.Background(), export.Options{Checkpoint: o.Checkpoint, Out: model, Verify: 16}, rt)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Metadata["distill.preprocess"]; got != `{"scale":255,"input_shape":[16]}` {
		t.Errorf("exported preprocessing %s, want the model's input shape [16]", got)
	}
	opts := eval.Options{Data: f.EvalData, Labels: f.EvalLabels}
	opts.Model = o.Checkpoint
	fromCkpt, err := eval.Eval(context.Background(), opts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.Model = model
	fromONNX, err := eval.Eval(context.Background(), opts, rt, nil)
	if err != nil {
		t.Fatalf("eval of the exported model from its metadata: %v", err)
	}
	if fromONNX.Metrics.Errors != fromCkpt.Metrics.Errors {
		t.Errorf("exported model makes %d errors, the checkpoint %d", fromONNX.Metrics.Errors, fromCkpt.Metrics.Errors)
	}

	// The int8 export verifies within its bound, and evaluates from its metadata alone.
	q := filepath.Join(f.Dir, "s-int8.onnx")
	res, err = export.Checkpoint(context.Background(), export.Options{Checkpoint: o.Checkpoint, Out: q, Verify: 16, Int8: true}, rt)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verify.Int8 || res.Verify.Tolerance < export.VerifyToleranceInt8 {
		t.Errorf("int8 verify report %+v", res.Verify)
	}
	opts.Model = q
	fromInt8, err := eval.Eval(context.Background(), opts, rt, nil)
	if err != nil {
		t.Fatalf("eval of the int8 model: %v", err)
	}
	t.Logf("errors: checkpoint %d, int8 %d of %d", fromCkpt.Metrics.Errors, fromInt8.Metrics.Errors, fromInt8.Metrics.N)
}

// TestOptionsInt8 checks that Int8 and FP16 exclude each other, reported on the Int8 option.
func TestOptionsInt8(t *testing.T) {
	o := export.Options{Checkpoint: "s.ckpt", Out: "s.onnx", Int8: true}
	if err := o.Validate(); err != nil {
		t.Errorf("Int8 alone: %v", err)
	}
	o.FP16 = true
	var oe *export.OptionError
	if err := o.Validate(); !errors.As(err, &oe) || oe.Option != "Int8" || !strings.Contains(err.Error(), "exclude each other") {
		t.Errorf("Int8 with FP16: %v, want an OptionError on Int8", err)
	}
}
