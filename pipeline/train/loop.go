package train

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/student"
)

// Hook is attached to the training loop: each of its functions that is set runs at its point of
// every run, in the order the hooks were attached. An error from a hook stops training and is
// returned by Train.
type Hook struct {
	// Name names the hook in errors.
	Name string
	// OnStart runs once before the first epoch of this run (after a resume, the first epoch
	// still to train).
	OnStart func(l *Loop) error
	// OnEpochStart runs before each epoch's first step.
	OnEpochStart func(l *Loop, epoch int) error
	// OnStep runs after each optimiser step.
	OnStep func(l *Loop, s StepInfo) error
	// OnEpochEnd runs after each epoch's last step with its metrics, which hooks may fill in
	// (evaluation does); m is the last entry of l.History().
	OnEpochEnd func(l *Loop, m *EpochMetrics) error
	// OnEnd runs once after the last epoch.
	OnEnd func(l *Loop) error
}

// StepInfo describes one optimiser step to OnStep hooks.
type StepInfo struct {
	Epoch   int     // the epoch, from 1
	Samples int     // samples in this step's batch
	Seen    int     // samples of the epoch seen so far, this batch included
	Loss    float64 // the batch's mean loss
}

// Loop is the training loop of one Train call: it only steps through the epochs and calls the
// hooks around the steps. Checkpoints, the metrics file, the plot, the report line, evaluation and
// the learning-rate schedule are hooks.
type Loop struct {
	t       *trainer
	hooks   []Hook
	history []EpochMetrics
	epoch   int
	lr      float64
	last    *eval.Classification // the last evaluation, nil without eval data
}

// Options returns the options of the run.
func (l *Loop) Options() Options { return l.t.opts }

// Epoch returns the epoch being trained (from 1), or the last completed one outside an epoch.
func (l *Loop) Epoch() int { return l.epoch }

// Samples is the number of training samples, the steps' samples summed over an epoch: those the
// class filters keep.
func (l *Loop) Samples() int { return l.t.samples() }

// LR returns the learning rate of the current epoch.
func (l *Loop) LR() float64 { return l.lr }

// SetLR sets the learning rate of the following steps.
func (l *Loop) SetLR(lr float64) {
	l.lr = lr
	l.t.optim.SetLR(lr)
}

// Net returns the student being trained.
func (l *Loop) Net() *student.Net { return l.t.net }

// History returns the metrics of every epoch of the checkpoint so far, resumed ones included.
func (l *Loop) History() []EpochMetrics { return l.history }

// attach adds hooks after those already attached.
func (l *Loop) attach(h ...Hook) { l.hooks = append(l.hooks, h...) }

// run trains from epoch from+1 to the options' Epochs, calling the hooks.
func (l *Loop) run(ctx context.Context, from int) error {
	o := &l.t.opts
	l.epoch = from
	for _, h := range l.hooks {
		if h.OnStart != nil {
			if err := h.OnStart(l); err != nil {
				return fmt.Errorf("train: %s: %w", h.Name, err)
			}
		}
	}
	for epoch := from + 1; epoch <= o.Epochs; epoch++ {
		l.epoch = epoch
		for _, h := range l.hooks {
			if h.OnEpochStart != nil {
				if err := h.OnEpochStart(l, epoch); err != nil {
					return fmt.Errorf("train: epoch %d: %s: %w", epoch, h.Name, err)
				}
			}
		}
		m, err := l.t.epoch(ctx, epoch, l.step)
		if err != nil {
			if ctx.Err() != nil {
				if epoch == 1 {
					return fmt.Errorf("train: interrupted in epoch 1; no checkpoint written: %w", ctx.Err())
				}
				return fmt.Errorf("train: interrupted in epoch %d; %s holds epoch %d: %w", epoch, o.Checkpoint, epoch-1, ctx.Err())
			}
			return err
		}
		l.history = append(l.history, *m)
		for _, h := range l.hooks {
			if h.OnEpochEnd != nil {
				if err := h.OnEpochEnd(l, &l.history[len(l.history)-1]); err != nil {
					return fmt.Errorf("train: epoch %d: %s: %w", epoch, h.Name, err)
				}
			}
		}
	}
	for _, h := range l.hooks {
		if h.OnEnd != nil {
			if err := h.OnEnd(l); err != nil {
				return fmt.Errorf("train: %s: %w", h.Name, err)
			}
		}
	}
	return nil
}

// step runs the OnStep hooks.
func (l *Loop) step(s StepInfo) error {
	for _, h := range l.hooks {
		if h.OnStep != nil {
			if err := h.OnStep(l, s); err != nil {
				return fmt.Errorf("train: epoch %d: %s: %w", s.Epoch, h.Name, err)
			}
		}
	}
	return nil
}

// logStart logs the run's settings.
func (l *Loop) logStart(from int) {
	t, o := l.t, &l.t.opts
	attrs := []any{"mode", t.prov.Mode, "spec", o.Spec, "n", t.samples(), "epochs", o.Epochs,
		"from_epoch", from, "batch", o.Batch, "optimizer", o.Optimizer, "lr", o.LR, "schedule", o.Schedule.String()}
	if t.k > 0 {
		// Temperature, alpha and the soft loss enter only with a teacher.
		attrs = append(attrs, "temperature", o.Temperature, "alpha", t.loss.Alpha, "loss", o.Loss)
	}
	if t.aug != nil {
		attrs = append(attrs, "augment", t.aug.String())
	}
	if len(o.Hints) > 0 {
		attrs = append(attrs, "hints", strings.Join(hintStrings(o.Hints), " "))
	}
	slog.Info("train", attrs...)
}
