package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/pipeline/augment"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/pipeline/provenance"
	"github.com/distillgo/distill/pipeline/targets"
	"github.com/distillgo/distill/student"
)

// Result is what Train did.
type Result struct {
	// Epochs holds the metrics of every epoch of the checkpoint, resumed ones included.
	Epochs []EpochMetrics
	// Eval is the final eval-set classification, nil without eval data.
	Eval *eval.Classification
	// Checkpoint is the path written.
	Checkpoint string
	// StartEpoch is the epoch training started after (0, or the resumed checkpoint's).
	StartEpoch int
}

// trainer holds the state of one Train call.
type trainer struct {
	opts     Options
	teachers []onlineTeacher // the online teachers, none offline or on hard labels
	// teacherInputs feed the online teacher's named inputs instead of the data, when set.
	teacherInputs []targets.Input
	out           io.Writer
	spec          *student.Spec
	data          *dataset.Dataset
	eval          *dataset.Dataset
	evalX         []float32 // preprocessed eval inputs
	net           *student.Net
	optim         student.Optimizer
	rng           *rand.Rand
	pcg           *rand.PCG
	loss          student.Loss
	soft          []float32 // offline teacher logits [k][N][C]
	softNames     []string  // the class names the soft-target file records
	k             int       // number of teachers (0: hard labels only)
	labels        []int32   // training labels, nil for soft targets alone
	keep          []int     // the indices of the samples trained on; nil: all (no class filter)
	prov          provenance.Record
	inDim         int              // per-sample raw size
	stDim         int              // per-sample student input size
	aug           augment.Pipeline // the augmentations, nil for none
	hints         []trainHint      // the feature-distillation terms, none without
	featSize      []int            // per-sample size of each teacher feature the hints read
	params        []*student.Param // with hints: the network's parameters and the projections
	geom          augment.Geometry // the images' geometry, for aug
}

// Train trains a student as o says: on hard labels, on o.SoftTargets, or with teacher (not nil)
// run online on every batch after augmentation (the caller closes it). It prints one line per
// epoch to out and returns the metrics. hooks run at every epoch after the learning-rate schedule
// and before evaluation, the checkpoint, the report line, the metrics file and the plot (see
// Hook). On ctx cancellation it stops within a batch and returns an error wrapping ctx.Err(); the
// checkpoint then holds the last completed epoch (saved at that epoch's end): the partial epoch
// is dropped, so that a resumed run replays it exactly.
func Train(ctx context.Context, o Options, teacher model.Teacher, out io.Writer, hooks ...Hook) (*Result, error) {
	var teachers []model.Teacher
	if teacher != nil {
		teachers = []model.Teacher{teacher}
	}
	return TrainEnsemble(ctx, o, teachers, out, hooks...)
}

// TrainEnsemble is Train with several online teachers, all run on every augmented batch and
// combined as o.Ensemble says (the mean of their tempered probabilities, or of their logits);
// o.OnlineTeachers describes each, in the same order. With one teacher and no OnlineTeachers it
// is Train.
func TrainEnsemble(ctx context.Context, o Options, teachers []model.Teacher, out io.Writer, hooks ...Hook) (*Result, error) {
	if out == nil {
		out = io.Discard
	}
	if err := o.Validate(len(teachers) > 0); err != nil {
		return nil, err
	}
	t := &trainer{opts: o, out: out}
	if err := t.initTeachers(teachers); err != nil {
		return nil, err
	}
	if err := t.setup(); err != nil {
		return nil, err
	}
	defer func() {
		if t.net != nil {
			t.net.Close()
		}
	}()
	res := &Result{Checkpoint: o.Checkpoint}
	var err error
	var aux []*student.Param
	if o.Resume {
		res.StartEpoch, aux, err = t.resume()
	} else {
		err = t.fresh()
	}
	if err == nil {
		err = t.setupHints(aux)
	}
	if err != nil {
		return nil, err
	}
	l := &Loop{t: t, history: t.history(res.StartEpoch)}
	res.Epochs = l.history
	if res.StartEpoch >= o.Epochs {
		fmt.Fprintf(out, "checkpoint %s is at epoch %d of %d: nothing to do\n", o.Checkpoint, res.StartEpoch, o.Epochs)
		return res, nil
	}
	// Warnings about the teachers (they run the teachers on samples): only for a run that trains.
	t.hintTeachers()
	t.warnAugmentCost(ctx)
	l.attach(scheduleHook(t))
	if t.loss.Kind == "dkd" && t.k > 0 && o.DKDWarmup > 0 {
		l.attach(dkdWarmupHook(t))
	}
	l.attach(hooks...)
	if t.eval != nil {
		l.attach(evalHook(ctx, t))
	}
	l.attach(checkpointHook(t), reportHook(out, t.k > 0))
	if o.Metrics != "" {
		l.attach(metricsHook(o.Metrics))
	}
	if o.Plot != "" {
		l.attach(plotHook(o.Plot))
	}
	l.logStart(res.StartEpoch)
	err = l.run(ctx, res.StartEpoch)
	res.Epochs, res.Eval = l.history, l.last
	return res, err
}

// setup checks the files against each other and loads the data, soft targets and eval set.
func (t *trainer) setup() error {
	o := &t.opts
	if err := checkOutputs(o); err != nil {
		return err
	}
	spec, err := student.LoadSpec(o.Spec)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	t.spec = spec
	if err := t.loadData(); err != nil {
		return err
	}
	t.initProvenance()
	switch {
	case o.SoftTargets != "":
		err = t.loadSoftTargets()
	case len(t.teachers) > 0:
		err = t.setupTeachers()
	case t.labels == nil:
		err = &OptionError{Scope: "train", Option: "Labels", Err: fmt.Errorf("no labels for %s: hard-label training needs labels (or an online teacher or soft targets)", o.Data)}
	}
	if err != nil {
		return err
	}
	if err := t.alignClasses(); err != nil {
		return err
	}
	t.reportSoftTargets()
	if err := t.filterClasses(); err != nil {
		return err
	}
	if err := t.checkMemory(); err != nil {
		return err
	}
	if t.k > 0 && t.labels == nil && o.Alpha != 1 {
		slog.Info("no labels: training on soft targets alone (as alpha = 1)", "data", o.Data)
	}
	if o.Loss == "dkd" && t.k > 0 && t.labels == nil {
		return &OptionError{Scope: "train", Option: "Loss", Err: fmt.Errorf("dkd needs labels, and %s has none", o.Data)}
	}
	t.loss = student.Loss{T: o.Temperature, Alpha: o.Alpha, Kind: o.Loss, Ensemble: o.Ensemble, Standardize: o.StandardizeLogits}
	if o.Loss == "dkd" {
		t.loss.DKDAlpha, t.loss.DKDBeta = o.DKDAlpha, o.DKDBeta
	}
	if t.k == 0 {
		// Hard labels only: T and alpha do not enter the loss.
		t.loss.Alpha, t.prov.Alpha = 0, 0
	}
	if err := t.loss.Validate(); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := t.setupAugment(); err != nil {
		return err
	}
	return t.loadEval()
}

// checkOutputs refuses an existing checkpoint (unless resuming or overwriting), a missing one to
// resume, and outputs in folders that do not exist, so that nothing fails after the first epoch.
func checkOutputs(o *Options) error {
	_, statErr := os.Stat(o.Checkpoint)
	if !o.Resume && !o.Overwrite && statErr == nil {
		return fmt.Errorf("train: %s: %w", o.Checkpoint, ErrCheckpointExists)
	}
	if o.Resume && statErr != nil {
		return fmt.Errorf("train: resume: %w", statErr)
	}
	for _, p := range []string{o.Checkpoint, o.Metrics, o.Plot} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(filepath.Dir(p)); err != nil || !st.IsDir() {
			return fmt.Errorf("train: output %s: directory %s does not exist", p, filepath.Dir(p))
		}
	}
	return nil
}

// loadData loads the training set and checks it against the spec and the preprocessing.
func (t *trainer) loadData() error {
	o := &t.opts
	src := o.Format.Source(o.Data, o.Labels)
	if err := dataset.CheckSourceShape(src, o.Preprocess, t.spec.Input); err != nil {
		return fmt.Errorf("train: student input: %w", err)
	}
	data, err := dataset.Open(src)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	t.data = data
	t.inDim = data.SampleSize()
	// A scale nobody gave is the data's (255 for 8-bit data, 1 for floats); the checkpoint and the
	// log record the one used.
	o.Preprocess, o.TeacherPreprocess = o.Preprocess.ForData(data), o.TeacherPreprocess.ForData(data)
	if o.Preprocess, err = o.Preprocess.ForModel(data.Shape, t.spec.Input); err != nil {
		return fmt.Errorf("train: student input: %w", err)
	}
	if o.Standardize {
		if o.Preprocess, err = dataset.Standardize(data, o.Preprocess); err != nil {
			return fmt.Errorf("train: standardize %s: %w", o.Data, err)
		}
	}
	slog.Info("student preprocessing", "data", o.Data, "dtype", data.DType, "preprocess", o.Preprocess.String())
	// The labels are checked once numbered as the student's classes (alignClasses).
	t.labels = data.Labels
	t.stDim = dataset.NumValues(t.spec.Input)
	if err := o.Preprocess.CheckInput(data.Shape, t.spec.Input); err != nil {
		return fmt.Errorf("train: student input: %w", err)
	}
	// Try the preprocessing on the first sample, so that a bad one fails before training starts.
	if err := o.Preprocess.Apply(data.X[:t.inDim], 1, data.Shape, make([]float32, t.inDim)); err != nil {
		return fmt.Errorf("train: student preprocessing of %s: %w", o.Data, err)
	}
	return nil
}

// initProvenance records the run's inputs and settings.
func (t *trainer) initProvenance() {
	o, data := &t.opts, t.data
	t.prov = provenance.Record{
		Mode: provenance.ModeHard, Data: o.Data, DataSHA256: data.SHA256, DataN: data.N, ClassNames: data.ClassNames,
		Labels: data.LabelsPath, LabelsSHA256: data.LabelsSHA256,
		Temperature: o.Temperature, Alpha: o.Alpha, Loss: o.Loss, Ensemble: o.Ensemble,
		Optimizer: o.Optimizer, LR: o.LR, Schedule: o.Schedule.String(), Batch: o.Batch, Jitter: o.Jitter, Augment: o.Augment, Hints: hintStrings(o.Hints), Seed: o.Seed,
		RunEpochs: o.Epochs, EvalData: o.EvalData, InitFrom: o.InitFrom,
	}
	if o.Optimizer == "sgd" {
		t.prov.Momentum = o.Momentum
	}
	if o.Loss == "dkd" {
		t.prov.DKDAlpha, t.prov.DKDBeta, t.prov.DKDWarmup = &o.DKDAlpha, &o.DKDBeta, o.DKDWarmup
	}
	t.prov.StandardizeLogits = o.StandardizeLogits
}

// setupAugment parses the augmentations (--jitter k is jitter:k) and reads the image geometry
// they need; a vector of features, a shift as large as the image, or a mixing step with a loss
// that needs one label per sample is an error naming the option.
func (t *trainer) setupAugment() error {
	o := &t.opts
	option, list := "Augment", o.Augment
	if o.Jitter != 0 {
		option, list = "Jitter", fmt.Sprintf("jitter:%d", o.Jitter)
	}
	p, err := augment.Parse(list)
	if err != nil {
		return &OptionError{Scope: "train", Option: option, Err: err}
	}
	if len(p) == 0 {
		return nil
	}
	shape := o.Preprocess.InputShape
	if len(shape) == 0 {
		shape = t.spec.Input
	}
	h, w, c, ok := dataset.ImageDimsLayout(t.data.Shape, shape, o.Preprocess.Layout)
	if !ok {
		return &OptionError{Scope: "train", Option: option, Err: fmt.Errorf(
			"needs images: %s has per-sample shape %v and the student's input is %v, a vector of features, which %s would scramble (images are [h w] or [c h w] samples: IDX or NPY images, an image folder; or flat samples with a [c h w] input shape)",
			o.Data, t.data.Shape, shape, p)}
	}
	t.geom = augment.Geometry{H: h, W: w, C: c, Layout: o.Preprocess.Layout}
	if err := p.Check(t.geom); err != nil {
		if o.Jitter != 0 {
			err = errors.Unwrap(err) // "jitter:k: " says again what --jitter k says
		}
		return &OptionError{Scope: "train", Option: option, Err: err}
	}
	if p.Mixes() && o.Loss == "dkd" && t.k > 0 {
		return &OptionError{Scope: "train", Option: option, Err: fmt.Errorf("%s mixes pairs of images, and dkd needs one label per sample: use kl or mse", p)}
	}
	t.aug = p
	return nil
}

// loadEval loads and preprocesses the eval set, if any.
func (t *trainer) loadEval() error {
	o := &t.opts
	if o.EvalData == "" {
		return nil
	}
	ev, err := dataset.Open(o.Format.Source(o.EvalData, o.EvalLabels))
	if err != nil {
		return fmt.Errorf("train: eval: %w", err)
	}
	if ev.Labels == nil {
		opt := "Format.Label" // a CSV file's label column
		if !dataset.IsCSV(o.EvalData) {
			opt = "EvalData" // a flat image folder
		}
		return &OptionError{Scope: "train", Option: opt, Err: fmt.Errorf("eval data %s", ev.Unlabelled())}
	}
	if !reflect.DeepEqual(ev.Shape, t.data.Shape) {
		return fmt.Errorf("train: eval data %s has per-sample shape %v, training data %s has %v", o.EvalData, ev.Shape, o.Data, t.data.Shape)
	}
	if err := t.alignEval(ev); err != nil {
		return err
	}
	if err := ev.CheckLabels(t.spec.Classes); err != nil {
		return fmt.Errorf("train: eval data: student spec %s: %w", o.Spec, err)
	}
	t.eval = ev
	t.evalX = make([]float32, ev.N*t.stDim)
	if err := o.Preprocess.Apply(ev.X, ev.N, ev.Shape, t.evalX); err != nil {
		return fmt.Errorf("train: preprocess eval data %s: %w", o.EvalData, err)
	}
	return nil
}
