package onnxtest

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/distillgo/distill/onnx"
)

// RequireEnv is the environment variable that turns a missing onnxruntime library from a skip
// into a test failure (`make test` sets it to 1).
const RequireEnv = "DISTILL_REQUIRE_ORT"

// RequireLibrary finds the onnxruntime CPU library with onnx.FindLibrary, initialises it with
// onnx.Init and returns its path. When the library is missing or fails to load it skips the test,
// or fails it when $DISTILL_REQUIRE_ORT is "1".
func RequireLibrary(tb testing.TB) string {
	tb.Helper()
	path, _, err := onnx.FindLibrary("", false)
	if err == nil {
		err = onnx.Init(path)
	}
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("onnxruntime required (%s=1): %v", RequireEnv, err)
		}
		tb.Skipf("onnxruntime not available, skipping: %v", err)
	}
	return path
}

// IRVersion and Opset are the ONNX IR version and default-domain opset of the built models.
const (
	IRVersion = 8
	Opset     = 13
)

// Producer is the producer_name written into every built model.
const Producer = "distill-onnxtest"

type config struct {
	batch    int64 // fixed batch size, 0 for dynamic
	output   string
	image    bool
	meta     map[string]string
	producer string
	castTo   string                  // what CastOutput was given
	cast     pb.TensorProto_DataType // element type the scores are cast to; 0 for none
	zipInts  []int64                 // class labels of a ZipMap with int64 keys
	zipStrs  []string                // class labels of a ZipMap with string keys
	label    bool                    // add the int64 output "label"
	logits   bool                    // add the Gemm's result as the output "logits"
	dynamic  bool                    // leave the class axis of the outputs dynamic
}

// Option changes how GemmClassifier builds its model.
type Option func(*config)

// FixedBatch fixes the batch axis of input and output at n (e.g. 1) instead of leaving it dynamic.
func FixedBatch(n int) Option { return func(c *config) { c.batch = int64(n) } }

// Softmax adds a Softmax after the Gemm, so the model outputs probabilities.
func Softmax() Option { return func(c *config) { c.output = "Softmax" } }

// LogSoftmax adds a LogSoftmax after the Gemm, so the model outputs log-probabilities.
func LogSoftmax() Option { return func(c *config) { c.output = "LogSoftmax" } }

// ImageInput makes the input [N,1,28,28] followed by a Flatten, so W must have 784 rows.
func ImageInput() Option { return func(c *config) { c.image = true } }

// Metadata adds metadata_props to the model.
func Metadata(m map[string]string) Option { return func(c *config) { c.meta = m } }

// ProducerName overrides the model's producer_name.
func ProducerName(s string) Option { return func(c *config) { c.producer = s } }

// castTypes are the element types CastOutput takes, by the names of onnx.ElemTypeName.
var castTypes = map[string]pb.TensorProto_DataType{
	"float16": pb.TensorProto_FLOAT16, "bfloat16": pb.TensorProto_BFLOAT16, "float64": pb.TensorProto_DOUBLE,
}

// CastOutput adds a Cast of the scores (after a Softmax or LogSoftmax) to elem, "float16",
// "bfloat16" or "float64", so that "output" has that element type.
func CastOutput(elem string) Option { return func(c *config) { c.castTo = elem } }

// ZipMap ends the model as a scikit-learn classifier does: an ai.onnx.ml ZipMap turns the scores
// (use it with Softmax) into "output", a seq(map(string, float)) with one map per sample from the
// labels, in the order of W's columns, to the scores.
func ZipMap(labels ...string) Option { return func(c *config) { c.zipStrs = labels } }

// ZipMapInts is ZipMap with int64 class labels: "output" is a seq(map(int64, float)).
func ZipMapInts(labels ...int64) Option { return func(c *config) { c.zipInts = labels } }

// LabelOutput adds an int64 output "label" [N], the argmax of the scores, listed before "output"
// (as scikit-learn's converters list theirs).
func LabelOutput() Option { return func(c *config) { c.label = true } }

// LogitsOutput adds the Gemm's result as a second float32 output "logits" [N, classes], listed
// after "output"; use it with Softmax, LogSoftmax, CastOutput or ZipMap.
func LogitsOutput() Option { return func(c *config) { c.logits = true } }

// DynamicClasses leaves the class axis of the tensor outputs dynamic (dim_param "C"), as some
// exporters write it, so that a runtime learns the class count by running the model.
func DynamicClasses() Option { return func(c *config) { c.dynamic = true } }

// GemmClassifier writes to path a model computing y = x W + b with W shaped [in][out], optionally
// followed by Softmax or LogSoftmax, a Cast and a ZipMap, with outputs "label" and "logits"
// besides "output" (see the options). Expected outputs: Gemm (and Softmax).
func GemmClassifier(tb testing.TB, path string, W [][]float32, b []float32, opts ...Option) {
	tb.Helper()
	cfg := config{producer: Producer}
	for _, o := range opts {
		o(&cfg)
	}
	in, out := len(W), len(b)
	if in == 0 || len(W[0]) != out {
		tb.Fatalf("onnxtest.GemmClassifier: W is [%d][%d], b has %d entries", in, len(W[0]), out)
	}
	if cfg.castTo != "" {
		if cfg.cast = castTypes[cfg.castTo]; cfg.cast == 0 {
			tb.Fatalf("onnxtest.GemmClassifier: CastOutput(%q): want float16, bfloat16 or float64", cfg.castTo)
		}
	}
	batch := dim(cfg.batch)
	g := &pb.GraphProto{Name: "gemm_classifier"}
	gemmIn := "input"
	if cfg.image {
		if in != 784 {
			tb.Fatalf("onnxtest.GemmClassifier: ImageInput needs 784 rows in W, got %d", in)
		}
		g.Input = []*pb.ValueInfoProto{valueInfo("input", pb.TensorProto_FLOAT, batch, dim(1), dim(28), dim(28))}
		g.Node = append(g.Node, node("Flatten", []string{"input"}, "flat", intAttr("axis", 1)))
		gemmIn = "flat"
	} else {
		g.Input = []*pb.ValueInfoProto{valueInfo("input", pb.TensorProto_FLOAT, batch, dim(int64(in)))}
	}
	g.Initializer = []*pb.TensorProto{floatTensor("W", flatten(W), int64(in), int64(out)), floatTensor("b", b, int64(out))}
	addHead(tb, g, &cfg, gemmIn, int64(out))
	m := Model(g, cfg.producer, cfg.meta)
	if cfg.zipInts != nil || cfg.zipStrs != nil {
		m.OpsetImport = append(m.OpsetImport, &pb.OperatorSetIdProto{Domain: "ai.onnx.ml", Version: 1})
	}
	Write(tb, path, m)
}

// addHead adds to g the Gemm on x and what follows it (Softmax or LogSoftmax, Cast, ZipMap, the
// label), and the graph outputs: "label", "output", "logits", as cfg asks.
func addHead(tb testing.TB, g *pb.GraphProto, cfg *config, x string, classes int64) {
	tb.Helper()
	type step struct {
		op, out string
		attr    *pb.AttributeProto
	}
	steps := []step{{op: "Gemm", out: "logits"}}
	if cfg.output != "" {
		steps = append(steps, step{cfg.output, "scores", intAttr("axis", -1)})
	}
	if cfg.cast != 0 {
		steps = append(steps, step{"Cast", "cast", intAttr("to", int64(cfg.cast))})
	}
	zip := cfg.zipInts != nil || cfg.zipStrs != nil
	if zip {
		attr := &pb.AttributeProto{Name: "classlabels_int64s", Type: pb.AttributeProto_INTS, Ints: cfg.zipInts}
		if cfg.zipStrs != nil {
			attr = &pb.AttributeProto{Name: "classlabels_strings", Type: pb.AttributeProto_STRINGS}
			for _, l := range cfg.zipStrs {
				attr.Strings = append(attr.Strings, []byte(l))
			}
		}
		steps = append(steps, step{"ZipMap", "zipmap", attr})
	}
	steps[len(steps)-1].out = "output"
	prev, tensor := x, ""
	for i, st := range steps {
		ins := []string{prev}
		if i == 0 {
			ins = []string{x, "W", "b"}
		}
		n := node(st.op, ins, st.out)
		if st.attr != nil {
			n.Attribute = []*pb.AttributeProto{st.attr}
		}
		if st.op == "ZipMap" {
			n.Domain = "ai.onnx.ml"
		} else {
			tensor = st.out
		}
		g.Node = append(g.Node, n)
		prev = st.out
	}
	batch, cdim := dim(cfg.batch), dim(classes)
	if cfg.dynamic {
		cdim = &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: "C"}}
	}
	if cfg.label {
		g.Node = append(g.Node, node("ArgMax", []string{tensor}, "label", intAttr("axis", 1), intAttr("keepdims", 0)))
		g.Output = append(g.Output, valueInfo("label", pb.TensorProto_INT64, batch))
	}
	switch {
	case zip && cfg.zipStrs != nil:
		g.Output = append(g.Output, zipMapInfo("output", pb.TensorProto_STRING))
	case zip:
		g.Output = append(g.Output, zipMapInfo("output", pb.TensorProto_INT64))
	default:
		elem := pb.TensorProto_FLOAT
		if cfg.cast != 0 {
			elem = cfg.cast
		}
		g.Output = append(g.Output, valueInfo("output", elem, batch, cdim))
	}
	if cfg.logits {
		if len(steps) == 1 {
			tb.Fatalf("onnxtest.GemmClassifier: LogitsOutput needs Softmax, LogSoftmax, CastOutput or ZipMap")
		}
		g.Output = append(g.Output, valueInfo("logits", pb.TensorProto_FLOAT, batch, cdim))
	}
}

// TwoInputs writes a model with two float inputs "a" and "b" [N,4] and output a+b [N,4].
func TwoInputs(tb testing.TB, path string) {
	tb.Helper()
	g := &pb.GraphProto{
		Name: "two_inputs",
		Input: []*pb.ValueInfoProto{
			valueInfo("a", pb.TensorProto_FLOAT, dim(0), dim(4)),
			valueInfo("b", pb.TensorProto_FLOAT, dim(0), dim(4)),
		},
		Node:   []*pb.NodeProto{node("Add", []string{"a", "b"}, "output")},
		Output: []*pb.ValueInfoProto{valueInfo("output", pb.TensorProto_FLOAT, dim(0), dim(4))},
	}
	Write(tb, path, Model(g, Producer, nil))
}

// IntInput writes a model whose single input is int64 [N,4]; it casts to float.
func IntInput(tb testing.TB, path string) {
	tb.Helper()
	g := &pb.GraphProto{
		Name:   "int_input",
		Input:  []*pb.ValueInfoProto{valueInfo("input", pb.TensorProto_INT64, dim(0), dim(4))},
		Node:   []*pb.NodeProto{node("Cast", []string{"input"}, "output", intAttr("to", int64(pb.TensorProto_FLOAT)))},
		Output: []*pb.ValueInfoProto{valueInfo("output", pb.TensorProto_FLOAT, dim(0), dim(4))},
	}
	Write(tb, path, Model(g, Producer, nil))
}

// MLPWeights are the parameters of a model written by MLP: layer i maps sizes[i] to sizes[i+1]
// with W[i] shaped [in][out] (row-major, y = x W + b), ReLU between layers, none after the last.
type MLPWeights struct {
	Sizes []int
	W     [][][]float32
	B     [][]float32
}

// Forward computes the MLP's logits for n samples of x (row-major [n, Sizes[0]]) in float64.
func (m *MLPWeights) Forward(x []float32, n int) []float32 {
	h := x
	for l := range m.W {
		h = GemmRef(h, n, m.W[l], m.B[l])
		if l < len(m.W)-1 {
			for i, v := range h {
				h[i] = max(v, 0)
			}
		}
	}
	return h
}

// MLP writes a Gemm/Relu stack with layer sizes sizes (e.g. 784, 1200, 1200, 10) and weights drawn
// from a PCG generator seeded with seed: He-normal weights (std sqrt(2/in)), biases uniform in
// [-0.1, 0.1). It returns the weights so tests can compute the expected output.
func MLP(tb testing.TB, path string, sizes []int, seed uint64) *MLPWeights {
	tb.Helper()
	if len(sizes) < 2 {
		tb.Fatalf("onnxtest.MLP: need at least 2 sizes, got %v", sizes)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6d6c70))
	m := &MLPWeights{Sizes: append([]int(nil), sizes...)}
	g := &pb.GraphProto{Name: "mlp"}
	g.Input = []*pb.ValueInfoProto{valueInfo("input", pb.TensorProto_FLOAT, dim(0), dim(int64(sizes[0])))}
	prev := "input"
	for l := 0; l+1 < len(sizes); l++ {
		in, out := sizes[l], sizes[l+1]
		std := math.Sqrt(2 / float64(in))
		W := make([][]float32, in)
		for i := range W {
			W[i] = make([]float32, out)
			for j := range W[i] {
				W[i][j] = float32(rng.NormFloat64() * std)
			}
		}
		b := make([]float32, out)
		for j := range b {
			b[j] = float32(rng.Float64()*0.2 - 0.1)
		}
		m.W, m.B = append(m.W, W), append(m.B, b)
		wn, bn := "layers."+strconv.Itoa(l)+".weight", "layers."+strconv.Itoa(l)+".bias"
		g.Initializer = append(g.Initializer, floatTensor(wn, flatten(W), int64(in), int64(out)), floatTensor(bn, b, int64(out)))
		y := "gemm" + strconv.Itoa(l)
		if l == len(sizes)-2 {
			y = "output"
		}
		g.Node = append(g.Node, node("Gemm", []string{prev, wn, bn}, y))
		prev = y
		if l < len(sizes)-2 {
			r := "relu" + strconv.Itoa(l)
			g.Node = append(g.Node, node("Relu", []string{y}, r))
			prev = r
		}
	}
	g.Output = []*pb.ValueInfoProto{valueInfo("output", pb.TensorProto_FLOAT, dim(0), dim(int64(sizes[len(sizes)-1])))}
	Write(tb, path, Model(g, Producer, nil))
	return m
}

// GemmRef returns x W + b for n rows of x, accumulating in float64.
func GemmRef(x []float32, n int, W [][]float32, b []float32) []float32 {
	in, out := len(W), len(b)
	y := make([]float32, n*out)
	for r := 0; r < n; r++ {
		for j := 0; j < out; j++ {
			s := float64(b[j])
			for i := 0; i < in; i++ {
				s += float64(x[r*in+i]) * float64(W[i][j])
			}
			y[r*out+j] = float32(s)
		}
	}
	return y
}

// Model wraps a graph into a ModelProto with IRVersion, Opset, the producer and metadata.
func Model(g *pb.GraphProto, producer string, meta map[string]string) *pb.ModelProto {
	m := &pb.ModelProto{
		IrVersion:       IRVersion,
		OpsetImport:     []*pb.OperatorSetIdProto{{Domain: "", Version: Opset}},
		ProducerName:    producer,
		ProducerVersion: "1",
		Graph:           g,
	}
	for k, v := range meta {
		m.MetadataProps = append(m.MetadataProps, &pb.StringStringEntryProto{Key: k, Value: v})
	}
	return m
}

// Write marshals m to path, failing the test on error.
func Write(tb testing.TB, path string, m *pb.ModelProto) {
	tb.Helper()
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		tb.Fatalf("marshal onnx model %s: %v", path, err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatalf("write onnx model %s: %v", path, err)
	}
}

// dim returns a fixed dimension of size v, or the dynamic dimension "N" when v is 0.
func dim(v int64) *pb.TensorShapeProto_Dimension {
	if v == 0 {
		return &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}
	}
	return &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
}

func valueInfo(name string, elem pb.TensorProto_DataType, dims ...*pb.TensorShapeProto_Dimension) *pb.ValueInfoProto {
	return &pb.ValueInfoProto{
		Name: name,
		Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{
			ElemType: int32(elem),
			Shape:    &pb.TensorShapeProto{Dim: dims},
		}}},
	}
}

// zipMapInfo describes a ZipMap's output: a sequence of maps from key to float.
func zipMapInfo(name string, key pb.TensorProto_DataType) *pb.ValueInfoProto {
	value := &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{ElemType: int32(pb.TensorProto_FLOAT)}}}
	m := &pb.TypeProto{Value: &pb.TypeProto_MapType{MapType: &pb.TypeProto_Map{KeyType: int32(key), ValueType: value}}}
	return &pb.ValueInfoProto{Name: name, Type: &pb.TypeProto{Value: &pb.TypeProto_SequenceType{SequenceType: &pb.TypeProto_Sequence{ElemType: m}}}}
}

func node(op string, inputs []string, output string, attrs ...*pb.AttributeProto) *pb.NodeProto {
	return &pb.NodeProto{OpType: op, Name: op + "_" + output, Input: inputs, Output: []string{output}, Attribute: attrs}
}

func intAttr(name string, v int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_INT, I: v}
}

func floatTensor(name string, v []float32, dims ...int64) *pb.TensorProto {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return &pb.TensorProto{Name: name, DataType: int32(pb.TensorProto_FLOAT), Dims: dims, RawData: raw}
}

func flatten(W [][]float32) []float32 {
	out := make([]float32, 0, len(W)*len(W[0]))
	for _, r := range W {
		out = append(out, r...)
	}
	return out
}
