package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/option"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/student"
)

// Model kinds Eval recognises (Result.Kind).
const (
	KindCheckpoint = "checkpoint" // a student checkpoint written by Train
	KindONNX       = "onnx"       // any ONNX classifier, e.g. a student exported by this tool
)

// Options configures Eval. The zero value of every field but Model, Data and Labels is its default.
type Options struct {
	// Model is a student checkpoint or an ONNX model; the kind is read from the file's bytes.
	Model string `flag:"model"`
	// Data and Labels are the evaluation set; labels are required (a CSV file's are a column).
	Data   string `flag:"data"`
	Labels string `flag:"labels"`
	// Format says how a CSV file or an image folder is read.
	Format dataset.Format
	// Preprocess, when set, is the model's input preprocessing. When nil it comes from the
	// checkpoint, or from the ONNX model's metadata (key meta.Preprocess); for an ONNX model
	// without it, the defaults for the data (scale 255 for 8-bit data and 1 for floats, mean 0,
	// std 1, the model's input shape).
	Preprocess *dataset.Preprocess `flag:"scale,mean,std,input-shape"`
	// PreprocessOverride replaces single fields of the model's preprocessing (Preprocess, else
	// the stored one, else the defaults): the flags given on their own.
	PreprocessOverride dataset.PreprocessOverride `flag:"scale,mean,std,input-shape"`
	// TeacherPath names the teacher (an argument of Eval) in the result.
	TeacherPath string `flag:"teacher"`
	// TeacherPreprocess is the teacher's input preprocessing; nil means the model's scale, mean
	// and std (and the teacher's own input shape). TeacherOverride replaces single fields of it.
	TeacherPreprocess *dataset.Preprocess        `flag:"teacher-scale,teacher-mean,teacher-std,teacher-input-shape"`
	TeacherOverride   dataset.PreprocessOverride `flag:"teacher-scale,teacher-mean,teacher-std,teacher-input-shape"`
	// Batch is the inference batch size (0 means DefaultBatch).
	Batch int `flag:"batch"`
	// OutputName and OutputKind say which output of an ONNX model holds the class scores and
	// what they are (see model.Options; empty: the only candidate, and auto).
	OutputName string `flag:"model-output"`
	OutputKind string `flag:"model-output-kind"`
	// BiasShifts are added to the model's output logits before scoring (default none): the same
	// as adding them to its last layer's bias.
	BiasShifts []BiasShift `flag:"bias-shift"`
	// FitBias lists classes whose shifts are fitted (FitBiasShifts) on FitData and FitLabels,
	// on top of BiasShifts, and then applied to Data (default none).
	FitBias []int `flag:"fit-bias"`
	// FitData and FitLabels are the held-out set the shifts are fitted on; FitOnData fits them
	// on Data itself instead, which makes Data's figures optimistic: it must be asked for.
	FitData   string `flag:"fit-data"`
	FitLabels string `flag:"fit-labels"`
	FitOnData bool   `flag:"fit-on-data"`
}

// DefaultBatch is the inference batch size of Eval when Options.Batch is 0: large enough for
// full-speed GEMMs on MNIST-sized models, small enough to keep a batch in cache.
const DefaultBatch = 256

// Validate checks the options on their own; errors wrap an *OptionError naming the field.
func (o Options) Validate() error {
	switch {
	case o.Model == "":
		return &OptionError{Scope: "eval", Option: "Model", Err: errors.New("no model to evaluate")}
	case o.Data == "":
		return &OptionError{Scope: "eval", Option: "Data", Err: errors.New("no evaluation data")}
	case o.Labels == "" && !dataset.HasOwnLabels(o.Data):
		return &OptionError{Scope: "eval", Option: "Labels", Err: errors.New("no labels for the evaluation data")}
	case o.Batch < 0:
		return &OptionError{Scope: "eval", Option: "Batch", Err: fmt.Errorf("%d must be at least 1", o.Batch)}
	case len(o.FitBias) > 0 && o.FitData == "" && !o.FitOnData:
		return &OptionError{Scope: "eval", Option: "FitData", Err: errors.New("fitting bias shifts needs a held-out set (or, knowingly, the evaluation data itself)")}
	case len(o.FitBias) == 0 && (o.FitData != "" || o.FitOnData):
		return &OptionError{Scope: "eval", Option: "FitBias", Err: errors.New("a fitting set without classes to fit")}
	case o.FitData != "" && o.FitOnData:
		return &OptionError{Scope: "eval", Option: "FitOnData", Err: fmt.Errorf("with a held-out set %s: choose one", o.FitData)}
	case o.FitData != "" && o.FitLabels == "" && !dataset.HasOwnLabels(o.FitData):
		return &OptionError{Scope: "eval", Option: "FitLabels", Err: errors.New("no labels for the fitting data")}
	}
	seen := map[int]bool{}
	for _, s := range o.BiasShifts {
		seen[s.Class] = true
	}
	for _, k := range o.FitBias {
		if seen[k] {
			return &OptionError{Scope: "eval", Option: "FitBias", Err: fmt.Errorf("class %d is both shifted and fitted (or fitted twice)", k)}
		}
		seen[k] = true
	}
	return nil
}

// OptionError reports an option of Options that is wrong; the command line maps Option (a field
// name) to its flag.
type OptionError = option.Error

// Result is the outcome of Eval; it is what `distill eval --json` prints.
type Result struct {
	Model string `json:"model"` // the model file evaluated
	Kind  string `json:"kind"`  // KindCheckpoint or KindONNX
	Data  string `json:"data"`  // the evaluation data file
	// Preprocess is the model's input preprocessing that was applied.
	Preprocess dataset.Preprocess `json:"preprocess"`
	// ClassNames names the classes (class k is ClassNames[k]) when the data or the model does.
	ClassNames []string `json:"class_names,omitempty"`
	// Metrics are the model's.
	Metrics *Classification `json:"metrics"`
	// Teacher and TeacherMetrics are set with a teacher, as is Agreement (top-1, student vs teacher).
	Teacher        string          `json:"teacher,omitempty"`
	TeacherMetrics *Classification `json:"teacher_metrics,omitempty"`
	Agreement      *float64        `json:"teacher_agreement,omitempty"`
	// BiasShifts are the shifts added to the model's logits before Metrics (those given, then
	// the fitted ones); Unshifted are the metrics without them, and BiasFit says how the fitted
	// ones were found. All three are absent without shifts.
	BiasShifts []BiasShift     `json:"bias_shifts,omitempty"`
	Unshifted  *Classification `json:"unshifted_metrics,omitempty"`
	BiasFit    *BiasFit        `json:"bias_fit,omitempty"`

	// modelNames and teacherNames are the class names the model and the teacher record (nil
	// for none).
	modelNames, teacherNames []string
}

// Eval evaluates a checkpoint or ONNX model on a labelled data set: accuracy, errors, mean NLL,
// expected calibration error, confusion matrix, and agreement with teacher when it is not nil
// (the caller closes it). An ONNX model is opened with rt, which may be nil for a checkpoint.
func Eval(ctx context.Context, opts Options, rt model.Runtime, teacher model.Teacher) (*Result, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	batch := opts.Batch
	if batch == 0 {
		batch = DefaultBatch
	}
	src := opts.Format.Source(opts.Data, opts.Labels)
	if kind, err := ModelKind(opts.Model); err == nil {
		if err := checkDataShape(opts, src, kind); err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
	}
	data, err := dataset.Open(src)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	if data.Labels == nil {
		opt := "Format.Label" // a CSV file's label column
		if !dataset.IsCSV(opts.Data) {
			opt = "Data" // a flat image folder
		}
		return nil, &OptionError{Scope: "eval", Option: opt, Err: fmt.Errorf("%s; 'distill predict' runs a model on data without labels", data.Unlabelled())}
	}
	if data.N == 0 {
		return nil, fmt.Errorf("eval: data %s is empty", opts.Data)
	}
	kind, err := ModelKind(opts.Model)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	res := &Result{Model: opts.Model, Kind: kind, Data: opts.Data, ClassNames: data.ClassNames}
	if teacher != nil {
		// The teacher's names count in the numbering of the labels too (alignLabels).
		if res.teacherNames, err = TeacherClassNames(opts.TeacherPath, teacher); err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
	}

	logits, classes, err := modelLogits(ctx, opts, rt, data, batch, res)
	if err != nil {
		return nil, err
	}
	res.ClassNames = data.ClassNames
	if err := shiftLogits(ctx, opts, rt, logits, classes, data, batch, res); err != nil {
		return nil, err
	}
	if res.Metrics, err = Classify(logits, data.N, classes, data.Labels); err != nil {
		return nil, fmt.Errorf("eval %s: %w", opts.Model, err)
	}

	if teacher != nil {
		if c := teacher.Classes(); c != classes {
			return nil, fmt.Errorf("eval: teacher %s has %d classes, but model %s has %d", opts.TeacherPath, c, opts.Model, classes)
		}
		tp := dataset.Preprocess{Scale: res.Preprocess.Scale, Mean: res.Preprocess.Mean, Std: res.Preprocess.Std}
		if opts.TeacherPreprocess != nil {
			tp = *opts.TeacherPreprocess
		}
		tp = opts.TeacherOverride.Over(tp).ForData(data)
		if err := tp.CheckScale(data, "--teacher-scale"); err != nil {
			return nil, fmt.Errorf("eval: teacher %s: %w", opts.TeacherPath, err)
		}
		tl, err := runModel(ctx, teacher, tp, data, batch)
		if err != nil {
			return nil, fmt.Errorf("eval: teacher %s: %w", opts.TeacherPath, err)
		}
		if err := student.CheckTeacher(tl, 1, data.N, classes, 0); err != nil {
			return nil, fmt.Errorf("eval: teacher %s output: %w", opts.TeacherPath, err)
		}
		if res.TeacherMetrics, err = Classify(tl, data.N, classes, data.Labels); err != nil {
			return nil, fmt.Errorf("eval: teacher %s: %w", opts.TeacherPath, err)
		}
		hint := PreprocessHint(ctx, teacher, "teacher "+opts.TeacherPath, tp, data, PreprocessFlags{"--teacher-mean", "--teacher-std"})
		if hint != "" {
			slog.Warn(hint)
		}
		a, err := Agreement(logits, tl, data.N, classes)
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		res.Teacher, res.Agreement = opts.TeacherPath, &a
	}
	return res, nil
}

// modelLogits runs the model of opts over data and checks its output and the data's labels
// against its classes; res receives the preprocessing (and an ONNX model's class names).
func modelLogits(ctx context.Context, opts Options, rt model.Runtime, data *dataset.Dataset, batch int, res *Result) ([]float32, int, error) {
	logits, classes, err := runLogits(ctx, opts, rt, data, batch, res)
	if err != nil {
		return nil, 0, fmt.Errorf("eval: %w", err)
	}
	return logits, classes, nil
}

// runLogits is modelLogits, for Eval and Predict: its errors say what failed, not in which
// step (each caller names its own).
func runLogits(ctx context.Context, opts Options, rt model.Runtime, data *dataset.Dataset, batch int, res *Result) ([]float32, int, error) {
	var logits []float32
	var classes int
	var err error
	switch res.Kind {
	case KindCheckpoint:
		logits, classes, res.Preprocess, err = evalCheckpoint(ctx, opts, data, batch, res)
	default:
		logits, classes, err = evalONNX(ctx, opts, rt, data, batch, res)
	}
	if err != nil {
		return nil, 0, err
	}
	if err := data.CheckLabels(classes); err != nil {
		return nil, 0, fmt.Errorf("model %s: %w", opts.Model, err)
	}
	if err := student.CheckTeacher(logits, 1, data.N, classes, 0); err != nil {
		return nil, 0, fmt.Errorf("model %s output: %w", opts.Model, err)
	}
	return logits, classes, nil
}

// WriteText prints the result for people: the summary figures, then the confusion matrix.
func (r *Result) WriteText(w io.Writer) error {
	m := r.Metrics
	var b strings.Builder
	fmt.Fprintf(&b, "model     %s (%s, %d classes)\n", r.Model, r.Kind, m.Classes)
	fmt.Fprintf(&b, "data      %s (%d samples)\n", r.Data, m.N)
	if len(r.ClassNames) > 0 {
		names := make([]string, len(r.ClassNames))
		for k, n := range r.ClassNames {
			names[k] = fmt.Sprintf("%d %s", k, n)
		}
		fmt.Fprintf(&b, "classes   %s\n", strings.Join(names, ", "))
	}
	fmt.Fprintf(&b, "accuracy  %.2f%% (%d errors)\n", 100*m.Accuracy, m.Errors)
	fmt.Fprintf(&b, "mean NLL  %.4f\n", m.MeanNLL)
	fmt.Fprintf(&b, "ECE       %.4f (%d bins)\n", m.ECE, ECEBins)
	if r.TeacherMetrics != nil {
		t := r.TeacherMetrics
		fmt.Fprintf(&b, "teacher   %s: accuracy %.2f%% (%d errors), mean NLL %.4f, ECE %.4f\n", r.Teacher, 100*t.Accuracy, t.Errors, t.MeanNLL, t.ECE)
		fmt.Fprintf(&b, "agreement %.2f%% (top-1, model vs teacher)\n", 100**r.Agreement)
	}
	r.writeShifts(&b)
	r.writePerClass(&b)
	b.WriteString("confusion matrix (rows: true class, columns: predicted class)\n")
	width := len(fmt.Sprint(m.N))
	width = max(width, len(fmt.Sprint(m.Classes-1)))
	fmt.Fprintf(&b, "%*s", width+1, "")
	for j := range m.Classes {
		fmt.Fprintf(&b, " %*d", width, j)
	}
	b.WriteByte('\n')
	for i, row := range m.Confusion {
		fmt.Fprintf(&b, "%*d", width+1, i)
		for _, v := range row {
			fmt.Fprintf(&b, " %*d", width, v)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
