package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/option"
	"github.com/distillgo/distill/internal/outputs"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/teacher"
	"github.com/distillgo/distill/pipeline/train"
	"github.com/distillgo/distill/student"
)

// TrainCLIOptions are the settings of `distill train`: the pipeline's options, and how to run the
// online teacher and the student.
type TrainCLIOptions struct {
	train.Options
	Runtime modelRuntime // --runtime, --ort-lib, --device, --gpu-id, --threads: how the online teacher runs
	BLAS    string       // --blas: auto (default), openblas or go
	// TeacherOutput and TeacherOutputKind are --teacher-output and --teacher-output-kind.
	TeacherOutput, TeacherOutputKind string
	// TeacherFlags are the --teacher-* preprocessing flags given: they override, field by field,
	// the preprocessing the online teacher's model records. A model that records none takes
	// Options.TeacherPreprocess (the student's scale, mean and std with these flags in place).
	TeacherFlags dataset.PreprocessOverride
	// Teachers are the --teacher arguments, PATH[:OPTION,...] (see dataset.ParseTeacherSpec):
	// one online teacher, or an ensemble run on every batch; each spec's options override its
	// preprocessing as resolved above.
	Teachers []string
}

const trainDescription = `Trains a student network from a JSON spec in one of three modes:

  hard labels   neither --teacher nor --soft-targets: plain cross-entropy on --labels
                (a teacher itself, or a baseline student);
  offline       --soft-targets <file> from 'distill targets' on the same --data;
  online        --teacher <model.onnx>: the teacher runs on every batch after augmentation
                (--jitter), overlapping the student's step on the previous batch.

The distillation loss (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network") is

  alpha * T^2 * KL(softmax(v/T) || softmax(z/T)) + (1 - alpha) * CE(y, softmax(z))

for teacher logits v and student logits z. The soft loss is multiplied by T^2 so that its
gradients keep the same scale whatever the temperature. KL is summed over classes and averaged
over the batch (PyTorch's 'batchmean', not 'mean', which would also divide by the class count).
--loss mse matches logits zero-meaned per example instead. --loss dkd (Zhao et al. 2022,
"Decoupled Knowledge Distillation") replaces the KL by T^2 * (a * TCKD + b * NCKD): a binary KL of
the label's probability against the rest, and a KL among the other classes, with a =
--dkd-alpha, b = --dkd-beta (1 and 8, the paper's), ramped in over --dkd-warmup epochs; it needs
labels, and the paper's CE + DKD is --alpha 0.5 up to a factor 2. --standardize-logits (Sun et
al. 2024, "Logit Standardization in Knowledge Distillation") z-scores both sides' logits per
sample before the tempered softmax of kl or dkd; the hard part keeps the raw logits. Without labels (or with --alpha 1)
the student learns from the soft targets alone. An ensemble file trains against the mean of the
teachers' tempered probabilities (--ensemble probs) or of their logits (--ensemble logits).

--teacher given several times distils an online ensemble: every teacher runs on every augmented
batch and they are combined as --ensemble says. Each takes its own preprocessing as 'distill
targets' does: the one its model records (else the student's), the --teacher-* flags over it,
and options after the path over both:
  --teacher a.onnx --teacher b.onnx:scale=255,mean=0.1307,std=0.3081,shape=1x28x28,output=logits

--exclude-classes 3 drops every training sample labelled 3, from the soft and the hard term
alike (offline or online), and --only-classes 7,8 keeps only those labelled 7 or 8 (Hinton et
al. 2015, section 3: a student that never saw a 3); the log and the checkpoint's provenance
record how many samples were kept. --eval-data is never filtered.

--lr is the learning rate throughout, or --schedule changes it between epochs: END:LR pairs
such as "30:1e-3,40:1e-4" (epochs 1-30 at 1e-3, 31-40 at 1e-4; --epochs defaults to the last
END), or "cosine" (from --lr towards 0 over --epochs).

The checkpoint at --out is written atomically at the end of every epoch. On SIGINT/SIGTERM
training stops and the checkpoint keeps the last completed epoch. Without --resume an existing
--out, --metrics or --plot is refused unless --overwrite is given; an output that names an input
or another output is refused; while training, the outputs are locked (<output>.lock beside each),
so a second run writing one of them is refused, naming this one's pid. --epochs is the total:
--resume continues the checkpoint up to it, schedule included, giving exactly the weights of an
uninterrupted run. A resume keeps the settings the checkpoint records (data, labels, teachers,
preprocessing, loss, --temperature, --alpha, --lr, --optimizer, --batch, --jitter, --seed, ...):
one given otherwise is refused, naming its flag and both values. What may change: a longer
--epochs, and a --schedule that changes only the rates of epochs not trained yet, so a run in
stages is one schedule extended at each resume (e.g. 3 epochs at --lr 0.01, then --resume
--schedule 3:0.01,5:0.001); not a cosine run's --epochs, which would change every rate.

Example:
  distill train --model models/mnist-student.json \
      --data data/mnist/train-images-idx3-ubyte.gz --labels data/mnist/train-labels-idx1-ubyte.gz \
      --soft-targets out/teacher-train.safetensors --temperature 20 --alpha 0.7 --schedule 15:1e-3,20:1e-4 \
      --eval-data data/mnist/t10k-images-idx3-ubyte.gz --eval-labels data/mnist/t10k-labels-idx1-ubyte.gz \
      --out out/student.ckpt --metrics out/student.jsonl --plot out/student.png`

// trainFlags returns the flags of `distill train`; sweep takes some of them (sweepTrainFlags).
func trainFlags() []cli.Flag {
	def := train.DefaultOptions()
	flags := []cli.Flag{
		&cli.StringFlag{Name: "model", Usage: "student spec `<file.json>` (required)", TakesFile: true},
		&cli.StringFlag{Name: "data", Usage: "training data `<file>` (IDX, gzip IDX, NPY, NPZ, CSV) or image folder (required)", TakesFile: true},
		&cli.StringFlag{Name: "labels", Usage: "training labels `<file>` (needed unless training on soft targets alone)", TakesFile: true},
		&cli.StringFlag{Name: "soft-targets", Usage: "offline soft targets `<file.safetensors>` made from --data", TakesFile: true},
		&cli.GenericFlag{Name: "teacher", Value: &repeatedString{}, Usage: "online teacher `<model.onnx>[:opt=v,...]`, run on every batch; repeat for an ensemble (--ensemble)"},
		&cli.StringFlag{Name: "teacher-output", Usage: "the online teacher's output `<name>` that holds the class scores (default: the only one that can)"},
		&cli.GenericFlag{Name: "hint", Value: &repeatedString{}, Usage: "feature distillation: the online teacher's inner tensor against a student layer, `<tensor>=<layer>[:loss=mse|cosine|at][:weight=<w>]` (tensors: distill inspect --nodes; layers by their spec name; mse and cosine after a learned projection, at without); repeatable"},
		&cli.GenericFlag{Name: "teacher-input", Value: &repeatedString{}, Usage: "feed the online teacher's input from an array of --data's samples: `<name>=<file>` or <file>.npz (every key); repeat for each input"},
		enumFlag(&cli.StringFlag{Name: "teacher-output-kind", Value: "auto", Usage: "what the online teacher outputs, `<kind>`: auto, logits, probs or logprobs"}, choicesOutput...),
		&cli.Float64Flag{Name: "temperature", Aliases: []string{"T"}, Value: def.Temperature, Usage: "softmax temperature `<T>` of the soft targets"},
		&cli.Float64Flag{Name: "alpha", Value: def.Alpha, Usage: "weight `<a>` of the soft loss; 1 - a weights the hard loss"},
		enumFlag(&cli.StringFlag{Name: "loss", Value: def.Loss, Usage: "soft loss `<kind>`: kl (T^2-scaled batchmean KL), mse (logit matching) or dkd (decoupled KD; needs labels)"}, "kl", "mse", "dkd"),
		&cli.Float64Flag{Name: "dkd-alpha", Value: def.DKDAlpha, Usage: "weight `<a>` of DKD's target-vs-rest term (TCKD) for --loss dkd"},
		&cli.Float64Flag{Name: "dkd-beta", Value: def.DKDBeta, Usage: "weight `<b>` of DKD's non-target term (NCKD) for --loss dkd"},
		&cli.IntFlag{Name: "dkd-warmup", Value: def.DKDWarmup, Usage: "ramp the DKD term in over the first `<n>` epochs (weight min(epoch/n, 1); 0: none)"},
		&cli.BoolFlag{Name: "standardize-logits", Usage: "z-score teacher and student logits per sample before the tempered softmax (kl or dkd; CE keeps raw logits)"},
		enumFlag(&cli.StringFlag{Name: "ensemble", Value: def.Ensemble, Usage: "combine an ensemble's teachers by `<what>`: probs (mean tempered probabilities) or logits"}, "probs", "logits"),
		&cli.IntFlag{Name: "epochs", Value: def.Epochs, Usage: "total number of epochs `<n>` (default with a step --schedule: its last epoch)"},
		&cli.IntFlag{Name: "batch", Value: def.Batch, Usage: "mini-batch size `<n>`"},
		&cli.Float64Flag{Name: "lr", Value: def.LR, Usage: "learning rate `<lr>` (the peak of --schedule cosine)"},
		&cli.StringFlag{Name: "schedule", Usage: "learning-rate `<schedule>`: END:LR,... (e.g. 30:1e-3,40:1e-4) or cosine (default: --lr throughout)"},
		enumFlag(&cli.StringFlag{Name: "optimizer", Value: def.Optimizer, Usage: "`<name>`: adam (beta1 0.9, beta2 0.999, eps 1e-8) or sgd"}, "adam", "sgd"),
		&cli.Float64Flag{Name: "momentum", Value: def.Momentum, Usage: "momentum `<m>` of sgd"},
		&cli.IntFlag{Name: "jitter", Value: def.Jitter, Usage: "shift each training image by up to `<k>` pixels, below its height and width (images only: online or hard-label training)"},
		&cli.StringFlag{Name: "augment", Usage: "augment the training images with `<list>`, applied in order: flip, crop:<pixels>, jitter:<pixels>, erase:<p>, mixup:<a>, cutmix:<a> (e.g. crop:2,flip; images only; an online teacher sees the augmented batch)"},
		&cli.Uint64Flag{Name: "seed", Value: def.Seed, Usage: "`<seed>` of initialisation, shuffling, augmentation and dropout"},
		&cli.StringFlag{Name: "eval-data", Usage: "evaluate on `<file>` after every epoch", TakesFile: true},
		&cli.StringFlag{Name: "eval-labels", Usage: "labels `<file>` of --eval-data", TakesFile: true},
		&cli.StringFlag{Name: "out", Usage: "checkpoint `<file>` written at the end of every epoch (required)", TakesFile: true},
		&cli.BoolFlag{Name: "resume", Usage: "continue the checkpoint at --out up to --epochs, with the settings it records (only --epochs and later epochs' rates may change)"},
		&cli.BoolFlag{Name: "overwrite", Usage: "start afresh even if --out, --metrics or --plot exist (each is replaced at the first epoch's end)"},
		&cli.StringFlag{Name: "metrics", Usage: "write per-epoch metrics as JSON lines to `<file>`", TakesFile: true},
		&cli.StringFlag{Name: "plot", Usage: "draw loss and accuracy curves as a PNG to `<file>`", TakesFile: true},
		&cli.StringFlag{Name: "init-from", Usage: "initialise the weights from a student `<model.onnx>` exported by distill", TakesFile: true},
		blasFlag(""),
		&cli.BoolFlag{Name: "standardize", Usage: "set the student's --mean and --std to those of --data (per channel, or per feature of a table)"},
		&cli.StringFlag{Name: "exclude-classes", Usage: "drop the training samples labelled `<class,...>` (soft and hard terms alike; the eval set is whole)"},
		&cli.StringFlag{Name: "only-classes", Usage: "train only on the samples labelled `<class,...>` (soft and hard terms alike; the eval set is whole)"},
	}
	flags = append(flags, runtimeFlags("the online teacher")...)
	flags = append(flags, csvFlags()...)
	flags = append(flags, preprocessFlags("", "")...)
	return append(flags, preprocessFlags("teacher-", whoseStudent)...)
}

func trainCommand() *cli.Command {
	return &cli.Command{
		Name:        "train",
		Usage:       "Train a student on hard labels, soft targets, or an online teacher",
		UsageText:   "distill train --model <spec.json> --data <file> [--labels <file>] [--soft-targets <file> | --teacher <model.onnx>] --out <file> [options]",
		Description: trainDescription,
		Flags:       trainFlags(),
		Action: func(cCtx *cli.Context) error {
			opts, err := trainOptionsFromFlags(cCtx)
			if err != nil {
				return err
			}
			if err := requireFlags(cCtx, "model", "data", "out"); err != nil {
				return err
			}
			if err := opts.Validate(opts.TeacherPath != ""); err != nil {
				return optionError(cCtx, err, true)
			}
			release, err := claimFiles(cCtx, opts.files())
			defer release()
			var exists *outputs.ExistsError
			if errors.As(err, &exists) && exists.Output.Name == "--out" {
				return fmt.Errorf("train: --out %s: %w: %s", opts.Checkpoint, train.ErrCheckpointExists, checkpointRemedy)
			}
			if err != nil {
				return err
			}
			return runTrain(cCtx.Context, opts, cCtx.App.Writer, cCtx.App.ErrWriter)
		},
	}
}

// lossFromFlags reads the loss's flags into t: temperature, alpha, the kind, its DKD settings,
// logit standardisation and how an ensemble combines.
func lossFromFlags(cCtx *cli.Context, t *train.Options) {
	t.Temperature, t.Alpha = cCtx.Float64("temperature"), cCtx.Float64("alpha")
	t.Loss, t.Ensemble = cCtx.String("loss"), cCtx.String("ensemble")
	t.DKDAlpha, t.DKDBeta, t.DKDWarmup = cCtx.Float64("dkd-alpha"), cCtx.Float64("dkd-beta"), cCtx.Int("dkd-warmup")
	t.StandardizeLogits = cCtx.Bool("standardize-logits")
}

// scheduleFromFlags reads --schedule into t; a step schedule gives the epochs (unless --epochs
// is given) and the rates (so --lr beside it is an error).
func scheduleFromFlags(cCtx *cli.Context, t *train.Options) error {
	var err error
	if t.Schedule, err = train.ParseSchedule(cCtx.String("schedule")); err != nil {
		return usageErrorf(cCtx, "--schedule: %v", err)
	}
	if end := t.Schedule.End(); end > 0 {
		if cCtx.IsSet("lr") {
			return usageErrorf(cCtx, "--lr with a step --schedule: the schedule gives the rates")
		}
		if !cCtx.IsSet("epochs") {
			t.Epochs = end
		}
		t.LR = t.Schedule.Steps[0].LR
	}
	return nil
}

// trainOptionsFromFlags reads the flags of `distill train`, and those of them that `distill
// sweep` has (a flag a command lacks reads as its zero value). It checks what only the command
// line knows (a flag's syntax, which flags were given); the options' own checks are Validate's.
func trainOptionsFromFlags(cCtx *cli.Context) (TrainCLIOptions, error) {
	o := TrainCLIOptions{Options: train.DefaultOptions()}
	t := &o.Options
	t.Spec = cCtx.String("model")
	t.Data, t.Labels = cCtx.String("data"), cCtx.String("labels")
	t.SoftTargets = cCtx.String("soft-targets")
	if g, ok := cCtx.Generic("teacher").(*repeatedString); ok && len(g.values) > 0 {
		o.Teachers = g.values
		ts, err := dataset.ParseTeacherSpec(g.values[0], dataset.Preprocess{})
		if err != nil {
			return o, usageErrorf(cCtx, "--teacher: %v", err)
		}
		t.TeacherPath = ts.Path
	}
	lossFromFlags(cCtx, t)
	t.Epochs, t.Batch, t.LR = cCtx.Int("epochs"), cCtx.Int("batch"), cCtx.Float64("lr")
	t.Optimizer, t.Momentum = cCtx.String("optimizer"), cCtx.Float64("momentum")
	t.Jitter, t.Augment, t.Seed = cCtx.Int("jitter"), cCtx.String("augment"), cCtx.Uint64("seed")
	t.EvalData, t.EvalLabels = cCtx.String("eval-data"), cCtx.String("eval-labels")
	t.Checkpoint, t.Resume, t.Overwrite = cCtx.String("out"), cCtx.Bool("resume"), cCtx.Bool("overwrite")
	t.Metrics, t.Plot, t.InitFrom = cCtx.String("metrics"), cCtx.String("plot"), cCtx.String("init-from")
	t.Standardize = cCtx.Bool("standardize")
	for _, f := range []struct {
		flag string
		dst  *[]int
	}{{"exclude-classes", &t.ExcludeClasses}, {"only-classes", &t.OnlyClasses}} {
		var err error
		if *f.dst, err = parseClasses(f.flag, cCtx.String(f.flag)); err != nil {
			return o, usageErrorf(cCtx, "%v", err)
		}
	}
	o.BLAS = cCtx.String("blas")
	o.TeacherOutput, o.TeacherOutputKind = cCtx.String("teacher-output"), cCtx.String("teacher-output-kind")
	if g, ok := cCtx.Generic("teacher-input").(*repeatedString); ok {
		var err error
		if t.TeacherInputs, err = parseInputs("teacher-input", g.values); err != nil {
			return o, usageErrorf(cCtx, "%v", err)
		}
		if len(t.TeacherInputs) > 0 && t.TeacherPath == "" {
			return o, usageErrorf(cCtx, "--teacher-input without --teacher")
		}
	}
	if g, ok := cCtx.Generic("hint").(*repeatedString); ok {
		for _, v := range g.values {
			h, err := train.ParseHint(v)
			if err != nil {
				return o, usageErrorf(cCtx, "--hint: %v", err)
			}
			t.Hints = append(t.Hints, h)
		}
		if len(t.Hints) > 0 && len(o.Teachers) != 1 {
			return o, usageErrorf(cCtx, "--hint compares the student with one online teacher's inner tensors: give one --teacher")
		}
	}
	if o.TeacherOutputKind == "" {
		o.TeacherOutputKind = model.OutputAuto // sweep has no online teacher
	}
	err := scheduleFromFlags(cCtx, t)
	if err != nil {
		return o, err
	}
	if o.Runtime, err = runtimeFromFlags(cCtx); err != nil {
		return o, err
	}
	if t.Format, err = formatFromFlags(cCtx, cCtx.String("data"), cCtx.String("eval-data")); err != nil {
		return o, err
	}
	if t.Preprocess, _, err = preprocessFromFlags(cCtx, "", dataset.Preprocess{}); err != nil {
		return o, err
	}
	if t.Standardize && (cCtx.IsSet("mean") || cCtx.IsSet("std")) {
		return o, usageErrorf(cCtx, "--standardize with --mean or --std: choose one")
	}
	if t.Standardize {
		t.Preprocess.Mean, t.Preprocess.Std = nil, nil // computed from the data
	}
	if t.TeacherPreprocess, _, err = preprocessFromFlags(cCtx, "teacher-", t.Preprocess); err != nil {
		return o, err
	}
	if o.TeacherFlags, err = overrideFromFlags(cCtx, "teacher-"); err != nil {
		return o, err
	}
	return o, nil
}

// files returns what the command reads and writes, for claimFiles. With --resume the checkpoint,
// metrics and plot are continued: they may exist.
func (o TrainCLIOptions) files() outputs.Plan {
	p := outputs.Plan{Overwrite: o.Overwrite}
	for _, f := range []struct{ flag, path string }{
		{"model", o.Spec}, {"data", o.Data}, {"labels", o.Labels}, {"soft-targets", o.SoftTargets},
		{"eval-data", o.EvalData}, {"eval-labels", o.EvalLabels}, {"init-from", o.InitFrom},
	} {
		p.Inputs = append(p.Inputs, inFile(f.flag, f.path))
	}
	for _, t := range o.Teachers {
		if ts, err := dataset.ParseTeacherSpec(t, dataset.Preprocess{}); err == nil {
			p.Inputs = append(p.Inputs, inFile("teacher", ts.Path))
		}
	}
	p.Inputs = append(p.Inputs, arrayInputs("teacher-input", o.TeacherInputs)...)
	p.Outputs = []outputs.Output{outFile("out", o.Checkpoint, o.Resume), outFile("metrics", o.Metrics, o.Resume), outFile("plot", o.Plot, o.Resume)}
	return p
}

// runTrain chooses the BLAS backend, opens the online teachers if any, and trains. People's
// output goes to stdout; the progress bar to stderr when it is a terminal.
func runTrain(ctx context.Context, o TrainCLIOptions, stdout, stderr io.Writer) error {
	if _, err := student.UseBLAS(o.BLAS); err != nil {
		return err
	}
	opened, err := openOnlineTeachers(&o)
	defer func() {
		for _, s := range opened {
			s.Close()
		}
	}()
	if err != nil {
		return err
	}
	teachers := make([]model.Teacher, len(opened))
	for i, s := range opened {
		teachers[i] = s
	}
	var hooks []train.Hook
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		hooks = append(hooks, train.ProgressBar(stderr))
	} else {
		hooks = append(hooks, train.ProgressLines(5*time.Second))
	}
	res, err := train.TrainEnsemble(ctx, o.Options, teachers, stdout, hooks...)
	if errors.Is(err, train.ErrCheckpointExists) {
		return fmt.Errorf("%w: %s", err, checkpointRemedy)
	}
	if errors.Is(err, train.ErrSettingChanged) {
		return resumeRemedy(err)
	}
	if err != nil {
		return err
	}
	if n := len(res.Epochs); n > 0 {
		fmt.Fprintf(stdout, "checkpoint %s at epoch %d\n", res.Checkpoint, res.Epochs[n-1].Epoch)
	}
	return nil
}

// resumeRemedy adds to the error of a resume whose options differ from its checkpoint's settings
// what to do about it, keeping the option it names (so that the error names its flag).
func resumeRemedy(err error) error {
	const remedy = "resume with the same settings, or train a new run with --overwrite"
	var oe *option.Error
	if errors.As(err, &oe) {
		return &option.Error{Scope: oe.Scope, Option: oe.Option, Err: fmt.Errorf("%w (%s)", oe.Err, remedy)}
	}
	return fmt.Errorf("%w (%s)", err, remedy)
}

// openOnlineTeachers opens the --teacher models, each with its preprocessing resolved: the model's
// recorded one with the --teacher-* flags over it (else the student's with those flags), and the
// spec's options over that. One teacher goes to TeacherPath and TeacherPreprocess, an ensemble to
// OnlineTeachers. The models opened are returned also on an error, for the caller to close.
func openOnlineTeachers(o *TrainCLIOptions) ([]model.Model, error) {
	var opened []model.Model
	for _, arg := range o.Teachers {
		a, err := teacher.Parse(arg, o.TeacherFlags)
		if err != nil {
			return opened, fmt.Errorf("train: --teacher: %w", err)
		}
		if a.Recorded, err = teacher.Recorded(a.Path); err != nil {
			return opened, err
		}
		ts, from, err := a.Spec(o.TeacherPreprocess, "the student's")
		if err != nil {
			return opened, fmt.Errorf("train: --teacher: %w", err)
		}
		kind := o.TeacherOutputKind
		if ts.Output != "" {
			kind = ts.Output
		}
		slog.Info("teacher preprocessing", "model", ts.Path, "from", from, "spec", arg != ts.Path)
		// The teachers run between the student's steps: their idle threads must not spin.
		s, err := teacher.Open(&o.Runtime, ts.Path, model.Options{Batch: o.Batch, InputShape: ts.Preprocess.InputShape,
			OutputName: o.TeacherOutput, Output: kind, NoSpin: true, Features: train.HintTensors(o.Hints)}, len(o.TeacherInputs) == 0)
		if err != nil {
			return opened, err
		}
		opened = append(opened, s)
		d := s.Describe()
		slog.Info("online teacher", "model", ts.Path, "device", d.Device, "classes", s.Classes())
		if len(o.Teachers) == 1 {
			o.TeacherPath, o.TeacherPreprocess = ts.Path, ts.Preprocess
		} else {
			o.OnlineTeachers = append(o.OnlineTeachers, train.OnlineTeacher{Path: ts.Path, Preprocess: ts.Preprocess})
		}
	}
	return opened, nil
}

// checkpointRemedy is what to do about a checkpoint that exists.
const checkpointRemedy = "pass --resume to continue it, --overwrite to replace it, or remove it"
