package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/distillgo/distill/pipeline/provenance"
	"github.com/distillgo/distill/student"
)

// A resumed run continues the run its checkpoint holds, and the provenance it writes describes
// the whole run with the options given now. So every option that shapes the training must be the
// one the checkpoint records (its provenance.Record and preprocessing), except what is meant to
// change: Epochs (a longer run; a shorter one is a run already done), and the learning rates of
// the epochs the checkpoint has not trained yet (a schedule extended, or steps added after a
// constant rate). The eval set and the output files may change too: they do not shape the
// weights, and the provenance records the eval set of the last epoch's accuracy.

// ErrSettingChanged is wrapped by the error of a resume whose options differ from the settings
// its checkpoint was trained with (a *SettingError, inside an *OptionError naming the option).
var ErrSettingChanged = errors.New("a resume continues its checkpoint's run with the same settings")

// SettingError reports a setting of a resumed run that differs from the one its checkpoint was
// trained with.
type SettingError struct {
	Setting    string // the setting as the provenance names it, e.g. "lr"
	Checkpoint string // the checkpoint's path
	Was, Now   string // the checkpoint's value and the options', as the option is written
	Why        string // what the values alone do not show (e.g. which epoch's rate changes), or ""
}

func (e *SettingError) Error() string {
	msg := fmt.Sprintf("%s differs from the %s that checkpoint %s was trained with", e.Now, e.Was, e.Checkpoint)
	if e.Why != "" {
		msg += " (" + e.Why + ")"
	}
	return msg + ": " + ErrSettingChanged.Error()
}

// Unwrap returns ErrSettingChanged.
func (e *SettingError) Unwrap() error { return ErrSettingChanged }

// setting is one setting of a run that shapes its training, as the checkpoint's record and this
// run's hold it.
type setting struct {
	option   string // the Options field that sets it (the command line names its flag)
	name     string // the provenance's name for it
	was, now string // the two values, as the option is written
	why      string // SettingError.Why
}

// checkSettings refuses options that differ from the settings the checkpoint ck was trained
// with, as its record was holds them; now is this run's record, made from the options. The error
// is an *OptionError holding a *SettingError.
func (t *trainer) checkSettings(ck *student.Checkpoint, was *provenance.Record) error {
	d := firstDifference(was, &t.prov)
	if d == nil {
		d = t.rateDifference(ck, was)
	}
	if d == nil {
		return nil
	}
	return &OptionError{Scope: "train", Option: d.option, Err: &SettingError{
		Setting: d.name, Checkpoint: t.opts.Checkpoint, Was: d.was, Now: d.now, Why: d.why}}
}

// firstDifference returns the first setting, but for the learning rates, that records was and
// now give different values, or nil. A setting that does not enter the loss of now's mode is left
// out (the temperature and the soft loss of a run on hard labels; how an ensemble combines, for
// one teacher). The records of one version of this code hold the same fields; the fields added
// since the first checkpoints with a record (class filters, teacher inputs, the DKD settings,
// logit standardisation) are absent exactly when the feature was off, so an absent field is
// compared as its zero value.
func firstDifference(was, now *provenance.Record) *setting {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	ptr := func(v *float64) string {
		if v == nil {
			return "none"
		}
		return f(*v)
	}
	// Files are compared by content: a file moved or renamed is the same input.
	file := func(path, sum string) string {
		if path == "" && sum == "" {
			return "none"
		}
		return path + " (sha256 " + sum + ")"
	}
	diffs := []setting{
		{option: modeOption(was, now), name: "mode", was: was.Mode, now: now.Mode},
	}
	if was.DataSHA256 != now.DataSHA256 {
		diffs = append(diffs, setting{option: "Data", name: "data", was: file(was.Data, was.DataSHA256), now: file(now.Data, now.DataSHA256),
			why: "another transfer set: a new run can start from the checkpoint's exported weights"})
	}
	if was.LabelsSHA256 != now.LabelsSHA256 {
		diffs = append(diffs, setting{option: "Labels", name: "labels", was: file(was.Labels, was.LabelsSHA256), now: file(now.Labels, now.LabelsSHA256)})
	}
	diffs = append(diffs,
		setting{option: "ExcludeClasses", name: "exclude_classes", was: ints(was.ExcludeClasses), now: ints(now.ExcludeClasses)},
		setting{option: "OnlyClasses", name: "only_classes", was: ints(was.OnlyClasses), now: ints(now.OnlyClasses)},
		setting{option: "TeacherPreprocess", name: "teacher_preprocess", was: preprocessJSON(was), now: preprocessJSON(now)},
		setting{option: "TeacherInputs", name: "teacher_inputs", was: inputs(was.TeacherInputs), now: inputs(now.TeacherInputs)},
		setting{option: teachersOption(now), name: "teachers", was: compact(was.Teachers), now: compact(now.Teachers)},
		setting{option: "Optimizer", name: "optimizer", was: was.Optimizer, now: now.Optimizer},
		setting{option: "Momentum", name: "momentum", was: f(was.Momentum), now: f(now.Momentum)},
		setting{option: "Batch", name: "batch", was: strconv.Itoa(was.Batch), now: strconv.Itoa(now.Batch)},
		setting{option: "Jitter", name: "jitter", was: strconv.Itoa(was.Jitter), now: strconv.Itoa(now.Jitter)},
		setting{option: "Augment", name: "augment", was: was.Augment, now: now.Augment},
		setting{option: "Hints", name: "hints", was: strings.Join(was.Hints, " "), now: strings.Join(now.Hints, " ")},
		setting{option: "Seed", name: "seed", was: strconv.FormatUint(was.Seed, 10), now: strconv.FormatUint(now.Seed, 10)},
	)
	if now.Mode != provenance.ModeHard {
		diffs = append(diffs,
			setting{option: "Temperature", name: "temperature", was: f(was.Temperature), now: f(now.Temperature)},
			setting{option: "Alpha", name: "alpha", was: f(was.Alpha), now: f(now.Alpha)},
			setting{option: "Loss", name: "loss", was: was.Loss, now: now.Loss},
			setting{option: "DKDAlpha", name: "dkd_alpha", was: ptr(was.DKDAlpha), now: ptr(now.DKDAlpha)},
			setting{option: "DKDBeta", name: "dkd_beta", was: ptr(was.DKDBeta), now: ptr(now.DKDBeta)},
			setting{option: "DKDWarmup", name: "dkd_warmup", was: strconv.Itoa(was.DKDWarmup), now: strconv.Itoa(now.DKDWarmup)},
			setting{option: "StandardizeLogits", name: "standardize_logits", was: strconv.FormatBool(was.StandardizeLogits), now: strconv.FormatBool(now.StandardizeLogits)},
		)
		if len(now.TeacherSHA256s()) > 1 {
			diffs = append(diffs, setting{option: "Ensemble", name: "ensemble", was: was.Ensemble, now: now.Ensemble})
		}
	}
	for _, d := range diffs {
		if d.was != d.now {
			return &d
		}
	}
	return nil
}

// modeOption names the option that chose the mode of records was and now: the soft targets when
// either trained offline, else the online teacher.
func modeOption(was, now *provenance.Record) string {
	if was.Mode == provenance.ModeOffline || now.Mode == provenance.ModeOffline {
		return "SoftTargets"
	}
	return "TeacherPath"
}

// teachersOption names the option that gives a record's teacher list: the soft-target file's
// (offline), or the online ensemble's.
func teachersOption(r *provenance.Record) string {
	if r.Mode == provenance.ModeOffline {
		return "SoftTargets"
	}
	return "OnlineTeachers"
}

func ints(v []int) string {
	if len(v) == 0 {
		return "none"
	}
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// preprocessJSON returns the online teacher's preprocessing of r, with defaults filled in, as
// JSON ("none" without an online teacher).
func preprocessJSON(r *provenance.Record) string {
	if r.TeacherPreprocess == nil {
		return "none"
	}
	return provenance.MustJSON(r.TeacherPreprocess.Normalized())
}

func inputs(in []provenance.InputFile) string {
	if len(in) == 0 {
		return "none"
	}
	s := make([]string, len(in))
	for i, x := range in {
		s[i] = x.Name + "=" + x.Path + " (sha256 " + x.SHA256 + ")"
	}
	return strings.Join(s, ", ")
}

// compact returns the JSON raw without insignificant space ("none" when empty), so that a list
// copied from a file compares equal however the file spaced it.
func compact(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "none"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// rateDifference returns the learning rate or schedule that would have run an epoch the
// checkpoint holds at another rate than it ran at, or nil. Epochs after the checkpoint's may
// change: "3:1e-2" continues as "3:1e-2,5:1e-3", and a constant 1e-2 for 3 epochs continues as
// the same schedule, which is how a run in stages is written. A cosine schedule's rates depend on
// the run's epochs, so a cosine run cannot be lengthened.
//
// A record written before RunEpochs was recorded lacks the epochs a cosine run annealed over; it
// is assumed to be Epochs (the only way a cosine run continues exactly), and checked against the
// rate the checkpoint's optimiser holds, that of its last epoch.
func (t *trainer) rateDifference(ck *student.Checkpoint, was *provenance.Record) *setting {
	s := t.opts.Settings
	old, err := ParseSchedule(was.Schedule)
	if err != nil {
		return &setting{option: "Schedule", name: "schedule", was: was.Schedule, now: s.Schedule.String(),
			why: fmt.Sprintf("the checkpoint's does not parse: %v", err)}
	}
	oldEpochs := was.RunEpochs
	if oldEpochs == 0 {
		oldEpochs = s.Epochs
		if lr, ok := ck.OptimizerHyper["lr"]; ok && old.Cosine && ck.Epoch > 0 && old.Rate(ck.Epoch, oldEpochs, was.LR) != lr {
			return &setting{option: "Epochs", name: "run_epochs", was: "number of epochs (not recorded)", now: strconv.Itoa(s.Epochs),
				why: fmt.Sprintf("the cosine schedule over %d epochs gives epoch %d the rate %g, but it ran at %g", s.Epochs, ck.Epoch, old.Rate(ck.Epoch, oldEpochs, was.LR), lr)}
		}
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	// Epochs past the ones asked for are not run again ("nothing to do"): only those up to them
	// must agree.
	for e := 1; e <= min(ck.Epoch, s.Epochs); e++ {
		r0, r1 := old.Rate(e, oldEpochs, was.LR), s.Schedule.Rate(e, s.Epochs, s.LR)
		if r0 == r1 {
			continue
		}
		why := fmt.Sprintf("epoch %d ran at %g and would run at %g; only the rates after epoch %d, the checkpoint's, may change", e, r0, r1, ck.Epoch)
		switch {
		case reflect.DeepEqual(old, s.Schedule) && !old.Cosine || old.Cosine && s.Schedule.Cosine && was.LR != s.LR:
			// The same constant rate or cosine: the base rate changed.
			return &setting{option: "LR", name: "lr", was: f(was.LR), now: f(s.LR)}
		case old.Cosine && s.Schedule.Cosine:
			return &setting{option: "Epochs", name: "run_epochs", was: strconv.Itoa(oldEpochs), now: strconv.Itoa(s.Epochs),
				why: "a cosine schedule anneals over the run's epochs: " + why}
		}
		return &setting{option: "Schedule", name: "schedule", was: describeSchedule(old, was.LR), now: describeSchedule(s.Schedule, s.LR), why: why}
	}
	return nil
}

// describeSchedule writes schedule s with base rate lr as a person reads it.
func describeSchedule(s Schedule, lr float64) string {
	f := strconv.FormatFloat(lr, 'g', -1, 64)
	switch {
	case s.Cosine:
		return "cosine from " + f
	case len(s.Steps) == 0:
		return "constant " + f
	}
	return s.String()
}
