package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/distillgo/distill/internal/atomicfile"
	"github.com/distillgo/distill/internal/option"
	"github.com/distillgo/distill/internal/outputs"
	"github.com/distillgo/distill/pipeline/provenance"
	"github.com/distillgo/distill/pipeline/train"
	"github.com/distillgo/distill/student"
)

// Options configures Sweep: one student per (loss, temperature, alpha) of the grid, each trained
// from the same offline soft-target file with otherwise equal settings.
type Options struct {
	// Train holds the settings shared by every run (Spec, Data, Labels, SoftTargets,
	// EvalData/EvalLabels, Epochs, Batch, LR, Schedule, Seed, Preprocess, DKD weights, ...). Its
	// Temperature, Alpha, Checkpoint, Metrics, Plot, Resume and Overwrite are set per run, and
	// its Loss and StandardizeLogits too when Losses is given. SoftTargets and EvalData are
	// required.
	Train train.Options
	// Losses, when not empty, is one more axis of the grid, outermost: each a loss as ParseLoss
	// reads it ("kl", "dkd", "kl+std", ...), and each run's name starts with it. Empty: Train's
	// own loss for every run, and names without it.
	Losses []Loss `flag:"losses"`
	// Temperatures and Alphas span the grid (each non-empty).
	Temperatures []float64 `flag:"temperatures"`
	Alphas       []float64 `flag:"alphas"`
	// Dir receives each run's checkpoint, metrics and curves (named by RunName) and sweep.json
	// with the results. A run whose checkpoint is there is resumed (or, if complete, only read
	// back), so an interrupted sweep continues where it stopped; one whose checkpoint records
	// other settings (see train's SettingError), is past Epochs or was evaluated on other eval
	// data is trained afresh, with a line saying why.
	Dir string `flag:"out-dir"`
}

// Loss is one value of the loss axis: train's Loss and StandardizeLogits.
type Loss struct {
	Kind        string // kl, mse or dkd
	Standardize bool   // logit standardisation (Sun et al. 2024)
}

// String returns the loss as ParseLoss reads it: the kind, with "+std" when standardised.
func (l Loss) String() string {
	if l.Standardize {
		return l.Kind + "+std"
	}
	return l.Kind
}

// ParseLoss reads a loss of the grid: a train loss kind (kl, mse, dkd), optionally followed by
// "+std" for logit standardisation. Whether the pair is valid is train's Validate's to say.
func ParseLoss(s string) (Loss, error) {
	kind, std := strings.CutSuffix(strings.TrimSpace(s), "+std")
	if kind == "" || strings.ContainsAny(kind, "+-/ ") {
		return Loss{}, fmt.Errorf("loss %q: want a kind (kl, mse, dkd), optionally with +std", s)
	}
	return Loss{Kind: kind, Standardize: std}, nil
}

// Result is one cell of the grid.
type Result struct {
	Loss        string  `json:"loss,omitempty"` // the loss axis' value, when the grid has one
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

// LossRunName returns the file-name stem of a run of a grid with a loss axis, e.g.
// "dkd-T4-a0.5", or RunName's without one (loss "").
func LossRunName(loss string, t, a float64) string {
	if loss == "" {
		return RunName(t, a)
	}
	return loss + "-" + RunName(t, a)
}

// cells returns the grid's runs in order: losses outermost, then temperatures, then alphas.
func (o *Options) cells() []cell {
	losses := []string{""}
	if len(o.Losses) > 0 {
		losses = losses[:0]
		for _, l := range o.Losses {
			losses = append(losses, l.String())
		}
	}
	var out []cell
	for li, l := range losses {
		for _, t := range o.Temperatures {
			for _, a := range o.Alphas {
				c := cell{loss: l, t: t, a: a, name: LossRunName(l, t, a)}
				if l != "" {
					c.kind = o.Losses[li]
				}
				out = append(out, c)
			}
		}
	}
	return out
}

// cell is one run of the grid.
type cell struct {
	loss string // "" without a loss axis
	kind Loss
	t, a float64
	name string
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
	for _, c := range o.cells() {
		if c.loss != "" {
			fmt.Fprintf(log, "sweep: %s (loss %s, T=%g, alpha=%g)\n", c.name, c.loss, c.t, c.a)
		} else {
			fmt.Fprintf(log, "sweep: %s (T=%g, alpha=%g)\n", c.name, c.t, c.a)
		}
		r, err := o.runOne(ctx, c, log)
		if err != nil {
			return results, err
		}
		results = append(results, *r)
		if err := writeSweepJSON(filepath.Join(o.Dir, "sweep.json"), results); err != nil {
			return results, err
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
	for _, c := range o.cells() {
		run := o.runOptions(c)
		if err := run.Validate(false); err != nil {
			var oe *option.Error
			if errors.As(err, &oe) {
				if c.loss != "" && (oe.Option == "Loss" || oe.Option == "StandardizeLogits") {
					return &option.Error{Scope: "sweep", Option: "Losses", Err: fmt.Errorf("%s: %w", c.loss, oe.Err)}
				}
				// The shared options are sweep's Train.
				return &option.Error{Scope: "sweep", Option: "Train." + oe.Option, Err: oe.Err}
			}
			return err
		}
		if seen[c.name] {
			axis := "Temperatures"
			if c.loss != "" {
				axis = "Losses"
			}
			return option.Errorf("sweep", axis, "the grid names %s twice", c.name)
		}
		seen[c.name] = true
	}
	return nil
}

// Files returns the paths of every file the sweep writes in Dir: sweep.json and each run's
// checkpoint, metrics and curves.
func (o *Options) Files() []string {
	files := []string{filepath.Join(o.Dir, "sweep.json")}
	for _, c := range o.cells() {
		r := o.runOptions(c)
		files = append(files, r.Checkpoint, r.Metrics, r.Plot)
	}
	return files
}

// runOptions returns the training options of the run c.
func (o *Options) runOptions(c cell) train.Options {
	opts := o.Train
	opts.Temperature, opts.Alpha = c.t, c.a
	if c.loss != "" {
		opts.Loss, opts.StandardizeLogits = c.kind.Kind, c.kind.Standardize
	}
	name := c.name
	opts.Checkpoint = filepath.Join(o.Dir, name+".ckpt")
	opts.Metrics = filepath.Join(o.Dir, name+".jsonl")
	opts.Plot = filepath.Join(o.Dir, name+".png")
	_, err := os.Stat(opts.Checkpoint)
	opts.Resume, opts.Overwrite = err == nil, false
	return opts
}

// runOne trains (or resumes, or reads back) the run c. A run whose checkpoint was trained with
// other settings than this sweep's (another learning rate, seed, batch, ...; one past its epochs;
// one evaluated on another eval set) is trained afresh, with a line saying why: its results
// would not be this sweep's.
func (o *Options) runOne(ctx context.Context, c cell, log io.Writer) (*Result, error) {
	opts := o.runOptions(c)
	name := c.name
	res, err := train.Train(ctx, opts, nil, log)
	var why string
	if opts.Resume {
		why, err = redoWhy(opts, res, err)
	}
	if why != "" {
		fmt.Fprintf(log, "sweep: %s: %s: training it afresh (its checkpoint, metrics and curves are replaced at its first epoch's end)\n", name, why)
		opts.Resume, opts.Overwrite = false, true
		res, err = train.Train(ctx, opts, nil, log)
	}
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", name, err)
	}
	n := len(res.Epochs)
	if n == 0 || res.Epochs[n-1].EvalAccuracy == nil || res.Epochs[n-1].EvalErrors == nil {
		return nil, fmt.Errorf("sweep %s: no eval metrics in %s (was it trained without eval data?)", name, opts.Metrics)
	}
	last := res.Epochs[n-1]
	r := &Result{Loss: c.loss, Temperature: c.t, Alpha: c.a, Accuracy: *last.EvalAccuracy, Errors: *last.EvalErrors,
		Epochs: last.Epoch, Checkpoint: opts.Checkpoint}
	for _, e := range res.Epochs {
		r.Seconds += e.Seconds
	}
	return r, nil
}

// redoWhy says why a resumed run must be trained afresh instead ("" when it need not), given
// what resuming it returned; the error is the resume's, or nil when the reason replaces it.
func redoWhy(opts train.Options, res *train.Result, err error) (string, error) {
	var se *train.SettingError
	if errors.As(err, &se) {
		why := fmt.Sprintf("its checkpoint was trained with %s %s, this sweep gives %s", se.Setting, se.Was, se.Now)
		if se.Why != "" {
			why += " (" + se.Why + ")"
		}
		return why, nil
	}
	if err != nil || res.StartEpoch < opts.Epochs {
		return "", err
	}
	if res.StartEpoch > opts.Epochs {
		return fmt.Sprintf("its checkpoint is at epoch %d, past the %d of this sweep", res.StartEpoch, opts.Epochs), nil
	}
	// A finished run's results are its last epoch's evaluation, made on the eval data it records.
	ck, err := student.LoadCheckpoint(opts.Checkpoint)
	if err != nil {
		return "", err
	}
	_, rec, err := provenance.Read(ck.Meta)
	if err != nil {
		return "", fmt.Errorf("checkpoint %s: %w", opts.Checkpoint, err)
	}
	if rec != nil && !outputs.SamePath(rec.EvalData, opts.EvalData) {
		return fmt.Sprintf("its checkpoint was evaluated on %s, this sweep evaluates on %s", rec.EvalData, opts.EvalData), nil
	}
	return "", nil
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

// FormatTable returns results as a Markdown table: one row per temperature (per loss and
// temperature when the results have a loss axis, losses in the order they first appear), one
// column per alpha, each cell the eval accuracy and (in brackets) the error count; the best cell
// is bold. Cells missing from results are left blank.
func FormatTable(results []Result, temperatures, alphas []float64) string {
	cell := map[string]Result{}
	best := -1.0
	var losses []string
	for _, r := range results {
		cell[LossRunName(r.Loss, r.Temperature, r.Alpha)] = r
		best = max(best, r.Accuracy)
		if r.Loss != "" && !slices.Contains(losses, r.Loss) {
			losses = append(losses, r.Loss)
		}
	}
	if len(losses) == 0 {
		losses = []string{""}
	}
	var b strings.Builder
	if losses[0] != "" {
		b.WriteString("| loss ")
	}
	b.WriteString("| T \\ alpha |")
	for _, a := range alphas {
		fmt.Fprintf(&b, " %g |", a)
	}
	b.WriteString("\n|")
	if losses[0] != "" {
		b.WriteString("---|")
	}
	b.WriteString("---:|")
	for range alphas {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, l := range losses {
		for _, t := range temperatures {
			formatRow(&b, cell, best, l, t, alphas)
		}
	}
	return b.String()
}

// formatRow writes the table row of loss l (or none) at temperature t.
func formatRow(b *strings.Builder, cell map[string]Result, best float64, l string, t float64, alphas []float64) {
	if l != "" {
		fmt.Fprintf(b, "| %s ", l)
	}
	fmt.Fprintf(b, "| %g |", t)
	for _, a := range alphas {
		r, ok := cell[LossRunName(l, t, a)]
		switch {
		case !ok:
			b.WriteString(" |")
		case r.Accuracy == best:
			fmt.Fprintf(b, " **%.2f%% (%d)** |", 100*r.Accuracy, r.Errors)
		default:
			fmt.Fprintf(b, " %.2f%% (%d) |", 100*r.Accuracy, r.Errors)
		}
	}
	b.WriteString("\n")
}
