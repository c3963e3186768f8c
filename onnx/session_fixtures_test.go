package onnx_test

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/google/go-cmp/cmp"
	"github.com/x448/float16"
	"google.golang.org/protobuf/proto"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
)

// fixtureClassifier reads onnxruntime_go's test model name, makes a classifier of it by
// appending a Reshape of its output from to the output "scores" of element type elem and shape
// shape, lets edit change the graph further (edit may be nil), and writes it under t's temporary
// directory.
func fixtureClassifier(t *testing.T, name, from string, elem pb.TensorProto_DataType, shape []int64, edit func(*pb.GraphProto)) string {
	t.Helper()
	data, err := os.ReadFile(ortFixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	var m pb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	g := m.Graph
	raw := make([]byte, 0, 8*len(shape))
	dims := &pb.TensorShapeProto{}
	for _, d := range shape {
		raw = binary.LittleEndian.AppendUint64(raw, uint64(d))
		dims.Dim = append(dims.Dim, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	g.Initializer = append(g.Initializer, &pb.TensorProto{Name: "scores_shape", DataType: int32(pb.TensorProto_INT64), Dims: []int64{int64(len(shape))}, RawData: raw})
	g.Node = append(g.Node, &pb.NodeProto{OpType: "Reshape", Name: "reshape_scores", Input: []string{from, "scores_shape"}, Output: []string{"scores"}})
	g.Output = append(g.Output, &pb.ValueInfoProto{Name: "scores", Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{
		TensorType: &pb.TypeProto_Tensor{ElemType: int32(elem), Shape: dims}}}})
	if edit != nil {
		edit(g)
	}
	path := filepath.Join(t.TempDir(), name)
	onnxtest.Write(t, path, &m)
	return path
}

// TestSessionFixtureInputs feeds three of onnxruntime_go's test models, made classifiers by
// reshaping an output to [N, classes] (see their generate_*.py in test_data), by name, and checks
// the values their scripts say they compute:
//   - example_multitype.onnx: OutputA = int16(InputB × InputA[0][0][0] - 512) from a uint8
//     InputA [1, 1, 1] and a float64 InputB [1, 2, 2] (fixed batch 1: a run per sample);
//   - example_float16.onnx: OutputA = bfloat16(InputA × 3) from a float16 InputA [1, 2, 2, 2];
//   - example_several_inputs_and_outputs.onnx: "output 2" = float64 "input 2" (float32 [2, 3,
//     20]) reshaped, beside an int32 "input 1" [2, 5, 2, 5] (fixed batch 2, the last run padded),
//     with its bfloat16 "input 3" [9], which a Session cannot feed, made a constant of zeros.
func TestSessionFixtureInputs(t *testing.T) {
	onnxtest.RequireLibrary(t)
	confQuiet(t)
	t.Run("multitype", testFixtureMultitype)
	t.Run("float16", testFixtureFloat16)
	t.Run("several inputs", testFixtureSeveralInputs)
}

func testFixtureMultitype(t *testing.T) {
	path := fixtureClassifier(t, "example_multitype.onnx", "OutputA.float", pb.TensorProto_FLOAT, []int64{1, 4}, func(g *pb.GraphProto) {
		g.Node = append(g.Node, &pb.NodeProto{OpType: "Cast", Name: "cast_scores", Input: []string{"OutputA"}, Output: []string{"OutputA.float"},
			Attribute: []*pb.AttributeProto{{Name: "to", Type: pb.AttributeProto_INT, I: int64(pb.TensorProto_FLOAT)}}})
	})
	s := sessOpen(t, path, onnx.Options{})
	want := []model.InputInfo{{Name: "InputA", DType: "uint8", SampleShape: []int{1, 1}}, {Name: "InputB", DType: "float64", SampleShape: []int{2, 2}}}
	if diff := cmp.Diff(want, s.Inputs()); diff != "" {
		t.Errorf("Inputs() (-want +got):\n%s", diff)
	}
	// Even a and multiples of 0.25 for b: every product is an integer, exact in float64, and the
	// differences fit int16.
	a := []uint8{2, 10, 200}
	b := []float64{300, 1, 1.5, 200, 3, 51.5, 0, 100, 2.5, 1.5, 0.5, 3.25}
	var ref []float32
	for i, x := range b {
		ref = append(ref, float32(int16(x*float64(a[i/4])-512)))
	}
	b32 := make([]float32, len(b))
	for i, x := range b {
		b32[i] = float32(x)
	}
	for _, values := range []any{b, b32} {
		got, err := s.LogitsInputs(context.Background(), []model.Input{{Name: "InputA", Values: a}, {Name: "InputB", Values: values}}, 3)
		if err != nil {
			t.Fatalf("InputB as %T: %v", values, err)
		}
		sessClose(t, got, ref, 0)
	}
	if s.OutputKind() != onnx.OutputLogits {
		t.Errorf("OutputKind() = %q, want logits", s.OutputKind())
	}
}

func testFixtureFloat16(t *testing.T) {
	path := fixtureClassifier(t, "example_float16.onnx", "OutputA", pb.TensorProto_BFLOAT16, []int64{1, 8}, nil)
	s := sessOpen(t, path, onnx.Options{Output: onnx.OutputLogits})
	if diff := cmp.Diff([]model.InputInfo{{Name: "InputA", DType: "float16", SampleShape: []int{2, 2, 2}}}, s.Inputs()); diff != "" {
		t.Errorf("Inputs() (-want +got):\n%s", diff)
	}
	const n = 3
	x := sessRandVec(rand.New(rand.NewPCG(31, 32)), n*8)
	x16 := round16(x, false)
	bits := make([]uint16, len(x))
	triple := make([]float32, len(x))
	for i, v := range x16 {
		bits[i] = float16.Fromfloat32(v).Bits()
		triple[i] = 3 * v // exact in float32: an 11-bit significand times 3
	}
	// The script rounds the product to float16 (Mul), then to bfloat16 (Cast). onnxruntime's CPU
	// provider has no float16 Mul: it runs it in float32 between inserted Casts, and the Casts
	// float32 -> float16 -> bfloat16 collapse into one, so onnxruntime 1.30 rounds once, to
	// bfloat16. Either result is accepted (they differ by at most one bfloat16 step).
	once, twice := round16(triple, true), round16(round16(triple, false), true)
	for _, values := range []any{bits, x} {
		got, err := s.LogitsInputs(context.Background(), []model.Input{{Name: "InputA", SampleShape: []int{2, 2, 2}, Values: values}}, n)
		if err != nil {
			t.Fatalf("InputA as %T: %v", values, err)
		}
		if len(got) != len(once) {
			t.Fatalf("got %d values, want %d", len(got), len(once))
		}
		for i, v := range got {
			if v != once[i] && v != twice[i] {
				t.Errorf("InputA as %T: value %d = %v, want bfloat16(3 × %v) = %v (or %v rounded to float16 first)", values, i, v, x16[i], once[i], twice[i])
			}
		}
	}
}

func testFixtureSeveralInputs(t *testing.T) {
	path := fixtureClassifier(t, "example_several_inputs_and_outputs.onnx", "output 2", pb.TensorProto_DOUBLE, []int64{2, 60}, func(g *pb.GraphProto) {
		g.Input = slices.DeleteFunc(g.Input, func(v *pb.ValueInfoProto) bool { return v.GetName() == "input 3" })
		g.Initializer = append(g.Initializer, &pb.TensorProto{Name: "input 3", DataType: int32(pb.TensorProto_BFLOAT16), Dims: []int64{9}, RawData: make([]byte, 18)})
	})
	s := sessOpen(t, path, onnx.Options{Output: onnx.OutputLogits})
	want := []model.InputInfo{{Name: "input 1", DType: "int32", SampleShape: []int{5, 2, 5}}, {Name: "input 2", DType: "float32", SampleShape: []int{3, 20}}}
	if diff := cmp.Diff(want, s.Inputs()); diff != "" {
		t.Errorf("Inputs() (-want +got):\n%s", diff)
	}
	if s.Classes() != 60 {
		t.Errorf("Classes() = %d, want 60", s.Classes())
	}
	const n = 3
	ints := make([]int32, n*50)
	for i := range ints {
		ints[i] = int32(i)
	}
	x := sessRandVec(rand.New(rand.NewPCG(31, 32)), n*60)
	got, err := s.LogitsInputs(context.Background(), []model.Input{{Name: "input 2", Values: x}, {Name: "input 1", Values: ints}}, n)
	if err != nil {
		t.Fatal(err)
	}
	sessClose(t, got, x, 0) // float32 -> float64 -> float32 is exact
}
