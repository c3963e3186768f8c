package train

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/student"
)

// alignClasses numbers the training labels as the student's classes will be numbered, and
// records those names. The numbering is that of whatever the student learns from or starts from
// that numbers classes of its own — the model of --init-from, the online teachers, the soft-target
// file — all of which must agree; with none of them it is the data's own. It runs once the soft
// targets or the teachers are loaded. See
// [dataset.Dataset.AlignClasses] for how names and numbers are matched.
func (t *trainer) alignClasses() error {
	o := &t.opts
	var sources []dataset.ModelClasses
	if o.Resume {
		// The run goes on numbering the classes as its checkpoint does: a first run numbered
		// after --init-from, which a resume does not take, would otherwise renumber by the data.
		ck, err := student.LoadCheckpoint(o.Checkpoint)
		if err != nil {
			return fmt.Errorf("train: resume: %w", err)
		}
		names, err := eval.RecordedClassNames(ck.Meta)
		if err != nil {
			return fmt.Errorf("train: resume %s: %w", o.Checkpoint, err)
		}
		if names != nil {
			// (One without names numbered by the data or by its teachers, which are here too.)
			sources = append(sources, dataset.ModelClasses{Of: "checkpoint " + o.Checkpoint + " (--resume)", N: t.spec.Classes, Names: names})
		}
	}
	if o.InitFrom != "" {
		info, err := onnx.ReadModelInfo(o.InitFrom)
		if err != nil {
			return fmt.Errorf("train: init from: %w", err)
		}
		names, err := eval.RecordedClassNames(info.Metadata)
		if err != nil {
			return fmt.Errorf("train: init from %s: %w", o.InitFrom, err)
		}
		sources = append(sources, dataset.ModelClasses{Of: "model " + o.InitFrom + " (--init-from)", N: t.spec.Classes, Names: names})
	}
	for _, tc := range t.teachers {
		names, err := eval.TeacherClassNames(tc.path, tc.m)
		if err != nil {
			return fmt.Errorf("train: %w", err)
		}
		sources = append(sources, dataset.ModelClasses{Of: "teacher " + tc.path, N: tc.m.Classes(), Names: names})
	}
	if o.SoftTargets != "" {
		sources = append(sources, dataset.ModelClasses{Of: "soft targets " + o.SoftTargets, N: t.spec.Classes, Names: t.softNames})
	}
	if len(sources) == 0 {
		// The student numbers the classes itself: as the data names them, in sorted order, except
		// that classes named by number (image folders "0" to "9") are those numbers, also when
		// some are missing.
		if !dataset.ClassesAreNumbers(t.data.ClassNames) {
			return t.checkLabels()
		}
		sources = append(sources, dataset.ModelClasses{Of: "student spec " + o.Spec, N: t.spec.Classes})
	}
	note, err := t.data.AlignTo(t.spec.Classes, sources...)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if note != "" {
		slog.Info(note)
	}
	t.labels = t.data.Labels
	t.prov.ClassNames = t.data.ClassNames
	return t.checkLabels()
}

// checkLabels checks the training labels, once numbered as the student's classes.
func (t *trainer) checkLabels() error {
	if err := t.data.CheckLabels(t.spec.Classes); err != nil {
		return fmt.Errorf("train: student spec %s: %w", t.opts.Spec, err)
	}
	return nil
}

// hintTeachers warns when an online teacher scores near chance on the labelled data with its
// preprocessing while a usual other one scores far higher (see [eval.PreprocessHint]).
func (t *trainer) hintTeachers() {
	if len(t.opts.TeacherInputs) > 0 {
		return
	}
	for _, tc := range t.teachers {
		hint := eval.PreprocessHint(context.Background(), tc.m, "teacher "+tc.path, tc.pre, t.data,
			eval.PreprocessFlags{Mean: "--teacher-mean", Std: "--teacher-std"})
		if hint != "" {
			slog.Warn(hint)
		}
	}
}

// alignEval numbers the eval set's labels as the student's classes are numbered.
func (t *trainer) alignEval(ev *dataset.Dataset) error {
	note, err := ev.AlignClasses(dataset.ModelClasses{Of: "the student (classes of " + t.opts.Data + ")", N: t.spec.Classes, Names: t.data.ClassNames})
	if err != nil {
		return fmt.Errorf("train: eval: %w", err)
	}
	if note != "" {
		slog.Info(note)
	}
	return nil
}
