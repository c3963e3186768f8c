package targets

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/pipeline/dataset"
)

// Input feeds one named input of a teacher from its own array: token ids and masks, or any input
// other than the single float32 one that the data set feeds.
type Input struct {
	// Name is the model's input name.
	Name string
	// Array holds the input for every sample of the data set, in the same order.
	Array *dataset.Array
}

// InputInfo records one input array of a teacher in the soft-target file.
type InputInfo struct {
	Name   string `json:"name"`   // the model's input
	File   string `json:"file"`   // the array file's base name
	SHA256 string `json:"sha256"` // its sha256 as stored
	DType  string `json:"dtype"`  // its element type as stored
	Shape  []int  `json:"shape"`  // its per-sample shape
}

// checkInputs checks a teacher's input arrays against the data set and the model.
func checkInputs(t Teacher, ds *dataset.Dataset) error {
	if len(t.Inputs) == 0 {
		return nil
	}
	mi, ok := t.Teacher.(model.MultiInput)
	if !ok {
		return fmt.Errorf("generate targets: teacher %s is fed by named inputs, but it takes only one", t.Path)
	}
	types := map[string]string{}
	for _, in := range mi.Inputs() {
		types[in.Name] = in.DType
	}
	for _, in := range t.Inputs {
		if _, ok := types[in.Name]; !ok {
			return fmt.Errorf("generate targets: teacher %s has no input %q", t.Path, in.Name)
		}
		if in.Array.N != ds.N {
			return fmt.Errorf("generate targets: input %s of teacher %s holds %d samples, but data %s has %d", in.Array.Path, t.Path, in.Array.N, ds.Path, ds.N)
		}
	}
	return nil
}

// inputInfos describes a teacher's input arrays for the file's header.
func inputInfos(inputs []Input) []InputInfo {
	var out []InputInfo
	for _, in := range inputs {
		out = append(out, InputInfo{Name: in.Name, File: filepath.Base(in.Array.Path), SHA256: in.Array.SHA256,
			DType: in.Array.DType, Shape: in.Array.SampleShape})
	}
	return out
}

// FeedInputs runs a teacher fed by named input arrays on the samples [s, e) (rows, when not nil,
// picks the samples instead). Values are converted to the types the model's inputs take without
// loss (dataset.ConvertValues); float32 inputs get pre's scale, mean and std (a zero scale: 1, or
// 255 for 8-bit arrays), the others (token ids, masks, float16 and float64 features) go as they
// are. Training uses it too, for an online teacher fed by arrays.
func FeedInputs(ctx context.Context, t model.MultiInput, inputs []Input, pre dataset.Preprocess, s, e int, rows []int) ([]float32, error) {
	types := map[string]string{}
	for _, in := range t.Inputs() {
		types[in.Name] = in.DType
	}
	n := e - s
	if rows != nil {
		n = len(rows)
	}
	feed := make([]model.Input, 0, len(inputs))
	for _, in := range inputs {
		var values any
		if rows != nil {
			values = in.Array.Gather(rows)
		} else {
			values = in.Array.Rows(s, e)
		}
		values, err := feedValues(in, values, types[in.Name], pre, n)
		if err != nil {
			return nil, fmt.Errorf("input %s (%s): %w", in.Name, in.Array.Path, err)
		}
		feed = append(feed, model.Input{Name: in.Name, SampleShape: in.Array.SampleShape, Values: values})
	}
	return t.LogitsInputs(ctx, feed, n)
}

// feedValues converts the values of one input of n samples for a model input of dtype.
func feedValues(in Input, values any, dtype string, pre dataset.Preprocess, n int) (any, error) {
	if dtype != "float32" {
		return dataset.ConvertValues(values, dtype)
	}
	f, err := dataset.ConvertValues(values, "float32")
	if err != nil {
		return nil, err
	}
	p := dataset.Preprocess{Scale: pre.Scale, Mean: pre.Mean, Std: pre.Std}
	if p.Scale == 0 {
		p.Scale = 1
		if in.Array.DType == "uint8" {
			p.Scale = 255
		}
	}
	x := make([]float32, len(f.([]float32)))
	if err := p.Apply(f.([]float32), n, in.Array.SampleShape, x); err != nil {
		return nil, err
	}
	return x, nil
}
