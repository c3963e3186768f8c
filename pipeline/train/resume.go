package train

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"

	"github.com/distillgo/distill/pipeline/export"
	"github.com/distillgo/distill/pipeline/provenance"
	"github.com/distillgo/distill/student"
)

// fresh builds a new network (seeded, or from InitFrom) and optimiser.
func (t *trainer) fresh() error {
	o := &t.opts
	net, err := student.NewNet(t.spec, o.Seed)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	t.net = net
	if o.InitFrom != "" {
		params, err := export.ImportParams(o.InitFrom, t.spec)
		if err != nil {
			return fmt.Errorf("train: init from %s: %w", o.InitFrom, err)
		}
		if err := net.LoadParams(params); err != nil {
			return fmt.Errorf("train: init from %s: %w", o.InitFrom, err)
		}
	}
	t.optim = t.newOptimizer()
	// The training stream is seeded apart from the weight initialisation, which uses Seed itself.
	t.pcg = rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15)
	t.rng = rand.New(t.pcg)
	return nil
}

func (t *trainer) newOptimizer() student.Optimizer {
	if t.opts.Optimizer == "sgd" {
		return student.NewSGD(t.opts.LR, t.opts.Momentum)
	}
	// Kingma & Ba 2015 defaults.
	return student.NewAdam(t.opts.LR, 0.9, 0.999, 1e-8)
}

// resume restores the network, optimiser and RNG from the checkpoint and returns its epoch and
// its auxiliary tensors (the hints' projections).
func (t *trainer) resume() (int, []*student.Param, error) {
	o := &t.opts
	ck, err := student.LoadCheckpoint(o.Checkpoint)
	if err != nil {
		return 0, nil, fmt.Errorf("train: resume: %w", err)
	}
	was, err := t.checkResume(ck)
	if err != nil {
		return 0, nil, err
	}
	// The weights started from the checkpoint's initialisation (a resume takes none of its own).
	t.prov.InitFrom = was.InitFrom
	net, err := student.NewNet(t.spec, o.Seed)
	if err != nil {
		return 0, nil, fmt.Errorf("train: %w", err)
	}
	t.net = net
	if err := net.LoadParams(ck.Params); err != nil {
		return 0, nil, fmt.Errorf("train: resume %s: %w", o.Checkpoint, err)
	}
	t.optim = t.newOptimizer()
	if err := t.optim.SetState(ck.Optimizer); err != nil {
		return 0, nil, fmt.Errorf("train: resume %s: optimizer state: %w", o.Checkpoint, err)
	}
	t.pcg = &rand.PCG{}
	if err := t.pcg.UnmarshalBinary(ck.RNG); err != nil {
		return 0, nil, fmt.Errorf("train: resume %s: rng state: %w", o.Checkpoint, err)
	}
	t.rng = rand.New(t.pcg)
	slog.Info("resumed", "checkpoint", o.Checkpoint, "epoch", ck.Epoch)
	return ck.Epoch, ck.Aux, nil
}

// checkResume refuses a checkpoint that belongs to another run: another spec, teachers,
// preprocessing, optimiser or any other setting that shapes the training (see checkSettings), and
// one that records no settings to check. It returns the checkpoint's record.
func (t *trainer) checkResume(ck *student.Checkpoint) (*provenance.Record, error) {
	o := &t.opts
	if !student.SameArchitecture(ck.Spec, t.spec) {
		return nil, fmt.Errorf("train: resume: checkpoint %s was trained with another spec than %s: checkpoint %s, spec %s", o.Checkpoint, o.Spec, student.DescribeSpec(ck.Spec), student.DescribeSpec(t.spec))
	}
	pre, was, err := provenance.Read(ck.Meta)
	if err != nil {
		return nil, fmt.Errorf("train: resume: checkpoint %s: %w", o.Checkpoint, err)
	}
	// Without its settings a resume could not tell whether the options continue the run, and the
	// provenance it writes would describe epochs it did not see: refused, as a careful user would
	// want rather than a run recorded with settings it may not have had.
	if was == nil || was.Mode == "" || pre == nil {
		return nil, fmt.Errorf("train: resume: checkpoint %s records no training settings (it was not written by distill train), so a resume cannot check that it continues the same run: %w", o.Checkpoint, ErrSettingChanged)
	}
	// Continuing with another teacher would not be the run the checkpoint belongs to.
	if old, now := was.TeacherSHA256s(), t.prov.TeacherSHA256s(); !slices.Equal(old, now) {
		source := "no teacher (hard labels)"
		switch {
		case o.SoftTargets != "":
			source = fmt.Sprintf("soft targets %s come from teacher(s) %v", o.SoftTargets, now)
		case o.TeacherPath != "":
			source = fmt.Sprintf("teacher %s has sha256 %v", o.TeacherPath, now)
		}
		return nil, fmt.Errorf("train: resume: checkpoint %s was trained (%s) with teacher(s) %v, but %s", o.Checkpoint, was.Mode, old, source)
	}
	if !reflect.DeepEqual(pre.Normalized(), o.Preprocess.Normalized()) {
		return nil, &OptionError{Scope: "train", Option: "Preprocess", Err: &SettingError{Setting: "preprocess", Checkpoint: o.Checkpoint,
			Was: "preprocessing " + provenance.MustJSON(pre), Now: "preprocessing " + provenance.MustJSON(o.Preprocess)}}
	}
	if ck.OptimizerName != "" && ck.OptimizerName != o.Optimizer {
		return nil, &OptionError{Scope: "train", Option: "Optimizer", Err: &SettingError{Setting: "optimizer", Checkpoint: o.Checkpoint,
			Was: ck.OptimizerName, Now: o.Optimizer}}
	}
	return was, t.checkSettings(ck, was)
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
