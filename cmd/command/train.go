package command

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/pipeline"
	"github.com/distillgo/distill/student"
)

// TrainCLIOptions are the settings of `distill train` beyond pipeline.TrainOptions: how to load
// the online teacher and which BLAS backend the student uses.
type TrainCLIOptions struct {
	pipeline.TrainOptions
	TeacherModel string // --teacher: ONNX teacher run online (empty: none)
	ORTLib       string // --ort-lib
	Device       string // --device for the online teacher: cpu (default), cuda or auto
	GPUID        int    // --gpu-id: CUDA device for the online teacher (default 0)
	Threads      int    // --threads: onnxruntime intra-op threads for the teacher (0: its default)
	BLAS         string // --blas: auto (default), openblas or go
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
--loss mse matches logits zero-meaned per example instead. Without labels (or with --alpha 1)
the student learns from the soft targets alone. An ensemble file trains against the mean of the
teachers' tempered probabilities (--ensemble probs) or of their logits (--ensemble logits).

The checkpoint at --out is written atomically at the end of every epoch. On SIGINT/SIGTERM
training stops and the checkpoint keeps the last completed epoch. --epochs is the total:
--resume continues the checkpoint up to it, giving exactly the weights of an uninterrupted run.

Example:
  distill train --model models/mnist-student.json \
      --data data/mnist/train-images-idx3-ubyte.gz --labels data/mnist/train-labels-idx1-ubyte.gz \
      --soft-targets out/teacher-train.safetensors --temperature 20 --alpha 0.7 --epochs 20 \
      --eval-data data/mnist/t10k-images-idx3-ubyte.gz --eval-labels data/mnist/t10k-labels-idx1-ubyte.gz \
      --out out/student.ckpt --metrics out/student.jsonl --plot out/student.png`

func trainCommand() *cli.Command {
	def := pipeline.DefaultTrainOptions()
	flags := []cli.Flag{
		&cli.StringFlag{Name: "model", Usage: "student spec `<file.json>` (required)", TakesFile: true},
		&cli.StringFlag{Name: "data", Usage: "training data `<file>` (IDX, gzip IDX or NPY; required)", TakesFile: true},
		&cli.StringFlag{Name: "labels", Usage: "training labels `<file>` (needed unless training on soft targets alone)", TakesFile: true},
		&cli.StringFlag{Name: "soft-targets", Usage: "offline soft targets `<file.safetensors>` made from --data", TakesFile: true},
		&cli.StringFlag{Name: "teacher", Usage: "online teacher `<model.onnx>`, run on every batch", TakesFile: true},
		&cli.Float64Flag{Name: "temperature", Aliases: []string{"T"}, Value: def.Temperature, Usage: "softmax temperature `<T>` of the soft targets"},
		&cli.Float64Flag{Name: "alpha", Value: def.Alpha, Usage: "weight `<a>` of the soft loss; 1 - a weights the hard loss"},
		&cli.StringFlag{Name: "loss", Value: def.Loss, Usage: "soft loss `<kind>`: kl (T^2-scaled batchmean KL) or mse (logit matching)"},
		&cli.StringFlag{Name: "ensemble", Value: def.Ensemble, Usage: "combine an ensemble's teachers by `<what>`: probs (mean tempered probabilities) or logits"},
		&cli.IntFlag{Name: "epochs", Value: def.Epochs, Usage: "total number of epochs `<n>`"},
		&cli.IntFlag{Name: "batch", Value: def.Batch, Usage: "mini-batch size `<n>`"},
		&cli.Float64Flag{Name: "lr", Value: def.LR, Usage: "learning rate `<lr>`"},
		&cli.StringFlag{Name: "optimizer", Value: def.Optimizer, Usage: "`<name>`: adam (beta1 0.9, beta2 0.999, eps 1e-8) or sgd"},
		&cli.Float64Flag{Name: "momentum", Value: def.Momentum, Usage: "momentum `<m>` of sgd"},
		&cli.IntFlag{Name: "jitter", Value: def.Jitter, Usage: "shift each training image by up to `<k>` pixels (online or hard-label training)"},
		&cli.Uint64Flag{Name: "seed", Value: def.Seed, Usage: "`<seed>` of initialisation, shuffling, jitter and dropout"},
		&cli.StringFlag{Name: "eval-data", Usage: "evaluate on `<file>` after every epoch", TakesFile: true},
		&cli.StringFlag{Name: "eval-labels", Usage: "labels `<file>` of --eval-data", TakesFile: true},
		&cli.StringFlag{Name: "out", Usage: "checkpoint `<file>` written at the end of every epoch (required)", TakesFile: true},
		&cli.BoolFlag{Name: "resume", Usage: "continue the checkpoint at --out up to --epochs"},
		&cli.BoolFlag{Name: "overwrite", Usage: "start afresh even if --out exists (it is replaced at the first epoch's end)"},
		&cli.StringFlag{Name: "metrics", Usage: "write per-epoch metrics as JSON lines to `<file>`", TakesFile: true},
		&cli.StringFlag{Name: "plot", Usage: "draw loss and accuracy curves as a PNG to `<file>`", TakesFile: true},
		&cli.StringFlag{Name: "init-from", Usage: "initialise the weights from a student `<model.onnx>` exported by distill", TakesFile: true},
		&cli.StringFlag{Name: "blas", Value: "auto", Usage: "student BLAS `<backend>`: auto, openblas or go"},
	}
	flags = append(flags, runtimeFlags("the online teacher")...)
	flags = append(flags, preprocessFlags("", "")...)
	flags = append(flags, preprocessFlags("teacher-", "the student's")...)
	return &cli.Command{
		Name:        "train",
		Usage:       "Train a student on hard labels, soft targets, or an online teacher",
		UsageText:   "distill train --model <spec.json> --data <file> [--labels <file>] [--soft-targets <file> | --teacher <model.onnx>] --out <file> [options]",
		Description: trainDescription,
		Flags:       flags,
		Action: func(cCtx *cli.Context) error {
			opts, err := trainOptionsFromFlags(cCtx)
			if err != nil {
				return err
			}
			return runTrain(cCtx.Context, opts, cCtx.App.Writer, cCtx.App.ErrWriter)
		},
	}
}

// trainOptionsFromFlags reads and checks the flags of `distill train`.
func trainOptionsFromFlags(cCtx *cli.Context) (TrainCLIOptions, error) {
	o := TrainCLIOptions{TrainOptions: pipeline.DefaultTrainOptions()}
	t := &o.TrainOptions
	t.ModelSpec = cCtx.String("model")
	t.Data, t.Labels = cCtx.String("data"), cCtx.String("labels")
	t.SoftTargets = cCtx.String("soft-targets")
	o.TeacherModel = cCtx.String("teacher")
	t.TeacherPath = o.TeacherModel
	t.Temperature, t.Alpha = cCtx.Float64("temperature"), cCtx.Float64("alpha")
	t.Loss, t.Ensemble = cCtx.String("loss"), cCtx.String("ensemble")
	t.Epochs, t.Batch, t.LR = cCtx.Int("epochs"), cCtx.Int("batch"), cCtx.Float64("lr")
	t.Optimizer, t.Momentum = cCtx.String("optimizer"), cCtx.Float64("momentum")
	t.Jitter, t.Seed = cCtx.Int("jitter"), cCtx.Uint64("seed")
	t.EvalData, t.EvalLabels = cCtx.String("eval-data"), cCtx.String("eval-labels")
	t.Out, t.Resume, t.Overwrite = cCtx.String("out"), cCtx.Bool("resume"), cCtx.Bool("overwrite")
	t.Metrics, t.Plot, t.InitFrom = cCtx.String("metrics"), cCtx.String("plot"), cCtx.String("init-from")
	o.ORTLib = globalString(cCtx, flagORTLib)
	o.BLAS = cCtx.String("blas")

	if err := requireFlags(cCtx, "model", "data", "out"); err != nil {
		return o, err
	}
	if t.SoftTargets != "" && o.TeacherModel != "" {
		return o, usageErrorf(cCtx, "--soft-targets and --teacher: choose one (offline or online distillation)")
	}
	if t.Resume && t.Overwrite {
		return o, usageErrorf(cCtx, "--resume and --overwrite: choose one")
	}
	if t.Resume && t.InitFrom != "" {
		return o, usageErrorf(cCtx, "--resume and --init-from: a resumed run takes its weights from --out")
	}
	if (t.EvalData == "") != (t.EvalLabels == "") {
		return o, usageErrorf(cCtx, "--eval-data and --eval-labels go together")
	}
	for _, c := range []struct {
		flag, val string
		ok        []string
	}{
		{"loss", t.Loss, []string{"kl", "mse"}},
		{"ensemble", t.Ensemble, []string{"probs", "logits"}},
		{"optimizer", t.Optimizer, []string{"adam", "sgd"}},
		{"blas", o.BLAS, choicesBLAS},
	} {
		if err := checkChoice(cCtx, c.flag, c.val, c.ok); err != nil {
			return o, err
		}
	}
	switch {
	case !(t.Temperature > 0):
		return o, usageErrorf(cCtx, "--temperature %v: must be positive", t.Temperature)
	case !(t.Alpha >= 0 && t.Alpha <= 1):
		return o, usageErrorf(cCtx, "--alpha %v: must be in [0, 1]", t.Alpha)
	case t.Epochs < 1:
		return o, usageErrorf(cCtx, "--epochs %d: must be at least 1", t.Epochs)
	case t.Batch < 1:
		return o, usageErrorf(cCtx, "--batch %d: must be at least 1", t.Batch)
	case !(t.LR > 0):
		return o, usageErrorf(cCtx, "--lr %v: must be positive", t.LR)
	case t.Jitter < 0:
		return o, usageErrorf(cCtx, "--jitter %d: must not be negative", t.Jitter)
	case t.Jitter > 0 && t.SoftTargets != "":
		return o, usageErrorf(cCtx, "--jitter with --soft-targets: the file holds the teacher's outputs for the unshifted images; use --teacher to augment")
	}
	var err error
	if o.Device, o.GPUID, o.Threads, err = runtimeFromFlags(cCtx); err != nil {
		return o, err
	}
	if t.Preprocess, _, err = preprocessFromFlags(cCtx, "", pipeline.Preprocess{}); err != nil {
		return o, err
	}
	if t.TeacherPreprocess, _, err = preprocessFromFlags(cCtx, "teacher-", t.Preprocess); err != nil {
		return o, err
	}
	return o, nil
}

// runTrain chooses the BLAS backend, opens the online teacher if any, and trains. People's output
// goes to stdout; the progress bar to stderr when it is a terminal.
func runTrain(ctx context.Context, o TrainCLIOptions, stdout, stderr io.Writer) error {
	if _, err := student.UseBLAS(o.BLAS); err != nil {
		return err
	}
	if o.TeacherModel != "" {
		if err := initRuntime(o.ORTLib, o.Device); err != nil {
			return err
		}
		// The teacher runs between the student's steps: its idle threads must not spin.
		s, err := onnx.Open(o.TeacherModel, onnx.Options{Device: o.Device, GPUID: o.GPUID, Threads: o.Threads, Batch: o.Batch,
			InputShape: o.TeacherPreprocess.InputShape, NoSpin: true})
		if err != nil {
			return err
		}
		defer s.Close()
		slog.Info("online teacher", "model", o.TeacherModel, "device", s.Device(), "classes", s.Classes())
		o.Teacher = s
	}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		o.Progress = stderr
	}
	res, err := pipeline.Train(ctx, o.TrainOptions, stdout)
	if err != nil {
		return err
	}
	if n := len(res.Epochs); n > 0 {
		fmt.Fprintf(stdout, "checkpoint %s at epoch %d\n", res.Checkpoint, res.Epochs[n-1].Epoch)
	}
	return nil
}
