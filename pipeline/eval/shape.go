package eval

import (
	"fmt"
	"os"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/student"
)

// checkDataShape checks, before the data is read, that its samples will fit the model's input
// as Eval and Predict check them (a checkpoint's spec input; an ONNX model's input, or the input
// shape given), where their shape can be told cheaply (an image folder, see
// dataset.CheckSourceShape), so that a mismatch is refused before every image is decoded. A
// model it cannot read is left to the evaluation proper, which reports it as it always has.
func checkDataShape(opts Options, src dataset.Source, kind string) error {
	if fi, err := os.Stat(src.Data); err != nil || !fi.IsDir() {
		return nil // not an image folder: its shape is checked once it is read, as before
	}
	var stored string
	var input []int    // a checkpoint's input
	var onnxIn []int64 // an ONNX model's input, batch axis first
	switch kind {
	case KindCheckpoint:
		ck, err := student.LoadCheckpoint(opts.Model)
		if err != nil {
			return nil
		}
		stored, input = ck.Meta[meta.Preprocess], ck.Spec.Input
	default:
		info, err := onnx.ReadModelInfo(opts.Model)
		if err != nil || len(info.Inputs) != 1 {
			return nil
		}
		stored, onnxIn = info.Metadata[meta.Preprocess], info.Inputs[0].Shape
	}
	pre, _, err := resolvePreprocess(opts, stored) // its log lines come with the evaluation
	if err != nil {
		return nil
	}
	if input == nil {
		if input = modelSampleShape(onnxIn, pre.InputShape); input == nil {
			return nil
		}
	}
	if err := dataset.CheckSourceShape(src, pre, input); err != nil {
		return fmt.Errorf("%s: %w", opts.Model, err)
	}
	return nil
}
