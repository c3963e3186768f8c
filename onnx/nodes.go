package onnx

import (
	"fmt"
	"slices"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/distillgo/distill/internal/option"
)

// This file finds the tensors inside a model that feature distillation can use, with their
// per-sample shapes, by running the model once with every node output added to its outputs
// (`distill inspect --nodes`).

// NodeShape is a node output that a run of the model returned as a float tensor whose first axis
// is the batch: a tensor that Options.Features can fetch.
type NodeShape struct {
	// NodeTensor names the tensor and its node. Its ElemType is the type the run returned:
	// "float32", "float16", "bfloat16" or "float64".
	NodeTensor
	// Shape is the tensor's per-sample shape (without the batch axis), as the run returned it.
	Shape []int
}

// NodeShapesOptions says how NodeShapes runs the model.
type NodeShapesOptions struct {
	// InputShape is the per-sample input shape for a model with one float input (float32, float16 or float64) whose
	// non-batch axes are dynamic, as Options.InputShape (nil: the model's).
	InputShape []int
	// Threads is onnxruntime's intra-op thread count (0: onnxruntime's default).
	Threads int
}

// NodeShapesResult is what NodeShapes found.
type NodeShapesResult struct {
	// Tensors are the node outputs that are float tensors with the batch as first axis, in graph
	// order (see NodeTensors), with their per-sample shapes.
	Tensors []NodeShape
	// Others counts the node outputs left out: of another element type (int64 shapes, bool
	// masks), not tensors, or without a batch axis (a weight computed by a node).
	Others int
	// Rows is the number of samples of the run: 2 where the batch axis is dynamic (so that a
	// tensor without a batch axis is told apart from one with it), else the fixed batch.
	Rows int
}

// NodeShapes runs the model at path once, on the CPU, on zeros, with every output of a node of
// its top-level graph that is a float tensor (float32, float16, bfloat16 or float64, as the model
// declares it or else as onnxruntime infers it) added to its outputs, as float32 (as a Session
// with Options.Features fetches them), and returns those that came back with the batch as their
// first axis, with their per-sample shapes. Every input is fed zeros of its element type: a model
// with one float32 input with its per-sample shape (the model's, or opts.InputShape for dynamic
// axes, which it then needs), any other with size 1 for dynamic axes. If Init has not been
// called, NodeShapes finds and loads the library itself. Errors name the file; an InputShape that
// does not fit is an *option.Error for InputShape, as for Open.
func NodeShapes(path string, opts NodeShapesOptions) (*NodeShapesResult, error) {
	data, info, err := readModel(path)
	if err != nil {
		return nil, fmt.Errorf("node shapes: %w", err)
	}
	s := &Session{path: path, opts: Options{InputShape: opts.InputShape, Threads: opts.Threads}.withDefaults(), info: info}
	if err := s.opts.check(); err != nil {
		return nil, fmt.Errorf("node shapes of %s: %w", path, err)
	}
	if in := info.Inputs; len(in) == 1 && in[0].ElemType == "float32" && len(opts.InputShape) == 0 && len(in[0].Shape) > 1 &&
		slices.ContainsFunc(in[0].Shape[1:], func(d int64) bool { return d < 0 }) {
		return nil, option.Errorf("onnx", "InputShape", "node shapes of %s: input %s has dynamic axes besides the batch; give the per-sample input shape",
			path, describeValue(in[0]))
	}
	if err := s.checkInputs(); err != nil {
		if in := info.Inputs; len(opts.InputShape) > 0 && len(in) == 1 && in[0].ElemType == "float32" {
			// The input shape given is what does not fit the model's one input.
			return nil, option.Errorf("onnx", "InputShape", "node shapes of %s: %w", path, err)
		}
		return nil, openError(path, err)
	}
	m, err := unmarshalModel(data) // checked by readModel
	if err != nil {
		return nil, fmt.Errorf("node shapes of %s: %w", path, err)
	}
	if err := ensureInit("cpu"); err != nil {
		return nil, fmt.Errorf("node shapes of %s: %w", path, err)
	}
	all := nodeTensors(m.GetGraph())
	allNames := make([]string, len(all))
	for i, t := range all {
		allNames[i] = t.Name
	}
	elem, err := elemTypes(m, allNames)
	if err != nil {
		return nil, fmt.Errorf("node shapes of %s: %w", path, err)
	}
	var floats []NodeTensor
	var names []string
	for _, t := range all {
		if isFeatureType(elem[t.Name]) {
			t.ElemType = elem[t.Name]
			floats, names = append(floats, t), append(names, t.Name)
		}
	}
	res := &NodeShapesResult{Rows: 2, Others: len(all) - len(floats)}
	if s.fixed > 0 {
		res.Rows = s.fixed
	}
	if len(names) == 0 {
		return res, nil
	}
	data, outNames, err := exposeFloat32(m, names, elem)
	if err != nil {
		return nil, fmt.Errorf("node shapes of %s: %w", path, err)
	}
	s.data = data
	outs, err := s.runNodes(outNames, res.Rows)
	defer destroyAll(outs)
	if err != nil {
		return nil, fmt.Errorf("node shapes of %s: run %d samples of zeros: %w", path, res.Rows, err)
	}
	for i, t := range floats {
		v, ok := outs[i].(*ort.Tensor[float32])
		if !ok || len(v.GetShape()) == 0 || v.GetShape()[0] != int64(res.Rows) {
			res.Others++
			continue
		}
		res.Tensors = append(res.Tensors, NodeShape{NodeTensor: t, Shape: toInt(v.GetShape()[1:])})
	}
	return res, nil
}

// runNodes creates a CPU session of s.data fetching the outputs names and runs rows samples of
// zeros through it; the outputs are allocated by onnxruntime, and the caller destroys them.
func (s *Session) runNodes(names []string, rows int) ([]ort.Value, error) {
	so, err := s.sessionOptions(false)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	inNames := make([]string, len(s.inputs))
	for i, v := range s.inputs {
		inNames[i] = v.Name
	}
	sess, err := s.newORTSession(inNames, names, so)
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	defer sess.Destroy()
	_, shapes := s.probeShapes()
	var ins []ort.Value
	defer func() { destroyAll(ins) }()
	for i, v := range s.inputs {
		in, err := newInputTensor(v.DType, append(ort.Shape{int64(rows)}, shapes[i]...))
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", v.Name, err)
		}
		ins = append(ins, in.v)
	}
	outs := make([]ort.Value, len(names))
	if err := sess.Run(ins, outs); err != nil {
		return nil, err // Run allocates no output when it fails
	}
	return outs, nil
}
