package command

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/urfave/cli/v2"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/internal/nn"
	"github.com/distillgo/distill/internal/outputs"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/purego/direct"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/pipeline/export"
	"github.com/distillgo/distill/student"
)

// ExportOptions are the settings of `distill export`.
type ExportOptions struct {
	export.Options
	SpecPath string // --spec: the checkpoint must be for this spec (optional)
	ORTLib   string // --ort-lib, for the verification run
	// Overwrite is --overwrite: replace Out if it exists (without it an existing Out is refused).
	Overwrite bool
}

const exportDescription = `Writes a trained student as an ONNX model that onnxruntime (or any ONNX consumer) runs: a
dynamic batch axis, input "input" and output "logits"; each layer becomes its operator's nodes
(dense Gemm, conv2d Conv, maxpool MaxPool, avgpool AveragePool, globalavgpool GlobalAveragePool
and Flatten, add Add, concat Concat, batchnorm BatchNormalization, relu Relu, ...; opset 13
forms); dropout is left out (it is the identity at inference); the weights are initializers
(float16 with --fp16, computed in float32).

--fold-bn (on by default) folds each batchnorm whose input is a dense or conv2d layer read by it
alone into that layer's weights and bias (scale = gamma/sqrt(running_var + eps) per channel),
so the file has no BatchNormalization node for it; --fold-bn=false writes them all. Either way
the verification below compares the file with the student; 'distill train --init-from' needs
--fold-bn=false, since a folded batchnorm's own parameters and statistics are gone.

--int8 stores each dense and conv2d weight as int8 with one float32 scale per output channel
(a column of a dense weight, a filter of a conv: scale = max|w|/127, values rounded to even in
-127..127), widened by a DequantizeLinear node (opset >= 13); biases stay float32. The file is
about a quarter of the float32 one; the arithmetic stays float32: distill's onnxruntime sessions
set session.disable_quant_qdq, so the weights are widened back to float32 when the model loads
(without it onnxruntime may fuse the dense layers into MatMulNBits, which also rounds the
activations). --int8 and --fp16 exclude each other.

metadata_props record how to feed the model and where it came from, as 'distill inspect' shows:
distill.preprocess (the scale, mean and std the student was trained with, and its input shape
and layout when training was given them: --input-shape, --layout),
distill.classes, distill.spec, distill.provenance (the training run as JSON) and, flattened,
distill.teacher_sha256, distill.temperature, distill.alpha, distill.epochs and
distill.eval_accuracy.

--verify K (default 64) runs the exported file under onnxruntime and under the pure-Go runtime
(--runtime go) on K samples and compares each with the student's own forward pass: it prints a
"verify:" line per runtime with the largest absolute logit difference and the argmax agreement,
and fails above 1e-4 (float32), 1e-2 x (1 + largest |logit|) with --fp16
or 5e-2 x (1 + largest |logit|) with --int8 (4/254 per int8 weight instead, when the student
has more than three).
The samples are the first K of --verify-data (all of it when it holds fewer), preprocessed as the
checkpoint records, or else random raw values in [0, scale] (at most 4096). --verify 0 skips the
check (onnxruntime is then not loaded). The file at --out appears only once written and verified.
An existing --out is refused unless --overwrite is given, as is an --out that names --model,
--spec or --verify-data; SIGINT or SIGTERM stop the export at once and leave --out as it was.

--bias-shift 3=+3.5 (repeatable, or 7=-7.6,8=-7.6) adds to the bias of the student's last
(dense) layer, so the model's logit of each class named moves by its delta, as 'distill eval
--bias-shift' scores it; the shift is recorded as distill.bias_shift and the verification
compares the shifted student with the file.

Example:
  distill export --model out/student.ckpt --out out/student.onnx
  distill export --model out/student.ckpt --out out/student-fp16.onnx --fp16 \
      --verify 256 --verify-data data/mnist/t10k-images-idx3-ubyte.gz
  distill export --model out/student.ckpt --out out/student-int8.onnx --int8 \
      --verify 256 --verify-data data/mnist/t10k-images-idx3-ubyte.gz`

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:        "export",
		Usage:       "Export a student checkpoint to ONNX and verify it under onnxruntime",
		UsageText:   "distill export --model <student.ckpt> --out <model.onnx> [--overwrite] [--opset <n>] [--fp16 | --int8] [--fold-bn=false] [--verify <k>] [--verify-data <file>] [--bias-shift <c>=<d>]",
		Description: exportDescription,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "student checkpoint `<file>` written by 'distill train' (required)", TakesFile: true},
			&cli.StringFlag{Name: "out", Usage: "ONNX `<file>` to write (required)", TakesFile: true},
			overwriteFlag("--out"),
			&cli.IntFlag{Name: "opset", Value: onnx.DefaultOpset, Usage: "ai.onnx opset `<n>` to target"},
			&cli.BoolFlag{Name: "fp16", Usage: "store the weights as float16 (inputs, outputs and arithmetic stay float32)"},
			&cli.BoolFlag{Name: "int8", Usage: "store the weights as int8 with a float32 scale per output channel (biases, inputs and outputs stay float32)"},
			&cli.BoolFlag{Name: "fold-bn", Value: true, Usage: "fold each batchnorm that follows a dense or conv2d layer into its weights (false: write BatchNormalization nodes)"},
			&cli.IntFlag{Name: "verify", Value: export.DefaultVerifySamples, Usage: "compare onnxruntime and the pure-Go runtime with the student on `<k>` samples (0: skip)"},
			&cli.StringFlag{Name: "verify-data", Usage: "take the verification samples from `<file>` (IDX, gzip IDX, NPY, NPZ, CSV) or image folder instead of random inputs", TakesFile: true},
			&cli.StringFlag{Name: "spec", Usage: "refuse a checkpoint not trained for the student spec `<file.json>`", TakesFile: true},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the random verification inputs"},
			biasShiftFlag("in the exported model"),
		},
		Action: func(cCtx *cli.Context) error {
			if cCtx.Args().Present() {
				return usageErrorf(cCtx, "export: unexpected argument %q (the checkpoint goes in --model)", cCtx.Args().First())
			}
			if err := requireFlags(cCtx, "model", "out"); err != nil {
				return err
			}
			o := ExportOptions{
				Options: export.Options{
					Checkpoint: cCtx.String("model"), Out: cCtx.String("out"), Opset: cCtx.Int("opset"),
					FP16: cCtx.Bool("fp16"), Int8: cCtx.Bool("int8"), KeepBN: !cCtx.Bool("fold-bn"), Verify: cCtx.Int("verify"), VerifyData: cCtx.String("verify-data"),
					Seed: cCtx.Uint64("seed"),
				},
				SpecPath:  cCtx.String("spec"),
				ORTLib:    globalString(cCtx, flagORTLib),
				Overwrite: cCtx.Bool("overwrite"),
			}
			var err error
			if o.BiasShifts, err = biasShiftsFromFlags(cCtx); err != nil {
				return err
			}
			if o.Opset < 1 {
				return usageErrorf(cCtx, "--opset %d: must be positive", o.Opset)
			}
			if err := o.Validate(); err != nil {
				return optionError(cCtx, err, true)
			}
			release, err := claimFiles(cCtx, outputs.Plan{
				Inputs:    []outputs.File{inFile("model", o.Checkpoint), inFile("spec", o.SpecPath), inFile("verify-data", o.VerifyData)},
				Outputs:   []outputs.Output{outFile("out", o.Out, false)},
				Overwrite: o.Overwrite,
			})
			defer release()
			if err != nil {
				return err
			}
			return runExport(cCtx.Context, o, cCtx.App.Writer)
		},
	}
}

// runExport exports the checkpoint and prints what was written and the verification figures to w.
func runExport(ctx context.Context, o ExportOptions, w io.Writer) error {
	if o.SpecPath != "" {
		spec, err := student.LoadSpec(o.SpecPath)
		if err != nil {
			return err
		}
		o.Spec = spec
	}
	// Verification runs on the CPU: the check is about the file, not the device.
	rt := &onnx.Runtime{Lib: o.ORTLib, Device: "cpu"}
	if o.Verify > 0 {
		if err := rt.Init(); err != nil {
			return fmt.Errorf("export: --verify needs onnxruntime (or give --verify 0): %w", err)
		}
	}
	if o.Verify > 0 {
		o.AlsoVerify = direct.Runtime{} // the pure-Go runtime must run the student too
	}
	res, err := export.Checkpoint(ctx, o.Options, rt)
	if res != nil && res.BiasParam != "" {
		fmt.Fprintf(w, "bias shift %s added to %s (the verification checks the shifted student)\n", eval.FormatBiasShifts(o.BiasShifts), res.BiasParam)
	}
	if res != nil && res.Verify != nil {
		printVerify(w, "onnxruntime", res.Verify, res.VerifyInputs)
	}
	if res != nil && res.VerifyAlso != nil {
		printVerify(w, "pure Go (--runtime go)", res.VerifyAlso, res.VerifyInputs)
	}
	if err != nil {
		return err
	}
	dtype := "float32"
	switch {
	case o.FP16:
		dtype = "float16"
	case o.Int8:
		dtype = "int8"
	}
	bn := ""
	if g, gerr := res.Spec.Graph(); gerr == nil {
		folded, kept := 0, 0
		for _, n := range g.Nodes {
			switch {
			case n.Layer.Type != "batchnorm":
			case !o.KeepBN && nn.Folded(g, n.Index):
				folded++
			default:
				kept++
			}
		}
		if folded+kept > 0 {
			bn = fmt.Sprintf(", %d batchnorms folded into the layer before them, %d written as BatchNormalization", folded, kept)
		}
	}
	fmt.Fprintf(w, "wrote %s: %s, epoch %d, %s weights, opset %d%s\n", res.Out, student.DescribeSpec(res.Spec), res.Epoch, dtype, o.Opset, bn)
	keys := make([]string, 0, len(res.Metadata))
	for k := range res.Metadata {
		if k != meta.Spec && k != meta.Provenance {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s = %s\n", k, res.Metadata[k])
	}
	if res.Verify == nil {
		fmt.Fprintln(w, "not verified (--verify 0)")
	}
	return nil
}

func printVerify(w io.Writer, runtime string, v *export.VerifyReport, inputs string) {
	verdict := "ok"
	if !(v.MaxAbsDiff <= v.Tolerance) {
		verdict = "FAILED"
	}
	if inputs != "random" {
		inputs = "samples of " + inputs
	} else {
		inputs = "random inputs"
	}
	fmt.Fprintf(w, "verify: %s vs student on %d %s: max abs logit difference %.3g (bound %.3g), argmax agreement %.2f%%: %s\n",
		runtime, v.N, inputs, v.MaxAbsDiff, v.Tolerance, 100*v.Agreement, verdict)
}
