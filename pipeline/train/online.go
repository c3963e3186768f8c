package train

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/pipeline/provenance"
	"github.com/distillgo/distill/pipeline/targets"
	"github.com/distillgo/distill/student"
)

// OnlineTeacher describes one teacher of an online ensemble (TrainEnsemble): its model file, for
// provenance, and its input preprocessing (a zero Scale is the data's; no input shape, the
// model's).
type OnlineTeacher struct {
	Path       string
	Preprocess dataset.Preprocess
}

// onlineTeacher is one teacher run on every batch: its model, file, preprocessing and per-sample
// input size.
type onlineTeacher struct {
	m    model.Teacher
	path string
	pre  dataset.Preprocess
	dim  int
}

// teacherRecord is one online ensemble teacher in the provenance's teacher list.
type teacherRecord struct {
	Path       string             `json:"path"`
	SHA256     string             `json:"sha256"`
	Preprocess dataset.Preprocess `json:"preprocess"`
}

// initTeachers checks the online teachers against their descriptions and records them; their
// preprocessing is resolved by setupTeachers once the data is read.
func (t *trainer) initTeachers(teachers []model.Teacher) error {
	o := &t.opts
	switch {
	case len(o.OnlineTeachers) > 0 && len(o.OnlineTeachers) != len(teachers):
		return optErr("OnlineTeachers", "%d described for %d teacher models", len(o.OnlineTeachers), len(teachers))
	case len(teachers) > 1 && len(o.OnlineTeachers) == 0:
		return optErr("OnlineTeachers", "%d teacher models and none described", len(teachers))
	case len(o.OnlineTeachers) > 1 && len(o.TeacherInputs) > 0:
		return optErr("TeacherInputs", "named inputs feed one online teacher, not an ensemble of %d", len(teachers))
	}
	for i, m := range teachers {
		if m == nil {
			return optErr("OnlineTeachers", "teacher %d is nil", i+1)
		}
		t.teachers = append(t.teachers, onlineTeacher{m: m})
	}
	return nil
}

// ensemble reports whether the online teachers are described by OnlineTeachers (an ensemble,
// recorded as a teacher list) rather than by TeacherPath and TeacherPreprocess.
func (t *trainer) ensemble() bool { return len(t.opts.OnlineTeachers) > 0 }

// setupTeachers checks the online teachers against the spec and the data and resolves their
// preprocessing.
func (t *trainer) setupTeachers() error {
	o := &t.opts
	t.k = len(t.teachers)
	t.prov.Mode = provenance.ModeOnline
	if !t.ensemble() {
		t.teachers[0].path, t.teachers[0].pre = o.TeacherPath, o.TeacherPreprocess
	}
	var list []teacherRecord
	for i := range t.teachers {
		tc := &t.teachers[i]
		if t.ensemble() {
			tc.path, tc.pre = o.OnlineTeachers[i].Path, o.OnlineTeachers[i].Preprocess.ForData(t.data)
		}
		if c := tc.m.Classes(); c != t.spec.Classes {
			return fmt.Errorf("train: teacher %s has %d classes, but student spec %s has %d", tc.path, c, o.Spec, t.spec.Classes)
		}
		var sum string
		if tc.path != "" {
			var err error
			if sum, err = dataset.FileSHA256(tc.path); err != nil {
				return fmt.Errorf("train: %w", err)
			}
		}
		if len(o.TeacherInputs) > 0 {
			t.prov.Teacher, t.prov.TeacherSHA256 = tc.path, sum
			return t.setupTeacherInputs()
		}
		if err := t.resolveTeacherInput(tc); err != nil {
			return err
		}
		list = append(list, teacherRecord{Path: tc.path, SHA256: sum, Preprocess: tc.pre})
	}
	if !t.ensemble() {
		o.TeacherPreprocess = t.teachers[0].pre
		t.prov.Teacher, t.prov.TeacherSHA256 = list[0].Path, list[0].SHA256
		tp := o.TeacherPreprocess
		t.prov.TeacherPreprocess = &tp
		return nil
	}
	b, err := json.Marshal(list)
	if err != nil {
		return fmt.Errorf("train: teachers: %w", err)
	}
	t.prov.Teachers = b
	return nil
}

// resolveTeacherInput fixes an online teacher's input shape (its preprocessing's, else the
// model's) and layout, and tries its preprocessing on the first sample.
func (t *trainer) resolveTeacherInput(tc *onlineTeacher) error {
	modelShape := tc.pre.InputShape
	if m, ok := tc.m.(model.Model); ok && modelShape == nil {
		modelShape = m.Describe().SampleShape
	}
	var err error
	if tc.pre, err = tc.pre.ForModel(t.data.Shape, modelShape); err != nil {
		return fmt.Errorf("train: teacher %s input: %w", tc.path, err)
	}
	tc.dim = t.inDim
	if len(tc.pre.InputShape) > 0 {
		tc.dim = dataset.NumValues(tc.pre.InputShape)
	}
	if err := tc.pre.CheckScale(t.data, "--teacher-scale"); err != nil {
		return fmt.Errorf("train: teacher %s: %w", tc.path, err)
	}
	if err := tc.pre.CheckInput(t.data.Shape, nil); err != nil {
		return fmt.Errorf("train: teacher %s input: %w", tc.path, err)
	}
	if err := tc.pre.Apply(t.data.X[:t.inDim], 1, t.data.Shape, make([]float32, t.inDim)); err != nil {
		return fmt.Errorf("train: teacher %s preprocessing of %s: %w", tc.path, t.opts.Data, err)
	}
	return nil
}

// setupTeacherInputs reads the arrays that feed the online teacher's named inputs and checks
// them against the data and the model.
func (t *trainer) setupTeacherInputs() error {
	o := &t.opts
	tc := &t.teachers[0]
	mi, ok := tc.m.(model.MultiInput)
	if !ok {
		return optErr("TeacherInputs", "teacher %s takes only one input", tc.path)
	}
	names := map[string]bool{}
	for _, in := range mi.Inputs() {
		names[in.Name] = true
	}
	for _, in := range o.TeacherInputs {
		if !names[in.Name] {
			return optErr("TeacherInputs", "teacher %s has no input %q", tc.path, in.Name)
		}
		a, err := dataset.ReadArray(in.Path)
		if err != nil {
			return fmt.Errorf("train: teacher input %s: %w", in.Name, err)
		}
		if a.N != t.data.N {
			return fmt.Errorf("train: teacher input %s (%s) holds %d samples, but data %s has %d", in.Name, in.Path, a.N, o.Data, t.data.N)
		}
		t.teacherInputs = append(t.teacherInputs, targets.Input{Name: in.Name, Array: a})
		t.prov.TeacherInputs = append(t.prov.TeacherInputs, provenance.InputFile{Name: in.Name, Path: in.Path, SHA256: a.SHA256})
	}
	tp := o.TeacherPreprocess
	t.prov.TeacherPreprocess = &tp
	return nil
}

// maxTeacherDim is the largest per-sample input size of the online teachers, for one buffer that
// each fills in turn.
func (t *trainer) maxTeacherDim() int {
	d := 0
	for _, tc := range t.teachers {
		d = max(d, tc.dim)
	}
	return d
}

// runTeachers runs every online teacher on the batch's raw samples, in turn, and puts their
// checked logits in b.teacher ([k][n][C]).
func (t *trainer) runTeachers(ctx context.Context, b *batch, idx []int, raw []float32) error {
	n, C := len(idx), t.spec.Classes
	for j, tc := range t.teachers {
		var logits []float32
		var err error
		if t.teacherInputs != nil {
			logits, err = targets.FeedInputs(ctx, tc.m.(model.MultiInput), t.teacherInputs, t.opts.TeacherPreprocess, 0, 0, idx)
		} else {
			tx := b.tx[:n*tc.dim]
			if err := tc.pre.Apply(raw, n, t.data.Shape, tx); err != nil {
				return fmt.Errorf("train: teacher %s preprocess %s: %w", tc.path, t.opts.Data, err)
			}
			if fm, ok := tc.m.(model.FeatureModel); ok && len(t.hints) > 0 {
				var feats [][]float32
				logits, feats, err = fm.LogitsFeatures(ctx, tx, n)
				if err == nil {
					err = t.keepFeatures(b, feats, n)
				}
			} else {
				logits, err = tc.m.Logits(ctx, tx, n)
			}
		}
		if err != nil {
			return fmt.Errorf("train: teacher %s: %w", tc.path, err)
		}
		if len(logits) != n*C {
			return fmt.Errorf("train: teacher %s returned %d logits for %d samples of %d classes", tc.path, len(logits), n, C)
		}
		// Row by row, so that the error names the sample's index in the data set.
		for r, i := range idx {
			if err := student.CheckTeacher(logits[r*C:(r+1)*C], 1, 1, C, i); err != nil {
				return fmt.Errorf("train: teacher %s output: %w", tc.path, err)
			}
		}
		copy(b.teacher[j*n*C:(j+1)*n*C], logits)
	}
	return nil
}

// keepFeatures keeps the teacher's features of the n samples of b, which the hints read, in b.
func (t *trainer) keepFeatures(b *batch, feats [][]float32, n int) error {
	if len(feats) != len(t.featSize) {
		return fmt.Errorf("%d features for the %d tensors the hints read", len(feats), len(t.featSize))
	}
	for i, f := range feats {
		if len(f) != n*t.featSize[i] {
			return fmt.Errorf("feature %d has %d values for %d samples of %d", i, len(f), n, t.featSize[i])
		}
		b.feats[i] = f // a new slice each call (model.FeatureModel): the batch keeps it
	}
	return nil
}

// teacherEval runs the online teachers once over the eval set, for agreement: the logits of the
// one teacher, or of the ensemble as the loss combines it.
func (t *trainer) teacherEval(ctx context.Context) ([]float32, error) {
	ev, C := t.eval, t.spec.Classes
	all := make([][]float32, len(t.teachers))
	for j, tc := range t.teachers {
		x := make([]float32, ev.N*tc.dim)
		if err := tc.pre.Apply(ev.X, ev.N, ev.Shape, x); err != nil {
			return nil, fmt.Errorf("teacher %s preprocess eval data %s: %w", tc.path, t.opts.EvalData, err)
		}
		logits, err := tc.m.Logits(ctx, x, ev.N)
		if err != nil {
			return nil, fmt.Errorf("teacher %s on eval data %s: %w", tc.path, t.opts.EvalData, err)
		}
		if err := student.CheckTeacher(logits, 1, ev.N, C, 0); err != nil {
			return nil, fmt.Errorf("teacher %s output on eval data %s: %w", tc.path, t.opts.EvalData, err)
		}
		m, err := eval.Classify(logits, ev.N, C, ev.Labels)
		if err != nil {
			return nil, fmt.Errorf("teacher %s on eval data: %w", tc.path, err)
		}
		if len(t.teachers) == 1 {
			fmt.Fprintf(t.out, "teacher on the eval set: accuracy %.2f%% (%d errors)\n", 100*m.Accuracy, m.Errors)
			return logits, nil
		}
		fmt.Fprintf(t.out, "teacher %d of %d (%s) on the eval set: accuracy %.2f%% (%d errors)\n", j+1, len(t.teachers), tc.path, 100*m.Accuracy, m.Errors)
		all[j] = logits
	}
	combined := combineTeachers(all, ev.N, C, t.opts.Ensemble, t.opts.Temperature)
	m, err := eval.Classify(combined, ev.N, C, ev.Labels)
	if err != nil {
		return nil, fmt.Errorf("ensemble on eval data: %w", err)
	}
	fmt.Fprintf(t.out, "ensemble of %d (%s) on the eval set: accuracy %.2f%% (%d errors)\n", len(t.teachers), t.opts.Ensemble, 100*m.Accuracy, m.Errors)
	return combined, nil
}

// combineTeachers returns the logits [n, c] of an ensemble, as student.Loss combines its
// teachers: the mean logits ("logits"), or the log of the mean of softmax(v/T) ("probs"), whose
// softmax at temperature 1 is that mean.
func combineTeachers(all [][]float32, n, c int, how string, T float64) []float32 {
	out := make([]float32, n*c)
	mean := make([]float64, c)
	for i := range n {
		clear(mean)
		for _, v := range all {
			row := v[i*c : (i+1)*c]
			if how == "logits" {
				for k, x := range row {
					mean[k] += float64(x) / float64(len(all))
				}
				continue
			}
			m := math.Inf(-1)
			for _, x := range row {
				m = math.Max(m, float64(x)/T)
			}
			var s float64
			for _, x := range row {
				s += math.Exp(float64(x)/T - m)
			}
			for k, x := range row {
				mean[k] += math.Exp(float64(x)/T-m) / s / float64(len(all))
			}
		}
		for k, v := range mean {
			if how != "logits" {
				v = math.Log(v)
			}
			out[i*c+k] = float32(v)
		}
	}
	return out
}
