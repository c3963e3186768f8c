package train

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/pipeline/dataset"
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

// resume restores the network, optimiser and RNG from the checkpoint and returns its epoch.
func (t *trainer) resume() (int, error) {
	o := &t.opts
	ck, err := student.LoadCheckpoint(o.Checkpoint)
	if err != nil {
		return 0, fmt.Errorf("train: resume: %w", err)
	}
	if err := t.checkResume(ck); err != nil {
		return 0, fmt.Errorf("train: resume: checkpoint %s %w", o.Checkpoint, err)
	}
	net, err := student.NewNet(t.spec, o.Seed)
	if err != nil {
		return 0, fmt.Errorf("train: %w", err)
	}
	t.net = net
	if err := net.LoadParams(ck.Params); err != nil {
		return 0, fmt.Errorf("train: resume %s: %w", o.Checkpoint, err)
	}
	t.optim = t.newOptimizer()
	if err := t.optim.SetState(ck.Optimizer); err != nil {
		return 0, fmt.Errorf("train: resume %s: optimizer state: %w", o.Checkpoint, err)
	}
	t.pcg = &rand.PCG{}
	if err := t.pcg.UnmarshalBinary(ck.RNG); err != nil {
		return 0, fmt.Errorf("train: resume %s: rng state: %w", o.Checkpoint, err)
	}
	t.rng = rand.New(t.pcg)
	slog.Info("resumed", "checkpoint", o.Checkpoint, "epoch", ck.Epoch)
	return ck.Epoch, nil
}

// checkResume refuses a checkpoint that belongs to another run: another spec, teachers,
// preprocessing or optimiser. Errors continue the sentence "checkpoint <path> ...".
func (t *trainer) checkResume(ck *student.Checkpoint) error {
	o := &t.opts
	if !student.SameArchitecture(ck.Spec, t.spec) {
		return fmt.Errorf("was trained with another spec than %s: checkpoint %s, spec %s", o.Spec, student.DescribeSpec(ck.Spec), student.DescribeSpec(t.spec))
	}
	if raw, ok := ck.Meta[meta.Provenance]; ok {
		var p provenance.Record
		if err := json.Unmarshal([]byte(raw), &p); err == nil && p.DataSHA256 != "" && p.DataSHA256 != t.data.SHA256 {
			slog.Warn("resume: the checkpoint was trained on other data", "checkpoint", o.Checkpoint, "was", p.Data, "was_sha256", p.DataSHA256, "now", o.Data, "now_sha256", t.data.SHA256)
		}
		// Continuing with another teacher would not be the run the checkpoint belongs to.
		if was, now := p.TeacherSHA256s(), t.prov.TeacherSHA256s(); p.Mode != "" && !slices.Equal(was, now) {
			source := "no teacher (hard labels)"
			switch {
			case o.SoftTargets != "":
				source = fmt.Sprintf("soft targets %s come from teacher(s) %v", o.SoftTargets, now)
			case o.TeacherPath != "":
				source = fmt.Sprintf("teacher %s has sha256 %v", o.TeacherPath, now)
			}
			return fmt.Errorf("was trained (%s) with teacher(s) %v, but %s", p.Mode, was, source)
		}
		if p.Mode != "" && (!slices.Equal(p.ExcludeClasses, o.ExcludeClasses) || !slices.Equal(p.OnlyClasses, o.OnlyClasses)) {
			return fmt.Errorf("was trained with class filters exclude %v, only %v; the options give exclude %v, only %v",
				p.ExcludeClasses, p.OnlyClasses, o.ExcludeClasses, o.OnlyClasses)
		}
	}
	if raw, ok := ck.Meta[meta.Preprocess]; ok {
		var p dataset.Preprocess
		if err := json.Unmarshal([]byte(raw), &p); err == nil && !reflect.DeepEqual(p.Normalized(), o.Preprocess.Normalized()) {
			return fmt.Errorf("was trained with preprocessing %s; the options give %s", raw, provenance.MustJSON(o.Preprocess))
		}
	}
	if ck.OptimizerName != "" && ck.OptimizerName != o.Optimizer {
		return fmt.Errorf("was trained with optimizer %s, not %s", ck.OptimizerName, o.Optimizer)
	}
	return nil
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
