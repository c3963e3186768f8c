package eval

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/pipeline/dataset"
)

// BiasShift adds Delta to the output logit of class Class, which is the same as adding it to the
// bias of the model's last layer: a shift of +3.5 on class 3 makes the model predict 3 more often
// (Hinton et al. 2015, §3, on a student that never saw a 3).
type BiasShift struct {
	Class int     `json:"class"`
	Delta float64 `json:"delta"`
}

// String formats s as ParseBiasShifts reads it: "3=+3.5".
func (s BiasShift) String() string {
	return fmt.Sprintf("%d=%+g", s.Class, s.Delta)
}

// FormatBiasShifts formats shifts as a comma-separated list ("7=-7.6,8=-7.6").
func FormatBiasShifts(shifts []BiasShift) string {
	parts := make([]string, len(shifts))
	for i, s := range shifts {
		parts[i] = s.String()
	}
	return strings.Join(parts, ",")
}

// ParseBiasShifts reads a comma-separated list of CLASS=DELTA pairs ("3=+3.5" or "7=-7.6,8=-7.6").
// A class given twice is an error.
func ParseBiasShifts(s string) ([]BiasShift, error) {
	var out []BiasShift
	seen := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		cls, val, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("bias shift %q: want CLASS=DELTA, e.g. 3=+3.5", part)
		}
		k, err := strconv.Atoi(strings.TrimSpace(cls))
		if err != nil || k < 0 {
			return nil, fmt.Errorf("bias shift %q: class %q is not a class index", part, cls)
		}
		d, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil || math.IsNaN(d) || math.IsInf(d, 0) {
			return nil, fmt.Errorf("bias shift %q: delta %q is not a finite number", part, val)
		}
		if math.Abs(d) > math.MaxFloat32 {
			// Logits and biases are float32: the shift would be infinite.
			return nil, fmt.Errorf("bias shift %q: delta %q is beyond float32's range (%.4g)", part, val, math.MaxFloat32)
		}
		if seen[k] {
			return nil, fmt.Errorf("bias shift %q: class %d given twice", part, k)
		}
		seen[k] = true
		out = append(out, BiasShift{Class: k, Delta: d})
	}
	return out, nil
}

// CheckBiasShifts reports a shift of a class outside [0, c).
func CheckBiasShifts(shifts []BiasShift, c int) error {
	for _, s := range shifts {
		if s.Class < 0 || s.Class >= c {
			return fmt.Errorf("bias shift %s: class %d outside [0, %d)", s, s.Class, c)
		}
	}
	return nil
}

// ShiftVector returns the shifts as one delta per class of c (zero for the classes not shifted;
// a class given twice adds up).
func ShiftVector(shifts []BiasShift, c int) ([]float64, error) {
	if err := CheckBiasShifts(shifts, c); err != nil {
		return nil, err
	}
	v := make([]float64, c)
	for _, s := range shifts {
		v[s.Class] += s.Delta
	}
	return v, nil
}

// ApplyBiasShifts adds the shifts to logits [n, c] in place.
func ApplyBiasShifts(logits []float32, n, c int, shifts []BiasShift) error {
	v, err := ShiftVector(shifts, c)
	if err != nil {
		return err
	}
	if len(logits) != n*c {
		return fmt.Errorf("bias shift: %d logits for %d samples of %d classes", len(logits), n, c)
	}
	for i := range n {
		row := logits[i*c : (i+1)*c]
		for k, d := range v {
			row[k] += float32(d)
		}
	}
	return nil
}

// The search of FitBiasShifts: a coarse grid of FitStep over [-FitRange, +FitRange] per class,
// then a fine grid of FitFineStep over one coarse step on either side of the coarse best. ±20
// covers the paper's shifts (+3.5, -7.6) with room: a logit moved by 20 outweighs e^20 ≈ 5e8 in
// probability, past which no sample changes class. Coordinate passes stop when a pass changes
// nothing, after at most FitPasses.
const (
	FitRange    = 20.0
	FitStep     = 0.5
	FitFineStep = 0.05
	FitPasses   = 4
)

// BiasFit is the outcome of FitBiasShifts.
type BiasFit struct {
	// Shifts are the fitted deltas of the classes searched, in the order given.
	Shifts []BiasShift `json:"shifts"`
	// ErrorsBefore and ErrorsAfter count the fitting set's errors with the base shifts alone and
	// with the fitted ones added.
	ErrorsBefore int `json:"errors_before"`
	ErrorsAfter  int `json:"errors_after"`
	// N is the number of samples the shifts were fitted on; Data names them.
	N    int    `json:"n"`
	Data string `json:"data"`
	// Passes is the number of coordinate passes run.
	Passes int `json:"passes"`
}

// FitBiasShifts finds, for each of classes, the logit shift that minimises the errors of logits
// [n, c] against labels, with base (a delta per class, or nil) already added: a 1-D search per
// class, the other classes' shifts held fixed, over the coarse grid and then the fine one (see
// FitRange), repeated as coordinate descent while a pass lowers the errors. Among the fine grid's
// shifts with the fewest errors it takes the middle of the run of consecutive grid points around
// the best one, so that the shift sits inside the flat stretch rather than on its edge; on ties of
// the coarse grid, the shift nearest 0 (the smallest change) wins.
func FitBiasShifts(logits []float32, n, c int, labels []int32, classes []int, base []float64) (*BiasFit, error) {
	if len(logits) != n*c || len(labels) != n || n == 0 {
		return nil, fmt.Errorf("fit bias: %d logits and %d labels for %d samples of %d classes", len(logits), len(labels), n, c)
	}
	shift := make([]float64, c)
	if base != nil {
		if len(base) != c {
			return nil, fmt.Errorf("fit bias: %d base shifts for %d classes", len(base), c)
		}
		copy(shift, base)
	}
	seen := map[int]bool{}
	for _, k := range classes {
		if k < 0 || k >= c || seen[k] {
			return nil, fmt.Errorf("fit bias: class %d outside [0, %d) or given twice", k, c)
		}
		seen[k] = true
	}
	fit := &BiasFit{N: n, ErrorsBefore: countErrors(logits, n, c, labels, shift)}
	best := fit.ErrorsBefore
	for fit.Passes < FitPasses {
		fit.Passes++
		changed := false
		for _, k := range classes {
			// The current shift need not lie on the grid: a grid point is taken only when it
			// does at least as well.
			if d, e := searchClass(logits, n, c, labels, shift, k); e <= best {
				changed = changed || e < best
				shift[k], best = d, e
			}
		}
		if !changed {
			break
		}
	}
	for _, k := range classes {
		d := shift[k]
		if base != nil {
			d -= base[k]
		}
		// On the fine grid: a whole number of steps (1/FitFineStep = 20 per unit), printed short.
		fit.Shifts = append(fit.Shifts, BiasShift{Class: k, Delta: math.Round(d/FitFineStep) / math.Round(1/FitFineStep)})
	}
	fit.ErrorsAfter = best
	return fit, nil
}

// searchClass returns the shift of class k (the others as in shift) with the fewest errors, and
// that count.
func searchClass(logits []float32, n, c int, labels []int32, shift []float64, k int) (float64, int) {
	trial := append([]float64(nil), shift...)
	errAt := func(d float64) int {
		trial[k] = d
		return countErrors(logits, n, c, labels, trial)
	}
	coarse, bestE := 0.0, math.MaxInt
	steps := int(math.Round(FitRange / FitStep))
	for i := -steps; i <= steps; i++ {
		d := float64(i) * FitStep
		if e := errAt(d); e < bestE || (e == bestE && math.Abs(d) < math.Abs(coarse)) {
			coarse, bestE = d, e
		}
	}
	fine := int(math.Round(FitStep / FitFineStep))
	ds := make([]float64, 0, 2*fine+1)
	es := make([]int, 0, 2*fine+1)
	bestI := -1
	for i := -fine; i <= fine; i++ {
		d := coarse + float64(i)*FitFineStep
		e := errAt(d)
		ds, es = append(ds, d), append(es, e)
		if bestI < 0 || e < es[bestI] || (e == es[bestI] && i == 0) {
			bestI = len(es) - 1
		}
	}
	lo, hi := bestI, bestI
	for lo > 0 && es[lo-1] == es[bestI] {
		lo--
	}
	for hi < len(es)-1 && es[hi+1] == es[bestI] {
		hi++
	}
	return ds[(lo+hi)/2], es[bestI]
}

// countErrors counts the samples whose arg-max of logits + shift is not their label.
func countErrors(logits []float32, n, c int, labels []int32, shift []float64) int {
	errs := 0
	sh := make([]float32, c)
	for k, d := range shift {
		sh[k] = float32(d)
	}
	row := make([]float32, c)
	for i := range n {
		for k := range c {
			row[k] = logits[i*c+k] + sh[k]
		}
		if Argmax(row) != int(labels[i]) {
			errs++
		}
	}
	return errs
}

// shiftLogits adds the given bias shifts and those fitted on the fitting set to logits (of
// data), recording them and the unshifted metrics in res. Without shifts it does nothing.
func shiftLogits(ctx context.Context, opts Options, rt model.Runtime, logits []float32, classes int, data *dataset.Dataset, batch int, res *Result) error {
	if len(opts.BiasShifts) == 0 && len(opts.FitBias) == 0 {
		return nil
	}
	base, err := ShiftVector(opts.BiasShifts, classes)
	if err != nil {
		return &OptionError{Scope: "eval", Option: "BiasShifts", Err: fmt.Errorf("model %s: %w", opts.Model, err)}
	}
	if res.Unshifted, err = Classify(logits, data.N, classes, data.Labels); err != nil {
		return fmt.Errorf("eval %s: %w", opts.Model, err)
	}
	shifts := append([]BiasShift(nil), opts.BiasShifts...)
	if len(opts.FitBias) > 0 {
		fitLogits, fitData := logits, data
		if !opts.FitOnData {
			if fitData, err = dataset.Open(opts.Format.Source(opts.FitData, opts.FitLabels)); err != nil {
				return fmt.Errorf("eval: fitting data: %w", err)
			}
			if fitData.Labels == nil || fitData.N == 0 {
				return &OptionError{Scope: "eval", Option: "FitLabels", Err: fmt.Errorf("fitting data %s has no labelled samples", opts.FitData)}
			}
			if fitLogits, _, err = modelLogits(ctx, opts, rt, fitData, batch, &Result{Kind: res.Kind, teacherNames: res.teacherNames}); err != nil {
				return fmt.Errorf("eval: fitting data %s: %w", opts.FitData, err)
			}
		}
		fit, err := FitBiasShifts(fitLogits, fitData.N, classes, fitData.Labels, opts.FitBias, base)
		if err != nil {
			return &OptionError{Scope: "eval", Option: "FitBias", Err: fmt.Errorf("model %s: %w", opts.Model, err)}
		}
		fit.Data = fitData.Path
		res.BiasFit = fit
		shifts = append(shifts, fit.Shifts...)
	}
	res.BiasShifts = shifts
	return ApplyBiasShifts(logits, data.N, classes, shifts)
}

// writeShifts prints the bias shifts applied, how the fitted ones were found, and the figures
// without them.
func (r *Result) writeShifts(b *strings.Builder) {
	if len(r.BiasShifts) == 0 {
		return
	}
	fmt.Fprintf(b, "bias shift %s (added to the logits before the figures above)\n", FormatBiasShifts(r.BiasShifts))
	if f := r.BiasFit; f != nil {
		fmt.Fprintf(b, "  fitted   %s on %s (%d samples, %d passes): %d -> %d errors there\n",
			FormatBiasShifts(f.Shifts), f.Data, f.N, f.Passes, f.ErrorsBefore, f.ErrorsAfter)
	}
	if u := r.Unshifted; u != nil {
		fmt.Fprintf(b, "  unshifted accuracy %.2f%% (%d errors)\n", 100*u.Accuracy, u.Errors)
	}
}

// writePerClass prints each class's samples, errors and accuracy (and errors without the bias
// shifts, when there are shifts).
func (r *Result) writePerClass(b *strings.Builder) {
	m := r.Metrics
	// The class column is as wide as its longest entry ("3 cat", "9 ankle boot"), at least 8.
	names := make([]string, len(m.PerClass))
	width := len("class")
	for k := range m.PerClass {
		names[k] = fmt.Sprint(k)
		if k < len(r.ClassNames) {
			names[k] += " " + r.ClassNames[k]
		}
		width = max(width, 8, utf8.RuneCountInString(names[k]))
	}
	fmt.Fprintf(b, "per class  %-*s %8s %8s  %8s", width, "class", "n", "errors", "accuracy")
	if r.Unshifted != nil {
		b.WriteString("  unshifted errors")
	}
	b.WriteByte('\n')
	for k, pc := range m.PerClass {
		pad := width - utf8.RuneCountInString(names[k])
		fmt.Fprintf(b, "           %s%s %8d %8d  %7.2f%%", names[k], strings.Repeat(" ", pad), pc.N, pc.Errors, 100*pc.Accuracy)
		if r.Unshifted != nil {
			fmt.Fprintf(b, "  %16d", r.Unshifted.PerClass[k].Errors)
		}
		b.WriteByte('\n')
	}
}
