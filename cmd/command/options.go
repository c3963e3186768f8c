package command

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/distillgo/distill/internal/option"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/pipeline/export"
	"github.com/distillgo/distill/pipeline/sweep"
	"github.com/distillgo/distill/pipeline/train"
)

// The flag of an option error (an *option.Error naming a field of a pipeline's Options) is
// derived from that field: each option field names the flags that set it in a `flag` tag
// (`flag:"epochs"`; several, comma-separated: `flag:"scale,mean,std,input-shape"`), so renaming a
// field carries its flag along and TestOptionFlagsDoNotDrift checks that every tag names a flag
// its commands have. optionTypes are the Options of each scope.
var optionTypes = map[string]reflect.Type{
	"train":   reflect.TypeFor[train.Options](),
	"eval":    reflect.TypeFor[eval.Options](),
	"predict": reflect.TypeFor[eval.PredictOptions](),
	"export":  reflect.TypeFor[export.Options](),
	"sweep":   reflect.TypeFor[sweep.Options](),
}

// runtimeOptionFlags maps what a struct tag cannot say: the options of opening a model
// (model.Options, scope "onnx") and of reading data (scope "dataset"), whose flag depends on the
// command and on whether the model is a teacher (cmd names a teacher's options Teacher.<option>,
// see pipeline/teacher). A key "command.scope.Option" applies to one command only.
var runtimeOptionFlags = map[string]string{
	"onnx.Inputs": "input", "train.onnx.Inputs": "teacher-input", "onnx.Teacher.Inputs": "teacher-input",
	"targets.onnx.Teacher.Inputs": "input", "train.onnx.Teacher.Inputs": "teacher-input",
	"onnx.InputShape": "input-shape", "onnx.Teacher.InputShape": "teacher-input-shape",
	"onnx.Teacher.Features": "hint", // the tensors the hints read, opened beside the logits
	"onnx.Runtime.Lib":      "ort-lib", "dataset.Layout": "layout",
	// A model's output: the teachers' (cmd names them Teacher.*) and eval's and predict's model.
	"onnx.Teacher.OutputName": "teacher-output", "onnx.Teacher.Output": "teacher-output-kind",
	"targets.onnx.Teacher.Output": "output", "targets.onnx.Output": "output", "targets.onnx.OutputName": "teacher-output",
	"train.onnx.Output": "teacher-output-kind", "train.onnx.OutputName": "teacher-output",
	"eval.onnx.Output": "model-output-kind or --teacher-output-kind", "eval.onnx.OutputName": "model-output",
	"predict.onnx.Output": "model-output-kind", "predict.onnx.OutputName": "model-output",
}

// flagFor returns the flag (without its leading "--") of command that sets the option of e.
func flagFor(e *option.Error, command string) string {
	for _, k := range []string{command + "." + e.Scope + "." + e.Option, e.Scope + "." + e.Option} {
		if f, ok := runtimeOptionFlags[k]; ok {
			return f
		}
	}
	if e.Scope == "sweep" {
		// sweep's grid flags stand for train's single values.
		switch strings.TrimPrefix(e.Option, "Train.") {
		case "Temperature":
			return "temperatures"
		case "Alpha":
			return "alphas"
		}
	}
	if f, ok := taggedFlag(optionTypes[e.Scope], e.Option); ok {
		return f
	}
	opt := e.Option[strings.LastIndexByte(e.Option, '.')+1:]
	return strings.ToLower(opt)
}

// taggedFlag returns the flags named by the `flag` tag of the field at path (field names joined
// by '.', through embedded and nested structs) of t, written as a message names them: "epochs",
// or "scale, --mean, --std or --input-shape".
func taggedFlag(t reflect.Type, path string) (string, bool) {
	if t == nil {
		return "", false
	}
	var f reflect.StructField
	for name := range strings.SplitSeq(path, ".") {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return "", false
		}
		var ok bool
		if f, ok = t.FieldByName(name); !ok {
			return "", false
		}
		t = f.Type
	}
	tag := f.Tag.Get("flag")
	if tag == "" {
		return "", false
	}
	names := strings.Split(tag, ",")
	if len(names) == 1 {
		return names[0], true
	}
	return strings.Join(names[:len(names)-1], ", --") + " or --" + names[len(names)-1], true
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
