package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strings"

	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/student"
)

// Model kinds Eval recognises (EvalResult.Kind).
const (
	KindCheckpoint = "checkpoint" // a student checkpoint written by Train
	KindONNX       = "onnx"       // any ONNX classifier, e.g. a student exported by this tool
)

// EvalOptions configures Eval.
type EvalOptions struct {
	// Model is a student checkpoint or an ONNX model; the kind is read from the file's bytes.
	Model string
	// Data and Labels are the evaluation set; labels are required.
	Data, Labels string
	// Preprocess, when set, is the model's input preprocessing. When nil it comes from the
	// checkpoint, or from the ONNX model's metadata (key MetaPreprocess); an ONNX model without
	// it is an error asking for the preprocessing flags, unless PreprocessOverride gives some.
	Preprocess *Preprocess
	// PreprocessOverride replaces single fields of the model's preprocessing (Preprocess, else
	// the stored one, else scale DefaultScale, mean 0, std 1): the flags given on their own.
	PreprocessOverride PreprocessOverride
	// Teacher, when set, is evaluated too and compared with the model (top-1 agreement); the
	// caller closes it. TeacherPath names it in the output.
	Teacher     Teacher
	TeacherPath string
	// TeacherPreprocess is the teacher's input preprocessing; nil means the model's scale, mean
	// and std (and the teacher's own input shape). TeacherOverride replaces single fields of it.
	TeacherPreprocess *Preprocess
	TeacherOverride   PreprocessOverride
	// Batch is the inference batch size (0 means onnx.DefaultBatch, 256).
	Batch int
	// ORT configures onnxruntime for an ONNX model (onnx.Init must have run).
	ORT onnx.Options
}

// EvalResult is the outcome of Eval; it is what `distill eval --json` prints.
type EvalResult struct {
	Model string `json:"model"` // the model file evaluated
	Kind  string `json:"kind"`  // KindCheckpoint or KindONNX
	Data  string `json:"data"`  // the evaluation data file
	// Preprocess is the model's input preprocessing that was applied.
	Preprocess Preprocess `json:"preprocess"`
	// Metrics are the model's.
	Metrics *Classification `json:"metrics"`
	// Teacher and TeacherMetrics are set with a teacher, as is Agreement (top-1, student vs teacher).
	Teacher        string          `json:"teacher,omitempty"`
	TeacherMetrics *Classification `json:"teacher_metrics,omitempty"`
	Agreement      *float64        `json:"teacher_agreement,omitempty"`
}

// Eval evaluates a checkpoint or ONNX model on a labelled data set: accuracy, errors, mean NLL,
// expected calibration error, confusion matrix, and agreement with a teacher when given.
func Eval(ctx context.Context, opts EvalOptions) (*EvalResult, error) {
	if opts.Model == "" {
		return nil, errors.New("eval: no model (--model)")
	}
	if opts.Labels == "" {
		return nil, errors.New("eval: no labels (--labels)")
	}
	batch := opts.Batch
	if batch <= 0 {
		batch = onnx.DefaultBatch
	}
	data, err := LoadDataset(opts.Data, opts.Labels)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	if data.N == 0 {
		return nil, fmt.Errorf("eval: data %s is empty", opts.Data)
	}
	kind, err := ModelKind(opts.Model)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	res := &EvalResult{Model: opts.Model, Kind: kind, Data: opts.Data}

	var logits []float32
	var classes int
	switch kind {
	case KindCheckpoint:
		logits, classes, res.Preprocess, err = evalCheckpoint(opts, data, batch)
	default:
		logits, classes, res.Preprocess, err = evalONNX(ctx, opts, data, batch)
	}
	if err != nil {
		return nil, err
	}
	if err := checkLabels(data, classes, "model "+opts.Model); err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	if err := checkFinite(logits, data.N, classes, nil, "model "+opts.Model+" output"); err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	if res.Metrics, err = Classify(logits, data.N, classes, data.Labels); err != nil {
		return nil, fmt.Errorf("eval %s: %w", opts.Model, err)
	}

	if opts.Teacher != nil {
		if c := opts.Teacher.Classes(); c != classes {
			return nil, fmt.Errorf("eval: teacher %s has %d classes, but model %s has %d", opts.TeacherPath, c, opts.Model, classes)
		}
		tp := Preprocess{Scale: res.Preprocess.Scale, Mean: res.Preprocess.Mean, Std: res.Preprocess.Std}
		if opts.TeacherPreprocess != nil {
			tp = *opts.TeacherPreprocess
		}
		tp = opts.TeacherOverride.Over(tp)
		tl, err := runTeacher(ctx, opts.Teacher, tp, data, batch)
		if err != nil {
			return nil, fmt.Errorf("eval: teacher %s: %w", opts.TeacherPath, err)
		}
		if err := checkFinite(tl, data.N, classes, nil, "teacher "+opts.TeacherPath+" output"); err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		if res.TeacherMetrics, err = Classify(tl, data.N, classes, data.Labels); err != nil {
			return nil, fmt.Errorf("eval: teacher %s: %w", opts.TeacherPath, err)
		}
		a, err := Agreement(logits, tl, data.N, classes)
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		res.Teacher, res.Agreement = opts.TeacherPath, &a
	}
	return res, nil
}

// ModelKind tells a safetensors checkpoint (8-byte header length, then '{') from an ONNX model.
func ModelKind(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open model %s: %w", path, err)
	}
	defer f.Close()
	var head [9]byte
	n, _ := io.ReadFull(f, head[:])
	if n == len(head) && head[8] == '{' {
		return KindCheckpoint, nil
	}
	return KindONNX, nil
}

func evalCheckpoint(opts EvalOptions, data *Dataset, batch int) ([]float32, int, Preprocess, error) {
	var pre Preprocess
	ck, err := student.LoadCheckpoint(opts.Model)
	if err != nil {
		return nil, 0, pre, fmt.Errorf("eval: %w", err)
	}
	pre, err = choosePreprocess(opts, ck.Meta[MetaPreprocess])
	if err != nil {
		return nil, 0, pre, err
	}
	net, err := student.NewNet(ck.Spec, 0)
	if err != nil {
		return nil, 0, pre, fmt.Errorf("eval: %s: %w", opts.Model, err)
	}
	defer net.Close()
	if err := net.LoadParams(ck.Params); err != nil {
		return nil, 0, pre, fmt.Errorf("eval: %s: %w", opts.Model, err)
	}
	dim := prod(ck.Spec.Input)
	if err := checkInput(pre, data.Shape, ck.Spec.Input); err != nil {
		return nil, 0, pre, fmt.Errorf("eval: %s: %w", opts.Model, err)
	}
	x := make([]float32, data.N*dim)
	if err := pre.Apply(data.X, data.N, data.Shape, x); err != nil {
		return nil, 0, pre, fmt.Errorf("eval: preprocess %s: %w", opts.Data, err)
	}
	logits, err := forwardBatched(net, x, data.N, dim, ck.Spec.Classes, batch)
	if err != nil {
		return nil, 0, pre, fmt.Errorf("eval: %s: %w", opts.Model, err)
	}
	return logits, ck.Spec.Classes, pre, nil
}

func evalONNX(ctx context.Context, opts EvalOptions, data *Dataset, batch int) ([]float32, int, Preprocess, error) {
	var pre Preprocess
	info, err := onnx.ReadModelInfo(opts.Model)
	if err != nil {
		return nil, 0, pre, fmt.Errorf("eval: %w", err)
	}
	pre, err = choosePreprocess(opts, info.Metadata[MetaPreprocess])
	if err != nil {
		return nil, 0, pre, err
	}
	ort := opts.ORT
	if len(ort.InputShape) == 0 {
		ort.InputShape = pre.InputShape
	}
	if ort.Batch == 0 {
		ort.Batch = batch
	}
	s, err := onnx.Open(opts.Model, ort)
	if err != nil {
		return nil, 0, pre, fmt.Errorf("eval: %w", err)
	}
	defer s.Close()
	logits, err := runTeacher(ctx, s, pre, data, batch)
	if err != nil {
		return nil, 0, pre, fmt.Errorf("eval: %s: %w", opts.Model, err)
	}
	return logits, s.Classes(), pre, nil
}

// choosePreprocess returns the model's preprocessing: opts.Preprocess if set, else the model's
// stored one, with opts.PreprocessOverride's fields in place. A model that stores none needs one
// of the two.
func choosePreprocess(opts EvalOptions, stored string) (Preprocess, error) {
	var fromModel *Preprocess
	if stored != "" {
		var p Preprocess
		if err := json.Unmarshal([]byte(stored), &p); err != nil {
			return p, fmt.Errorf("eval: %s: preprocessing metadata %q: %w", opts.Model, stored, err)
		}
		fromModel = &p
	}
	var pre Preprocess
	switch {
	case opts.Preprocess != nil:
		pre = *opts.Preprocess
	case fromModel != nil:
		pre = *fromModel
	case !opts.PreprocessOverride.IsZero():
		pre = Preprocess{Scale: DefaultScale}
	default:
		return Preprocess{}, fmt.Errorf("eval: %s records no preprocessing: give --scale/--mean/--std/--input-shape", opts.Model)
	}
	pre = opts.PreprocessOverride.Over(pre)
	if fromModel != nil && !reflect.DeepEqual(normPre(*fromModel), normPre(pre)) {
		slog.Warn("preprocessing flags override the model's", "model", opts.Model, "stored", stored, "used", mustJSON(pre))
	}
	return pre, nil
}

// runTeacher preprocesses the data set for a model run under onnxruntime and runs it.
func runTeacher(ctx context.Context, t Teacher, pre Preprocess, data *Dataset, batch int) ([]float32, error) {
	dim := prod(data.Shape)
	if len(pre.InputShape) > 0 {
		dim = prod(pre.InputShape)
	}
	out := make([]float32, 0, data.N*t.Classes())
	x := make([]float32, batch*dim)
	D := prod(data.Shape)
	for s := 0; s < data.N; s += batch {
		e := min(s+batch, data.N)
		xb := x[:(e-s)*dim]
		if err := pre.Apply(data.X[s*D:e*D], e-s, data.Shape, xb); err != nil {
			return nil, fmt.Errorf("preprocess %s: %w", data.Path, err)
		}
		z, err := t.Logits(ctx, xb, e-s)
		if err != nil {
			return nil, err
		}
		if len(z) != (e-s)*t.Classes() {
			return nil, fmt.Errorf("%d logits for %d samples of %d classes", len(z), e-s, t.Classes())
		}
		out = append(out, z...)
	}
	return out, nil
}

// WriteText prints the result for people: the summary figures, then the confusion matrix.
func (r *EvalResult) WriteText(w io.Writer) error {
	m := r.Metrics
	var b strings.Builder
	fmt.Fprintf(&b, "model     %s (%s, %d classes)\n", r.Model, r.Kind, m.Classes)
	fmt.Fprintf(&b, "data      %s (%d samples)\n", r.Data, m.N)
	fmt.Fprintf(&b, "accuracy  %.2f%% (%d errors)\n", 100*m.Accuracy, m.Errors)
	fmt.Fprintf(&b, "mean NLL  %.4f\n", m.MeanNLL)
	fmt.Fprintf(&b, "ECE       %.4f (%d bins)\n", m.ECE, ECEBins)
	if r.TeacherMetrics != nil {
		t := r.TeacherMetrics
		fmt.Fprintf(&b, "teacher   %s: accuracy %.2f%% (%d errors), mean NLL %.4f, ECE %.4f\n", r.Teacher, 100*t.Accuracy, t.Errors, t.MeanNLL, t.ECE)
		fmt.Fprintf(&b, "agreement %.2f%% (top-1, model vs teacher)\n", 100**r.Agreement)
	}
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
