package purego

import (
	"fmt"
	"slices"
	"sync"

	onnxgo "github.com/owulveryck/onnx-go"
	"github.com/owulveryck/onnx-go/backend/x/gorgonnx"
	"gorgonia.org/tensor"
)

// populateMu serialises building gorgonia graphs: gorgonnx names nodes from an unguarded global
// counter (backend/x/gorgonnx/uniq.go), so two graphs must not be built at once.
var populateMu sync.Mutex

// graph is one decoded model, fixed at rows samples per run; it is not safe for concurrent use.
type graph struct {
	backend *gorgonnx.Graph
	model   *onnxgo.Model
	in      *tensor.Dense
	inData  []float32
	rows    int
	biases  []bias // the Gemm biases that a run may overwrite
}

// bias is a Gemm's bias initializer as gorgonnx holds it, and a copy of its values.
// gorgonnx's Gemm (gorgonnx/gemm.go) writes its output into the memory of a bias of as many
// elements as the output, a bias [n] on one row, so every run after the first would add the
// last run's output instead of the bias; run puts the values back first.
type bias struct {
	live, saved []float32
}

// guardBiases turns the bias restoring on; tests turn it off to show the fault it avoids.
var guardBiases = true

// decode decodes the (Cast-folded) model data as a graph run on rows samples of shape sample;
// biases names the Gemm bias initializers. onnx-go and gorgonnx are not written for hostile
// input and panic on some graphs; decode turns a panic into an error.
func decode(data []byte, rows int, sample []int, biases map[string]bool) (g *graph, err error) {
	defer func() {
		if r := recover(); r != nil {
			g, err = nil, fmt.Errorf("decode with onnx-go: panic: %v", r)
		}
	}()
	backend := gorgonnx.NewGraph()
	m := onnxgo.NewModel(backend)
	if err := m.UnmarshalBinary(data); err != nil {
		return nil, fmt.Errorf("decode with onnx-go: %w", err)
	}
	g = &graph{backend: backend, model: m, rows: rows}
	shape := append([]int{rows}, sample...)
	dim := 1
	for _, d := range sample {
		dim *= d
	}
	g.inData = make([]float32, rows*dim)
	g.in = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(g.inData))
	if err := m.SetInput(0, g.in); err != nil {
		return nil, fmt.Errorf("set the input of the decoded graph: %w", err)
	}
	populateMu.Lock()
	defer populateMu.Unlock()
	err = backend.PopulateExprgraph()
	if err != nil {
		// gorgonnx refuses a form of an operator it registers (a BatchNormalization of vectors):
		// the model is one this package cannot run.
		return nil, fmt.Errorf("%w: build the gorgonia graph: %w", ErrUnsupported, err)
	}
	for nodes := backend.Nodes(); nodes.Next(); {
		n, ok := nodes.Node().(*gorgonnx.Node)
		if !ok || !biases[n.GetName()] || n.GetTensor() == nil {
			continue
		}
		if v, ok := n.GetTensor().Data().([]float32); ok {
			g.biases = append(g.biases, bias{live: v, saved: slices.Clone(v)})
		}
	}
	return g, nil
}

// run evaluates the graph on x, which holds at most rows samples (the rest of the rows are
// zero), and appends the logits of x's samples to dst. A panic in gorgonia becomes an error.
func (g *graph) run(dst, x []float32, classes int) (_ []float32, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("run the gorgonnx graph: panic: %v", r)
		}
	}()
	if guardBiases {
		for _, b := range g.biases {
			copy(b.live, b.saved)
		}
	}
	copy(g.inData, x)
	clear(g.inData[len(x):])
	if err := g.model.SetInput(0, g.in); err != nil {
		return dst, fmt.Errorf("set input: %w", err)
	}
	if err := g.backend.Run(); err != nil {
		return dst, fmt.Errorf("run the gorgonnx graph: %w", err)
	}
	outs, err := g.model.GetOutputTensors()
	if err != nil {
		return dst, fmt.Errorf("read the output: %w", err)
	}
	if len(outs) == 0 || outs[0] == nil {
		return dst, fmt.Errorf("the graph produced no output")
	}
	y, ok := outs[0].Data().([]float32)
	if !ok || len(y) != g.rows*classes {
		return dst, fmt.Errorf("output %v of %T, want float32 [%d %d]", outs[0].Shape(), outs[0].Data(), g.rows, classes)
	}
	n := len(x) / (len(g.inData) / g.rows)
	return append(dst, y[:n*classes]...), nil
}
