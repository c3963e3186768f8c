package train

import (
	"errors"
	"fmt"
	"math"

	"github.com/distillgo/distill/internal/option"
	"github.com/distillgo/distill/pipeline/augment"
	"github.com/distillgo/distill/pipeline/dataset"
)

// Inputs says what to train on. Spec, Data and Out (in Output) are required.
type Inputs struct {
	// Spec is the student spec JSON file (also with Resume: the checkpoint's spec must equal it).
	Spec string `flag:"model"`
	// Data and Labels are the training set (IDX or NPY). Labels may be empty only when training
	// on soft targets alone.
	Data   string `flag:"data"`
	Labels string `flag:"labels"`
	// EvalData and EvalLabels, when set, are evaluated after every epoch. EvalLabels goes with
	// EvalData unless EvalData is a CSV file, whose labels are a column.
	EvalData   string `flag:"eval-data"`
	EvalLabels string `flag:"eval-labels"`
	// Format says how CSV files and image folders (Data and EvalData) are read (default: every
	// CSV column a feature but "label"; images of the first image's size and colour).
	Format dataset.Format
	// Preprocess is the student's input preprocessing, stored in the checkpoint (default: the
	// data's scale, 255 for 8-bit data and 1 for floats, with mean 0 and std 1). A zero Scale is
	// the data's.
	Preprocess dataset.Preprocess `flag:"scale,mean,std,input-shape"`
	// SoftTargets is an offline soft-target file made from Data. At most one of SoftTargets and
	// an online teacher (an argument of Train); with neither, training uses hard labels only.
	SoftTargets string `flag:"soft-targets"`
	// TeacherPath names the online teacher's model file for provenance (its sha256 is recorded).
	TeacherPath string `flag:"teacher"`
	// Standardize replaces Preprocess's mean and std with those of Data (per channel, or per
	// feature of tabular data; see dataset.Standardize), stored like any other preprocessing.
	Standardize bool `flag:"standardize"`
	// TeacherPreprocess is the online teacher's input preprocessing (a zero Scale is the data's).
	TeacherPreprocess dataset.Preprocess `flag:"teacher-scale,teacher-mean,teacher-std,teacher-input-shape"`
	// OnlineTeachers describes the teachers of an online ensemble (TrainEnsemble), one per model
	// in the same order, each with its own preprocessing; TeacherPath and TeacherPreprocess are
	// then unused (default none: one online teacher, or none).
	OnlineTeachers []OnlineTeacher `flag:"teacher"`
	// TeacherInputs, when set, feed the online teacher's named inputs from their own arrays (a
	// token teacher's input_ids and attention_mask), which hold Data's samples in the same
	// order, instead of Data's samples: teacher and student then see different representations
	// of the same samples. Jitter does not shift them. The teacher must be a model.MultiInput.
	TeacherInputs []TeacherInput `flag:"teacher-input"`
	// InitFrom initialises the student's weights from an ONNX student exported by this tool
	// (default: none, a seeded initialisation).
	InitFrom string `flag:"init-from"`
	// ExcludeClasses drops the training samples of these classes, by their label, from both
	// the soft and the hard term (default none: every sample); OnlyClasses keeps only the
	// samples of these classes. At most one of the two; both need labels. The eval set is not
	// filtered.
	ExcludeClasses []int `flag:"exclude-classes"`
	OnlyClasses    []int `flag:"only-classes"`
}

// TeacherInput names the array file that feeds one input of the online teacher.
type TeacherInput struct {
	Name string // the model's input name
	Path string // an IDX, NPY or NPZ[:key] file with one row per sample of Data
}

// Settings says how to train.
type Settings struct {
	// Temperature T of the soft targets (default 20, Hinton et al. 2015 §3 for MNIST).
	Temperature float64 `flag:"temperature"`
	// Alpha weights the soft loss against the hard one (default 0.7); 1 trains on soft targets
	// alone.
	Alpha float64 `flag:"alpha"`
	// Loss is "kl" (default), "mse" (logit matching on zero-meaned logits) or "dkd" (decoupled
	// knowledge distillation, Zhao et al. 2022; it needs labels). student.Loss has the formulas.
	Loss string `flag:"loss"`
	// DKDAlpha and DKDBeta weigh DKD's target-vs-rest term (TCKD) and its non-target term
	// (NCKD) for Loss "dkd" (defaults 1 and 8, the paper's).
	DKDAlpha float64 `flag:"dkd-alpha"`
	DKDBeta  float64 `flag:"dkd-beta"`
	// DKDWarmup ramps the soft part of Loss "dkd" in over the first DKDWarmup epochs: epoch e
	// (from 1) weighs it by min(e / DKDWarmup, 1), as the paper's code does (default 20, the
	// paper's; 0: no warm-up). A hook of the loop sets the weights at each epoch's start.
	DKDWarmup int `flag:"dkd-warmup"`
	// StandardizeLogits z-scores the student's and the teachers' logits per sample before the
	// tempered softmax of Loss "kl" or "dkd" (Sun et al. 2024); the hard part keeps the raw
	// logits (default false).
	StandardizeLogits bool `flag:"standardize-logits"`
	// Ensemble combines several teachers: "probs" (default: mean tempered probabilities) or
	// "logits".
	Ensemble string `flag:"ensemble"`
	// Epochs is the total number of epochs (default 10); a resumed run continues up to it.
	Epochs int `flag:"epochs"`
	// Batch is the mini-batch size (default 128).
	Batch int `flag:"batch"`
	// LR is the learning rate (default 1e-3): the constant rate, or the peak of a cosine
	// Schedule. A step Schedule gives its own rates.
	LR float64 `flag:"lr"`
	// Schedule changes the learning rate between epochs (default: none, LR throughout).
	Schedule Schedule `flag:"schedule"`
	// Optimizer is "adam" (default; beta1 0.9, beta2 0.999, eps 1e-8 as in Kingma & Ba 2015)
	// or "sgd".
	Optimizer string `flag:"optimizer"`
	// Momentum of SGD (default 0.9).
	Momentum float64 `flag:"momentum"`
	// Jitter shifts each training image by up to Jitter pixels in each direction (default 0),
	// in raw space before either side's preprocessing. It needs image samples and cannot be
	// used with offline soft targets, which were computed on the unshifted images.
	Jitter int `flag:"jitter"`
	// Augment is the list of augmentations of the training images, applied in order to every
	// batch before both sides' preprocessing (see package augment: "crop:2,flip", ...; default
	// none). Jitter k is the same as "jitter:k" and cannot be given with it. Like Jitter it needs
	// image samples and an online teacher, which sees the augmented batch.
	Augment string `flag:"augment"`
	// Hints are feature-distillation terms against the online teacher's inner tensors (see
	// HintOption): one online teacher, opened with HintTensors(Hints) as its model.Options
	// Features. Their projections are trained with the student and saved in the checkpoint.
	Hints []HintOption `flag:"hint"`
	// Seed seeds weight initialisation, shuffling, augmentation and dropout (default 1).
	Seed uint64 `flag:"seed"`
}

// Output says where results go.
type Output struct {
	// Checkpoint is the checkpoint path (required), saved atomically at every epoch's end.
	Checkpoint string `flag:"out"`
	// Resume continues the checkpoint up to Epochs. Without it an existing checkpoint is
	// refused unless Overwrite is set.
	Resume bool `flag:"resume"`
	// Overwrite lets a fresh run replace an existing checkpoint (at its first epoch's end).
	Overwrite bool `flag:"overwrite"`
	// Metrics, when set, receives one JSON line per epoch (EpochMetrics), rewritten atomically.
	Metrics string `flag:"metrics"`
	// Plot, when set, receives loss and accuracy curves as a PNG after every epoch.
	Plot string `flag:"plot"`
}

// Options configures Train: what to train on, how, and where the results go.
type Options struct {
	Inputs
	Settings
	Output
}

// DefaultOptions returns Options with every default filled in.
func DefaultOptions() Options {
	return Options{Settings: Settings{
		Temperature: 20, Alpha: 0.7, Loss: "kl", DKDAlpha: 1, DKDBeta: 8, DKDWarmup: 20, Ensemble: "probs",
		Epochs: 10, Batch: 128, LR: 1e-3, Optimizer: "adam", Momentum: 0.9, Seed: 1,
	}}
}

// OptionError reports an option that is wrong on its own or with another; Option is the field's
// name (e.g. "Epochs"), which the command line maps to its flag.
type OptionError = option.Error

func optErr(opt, format string, args ...any) error {
	return option.Errorf("train", opt, format, args...)
}

// ErrCheckpointExists is returned (wrapped) when the checkpoint exists and neither Resume nor
// Overwrite is set.
var ErrCheckpointExists = errors.New("checkpoint exists")

// Validate checks the options without reading any file; online says whether an online teacher
// is given. Every error is an *OptionError.
func (o *Options) Validate(online bool) error {
	if err := o.Inputs.validate(online); err != nil {
		return err
	}
	if err := o.Settings.validate(); err != nil {
		return err
	}
	switch {
	case o.Checkpoint == "":
		return optErr("Checkpoint", "no checkpoint path")
	case o.Resume && o.Overwrite:
		return optErr("Resume", "resume and overwrite: choose one")
	case o.Resume && o.InitFrom != "":
		return optErr("InitFrom", "a resumed run takes its weights from the checkpoint")
	case o.Jitter > 0 && o.SoftTargets != "":
		return optErr("Jitter", "%d with offline soft targets %s: the file holds the teacher's outputs for the unshifted images; use an online teacher to augment", o.Jitter, o.SoftTargets)
	case o.Augment != "" && o.SoftTargets != "":
		return optErr("Augment", "%q with offline soft targets %s: the file holds the teacher's outputs for the images as they are, which the augmentations change; use an online teacher (--teacher), which sees the augmented batch", o.Augment, o.SoftTargets)
	case o.Augment != "" && o.Jitter > 0:
		return optErr("Jitter", "%d with an augmentation list: give it in the list as jitter:%d", o.Jitter, o.Jitter)
	}
	return nil
}

func (in *Inputs) validate(online bool) error {
	switch {
	case in.Spec == "":
		return optErr("Spec", "no student spec")
	case in.Data == "":
		return optErr("Data", "no training data")
	case in.SoftTargets != "" && online:
		return optErr("SoftTargets", "both soft targets and an online teacher: choose one (offline or online distillation)")
	case (in.EvalData == "") != (in.EvalLabels == "") && !dataset.HasOwnLabels(in.EvalData):
		return optErr("EvalData", "eval data and eval labels go together")
	}
	if err := in.validateClasses(); err != nil {
		return err
	}
	if in.Standardize && (len(in.Preprocess.Mean) > 0 || len(in.Preprocess.Std) > 0) {
		return optErr("Standardize", "with a mean or std given: choose one")
	}
	if err := in.Preprocess.Validate(); err != nil {
		return &OptionError{Scope: "train", Option: "Preprocess", Err: err}
	}
	if err := in.TeacherPreprocess.Validate(); err != nil {
		return &OptionError{Scope: "train", Option: "TeacherPreprocess", Err: err}
	}
	for _, ot := range in.OnlineTeachers {
		if err := ot.Preprocess.Validate(); err != nil {
			return &OptionError{Scope: "train", Option: "OnlineTeachers", Err: fmt.Errorf("teacher %s: %w", ot.Path, err)}
		}
	}
	return nil
}

func (s *Settings) validate() error {
	switch {
	case !(s.Temperature > 0) || math.IsInf(s.Temperature, 0):
		return optErr("Temperature", "%v must be positive", s.Temperature)
	case !(s.Alpha >= 0 && s.Alpha <= 1):
		return optErr("Alpha", "%v must be in [0, 1]", s.Alpha)
	case s.Loss != "kl" && s.Loss != "mse" && s.Loss != "dkd":
		return optErr("Loss", "%q: want kl, mse or dkd", s.Loss)
	case s.Loss == "dkd" && (!(s.DKDAlpha >= 0) || math.IsInf(s.DKDAlpha, 0)):
		return optErr("DKDAlpha", "%v must be a non-negative number", s.DKDAlpha)
	case s.Loss == "dkd" && (!(s.DKDBeta >= 0) || math.IsInf(s.DKDBeta, 0)):
		return optErr("DKDBeta", "%v must be a non-negative number", s.DKDBeta)
	case s.DKDWarmup < 0:
		return optErr("DKDWarmup", "%d must not be negative", s.DKDWarmup)
	case s.StandardizeLogits && s.Loss == "mse":
		return optErr("StandardizeLogits", "goes with loss kl or dkd, not mse")
	case s.Ensemble != "probs" && s.Ensemble != "logits":
		return optErr("Ensemble", "%q: want probs or logits", s.Ensemble)
	case s.Epochs < 1:
		return optErr("Epochs", "%d must be at least 1", s.Epochs)
	case s.Batch < 1:
		return optErr("Batch", "%d must be at least 1", s.Batch)
	case !(s.LR > 0) || math.IsInf(s.LR, 0):
		return optErr("LR", "%v must be positive", s.LR)
	case s.Optimizer != "adam" && s.Optimizer != "sgd":
		return optErr("Optimizer", "%q: want adam or sgd", s.Optimizer)
	case s.Optimizer == "sgd" && !(s.Momentum >= 0 && s.Momentum < 1):
		return optErr("Momentum", "%v must be in [0, 1)", s.Momentum)
	case s.Jitter < 0:
		return optErr("Jitter", "%d must not be negative", s.Jitter)
	}
	if _, err := augment.Parse(s.Augment); err != nil {
		return optErr("Augment", "%v", err)
	}
	if err := s.Schedule.check(s.Epochs); err != nil {
		return &OptionError{Scope: "train", Option: "Schedule", Err: err}
	}
	return nil
}
