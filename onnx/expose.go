package onnx

import (
	"errors"
	"fmt"
	"github.com/distillgo/distill/internal/textdist"
	"slices"
	"strconv"
	"strings"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// This file rewrites a model so that tensors inside its graph become graph outputs, which an
// onnxruntime session can then fetch beside the class scores (the teacher's side of feature
// distillation), and lists the tensors that can be exposed so.

// NodeTensor is one tensor that a node of a model's top-level graph outputs: a tensor that
// ExposeTensors can add to the graph's outputs.
type NodeTensor struct {
	// Name is the tensor's name in the graph.
	Name string
	// Node is the name of the node that outputs it ("" when the node has no name).
	Node string
	// Op is the node's operator: its op_type, prefixed by its domain when that is not the default
	// one, e.g. "Conv" or "com.microsoft.FusedConv".
	Op string
	// ElemType is the tensor's element type as the model declares it in its value_info or graph
	// outputs ("float32", "int64", ...; see ValueInfo.ElemType), "" when the model does not say.
	ElemType string
}

// ErrNoTensor is returned (wrapped) by ExposeTensors, and by Open with Options.Features, for a
// name that no node of the model's graph outputs.
var ErrNoTensor = errors.New("no node outputs the tensor")

// maxCandidates is how many of the nearest tensor names an ErrNoTensor lists.
const maxCandidates = 5

// decodeModel unmarshals model data for a rewrite, refusing data that is not a model or whose
// distill checksum does not match. Unlike parseModelInfo it keeps the fields that the protobuf
// definition compiled in here does not know, so that a rewrite loses nothing of a newer model.
func decodeModel(data []byte) (*pb.ModelProto, error) {
	if _, err := parseModelInfo(data); err != nil {
		return nil, err
	}
	return unmarshalModel(data)
}

// unmarshalModel is decodeModel of data that parseModelInfo has checked already.
func unmarshalModel(data []byte) (*pb.ModelProto, error) {
	var m pb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotONNX, err)
	}
	return &m, nil
}

// NodeTensors returns the tensors that the nodes of the model data's top-level graph output, in
// graph order (the order of the nodes, then of each node's outputs), omitting a node's unused
// optional outputs (empty names). Tensors inside subgraphs (the branches of an If, the body of a
// Loop) are not listed: they cannot be graph outputs. The data is checked as ReadModelInfo checks
// a file (a distill checksum included).
func NodeTensors(data []byte) ([]NodeTensor, error) {
	m, err := decodeModel(data)
	if err != nil {
		return nil, err
	}
	return nodeTensors(m.GetGraph()), nil
}

// nodeTensors lists the node outputs of g, as NodeTensors does.
func nodeTensors(g *pb.GraphProto) []NodeTensor {
	types := declaredTypes(g)
	var out []NodeTensor
	for _, n := range g.GetNode() {
		op := n.GetOpType()
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			op = d + "." + op
		}
		for _, name := range n.GetOutput() {
			if name == "" {
				continue
			}
			out = append(out, NodeTensor{Name: name, Node: n.GetName(), Op: op, ElemType: elemTypeOf(types[name])})
		}
	}
	return out
}

// declaredTypes returns the type the graph declares for each tensor it describes: in its
// value_info, its outputs or its inputs (a graph output's declaration wins over value_info's).
func declaredTypes(g *pb.GraphProto) map[string]*pb.TypeProto {
	types := map[string]*pb.TypeProto{}
	for _, vis := range [][]*pb.ValueInfoProto{g.GetInput(), g.GetValueInfo(), g.GetOutput()} {
		for _, vi := range vis {
			if vi.GetType() != nil {
				types[vi.GetName()] = vi.GetType()
			}
		}
	}
	return types
}

// elemTypeOf returns the element type of a tensor type t, "" when t is not a tensor type.
func elemTypeOf(t *pb.TypeProto) string {
	if t.GetTensorType() == nil {
		return ""
	}
	return ElemTypeName(t.GetTensorType().GetElemType())
}

// ExposeTensors returns the model data with the named tensors added to its graph's outputs, after
// the outputs it has, in the order given; a name that already is a graph output is left where it
// is, and a name given twice is added once. Each name must be an output of a node of the top-level
// graph (NodeTensors lists them); any other name (a graph input, an initializer, a tensor of a
// subgraph, a misspelling) is an error wrapping ErrNoTensor that names it and lists the nearest
// node outputs by edit distance.
//
// An added output carries the tensor's type and shape as the model's value_info declares them.
// When the model does not declare them the output is added without a type, which onnxruntime
// (1.30 here) fills in from its own inference when it loads the model; the values a run returns
// say their type and shape in any case.
//
// The data must be a model as ReadModelInfo takes it, and a model exported by distill must pass
// its checksum (ErrChecksum otherwise). The rewritten data keeps the model's metadata; when the
// model has distill's checksum entry (ChecksumKey), it is sealed again over the rewritten bytes,
// so that ReadModelInfo and Open take the rewrite. The checksum of the copy then vouches for
// bytes derived from a verified original, not for an export: the rewrite is meant to be run from
// memory, not shipped in place of the model. Fields that this package's protobuf definition does
// not know are kept as they were.
func ExposeTensors(data []byte, names []string) ([]byte, error) {
	m, err := decodeModel(data)
	if err != nil {
		return nil, err
	}
	if err := checkNodeOutputs(m.GetGraph(), names); err != nil {
		return nil, err
	}
	addOutputs(m.GetGraph(), names)
	return marshalSealed(m)
}

// marshalSealed marshals the rewritten model m, sealing its checksum entry again when it has one.
func marshalSealed(m *pb.ModelProto) ([]byte, error) {
	sealed := false
	for _, kv := range m.GetMetadataProps() {
		if kv.GetKey() == ChecksumKey {
			kv.Value, sealed = string(checksumPlaceholder), true
		}
	}
	out, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshal the rewritten model: %w", err)
	}
	if sealed {
		if err := sealChecksum(out); err != nil {
			return nil, fmt.Errorf("seal the rewritten model: %w", err)
		}
	}
	return out, nil
}

// checkNodeOutputs returns an error wrapping ErrNoTensor for the first of names that no node of g
// outputs.
func checkNodeOutputs(g *pb.GraphProto, names []string) error {
	produced := map[string]bool{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			produced[o] = o != ""
		}
	}
	for _, name := range names {
		if !produced[name] {
			return noTensorError(g, name)
		}
	}
	return nil
}

// addOutputs adds the tensors names (node outputs of g) to g's outputs, as ExposeTensors
// describes, with their declared types, or none.
func addOutputs(g *pb.GraphProto, names []string) {
	isOutput := map[string]bool{}
	for _, vi := range g.GetOutput() {
		isOutput[vi.GetName()] = true
	}
	types := declaredTypes(g)
	for _, name := range names {
		if isOutput[name] {
			continue
		}
		vi := &pb.ValueInfoProto{Name: name}
		if t := types[name]; t != nil {
			vi.Type = proto.Clone(t).(*pb.TypeProto)
		}
		g.Output = append(g.Output, vi)
		isOutput[name] = true
	}
}

// exposeFloat32 adds the tensors names (node outputs of m's graph, of the float element types
// elem gives) to the graph's outputs as float32: a float32 tensor as itself, any other through a
// Cast node added for it (onnxruntime_go v1.27.0 cannot return a 16-bit float output that
// onnxruntime allocates). It returns the marshalled model and the output that holds each name.
func exposeFloat32(m *pb.ModelProto, names []string, elem map[string]string) ([]byte, []string, error) {
	g := m.GetGraph()
	taken := map[string]bool{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			taken[o] = true
		}
	}
	for _, vi := range g.GetInput() {
		taken[vi.GetName()] = true
	}
	for _, t := range g.GetInitializer() {
		taken[t.GetName()] = true
	}
	outs := make([]string, len(names))
	var direct []string
	for i, name := range names {
		if elem[name] == "float32" {
			outs[i], direct = name, append(direct, name)
			continue
		}
		out := name + "_float32"
		for k := 2; taken[out]; k++ {
			out = name + "_float32_" + strconv.Itoa(k)
		}
		taken[out] = true
		g.Node = append(g.Node, &pb.NodeProto{OpType: "Cast", Name: "distill_cast_" + out, Input: []string{name}, Output: []string{out},
			Attribute: []*pb.AttributeProto{{Name: "to", Type: pb.AttributeProto_INT, I: int64(pb.TensorProto_FLOAT)}}})
		g.Output = append(g.Output, &pb.ValueInfoProto{Name: out, Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{
			TensorType: &pb.TypeProto_Tensor{ElemType: int32(pb.TensorProto_FLOAT)}}}})
		outs[i] = out
	}
	addOutputs(g, direct)
	data, err := marshalSealed(m)
	return data, outs, err
}

// noTensorError says that name is not a node output of g: what it is instead, when it is a graph
// input or an initializer, and the node outputs nearest to it.
func noTensorError(g *pb.GraphProto, name string) error {
	what := ""
	for _, vi := range g.GetInput() {
		if vi.GetName() == name {
			what = " (it is an input of the model)"
		}
	}
	for _, t := range g.GetInitializer() {
		if t.GetName() == name {
			what = " (it is an initializer, a weight of the model)"
		}
	}
	all := nodeTensors(g)
	if len(all) == 0 {
		return fmt.Errorf("tensor %q: %w%s; the graph has no nodes", name, ErrNoTensor, what)
	}
	near := nearestNames(name, all, maxCandidates)
	return fmt.Errorf("tensor %q: %w%s; the nearest of the model's %d node outputs: %s", name, ErrNoTensor, what, len(all), strings.Join(near, ", "))
}

// nearestNames returns the quoted names of up to k of ts nearest to name: by edit distance
// (Levenshtein, case-insensitive), ties in graph order.
func nearestNames(name string, ts []NodeTensor, k int) []string {
	type cand struct {
		name string
		dist int
	}
	cs := make([]cand, len(ts))
	for i, t := range ts {
		cs[i] = cand{t.Name, textdist.Levenshtein(strings.ToLower(name), strings.ToLower(t.Name))}
	}
	slices.SortStableFunc(cs, func(a, b cand) int { return a.dist - b.dist })
	out := make([]string, 0, k)
	for _, c := range cs[:min(k, len(cs))] {
		out = append(out, strconv.Quote(c.name))
	}
	return out
}
