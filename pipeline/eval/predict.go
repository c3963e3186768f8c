package eval

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/pipeline/dataset"
)

// PredictOptions configures Predict. The zero value of every field but Model and Data is its
// default.
type PredictOptions struct {
	// Model is a student checkpoint or an ONNX model; the kind is read from the file's bytes.
	Model string `flag:"model"`
	// Data is the data to predict: any file or image folder dataset.Open reads, a flat folder
	// of images (no class folders) among them. Labels are not needed.
	Data string `flag:"data"`
	// Labels is the labels file of Data, when it has one (default none). With labels (this
	// file, a CSV label column, class folders) Predict also scores the predictions.
	Labels string `flag:"labels"`
	// Format says how a CSV file or an image folder is read.
	Format dataset.Format
	// Preprocess and PreprocessOverride choose the model's input preprocessing as for Eval:
	// Preprocess when set, else the model's recorded one, else the defaults for the data, with
	// the fields of PreprocessOverride in place.
	Preprocess         *dataset.Preprocess        `flag:"scale,mean,std,input-shape"`
	PreprocessOverride dataset.PreprocessOverride `flag:"scale,mean,std,input-shape"`
	// Batch is the inference batch size (0 means DefaultBatch).
	Batch int `flag:"batch"`
	// OutputName and OutputKind say which output of an ONNX model holds the class scores and
	// what they are (see model.Options; empty: the only candidate, and auto).
	OutputName string `flag:"model-output"`
	OutputKind string `flag:"model-output-kind"`
	// TopK is how many of the most probable classes each prediction lists (0 means 1).
	TopK int `flag:"top-k"`
	// Logits keeps each sample's scores (Prediction.Logits); default false.
	Logits bool
}

// Validate checks the options on their own; errors wrap an *OptionError naming the field.
func (o PredictOptions) Validate() error {
	switch {
	case o.Model == "":
		return &OptionError{Scope: "predict", Option: "Model", Err: errors.New("no model to run")}
	case o.Data == "":
		return &OptionError{Scope: "predict", Option: "Data", Err: errors.New("no data to predict")}
	case o.Batch < 0:
		return &OptionError{Scope: "predict", Option: "Batch", Err: fmt.Errorf("%d must be at least 1", o.Batch)}
	case o.TopK < 0:
		return &OptionError{Scope: "predict", Option: "TopK", Err: fmt.Errorf("%d must be at least 1", o.TopK)}
	}
	return nil
}

// Ranked is one class of a prediction: its index, its name and its probability.
type Ranked struct {
	Class int
	// Name is the model's name of the class, or its index in decimal when the model records
	// none.
	Name string
	// Prob is softmax of the model's scores: the model's probability for a model that outputs
	// probabilities (the runtime returns their logarithms).
	Prob float64
}

// Prediction is the model's answer for one sample.
type Prediction struct {
	// ID names the sample: its file in an image folder ("<class folder>/<file>", or "<file>"
	// in a flat folder), else its index from 0 (the row of a CSV file, not counting the header).
	ID string
	// Top holds the most probable classes, most probable first (ties: lower class first): one,
	// or PredictOptions.TopK.
	Top []Ranked
	// Label is the sample's true class, numbered as the model's, or -1 when the data has no
	// labels.
	Label int
	// Logits are the model's scores as the runtime returns them (log-probabilities for a model
	// that outputs probabilities), when PredictOptions.Logits is set.
	Logits []float32
}

// Predictions is the outcome of Predict.
type Predictions struct {
	Model string // the model file run
	Kind  string // KindCheckpoint or KindONNX
	Data  string // the data file or folder
	// Preprocess is the model's input preprocessing that was applied.
	Preprocess dataset.Preprocess
	// Classes is the model's number of classes; ClassNames their names as the model records
	// them (nil for none).
	Classes    int
	ClassNames []string
	// ByFile is set when the samples are named by their files (an image folder), not their
	// index.
	ByFile bool
	// TopK is the number of classes each prediction lists; Logits says whether they hold the
	// scores.
	TopK   int
	Logits bool
	// Samples are the predictions, in the data's order.
	Samples []Prediction
	// Metrics score the predictions against the data's labels; nil when it has none.
	Metrics *Classification
	// LabelsFrom is the file the labels were read from (empty without labels).
	LabelsFrom string
}

// Predict runs a checkpoint or an ONNX model over a data set, with or without labels, in
// batches and with the model's preprocessing chosen and checked as Eval does, and returns the
// most probable class of every sample (and the TopK most probable), named as the model names
// them. With labels it also scores the predictions. An ONNX model is opened with rt, which may
// be nil for a checkpoint.
func Predict(ctx context.Context, opts PredictOptions, rt model.Runtime) (*Predictions, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	batch := opts.Batch
	if batch == 0 {
		batch = DefaultBatch
	}
	eo := Options{Model: opts.Model, Data: opts.Data, Labels: opts.Labels, Format: opts.Format,
		Preprocess: opts.Preprocess, PreprocessOverride: opts.PreprocessOverride, Batch: batch,
		OutputName: opts.OutputName, OutputKind: opts.OutputKind}
	kind, err := ModelKind(opts.Model)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	src := opts.Format.Source(opts.Data, opts.Labels)
	if err := checkDataShape(eo, src, kind); err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	data, err := dataset.Open(src)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	if data.N == 0 {
		return nil, fmt.Errorf("predict: data %s is empty", opts.Data)
	}
	res := &Result{Model: opts.Model, Kind: kind, Data: opts.Data}
	logits, classes, err := runLogits(ctx, eo, rt, data, batch, res)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	k := max(opts.TopK, 1)
	if k > classes {
		return nil, &OptionError{Scope: "predict", Option: "TopK", Err: fmt.Errorf("%d classes asked for, but model %s has %d", k, opts.Model, classes)}
	}
	p := &Predictions{Model: opts.Model, Kind: kind, Data: opts.Data, Preprocess: res.Preprocess,
		Classes: classes, ClassNames: res.modelNames, ByFile: len(data.SampleNames) == data.N,
		TopK: k, Logits: opts.Logits, Samples: make([]Prediction, data.N)}
	order := make([]int, classes)
	probs := make([]float64, classes)
	for i := range data.N {
		row := logits[i*classes : (i+1)*classes]
		s := Prediction{ID: strconv.Itoa(i), Label: -1, Top: make([]Ranked, k)}
		if p.ByFile {
			s.ID = data.SampleNames[i]
		}
		if data.Labels != nil {
			s.Label = int(data.Labels[i])
		}
		if opts.Logits {
			s.Logits = row
		}
		clear(probs)
		AddSoftmax(probs, row)
		topK(order, row, k)
		for r, c := range order[:k] {
			s.Top[r] = Ranked{Class: c, Name: p.className(c), Prob: probs[c]}
		}
		p.Samples[i] = s
	}
	if data.Labels != nil {
		if p.Metrics, err = Classify(logits, data.N, classes, data.Labels); err != nil {
			return nil, fmt.Errorf("predict %s: %w", opts.Model, err)
		}
		p.LabelsFrom = data.LabelsFile()
	}
	return p, nil
}

// className returns the model's name of class c, or c in decimal when it records none for it.
func (p *Predictions) className(c int) string {
	if c < len(p.ClassNames) {
		return p.ClassNames[c]
	}
	return strconv.Itoa(c)
}

// topK puts in order[:k] the indices of the k largest scores of row (order is len(row) long),
// largest first; ties go to the lower index, so order[0] is Argmax(row). The scores are finite
// (runLogits refuses others).
func topK(order []int, row []float32, k int) {
	if k == 1 {
		order[0] = Argmax(row)
		return
	}
	for j := range order {
		order[j] = j
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(row[b], row[a]) })
}
