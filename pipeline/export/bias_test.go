package export_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/pipeline/export"
	"github.com/distillgo/distill/pipeline/internal/synth"
	"github.com/distillgo/distill/pipeline/train"
)

// TestCheckpointBiasShift: a shift baked into the exported model scores the test set as eval's
// shift of the checkpoint's logits does, and differs from the unshifted model.
func TestCheckpointBiasShift(t *testing.T) {
	onnxtest.RequireLibrary(t)
	f := synth.NewFixture(t, 200, 0)
	o := train.DefaultOptions()
	o.Spec, o.Data, o.Labels = f.Spec, f.Data, f.Labels
	o.Preprocess = dataset.Preprocess{Scale: 255}
	o.Epochs, o.Batch, o.LR = 2, 32, 1e-2
	o.Checkpoint = filepath.Join(f.Dir, "s.ckpt")
	if _, err := train.Train(context.Background(), o, nil, nil); err != nil {
		t.Fatal(err)
	}
	shifts := []eval.BiasShift{{Class: 1, Delta: 4}, {Class: 2, Delta: -1.5}}
	model := filepath.Join(f.Dir, "shifted.onnx")
	rt := &onnx.Runtime{}
	res, err := export.Checkpoint(context.Background(), export.Options{Checkpoint: o.Checkpoint, Out: model, Verify: 16, BiasShifts: shifts}, rt)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Metadata[meta.BiasShift]; got != "1=+4,2=-1.5" || res.BiasParam == "" {
		t.Errorf("metadata %s = %q, bias %q: want 1=+4,2=-1.5 on the output bias", meta.BiasShift, got, res.BiasParam)
	}
	ck, err := eval.Eval(context.Background(), eval.Options{Model: o.Checkpoint, Data: f.EvalData, Labels: f.EvalLabels, BiasShifts: shifts}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	baked, err := eval.Eval(context.Background(), eval.Options{Model: model, Data: f.EvalData, Labels: f.EvalLabels}, rt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ck.Metrics, baked.Metrics, cmpopts.EquateApprox(0, 1e-4)); d != "" {
		t.Errorf("baked shift vs eval's shift (-eval +baked):\n%s", d)
	}
	if cmp.Equal(ck.Unshifted.Confusion, ck.Metrics.Confusion) {
		t.Errorf("a shift of +4 on class 1 changed no prediction: confusion %v", ck.Metrics.Confusion)
	}
	if _, err := export.Checkpoint(context.Background(), export.Options{Checkpoint: o.Checkpoint, Out: model + "2", Verify: 0,
		BiasShifts: []eval.BiasShift{{Class: synth.Classes, Delta: 1}}}, nil); err == nil {
		t.Errorf("a shift of class %d of %d was exported", synth.Classes, synth.Classes)
	}
}
