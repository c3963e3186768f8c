package direct

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/nn"
	"github.com/distillgo/distill/onnx/purego/internal/prep"
	"github.com/distillgo/distill/onnx/purego/internal/wire"
)

var (
	_ model.Model   = (*Model)(nil)
	_ model.Runtime = Runtime{}
)

// DefaultBatch is the most samples a run computes at once when Options.Batch is 0: 256 rows
// are enough for Sgemm's blocking to reach full speed on a 784-800-800-10 MLP, and keep a
// workspace under 2 MB.
const DefaultBatch = 256

// Bounds of a workspace, so that a hostile or mistaken model cannot ask for absurd memory: a
// layer holds at most maxSampleElems values per sample (the spec's bound nn.MaxValues, 2^26
// float32s, 256 MiB), and a run's
// widest layer at most maxRunElems values (2^24, 64 MiB), which lowers the batch of a model with
// wide layers.
const (
	maxSampleElems = nn.MaxValues
	maxRunElems    = 1 << 24
)

// ErrClosed is returned (wrapped) by Predict and Logits after Close.
var ErrClosed = errors.New("direct: model closed")

// Model is a distill student ready to run; it is safe for concurrent use.
type Model struct {
	path, sha256          string
	metadata              map[string]string
	pre                   *prep.Preprocess // nil when the model records none
	inputName, outputName string
	sample                []int
	dim, classes, batch   int
	steps                 []step

	mu     sync.Mutex
	idle   []*workspace
	closed bool
}

// Runtime opens models as direct teachers; it implements internal/model's Runtime.
type Runtime struct{}

// Open loads the model at path running at most opts.Batch samples at once (0: DefaultBatch;
// fewer when the model's widest layer times the batch would exceed 2^24 values).
// Only opts.Output "", "auto" and "logits" are accepted (a distill student outputs logits), and
// opts.InputShape and opts.OutputName only when they name the model's own; opts.Features must be
// empty, as this runtime does not fetch tensors from inside a model (ErrUnsupported).
func (Runtime) Open(path string, opts model.Options) (model.Model, error) {
	switch {
	case opts.Output != "" && opts.Output != model.OutputAuto && opts.Output != model.OutputLogits:
		return nil, fmt.Errorf("open model %s: %w: output kind %q", path, ErrUnsupported, opts.Output)
	case opts.Batch < 0:
		return nil, fmt.Errorf("open model %s: batch %d", path, opts.Batch)
	case len(opts.Features) > 0:
		return nil, fmt.Errorf("open model %s: %w: features %q (tensors from inside the model): onnxruntime fetches them", path, ErrUnsupported, opts.Features)
	}
	m, err := Load(path)
	if err != nil {
		return nil, err
	}
	if opts.Batch > 0 {
		m.batch = min(opts.Batch, m.batch)
	}
	if (opts.InputShape != nil && !slices.Equal(opts.InputShape, m.sample)) || (opts.OutputName != "" && opts.OutputName != m.outputName) {
		return nil, fmt.Errorf("open model %s: %w: input shape %v, output %q for a model of %v, %q", path, ErrUnsupported, opts.InputShape, opts.OutputName, m.sample, m.outputName)
	}
	return m, nil
}

// Load reads the ONNX model at path, verifies distill's checksum when it has one and plans its
// layers; errors name the file and, for a graph it cannot run, the operator (ErrUnsupported).
func Load(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	m, err := newModel(data)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	m.path = path
	return m, nil
}

// Check reports why the model data cannot be run by this package: not a chain of the
// operators it runs (ErrUnsupported), layer shapes that do not agree, a bad checksum. Package
// purego calls it before handing a chain to gorgonnx, which panics, in a goroutine of its own
// where no recover reaches, on a weight that does not fit its input.
func Check(data []byte) error {
	_, err := newModel(data)
	return err
}

// Runs reports whether the operator op is one this package runs: one that an operator of
// internal/nn decodes, or a Cast or DequantizeLinear of a stored weight.
func Runs(op string) bool {
	return op == "Cast" || op == "DequantizeLinear" || nn.Decodes(op)
}

func newModel(data []byte) (*Model, error) {
	p, err := wire.ParseModel(data)
	if err != nil {
		return nil, err
	}
	if err := wire.CheckChecksum(data, p.Metadata); err != nil {
		return nil, err
	}
	io, err := wire.ReadIO(&p.Graph)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	steps, batch, err := plan(&p.Graph, io, DefaultBatch)
	if err != nil {
		return nil, err
	}
	var pre *prep.Preprocess
	if raw, ok := p.Metadata[prep.Key]; ok {
		if pre, err = prep.Parse(raw); err != nil {
			return nil, err
		}
	}
	sum := sha256.Sum256(data)
	return &Model{
		sha256: hex.EncodeToString(sum[:]), metadata: p.Metadata, pre: pre,
		inputName: io.Input, outputName: io.Output, sample: io.Sample, dim: nn.Shape(io.Sample).Size(),
		classes: io.Classes, batch: batch, steps: steps,
	}, nil
}

// Classes is the number of logits per sample.
func (m *Model) Classes() int { return m.classes }

// Predict returns the logits of the n preprocessed samples x, row-major [n, Classes()]; any
// n >= 0 is accepted and run in batches of at most the model's batch size.
func (m *Model) Predict(x []float32, n int) ([]float32, error) {
	return m.predict(nil, nil, x, n)
}

// PredictInto is Predict writing the logits into dst's memory: it returns dst[:n*Classes()]
// when dst has the capacity, and allocates a new slice only when it has not. A server that
// keeps one dst per goroutine runs with no allocation per call.
func (m *Model) PredictInto(dst, x []float32, n int) ([]float32, error) {
	return m.predict(nil, dst, x, n)
}

// Logits is Predict for internal/model's Teacher: a done ctx stops it between batches.
func (m *Model) Logits(ctx context.Context, x []float32, n int) ([]float32, error) {
	return m.predict(ctx, nil, x, n)
}

func (m *Model) predict(ctx context.Context, dst, x []float32, n int) ([]float32, error) {
	if n < 0 || len(x) != n*m.dim {
		return nil, fmt.Errorf("predict: %d values for %d samples of %d", len(x), n, m.dim)
	}
	ws, err := m.get()
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	defer m.put(ws)
	out := dst[:0]
	if cap(out) < n*m.classes {
		out = make([]float32, 0, n*m.classes)
	}
	for done := 0; done < n; {
		if ctx != nil && ctx.Err() != nil {
			return nil, fmt.Errorf("predict: %w", ctx.Err())
		}
		s := min(n-done, m.batch)
		out = append(out, ws.run(m.steps, x[done*m.dim:(done+s)*m.dim], s)...)
		done += s
	}
	return out, nil
}

// get takes an idle workspace or makes one.
func (m *Model) get() (*workspace, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if k := len(m.idle); k > 0 {
		ws := m.idle[k-1]
		m.idle = m.idle[:k-1]
		return ws, nil
	}
	return newWorkspace(m.steps, m.batch), nil
}

func (m *Model) put(ws *workspace) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.idle = append(m.idle, ws)
	}
}

// Preprocess is the preprocessing distill recorded with a student (see onnx/purego's).
type Preprocess = prep.Preprocess

// Preprocess returns the preprocessing recorded in the model's metadata (distill.preprocess), or
// nil when it records none; the caller applies it to raw samples before Predict.
func (m *Model) Preprocess() *Preprocess { return m.pre.Clone() }

// Metadata returns a copy of the model's metadata_props.
func (m *Model) Metadata() map[string]string { return maps.Clone(m.metadata) }

// Describe returns what a soft-target file and the logs record about the model.
func (m *Model) Describe() model.Description {
	return model.Description{
		Path: m.path, SHA256: m.sha256, Input: m.inputName, Output: m.outputName,
		SampleShape: slices.Clone(m.sample), OutputKind: model.OutputLogits, Device: "cpu",
	}
}

// Close releases the workspaces; later calls return ErrClosed. It returns nil.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed, m.idle = true, nil
	return nil
}
