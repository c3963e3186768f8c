// Package teacher reads and opens the teachers the commands name, one way for all of them: a
// --teacher argument `<model.onnx>[:opt=v,...]`, its preprocessing layered as targets, train and
// eval all take it (the spec's options, over the --teacher-* flags, over the preprocessing the
// model records, else over the command's base), and its onnxruntime session, checked to be fed
// from the data.
package teacher

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/option"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/provenance"
)

// Arg is one --teacher argument, read.
type Arg struct {
	// Path is the model's file and Output the output kind its spec gives ("" when none).
	Path, Output string
	// Override is the spec's options over the --teacher-* flags: the fields set here replace the
	// preprocessing below them.
	Override dataset.PreprocessOverride
	// Recorded is the preprocessing the model records (its distill.preprocess metadata), or nil.
	Recorded *dataset.Preprocess
}

// Parse reads arg, with flags the --teacher-* flags given, without opening the model: its path,
// its output kind, and its options over the flags.
func Parse(arg string, flags dataset.PreprocessOverride) (Arg, error) {
	ts, err := dataset.ParseTeacherSpec(arg, dataset.Preprocess{})
	if err != nil {
		return Arg{}, err
	}
	return Arg{Path: ts.Path, Output: ts.Output, Override: flags.With(ts.Preprocess)}, nil
}

// Resolve is Parse, then reads the preprocessing the model records.
func Resolve(arg string, flags dataset.PreprocessOverride) (Arg, error) {
	a, err := Parse(arg, flags)
	if err != nil {
		return a, err
	}
	a.Recorded, err = Recorded(a.Path)
	return a, err
}

// Preprocess returns the teacher's preprocessing, validated: Override over Recorded, else over
// base (named baseName in the description), and a description of where each field came from.
func (a Arg) Preprocess(base dataset.Preprocess, baseName string) (dataset.Preprocess, string, error) {
	p, from := a.Override.Resolve(a.Recorded, base, baseName)
	if err := p.Validate(); err != nil {
		return p, from, fmt.Errorf("teacher %s: %w", a.Path, err)
	}
	return p, from, nil
}

// Spec returns the teacher as a dataset.TeacherSpec with the preprocessing of Preprocess.
func (a Arg) Spec(base dataset.Preprocess, baseName string) (dataset.TeacherSpec, string, error) {
	p, from, err := a.Preprocess(base, baseName)
	return dataset.TeacherSpec{Path: a.Path, Preprocess: p, Output: a.Output}, from, err
}

// Recorded returns the preprocessing the model at path records, or nil when it records none.
func Recorded(path string) (*dataset.Preprocess, error) {
	info, err := onnx.ReadModelInfo(path)
	if err != nil {
		return nil, err
	}
	raw, ok := info.Metadata[meta.Preprocess]
	if !ok {
		return nil, nil
	}
	pre, _, err := provenance.Read(map[string]string{meta.Preprocess: raw})
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	if pre != nil && pre.Scale != 0 {
		pre.ScaleFrom = "model " + path
	}
	return pre, nil
}

// Open opens the teacher at path with rt. A teacher fed from the data (fromData) must take one
// float input (float32, float16 or float64: the data is preprocessed in float32 and converted);
// one with other inputs is refused, naming them, as an *option.Error on "Teacher.Inputs". The
// runtime's option errors are marked as the teacher's (Option "Teacher.<option>"), so that they
// name the --teacher-* flags rather than those of a model evaluated beside it.
func Open(rt model.Runtime, path string, opts model.Options, fromData bool) (model.Model, error) {
	s, err := rt.Open(path, opts)
	if err != nil {
		return nil, AsTeacher(err)
	}
	if fromData {
		if err := FedByData(s, path); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// FedByData checks that the data can feed m: one float input, or a model that does not say.
func FedByData(m model.Model, path string) error {
	mi, ok := m.(model.MultiInput)
	if !ok {
		return nil
	}
	ins := mi.Inputs()
	if len(ins) == 1 && (ins[0].DType == "float32" || ins[0].DType == "float16" || ins[0].DType == "float64") {
		return nil // fed from the data in float32, converted at the end
	}
	parts := make([]string, len(ins))
	for i, in := range ins {
		parts[i] = fmt.Sprintf("%q %s %v", in.Name, in.DType, in.SampleShape)
	}
	return &option.Error{Scope: "onnx", Option: "Teacher.Inputs",
		Err: fmt.Errorf("teacher %s takes %s: feed each from its own array", path, strings.Join(parts, ", "))}
}

// AsTeacher marks the option errors of opening a teacher as the teacher's (Teacher.<option>).
func AsTeacher(err error) error {
	var oe *option.Error
	if errors.As(err, &oe) && oe.Scope == "onnx" && !strings.HasPrefix(oe.Option, "Teacher.") {
		return &option.Error{Scope: oe.Scope, Option: "Teacher." + oe.Option, Err: oe.Err}
	}
	return err
}
