package onnx

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/option"
)

// This file holds the features of a Session opened with Options.Features: tensors inside the
// model, added to its graph's outputs by ExposeTensors and fetched beside the class scores, for
// feature distillation (the teacher's side of a hint).

var _ model.FeatureModel = (*Session)(nil)

// feature is one tensor a Session fetches beside the scores.
type feature struct {
	name  string  // the tensor's name in the graph
	elem  string  // its element type: "float32", "float16", "bfloat16" or "float64"
	out   string  // the graph output that holds it as float32: name, or the output of a Cast of it
	shape []int64 // its per-sample shape, as the probing run returned it
	size  int     // values per sample
}

// featureTypes are the element types a feature may have.
var featureTypes = []string{"float32", "float16", "bfloat16", "float64"}

// isFeatureType says whether elem, an element type as ValueInfo.ElemType names it, is one a
// feature may have.
func isFeatureType(elem string) bool { return slices.Contains(featureTypes, elem) }

// elemTypes returns the element type of each of names, node outputs of m's graph: as the graph
// declares it, else as onnxruntime infers it, loading a copy of the model with those tensors as
// outputs without a type ("" when it cannot say, or for a value that is not a tensor). In that
// copy the initializers are graph inputs of their types and shapes (element types do not depend
// on the weights' values), so that it loads without the weights' memory and without the files of
// a model's external data; a model that onnxruntime then refuses (an operator that needs a
// constant weight to build its kernel) is loaded again with its initializers.
func elemTypes(m *pb.ModelProto, names []string) (map[string]string, error) {
	types := declaredTypes(m.GetGraph())
	elem := map[string]string{}
	var unknown []string
	for _, name := range names {
		if e := elemTypeOf(types[name]); e != "" {
			elem[name] = e
		} else {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return elem, nil
	}
	outs, err := inferOutputs(m, unknown, true)
	if err != nil {
		outs, err = inferOutputs(m, unknown, false)
	}
	if err != nil {
		return nil, fmt.Errorf("infer the types of %q: %w", unknown, err)
	}
	for _, o := range outs {
		if slices.Contains(unknown, o.Name) && o.OrtValueType == ort.ONNXTypeTensor {
			elem[o.Name] = ElemTypeName(int32(o.DataType))
		}
	}
	return elem, nil
}

// externalDataDirKey is the onnxruntime session option that says where the files of a model's
// external data (weights stored beside the .onnx file) are, for a model given as bytes: without it
// onnxruntime would look in the working directory.
const externalDataDirKey = "session.model_external_initializers_file_folder_path"

// featuresError is an *option.Error for Features, with Scope "onnx".
func featuresError(format string, args ...any) error {
	return option.Errorf("onnx", "Features", format, args...)
}

// inferOutputs loads a copy of m with names added to its outputs (without a type) in a temporary
// onnxruntime session and returns the outputs as onnxruntime describes them. With stripped, the
// copy's initializers are graph inputs (see elemTypes).
func inferOutputs(m *pb.ModelProto, names []string, stripped bool) ([]ort.InputOutputInfo, error) {
	// The stripped copy is made without copying the weights: m's initializers are set aside
	// while it is cloned.
	inits := m.GetGraph().GetInitializer()
	if stripped {
		m.Graph.Initializer = nil
	}
	c := proto.Clone(m).(*pb.ModelProto)
	m.Graph.Initializer = inits
	g := c.GetGraph()
	if stripped {
		declared := map[string]bool{}
		for _, vi := range g.GetInput() {
			declared[vi.GetName()] = true
		}
		for _, t := range inits {
			if declared[t.GetName()] {
				continue // a graph input with a default value (IR < 4), declared already
			}
			dims := make([]*pb.TensorShapeProto_Dimension, len(t.GetDims()))
			for i, d := range t.GetDims() {
				dims[i] = &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: d}}
			}
			g.Input = append(g.Input, &pb.ValueInfoProto{Name: t.GetName(), Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{
				TensorType: &pb.TypeProto_Tensor{ElemType: t.GetDataType(), Shape: &pb.TensorShapeProto{Dim: dims}}}}})
		}
	}
	addOutputs(g, names)
	data, err := proto.Marshal(c) // a copy for onnxruntime alone: no checksum entry is verified
	if err != nil {
		return nil, err
	}
	_, outs, err := ort.GetInputOutputInfoWithONNXData(data)
	return outs, err
}

// exposeFeatures checks Options.Features against the model (its inputs and outputs already
// checked, the library loaded) and returns the model data with the features added to its graph's
// outputs as float32 (exposeFloat32); nil when there are no features. data is the model file's
// bytes.
func (s *Session) exposeFeatures(data []byte) ([]byte, error) {
	names := s.opts.Features
	if len(names) == 0 {
		return nil, nil
	}
	if !s.single {
		return nil, featuresError("features are fetched from a model with one float input (float32, float16 or float64), fed by Logits; this model has %s",
			describeInputs(s.info.Inputs))
	}
	for i, name := range names {
		switch {
		case name == "":
			return nil, featuresError("feature %d has an empty name", i)
		case slices.Index(names, name) < i:
			return nil, featuresError("feature %q is named twice", name)
		case name == s.out.Name:
			return nil, featuresError("feature %q is the output of the class scores, which Logits returns already", name)
		}
	}
	m, err := unmarshalModel(data) // checked by readModel
	if err != nil {
		return nil, err
	}
	if err := checkNodeOutputs(m.GetGraph(), names); err != nil {
		return nil, featuresError("%w", err)
	}
	elem, err := elemTypes(m, names)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if e := elem[name]; !isFeatureType(e) {
			return nil, featuresError("feature %q is %s, want a tensor of float32, float16, bfloat16 or float64", name, orUnknown(e))
		}
	}
	out, outs, err := exposeFloat32(m, names, elem)
	if err != nil {
		return nil, err
	}
	s.feats = make([]feature, len(names))
	for i, name := range names {
		s.feats[i] = feature{name: name, elem: elem[name], out: outs[i]}
	}
	return out, nil
}

// outputNames returns the names of the outputs a run fetches: the scores, then the features.
func (s *Session) outputNames() []string {
	names := []string{s.out.Name}
	for _, f := range s.feats {
		names = append(names, f.out)
	}
	return names
}

// newORTSession creates the onnxruntime session of the model with the given inputs, outputs and
// options: from the model file, or from s.data, the rewritten model of a session with features
// (whose external data, if any, is then looked for beside the model file).
func (s *Session) newORTSession(inputs, outputs []string, so *ort.SessionOptions) (*ort.DynamicAdvancedSession, error) {
	if s.data == nil {
		return ort.NewDynamicAdvancedSession(s.path, inputs, outputs, so)
	}
	dir, err := filepath.Abs(filepath.Dir(s.path))
	if err == nil {
		err = so.AddSessionConfigEntry(externalDataDirKey, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("session option %s: %w", externalDataDirKey, err)
	}
	return ort.NewDynamicAdvancedSessionWithONNXData(s.data, inputs, outputs, so)
}

// probeFeatures checks the features in outs, the values of the probing run of rows samples (one
// per feature, float32 as exposeFloat32 made them), and records their per-sample shapes. Each
// must have the batch as its first axis; the probing run has two samples where the batch is
// dynamic, so that a tensor without a batch axis (a weight computed by a node) is told apart from
// one that has it.
func (s *Session) probeFeatures(outs []ort.Value, rows int64) error {
	for i := range s.feats {
		f := &s.feats[i]
		t, ok := outs[i].(*ort.Tensor[float32])
		if !ok {
			return featuresError("feature %q: got %s, want a float32 tensor", f.name, describeOrt(outs[i]))
		}
		sh := t.GetShape()
		if len(sh) == 0 || sh[0] != rows {
			return featuresError("feature %q has shape %v for a run of %d samples: its first axis is not the batch", f.name, []int64(sh), rows)
		}
		f.shape, f.size = slices.Clone([]int64(sh[1:])), int(ort.Shape(sh[1:]).FlattenedSize())
	}
	return nil
}

// newFeatureTensors allocates the float32 output tensors of the features for runs of rows
// samples.
func (s *Session) newFeatureTensors(rows int) ([]ort.Value, error) {
	var vs []ort.Value
	for _, f := range s.feats {
		v, err := ort.NewEmptyTensor[float32](append(ort.Shape{int64(rows)}, f.shape...))
		if err != nil {
			destroyAll(vs)
			return nil, fmt.Errorf("allocate tensor of feature %q for %d samples: %w", f.name, rows, err)
		}
		vs = append(vs, v)
	}
	return vs, nil
}

// copyFeatures copies the first r samples of each feature from b's tensors, the output of a run,
// to dst[i] from sample start on.
func (s *Session) copyFeatures(dst [][]float32, b *batchTensors, start, r int) error {
	for i, f := range s.feats {
		t, ok := b.feats[i].(*ort.Tensor[float32])
		if !ok || len(t.GetData()) < r*f.size {
			return fmt.Errorf("feature %q: got %s, want a float32 tensor of %d values", f.name, describeOrt(b.feats[i]), r*f.size)
		}
		copy(dst[i][start*f.size:(start+r)*f.size], t.GetData()[:r*f.size])
	}
	return nil
}

// FeatureShapes returns the per-sample shape of each feature (Options.Features), in that order,
// as the run of zeros at Open returned it (it implements model.FeatureModel); nil when the session
// has no features.
func (s *Session) FeatureShapes() [][]int {
	if len(s.feats) == 0 {
		return nil
	}
	out := make([][]int, len(s.feats))
	for i, f := range s.feats {
		out[i] = toInt(f.shape)
	}
	return out
}

// LogitsFeatures returns what Logits returns for the n preprocessed samples x and, for each
// feature in the order of Options.Features, its n samples' values, row-major [n, shape...],
// converted to float32 from the same runs (it implements model.FeatureModel). A session opened
// without features returns an empty list of features. Logits and LogitsInputs of a session with
// features compute them too (the outputs a run fetches are fixed when the session is created),
// but do not copy them out.
func (s *Session) LogitsFeatures(ctx context.Context, x []float32, n int) ([]float32, [][]float32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil, nil, fmt.Errorf("model %s: %w", s.name, ErrClosed)
	}
	f, err := s.logitsFeed(x, n)
	if err != nil {
		return nil, nil, err
	}
	defer func() { f.values[0] = nil }() // the session does not keep x
	feats := make([][]float32, len(s.feats))
	for i, ft := range s.feats {
		feats[i] = make([]float32, n*ft.size)
	}
	logits, err := s.runAll(ctx, f, n, feats)
	if err != nil {
		return nil, nil, err
	}
	return logits, feats, nil
}

// describeFeatures writes the features and their per-sample shapes for the log, e.g.
// `"relu0" [5]`.
func (s *Session) describeFeatures() []string {
	out := make([]string, len(s.feats))
	for i, f := range s.feats {
		out[i] = strconv.Quote(f.name) + " " + f.elem + " " + fmt.Sprint(f.shape)
	}
	return out
}
