package train

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/distillgo/distill/internal/logs"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/pipeline/provenance"
	"github.com/distillgo/distill/student"
)

// The built-in hooks. Train attaches the schedule first, then the caller's hooks, then
// evaluation, the checkpoint, the report line, the metrics file and the plot, so that the
// checkpoint records the epoch's evaluation and the files are written only for a saved epoch.

// scheduleHook sets each epoch's learning rate.
func scheduleHook(t *trainer) Hook {
	return Hook{Name: "schedule", OnEpochStart: func(l *Loop, epoch int) error {
		s := t.opts.Settings
		l.SetLR(s.Schedule.Rate(epoch, s.Epochs, s.LR))
		return nil
	}}
}

// dkdWarmupHook weighs the DKD term of epoch e (from 1) by min(e / DKDWarmup, 1), as Zhao et
// al.'s code does: it scales the loss's DKD weights at each epoch's start.
func dkdWarmupHook(t *trainer) Hook {
	return Hook{Name: "dkd warm-up", OnEpochStart: func(l *Loop, epoch int) error {
		s := t.opts.Settings
		w := min(float64(epoch)/float64(s.DKDWarmup), 1)
		t.loss.DKDAlpha, t.loss.DKDBeta = w*s.DKDAlpha, w*s.DKDBeta
		return nil
	}}
}

// evalHook scores the student on the eval set after every epoch and, with an online teacher,
// scores the teacher once at the start and reports the student's agreement with it.
func evalHook(ctx context.Context, t *trainer) Hook {
	var teacherLogits []float32
	return Hook{
		Name: "evaluation",
		OnStart: func(l *Loop) error {
			if len(t.teachers) == 0 {
				return nil
			}
			if t.teacherInputs != nil {
				slog.Info("no teacher agreement on the eval set: the teacher is fed by its own arrays, which the eval data lacks")
				return nil
			}
			var err error
			teacherLogits, err = t.teacherEval(ctx)
			return err
		},
		OnEpochEnd: func(l *Loop, m *EpochMetrics) error {
			ev := t.eval
			// The evaluation of a completed epoch runs to its end, so that its checkpoint is saved.
			logits, err := eval.Forward(context.Background(), t.net, t.evalX, ev.N, t.opts.Batch)
			if err != nil {
				return fmt.Errorf("eval: %w", err)
			}
			c, err := eval.Classify(logits, ev.N, t.spec.Classes, ev.Labels)
			if err != nil {
				return fmt.Errorf("eval %s: %w", ev.Path, err)
			}
			m.EvalLoss, m.EvalAccuracy, m.EvalErrors = &c.MeanNLL, &c.Accuracy, &c.Errors
			if teacherLogits != nil {
				if a, err := eval.Agreement(logits, teacherLogits, ev.N, t.spec.Classes); err == nil {
					m.Agreement = &a
				}
			}
			l.last = c
			return nil
		},
	}
}

// checkpointHook saves the checkpoint at every epoch's end.
func checkpointHook(t *trainer) Hook {
	return Hook{Name: "checkpoint", OnEpochEnd: func(l *Loop, m *EpochMetrics) error {
		return t.save(m.Epoch, l.last)
	}}
}

// reportHook prints and logs one line per epoch to w.
func reportHook(w io.Writer, soft bool) Hook {
	return Hook{Name: "report", OnEpochEnd: func(l *Loop, m *EpochMetrics) error {
		line := fmt.Sprintf("epoch %d/%d  loss %.4f", m.Epoch, l.Options().Epochs, m.Loss)
		if soft {
			line += fmt.Sprintf(" (soft %.4f, hard %.4f)", m.SoftLoss, m.HardLoss)
		}
		attrs := []any{"epoch", m.Epoch, "loss", m.Loss, "soft_loss", m.SoftLoss, "hard_loss", m.HardLoss,
			"samples_per_sec", m.SamplesPerSec}
		for i, h := range m.HintLosses {
			line += fmt.Sprintf(" hint%d %.4f", i+1, h)
			attrs = append(attrs, fmt.Sprintf("hint%d_loss", i+1), h)
		}
		if m.EvalAccuracy != nil {
			line += fmt.Sprintf("  eval loss %.4f acc %.2f%% (%d errors)", *m.EvalLoss, 100**m.EvalAccuracy, *m.EvalErrors)
			attrs = append(attrs, "eval_loss", *m.EvalLoss, "eval_accuracy", *m.EvalAccuracy)
		}
		if m.Agreement != nil {
			line += fmt.Sprintf(" agree %.2f%%", 100**m.Agreement)
			attrs = append(attrs, "eval_agreement", *m.Agreement)
		}
		if m.TeacherAccuracy != nil {
			line += fmt.Sprintf("  teacher %.2f%% on the batches", 100**m.TeacherAccuracy)
			attrs = append(attrs, "teacher_accuracy", *m.TeacherAccuracy)
		}
		line += fmt.Sprintf("  %.0f samples/s", m.SamplesPerSec)
		fmt.Fprintln(w, line)
		slog.Log(context.Background(), logs.Echo, "epoch", attrs...)
		return nil
	}}
}

// metricsHook rewrites the metrics file with every epoch so far.
func metricsHook(path string) Hook {
	return Hook{Name: "metrics file", OnEpochEnd: func(l *Loop, _ *EpochMetrics) error {
		return WriteMetricsFile(path, l.History())
	}}
}

// plotHook redraws the training curves.
func plotHook(path string) Hook {
	return Hook{Name: "plot", OnEpochEnd: func(l *Loop, _ *EpochMetrics) error {
		return PlotCurves(path, l.History())
	}}
}

// ProgressBar returns a hook that shows a progress bar on w (a terminal) within each epoch, with
// the epoch's running mean loss, cleared at the epoch's end.
func ProgressBar(w io.Writer) Hook {
	var bar *progressbar.ProgressBar
	var sum float64
	return Hook{
		Name: "progress bar",
		OnEpochStart: func(l *Loop, epoch int) error {
			bar = progressbar.NewOptions(l.Samples(), progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, l.Options().Epochs)),
				progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("samples"),
				progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
			// The clock starts now, not at the first step's end (whose rate would be the whole
			// batch over a few microseconds).
			bar.StartWithoutRender()
			sum = 0
			return nil
		},
		OnStep: func(l *Loop, s StepInfo) error {
			sum += s.Loss * float64(s.Samples)
			bar.Describe(fmt.Sprintf("epoch %d/%d loss %.4f", s.Epoch, l.Options().Epochs, sum/float64(s.Seen)))
			return bar.Add(s.Samples)
		},
		OnEpochEnd: func(*Loop, *EpochMetrics) error {
			return bar.Finish()
		},
	}
}

// ProgressLines returns a hook that logs, when stderr is not a terminal (a log file, a
// scheduler's output), a line on the epoch's progress every interval: samples seen, the running
// mean loss and the rate so far.
func ProgressLines(interval time.Duration) Hook {
	var start, last time.Time
	var sum float64
	return Hook{
		Name: "progress lines",
		OnEpochStart: func(*Loop, int) error {
			start, last, sum = time.Now(), time.Now(), 0
			return nil
		},
		OnStep: func(l *Loop, s StepInfo) error {
			sum += s.Loss * float64(s.Samples)
			if now := time.Now(); now.Sub(last) >= interval && s.Seen < l.Samples() {
				last = now
				slog.Info("progress", "epoch", fmt.Sprintf("%d/%d", s.Epoch, l.Options().Epochs),
					"samples", fmt.Sprintf("%d/%d", s.Seen, l.Samples()), "loss", fmt.Sprintf("%.4f", sum/float64(s.Seen)),
					"samples_per_sec", fmt.Sprintf("%.0f", float64(s.Seen)/now.Sub(start).Seconds()))
			}
			return nil
		},
	}
}

// save writes the checkpoint for a completed epoch atomically.
func (t *trainer) save(epoch int, ev *eval.Classification) error {
	rngState, err := t.pcg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("save rng state: %w", err)
	}
	params := make(map[string][]float32)
	for _, p := range t.net.Tensors() { // parameters and buffers
		params[p.Name] = p.Value
	}
	t.prov.Epochs = epoch
	if ev != nil {
		a := ev.Accuracy
		t.prov.EvalAccuracy = &a
	}
	ck := &student.Checkpoint{
		Spec: t.spec, Params: params, Aux: t.auxParams(), Optimizer: t.optim.State(), OptimizerName: t.optim.Name(),
		OptimizerHyper: t.optim.Hyper(), Epoch: epoch, RNG: rngState,
		Meta: provenance.Meta(t.opts.Preprocess, &t.prov),
	}
	return student.SaveCheckpoint(t.opts.Checkpoint, ck) // its errors name the file
}
