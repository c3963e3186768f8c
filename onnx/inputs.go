package onnx

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/option"
)

// This file holds the inputs of a Session: the checks of the model's inputs at Open, and of the
// values that Logits and LogitsInputs are given.

// inputValues says, for each element type (ValueInfo.ElemType) a Session feeds, which Go slices
// LogitsInputs takes for it. A float16 input takes the bits of half-precision floats, or float32
// values rounded to the nearest float16; a float64 input also takes float32 values, widened.
var inputValues = map[string]string{
	"float32": "[]float32",
	"float16": "[]uint16 (float16 bits) or []float32",
	"float64": "[]float64 or []float32",
	"int64":   "[]int64",
	"int32":   "[]int32",
	"int8":    "[]int8",
	"uint8":   "[]uint8",
	"bool":    "[]bool",
}

// inputTypesWanted says, in errors, which element types a Session feeds.
const inputTypesWanted = "float32, float16, float64, int64, int32, int8, uint8 or bool"

// feed holds the values of one call for each model input, in the model's order.
type feed struct {
	values []any     // the slices given, of a type checked against the input's
	shapes [][]int64 // the per-sample shape of each input in this call
	sizes  []int     // values per sample of each input
}

// checkInputs checks the model's inputs and fixes s.inputs, the input of Logits (s.inShape,
// s.sample and s.sampleSize; for a model that Logits does not feed, the first input's shape with
// -1 for dynamic axes) and the rows of a run.
func (s *Session) checkInputs() error {
	in := s.info.Inputs
	if len(in) == 0 {
		return fmt.Errorf("model has no inputs")
	}
	// One float input is fed by Logits: float32 values, converted at the end for a float16
	// input (a model exported in half precision for GPUs) or a float64 one.
	if s.single = len(in) == 1 && slices.Contains([]string{"float32", "float16", "float64"}, in[0].ElemType); s.single {
		if err := s.checkFloatInput(); err != nil {
			return err
		}
		s.inputs = []model.InputInfo{{Name: in[0].Name, DType: in[0].ElemType, SampleShape: toInt(s.sample)}}
		return nil
	}
	if len(s.opts.InputShape) > 0 {
		return option.Errorf("onnx", "InputShape", "an input shape is for a model with one float input (float32, float16 or float64); this model has %s, which are fed by name with their own shapes",
			describeInputs(in))
	}
	var batchFrom ValueInfo
	for _, v := range in {
		if _, ok := inputValues[v.ElemType]; !ok {
			return fmt.Errorf("input %s cannot be fed: want %s", describeValue(v), inputTypesWanted)
		}
		info := model.InputInfo{Name: v.Name, DType: v.ElemType}
		if v.Shape != nil {
			if len(v.Shape) == 0 {
				return fmt.Errorf("input %s is a scalar; every input needs a batch axis first", describeValue(v))
			}
			if b := v.Shape[0]; b > 0 {
				if s.fixed > 0 && int64(s.fixed) != b {
					return fmt.Errorf("inputs %s and %s have different fixed batch sizes", describeValue(batchFrom), describeValue(v))
				}
				s.fixed, batchFrom = int(b), v
			}
			info.SampleShape = toInt(v.Shape[1:])
		}
		s.inputs = append(s.inputs, info)
	}
	s.inShape = slices.Clone(in[0].Shape)
	s.sample = toInt64(s.inputs[0].SampleShape)
	s.rows = s.opts.Batch
	if s.fixed > 0 {
		s.rows = s.fixed
	}
	return nil
}

// checkFloatInput checks the one float32 input of a model that Logits feeds and fixes its shape
// (with Options.InputShape filled in) and the rows of a run.
func (s *Session) checkFloatInput() error {
	in := s.info.Inputs[0]
	shape := in.Shape
	if len(shape) < 2 {
		if len(shape) == 0 && len(s.opts.InputShape) > 0 {
			shape = append([]int64{-1}, toInt64(s.opts.InputShape)...)
		} else {
			return fmt.Errorf("input %q has shape %v; a teacher needs a batch axis and at least one more", in.Name, shape)
		}
	}
	s.inShape = append([]int64(nil), shape...)
	s.sample = append([]int64(nil), shape[1:]...)
	if want := s.opts.InputShape; len(want) > 0 {
		if len(want) != len(s.sample) {
			return fmt.Errorf("input shape %v given for input %q of shape %v: want %d per-sample axes", want, in.Name, shape, len(s.sample))
		}
		for i, d := range want {
			if d <= 0 || (s.sample[i] > 0 && s.sample[i] != int64(d)) {
				return fmt.Errorf("input shape %v given does not fit input %q of shape %v", want, in.Name, shape)
			}
			s.sample[i] = int64(d)
		}
	}
	s.sampleSize = 1
	for _, d := range s.sample {
		if d <= 0 {
			return fmt.Errorf("input %q has shape %v with a dynamic non-batch axis; give the per-sample input shape", in.Name, shape)
		}
		s.sampleSize *= int(d)
	}
	if shape[0] > 0 {
		s.fixed = int(shape[0])
		s.rows = s.fixed
	} else {
		s.rows = s.opts.Batch
	}
	return nil
}

// describeInputs writes the inputs vs for errors, e.g. `2 inputs, "a" float32 [N, 4] and "b"
// float32 [N, 4]`.
func describeInputs(vs []ValueInfo) string {
	ds := make([]string, len(vs))
	for i, v := range vs {
		ds[i] = describeValue(v)
	}
	if len(ds) == 1 {
		return "1 input, " + ds[0]
	}
	return strconv.Itoa(len(ds)) + " inputs, " + strings.Join(ds[:len(ds)-1], ", ") + " and " + ds[len(ds)-1]
}

// inputsError is the *option.Error for Inputs of a call that does not give the model's inputs
// as it takes them: what is wrong, then the inputs the model has.
func (s *Session) inputsError(format string, args ...any) error {
	return &option.Error{Scope: "onnx", Option: "Inputs", Err: fmt.Errorf("model %s: %s; the model has %s, each given once by name",
		s.name, fmt.Sprintf(format, args...), describeInputs(s.info.Inputs))}
}

// logitsFeed returns the feed of Logits: x for the one float32 input, in a feed that the
// session keeps for the next call.
func (s *Session) logitsFeed(x []float32, n int) (*feed, error) {
	if !s.single {
		return nil, &option.Error{Scope: "onnx", Option: "Inputs", Err: fmt.Errorf(
			"model %s has %s: each must be fed by name (LogitsInputs), as Logits feeds only a model with one float input (float32, float16 or float64)",
			s.name, describeInputs(s.info.Inputs))}
	}
	if n < 0 || len(x) != n*s.sampleSize {
		return nil, fmt.Errorf("model %s: got %d values for %d samples, but the model's input %q %v takes %v = %d values per sample",
			s.name, len(x), n, s.info.Inputs[0].Name, s.inShape, s.sample, s.sampleSize)
	}
	if s.xfeed == nil {
		s.xfeed = &feed{values: []any{nil}, shapes: [][]int64{s.sample}, sizes: []int{s.sampleSize}}
	}
	s.xfeed.values[0] = x // dropped by Logits after the call
	return s.xfeed, nil
}

// inputsFeed returns the feed of LogitsInputs: the values in given for each model input.
func (s *Session) inputsFeed(given []model.Input, n int) (*feed, error) {
	if n < 0 {
		return nil, fmt.Errorf("model %s: %d samples", s.name, n)
	}
	at := make([]int, len(s.inputs)) // the index in given of each model input, -1 when not given
	for i := range at {
		at[i] = -1
	}
	for j, x := range given {
		i := slices.IndexFunc(s.inputs, func(v model.InputInfo) bool { return v.Name == x.Name })
		switch {
		case i < 0:
			return nil, s.inputsError("no input %q", x.Name)
		case at[i] >= 0:
			return nil, s.inputsError("input %q given twice", x.Name)
		}
		at[i] = j
	}
	var missing []string
	for i, j := range at {
		if j < 0 {
			missing = append(missing, strconv.Quote(s.inputs[i].Name))
		}
	}
	if len(missing) > 0 {
		return nil, s.inputsError("input %s not given", strings.Join(missing, ", "))
	}
	f := &feed{values: make([]any, len(at)), shapes: make([][]int64, len(at)), sizes: make([]int, len(at))}
	for i, j := range at {
		shape, size, err := checkInput(s.inputs[i], given[j], n)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", s.name, err)
		}
		f.values[i], f.shapes[i], f.sizes[i] = given[j].Values, shape, size
	}
	return f, nil
}

// checkInput checks the values x given for n samples of the input v and returns their
// per-sample shape and size: the slice's type must be one that v takes (inputValues), the shape
// must agree with v's fixed axes (nil takes v's own shape when it has no dynamic axis), and the
// slice must hold n samples.
func checkInput(v model.InputInfo, x model.Input, n int) ([]int64, int, error) {
	got, ok := valuesOf(v.DType, x.Values)
	if !ok {
		return nil, 0, fmt.Errorf("input %q is %s: got %s values, want %s", v.Name, v.DType, typeOf(x.Values), inputValues[v.DType])
	}
	shape := x.SampleShape
	if shape == nil && v.SampleShape != nil && !slices.Contains(v.SampleShape, -1) {
		shape = v.SampleShape
	}
	fits := v.SampleShape == nil || len(shape) == len(v.SampleShape)
	size := 1
	for i, d := range shape {
		fits = fits && d > 0 && (v.SampleShape == nil || v.SampleShape[i] < 0 || v.SampleShape[i] == d)
		size *= d
	}
	if !fits {
		return nil, 0, fmt.Errorf("input %q: sample shape %v given does not fit the input's per-sample shape %v (-1: any size)",
			v.Name, shape, v.SampleShape)
	}
	if got != n*size {
		return nil, 0, fmt.Errorf("input %q: got %d values for %d samples of shape %v (%d values each)", v.Name, got, n, shape, size)
	}
	return toInt64(shape), size, nil
}

// valuesOf returns the length of values and whether it is a slice that an input of element type
// dtype takes.
func valuesOf(dtype string, values any) (int, bool) {
	switch x := values.(type) {
	case []float32:
		return len(x), dtype == "float32" || dtype == "float16" || dtype == "float64"
	case []uint16:
		return len(x), dtype == "float16"
	case []float64:
		return len(x), dtype == "float64"
	case []int64:
		return len(x), dtype == "int64"
	case []int32:
		return len(x), dtype == "int32"
	case []int8:
		return len(x), dtype == "int8"
	case []uint8:
		return len(x), dtype == "uint8"
	case []bool:
		return len(x), dtype == "bool"
	}
	return 0, false
}

// typeOf names the Go type of values for errors ("no" for nil).
func typeOf(values any) string {
	if values == nil {
		return "no"
	}
	return fmt.Sprintf("%T", values)
}

func toInt(v []int64) []int {
	out := make([]int, len(v))
	for i, d := range v {
		out[i] = int(d)
	}
	return out
}
