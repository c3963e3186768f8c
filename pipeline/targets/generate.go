package targets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/distillgo/distill/internal/logs"
	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/student"
	"github.com/schollz/progressbar/v3"
)

// DefaultBatch is the number of samples Generate preprocesses and runs per step
// when Options.Batch is 0: large enough for onnxruntime's GEMMs on a 784-1200-1200-10
// MLP to run at full speed, small enough (3 MiB of MNIST inputs) to stay in cache-sized memory.
const DefaultBatch = 1024

// progressEvery is how often Generate logs progress when it has no progress bar.
const progressEvery = 5 * time.Second

// Options configures Generate.
type Options struct {
	// Out is the soft-target file to write (required). It is written to a temporary file in the
	// same directory and renamed at the end; on an error nothing is left behind.
	Out string
	// Shard and Shards select the Shard-th (from 0) of Shards contiguous sample ranges (see
	// ShardRange); Shards 0 means 1, the whole data set.
	Shard, Shards int
	// FP16 stores the logits as float16 instead of float32 (default false).
	FP16 bool
	// Batch is the number of samples preprocessed and run per step (default DefaultBatch).
	Batch int
	// Tool names the writer recorded in the file (default meta.ToolVersion). Shards merge only when
	// they record the same tool.
	Tool string
	// Probe, with labelled data, scores each teacher on a few hundred samples before the run and
	// warns when it is near chance while a usual other preprocessing scores far higher (see
	// eval.PreprocessHint). It runs the teachers on samples out of order, which a teacher that
	// counts what it has seen (a test's) would not expect; the command line sets it.
	Probe bool
}

// Teacher is one teacher of Generate with what the soft-target file records about it.
// TeacherInfo.Preprocess maps the data's raw samples to the teacher's input; its InputShape must be
// the model's per-sample input shape (e.g. [784] or [1,28,28]). TeacherInfo.OutputKind is what the
// model outputs: logits, probs, logprobs, or auto (the default when empty); with auto, a Teacher
// that is a model.Model (opened by a runtime) describes what it detected on the first batch, and
// that is recorded.
type Teacher struct {
	// Teacher computes logits; Generate does not close it.
	Teacher model.Teacher
	TeacherInfo
	// Inputs, when set, feed the teacher's named inputs from their own arrays (a model.MultiInput:
	// a text classifier's input_ids and attention_mask) instead of the data set, whose samples
	// they hold in the same order; the data set then names the samples (and scores the teacher
	// with its labels). Their files are recorded in TeacherInfo.Inputs.
	Inputs []Input
}

// Accuracy is a teacher's (or the ensemble's) top-1 accuracy on labelled samples.
type Accuracy struct {
	Name     string  `json:"name"`     // the teacher's path, or "ensemble"
	Correct  int     `json:"correct"`  // samples whose arg-max logit is the label
	N        int     `json:"n"`        // labelled samples
	Accuracy float64 `json:"accuracy"` // Correct / N
}

// Report describes a finished Generate run.
type Report struct {
	Out        string  `json:"out"`                // the soft-target file written
	Start, End int     `json:"-"`                  // the sample range [Start, End) of the data set that was written
	Range      string  `json:"range"`              // "Start:End", as the file's "range" metadata
	Teachers   int     `json:"teachers"`           // K
	Classes    int     `json:"classes"`            // C
	Samples    int     `json:"samples"`            // End - Start
	Seconds    float64 `json:"seconds"`            // wall time from the first teacher run to the rename
	PerSecond  float64 `json:"samples_per_second"` // Samples / Seconds
	DType      string  `json:"dtype"`              // "F32" or "F16"
	// Accuracy holds each teacher's accuracy on the samples written, when the data had labels;
	// Ensemble the accuracy of the mean of the teachers' probabilities (more than one teacher).
	Accuracy []Accuracy `json:"accuracy,omitempty"`
	Ensemble *Accuracy  `json:"ensemble,omitempty"`
}

// WriteText prints the report for people.
func (r *Report) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "wrote %s: %d teacher(s) × samples %s × %d classes (%s), %d samples in %.2f s, %.0f samples/s\n",
		r.Out, r.Teachers, r.Range, r.Classes, r.DType, r.Samples, r.Seconds, r.PerSecond)
	if err != nil {
		return err
	}
	for _, a := range r.Accuracy {
		fmt.Fprintf(w, "teacher %s: accuracy %.2f%% (%d/%d, %d errors) on the transfer set\n", a.Name, 100*a.Accuracy, a.Correct, a.N, a.N-a.Correct)
	}
	if a := r.Ensemble; a != nil {
		_, err = fmt.Fprintf(w, "ensemble (mean probabilities): accuracy %.2f%% (%d/%d, %d errors) on the transfer set\n", 100*a.Accuracy, a.Correct, a.N, a.N-a.Correct)
	}
	return err
}

// Generate runs every teacher over the samples of ds selected by opts.Shard/opts.Shards,
// in batches of opts.Batch, and streams their logits into the soft-target file opts.Out
// ([N,C] for one teacher, [K,N,C] for K). Memory does not grow with the number of samples
// beyond ds itself. A NaN or Inf logit is an error naming the teacher and the sample; any
// error or a cancelled ctx removes the temporary file. progress, when not nil, receives a
// progress bar (a terminal); otherwise progress is logged every few seconds.
func Generate(ctx context.Context, opts Options, teachers []Teacher, ds *dataset.Dataset, progress io.Writer) (*Report, error) {
	start, end, err := opts.check(ds)
	if err != nil {
		return nil, err
	}
	classes, err := checkTeachers(teachers, ds, opts.Probe)
	if err != nil {
		return nil, err
	}
	// A scale nobody gave is the data's; the file records the one used.
	teachers = slices.Clone(teachers)
	for i := range teachers {
		teachers[i].Preprocess = teachers[i].Preprocess.ForData(ds)
	}
	g := &generator{opts: opts, teachers: teachers, ds: ds, start: start, end: end, classes: classes,
		x: make([]float32, min(opts.Batch, end-start)*ds.SampleSize())}
	if ds.Labels != nil {
		g.correct = make([]int, len(teachers))
		if len(teachers) > 1 {
			g.probs = make([]float64, min(opts.Batch, end-start)*classes)
		}
	}
	return g.generate(ctx, progress)
}

// check fills in the defaults and checks the options against the data; it returns the sample
// range of the shard.
func (o *Options) check(ds *dataset.Dataset) (start, end int, err error) {
	switch {
	case ds == nil || ds.N == 0:
		return 0, 0, errors.New("generate targets: no data")
	case o.Out == "":
		return 0, 0, errors.New("generate targets: no output file")
	case o.Batch < 0:
		return 0, 0, fmt.Errorf("generate targets: batch %d: must be positive", o.Batch)
	}
	if o.Batch == 0 {
		o.Batch = DefaultBatch
	}
	if o.Shards == 0 {
		o.Shards = 1
	}
	if o.Shard < 0 || o.Shard >= o.Shards {
		return 0, 0, fmt.Errorf("generate targets %s: shard %d/%d: want 0 <= i < n", o.Out, o.Shard, o.Shards)
	}
	start, end = ShardRange(o.Shard, o.Shards, ds.N)
	if start == end {
		return 0, 0, fmt.Errorf("generate targets %s: shard %d/%d of the %d samples of %s is empty", o.Out, o.Shard, o.Shards, ds.N, ds.Path)
	}
	if ds.Labels != nil && len(ds.Labels) != ds.N {
		return 0, 0, fmt.Errorf("generate targets: labels %s hold %d labels, but data %s has %d samples", ds.LabelsPath, len(ds.Labels), ds.Path, ds.N)
	}
	return start, end, nil
}

// checkTeachers checks the teachers against the data and each other and returns their number of
// classes.
func checkTeachers(teachers []Teacher, ds *dataset.Dataset, probe bool) (int, error) {
	if len(teachers) == 0 {
		return 0, errors.New("generate targets: no teachers")
	}
	classes := teachers[0].Teacher.Classes()
	for _, t := range teachers {
		if err := checkInputs(t, ds); err != nil {
			return 0, err
		}
		// A teacher fed by its own arrays does not take the data's samples.
		if _, err := t.Preprocess.OutputShape(ds.Shape); err != nil && len(t.Inputs) == 0 {
			return 0, fmt.Errorf("generate targets: data %s has samples of shape %v (%d values), but teacher %s input %q takes %v (%d values)",
				ds.Path, ds.Shape, ds.SampleSize(), t.Path, t.Input, t.Preprocess.InputShape, dataset.NumValues(t.Preprocess.InputShape))
		}
		if c := t.Teacher.Classes(); c != classes {
			return 0, fmt.Errorf("generate targets: teacher %s has %d classes, but teacher %s has %d", t.Path, c, teachers[0].Path, classes)
		}
	}
	if err := alignClasses(teachers, ds, classes); err != nil {
		return 0, err
	}
	for _, t := range teachers {
		if len(t.Inputs) > 0 || !probe {
			continue
		}
		hint := eval.PreprocessHint(context.Background(), t.Teacher, "teacher "+t.Path, t.Preprocess, ds, eval.PreprocessFlags{Mean: "--mean", Std: "--std"})
		if hint != "" {
			slog.Warn(hint)
		}
	}
	if err := ds.CheckLabels(classes); err != nil {
		return 0, fmt.Errorf("generate targets: teacher %s: %w", teachers[0].Path, err)
	}
	return classes, nil
}

// alignClasses numbers the data's labels as the teachers number their classes (the first that
// names them; the others must agree), so that the teachers are scored against the right labels
// and the file records the teachers' class names.
func alignClasses(teachers []Teacher, ds *dataset.Dataset, classes int) error {
	sources := make([]dataset.ModelClasses, len(teachers))
	for i, t := range teachers {
		names, err := eval.TeacherClassNames(t.Path, t.Teacher)
		if err != nil {
			return fmt.Errorf("generate targets: %w", err)
		}
		sources[i] = dataset.ModelClasses{Of: "teacher " + t.Path, N: classes, Names: names}
	}
	note, err := ds.AlignTo(classes, sources...)
	if err != nil {
		return fmt.Errorf("generate targets: %w", err)
	}
	if note != "" {
		slog.Info(note)
	}
	return nil
}

// generate runs the teachers over the shard, streams their logits into the file and reports.
func (g *generator) generate(ctx context.Context, progress io.Writer) (*Report, error) {
	opts, start, end, classes, teachers := g.opts, g.start, g.end, g.classes, g.teachers
	t0 := time.Now()
	// The first batch runs before the file is created, so that teachers whose output kind is
	// detected ("auto") have detected it by the time the header is written.
	first := min(opts.Batch, end-start)
	firstLogits, err := g.run(ctx, start, start+first)
	if err != nil {
		return nil, err
	}
	w, err := Create(opts.Out, g.meta(), len(teachers), end-start, classes, opts.FP16)
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		if !committed {
			w.Abort()
		}
	}()
	bar := newProgress(progress, end-start, opts.Out)
	if err := g.write(w, start, first, firstLogits); err != nil {
		return nil, err
	}
	bar.add(first)
	for s := start + first; s < end; s += opts.Batch {
		e := min(s+opts.Batch, end)
		logits, err := g.run(ctx, s, e)
		if err != nil {
			return nil, err
		}
		if err := g.write(w, s, e-s, logits); err != nil {
			return nil, err
		}
		bar.add(e - s)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("generate targets %s: %w", opts.Out, err)
	}
	if err := w.Commit(); err != nil {
		return nil, err
	}
	committed = true
	bar.finish()
	secs := time.Since(t0).Seconds()
	rep := &Report{
		Out: opts.Out, Start: start, End: end, Range: fmt.Sprintf("%d:%d", start, end), Teachers: len(teachers),
		Classes: classes, Samples: end - start, Seconds: secs, PerSecond: float64(end-start) / secs, DType: "F32",
	}
	if opts.FP16 {
		rep.DType = "F16"
	}
	if g.correct != nil {
		for k, t := range teachers {
			rep.Accuracy = append(rep.Accuracy, accuracy(t.Path, g.correct[k], end-start))
		}
		if len(teachers) > 1 {
			a := accuracy("ensemble", g.ensembleCorrect, end-start)
			rep.Ensemble = &a
		}
	}
	slog.Log(context.Background(), logs.Echo, "soft targets written", "out", opts.Out, "range", rep.Range, "teachers", len(teachers),
		"seconds", fmt.Sprintf("%.2f", secs), "samples_per_s", fmt.Sprintf("%.0f", rep.PerSecond))
	return rep, nil
}

func accuracy(name string, correct, n int) Accuracy {
	return Accuracy{Name: name, Correct: correct, N: n, Accuracy: float64(correct) / float64(n)}
}

// generator holds the state of one Generate run.
type generator struct {
	opts            Options
	teachers        []Teacher
	ds              *dataset.Dataset
	start, end      int
	classes         int
	x               []float32 // one batch of preprocessed inputs, reused for every teacher
	correct         []int     // per teacher, with labels
	probs           []float64 // ensemble probability sums for one batch, with labels and K > 1
	ensembleCorrect int
}

// meta describes the file for Create.
func (g *generator) meta() Meta {
	m := Meta{DataSHA256: g.ds.SHA256, DataN: g.ds.N, Start: g.start, End: g.end, Classes: g.classes, Tool: g.opts.Tool,
		ClassNames: g.ds.ClassNames}
	for _, t := range g.teachers {
		info := t.TeacherInfo
		if info.OutputKind == "" || info.OutputKind == "auto" {
			info.OutputKind = "auto"
			if m, is := t.Teacher.(model.Model); is {
				info.OutputKind = m.Describe().OutputKind
			}
		}
		info.Inputs = inputInfos(t.Inputs)
		m.Teachers = append(m.Teachers, info)
	}
	return m
}

// run computes the logits of samples [s, e) for every teacher, teacher-major: K × (e-s) × C.
// It checks them for NaN and Inf and counts correct predictions.
func (g *generator) run(ctx context.Context, s, e int) ([][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("generate targets %s: %w", g.opts.Out, err)
	}
	n, D, C := e-s, g.ds.SampleSize(), g.classes
	raw := g.ds.X[s*D : e*D]
	x := g.x[:n*D]
	out := make([][]float32, len(g.teachers))
	for k, t := range g.teachers {
		z, err := g.logits(ctx, t, raw, x, s, e)
		if err != nil {
			return nil, err
		}
		if len(z) != n*C {
			return nil, fmt.Errorf("generate targets: teacher %s returned %d logits for %d samples of %d classes", t.Path, len(z), n, C)
		}
		if err := student.CheckTeacher(z, 1, n, C, s); err != nil {
			return nil, fmt.Errorf("generate targets: teacher %s on %s: %w", t.Path, g.ds.Path, err)
		}
		out[k] = z
	}
	if g.correct != nil {
		labels := g.ds.Labels[s:e]
		if g.probs != nil {
			clear(g.probs[:n*C])
		}
		for k, z := range out {
			for i, y := range labels {
				row := z[i*C : (i+1)*C]
				if eval.Argmax(row) == int(y) {
					g.correct[k]++
				}
				if g.probs != nil {
					eval.AddSoftmax(g.probs[i*C:(i+1)*C], row)
				}
			}
		}
		if g.probs != nil {
			for i, y := range labels {
				p := g.probs[i*C : (i+1)*C]
				best := 0
				for j := range p {
					if p[j] > p[best] {
						best = j
					}
				}
				if best == int(y) {
					g.ensembleCorrect++
				}
			}
		}
	}
	return out, nil
}

// write streams the logits of n samples starting at data index s into w.
func (g *generator) write(w *Writer, s, n int, logits [][]float32) error {
	for k, z := range logits {
		if err := w.WriteBatch(k, s, z); err != nil {
			return err
		}
	}
	return nil
}

// progressReporter shows a progress bar on a terminal or logs progress periodically.
type progressReporter struct {
	bar         *progressbar.ProgressBar
	total, done int
	out         string
	t0, last    time.Time
}

func newProgress(w io.Writer, total int, out string) *progressReporter {
	p := &progressReporter{total: total, out: out, t0: time.Now(), last: time.Now()}
	if w != nil {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("soft targets"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("samples"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *progressReporter) add(n int) {
	p.done += n
	if p.bar != nil {
		_ = p.bar.Add(n)
		return
	}
	if now := time.Now(); now.Sub(p.last) >= progressEvery && p.done < p.total {
		p.last = now
		el := now.Sub(p.t0).Seconds()
		rate := float64(p.done) / el
		slog.Info("soft targets progress", "out", p.out, "done", p.done, "total", p.total,
			"samples_per_s", fmt.Sprintf("%.0f", rate), "eta_s", fmt.Sprintf("%.0f", float64(p.total-p.done)/rate))
	}
}

func (p *progressReporter) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// logits runs one teacher on the samples [s, e): from the data's raw values, preprocessed into
// x, or from its own input arrays.
func (g *generator) logits(ctx context.Context, t Teacher, raw, x []float32, s, e int) ([]float32, error) {
	if len(t.Inputs) > 0 {
		z, err := FeedInputs(ctx, t.Teacher.(model.MultiInput), t.Inputs, t.Preprocess, s, e, nil)
		if err != nil {
			return nil, fmt.Errorf("generate targets: teacher %s: %w", t.Path, err)
		}
		return z, nil
	}
	if err := t.Preprocess.Apply(raw, e-s, g.ds.Shape, x); err != nil {
		return nil, fmt.Errorf("generate targets: teacher %s: data %s: %w", t.Path, g.ds.Path, err)
	}
	z, err := t.Teacher.Logits(ctx, x, e-s)
	if err != nil {
		return nil, fmt.Errorf("generate targets: %w", err)
	}
	return z, nil
}
