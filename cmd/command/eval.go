package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/option"
	"github.com/distillgo/distill/internal/outputs"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/eval"
	teacherpkg "github.com/distillgo/distill/pipeline/teacher"
	"github.com/distillgo/distill/student"
)

// EvalCLIOptions are the settings of `distill eval`.
type EvalCLIOptions struct {
	eval.Options
	TeacherModel string // --teacher: ONNX teacher to compare with (empty: none)
	// TeacherOutput and TeacherOutputKind are --teacher-output and --teacher-output-kind.
	TeacherOutput, TeacherOutputKind string
	JSON                             bool         // --json: print one JSON object instead of text (default false)
	Runtime                          modelRuntime // --runtime, --ort-lib, --device, --gpu-id, --threads: how ONNX models run
	BLAS                             string       // --blas: auto (default), openblas or go, for checkpoints
}

func evalCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "model", Usage: "student checkpoint or ONNX `<model>` (required)", TakesFile: true},
		&cli.StringFlag{Name: "data", Usage: "evaluation data `<file>` (IDX, gzip IDX, NPY, NPZ, CSV) or image folder (required)", TakesFile: true},
		&cli.StringFlag{Name: "labels", Usage: "labels `<file>` of --data (required unless --data holds them: a CSV's label column, an image folder's class folders)", TakesFile: true},
		&cli.StringFlag{Name: "teacher", Usage: "also evaluate teacher `<model.onnx>[:opt=v,...]` and report top-1 agreement (options as for targets and train: scale, mean, std, shape, layout, output)", TakesFile: true},
		&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of text"},
		&cli.StringFlag{Name: "model-output", Usage: "an ONNX model's output `<name>` that holds the class scores (default: the only one that can)"},
		enumFlag(&cli.StringFlag{Name: "model-output-kind", Value: "auto", Usage: "what an ONNX model outputs, `<kind>`: auto, logits, probs or logprobs"}, choicesOutput...),
		&cli.StringFlag{Name: "teacher-output", Usage: "the teacher's output `<name>` that holds the class scores"},
		enumFlag(&cli.StringFlag{Name: "teacher-output-kind", Value: "auto", Usage: "what the teacher outputs, `<kind>`: auto, logits, probs or logprobs"}, choicesOutput...),
		&cli.IntFlag{Name: "batch", Value: eval.DefaultBatch, Usage: "inference batch size `<n>`"},
		blasFlag("for checkpoints"),
		biasShiftFlag("before scoring"),
		&cli.StringFlag{Name: "fit-bias", Usage: "fit the bias shifts of `<class,...>` that minimise the errors on --fit-data, then score --data with them"},
		&cli.StringFlag{Name: "fit-data", Usage: "held-out `<file>` that --fit-bias fits on (not the test set)", TakesFile: true},
		&cli.StringFlag{Name: "fit-labels", Usage: "labels `<file>` of --fit-data", TakesFile: true},
		&cli.BoolFlag{Name: "fit-on-data", Usage: "let --fit-bias fit on --data itself (its figures are then optimistic)"},
	}
	flags = append(flags, runtimeFlags("ONNX models")...)
	flags = append(flags, csvFlags()...)
	flags = append(flags, preprocessFlags("", "the stored one")...)
	flags = append(flags, preprocessFlags("teacher-", "the evaluated model's")...)
	return &cli.Command{
		Name:      "eval",
		Usage:     "Evaluate a student checkpoint or an ONNX model on labelled data",
		UsageText: "distill eval --model <checkpoint|model.onnx> --data <file> --labels <file> [--teacher <model.onnx>] [--bias-shift <c>=<d>] [--fit-bias <c,...> --fit-data <file> --fit-labels <file>] [--json] [options]",
		Description: "Prints accuracy, error count, mean negative log-likelihood, expected calibration error\n" +
			"(15 equal-width confidence bins) and the confusion matrix; with --teacher also the teacher's\n" +
			"figures and the top-1 agreement between model and teacher.\n\n" +
			"A checkpoint carries its preprocessing; an ONNX student exported by distill records it in its\n" +
			"metadata. Other ONNX models take --scale/--mean/--std/--input-shape. Each of these flags given\n" +
			"replaces that one field of the stored preprocessing (with a warning when the result differs);\n" +
			"for a model that stores none, the fields not given are the defaults: scale 255 for 8-bit data\n" +
			"and 1 for float data, mean 0, std 1, the model's input shape. A --teacher is run with the\n" +
			"preprocessing it records, else the evaluated model's scale, mean and std; --teacher-* flags\n" +
			"replace single fields. --data may be a CSV (--label-column) or an image folder (labels from folders).\n\n" +
			"Each class's samples, errors and accuracy are listed (per_class in --json).\n\n" +
			"--bias-shift 3=+3.5 adds 3.5 to the logit of class 3 before scoring, which is adding it to\n" +
			"the bias of the last layer ('distill export --bias-shift' bakes it into the model). --fit-bias\n" +
			"3 finds that shift instead: for each class listed, a 1-D search over shifts -20..+20 in steps\n" +
			"of 0.5, then of 0.05 within one coarse step of the best, the other classes' shifts held\n" +
			"fixed, repeated while a pass lowers the errors (at most 4 passes); on a flat stretch of\n" +
			"fewest errors it takes the middle. It fits on the held-out --fit-data/--fit-labels and then\n" +
			"scores --data; fitting on --data itself needs --fit-on-data. The figures without the\n" +
			"shifts are printed too (unshifted_metrics in --json).\n\n" +
			"Example:\n" +
			"  distill eval --model out/student.ckpt --data data/mnist/t10k-images-idx3-ubyte.gz \\\n" +
			"      --labels data/mnist/t10k-labels-idx1-ubyte.gz --teacher out/teacher.onnx\n" +
			"  distill eval --model out/no3.ckpt --data data/mnist/t10k-images-idx3-ubyte.gz \\\n" +
			"      --labels data/mnist/t10k-labels-idx1-ubyte.gz --fit-bias 3 \\\n" +
			"      --fit-data out/heldout-images.idx --fit-labels out/heldout-labels.idx",
		Flags: flags,
		Action: func(cCtx *cli.Context) error {
			opts, err := evalOptionsFromFlags(cCtx)
			if err != nil {
				return err
			}
			if err := opts.Validate(); err != nil {
				return optionError(cCtx, err, true)
			}
			// eval writes nothing but --cpuprofile, which must not name an input.
			release, err := claimFiles(cCtx, outputs.Plan{Inputs: []outputs.File{inFile("model", opts.Model), inFile("data", opts.Data),
				inFile("labels", opts.Labels), inFile("teacher", opts.TeacherModel), inFile("fit-data", opts.FitData), inFile("fit-labels", opts.FitLabels)}})
			defer release()
			if err != nil {
				return err
			}
			return runEval(cCtx.Context, opts, cCtx.App.Writer)
		},
	}
}

// evalOptionsFromFlags reads and checks the flags of `distill eval`.
func evalOptionsFromFlags(cCtx *cli.Context) (EvalCLIOptions, error) {
	o := EvalCLIOptions{
		Options: eval.Options{Model: cCtx.String("model"), Data: cCtx.String("data"),
			Labels: cCtx.String("labels"), Batch: cCtx.Int("batch")},
		TeacherModel: cCtx.String("teacher"), JSON: cCtx.Bool("json"), BLAS: cCtx.String("blas"),
	}
	o.TeacherPath = o.TeacherModel
	o.OutputName, o.OutputKind = cCtx.String("model-output"), cCtx.String("model-output-kind")
	o.TeacherOutput, o.TeacherOutputKind = cCtx.String("teacher-output"), cCtx.String("teacher-output-kind")
	if err := requireFlags(cCtx, "model", "data"); err != nil {
		return o, err
	}
	if !dataset.HasOwnLabels(o.Data) {
		if err := requireFlags(cCtx, "labels"); err != nil {
			return o, err
		}
	}
	var err error
	if o.Format, err = formatFromFlags(cCtx, cCtx.String("data"), cCtx.String("fit-data")); err != nil {
		return o, err
	}
	if o.BiasShifts, err = biasShiftsFromFlags(cCtx); err != nil {
		return o, err
	}
	if o.FitBias, err = parseClasses("fit-bias", cCtx.String("fit-bias")); err != nil {
		return o, usageErrorf(cCtx, "%v", err)
	}
	o.FitData, o.FitLabels, o.FitOnData = cCtx.String("fit-data"), cCtx.String("fit-labels"), cCtx.Bool("fit-on-data")
	if o.Batch < 1 {
		return o, usageErrorf(cCtx, "--batch %d: must be at least 1", o.Batch)
	}
	if o.Runtime, err = runtimeFromFlags(cCtx); err != nil {
		return o, err
	}
	// Each flag given replaces one field of the stored preprocessing; the teacher's scale, mean
	// and std not given are the model's (after its flags).
	if o.PreprocessOverride, err = overrideFromFlags(cCtx, ""); err != nil {
		return o, err
	}
	if o.TeacherOverride, err = overrideFromFlags(cCtx, "teacher-"); err != nil {
		return o, err
	}
	if o.TeacherModel != "" {
		if err := teacherSpecOver(&o, o.TeacherModel); err != nil {
			return o, usageErrorf(cCtx, "--teacher: %v", err)
		}
	}
	return o, nil
}

// teacherSpecOver reads --teacher as targets and train take it, `<model.onnx>[:opt=v,...]`
// (teacher.Parse): the options given in the spec (scale, mean, std, shape, layout, output) replace
// the --teacher-* flags' fields.
func teacherSpecOver(o *EvalCLIOptions, arg string) error {
	a, err := teacherpkg.Parse(arg, o.TeacherOverride)
	if err != nil {
		return err
	}
	o.TeacherModel, o.TeacherPath, o.TeacherOverride = a.Path, a.Path, a.Override
	if a.Output != "" {
		o.TeacherOutputKind = a.Output
	}
	return nil
}

// runEval evaluates and prints the result to w as text or JSON. onnxruntime is loaded only for
// an ONNX model or a teacher.
func runEval(ctx context.Context, o EvalCLIOptions, w io.Writer) error {
	if err := useBLASFor(o.Model, o.BLAS); err != nil {
		return err
	}
	var teacher model.Teacher
	if o.TeacherModel != "" {
		// The teacher's recorded preprocessing, when it has one, stands in for the model's;
		// the --teacher-* flags override it field by field.
		stored, err := teacherpkg.Recorded(o.TeacherModel)
		if err != nil {
			return err
		}
		if stored != nil {
			o.TeacherPreprocess = stored
		} else {
			slog.Info("the teacher records no preprocessing: running it with the evaluated model's, with the --teacher-* flags given over it", "teacher", o.TeacherModel)
		}
		s, err := teacherpkg.Open(&o.Runtime, o.TeacherModel, model.Options{Batch: o.Batch, InputShape: o.TeacherOverride.InputShape,
			OutputName: o.TeacherOutput, Output: o.TeacherOutputKind}, true)
		if oe := (*option.Error)(nil); errors.As(err, &oe) && oe.Option == "Teacher.Inputs" {
			return fmt.Errorf("eval: %v; eval feeds a teacher from --data only", oe.Err)
		}
		if err != nil {
			return err
		}
		defer s.Close()
		teacher = s
	}
	res, err := eval.Eval(ctx, o.Options, &o.Runtime, teacher)
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(w, res)
	}
	return res.WriteText(w)
}

// useBLASFor sets up the student's BLAS backend for a model that is a checkpoint (or cannot be
// told yet, whose reading then reports the error): the Go student runs a checkpoint, while an
// ONNX model's runtime brings its own arithmetic and needs neither the BLAS nor its log line.
func useBLASFor(modelPath, backend string) error {
	if kind, err := eval.ModelKind(modelPath); err == nil && kind != eval.KindCheckpoint {
		return nil
	}
	_, err := student.UseBLAS(backend)
	return err
}
