package onnxtest

import (
	"encoding/binary"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// This file builds models with several inputs, or inputs of other element types than float32,
// fed by name (onnx.Session.LogitsInputs).

// inputElems are the element types that SumInputs takes, by the names of onnx.ElemTypeName.
var inputElems = map[string]pb.TensorProto_DataType{
	"float32": pb.TensorProto_FLOAT, "float16": pb.TensorProto_FLOAT16, "float64": pb.TensorProto_DOUBLE,
	"int64": pb.TensorProto_INT64, "int32": pb.TensorProto_INT32, "int8": pb.TensorProto_INT8,
	"uint8": pb.TensorProto_UINT8, "bool": pb.TensorProto_BOOL, "bfloat16": pb.TensorProto_BFLOAT16,
}

// InputSpec is one input of a model written by SumInputs: its name and element type ("float32",
// "float16", "float64", "int64", "int32", "int8", "uint8", "bool" or "bfloat16").
type InputSpec struct {
	Name, Elem string
}

// SumInputs writes to path a model whose inputs are tensors [N, len(W)] of the given names (not
// "W" or "b", the weights' names) and element types; each is cast to float32 (unless it is float32), they are summed, and the sum
// goes through the head of GemmClassifier: y = x W + b, with its options (FixedBatch, Softmax,
// CastOutput, ...; not ImageInput). Expected outputs: GemmRef of the sum of the inputs as float32.
func SumInputs(tb testing.TB, path string, inputs []InputSpec, W [][]float32, b []float32, opts ...Option) {
	tb.Helper()
	cfg := headConfig(tb, "SumInputs", W, b, opts)
	g := &pb.GraphProto{Name: "sum_inputs"}
	sum := ""
	for i, in := range inputs {
		elem, ok := inputElems[in.Elem]
		if in.Name == "W" || in.Name == "b" {
			tb.Fatalf("onnxtest.SumInputs: input %q: W and b name the weights", in.Name)
		}
		if !ok {
			tb.Fatalf("onnxtest.SumInputs: input %q of type %q: want one of float32, float16, float64, int64, int32, int8, uint8, bool, bfloat16", in.Name, in.Elem)
		}
		g.Input = append(g.Input, valueInfo(in.Name, elem, dim(cfg.batch), dim(int64(len(W)))))
		x := in.Name
		if elem != pb.TensorProto_FLOAT {
			x = in.Name + ".float"
			g.Node = append(g.Node, node("Cast", []string{in.Name}, x, intAttr("to", int64(pb.TensorProto_FLOAT))))
		}
		if i > 0 {
			s := "sum" + x
			g.Node = append(g.Node, node("Add", []string{sum, x}, s))
			x = s
		}
		sum = x
	}
	writeHead(tb, path, g, cfg, sum, W, b)
}

// TokenClassifier writes to path a model shaped like a text classifier: int64 inputs
// "input_ids" and "attention_mask" [N, L], with L = seqLen, or dynamic (dim_param "L") when
// seqLen is 0. Its features [N, 2] are the sum over the sequence of input_ids × attention_mask
// and the sum of attention_mask (both as float32); they go through the head of GemmClassifier
// (W has 2 rows), with its options. Expected outputs: GemmRef of TokenFeatures.
func TokenClassifier(tb testing.TB, path string, seqLen int, W [][]float32, b []float32, opts ...Option) {
	tb.Helper()
	cfg := headConfig(tb, "TokenClassifier", W, b, opts)
	if len(W) != 2 {
		tb.Fatalf("onnxtest.TokenClassifier: W has %d rows, want 2", len(W))
	}
	l := dim(int64(seqLen))
	if seqLen == 0 {
		l = &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: "L"}}
	}
	toFloat := intAttr("to", int64(pb.TensorProto_FLOAT))
	axes := make([]byte, 8)
	binary.LittleEndian.PutUint64(axes, 1)
	g := &pb.GraphProto{
		Name: "token_classifier",
		Input: []*pb.ValueInfoProto{
			valueInfo("input_ids", pb.TensorProto_INT64, dim(cfg.batch), l),
			valueInfo("attention_mask", pb.TensorProto_INT64, dim(cfg.batch), l),
		},
		Initializer: []*pb.TensorProto{{Name: "axes", DataType: int32(pb.TensorProto_INT64), Dims: []int64{1}, RawData: axes}},
		Node: []*pb.NodeProto{
			node("Cast", []string{"input_ids"}, "ids", toFloat),
			node("Cast", []string{"attention_mask"}, "mask", toFloat),
			node("Mul", []string{"ids", "mask"}, "masked"),
			node("ReduceSum", []string{"masked", "axes"}, "id_sum", intAttr("keepdims", 1)),
			node("ReduceSum", []string{"mask", "axes"}, "mask_sum", intAttr("keepdims", 1)),
			node("Concat", []string{"id_sum", "mask_sum"}, "features", intAttr("axis", 1)),
		},
	}
	writeHead(tb, path, g, cfg, "features", W, b)
}

// TokenFeatures returns the features [n, 2] that a TokenClassifier computes from n samples of
// ids and mask, each [n, seqLen]: the sum of ids × mask and the sum of mask, per sample.
func TokenFeatures(ids, mask []int64, n, seqLen int) []float32 {
	f := make([]float32, 2*n)
	for r := range n {
		var s, m float64
		for j := range seqLen {
			s += float64(ids[r*seqLen+j]) * float64(mask[r*seqLen+j])
			m += float64(mask[r*seqLen+j])
		}
		f[2*r], f[2*r+1] = float32(s), float32(m)
	}
	return f
}

// headConfig applies opts for a builder named who whose head has weights W and b.
func headConfig(tb testing.TB, who string, W [][]float32, b []float32, opts []Option) *config {
	tb.Helper()
	cfg := &config{producer: Producer}
	for _, o := range opts {
		o(cfg)
	}
	if len(W) == 0 || len(W[0]) != len(b) {
		tb.Fatalf("onnxtest.%s: W is [%d][...], b has %d entries", who, len(W), len(b))
	}
	if cfg.image {
		tb.Fatalf("onnxtest.%s: ImageInput is for GemmClassifier", who)
	}
	if cfg.castTo != "" {
		if cfg.cast = castTypes[cfg.castTo]; cfg.cast == 0 {
			tb.Fatalf("onnxtest.%s: CastOutput(%q): want float16, bfloat16 or float64", who, cfg.castTo)
		}
	}
	return cfg
}

// writeHead adds the weights W and b and the head on x (see addHead) to g and writes the model.
func writeHead(tb testing.TB, path string, g *pb.GraphProto, cfg *config, x string, W [][]float32, b []float32) {
	tb.Helper()
	g.Initializer = append(g.Initializer, floatTensor("W", flatten(W), int64(len(W)), int64(len(b))), floatTensor("b", b, int64(len(b))))
	addHead(tb, g, cfg, x, int64(len(b)))
	m := Model(g, cfg.producer, cfg.meta)
	if cfg.zipInts != nil || cfg.zipStrs != nil {
		m.OpsetImport = append(m.OpsetImport, &pb.OperatorSetIdProto{Domain: "ai.onnx.ml", Version: 1})
	}
	Write(tb, path, m)
}
