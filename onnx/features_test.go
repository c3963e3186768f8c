package onnx_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/nn"
	"github.com/distillgo/distill/internal/option"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
)

// editModel rewrites the model at path in place with edit applied to its graph.
func editModel(t *testing.T, path string, edit func(g *pb.GraphProto)) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m pb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m.Graph)
	onnxtest.Write(t, path, &m)
}

// castNode returns a Cast of in to the element type to, output out.
func castNode(in, out string, to pb.TensorProto_DataType) *pb.NodeProto {
	return &pb.NodeProto{OpType: "Cast", Name: "cast_" + out, Input: []string{in}, Output: []string{out},
		Attribute: []*pb.AttributeProto{{Name: "to", Type: pb.AttributeProto_INT, I: int64(to)}}}
}

// randomX returns n samples of size values drawn from a seeded generator, uniform in [-1, 1).
func randomX(n, size int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n*size)
	for i := range x {
		x[i] = float32(rng.Float64()*2 - 1)
	}
	return x
}

func relu(v []float32) []float32 {
	out := slices.Clone(v)
	for i, x := range out {
		out[i] = max(x, 0)
	}
	return out
}

// TestSessionFeatures opens an MLP 4-5-6-3 (Gemm, Relu, Gemm, Relu, Gemm) with its inner tensors
// as features, also cast to float16 and float64 by nodes added to the graph, and checks each
// against the layer computed by hand, over runs of 3 samples (the last one short).
func TestSessionFeatures(t *testing.T) {
	onnxtest.RequireLibrary(t)
	path := filepath.Join(t.TempDir(), "mlp.onnx")
	w := onnxtest.MLP(t, path, []int{4, 5, 6, 3}, 11)
	editModel(t, path, func(g *pb.GraphProto) {
		g.Node = append(g.Node, castNode("relu0", "relu0_f16", pb.TensorProto_FLOAT16), castNode("gemm1", "gemm1_f64", pb.TensorProto_DOUBLE))
	})
	const n = 7
	x := randomX(n, 4, 5)
	gemm0 := onnxtest.GemmRef(x, n, w.W[0], w.B[0])
	gemm1 := onnxtest.GemmRef(relu(gemm0), n, w.W[1], w.B[1])
	names := []string{"gemm0", "relu1", "relu0_f16", "gemm1_f64", "relu0"}
	want := [][]float32{gemm0, relu(gemm1), relu(gemm0), gemm1, relu(gemm0)}
	tol := []float64{1e-5, 1e-5, 2e-3, 1e-5, 1e-5} // float16 keeps 11 bits: |x| < 2 rounds within 1e-3

	s := sessOpen(t, path, onnx.Options{Batch: 3, Output: "logits", Features: names})
	if diff := cmp.Diff([][]int{{5}, {6}, {5}, {6}, {5}}, s.FeatureShapes()); diff != "" {
		t.Errorf("FeatureShapes (-want +got):\n%s", diff)
	}
	if got := s.Describe().Features; !slices.Equal(got, names) {
		t.Errorf("Describe().Features = %v, want %v", got, names)
	}
	for _, m := range []int{n, 2} { // twice, to reuse the tensors and then the tail's
		logits, feats, err := s.LogitsFeatures(context.Background(), x[:m*4], m)
		if err != nil {
			t.Fatalf("LogitsFeatures(n=%d): %v", m, err)
		}
		sessClose(t, logits, w.Forward(x[:m*4], m), sessTol)
		if len(feats) != len(names) {
			t.Fatalf("got %d features, want %d", len(feats), len(names))
		}
		for i, name := range names {
			t.Run(fmt.Sprintf("%s/n=%d", name, m), func(t *testing.T) {
				size := len(want[i]) / n
				sessClose(t, feats[i], want[i][:m*size], tol[i])
			})
		}
		plain, err := s.Logits(context.Background(), x[:m*4], m)
		if err != nil {
			t.Fatal(err)
		}
		sessClose(t, plain, logits, 0)
	}
	var fm model.FeatureModel = s // the pipeline's view
	if _, _, err := fm.LogitsFeatures(context.Background(), x[:5], 1); err == nil || !strings.Contains(err.Error(), "values") {
		t.Errorf("LogitsFeatures with 5 values for 1 sample of 4: err %v", err)
	}
}

// TestSessionFeaturesRefused checks that a feature a session cannot fetch is refused at Open with
// an *option.Error for Features that names it and says why.
func TestSessionFeaturesRefused(t *testing.T) {
	onnxtest.RequireLibrary(t)
	dir := t.TempDir()
	mlp := filepath.Join(dir, "mlp.onnx")
	onnxtest.MLP(t, mlp, []int{4, 5, 3}, 1)
	editModel(t, mlp, func(g *pb.GraphProto) {
		c := &pb.TensorProto{Name: "c", DataType: int32(pb.TensorProto_FLOAT), Dims: []int64{3}, FloatData: []float32{1, 2, 3}}
		g.Node = append(g.Node,
			&pb.NodeProto{OpType: "Shape", Name: "shape", Input: []string{"input"}, Output: []string{"in_shape"}},
			&pb.NodeProto{OpType: "Constant", Name: "const", Output: []string{"const3"},
				Attribute: []*pb.AttributeProto{{Name: "value", Type: pb.AttributeProto_TENSOR, T: c}}})
	})
	two := filepath.Join(dir, "two.onnx")
	onnxtest.TwoInputs(t, two)
	for _, tc := range []struct {
		name     string
		path     string
		features []string
		msg      []string // what the error says
		noTensor bool     // errors.Is(err, onnx.ErrNoTensor)
	}{
		{"misspelt", mlp, []string{"relu9"}, []string{`"relu9"`, "no node outputs", `nearest`, `"relu0"`}, true},
		{"an initializer", mlp, []string{"layers.0.weight"}, []string{`"layers.0.weight"`, "initializer"}, true},
		{"the input", mlp, []string{"input"}, []string{`"input"`, "input of the model"}, true},
		{"the scores", mlp, []string{"output"}, []string{`"output"`, "class scores"}, false},
		{"named twice", mlp, []string{"relu0", "gemm0", "relu0"}, []string{`"relu0"`, "twice"}, false},
		{"empty", mlp, []string{""}, []string{"empty name"}, false},
		{"an int64 tensor", mlp, []string{"relu0", "in_shape"}, []string{`"in_shape"`, "int64"}, false},
		{"no batch axis", mlp, []string{"const3"}, []string{`"const3"`, "[3]", "not the batch"}, false},
		{"a model of two inputs", two, []string{"a"}, []string{"one float input", `"b"`}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := onnx.Open(tc.path, onnx.Options{Features: tc.features})
			if err == nil {
				s.Close()
				t.Fatalf("Open with features %q succeeded", tc.features)
			}
			var oe *option.Error
			if !errors.As(err, &oe) || oe.Option != "Features" || oe.Scope != "onnx" {
				t.Errorf("error %v: want an *option.Error for onnx Features", err)
			}
			if errors.Is(err, onnx.ErrNoTensor) != tc.noTensor {
				t.Errorf("errors.Is(err, ErrNoTensor) = %v, want %v", !tc.noTensor, tc.noTensor)
			}
			for _, m := range append(tc.msg, tc.path) {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
		})
	}
}

// graphOutputs returns the names and element types of the graph outputs of model data.
func graphOutputs(t *testing.T, data []byte) []string {
	t.Helper()
	var m pb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, vi := range m.Graph.Output {
		typ := "untyped"
		if tt := vi.GetType().GetTensorType(); tt != nil {
			typ = onnx.ElemTypeName(tt.GetElemType())
			if tt.GetShape() != nil {
				typ += "[" + strings.Repeat("?", len(tt.GetShape().GetDim())) + "]"
			}
		}
		out = append(out, vi.GetName()+":"+typ)
	}
	return out
}

// TestExposeTensors checks the rewrite alone: the outputs it adds, in order and once each, typed
// as the model's value_info declares them, and the tensors NodeTensors lists.
func TestExposeTensors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mlp.onnx")
	onnxtest.MLP(t, path, []int{4, 5, 3}, 1)
	editModel(t, path, func(g *pb.GraphProto) {
		g.ValueInfo = append(g.ValueInfo, &pb.ValueInfoProto{Name: "relu0", Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{
			TensorType: &pb.TypeProto_Tensor{ElemType: int32(pb.TensorProto_FLOAT), Shape: &pb.TensorShapeProto{Dim: []*pb.TensorShapeProto_Dimension{{}, {}}}}}}})
	})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tensors, err := onnx.NodeTensors(data)
	if err != nil {
		t.Fatal(err)
	}
	wantTensors := []onnx.NodeTensor{{Name: "gemm0", Node: "Gemm_gemm0", Op: "Gemm"}, {Name: "relu0", Node: "Relu_relu0", Op: "Relu", ElemType: "float32"},
		{Name: "output", Node: "Gemm_output", Op: "Gemm", ElemType: "float32"}}
	if diff := cmp.Diff(wantTensors, tensors); diff != "" {
		t.Errorf("NodeTensors (-want +got):\n%s", diff)
	}
	out, err := onnx.ExposeTensors(data, []string{"relu0", "output", "gemm0", "relu0"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"output:float32[??]", "relu0:float32[??]", "gemm0:untyped"}
	if diff := cmp.Diff(want, graphOutputs(t, out)); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
	same, err := onnx.ExposeTensors(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"output:float32[??]"}, graphOutputs(t, same)); diff != "" {
		t.Errorf("outputs with no names (-want +got):\n%s", diff)
	}
	if _, err := onnx.ExposeTensors([]byte("not a model"), []string{"x"}); !errors.Is(err, onnx.ErrNotONNX) {
		t.Errorf("ExposeTensors of garbage: %v, want ErrNotONNX", err)
	}
}

// sealedConv exports, as distill export writes a student (metadata with the spec, a checksum), a
// conv net [1, 4, 4] -> conv 2x3x3 pad 1 -> relu -> flatten -> dense 3, and returns its path and
// the conv's weights [2][1][3][3] and bias.
func sealedConv(t *testing.T) (string, []float32, []float32) {
	t.Helper()
	spec := &nn.Spec{Input: []int{1, 4, 4}, Classes: 3, Layers: []nn.Layer{
		{Type: "conv2d", Filters: 2, Kernel: 3, Pad: nn.Pad(1)}, {Type: "relu"}, {Type: "flatten"}, {Type: "dense", Units: 3}}}
	w, b := randomX(1, 18, 21), randomX(1, 2, 22)
	tensors := map[string][]float32{nn.TensorName(0, "weight"): w, nn.TensorName(0, "bias"): b,
		nn.TensorName(3, "weight"): randomX(1, 96, 23), nn.TensorName(3, "bias"): randomX(1, 3, 24)}
	og, err := nn.EncodeSpec(spec, tensors, nn.EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "student.onnx")
	g := onnx.ExportGraph{ONNXGraph: *og, Checksum: true, Metadata: map[string]string{onnx.SpecKey: `{"name":"conv"}`}}
	if err := onnx.Export(path, g); err != nil {
		t.Fatal(err)
	}
	return path, w, b
}

// convRef computes the conv of sealedConv (one input channel, 4x4, kernel 3, pad 1, stride 1) for
// n samples x, [n, 2, 4, 4], in float64.
func convRef(x []float32, n int, w, b []float32) []float32 {
	out := make([]float32, n*2*16)
	for s := range n {
		for f := range 2 {
			for i := range 4 {
				for j := range 4 {
					acc := float64(b[f])
					for di := range 3 {
						for dj := range 3 {
							if y, z := i+di-1, j+dj-1; y >= 0 && y < 4 && z >= 0 && z < 4 {
								acc += float64(x[s*16+y*4+z]) * float64(w[f*9+di*3+dj])
							}
						}
					}
					out[s*32+f*16+i*4+j] = float32(acc)
				}
			}
		}
	}
	return out
}

// TestSessionFeaturesSealedExport checks that a model exported by distill, with its checksum,
// still opens with features (the rewrite is sealed again), gives the conv's feature map computed
// by hand, and that a damaged export is still refused.
func TestSessionFeaturesSealedExport(t *testing.T) {
	onnxtest.RequireLibrary(t)
	path, w, b := sealedConv(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tensors, err := onnx.NodeTensors(data)
	if err != nil {
		t.Fatal(err)
	}
	var convName, reluName string
	for _, nt := range tensors {
		switch {
		case nt.Op == "Conv" && convName == "":
			convName = nt.Name
		case nt.Op == "Relu" && reluName == "":
			reluName = nt.Name
		}
	}
	if convName == "" || reluName == "" {
		t.Fatalf("no Conv or Relu among the node outputs %v", tensors)
	}

	rewritten, err := onnx.ExposeTensors(data, []string{convName})
	if err != nil {
		t.Fatalf("ExposeTensors of a sealed export: %v", err)
	}
	if _, err := onnx.NodeTensors(rewritten); err != nil {
		t.Errorf("the rewrite fails its own checksum: %v", err)
	}
	damaged := slices.Clone(data)
	damaged[len(damaged)/2] ^= 0x40
	if _, err := onnx.ExposeTensors(damaged, []string{convName}); !errors.Is(err, onnx.ErrChecksum) {
		t.Errorf("ExposeTensors of a damaged export: %v, want ErrChecksum", err)
	}

	s := sessOpen(t, path, onnx.Options{Batch: 2, Features: []string{reluName, convName}})
	if diff := cmp.Diff([][]int{{2, 4, 4}, {2, 4, 4}}, s.FeatureShapes()); diff != "" {
		t.Errorf("FeatureShapes (-want +got):\n%s", diff)
	}
	const n = 3
	x := randomX(n, 16, 25)
	logits, feats, err := s.LogitsFeatures(context.Background(), x, n)
	if err != nil {
		t.Fatal(err)
	}
	want := convRef(x, n, w, b)
	sessClose(t, feats[1], want, sessTol)
	sessClose(t, feats[0], relu(want), sessTol)
	if sum := sha256.Sum256(data); s.Describe().SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("Describe().SHA256 = %s, want the file's", s.Describe().SHA256)
	}
	plain := sessOpen(t, path, onnx.Options{})
	want3, err := plain.Logits(context.Background(), x, n)
	if err != nil {
		t.Fatal(err)
	}
	sessClose(t, logits, want3, sessTol)
}

// TestSessionFeaturesExternalData opens with features a model whose first weight is stored in a
// file beside it (ONNX external data), as large exports are: the rewrite runs from memory, and
// onnxruntime must still find the weight beside the model file, not in the working directory.
func TestSessionFeaturesExternalData(t *testing.T) {
	onnxtest.RequireLibrary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "mlp.onnx")
	w := onnxtest.MLP(t, path, []int{4, 5, 3}, 9)
	editModel(t, path, func(g *pb.GraphProto) {
		for _, init := range g.Initializer {
			if init.Name != "layers.0.weight" {
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, "weights.bin"), init.RawData, 0o644); err != nil {
				t.Fatal(err)
			}
			init.ExternalData = []*pb.StringStringEntryProto{{Key: "location", Value: "weights.bin"},
				{Key: "offset", Value: "0"}, {Key: "length", Value: fmt.Sprint(len(init.RawData))}}
			init.DataLocation, init.RawData = pb.TensorProto_EXTERNAL, nil
		}
	})
	s := sessOpen(t, path, onnx.Options{Features: []string{"relu0"}})
	const n = 3
	x := randomX(n, 4, 8)
	logits, feats, err := s.LogitsFeatures(context.Background(), x, n)
	if err != nil {
		t.Fatal(err)
	}
	sessClose(t, logits, w.Forward(x, n), sessTol)
	sessClose(t, feats[0], relu(onnxtest.GemmRef(x, n, w.W[0], w.B[0])), sessTol)
}

// TestNodeShapes checks the tensors NodeShapes finds in an MLP 4-5-3 to which nodes were added: a
// float16 Cast (found, typed float16), a Shape (int64) and a Constant (no batch axis), both left
// out; and that a dynamic per-sample axis needs InputShape.
func TestNodeShapes(t *testing.T) {
	onnxtest.RequireLibrary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "mlp.onnx")
	onnxtest.MLP(t, path, []int{4, 5, 3}, 1)
	editModel(t, path, func(g *pb.GraphProto) {
		c := &pb.TensorProto{Name: "c", DataType: int32(pb.TensorProto_FLOAT), Dims: []int64{3}, FloatData: []float32{1, 2, 3}}
		g.Node = append(g.Node, castNode("relu0", "relu0_f16", pb.TensorProto_FLOAT16),
			&pb.NodeProto{OpType: "Shape", Name: "shape", Input: []string{"input"}, Output: []string{"in_shape"}},
			&pb.NodeProto{OpType: "Constant", Name: "const", Output: []string{"const3"},
				Attribute: []*pb.AttributeProto{{Name: "value", Type: pb.AttributeProto_TENSOR, T: c}}})
	})
	want := &onnx.NodeShapesResult{Rows: 2, Others: 2, Tensors: []onnx.NodeShape{
		{NodeTensor: onnx.NodeTensor{Name: "gemm0", Node: "Gemm_gemm0", Op: "Gemm", ElemType: "float32"}, Shape: []int{5}},
		{NodeTensor: onnx.NodeTensor{Name: "relu0", Node: "Relu_relu0", Op: "Relu", ElemType: "float32"}, Shape: []int{5}},
		{NodeTensor: onnx.NodeTensor{Name: "output", Node: "Gemm_output", Op: "Gemm", ElemType: "float32"}, Shape: []int{3}},
		{NodeTensor: onnx.NodeTensor{Name: "relu0_f16", Node: "cast_relu0_f16", Op: "Cast", ElemType: "float16"}, Shape: []int{5}},
	}}
	got, err := onnx.NodeShapes(path, onnx.NodeShapesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NodeShapes (-want +got):\n%s", diff)
	}

	dynamic := filepath.Join(dir, "dynamic.onnx")
	onnxtest.MLP(t, dynamic, []int{4, 5, 3}, 1)
	editModel(t, dynamic, func(g *pb.GraphProto) {
		g.Input[0].Type.GetTensorType().Shape.Dim[1] = &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: "F"}}
	})
	var oe *option.Error
	if _, err := onnx.NodeShapes(dynamic, onnx.NodeShapesOptions{}); !errors.As(err, &oe) || oe.Option != "InputShape" || !strings.Contains(err.Error(), dynamic) {
		t.Errorf("NodeShapes of a dynamic input without InputShape: %v, want an *option.Error for InputShape naming the file", err)
	}
	got, err = onnx.NodeShapes(dynamic, onnx.NodeShapesOptions{InputShape: []int{4}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Tensors) != 3 || !slices.Equal(got.Tensors[1].Shape, []int{5}) {
		t.Errorf("NodeShapes with InputShape [4]: %+v", got)
	}
}

// FuzzExposeTensors checks that ExposeTensors never panics on outside bytes and keeps its word:
// a node output of a model is added and the rewrite reads back as a model with that output; any
// other name is ErrNoTensor naming it; bytes that are not a model are refused as NodeTensors
// refuses them. The seeds are those of FuzzReadModelInfo, with names of their tensors and others.
func FuzzExposeTensors(f *testing.F) {
	for _, seed := range infoSeeds(f) {
		for _, name := range []string{"output", "input", "y", "x"} {
			f.Add(seed, name)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		tensors, terr := onnx.NodeTensors(data)
		out, err := onnx.ExposeTensors(data, []string{name})
		switch {
		case terr != nil:
			if err == nil {
				t.Fatalf("NodeTensors refused the data (%v), ExposeTensors took it", terr)
			}
			return
		case !slices.ContainsFunc(tensors, func(nt onnx.NodeTensor) bool { return nt.Name == name }):
			if !errors.Is(err, onnx.ErrNoTensor) || !strings.Contains(err.Error(), strconv.Quote(name)) {
				t.Fatalf("name %q, not a node output: err %v, want ErrNoTensor naming it", name, err)
			}
			return
		case err != nil:
			t.Fatalf("node output %q refused: %v", name, err)
		}
		back, err := onnx.NodeTensors(out)
		if err != nil {
			t.Fatalf("the rewrite does not read back: %v", err)
		}
		if len(back) != len(tensors) {
			t.Errorf("the rewrite has %d node outputs, the model %d", len(back), len(tensors))
		}
		if !slices.Contains(graphOutputNames(t, out), name) {
			t.Errorf("%q is not among the rewrite's outputs %v", name, graphOutputNames(t, out))
		}
	})
}

// graphOutputNames returns the names of the graph outputs of model data.
func graphOutputNames(t *testing.T, data []byte) []string {
	t.Helper()
	var names []string
	for _, o := range graphOutputs(t, data) {
		names = append(names, o[:strings.LastIndex(o, ":")])
	}
	return names
}

// TestSessionFeaturesFixedBatch fetches, from a model with a fixed batch of 4 (runs padded with
// zeros), the Gemm's result before its Softmax, a tensor that already is a graph output
// ("logits", beside the scores "output"): 5 samples run as 4 + 1 padded, and only theirs return,
// the Gemm computed by hand.
func TestSessionFeaturesFixedBatch(t *testing.T) {
	onnxtest.RequireLibrary(t)
	path := filepath.Join(t.TempDir(), "fixed4.onnx")
	onnxtest.GemmClassifier(t, path, sessW, sessB, onnxtest.FixedBatch(4), onnxtest.Softmax(), onnxtest.LogitsOutput())
	s := sessOpen(t, path, onnx.Options{OutputName: "output", Features: []string{"logits"}})
	if diff := cmp.Diff([][]int{{2}}, s.FeatureShapes()); diff != "" {
		t.Errorf("FeatureShapes (-want +got):\n%s", diff)
	}
	logits, feats, err := s.LogitsFeatures(context.Background(), sessX, 5)
	if err != nil {
		t.Fatal(err)
	}
	sessClose(t, feats[0], sessWant, sessTol)
	sessClose(t, logits, logSoftmaxRows(sessWant, 2), sessTol)
}
