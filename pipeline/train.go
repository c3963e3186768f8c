package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/distillgo/distill/student"
)

// Checkpoint metadata keys written by Train and read by Eval. Their values are JSON. They share
// the "distill." prefix of the exported model's metadata (MetaSpec), so export can copy them over
// and Eval finds the preprocessing in a checkpoint and in an exported model alike.
const (
	// MetaPreprocess holds the student's Preprocess.
	MetaPreprocess = "distill.preprocess"
	// MetaProvenance holds a Provenance: how the student was trained and from what.
	MetaProvenance = "distill.provenance"
)

// Training modes recorded in Provenance.Mode.
const (
	ModeHard    = "hard"    // hard labels only (a teacher, or a baseline student)
	ModeOffline = "offline" // soft targets from a file
	ModeOnline  = "online"  // a teacher run on every (augmented) batch
)

// TrainOptions configures Train. DefaultTrainOptions gives the defaults stated beside each field.
type TrainOptions struct {
	// ModelSpec is the student spec JSON (required, also with Resume: the checkpoint's spec must
	// equal it).
	ModelSpec string
	// Data and Labels are the training set (IDX or NPY). Labels may be empty only when training on
	// soft targets alone.
	Data, Labels string
	// EvalData and EvalLabels, when set, are evaluated after every epoch.
	EvalData, EvalLabels string
	// Preprocess is the student's input preprocessing, stored in the checkpoint.
	Preprocess Preprocess

	// SoftTargets is an offline soft-target file made from Data (see CreateTargets). At most one
	// of SoftTargets and Teacher is set; with neither, training uses hard labels only.
	SoftTargets string
	// Teacher is an online teacher run on every batch after augmentation; the caller closes it.
	Teacher Teacher
	// TeacherPath names the teacher model for provenance (its sha256 is recorded).
	TeacherPath string
	// TeacherPreprocess is the online teacher's input preprocessing.
	TeacherPreprocess Preprocess

	// Temperature T of the soft targets (default 20, Hinton et al. 2015 §3 for MNIST).
	Temperature float64
	// Alpha weights the soft loss against the hard one (default 0.7); 1 trains on soft targets alone.
	Alpha float64
	// Loss is "kl" (default) or "mse" (logit matching on zero-meaned logits).
	Loss string
	// Ensemble combines several teachers: "probs" (default: mean tempered probabilities) or "logits".
	Ensemble string

	// Epochs is the total number of epochs (default 10); a resumed run continues up to it.
	Epochs int
	// Batch is the mini-batch size (default 128).
	Batch int
	// LR is the learning rate (default 1e-3).
	LR float64
	// Optimizer is "adam" (default; beta1 0.9, beta2 0.999, eps 1e-8 as in Kingma & Ba 2015) or "sgd".
	Optimizer string
	// Momentum of SGD (default 0.9).
	Momentum float64
	// Jitter shifts each training image by up to Jitter pixels in each direction (default 0),
	// in raw space before either side's preprocessing. It needs image samples and cannot be used
	// with offline soft targets, which were computed on the unshifted images.
	Jitter int
	// Seed seeds weight initialisation, shuffling, jitter and dropout (default 1).
	Seed uint64

	// Out is the checkpoint path (required), saved atomically at the end of every epoch.
	Out string
	// Resume continues the checkpoint at Out up to Epochs. Without it an existing Out is refused
	// unless Overwrite is set.
	Resume bool
	// Overwrite lets a fresh run replace an existing checkpoint at Out (at its first epoch's end).
	Overwrite bool
	// InitFrom initialises the student's weights from an ONNX student exported by this tool.
	InitFrom string
	// Metrics, when set, receives one JSON line per epoch (EpochMetrics), rewritten atomically.
	Metrics string
	// Plot, when set, receives loss and accuracy curves as a PNG after every epoch.
	Plot string
	// Progress, when set, shows a progress bar within each epoch (a terminal).
	Progress io.Writer
}

// DefaultTrainOptions returns TrainOptions with every default filled in.
func DefaultTrainOptions() TrainOptions {
	return TrainOptions{
		Temperature: 20, Alpha: 0.7, Loss: "kl", Ensemble: "probs",
		Epochs: 10, Batch: 128, LR: 1e-3, Optimizer: "adam", Momentum: 0.9, Seed: 1,
	}
}

// Provenance records how a checkpoint was trained; it is stored as JSON under MetaProvenance.
type Provenance struct {
	Mode              string          `json:"mode"`                          // ModeHard, ModeOffline or ModeOnline
	Data              string          `json:"data"`                          // training data file, as given
	DataSHA256        string          `json:"data_sha256"`                   // its sha256 as stored
	DataN             int             `json:"data_n"`                        // its number of samples
	Labels            string          `json:"labels,omitempty"`              // labels file, if any
	LabelsSHA256      string          `json:"labels_sha256,omitempty"`       // its sha256
	Teacher           string          `json:"teacher,omitempty"`             // online teacher model, if any
	TeacherSHA256     string          `json:"teacher_sha256,omitempty"`      // its sha256
	TeacherPreprocess *Preprocess     `json:"teacher_preprocess,omitempty"`  // its preprocessing
	SoftTargets       string          `json:"soft_targets,omitempty"`        // offline soft-target file, if any
	SoftTargetsSHA256 string          `json:"soft_targets_sha256,omitempty"` // its sha256
	Teachers          json.RawMessage `json:"teachers,omitempty"`            // the soft-target file's teacher list
	Temperature       float64         `json:"temperature"`                   // TrainOptions.Temperature
	Alpha             float64         `json:"alpha"`                         // TrainOptions.Alpha
	Loss              string          `json:"loss"`                          // TrainOptions.Loss
	Ensemble          string          `json:"ensemble,omitempty"`            // TrainOptions.Ensemble
	Optimizer         string          `json:"optimizer"`                     // TrainOptions.Optimizer
	LR                float64         `json:"lr"`                            // TrainOptions.LR
	Momentum          float64         `json:"momentum,omitempty"`            // TrainOptions.Momentum (sgd)
	Batch             int             `json:"batch"`                         // TrainOptions.Batch
	Jitter            int             `json:"jitter"`                        // TrainOptions.Jitter
	Seed              uint64          `json:"seed"`                          // TrainOptions.Seed
	Epochs            int             `json:"epochs"`                        // epochs completed
	EvalData          string          `json:"eval_data,omitempty"`           // evaluation data file, if any
	EvalAccuracy      *float64        `json:"eval_accuracy,omitempty"`       // accuracy on it after the last epoch
	InitFrom          string          `json:"init_from,omitempty"`           // ONNX student the weights started from
}

// TrainResult is what Train did.
type TrainResult struct {
	// Epochs holds the metrics of every epoch of the checkpoint, resumed ones included.
	Epochs []EpochMetrics
	// Eval is the final eval-set classification, nil without eval data.
	Eval *Classification
	// Checkpoint is the path written.
	Checkpoint string
	// StartEpoch is the epoch training started after (0, or the resumed checkpoint's).
	StartEpoch int
}

// ErrCheckpointExists is returned (wrapped) when Out exists and neither Resume nor Overwrite is set.
var ErrCheckpointExists = errors.New("checkpoint exists")

// trainer holds the state of one Train call.
type trainer struct {
	opts   TrainOptions
	out    io.Writer
	spec   *student.Spec
	data   *Dataset
	eval   *Dataset
	evalX  []float32 // preprocessed eval inputs
	evalT  []float32 // online teacher logits on the eval set, for agreement
	net    *student.Net
	optim  student.Optimizer
	rng    *rand.Rand
	pcg    *rand.PCG
	loss   student.Loss
	soft   []float32 // offline teacher logits [k][N][C]
	k      int       // number of teachers (0: hard labels only)
	labels []int32   // training labels, nil for soft targets alone
	prov   Provenance
	inDim  int // per-sample raw size
	stDim  int // per-sample student input size
	teDim  int // per-sample teacher input size
	h, w   int // image dims for jitter
	ch     int
}

// Train trains a student as opts says, printing one line per epoch to out, and returns the metrics.
// On ctx cancellation it stops within a batch and returns an error wrapping ctx.Err(); the
// checkpoint at Out then holds the last completed epoch (saved at that epoch's end): the partial
// epoch is dropped, so that --resume replays it exactly.
func Train(ctx context.Context, opts TrainOptions, out io.Writer) (*TrainResult, error) {
	if out == nil {
		out = io.Discard
	}
	t := &trainer{opts: opts, out: out}
	if err := t.setup(); err != nil {
		return nil, err
	}
	defer func() {
		if t.net != nil {
			t.net.Close()
		}
	}()
	return t.run(ctx)
}

func (t *trainer) setup() error {
	o := &t.opts
	if o.Out == "" {
		return errors.New("train: no checkpoint path (--out)")
	}
	if o.ModelSpec == "" {
		return errors.New("train: no student spec (--model)")
	}
	if o.SoftTargets != "" && o.Teacher != nil {
		return errors.New("train: both soft targets and an online teacher: choose one")
	}
	if o.Epochs < 1 {
		return fmt.Errorf("train: epochs %d must be at least 1", o.Epochs)
	}
	if o.Batch < 1 {
		return fmt.Errorf("train: batch %d must be at least 1", o.Batch)
	}
	if !(o.LR > 0) || math.IsInf(o.LR, 0) {
		return fmt.Errorf("train: learning rate %v must be positive", o.LR)
	}
	if o.Jitter < 0 {
		return fmt.Errorf("train: jitter %d must not be negative", o.Jitter)
	}
	if o.Jitter > 0 && o.SoftTargets != "" {
		return fmt.Errorf("train: --jitter %d with offline soft targets %s: the file holds the teacher's outputs for the unshifted images; use an online --teacher to augment", o.Jitter, o.SoftTargets)
	}
	if (o.EvalData == "") != (o.EvalLabels == "") {
		return errors.New("train: eval data and eval labels go together")
	}
	switch o.Optimizer {
	case "adam", "sgd":
	default:
		return fmt.Errorf("train: unknown optimizer %q (want adam or sgd)", o.Optimizer)
	}
	if !o.Resume && !o.Overwrite {
		if _, err := os.Stat(o.Out); err == nil {
			return fmt.Errorf("train: %s: %w: pass --resume to continue it, or remove it", o.Out, ErrCheckpointExists)
		}
	}
	if o.Resume {
		if _, err := os.Stat(o.Out); err != nil {
			return fmt.Errorf("train: resume: %w", err)
		}
	}
	// Fail now, not after the first epoch, when an output cannot be written.
	for _, p := range []string{o.Out, o.Metrics, o.Plot} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(filepath.Dir(p)); err != nil || !st.IsDir() {
			return fmt.Errorf("train: output %s: directory %s does not exist", p, filepath.Dir(p))
		}
	}

	spec, err := student.LoadSpec(o.ModelSpec)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	t.spec = spec

	data, err := LoadDataset(o.Data, o.Labels)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if data.N == 0 {
		return fmt.Errorf("train: data %s is empty", o.Data)
	}
	t.data = data
	t.inDim = prod(data.Shape)
	if err := checkLabels(data, spec.Classes, "student spec "+o.ModelSpec); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	t.labels = data.Labels
	t.stDim = prod(spec.Input)
	if err := checkInput(o.Preprocess, data.Shape, spec.Input); err != nil {
		return fmt.Errorf("train: student input: %w", err)
	}
	// Try the preprocessing on the first sample, so that a bad one fails before training starts.
	if err := o.Preprocess.Apply(data.X[:t.inDim], 1, data.Shape, make([]float32, t.inDim)); err != nil {
		return fmt.Errorf("train: student preprocessing of %s: %w", o.Data, err)
	}

	t.prov = Provenance{
		Mode: ModeHard, Data: o.Data, DataSHA256: data.SHA256, DataN: data.N,
		Labels: data.LabelsPath, LabelsSHA256: data.LabelsSHA256,
		Temperature: o.Temperature, Alpha: o.Alpha, Loss: o.Loss, Ensemble: o.Ensemble,
		Optimizer: o.Optimizer, LR: o.LR, Batch: o.Batch, Jitter: o.Jitter, Seed: o.Seed,
		EvalData: o.EvalData, InitFrom: o.InitFrom,
	}
	if o.Optimizer == "sgd" {
		t.prov.Momentum = o.Momentum
	}

	switch {
	case o.SoftTargets != "":
		if err := t.loadSoftTargets(); err != nil {
			return err
		}
	case o.Teacher != nil:
		if err := t.setupTeacher(); err != nil {
			return err
		}
	default:
		if t.labels == nil {
			return fmt.Errorf("train: no labels for %s: hard-label training needs --labels (or give a --teacher or --soft-targets)", o.Data)
		}
	}
	if t.k > 0 && t.labels == nil && o.Alpha != 1 {
		slog.Info("no labels: training on soft targets alone (as alpha = 1)", "data", o.Data)
	}
	t.loss = student.Loss{T: o.Temperature, Alpha: o.Alpha, Kind: o.Loss, Ensemble: o.Ensemble}
	if t.k == 0 {
		// Hard labels only: T and alpha do not enter the loss.
		t.loss.Alpha, t.prov.Alpha = 0, 0
	}
	if err := t.loss.Validate(); err != nil {
		return fmt.Errorf("train: %w", err)
	}

	if o.Jitter > 0 {
		model := o.Preprocess.InputShape
		if len(model) == 0 {
			model = spec.Input
		}
		h, w, c, ok := imageDims(data.Shape, model)
		if !ok {
			return fmt.Errorf("train: --jitter needs image samples ([h w], [c h w], or flat with a [c h w] --input-shape); %s has per-sample shape %v", o.Data, data.Shape)
		}
		t.h, t.w, t.ch = h, w, c
	}

	if o.EvalData != "" {
		ev, err := LoadDataset(o.EvalData, o.EvalLabels)
		if err != nil {
			return fmt.Errorf("train: eval: %w", err)
		}
		if ev.N == 0 {
			return fmt.Errorf("train: eval data %s is empty", o.EvalData)
		}
		if !reflect.DeepEqual(ev.Shape, data.Shape) {
			return fmt.Errorf("train: eval data %s has per-sample shape %v, training data %s has %v", o.EvalData, ev.Shape, o.Data, data.Shape)
		}
		if err := checkLabels(ev, spec.Classes, "student spec "+o.ModelSpec); err != nil {
			return fmt.Errorf("train: eval: %w", err)
		}
		t.eval = ev
		t.evalX = make([]float32, ev.N*t.stDim)
		if err := o.Preprocess.Apply(ev.X, ev.N, ev.Shape, t.evalX); err != nil {
			return fmt.Errorf("train: preprocess eval data %s: %w", o.EvalData, err)
		}
	}
	return nil
}

// loadSoftTargets reads an offline soft-target file and checks it against the data and the spec.
func (t *trainer) loadSoftTargets() error {
	o := &t.opts
	st, err := OpenTargets(o.SoftTargets)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	defer st.Close()
	if err := st.CheckData(t.data); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := st.CheckClasses(t.spec.Classes); err != nil {
		return fmt.Errorf("train: %w (student spec %s)", err, o.ModelSpec)
	}
	logits, err := st.Logits()
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	k := st.K
	if len(logits) != k*st.N*st.Classes {
		return fmt.Errorf("train: soft targets %s: %d logits for %d teachers × %d samples × %d classes", o.SoftTargets, len(logits), k, st.N, st.Classes)
	}
	for i, v := range logits {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			j := i / st.Classes
			return fmt.Errorf("train: soft targets %s: teacher %d, sample %d: logit %d is %v", o.SoftTargets, j/st.N, j%st.N, i%st.Classes, v)
		}
	}
	sum, err := FileSHA256(o.SoftTargets)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	t.soft, t.k = logits, k
	t.prov.Mode = ModeOffline
	t.prov.SoftTargets, t.prov.SoftTargetsSHA256 = o.SoftTargets, sum
	if st.TeachersJSON != "" {
		t.prov.Teachers = json.RawMessage(st.TeachersJSON)
	}
	slog.Info("offline soft targets", "path", o.SoftTargets, "teachers", k, "n", st.N, "classes", st.Classes)
	if t.labels != nil {
		// The teachers' accuracy on the transfer set, a first diagnostic when distillation disappoints.
		size := st.N * st.Classes
		for j := range k {
			if m, err := Classify(logits[j*size:(j+1)*size], st.N, st.Classes, t.labels); err == nil {
				fmt.Fprintf(t.out, "teacher %d of %d on the transfer set: accuracy %.2f%% (%d errors)\n", j+1, k, 100*m.Accuracy, m.Errors)
			}
		}
	}
	return nil
}

// setupTeacher checks an online teacher against the spec and the data.
func (t *trainer) setupTeacher() error {
	o := &t.opts
	if c := o.Teacher.Classes(); c != t.spec.Classes {
		return fmt.Errorf("train: teacher %s has %d classes, but student spec %s has %d", o.TeacherPath, c, o.ModelSpec, t.spec.Classes)
	}
	tp := o.TeacherPreprocess
	t.teDim = t.inDim
	if len(tp.InputShape) > 0 {
		t.teDim = prod(tp.InputShape)
	}
	if err := checkInput(tp, t.data.Shape, nil); err != nil {
		return fmt.Errorf("train: teacher input: %w", err)
	}
	if err := tp.Apply(t.data.X[:t.inDim], 1, t.data.Shape, make([]float32, t.inDim)); err != nil {
		return fmt.Errorf("train: teacher preprocessing of %s: %w", o.Data, err)
	}
	t.k = 1
	t.prov.Mode = ModeOnline
	t.prov.Teacher = o.TeacherPath
	t.prov.TeacherPreprocess = &tp
	if o.TeacherPath != "" {
		sum, err := FileSHA256(o.TeacherPath)
		if err != nil {
			return fmt.Errorf("train: %w", err)
		}
		t.prov.TeacherSHA256 = sum
	}
	return nil
}

// run is the epoch loop.
func (t *trainer) run(ctx context.Context) (*TrainResult, error) {
	o := &t.opts
	res := &TrainResult{Checkpoint: o.Out}
	var err error
	if o.Resume {
		res.StartEpoch, err = t.resume()
	} else {
		err = t.fresh()
	}
	if err != nil {
		return nil, err
	}
	res.Epochs = t.history(res.StartEpoch)
	if res.StartEpoch >= o.Epochs {
		fmt.Fprintf(t.out, "checkpoint %s is at epoch %d of %d: nothing to do\n", o.Out, res.StartEpoch, o.Epochs)
		return res, nil
	}
	if t.eval != nil && o.Teacher != nil {
		if err := t.teacherEval(ctx); err != nil {
			return nil, err
		}
	}
	slog.Info("train", "mode", t.prov.Mode, "spec", o.ModelSpec, "n", t.data.N, "epochs", o.Epochs,
		"from_epoch", res.StartEpoch, "batch", o.Batch, "optimizer", o.Optimizer, "lr", o.LR,
		"temperature", o.Temperature, "alpha", t.loss.Alpha, "loss", o.Loss, "jitter", o.Jitter)

	for epoch := res.StartEpoch + 1; epoch <= o.Epochs; epoch++ {
		m, ev, err := t.epoch(ctx, epoch)
		if err != nil {
			if ctx.Err() != nil {
				if epoch-1 == 0 {
					return res, fmt.Errorf("train: interrupted in epoch 1; no checkpoint written: %w", ctx.Err())
				}
				return res, fmt.Errorf("train: interrupted in epoch %d; %s holds epoch %d: %w", epoch, o.Out, epoch-1, ctx.Err())
			}
			return res, err
		}
		res.Epochs = append(res.Epochs, *m)
		res.Eval = ev
		if err := t.save(epoch, ev); err != nil {
			return res, err
		}
		t.report(m)
		if o.Metrics != "" {
			if err := WriteMetricsFile(o.Metrics, res.Epochs); err != nil {
				return res, fmt.Errorf("train: %w", err)
			}
		}
		if o.Plot != "" {
			if err := PlotCurves(o.Plot, res.Epochs); err != nil {
				return res, fmt.Errorf("train: %w", err)
			}
		}
	}
	return res, nil
}

// fresh builds a new network (seeded, or from InitFrom) and optimiser.
func (t *trainer) fresh() error {
	o := &t.opts
	net, err := student.NewNet(t.spec, o.Seed)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	t.net = net
	if o.InitFrom != "" {
		if err := initFrom(net, o.InitFrom); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	t.optim = t.newOptimizer()
	// The training stream is seeded apart from the weight initialisation, which uses Seed itself.
	t.pcg = rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15)
	t.rng = rand.New(t.pcg)
	return nil
}

// initFrom copies the weights of a student ONNX model exported by this tool into net; every
// parameter must be there with the same shape (dropout rates and names may differ).
func initFrom(net *student.Net, path string) error {
	src, err := ImportStudent(path)
	if err != nil {
		return fmt.Errorf("init from %s: %w", path, err)
	}
	defer src.Close()
	shapes := map[string][]int{}
	for _, p := range src.Params() {
		shapes[p.Name] = p.Shape
	}
	for _, p := range net.Params() {
		if got, ok := shapes[p.Name]; !ok || !slices.Equal(got, p.Shape) {
			return fmt.Errorf("init from %s: the spec needs %s shaped %v, the model has %v (%s)", path, p.Name, p.Shape, got, student.DescribeSpec(src.Spec()))
		}
	}
	if err := net.LoadParams(src.ParamValues()); err != nil {
		return fmt.Errorf("init from %s: %w", path, err)
	}
	return nil
}

func (t *trainer) newOptimizer() student.Optimizer {
	if t.opts.Optimizer == "sgd" {
		return student.NewSGD(t.opts.LR, t.opts.Momentum)
	}
	// Kingma & Ba 2015 defaults.
	return student.NewAdam(t.opts.LR, 0.9, 0.999, 1e-8)
}

// resume restores the network, optimiser and RNG from the checkpoint at Out and returns its epoch.
func (t *trainer) resume() (int, error) {
	o := &t.opts
	ck, err := student.LoadCheckpoint(o.Out)
	if err != nil {
		return 0, fmt.Errorf("train: resume: %w", err)
	}
	if !student.SameArchitecture(ck.Spec, t.spec) {
		return 0, fmt.Errorf("train: resume: checkpoint %s was trained with another spec than %s: checkpoint %s, --model %s", o.Out, o.ModelSpec, student.DescribeSpec(ck.Spec), student.DescribeSpec(t.spec))
	}
	if raw, ok := ck.Meta[MetaProvenance]; ok {
		var p Provenance
		if err := json.Unmarshal([]byte(raw), &p); err == nil && p.DataSHA256 != "" && p.DataSHA256 != t.data.SHA256 {
			slog.Warn("resume: the checkpoint was trained on other data", "checkpoint", o.Out, "was", p.Data, "was_sha256", p.DataSHA256, "now", o.Data, "now_sha256", t.data.SHA256)
		}
		// Continuing with another teacher would not be the run the checkpoint belongs to.
		if was, now := teacherSHAs(p), teacherSHAs(t.prov); p.Mode != "" && !slices.Equal(was, now) {
			source := "no teacher (hard labels)"
			switch {
			case o.SoftTargets != "":
				source = fmt.Sprintf("--soft-targets %s comes from teacher(s) %v", o.SoftTargets, now)
			case o.TeacherPath != "":
				source = fmt.Sprintf("--teacher %s has sha256 %v", o.TeacherPath, now)
			}
			return 0, fmt.Errorf("train: resume: checkpoint %s was trained (%s) with teacher(s) %v, but %s", o.Out, p.Mode, was, source)
		}
	}
	if raw, ok := ck.Meta[MetaPreprocess]; ok {
		var p Preprocess
		if err := json.Unmarshal([]byte(raw), &p); err == nil && !reflect.DeepEqual(normPre(p), normPre(o.Preprocess)) {
			return 0, fmt.Errorf("train: resume: checkpoint %s was trained with preprocessing %s; the flags give %s", o.Out, raw, mustJSON(o.Preprocess))
		}
	}
	if ck.OptimizerName != "" && ck.OptimizerName != o.Optimizer {
		return 0, fmt.Errorf("train: resume: checkpoint %s was trained with optimizer %s, not --optimizer %s", o.Out, ck.OptimizerName, o.Optimizer)
	}
	net, err := student.NewNet(t.spec, o.Seed)
	if err != nil {
		return 0, fmt.Errorf("train: %w", err)
	}
	t.net = net
	if err := net.LoadParams(ck.Params); err != nil {
		return 0, fmt.Errorf("train: resume %s: %w", o.Out, err)
	}
	t.optim = t.newOptimizer()
	if err := t.optim.SetState(ck.Optimizer); err != nil {
		return 0, fmt.Errorf("train: resume %s: optimizer state: %w", o.Out, err)
	}
	t.pcg = &rand.PCG{}
	if err := t.pcg.UnmarshalBinary(ck.RNG); err != nil {
		return 0, fmt.Errorf("train: resume %s: rng state: %w", o.Out, err)
	}
	t.rng = rand.New(t.pcg)
	slog.Info("resumed", "checkpoint", o.Out, "epoch", ck.Epoch)
	return ck.Epoch, nil
}

// history returns the metrics of epochs 1..upto from an existing metrics file, if any.
func (t *trainer) history(upto int) []EpochMetrics {
	if t.opts.Metrics == "" || upto == 0 {
		return nil
	}
	f, err := os.Open(t.opts.Metrics)
	if err != nil {
		return nil
	}
	defer f.Close()
	recs, err := ReadMetrics(f)
	if err != nil {
		slog.Warn("resume: ignoring unreadable metrics file", "path", t.opts.Metrics, "err", err)
		return nil
	}
	var keep []EpochMetrics
	for _, r := range recs {
		if r.Epoch >= 1 && r.Epoch <= upto && (len(keep) == 0 || r.Epoch > keep[len(keep)-1].Epoch) {
			keep = append(keep, r)
		}
	}
	return keep
}

// teacherEval runs the online teacher once over the eval set, for agreement.
func (t *trainer) teacherEval(ctx context.Context) error {
	ev := t.eval
	x := make([]float32, ev.N*t.teDim)
	if err := t.opts.TeacherPreprocess.Apply(ev.X, ev.N, ev.Shape, x); err != nil {
		return fmt.Errorf("train: teacher preprocess eval data %s: %w", t.opts.EvalData, err)
	}
	logits, err := t.opts.Teacher.Logits(ctx, x, ev.N)
	if err != nil {
		return fmt.Errorf("train: teacher on eval data %s: %w", t.opts.EvalData, err)
	}
	if err := checkFinite(logits, ev.N, t.spec.Classes, nil, "teacher output on eval data "+t.opts.EvalData); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	m, err := Classify(logits, ev.N, t.spec.Classes, ev.Labels)
	if err != nil {
		return fmt.Errorf("train: teacher on eval data: %w", err)
	}
	fmt.Fprintf(t.out, "teacher on the eval set: accuracy %.2f%% (%d errors)\n", 100*m.Accuracy, m.Errors)
	t.evalT = logits
	return nil
}

// batch is one prepared mini-batch.
type batch struct {
	idx     []int
	gather  []float32 // gathered raw samples, before jitter
	raw     []float32 // gathered, jittered raw samples
	x       []float32 // student inputs
	tx      []float32 // online teacher inputs
	teacher []float32 // teacher logits [k][n][C]
	labels  []int32
	n       int
	err     error
}

// epoch runs one epoch: a seeded permutation, batches prepared (and the online teacher run) one
// ahead in a goroutine, the student's steps, then evaluation.
func (t *trainer) epoch(ctx context.Context, epoch int) (*EpochMetrics, *Classification, error) {
	o := &t.opts
	N, C := t.data.N, t.spec.Classes
	start := time.Now()
	perm := t.rng.Perm(N)
	// Separate streams for jitter (used in the producer goroutine) and dropout (in the steps),
	// drawn from the main stream so that the epoch depends only on its state at the epoch start.
	jit := rand.New(rand.NewPCG(t.rng.Uint64(), t.rng.Uint64()))
	drop := rand.New(rand.NewPCG(t.rng.Uint64(), t.rng.Uint64()))

	ctx, cancel := context.WithCancel(ctx)
	const nbuf = 3 // one being filled, one waiting, one in the step
	free := make(chan *batch, nbuf)
	for range nbuf {
		free <- t.newBatch()
	}
	ready := make(chan *batch, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(ready)
		for s := 0; s < N; s += o.Batch {
			var b *batch
			select {
			case b = <-free:
			case <-ctx.Done():
				return
			}
			t.fill(ctx, b, perm[s:min(s+o.Batch, N)], jit)
			select {
			case ready <- b:
			case <-ctx.Done():
				return
			}
			if b.err != nil {
				return
			}
		}
	})
	defer func() { cancel(); wg.Wait() }()

	var bar *progressbar.ProgressBar
	if o.Progress != nil {
		bar = progressbar.NewOptions(N, progressbar.OptionSetWriter(o.Progress),
			progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, o.Epochs)),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("samples"),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	var sumLoss, sumSoft, sumHard float64
	seen := 0
	for b := range ready {
		if b.err != nil {
			cancel()
			return nil, nil, b.err
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		var teacher []float32
		if t.k > 0 {
			teacher = b.teacher[:t.k*b.n*C]
		}
		var labels []int32
		if t.labels != nil {
			labels = b.labels[:b.n]
		}
		var parts student.LossParts
		lossFn := func(z []float32, n, c int, dz []float32) float32 {
			parts = t.loss.Parts(z, n, c, dz, teacher, t.k, labels)
			return float32(parts.Total)
		}
		l, err := t.net.TrainStep(b.x[:b.n*t.stDim], b.n, drop, lossFn)
		if err != nil {
			cancel()
			return nil, nil, fmt.Errorf("train: epoch %d: %w", epoch, err)
		}
		if math.IsNaN(float64(l)) || math.IsInf(float64(l), 0) {
			cancel()
			return nil, nil, fmt.Errorf("train: epoch %d: loss is %v after %d samples (lower --lr?)", epoch, l, seen)
		}
		t.optim.Step(t.net.Params())
		sumLoss += parts.Total * float64(b.n)
		sumSoft += parts.Soft * float64(b.n)
		sumHard += parts.Hard * float64(b.n)
		seen += b.n
		if bar != nil {
			bar.Add(b.n)
		}
		free <- b
	}
	if bar != nil {
		bar.Finish()
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if seen != N {
		return nil, nil, fmt.Errorf("train: epoch %d: trained on %d of %d samples", epoch, seen, N)
	}
	secs := time.Since(start).Seconds()
	m := &EpochMetrics{
		Epoch: epoch, Loss: sumLoss / float64(N), SoftLoss: sumSoft / float64(N), HardLoss: sumHard / float64(N),
		SamplesPerSec: float64(N) / secs, Seconds: secs,
	}
	var ev *Classification
	if t.eval != nil {
		logits, err := t.forward(t.evalX, t.eval.N)
		if err != nil {
			return nil, nil, fmt.Errorf("train: epoch %d: eval: %w", epoch, err)
		}
		ev, err = Classify(logits, t.eval.N, C, t.eval.Labels)
		if err != nil {
			return nil, nil, fmt.Errorf("train: epoch %d: eval %s: %w", epoch, o.EvalData, err)
		}
		m.EvalLoss, m.EvalAccuracy, m.EvalErrors = &ev.MeanNLL, &ev.Accuracy, &ev.Errors
		if t.evalT != nil {
			a, err := Agreement(logits, t.evalT, t.eval.N, C)
			if err == nil {
				m.Agreement = &a
			}
		}
	}
	return m, ev, nil
}

func (t *trainer) newBatch() *batch {
	B, C := t.opts.Batch, t.spec.Classes
	b := &batch{idx: make([]int, B), raw: make([]float32, B*t.inDim), x: make([]float32, B*t.stDim)}
	if t.opts.Jitter > 0 {
		b.gather = make([]float32, B*t.inDim)
	}
	if t.k > 0 {
		b.teacher = make([]float32, t.k*B*C)
	}
	if t.opts.Teacher != nil {
		b.tx = make([]float32, B*t.teDim)
	}
	if t.labels != nil {
		b.labels = make([]int32, B)
	}
	return b
}

// fill gathers the samples idx into b: raw values (jittered), both sides' preprocessing, labels,
// and the teacher's logits (from the file, or by running the online teacher).
func (t *trainer) fill(ctx context.Context, b *batch, idx []int, jit *rand.Rand) {
	n, D, C := len(idx), t.inDim, t.spec.Classes
	b.n = n
	copy(b.idx, idx)
	raw := b.raw[:n*D]
	gather := raw
	if t.opts.Jitter > 0 {
		gather = b.gather[:n*D]
	}
	for j, i := range idx {
		copy(gather[j*D:(j+1)*D], t.data.X[i*D:(i+1)*D])
		if t.labels != nil {
			b.labels[j] = t.labels[i]
		}
	}
	if t.opts.Jitter > 0 {
		Jitter(raw, gather, n, t.h, t.w, t.ch, t.opts.Jitter, jit)
	}
	if err := t.opts.Preprocess.Apply(raw, n, t.data.Shape, b.x[:n*t.stDim]); err != nil {
		b.err = fmt.Errorf("train: preprocess %s: %w", t.opts.Data, err)
		return
	}
	switch {
	case t.soft != nil:
		N := t.data.N
		for k := range t.k {
			for j, i := range idx {
				copy(b.teacher[(k*n+j)*C:(k*n+j+1)*C], t.soft[(k*N+i)*C:(k*N+i+1)*C])
			}
		}
	case t.opts.Teacher != nil:
		tx := b.tx[:n*t.teDim]
		if err := t.opts.TeacherPreprocess.Apply(raw, n, t.data.Shape, tx); err != nil {
			b.err = fmt.Errorf("train: teacher preprocess %s: %w", t.opts.Data, err)
			return
		}
		logits, err := t.opts.Teacher.Logits(ctx, tx, n)
		if err != nil {
			b.err = fmt.Errorf("train: teacher %s: %w", t.opts.TeacherPath, err)
			return
		}
		if len(logits) != n*C {
			b.err = fmt.Errorf("train: teacher %s returned %d logits for %d samples of %d classes", t.opts.TeacherPath, len(logits), n, C)
			return
		}
		if err := checkFinite(logits, n, C, idx, "teacher "+t.opts.TeacherPath+" output"); err != nil {
			b.err = fmt.Errorf("train: %w", err)
			return
		}
		copy(b.teacher, logits)
	}
}

// forward runs the student over n preprocessed samples in batches and returns the logits.
func (t *trainer) forward(x []float32, n int) ([]float32, error) {
	return forwardBatched(t.net, x, n, t.stDim, t.spec.Classes, t.opts.Batch)
}

func forwardBatched(net *student.Net, x []float32, n, dim, classes, batch int) ([]float32, error) {
	out := make([]float32, 0, n*classes)
	for s := 0; s < n; s += batch {
		e := min(s+batch, n)
		z, err := net.Forward(x[s*dim:e*dim], e-s)
		if err != nil {
			return nil, err
		}
		out = append(out, z...)
	}
	return out, nil
}

// save writes the checkpoint for a completed epoch atomically.
func (t *trainer) save(epoch int, ev *Classification) error {
	rngState, err := t.pcg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("train: save rng state: %w", err)
	}
	params := make(map[string][]float32)
	for _, p := range t.net.Params() {
		params[p.Name] = p.Value
	}
	t.prov.Epochs = epoch
	if ev != nil {
		a := ev.Accuracy
		t.prov.EvalAccuracy = &a
	}
	ck := &student.Checkpoint{
		Spec: t.spec, Params: params, Optimizer: t.optim.State(), OptimizerName: t.optim.Name(),
		OptimizerHyper: t.optim.Hyper(), Epoch: epoch, RNG: rngState,
		Meta: map[string]string{MetaPreprocess: mustJSON(t.opts.Preprocess), MetaProvenance: mustJSON(t.prov)},
	}
	if err := student.SaveCheckpoint(t.opts.Out, ck); err != nil {
		return fmt.Errorf("train: save checkpoint: %w", err)
	}
	return nil
}

// report prints and logs one epoch's metrics.
func (t *trainer) report(m *EpochMetrics) {
	line := fmt.Sprintf("epoch %d/%d  loss %.4f", m.Epoch, t.opts.Epochs, m.Loss)
	if t.k > 0 {
		line += fmt.Sprintf(" (soft %.4f, hard %.4f)", m.SoftLoss, m.HardLoss)
	}
	attrs := []any{"epoch", m.Epoch, "loss", m.Loss, "soft_loss", m.SoftLoss, "hard_loss", m.HardLoss,
		"samples_per_sec", m.SamplesPerSec}
	if m.EvalAccuracy != nil {
		line += fmt.Sprintf("  eval loss %.4f acc %.2f%% (%d errors)", *m.EvalLoss, 100**m.EvalAccuracy, *m.EvalErrors)
		attrs = append(attrs, "eval_loss", *m.EvalLoss, "eval_accuracy", *m.EvalAccuracy)
	}
	if m.Agreement != nil {
		line += fmt.Sprintf(" agree %.2f%%", 100**m.Agreement)
		attrs = append(attrs, "eval_agreement", *m.Agreement)
	}
	line += fmt.Sprintf("  %.0f samples/s", m.SamplesPerSec)
	fmt.Fprintln(t.out, line)
	slog.Info("epoch", attrs...)
}

// checkLabels checks that labels, when present, are within [0, classes).
func checkLabels(d *Dataset, classes int, what string) error {
	if d.Labels == nil {
		return nil
	}
	if len(d.Labels) != d.N {
		return fmt.Errorf("labels %s: %d labels for %d samples in %s", d.LabelsPath, len(d.Labels), d.N, d.Path)
	}
	for i, y := range d.Labels {
		if y < 0 || int(y) >= classes {
			return fmt.Errorf("labels %s: sample %d has label %d, outside the %d classes of %s", d.LabelsPath, i, y, classes, what)
		}
	}
	return nil
}

// checkFinite returns an error naming the first sample whose logits hold NaN or Inf. idx maps batch
// rows to dataset indices (nil: the row is the index).
func checkFinite(logits []float32, n, c int, idx []int, what string) error {
	for r := range n {
		for j := range c {
			v := float64(logits[r*c+j])
			if math.IsNaN(v) || math.IsInf(v, 0) {
				i := r
				if idx != nil {
					i = idx[r]
				}
				return fmt.Errorf("%s: sample %d: logit %d is %v", what, i, j, logits[r*c+j])
			}
		}
	}
	return nil
}

// checkInput checks that preprocessing maps the per-sample data shape to the model's input size.
// want nil skips the size comparison (teachers check their own input).
func checkInput(p Preprocess, dataShape, want []int) error {
	got := dataShape
	if len(p.InputShape) > 0 {
		if prod(p.InputShape) != prod(dataShape) {
			return fmt.Errorf("input shape %v holds %d values, but samples of shape %v hold %d", p.InputShape, prod(p.InputShape), dataShape, prod(dataShape))
		}
		got = p.InputShape
	}
	if want != nil && prod(got) != prod(want) {
		return fmt.Errorf("samples of shape %v hold %d values, but the model's input %v needs %d", got, prod(got), want, prod(want))
	}
	return nil
}

// imageDims reads image height, width and channels from a per-sample shape, channel-major as
// Jitter wants it: [h w], [c h w], or a flat [h*w] sample laid out as the model's input shape
// modelShape ([c h w] or [h w]) says, else as a square single-channel image (784 = 28x28).
func imageDims(shape, modelShape []int) (h, w, c int, ok bool) {
	switch len(shape) {
	case 2:
		return shape[0], shape[1], 1, true
	case 3:
		return shape[1], shape[2], shape[0], true
	case 1:
		if prod(modelShape) == shape[0] && (len(modelShape) == 2 || len(modelShape) == 3) {
			return imageDims(modelShape, nil)
		}
		s := int(math.Round(math.Sqrt(float64(shape[0]))))
		if s > 1 && s*s == shape[0] {
			return s, s, 1, true
		}
	}
	return 0, 0, 0, false
}

func prod(s []int) int {
	p := 1
	for _, v := range s {
		p *= v
	}
	return p
}

// normPre writes the defaults the same way: scale 0 as 1, a mean of [0] or [] as nil, a std of
// [1] or [] as nil, an empty input shape as nil.
func normPre(p Preprocess) Preprocess {
	if p.Scale == 0 {
		p.Scale = 1
	}
	if len(p.Mean) == 0 || (len(p.Mean) == 1 && p.Mean[0] == 0) {
		p.Mean = nil
	}
	if len(p.Std) == 0 || (len(p.Std) == 1 && p.Std[0] == 1) {
		p.Std = nil
	}
	if len(p.InputShape) == 0 {
		p.InputShape = nil
	}
	return p
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", v, err))
	}
	return string(b)
}

// FileSHA256 returns the hex sha256 of a file's bytes, as recorded in provenance metadata.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// teacherSHAs lists the sha256 of the teachers a run learnt from: the online teacher's, or those
// recorded in the offline soft-target file (empty entries left out); nil for hard labels. Export
// records them as MetaTeacherSHA256; --resume refuses a run whose teachers differ.
func teacherSHAs(p Provenance) []string {
	var out []string
	if p.TeacherSHA256 != "" {
		out = append(out, p.TeacherSHA256)
	}
	if len(p.Teachers) > 0 {
		var list []struct {
			SHA256 string `json:"sha256"`
		}
		if err := json.Unmarshal(p.Teachers, &list); err == nil {
			for _, t := range list {
				if t.SHA256 != "" {
					out = append(out, t.SHA256)
				}
			}
		}
	}
	return out
}
