package eval

// This file holds the running of the model evaluated: telling a checkpoint from an ONNX model,
// choosing its preprocessing, and its forward passes over the data.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/student"
)

// ModelKind tells a safetensors checkpoint (8-byte header length, then '{') from an ONNX model.
func ModelKind(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open model %s: %w", path, err)
	}
	defer f.Close()
	var head [9]byte
	n, _ := io.ReadFull(f, head[:])
	if n == len(head) && head[8] == '{' {
		return KindCheckpoint, nil
	}
	return KindONNX, nil
}

func evalCheckpoint(ctx context.Context, opts Options, data *dataset.Dataset, batch int, res *Result) ([]float32, int, dataset.Preprocess, error) {
	var pre dataset.Preprocess
	ck, err := student.LoadCheckpoint(opts.Model)
	if err != nil {
		return nil, 0, pre, err
	}
	if res.modelNames, err = RecordedClassNames(ck.Meta); err != nil {
		return nil, 0, pre, fmt.Errorf("%s: %w", opts.Model, err)
	}
	if err := alignLabels(opts, data, ck.Spec.Classes, res); err != nil {
		return nil, 0, pre, err
	}
	pre, err = choosePreprocess(opts, ck.Meta[meta.Preprocess])
	if err != nil {
		return nil, 0, pre, err
	}
	if err := pre.CheckScale(data, "--scale"); err != nil {
		return nil, 0, pre, fmt.Errorf("%s: %w", opts.Model, err)
	}
	if pre, err = pre.ForData(data).ForModel(data.Shape, ck.Spec.Input); err != nil {
		return nil, 0, pre, fmt.Errorf("%s: %w", opts.Model, err)
	}
	net, err := student.NewNet(ck.Spec, 0)
	if err != nil {
		return nil, 0, pre, fmt.Errorf("%s: %w", opts.Model, err)
	}
	defer net.Close()
	if err := net.LoadParams(ck.Params); err != nil {
		return nil, 0, pre, fmt.Errorf("%s: %w", opts.Model, err)
	}
	dim := dataset.NumValues(ck.Spec.Input)
	if err := pre.CheckInput(data.Shape, ck.Spec.Input); err != nil {
		return nil, 0, pre, fmt.Errorf("%s: %w", opts.Model, err)
	}
	x := make([]float32, data.N*dim)
	if err := pre.Apply(data.X, data.N, data.Shape, x); err != nil {
		return nil, 0, pre, fmt.Errorf("preprocess %s: %w", opts.Data, err)
	}
	logits, err := Forward(ctx, net, x, data.N, batch)
	if err != nil {
		return nil, 0, pre, fmt.Errorf("%s: %w", opts.Model, err)
	}
	return logits, ck.Spec.Classes, pre, nil
}

// evalONNX runs an ONNX model with rt and fills res's preprocessing and the class names the
// model records.
func evalONNX(ctx context.Context, opts Options, rt model.Runtime, data *dataset.Dataset, batch int, res *Result) ([]float32, int, error) {
	if rt == nil {
		return nil, 0, fmt.Errorf("%s is an ONNX model, and no model runtime was given", opts.Model)
	}
	info, err := onnx.ReadModelInfo(opts.Model)
	if err != nil {
		return nil, 0, err
	}
	if res.modelNames, err = RecordedClassNames(info.Metadata); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", opts.Model, err)
	}
	pre, err := choosePreprocess(opts, info.Metadata[meta.Preprocess])
	if err != nil {
		return nil, 0, err
	}
	pre = pre.ForData(data)
	if err := pre.CheckScale(data, "--scale"); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", opts.Model, err)
	}
	if len(info.Inputs) == 1 {
		if pre, err = pre.ForModel(data.Shape, modelSampleShape(info.Inputs[0].Shape, pre.InputShape)); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", opts.Model, err)
		}
	}
	res.Preprocess = pre
	s, err := rt.Open(opts.Model, model.Options{Batch: batch, InputShape: pre.InputShape, OutputName: opts.OutputName, Output: opts.OutputKind})
	if err != nil {
		return nil, 0, err
	}
	defer s.Close()
	if m, ok := s.(model.Model); ok && res.modelNames == nil {
		res.modelNames = m.Describe().ClassLabels
	}
	if err := alignLabels(opts, data, s.Classes(), res); err != nil {
		return nil, 0, err
	}
	logits, err := runModel(ctx, s, pre, data, batch)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", opts.Model, err)
	}
	hint := PreprocessHint(ctx, s, "model "+opts.Model, pre, data, PreprocessFlags{"--mean", "--std"})
	if hint != "" {
		slog.Warn(hint)
	}
	return logits, s.Classes(), nil
}

// choosePreprocess returns the model's preprocessing: opts.Preprocess if set, else the model's
// stored one, else the defaults (a zero scale, the data's), with opts.PreprocessOverride's fields
// in place.
func choosePreprocess(opts Options, stored string) (dataset.Preprocess, error) {
	pre, fromModel, err := resolvePreprocess(opts, stored)
	if err != nil {
		return pre, err
	}
	switch {
	case opts.Preprocess == nil && fromModel == nil:
		slog.Info("the model records no preprocessing: using the defaults for the data and the options given", "model", opts.Model)
	case fromModel != nil && !reflect.DeepEqual(fromModel.Normalized(), pre.Normalized()):
		slog.Warn("preprocessing options override the model's", "model", opts.Model, "stored", stored, "used", pre.String())
	}
	return pre, nil
}

// resolvePreprocess is choosePreprocess without its log lines; it also returns the preprocessing
// the model stores (nil for none).
func resolvePreprocess(opts Options, stored string) (dataset.Preprocess, *dataset.Preprocess, error) {
	var fromModel *dataset.Preprocess
	if stored != "" {
		var p dataset.Preprocess
		if err := json.Unmarshal([]byte(stored), &p); err != nil {
			return p, nil, fmt.Errorf("%s: preprocessing metadata %q: %w", opts.Model, stored, err)
		}
		fromModel = &p
	}
	var pre dataset.Preprocess
	switch {
	case opts.Preprocess != nil:
		pre = *opts.Preprocess
	case fromModel != nil:
		pre = *fromModel
		if pre.Scale != 0 {
			pre.ScaleFrom = "model " + opts.Model
		}
	}
	return opts.PreprocessOverride.Over(pre), fromModel, nil
}

// runModel preprocesses the data set for a model opened by a runtime and runs it in batches.
func runModel(ctx context.Context, t model.Teacher, pre dataset.Preprocess, data *dataset.Dataset, batch int) ([]float32, error) {
	D := data.SampleSize()
	out := make([]float32, 0, data.N*t.Classes())
	x := make([]float32, batch*D)
	for s := 0; s < data.N; s += batch {
		e := min(s+batch, data.N)
		xb := x[:(e-s)*D]
		if err := pre.Apply(data.X[s*D:e*D], e-s, data.Shape, xb); err != nil {
			return nil, fmt.Errorf("preprocess %s: %w", data.Path, err)
		}
		z, err := t.Logits(ctx, xb, e-s)
		if err != nil {
			return nil, err
		}
		if len(z) != (e-s)*t.Classes() {
			return nil, fmt.Errorf("%d logits for %d samples of %d classes", len(z), e-s, t.Classes())
		}
		out = append(out, z...)
	}
	return out, nil
}

// Forward runs net (inference mode) over the n samples of x, batch at a time, and returns their
// logits [n, Classes]; a done ctx stops it between batches with an error wrapping ctx.Err().
func Forward(ctx context.Context, net *student.Net, x []float32, n, batch int) ([]float32, error) {
	spec := net.Spec()
	dim := dataset.NumValues(spec.Input)
	out := make([]float32, 0, n*spec.Classes)
	for s := 0; s < n; s += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e := min(s+batch, n)
		z, err := net.Forward(x[s*dim:e*dim], e-s)
		if err != nil {
			return nil, err
		}
		out = append(out, z...)
	}
	return out, nil
}

// modelSampleShape returns the per-sample input shape of a model whose input has shape full
// (the batch axis first, -1 for dynamic axes): given, when set, else full without its batch axis
// (nil when another axis is dynamic).
func modelSampleShape(full []int64, given []int) []int {
	if given != nil {
		return given
	}
	var out []int
	for _, d := range full[min(1, len(full)):] {
		if d < 0 {
			return nil
		}
		out = append(out, int(d))
	}
	return out
}
