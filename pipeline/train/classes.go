package train

import (
	"fmt"
	"log/slog"
	"slices"
)

// validateClasses checks the class filters on their own: at most one, no class twice, none
// negative (the upper bound is the spec's, checked by filterClasses).
func (in *Inputs) validateClasses() error {
	if len(in.ExcludeClasses) > 0 && len(in.OnlyClasses) > 0 {
		return optErr("OnlyClasses", "with classes to exclude: choose one")
	}
	for _, f := range []struct {
		opt     string
		classes []int
	}{{"ExcludeClasses", in.ExcludeClasses}, {"OnlyClasses", in.OnlyClasses}} {
		seen := map[int]bool{}
		for _, k := range f.classes {
			if k < 0 || seen[k] {
				return optErr(f.opt, "class %d is negative or given twice", k)
			}
			seen[k] = true
		}
	}
	return nil
}

// filterClasses keeps the indices of the training samples whose label the class filters let
// through (t.keep; nil without a filter, all samples), after the soft targets or the teacher
// were checked against the whole data set, and records the count in the provenance.
func (t *trainer) filterClasses() error {
	o := &t.opts
	opt, classes := "ExcludeClasses", o.ExcludeClasses
	if len(o.OnlyClasses) > 0 {
		opt, classes = "OnlyClasses", o.OnlyClasses
	}
	if len(classes) == 0 {
		return nil
	}
	for _, k := range classes {
		if k >= t.spec.Classes {
			return &OptionError{Scope: "train", Option: opt, Err: fmt.Errorf("class %d outside [0, %d) of student spec %s", k, t.spec.Classes, o.Spec)}
		}
	}
	if t.labels == nil {
		return &OptionError{Scope: "train", Option: opt, Err: fmt.Errorf("filtering by class needs the labels of %s", o.Data)}
	}
	only := opt == "OnlyClasses"
	keep := make([]int, 0, t.data.N)
	for i, y := range t.labels {
		if slices.Contains(classes, int(y)) == only {
			keep = append(keep, i)
		}
	}
	if len(keep) == 0 {
		return &OptionError{Scope: "train", Option: opt, Err: fmt.Errorf("no sample of %s is left", o.Data)}
	}
	t.keep = keep
	t.prov.ExcludeClasses, t.prov.OnlyClasses = o.ExcludeClasses, o.OnlyClasses
	t.prov.DataKept = len(keep)
	what := "without classes"
	if only {
		what = "only classes"
	}
	fmt.Fprintf(t.out, "class filter: training on %d of %d samples of %s (%s %v)\n", len(keep), t.data.N, o.Data, what, classes)
	slog.Info("class filter", "data", o.Data, "kept", len(keep), "of", t.data.N, "exclude", o.ExcludeClasses, "only", o.OnlyClasses)
	return nil
}

// samples is the number of samples trained on per epoch: those the class filters keep.
func (t *trainer) samples() int {
	if t.keep != nil {
		return len(t.keep)
	}
	return t.data.N
}
