package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SweepOptions configures Sweep: one student per (temperature, alpha) pair of the grid, each
// trained from the same offline soft-target file with otherwise equal settings.
type SweepOptions struct {
	// Train holds the settings shared by every run (ModelSpec, Data, Labels, SoftTargets,
	// EvalData/EvalLabels, Epochs, Batch, LR, Seed, Preprocess, ...). Its Temperature, Alpha, Out,
	// Metrics, Plot, Resume and Overwrite are set per run. SoftTargets and EvalData are required.
	Train TrainOptions
	// Temperatures and Alphas span the grid (each non-empty).
	Temperatures, Alphas []float64
	// FineEpochs, when positive, runs the last FineEpochs of Train.Epochs at FineLR (a step
	// learning-rate schedule, done as a resumed second stage).
	FineEpochs int
	// FineLR is the learning rate of the last FineEpochs epochs.
	FineLR float64
	// Dir receives each run's checkpoint, metrics and curves (named by SweepRunName) and
	// sweep.json with the results. A run whose checkpoint is there is resumed (or, if complete,
	// only read back), so an interrupted sweep continues where it stopped.
	Dir string
}

// SweepResult is one cell of the grid.
type SweepResult struct {
	Temperature float64 `json:"temperature"`
	Alpha       float64 `json:"alpha"`
	Accuracy    float64 `json:"accuracy"` // eval accuracy after the last epoch
	Errors      int     `json:"errors"`   // eval errors after the last epoch
	Epochs      int     `json:"epochs"`
	Seconds     float64 `json:"seconds"` // training wall time summed over the epochs
	Checkpoint  string  `json:"checkpoint"`
}

// SweepRunName returns the file-name stem of the run at temperature t and alpha a, e.g. "T20-a0.7".
func SweepRunName(t, a float64) string {
	return "T" + strconv.FormatFloat(t, 'g', -1, 64) + "-a" + strconv.FormatFloat(a, 'g', -1, 64)
}

// Sweep trains one student per (temperature, alpha) pair, temperatures outermost, and returns the
// results in that order. Progress lines go to log. On ctx cancellation it returns the results so
// far with an error wrapping ctx.Err().
func Sweep(ctx context.Context, o SweepOptions, log io.Writer) ([]SweepResult, error) {
	if log == nil {
		log = io.Discard
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	var results []SweepResult
	for _, t := range o.Temperatures {
		for _, a := range o.Alphas {
			name := SweepRunName(t, a)
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

func (o *SweepOptions) check() error {
	switch {
	case o.Train.SoftTargets == "":
		return errors.New("sweep: no soft-target file")
	case o.Train.EvalData == "" || o.Train.EvalLabels == "":
		return errors.New("sweep: no eval data and labels to measure the students on")
	case len(o.Temperatures) == 0 || len(o.Alphas) == 0:
		return errors.New("sweep: empty grid: give at least one temperature and one alpha")
	case o.Dir == "":
		return errors.New("sweep: no output folder")
	case o.FineEpochs < 0 || o.FineEpochs >= o.Train.Epochs:
		return fmt.Errorf("sweep: fine-tuning epochs %d must be in [0, %d)", o.FineEpochs, o.Train.Epochs)
	case o.FineEpochs > 0 && !(o.FineLR > 0 && !math.IsInf(o.FineLR, 0)):
		return fmt.Errorf("sweep: fine-tuning learning rate %v must be positive", o.FineLR)
	}
	for _, t := range o.Temperatures {
		if !(t > 0) || math.IsInf(t, 0) {
			return fmt.Errorf("sweep: temperature %v must be positive", t)
		}
	}
	for _, a := range o.Alphas {
		if !(a >= 0 && a <= 1) {
			return fmt.Errorf("sweep: alpha %v must be in [0, 1]", a)
		}
	}
	seen := map[string]bool{}
	for _, t := range o.Temperatures {
		for _, a := range o.Alphas {
			n := SweepRunName(t, a)
			if seen[n] {
				return fmt.Errorf("sweep: the grid names %s twice", n)
			}
			seen[n] = true
		}
	}
	return nil
}

// runOne trains (or resumes, or reads back) the run at (t, a).
func (o *SweepOptions) runOne(ctx context.Context, t, a float64, name string, log io.Writer) (*SweepResult, error) {
	opts := o.Train
	opts.Temperature, opts.Alpha = t, a
	opts.Out = filepath.Join(o.Dir, name+".ckpt")
	opts.Metrics = filepath.Join(o.Dir, name+".jsonl")
	opts.Plot = filepath.Join(o.Dir, name+".png")
	_, err := os.Stat(opts.Out)
	exists := err == nil
	stages := []struct {
		epochs int
		lr     float64
	}{{o.Train.Epochs, o.Train.LR}}
	if o.FineEpochs > 0 {
		stages = []struct {
			epochs int
			lr     float64
		}{{o.Train.Epochs - o.FineEpochs, o.Train.LR}, {o.Train.Epochs, o.FineLR}}
	}
	var res *TrainResult
	for _, st := range stages {
		opts.Epochs, opts.LR = st.epochs, st.lr
		opts.Resume, opts.Overwrite = exists, false
		if exists && completedEpochs(opts.Metrics) >= st.epochs && st.epochs < o.Train.Epochs {
			continue // this stage is done; the next one resumes
		}
		res, err = Train(ctx, opts, log)
		if err != nil {
			return nil, fmt.Errorf("sweep %s: %w", name, err)
		}
		exists = true
	}
	n := len(res.Epochs)
	if n == 0 || res.Epochs[n-1].EvalAccuracy == nil || res.Epochs[n-1].EvalErrors == nil {
		return nil, fmt.Errorf("sweep %s: no eval metrics in %s (was it trained without eval data?)", name, opts.Metrics)
	}
	last := res.Epochs[n-1]
	r := &SweepResult{Temperature: t, Alpha: a, Accuracy: *last.EvalAccuracy, Errors: *last.EvalErrors,
		Epochs: last.Epoch, Checkpoint: opts.Out}
	for _, e := range res.Epochs {
		r.Seconds += e.Seconds
	}
	return r, nil
}

// completedEpochs returns the last epoch recorded in a metrics file (0 if unreadable).
func completedEpochs(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	recs, err := ReadMetrics(f)
	if err != nil || len(recs) == 0 {
		return 0
	}
	return recs[len(recs)-1].Epoch
}

func writeSweepJSON(path string, results []SweepResult) error {
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return fmt.Errorf("write sweep %s: %w", path, err)
	}
	if err := writeFileAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("write sweep %s: %w", path, err)
	}
	return nil
}

// FormatSweepTable returns results as a Markdown table: one row per temperature, one column per
// alpha, each cell the eval accuracy and (in brackets) the error count; the best cell is bold.
// Cells missing from results are left blank.
func FormatSweepTable(results []SweepResult, temperatures, alphas []float64) string {
	cell := map[string]SweepResult{}
	best := -1.0
	for _, r := range results {
		cell[SweepRunName(r.Temperature, r.Alpha)] = r
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
			r, ok := cell[SweepRunName(t, a)]
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
