package purego

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/distillgo/distill/internal/model"
)

var (
	_ model.Model   = (*Model)(nil)
	_ model.Runtime = Runtime{}
)

// Runtime opens models as pure-Go teachers; it implements internal/model's Runtime. The zero
// value is ready to use.
type Runtime struct{}

// Open loads the model at path (as Load) running at most opts.Batch samples at once
// (0: DefaultBatch). opts.InputShape must be nil or the model's own per-sample shape, and
// opts.OutputName nil or the model's output; opts.NoSpin has no effect (no thread spins here).
// opts.Features must be empty: this runtime does not fetch tensors from inside a model
// (ErrUnsupported). Errors name the file.
func (Runtime) Open(path string, opts model.Options) (model.Model, error) {
	batch := opts.Batch
	if batch == 0 {
		batch = DefaultBatch
	}
	kind := opts.Output
	switch kind {
	case "":
		kind = model.OutputAuto
	case model.OutputAuto, model.OutputLogits, model.OutputProbs, model.OutputLogProbs:
	default:
		return nil, fmt.Errorf("open model %s: output kind %q: want auto, logits, probs or logprobs", path, opts.Output)
	}
	if len(opts.Features) > 0 {
		return nil, fmt.Errorf("open model %s: %w: features %q (tensors from inside the model): onnxruntime fetches them", path, ErrUnsupported, opts.Features)
	}
	m, err := load(path, batch)
	if err != nil {
		return nil, err
	}
	switch {
	case opts.InputShape != nil && !slices.Equal(opts.InputShape, m.sample):
		err = fmt.Errorf("%w: input shape %v for a model of fixed shape %v", ErrUnsupported, opts.InputShape, m.sample)
	case opts.OutputName != "" && opts.OutputName != m.outputName:
		err = fmt.Errorf("output %q: the model's only output is %q", opts.OutputName, m.outputName)
	}
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("open model %s: %w", path, err)
	}
	m.kind = kind
	return m, nil
}

// Logits returns the model's class scores for the n preprocessed samples x, row-major
// [n, Classes()], as internal/model's Teacher: probabilities (Options.Output "probs", or
// detected by "auto") are returned as log-probabilities. A done ctx stops it between runs.
func (m *Model) Logits(ctx context.Context, x []float32, n int) ([]float32, error) {
	if err := ctx.Err(); err != nil && n > 0 {
		return nil, fmt.Errorf("logits: %w", err)
	}
	out, err := m.predict(ctx.Err, x, n)
	if err != nil {
		return nil, err
	}
	if m.outputKind(out) == model.OutputProbs {
		for i, p := range out {
			out[i] = float32(math.Log(float64(p)))
		}
	}
	return out, nil
}

// outputKind returns the model's output kind, deciding "auto" on the first non-empty out: rows
// of probabilities (each value in [0,1], each row summing to 1 within 1e-3, float32 rounding
// of a softmax) are "probs", anything else "logits".
func (m *Model) outputKind(out []float32) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.kind != model.OutputAuto || len(out) == 0 {
		return m.kind
	}
	m.kind = model.OutputProbs
	for row := range slices.Chunk(out, m.classes) {
		sum := 0.0
		for _, p := range row {
			if !(p >= 0 && p <= 1) {
				m.kind = model.OutputLogits
			}
			sum += float64(p)
		}
		if math.Abs(sum-1) > 1e-3 {
			m.kind = model.OutputLogits
		}
	}
	return m.kind
}

// Describe returns what a soft-target file and the logs record about the model.
func (m *Model) Describe() model.Description {
	m.mu.Lock()
	kind := m.kind
	m.mu.Unlock()
	return model.Description{
		Path: m.path, SHA256: m.sha256,
		Input: m.inputName, Output: m.outputName,
		SampleShape: slices.Clone(m.sample),
		OutputKind:  kind,
		Device:      "cpu",
	}
}
