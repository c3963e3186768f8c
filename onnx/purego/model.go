package purego

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"slices"
	"sync"

	"github.com/distillgo/distill/onnx/purego/direct"
	"github.com/distillgo/distill/onnx/purego/internal/wire"
)

// DefaultBatch is the most samples Load's Model runs at once (Runtime takes Options.Batch):
// 256 keeps a 784-800-800-10 MLP's activations under 2 MB per decoded graph while a run is long
// enough that gorgonia's per-run overhead is small.
const DefaultBatch = 256

// maxRunElems bounds the input values of one run (2^24 float32s, 64 MiB), which lowers the batch
// of a model with large samples, so that a hostile model cannot ask for absurd memory.
const maxRunElems = 1 << 24

// ErrClosed is returned (wrapped) by Predict and Logits after Close.
var ErrClosed = errors.New("purego: model closed")

// Model is a distill student loaded for pure-Go inference. It is safe for concurrent use.
type Model struct {
	path, sha256          string
	data                  []byte // the model with its float16 Casts folded
	inputName, outputName string
	sample                []int
	dim, classes, batch   int
	metadata              map[string]string
	pre                   *Preprocess
	kind                  string          // output kind (model.Output*), Logits's conversion
	biases                map[string]bool // names of the Gemm biases (graph.biases)

	mu     sync.Mutex
	pools  map[int][]*graph // idle decoded graphs by rows
	closed bool
}

// Load reads the ONNX model at path for [Model.Predict], which runs at most [DefaultBatch]
// samples at once. It verifies distill's checksum when the model has one, refuses a model with
// an operator gorgonnx lacks (naming it, ErrUnsupported) and folds float16 initializers' Casts.
// Errors name the file.
func Load(path string) (*Model, error) {
	return load(path, DefaultBatch)
}

// load is Load running at most batch samples at once.
func load(path string, batch int) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	m, err := newModel(data, batch)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	m.path = path
	return m, nil
}

// newModel checks and prepares the model data and decodes its first graph, so that a model
// gorgonnx cannot decode fails here rather than on the first Predict.
func newModel(data []byte, batch int) (*Model, error) {
	if batch < 1 {
		return nil, fmt.Errorf("batch %d: must be >= 1", batch)
	}
	p, err := wire.ParseModel(data)
	if err != nil {
		return nil, err
	}
	if err := wire.CheckChecksum(data, p.Metadata); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	m := &Model{sha256: hex.EncodeToString(sum[:]), metadata: p.Metadata, batch: batch, kind: "logits", pools: map[int][]*graph{}}
	if err := m.readIO(&p.Graph); err != nil {
		return nil, err
	}
	m.batch = min(batch, max(1, maxRunElems/m.dim))
	if raw, ok := p.Metadata[PreprocessKey]; ok {
		if m.pre, err = parsePreprocess(raw); err != nil {
			return nil, err
		}
	}
	folded, err := checkOps(&p.Graph)
	if err != nil {
		return nil, err
	}
	if chain(&p.Graph) {
		// gorgonnx panics, in a goroutine where no recover reaches, on a weight that does not
		// fit its input: the direct runtime's planner checks every layer's shapes first.
		if err := direct.Check(data); err != nil {
			return nil, fmt.Errorf("check the layers: %w", err)
		}
	}
	if m.data, err = foldWeights(data, &p.Graph, folded); err != nil {
		return nil, err
	}
	m.biases = gemmBiases(&p.Graph)
	g, err := decode(m.data, m.rowsFor(1), m.sample, m.biases)
	if err != nil {
		return nil, err
	}
	m.put(g)
	return m, nil
}

// gemmBiases returns the names of the third inputs of g's Gemm nodes.
func gemmBiases(g *wire.Graph) map[string]bool {
	names := map[string]bool{}
	for _, n := range g.Nodes {
		if n.Op == "Gemm" && len(n.Inputs) == 3 {
			names[n.Inputs[2]] = true
		}
	}
	return names
}

// chain reports whether every node of g is one the direct runtime plans (all of distill's
// exports): then its planner can check the layers' shapes.
func chain(g *wire.Graph) bool {
	for _, n := range g.Nodes {
		if !direct.Runs(n.Op) {
			return false
		}
	}
	return true
}

// readIO records the model's one float32 input [N, sample...] and output [N, classes].
func (m *Model) readIO(g *wire.Graph) error {
	io, err := wire.ReadIO(g)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	m.inputName, m.outputName, m.sample, m.classes = io.Input, io.Output, io.Sample, io.Classes
	m.dim = elems(io.Sample)
	return nil
}

// elems is the product of shape.
func elems(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Classes is the number of logits per sample.
func (m *Model) Classes() int { return m.classes }

// SampleShape is the per-sample input shape, e.g. [784] or [1 28 28].
func (m *Model) SampleShape() []int { return slices.Clone(m.sample) }

// Metadata returns a copy of the model's metadata_props.
func (m *Model) Metadata() map[string]string {
	out := make(map[string]string, len(m.metadata))
	for k, v := range m.metadata {
		out[k] = v
	}
	return out
}

// Preprocess returns the preprocessing recorded in the model's metadata (distill.preprocess),
// or nil when it records none; the caller applies it to raw samples before Predict.
func (m *Model) Preprocess() *Preprocess { return m.pre.Clone() }

// Predict returns the logits of the n preprocessed samples x, row-major [n, Classes()]. x holds
// n*D values, D the product of SampleShape; n = 0 returns an empty slice. Any n is accepted:
// it is run in batches of at most the model's batch size.
func (m *Model) Predict(x []float32, n int) ([]float32, error) {
	return m.predict(nil, x, n)
}

// predict is Predict, checking ctxErr (when not nil) before each run.
func (m *Model) predict(ctxErr func() error, x []float32, n int) ([]float32, error) {
	if n < 0 || len(x) != n*m.dim {
		return nil, fmt.Errorf("predict: %d values for %d samples of %d", len(x), n, m.dim)
	}
	out := make([]float32, 0, n*m.classes)
	for done := 0; done < n; {
		if ctxErr != nil {
			if err := ctxErr(); err != nil {
				return nil, fmt.Errorf("predict: %w", err)
			}
		}
		s := min(n-done, m.batch)
		g, err := m.get(m.rowsFor(s))
		if err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		out, err = g.run(out, x[done*m.dim:(done+s)*m.dim], m.classes)
		m.put(g)
		if err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		done += s
	}
	return out, nil
}

// rowsFor returns the rows of the graph that runs s samples: the batch size for a full run, else
// s rounded up to a power of two (so few graphs are decoded).
func (m *Model) rowsFor(s int) int {
	rows := m.batch
	if s < m.batch {
		rows = min(1<<bits.Len(uint(s-1)), m.batch)
	}
	return rows
}

// get takes an idle graph of the given rows from the pool, or decodes one.
func (m *Model) get(rows int) (*graph, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	pool := m.pools[rows]
	if k := len(pool); k > 0 {
		g := pool[k-1]
		m.pools[rows] = pool[:k-1]
		m.mu.Unlock()
		return g, nil
	}
	m.mu.Unlock()
	return decode(m.data, rows, m.sample, m.biases)
}

// put returns g to the pool, unless the model was closed meanwhile.
func (m *Model) put(g *graph) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.pools[g.rows] = append(m.pools[g.rows], g)
	}
}

// Close releases the decoded graphs; later Predict calls return ErrClosed. It returns nil.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.pools = nil
	return nil
}
