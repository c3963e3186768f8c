package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/distillgo/distill/internal/atomicfile"
	"github.com/distillgo/distill/internal/option"
	"github.com/distillgo/distill/pipeline/train"
)

// Options configures Sweep: one student per (temperature, alpha) pair of the grid, each trained
// from the same offline soft-target file with otherwise equal settings.
type Options struct {
	// Train holds the settings shared by every run (Spec, Data, Labels, SoftTargets,
	// EvalData/EvalLabels, Epochs, Batch, LR, Schedule, Seed, Preprocess, ...). Its Temperature,
	// Alpha, Checkpoint, Metrics, Plot, Resume and Overwrite are set per run. SoftTargets and
	// EvalData are required.
	Train train.Options
	// Temperatures and Alphas span the grid (each non-empty).
	Temperatures, Alphas []float64
	// Dir receives each run's checkpoint, metrics and curves (named by RunName) and sweep.json
	// with the results. A run whose checkpoint is there is resumed (or, if complete, only read
	// back), so an interrupted sweep continues where it stopped.
	Dir string
}

// Result is one cell of the grid.
type Result struct {
	Temperature float64 `json:"temperature"`
	Alpha       float64 `json:"alpha"`
	Accuracy    float64 `json:"accuracy"` // eval accuracy after the last epoch
	Errors      int     `json:"errors"`   // eval errors after the last epoch
	Epochs      int     `json:"epochs"`
	Seconds     float64 `json:"seconds"` // training wall time summed over the epochs
	Checkpoint  string  `json:"checkpoint"`
}

// RunName returns the file-name stem of the run at temperature t and alpha a, e.g. "T20-a0.7".
func RunName(t, a float64) string {
	return "T" + strconv.FormatFloat(t, 'g', -1, 64) + "-a" + strconv.FormatFloat(a, 'g', -1, 64)
}

// Sweep trains one student per (temperature, alpha) pair, temperatures outermost, and returns the
// results in that order. Progress lines go to log. On ctx cancellation it returns the results so
// far with an error wrapping ctx.Err().
func Sweep(ctx context.Context, o Options, log io.Writer) ([]Result, error) {
	if log == nil {
		log = io.Discard
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	var results []Result
	for _, t := range o.Temperatures {
		for _, a := range o.Alphas {
			name := RunName(t, a)
			fmt.Fprintf(log, "sweep: %s (T=%g, alpha=%g)\n", name, t, a)
			r, err := o.runOne(ctx, t, a, name, log)
			if err != nil {
				return results, err
			}
			results = append(results, *r)
			if err := writeSweepJSON(filepath.Join(o.Dir, "sweep.json"), results); err != nil {
				return results, err
			}
		}
	}
	return results, nil
}

// OptionError reports an option of Options that is wrong; the command line maps Option (a field
// name) to its flag.
type OptionError = option.Error

// Validate checks the grid and the shared training options (as train.Options.Validate does, for a
// run in Dir). Errors are *OptionError; those of the shared options name them "Train.<field>".
func (o *Options) Validate() error {
	switch {
	case o.Train.SoftTargets == "":
		return option.Errorf("sweep", "Train.SoftTargets", "no soft-target file")
	case o.Train.EvalData == "" || o.Train.EvalLabels == "":
		return option.Errorf("sweep", "Train.EvalData", "no eval data and labels to measure the students on")
	case len(o.Temperatures) == 0 || len(o.Alphas) == 0:
		return option.Errorf("sweep", "Temperatures", "empty grid: give at least one temperature and one alpha")
	case o.Dir == "":
		return option.Errorf("sweep", "Dir", "no output folder")
	}
	seen := map[string]bool{}
	for _, t := range o.Temperatures {
		for _, a := range o.Alphas {
			run := o.runOptions(t, a, RunName(t, a))
			if err := run.Validate(false); err != nil {
				// The shared options are sweep's Train.
				var oe *option.Error
				if errors.As(err, &oe) {
					return &option.Error{Scope: "sweep", Option: "Train." + oe.Option, Err: oe.Err}
				}
				return err
			}
			n := RunName(t, a)
			if seen[n] {
				return option.Errorf("sweep", "Temperatures", "the grid names %s twice", n)
			}
			seen[n] = true
		}
	}
	return nil
}

// runOptions returns the training options of the run at (t, a), named name.
func (o *Options) runOptions(t, a float64, name string) train.Options {
	opts := o.Train
	opts.Temperature, opts.Alpha = t, a
	opts.Checkpoint = filepath.Join(o.Dir, name+".ckpt")
	opts.Metrics = filepath.Join(o.Dir, name+".jsonl")
	opts.Plot = filepath.Join(o.Dir, name+".png")
	_, err := os.Stat(opts.Checkpoint)
	opts.Resume, opts.Overwrite = err == nil, false
	return opts
}

// runOne trains (or resumes, or reads back) the run at (t, a).
func (o *Options) runOne(ctx context.Context, t, a float64, name string, log io.Writer) (*Result, error) {
	opts := o.runOptions(t, a, name)
	res, err := train.Train(ctx, opts, nil, log)
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", name, err)
	}
	n := len(res.Epochs)
	if n == 0 || res.Epochs[n-1].EvalAccuracy == nil || res.Epochs[n-1].EvalErrors == nil {
		return nil, fmt.Errorf("sweep %s: no eval metrics in %s (was it trained without eval data?)", name, opts.Metrics)
	}
	last := res.Epochs[n-1]
	r := &Result{Temperature: t, Alpha: a, Accuracy: *last.EvalAccuracy, Errors: *last.EvalErrors,
		Epochs: last.Epoch, Checkpoint: opts.Checkpoint}
	for _, e := range res.Epochs {
		r.Seconds += e.Seconds
	}
	return r, nil
}

func writeSweepJSON(path string, results []Result) error {
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return fmt.Errorf("write sweep %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n')); err != nil {
		return fmt.Errorf("write sweep %s: %w", path, err)
	}
	return nil
}

// FormatTable returns results as a Markdown table: one row per temperature, one column per
// alpha, each cell the eval accuracy and (in brackets) the error count; the best cell is bold.
// Cells missing from results are left blank.
func FormatTable(results []Result, temperatures, alphas []float64) string {
	cell := map[string]Result{}
	best := -1.0
	for _, r := range results {
		cell[RunName(r.Temperature, r.Alpha)] = r
		best = max(best, r.Accuracy)
	}
	var b strings.Builder
	b.WriteString("| T \\ alpha |")
	for _, a := range alphas {
		fmt.Fprintf(&b, " %g |", a)
	}
	b.WriteString("\n|---:|")
	for range alphas {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, t := range temperatures {
		fmt.Fprintf(&b, "| %g |", t)
		for _, a := range alphas {
			r, ok := cell[RunName(t, a)]
			switch {
			case !ok:
				b.WriteString(" |")
			case r.Accuracy == best:
				fmt.Fprintf(&b, " **%.2f%% (%d)** |", 100*r.Accuracy, r.Errors)
			default:
				fmt.Fprintf(&b, " %.2f%% (%d) |", 100*r.Accuracy, r.Errors)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
