package command

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/distillgo/distill/internal/outputs"
	"github.com/distillgo/distill/pipeline/sweep"
	"github.com/distillgo/distill/student"
)

const sweepDescription = `Trains one student per (temperature, alpha) pair from one offline soft-target file, and per
loss with --losses (e.g. kl,dkd,kl+std: "+std" standardises the logits), and prints a table of their eval accuracy (error counts in brackets, the best in bold). The file
holds logits, so every temperature comes from the same teacher run: the grid costs only the
students' training, never the teacher's again.

Every run has the same settings (epochs, batch, learning rate or --schedule, seed, ...) apart
from T and alpha (and the loss); those flags are train's. Each run's checkpoint, metrics and curves go to --out-dir as
T<t>-a<a>.ckpt/.jsonl/.png (<loss>-T<t>-a<a>.* with --losses),
and sweep.json collects the results. Started again on the same folder, a sweep resumes each
unfinished run and reads finished ones back ("nothing to do"), when its checkpoint records this
sweep's settings; a longer --epochs, or a --schedule that only adds later steps, resumes. A run
whose checkpoint records another setting (--lr, --seed, --batch, --schedule, ...), is past
--epochs, or was evaluated on other --eval-data is trained afresh, with a line saying why
(its checkpoint, metrics and curves are replaced).
While a sweep runs its folder is locked (.distill.lock inside it): a second sweep on it is
refused, naming the first one's pid.

Example:
  distill sweep --model models/mnist-student.json \
      --data data/mnist/train-images-idx3-ubyte.gz --labels data/mnist/train-labels-idx1-ubyte.gz \
      --soft-targets out/demo/teacher-train.safetensors --scale 255 --mean 0.5 --std 0.5 \
      --eval-data data/mnist/t10k-images-idx3-ubyte.gz --eval-labels data/mnist/t10k-labels-idx1-ubyte.gz \
      --temperatures 1,2,5,10,20 --alphas 0.5,0.7,0.9 --schedule 7:1e-3,10:1e-4 --out-dir out/sweep`

// sweepTrainFlags names the flags of `distill train` that `distill sweep` takes too: every run
// of the grid shares them.
var sweepTrainFlags = []string{"model", "data", "labels", "soft-targets", "eval-data", "eval-labels", "loss",
	"dkd-alpha", "dkd-beta", "dkd-warmup", "standardize-logits", "ensemble", "epochs", "batch", "lr", "schedule", "optimizer", "momentum", "seed", "blas",
	"label-column", "feature-columns", "csv-header", "image-size", "color", "class-names", "standardize", "scale", "mean", "std", "input-shape", "layout"}

// pickFlags returns the flags of all named by names, in the order of names.
func pickFlags(all []cli.Flag, names []string) []cli.Flag {
	byName := map[string]cli.Flag{}
	for _, f := range all {
		byName[f.Names()[0]] = f
	}
	out := make([]cli.Flag, 0, len(names))
	for _, n := range names {
		f, ok := byName[n]
		if !ok {
			panic("sweep: train has no flag --" + n)
		}
		out = append(out, f)
	}
	return out
}

func sweepCommand() *cli.Command {
	train := pickFlags(trainFlags(), sweepTrainFlags)
	// What train takes as options a sweep needs: the soft targets it trains every run on and the
	// eval set it compares the runs on (sweepOptionsFromFlags requires them).
	for _, f := range train {
		if sf, ok := f.(*cli.StringFlag); ok && slices.Contains([]string{"soft-targets", "eval-data", "eval-labels"}, sf.Name) {
			sf.Usage += " (required)"
		}
	}
	flags := append(train,
		&cli.StringFlag{Name: "temperatures", Value: "1,2,5,10,20", Usage: "comma-separated temperatures `<T,...>`"},
		&cli.StringFlag{Name: "alphas", Value: "0.5,0.7,0.9", Usage: "comma-separated soft-loss weights `<a,...>`"},
		&cli.StringFlag{Name: "losses", Usage: "comma-separated losses `<loss,...>`, each kl, mse or dkd, +std for standardised logits (e.g. kl,dkd,kl+std): one more grid axis (default: --loss alone)"},
		&cli.StringFlag{Name: "out-dir", Usage: "`<folder>` for each run's checkpoint, metrics and curves, and sweep.json (required)", TakesFile: true},
	)
	return &cli.Command{
		Name:        "sweep",
		Usage:       "Train students over a grid of temperatures, alphas and losses from one soft-target file",
		UsageText:   "distill sweep --model <spec.json> --data <file> [--labels <file>] --soft-targets <file> --eval-data <file> --eval-labels <file> --out-dir <folder> [--temperatures T,...] [--alphas a,...] [--losses loss,...] [options]",
		Description: sweepDescription,
		Flags:       flags,
		Action: func(cCtx *cli.Context) error {
			o, blas, err := sweepOptionsFromFlags(cCtx)
			if err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return optionError(cCtx, err, true)
			}
			release, err := claimFiles(cCtx, sweepFiles(o))
			defer release()
			if err != nil {
				return err
			}
			if _, err := student.UseBLAS(blas); err != nil {
				return err
			}
			res, err := sweep.Sweep(cCtx.Context, o, cCtx.App.ErrWriter)
			if len(res) > 0 {
				fmt.Fprintf(cCtx.App.Writer, "eval accuracy (errors) after %d epoch%s, %s:\n\n", o.Train.Epochs, plural(o.Train.Epochs), o.Train.EvalData)
				fmt.Fprint(cCtx.App.Writer, sweep.FormatTable(res, o.Temperatures, o.Alphas))
			}
			return err
		},
	}
}

// sweepOptionsFromFlags reads the flags of `distill sweep`, the shared ones as train reads them;
// it also returns --blas.
func sweepOptionsFromFlags(cCtx *cli.Context) (sweep.Options, string, error) {
	var o sweep.Options
	if err := requireFlags(cCtx, "model", "data", "soft-targets", "eval-data", "eval-labels", "out-dir"); err != nil {
		return o, "", err
	}
	t, err := trainOptionsFromFlags(cCtx)
	if err != nil {
		return o, "", err
	}
	o.Train, o.Dir = t.Options, cCtx.String("out-dir")
	if o.Temperatures, err = parseGrid(cCtx.String("temperatures")); err != nil {
		return o, "", usageErrorf(cCtx, "--temperatures: %v", err)
	}
	if o.Alphas, err = parseGrid(cCtx.String("alphas")); err != nil {
		return o, "", usageErrorf(cCtx, "--alphas: %v", err)
	}
	if cCtx.IsSet("losses") {
		if cCtx.IsSet("loss") || cCtx.IsSet("standardize-logits") {
			return o, "", usageErrorf(cCtx, "--losses with --loss or --standardize-logits: the grid's losses say both")
		}
		for _, f := range strings.Split(cCtx.String("losses"), ",") {
			l, err := sweep.ParseLoss(f)
			if err != nil {
				return o, "", usageErrorf(cCtx, "--losses: %v", err)
			}
			o.Losses = append(o.Losses, l)
		}
	}
	return o, t.BLAS, nil
}

// sweepFiles returns what a sweep reads and writes, for claimFiles: --out-dir is locked as a
// whole and continued (a sweep resumes its runs), and the files the grid writes in it must not be
// among the inputs.
func sweepFiles(o sweep.Options) outputs.Plan {
	t := o.Train
	p := outputs.Plan{Outputs: []outputs.Output{{File: inFile("out-dir", o.Dir), Folder: true}}}
	for _, f := range []struct{ flag, path string }{
		{"model", t.Spec}, {"data", t.Data}, {"labels", t.Labels}, {"soft-targets", t.SoftTargets},
		{"eval-data", t.EvalData}, {"eval-labels", t.EvalLabels},
	} {
		p.Inputs = append(p.Inputs, inFile(f.flag, f.path))
	}
	for _, f := range o.Files() {
		p.Outputs = append(p.Outputs, outputs.Output{File: inFile("out-dir", f), Covered: true})
	}
	return p
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
