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

// GemmClassifier writes to path a model computing y = x W + b with W shaped [in][out], optionally
// followed by Softmax or LogSoftmax (see the options). Expected outputs: Gemm (and Softmax).
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
	gemmOut := "output"
	if cfg.output != "" {
		gemmOut = "logits"
	}
	g.Node = append(g.Node, node("Gemm", []string{gemmIn, "W", "b"}, gemmOut))
	if cfg.output != "" {
		g.Node = append(g.Node, node(cfg.output, []string{"logits"}, "output", intAttr("axis", -1)))
	}
	g.Output = []*pb.ValueInfoProto{valueInfo("output", pb.TensorProto_FLOAT, batch, dim(int64(out)))}
	Write(tb, path, Model(g, cfg.producer, cfg.meta))
}

// TwoInputs writes a model with two float inputs "a" and "b" [N,4] and output a+b.
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
