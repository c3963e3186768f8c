package command

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/distillgo/distill/internal/atomicfile"
	"github.com/distillgo/distill/internal/outputs"
	"github.com/distillgo/distill/pipeline/eval"
)

// PredictCLIOptions are the settings of `distill predict`.
type PredictCLIOptions struct {
	eval.PredictOptions
	// Out is --out: the file the predictions are written to (empty: standard output).
	Out string
	// Format is --format: eval.PredictCSV (default) or eval.PredictJSONL; jsonl by default for
	// an --out named *.jsonl or *.ndjson.
	Format string
	// Overwrite is --overwrite: replace Out if it exists (without it an existing Out is refused).
	Overwrite bool
	Runtime   modelRuntime // --runtime, --ort-lib, --device, --gpu-id, --threads: how ONNX models run
	BLAS      string       // --blas: auto (default), openblas or go, for checkpoints
}

func predictCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "model", Usage: "student checkpoint or ONNX `<model>` (required)", TakesFile: true},
		&cli.StringFlag{Name: "data", Usage: "data `<file>` (IDX, gzip IDX, NPY, NPZ, CSV) or image folder, flat or of class folders (required)", TakesFile: true},
		&cli.StringFlag{Name: "labels", Usage: "labels `<file>` of --data, to also print the accuracy (not needed)", TakesFile: true},
		&cli.StringFlag{Name: "out", Usage: "write the predictions to `<file>` (default: standard output)", TakesFile: true},
		enumFlag(&cli.StringFlag{Name: "format", Usage: "output `<format>`: csv or jsonl (JSON Lines)", DefaultText: "csv, or jsonl for an --out named *.jsonl"}, eval.PredictCSV, eval.PredictJSONL),
		&cli.IntFlag{Name: "top-k", Value: 1, Usage: "list the `<k>` most probable classes of each sample"},
		&cli.BoolFlag{Name: "logits", Usage: "also write each sample's scores (logit_0, logit_1, ...)"},
		overwriteFlag("--out"),
		&cli.StringFlag{Name: "model-output", Usage: "an ONNX model's output `<name>` that holds the class scores (default: the only one that can)"},
		enumFlag(&cli.StringFlag{Name: "model-output-kind", Value: "auto", Usage: "what an ONNX model outputs, `<kind>`: auto, logits, probs or logprobs"}, choicesOutput...),
		&cli.IntFlag{Name: "batch", Value: eval.DefaultBatch, Usage: "inference batch size `<n>`"},
		blasFlag("for checkpoints"),
	}
	flags = append(flags, runtimeFlags("ONNX models")...)
	flags = append(flags, csvFlags()...)
	flags = append(flags, preprocessFlags("", "the stored one")...)
	return &cli.Command{
		Name:      "predict",
		Usage:     "Run a student checkpoint or an ONNX model over data, labelled or not, and write its predictions",
		UsageText: "distill predict --model <checkpoint|model.onnx> --data <file|folder> [--out <preds.csv>] [--format csv|jsonl] [--top-k <k>] [--logits] [options]",
		Description: "Writes one row per sample: the sample, named by its file in an image folder (column\n" +
			"\"file\") or by its index from 0 otherwise (column \"index\"; a CSV file's first data row is\n" +
			"0); the most probable class, its name (as the model records them, else its index) and its\n" +
			"probability (softmax of the model's scores, or the model's own probability when it\n" +
			"outputs probabilities); with labels, the true class (\"label\"); with --top-k k the next\n" +
			"k-1 classes (class_2, name_2, probability_2, ...); with --logits the scores (logit_0, ...).\n" +
			"--format jsonl writes one JSON object per line instead, with the top classes as \"top\".\n\n" +
			"--data is any data eval reads, and labels are not needed: a flat folder of PNG or JPEG\n" +
			"images (no class folders) is read in file name order. When the data has labels (--labels,\n" +
			"a CSV label column, class folders), the accuracy is printed on standard error.\n\n" +
			"The model's input preprocessing is chosen as eval chooses it: a checkpoint's, or the one an\n" +
			"exported student records, with each of --scale/--mean/--std/--input-shape/--layout given\n" +
			"replacing that field; for a model that records none, the defaults for the data.\n\n" +
			"The predictions go to standard output, or to --out, written whole or not at all; an\n" +
			"existing --out is refused without --overwrite, as is one that names an input.\n\n" +
			"Example:\n" +
			"  distill predict --model out/student.onnx --data photos/ --out preds.csv --top-k 3\n" +
			"  distill predict --model out/student.ckpt --data data/mnist/t10k-images-idx3-ubyte.gz \\\n" +
			"      --labels data/mnist/t10k-labels-idx1-ubyte.gz --format jsonl > preds.jsonl",
		Flags: flags,
		Action: func(cCtx *cli.Context) error {
			if cCtx.Args().Present() {
				return usageErrorf(cCtx, "predict: unexpected argument %q (the model goes in --model, the data in --data)", cCtx.Args().First())
			}
			opts, err := predictOptionsFromFlags(cCtx)
			if err != nil {
				return err
			}
			if err := opts.Validate(); err != nil {
				return optionError(cCtx, err, true)
			}
			release, err := claimFiles(cCtx, outputs.Plan{
				Inputs:    []outputs.File{inFile("model", opts.Model), inFile("data", opts.Data), inFile("labels", opts.Labels)},
				Outputs:   []outputs.Output{outFile("out", opts.Out, false)},
				Overwrite: opts.Overwrite,
			})
			defer release()
			if err != nil {
				return err
			}
			return runPredict(cCtx.Context, opts, cCtx.App.Writer, cCtx.App.ErrWriter)
		},
	}
}

// predictOptionsFromFlags reads and checks the flags of `distill predict`.
func predictOptionsFromFlags(cCtx *cli.Context) (PredictCLIOptions, error) {
	o := PredictCLIOptions{
		PredictOptions: eval.PredictOptions{Model: cCtx.String("model"), Data: cCtx.String("data"), Labels: cCtx.String("labels"),
			Batch: cCtx.Int("batch"), TopK: cCtx.Int("top-k"), Logits: cCtx.Bool("logits"),
			OutputName: cCtx.String("model-output"), OutputKind: cCtx.String("model-output-kind")},
		Out: cCtx.String("out"), Format: cCtx.String("format"), Overwrite: cCtx.Bool("overwrite"), BLAS: cCtx.String("blas"),
	}
	if err := requireFlags(cCtx, "model", "data"); err != nil {
		return o, err
	}
	if o.Format == "" {
		o.Format = eval.PredictCSV
		if l := strings.ToLower(o.Out); strings.HasSuffix(l, ".jsonl") || strings.HasSuffix(l, ".ndjson") {
			o.Format = eval.PredictJSONL
		}
	}
	if o.TopK < 1 {
		return o, usageErrorf(cCtx, "--top-k %d: must be at least 1", o.TopK)
	}
	if o.Batch < 1 {
		return o, usageErrorf(cCtx, "--batch %d: must be at least 1", o.Batch)
	}
	var err error
	if o.PredictOptions.Format, err = formatFromFlags(cCtx, o.Data); err != nil {
		return o, err
	}
	if o.Runtime, err = runtimeFromFlags(cCtx); err != nil {
		return o, err
	}
	if o.PreprocessOverride, err = overrideFromFlags(cCtx, ""); err != nil {
		return o, err
	}
	return o, nil
}

// runPredict runs the model and writes the predictions to o.Out, or to stdout when it is empty;
// the accuracy, when the data has labels, and where the predictions went go to stderr, so that
// stdout holds nothing but the predictions.
func runPredict(ctx context.Context, o PredictCLIOptions, stdout, stderr io.Writer) error {
	if err := useBLASFor(o.Model, o.BLAS); err != nil {
		return err
	}
	p, err := eval.Predict(ctx, o.PredictOptions, &o.Runtime)
	if err != nil {
		return err
	}
	if o.Out == "" {
		if err := p.Write(stdout, o.Format); err != nil {
			return fmt.Errorf("predict: %w", err)
		}
	} else {
		f, err := atomicfile.Create(o.Out)
		if err != nil {
			return fmt.Errorf("predict: create %s: %w", o.Out, err)
		}
		defer f.Abort()
		if err := p.Write(f, o.Format); err != nil {
			return fmt.Errorf("predict: %s: %w", o.Out, err)
		}
		if err := f.Commit(); err != nil {
			return fmt.Errorf("predict: write %s: %w", o.Out, err)
		}
		fmt.Fprintf(stderr, "predictions of %d samples written to %s (%s)\n", len(p.Samples), o.Out, o.Format)
	}
	if m := p.Metrics; m != nil {
		fmt.Fprintf(stderr, "accuracy %.2f%% (%d errors in %d samples; labels from %s)\n", 100*m.Accuracy, m.Errors, m.N, p.LabelsFrom)
	}
	return nil
}
