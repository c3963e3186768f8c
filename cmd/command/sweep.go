package command

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/distillgo/distill/pipeline"
	"github.com/distillgo/distill/student"
)

const sweepDescription = `Trains one student per (temperature, alpha) pair from one offline soft-target file and
prints a table of their eval accuracy (error counts in brackets, the best in bold). The file
holds logits, so every temperature comes from the same teacher run: the grid costs only the
students' training, never the teacher's again.

Every run has the same settings (epochs, batch, learning rate, seed, ...) apart from T and alpha.
--fine-epochs F runs the last F epochs at --fine-lr (a step schedule, done as a resumed second
stage). Each run's checkpoint, metrics and curves go to --out-dir as T<t>-a<a>.ckpt/.jsonl/.png,
and sweep.json collects the results. Started again on the same folder, a sweep resumes each
unfinished run and reads finished ones back.

Example:
  distill sweep --model models/mnist-student.json \
      --data data/mnist/train-images-idx3-ubyte.gz --labels data/mnist/train-labels-idx1-ubyte.gz \
      --soft-targets out/demo/teacher-train.safetensors --scale 255 --mean 0.5 --std 0.5 \
      --eval-data data/mnist/t10k-images-idx3-ubyte.gz --eval-labels data/mnist/t10k-labels-idx1-ubyte.gz \
      --temperatures 1,2,5,10,20 --alphas 0.5,0.7,0.9 --epochs 10 --out-dir out/sweep`

func sweepCommand() *cli.Command {
	def := pipeline.DefaultTrainOptions()
	flags := []cli.Flag{
		&cli.StringFlag{Name: "model", Usage: "student spec `<file.json>` (required)", TakesFile: true},
		&cli.StringFlag{Name: "data", Usage: "training data `<file>` the soft targets were made from (required)", TakesFile: true},
		&cli.StringFlag{Name: "labels", Usage: "training labels `<file>` (needed unless every alpha is 1)", TakesFile: true},
		&cli.StringFlag{Name: "soft-targets", Usage: "soft targets `<file.safetensors>` from 'distill targets' on --data (required)", TakesFile: true},
		&cli.StringFlag{Name: "eval-data", Usage: "eval data `<file>` the table reports on (required)", TakesFile: true},
		&cli.StringFlag{Name: "eval-labels", Usage: "labels `<file>` of --eval-data (required)", TakesFile: true},
		&cli.StringFlag{Name: "temperatures", Value: "1,2,5,10,20", Usage: "comma-separated temperatures `<T,...>`"},
		&cli.StringFlag{Name: "alphas", Value: "0.5,0.7,0.9", Usage: "comma-separated soft-loss weights `<a,...>`"},
		&cli.StringFlag{Name: "out-dir", Usage: "`<folder>` for each run's checkpoint, metrics and curves, and sweep.json (required)", TakesFile: true},
		&cli.StringFlag{Name: "loss", Value: def.Loss, Usage: "soft loss `<kind>`: kl or mse"},
		&cli.StringFlag{Name: "ensemble", Value: def.Ensemble, Usage: "combine an ensemble's teachers by `<what>`: probs or logits"},
		&cli.IntFlag{Name: "epochs", Value: def.Epochs, Usage: "epochs `<n>` of every run"},
		&cli.IntFlag{Name: "fine-epochs", Usage: "run the last `<n>` epochs at --fine-lr (0: one learning rate throughout)"},
		&cli.Float64Flag{Name: "fine-lr", Value: def.LR / 10, Usage: "learning rate `<lr>` of the last --fine-epochs"},
		&cli.IntFlag{Name: "batch", Value: def.Batch, Usage: "mini-batch size `<n>`"},
		&cli.Float64Flag{Name: "lr", Value: def.LR, Usage: "learning rate `<lr>`"},
		&cli.StringFlag{Name: "optimizer", Value: def.Optimizer, Usage: "`<name>`: adam or sgd"},
		&cli.Float64Flag{Name: "momentum", Value: def.Momentum, Usage: "momentum `<m>` of sgd"},
		&cli.Uint64Flag{Name: "seed", Value: def.Seed, Usage: "`<seed>` of initialisation and shuffling (the same for every run)"},
		&cli.StringFlag{Name: "blas", Value: "auto", Usage: "student BLAS `<backend>`: auto, openblas or go"},
	}
	flags = append(flags, preprocessFlags("", "")...)
	return &cli.Command{
		Name:        "sweep",
		Usage:       "Train students over a grid of temperatures and alphas from one soft-target file",
		UsageText:   "distill sweep --model <spec.json> --data <file> --labels <file> --soft-targets <file> --eval-data <file> --eval-labels <file> --out-dir <folder> [--temperatures T,...] [--alphas a,...] [options]",
		Description: sweepDescription,
		Flags:       flags,
		Action: func(cCtx *cli.Context) error {
			o, blas, err := sweepOptionsFromFlags(cCtx)
			if err != nil {
				return err
			}
			if _, err := student.UseBLAS(blas); err != nil {
				return err
			}
			res, err := pipeline.Sweep(cCtx.Context, o, cCtx.App.ErrWriter)
			if len(res) > 0 {
				fmt.Fprintf(cCtx.App.Writer, "eval accuracy (errors) after %d epochs, %s:\n\n", o.Train.Epochs, o.Train.EvalData)
				fmt.Fprint(cCtx.App.Writer, pipeline.FormatSweepTable(res, o.Temperatures, o.Alphas))
			}
			return err
		},
	}
}

// sweepOptionsFromFlags reads and checks the flags of `distill sweep`; it also returns --blas.
func sweepOptionsFromFlags(cCtx *cli.Context) (pipeline.SweepOptions, string, error) {
	o := pipeline.SweepOptions{Train: pipeline.DefaultTrainOptions()}
	t := &o.Train
	if err := requireFlags(cCtx, "model", "data", "soft-targets", "eval-data", "eval-labels", "out-dir"); err != nil {
		return o, "", err
	}
	t.ModelSpec = cCtx.String("model")
	t.Data, t.Labels, t.SoftTargets = cCtx.String("data"), cCtx.String("labels"), cCtx.String("soft-targets")
	t.EvalData, t.EvalLabels = cCtx.String("eval-data"), cCtx.String("eval-labels")
	t.Loss, t.Ensemble = cCtx.String("loss"), cCtx.String("ensemble")
	t.Epochs, t.Batch, t.LR = cCtx.Int("epochs"), cCtx.Int("batch"), cCtx.Float64("lr")
	t.Optimizer, t.Momentum, t.Seed = cCtx.String("optimizer"), cCtx.Float64("momentum"), cCtx.Uint64("seed")
	o.FineEpochs, o.FineLR = cCtx.Int("fine-epochs"), cCtx.Float64("fine-lr")
	o.Dir = cCtx.String("out-dir")
	blas := cCtx.String("blas")
	var err error
	if o.Temperatures, err = parseGrid(cCtx.String("temperatures")); err != nil {
		return o, "", usageErrorf(cCtx, "--temperatures: %v", err)
	}
	if o.Alphas, err = parseGrid(cCtx.String("alphas")); err != nil {
		return o, "", usageErrorf(cCtx, "--alphas: %v", err)
	}
	for _, c := range []struct {
		flag, val string
		ok        []string
	}{
		{"loss", t.Loss, []string{"kl", "mse"}},
		{"ensemble", t.Ensemble, []string{"probs", "logits"}},
		{"optimizer", t.Optimizer, []string{"adam", "sgd"}},
		{"blas", blas, []string{"auto", "openblas", "go"}},
	} {
		if !slices.Contains(c.ok, c.val) {
			return o, "", usageErrorf(cCtx, "--%s %q: want one of %v", c.flag, c.val, c.ok)
		}
	}
	for _, v := range o.Temperatures {
		if !(v > 0) {
			return o, "", usageErrorf(cCtx, "--temperatures: %v must be positive", v)
		}
	}
	for _, v := range o.Alphas {
		if !(v >= 0 && v <= 1) {
			return o, "", usageErrorf(cCtx, "--alphas: %v must be in [0, 1]", v)
		}
	}
	switch {
	case t.Epochs < 1:
		return o, "", usageErrorf(cCtx, "--epochs %d: must be at least 1", t.Epochs)
	case t.Batch < 1:
		return o, "", usageErrorf(cCtx, "--batch %d: must be at least 1", t.Batch)
	case !(t.LR > 0):
		return o, "", usageErrorf(cCtx, "--lr %v: must be positive", t.LR)
	case o.FineEpochs < 0 || o.FineEpochs >= t.Epochs:
		return o, "", usageErrorf(cCtx, "--fine-epochs %d: must be in [0, --epochs)", o.FineEpochs)
	case !(o.FineLR > 0):
		return o, "", usageErrorf(cCtx, "--fine-lr %v: must be positive", o.FineLR)
	}
	if t.Preprocess, _, err = preprocessFromFlags(cCtx, "", pipeline.Preprocess{}); err != nil {
		return o, "", err
	}
	return o, blas, nil
}

// parseGrid parses a comma-separated list of numbers, refusing empty items, non-finite values
// and repeats.
func parseGrid(s string) ([]float64, error) {
	var out []float64
	seen := map[float64]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			return nil, fmt.Errorf("empty item in %q", s)
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v != v || v > 1e300 || v < -1e300 {
			return nil, fmt.Errorf("%q is not a finite number", f)
		}
		if seen[v] {
			return nil, fmt.Errorf("%v is given twice", v)
		}
		seen[v] = true
		out = append(out, v)
	}
	return out, nil
}
