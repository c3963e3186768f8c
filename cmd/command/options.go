package command

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/distillgo/distill/internal/option"
)

// optionFlags maps the options that the pipeline's errors name (an *option.Error's Option, a
// field of its Options) to the flags that set them. A key "scope.Option" applies to one scope
// only; a plain "Option" to every scope.
var optionFlags = map[string]string{
	"Spec": "model", "Data": "data", "Labels": "labels", "EvalData": "eval-data", "EvalLabels": "eval-labels",
	"Preprocess": "scale, --mean, --std or --input-shape", "TeacherPreprocess": "teacher-scale, --teacher-mean, --teacher-std or --teacher-input-shape",
	"SoftTargets": "soft-targets", "TeacherPath": "teacher", "OnlineTeachers": "teacher", "InitFrom": "init-from",
	"Temperature": "temperature", "Alpha": "alpha", "Loss": "loss", "DKDAlpha": "dkd-alpha", "DKDBeta": "dkd-beta",
	"DKDWarmup": "dkd-warmup", "StandardizeLogits": "standardize-logits", "sweep.Losses": "losses", "Ensemble": "ensemble", "Epochs": "epochs",
	"Batch": "batch", "LR": "lr", "Schedule": "schedule", "Optimizer": "optimizer", "Momentum": "momentum",
	"Jitter": "jitter", "Augment": "augment", "Hints": "hint", "Seed": "seed", "Checkpoint": "out", "Resume": "resume", "Overwrite": "overwrite",
	"Metrics": "metrics", "Plot": "plot", "Format.Label": "label-column", "TeacherInputs": "teacher-input",
	"onnx.Inputs": "input", "train.onnx.Inputs": "teacher-input", "onnx.Teacher.Inputs": "teacher-input",
	"targets.onnx.Teacher.Inputs": "input", "train.onnx.Teacher.Inputs": "teacher-input",
	"onnx.InputShape": "input-shape", "onnx.Teacher.InputShape": "teacher-input-shape",
	"onnx.Teacher.Features": "hint", // the tensors the hints read, opened beside the logits
	"eval.Model":            "model", "eval.BiasShifts": "bias-shift", "eval.FitBias": "fit-bias", "eval.FitData": "fit-data",
	"eval.FitLabels": "fit-labels", "eval.FitOnData": "fit-on-data", "export.BiasShifts": "bias-shift",
	"export.Checkpoint": "model", "export.Out": "out", "export.Verify": "verify", "export.VerifyData": "verify-data",
	"export.Opset":       "opset",
	"sweep.Temperatures": "temperatures", "sweep.Dir": "out-dir",
	"onnx.Runtime.Lib": "ort-lib", "dataset.Layout": "layout", "Standardize": "standardize",
	"ExcludeClasses": "exclude-classes", "OnlyClasses": "only-classes",
	// A model's output: the teachers' (cmd names them Teacher.*) and eval's model.
	"onnx.Teacher.OutputName": "teacher-output", "onnx.Teacher.Output": "teacher-output-kind",
	"targets.onnx.Teacher.Output": "output", "targets.onnx.Output": "output", "targets.onnx.OutputName": "teacher-output",
	"train.onnx.Output": "teacher-output-kind", "train.onnx.OutputName": "teacher-output",
	"eval.onnx.Output": "model-output-kind or --teacher-output-kind", "eval.onnx.OutputName": "model-output",
	// distill predict's own options and its model's output.
	"predict.Model": "model", "predict.TopK": "top-k", "predict.onnx.Output": "model-output-kind", "predict.onnx.OutputName": "model-output",
}

// flagFor returns the flag (without its leading "--") of command that sets the option of e.
func flagFor(e *option.Error, command string) string {
	for _, k := range []string{command + "." + e.Scope + "." + e.Option, e.Scope + "." + e.Option} {
		if f, ok := optionFlags[k]; ok {
			return f
		}
	}
	opt := strings.TrimPrefix(e.Option, "Train.") // sweep's shared training options
	if e.Scope == "sweep" || strings.HasPrefix(e.Option, "Train.") {
		switch opt {
		case "Temperature":
			return "temperatures"
		case "Alpha":
			return "alphas"
		}
	}
	if f, ok := optionFlags[opt]; ok {
		return f
	}
	return strings.ToLower(opt)
}

// optionError rewrites err, when it holds an *option.Error, to name the option's flag instead of
// its field: a usage error of the command running in cCtx when usage is set (the options were
// wrong on their own, found by a Validate), else an error to report as it is (they did not fit
// the files or the models; every command's action is wrapped so, see prepareCommand).
func optionError(cCtx *cli.Context, err error, usage bool) error {
	var oe *option.Error
	if !errors.As(err, &oe) {
		return err
	}
	command := ""
	if cCtx != nil && cCtx.Command != nil {
		command = cCtx.Command.Name
	}
	msg := fmt.Sprintf("--%s: %v", flagFor(oe, command), oe.Err)
	if usage {
		return usageErrorf(cCtx, "%s", msg)
	}
	return fmt.Errorf("%s: %s", oe.Scope, msg)
}
