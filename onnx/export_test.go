package onnx_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/x448/float16"

	"github.com/distillgo/distill/internal/nn"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
)

var update = flag.Bool("update", false, "rewrite the golden files and the fuzz seed corpus under testdata/")

// randVals returns n values uniform in [-scale, scale) from rng.
func randVals(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((rng.Float64()*2 - 1) * scale)
	}
	return v
}

// testMLP is a 6 -> 5 -> relu -> 3 classifier with weights drawn from seed.
func testMLP(seed uint64) onnx.ExportGraph {
	rng := rand.New(rand.NewPCG(seed, 1))
	g := onnx.ChainForTest([]int{6}, 3,
		onnx.ChainLayer{Op: "Gemm", Weight: randVals(rng, 6*5, 0.5), WeightShape: []int{6, 5}, Bias: randVals(rng, 5, 0.1)},
		onnx.ChainLayer{Op: "Relu"},
		onnx.ChainLayer{Op: "Gemm", Weight: randVals(rng, 5*3, 0.5), WeightShape: []int{5, 3}, Bias: randVals(rng, 3, 0.1)})
	g.Metadata = map[string]string{"distill.classes": "3", "b": "2", "a": "1"}
	return g
}

// testCNN is [2,7,7] -> conv 3x3/1 pad 1 (3 filters) -> relu -> maxpool 2 -> conv 2x2/2 pad 1
// (2 filters, no bias) -> flatten -> gemm to 4 classes, weights drawn from seed.
func testCNN(seed uint64) onnx.ExportGraph {
	rng := rand.New(rand.NewPCG(seed, 2))
	// Shapes: [2,7,7] -conv-> [3,7,7] -pool-> [3,3,3] -conv-> [2,2,2] -flatten-> [8].
	g := onnx.ChainForTest([]int{2, 7, 7}, 4,
		onnx.ChainLayer{Op: "Conv", Weight: randVals(rng, 3*2*3*3, 0.4), WeightShape: []int{3, 2, 3, 3}, Bias: randVals(rng, 3, 0.1), Kernel: 3, Stride: 1, Pad: 1},
		onnx.ChainLayer{Op: "Relu"},
		onnx.ChainLayer{Op: "MaxPool", Kernel: 2},
		onnx.ChainLayer{Op: "Conv", Weight: randVals(rng, 2*3*2*2, 0.4), WeightShape: []int{2, 3, 2, 2}, Kernel: 2, Stride: 2, Pad: 1},
		onnx.ChainLayer{Op: "Flatten"},
		onnx.ChainLayer{Op: "Gemm", Weight: randVals(rng, 8*4, 0.5), WeightShape: []int{8, 4}, Bias: randVals(rng, 4, 0.1)})
	rename(&g, "pixels", "scores")
	g.Metadata = map[string]string{"distill.classes": "4"}
	return g
}

// rename gives g's input and output other names.
func rename(g *onnx.ExportGraph, input, output string) {
	g.Nodes = append([]nn.ONNXNode(nil), g.Nodes...)
	for i := range g.Nodes {
		n := &g.Nodes[i]
		n.Inputs, n.Outputs = append([]string(nil), n.Inputs...), append([]string(nil), n.Outputs...)
		for k, v := range n.Inputs {
			if v == g.Input {
				n.Inputs[k] = input
			}
		}
		if n.Outputs[0] == g.Output {
			n.Outputs[0] = output
		}
	}
	g.Input, g.Output = input, output
}

// forward computes g's logits for n samples of x naively in float64 (the reference for the
// tests), from the layers internal/nn reads in g.
func forward(g onnx.ExportGraph, x []float32, n int) []float32 {
	spec, tensors, err := nn.Decode(&g.ONNXGraph)
	if err != nil {
		panic(err)
	}
	shape := append([]int(nil), g.InputShape...)
	h := make([]float64, len(x))
	for i, v := range x {
		h[i] = float64(v)
	}
	for i, l := range spec.Layers {
		w, b := tensors[nn.TensorName(i, "weight")], tensors[nn.TensorName(i, "bias")]
		switch l.Type {
		case "dense":
			h, shape = refGemm(w, b, shape[0], l.Units, h, n), []int{l.Units}
		case "relu":
			for i, v := range h {
				h[i] = math.Max(v, 0)
			}
		case "flatten":
			shape = []int{len(h) / n}
		case "conv2d", "maxpool":
			h, shape = refWindow(l, w, b, h, shape, n)
		default:
			panic("forward: layer " + l.Type)
		}
	}
	out := make([]float32, len(h))
	for i, v := range h {
		out[i] = float32(v)
	}
	return out
}

// refGemm applies a dense layer (weight [in,out], optional bias) to the n rows of h.
func refGemm(w, bias []float32, in, out int, h []float64, n int) []float64 {
	y := make([]float64, n*out)
	for r := 0; r < n; r++ {
		for j := 0; j < out; j++ {
			s := 0.0
			if bias != nil {
				s = float64(bias[j])
			}
			for i := 0; i < in; i++ {
				s += h[r*in+i] * float64(w[i*out+j])
			}
			y[r*out+j] = s
		}
	}
	return y
}

// refWindow applies the conv2d or maxpool layer l to the n samples of h, each of shape [c,H,W],
// and returns the output and its per-sample shape.
func refWindow(l nn.Layer, w, bias []float32, h []float64, shape []int, n int) ([]float64, []int) {
	c, H, W := shape[0], shape[1], shape[2]
	k, p := l.Kernel, int(l.Pad)
	s := l.Stride
	if s == 0 {
		s = 1
		if l.Type == "maxpool" {
			s = k
		}
	}
	oh, ow := (H+2*p-k)/s+1, (W+2*p-k)/s+1
	f := c
	if l.Type == "conv2d" {
		f = l.Filters
	}
	y := make([]float64, n*f*oh*ow)
	for b := 0; b < n; b++ {
		for o := 0; o < f; o++ {
			for i := 0; i < oh; i++ {
				for j := 0; j < ow; j++ {
					y[((b*f+o)*oh+i)*ow+j] = refWindowAt(l, w, bias, h[b*c*H*W:(b+1)*c*H*W], c, H, W, s, o, i, j)
				}
			}
		}
	}
	return y, []int{f, oh, ow}
}

// refWindowAt returns output channel o at row i, column j of the conv2d or maxpool layer l
// (stride s) on one sample x of shape [c,H,W].
func refWindowAt(l nn.Layer, w, bias []float32, x []float64, c, H, W, s, o, i, j int) float64 {
	k, p := l.Kernel, int(l.Pad)
	conv := l.Type == "conv2d"
	acc := math.Inf(-1)
	if conv {
		acc = 0
		if bias != nil {
			acc = float64(bias[o])
		}
	}
	for ci := 0; ci < c; ci++ {
		if !conv && ci != o {
			continue
		}
		for di := 0; di < k; di++ {
			for dj := 0; dj < k; dj++ {
				yi, xj := i*s+di-p, j*s+dj-p
				if yi < 0 || yi >= H || xj < 0 || xj >= W {
					continue // zero padding; MaxPool ignores padding
				}
				v := x[(ci*H+yi)*W+xj]
				if conv {
					acc += v * float64(w[((o*c+ci)*k+di)*k+dj])
				} else {
					acc = math.Max(acc, v)
				}
			}
		}
	}
	return acc
}

// roundFP16 returns g with every initializer rounded to float16, the values an FP16 export
// stores.
func roundFP16(g onnx.ExportGraph) onnx.ExportGraph {
	g.Inits = append([]nn.ONNXInit(nil), g.Inits...)
	for i := range g.Inits {
		v := make([]float32, len(g.Inits[i].Values))
		for j, x := range g.Inits[i].Values {
			v[j] = float16.Fromfloat32(x).Float32()
		}
		g.Inits[i].Values = v
	}
	return g
}

func exportBytes(t *testing.T, g onnx.ExportGraph) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := onnx.Export(path, g); err != nil {
		t.Fatalf("Export: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, data
}

func withOpts(g onnx.ExportGraph, opset int, fp16 bool) onnx.ExportGraph {
	g.Opset, g.FP16 = opset, fp16
	return g
}

// cases are the graphs exported by the round-trip, parity and checker tests.
func cases() []struct {
	name string
	g    onnx.ExportGraph
} {
	return []struct {
		name string
		g    onnx.ExportGraph
	}{
		{"mlp", testMLP(1)},
		{"cnn", testCNN(2)},
		{"mlp-fp16", withOpts(testMLP(3), 0, true)},
		{"cnn-fp16", withOpts(testCNN(4), 0, true)},
		{"mlp-opset7", withOpts(testMLP(5), 7, false)},
		{"cnn-opset7-fp16", withOpts(testCNN(6), 7, true)},
		{"cnn-opset11", withOpts(testCNN(7), 11, false)},
		{"mlp-opset17", withOpts(testMLP(8), 17, false)},
		{"mlp-int8", withInt8(testMLP(9), 0)},
		{"cnn-int8", withInt8(testCNN(10), 0)},
		{"cnn-int8-opset17", withInt8(testCNN(11), 17)},
	}
}

func TestExportDeterministic(t *testing.T) {
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			_, a := exportBytes(t, tc.g)
			// Same graph, metadata map rebuilt (new iteration order): same bytes.
			g := tc.g
			g.Metadata = map[string]string{}
			for k, v := range tc.g.Metadata {
				g.Metadata[k] = v
			}
			_, b := exportBytes(t, g)
			if !bytes.Equal(a, b) {
				t.Fatal("two exports of the same graph differ")
			}
		})
	}
}

// TestEncode checks that Encode returns the bytes Export writes, with and without a checksum,
// and the error Export reports (less the file name) for a graph it cannot write.
func TestEncode(t *testing.T) {
	bad := testMLP(1)
	bad.Classes = 4
	tests := []struct {
		name string
		g    onnx.ExportGraph
	}{
		{"mlp", testMLP(1)},
		{"cnn-fp16-checksum", withChecksum(withOpts(testCNN(2), 0, true))},
		{"mlp-opset7-checksum", withChecksum(withOpts(testMLP(5), 7, false))},
		{"wrong classes", bad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, encErr := onnx.Encode(tt.g)
			path := filepath.Join(t.TempDir(), "model.onnx")
			expErr := onnx.Export(path, tt.g)
			if encErr != nil || expErr != nil {
				if encErr == nil || expErr == nil || expErr.Error() != "export onnx "+path+": "+encErr.Error() {
					t.Fatalf("Encode error %v, Export error %v: want the same", encErr, expErr)
				}
				return
			}
			written, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, written) {
				t.Errorf("Encode gave %d bytes, Export wrote %d other bytes", len(data), len(written))
			}
		})
	}
}

func withChecksum(g onnx.ExportGraph) onnx.ExportGraph {
	g.Checksum = true
	return g
}

// TestRoundTrip checks export -> import -> export gives identical bytes and the imported graph
// equals the exported one (defaults filled in, fp16 weights rounded).
func TestRoundTrip(t *testing.T) {
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			path, first := exportBytes(t, tc.g)
			g, err := onnx.ImportGraph(path)
			if err != nil {
				t.Fatalf("ImportGraph: %v", err)
			}
			want := tc.g
			if want.FP16 {
				want = roundFP16(want)
			}
			if want.Int8 {
				want = roundInt8(t, want)
			}
			if want.Opset == 0 {
				want.Opset = onnx.DefaultOpset
			}
			// What the file holds of each initializer: not its source, and a channel axis
			// only where it is stored as int8.
			want.Inits = append([]nn.ONNXInit(nil), want.Inits...)
			for i := range want.Inits {
				want.Inits[i].Source = ""
				if !want.Int8 {
					want.Inits[i].ChannelAxis = -1
				}
			}
			if diff := cmp.Diff(&want, g, cmpopts.IgnoreUnexported(nn.ONNXNode{})); diff != "" {
				t.Errorf("imported graph differs (-want +got):\n%s", diff)
			}
			_, second := exportBytes(t, *g)
			if !bytes.Equal(first, second) {
				t.Errorf("export -> import -> export changed the bytes (%d vs %d bytes)", len(first), len(second))
			}
		})
	}
}

// TestGolden pins the exact bytes of two small exports by their sha256 (run with -update to
// rewrite testdata/*.sha256 after an intended format change). The .onnx files are kept beside them.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    onnx.ExportGraph
	}{
		{"mlp", testMLP(1)},
		{"cnn-fp16", withOpts(testCNN(2), 0, true)},
		{"cnn-int8", withInt8(testCNN(2), 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, data := exportBytes(t, tc.g)
			sum := sha256.Sum256(data)
			got := hex.EncodeToString(sum[:])
			golden := filepath.Join("testdata", "golden-"+tc.name+".sha256")
			model := filepath.Join("testdata", "golden-"+tc.name+".onnx")
			if *update {
				if err := os.WriteFile(golden, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(model, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden %s: %v (run go test ./onnx -run TestGolden -update)", golden, err)
			}
			if got != strings.TrimSpace(string(want)) {
				t.Errorf("sha256 of the export = %s, golden %s has %s", got, golden, strings.TrimSpace(string(want)))
			}
			kept, err := os.ReadFile(model)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(kept, data) {
				t.Errorf("%s differs from a fresh export", model)
			}
		})
	}
}

func TestExportErrors(t *testing.T) {
	mlp := testMLP(1)
	cnn := testCNN(2)
	edit := func(g onnx.ExportGraph, f func(*onnx.ExportGraph)) onnx.ExportGraph {
		g.Nodes = append([]nn.ONNXNode(nil), g.Nodes...)
		g.Inits = append([]nn.ONNXInit(nil), g.Inits...)
		f(&g)
		return g
	}
	rng := rand.New(rand.NewPCG(1, 1))
	noBias := onnx.ChainForTest([]int{6}, 3, onnx.ChainLayer{Op: "Gemm", Weight: randVals(rng, 18, 1), WeightShape: []int{6, 3}})
	for _, tc := range []struct {
		name  string
		g     onnx.ExportGraph
		want  []string
		isOld bool
	}{
		{"opset 6 lacks Gemm", withOpts(mlp, 6, false), []string{`node "layer0.Gemm" (Gemm)`, "Gemm needs opset >= 7", "got 6"}, true},
		{"opset 5 lacks Relu", withOpts(cnn, 5, false), []string{`node "layer1.Relu"`, "Relu needs opset >= 6"}, true},
		{"opset too new", withOpts(mlp, 99, false), []string{"opset 99", "7..21"}, false},
		{"no bias before opset 11", withOpts(noBias, 9, false), []string{`node "layer0.Gemm" (Gemm)`, "without a bias needs opset >= 11"}, true},
		{"weight shape", edit(mlp, func(g *onnx.ExportGraph) { g.Inits[2].Dims = []int{3, 5} }), []string{`node "layer2.Gemm" (Gemm)`, "weight [3 5] for an input of shape [5]"}, false},
		{"weight length", edit(mlp, func(g *onnx.ExportGraph) { g.Inits[0].Values = g.Inits[0].Values[:29] }), []string{"layer0.weight has 29 values, shape [6 5] needs 30"}, false},
		{"classes", edit(mlp, func(g *onnx.ExportGraph) { g.Classes = 4 }), []string{"output shape [3] does not match", "= 4"}, false},
		{"gemm after conv", edit(cnn, func(g *onnx.ExportGraph) {
			g.Nodes = append(g.Nodes[:4:4], g.Nodes[5])
			g.Nodes[4].Inputs = []string{g.Nodes[3].Outputs[0], g.Nodes[4].Inputs[1], g.Nodes[4].Inputs[2]}
		}), []string{`node "layer5.Gemm" (Gemm)`, "add a flatten"}, false},
		{"unknown op", edit(mlp, func(g *onnx.ExportGraph) { g.Nodes[1].Op = "Softsign" }), []string{`node "layer1.Relu" (Softsign)`, "op is not supported"}, false},
		{"undefined input", edit(mlp, func(g *onnx.ExportGraph) { g.Nodes[1].Inputs = []string{"nowhere"} }), []string{`node "layer1.Relu" (Relu)`, `input "nowhere" is neither an initializer nor written by an earlier node`}, false},
		{"pad >= kernel", edit(cnn, func(g *onnx.ExportGraph) {
			g.Nodes[3].Attrs = append([]nn.ONNXAttr(nil), g.Nodes[3].Attrs...)
			g.Nodes[3].Attrs[1] = nn.IntsAttr("pads", 2, 2, 2, 2)
		}), []string{`node "layer3.Conv" (Conv)`, "must be smaller than the kernel 2, got 2"}, false},
		{"same names", edit(mlp, func(g *onnx.ExportGraph) { g.Input, g.Output = "x", "x" }), []string{`share the name "x"`}, false},
		{"int8 and fp16", edit(withInt8(mlp, 0), func(g *onnx.ExportGraph) { g.FP16 = true }), []string{"int8 and fp16 weights exclude each other"}, false},
		{"int8 before opset 13", withInt8(cnn, 11), []string{"DequantizeLinear", "needs opset >= 13", "got 11"}, true},
		{"int8 of a NaN", edit(withInt8(mlp, 0), func(g *onnx.ExportGraph) {
			g.Inits[2].Values = append([]float32{float32(math.NaN())}, g.Inits[2].Values[1:]...)
		}), []string{`node "layer2.Gemm" (Gemm)`, "cannot quantise to int8", "channel 0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.onnx")
			err := onnx.Export(path, tc.g)
			if err == nil {
				t.Fatal("Export succeeded, want an error")
			}
			for _, w := range append([]string{"export onnx " + path}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if got := errors.Is(err, onnx.ErrOpsetTooOld); got != tc.isOld {
				t.Errorf("errors.Is(err, ErrOpsetTooOld) = %v, want %v", got, tc.isOld)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("a failed export left %s behind (%v)", path, err)
			}
		})
	}
}

// TestExportReplacesAtomically checks that exporting over an existing file replaces it and leaves no
// temporary file behind.
func TestExportReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.onnx")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := onnx.Export(path, testMLP(1)); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "m.onnx" {
		t.Errorf("directory holds %v, want only m.onnx", entries)
	}
	if _, err := onnx.ImportGraph(path); err != nil {
		t.Errorf("ImportGraph of the replaced file: %v", err)
	}
	if err := onnx.Export(filepath.Join(dir, "missing", "m.onnx"), testMLP(1)); err == nil {
		t.Error("Export into a missing directory succeeded")
	}
}

func TestImportForeignGemm(t *testing.T) {
	// A model from another writer (onnxtest) that happens to follow the pattern imports too.
	path := filepath.Join(t.TempDir(), "mlp.onnx")
	w := onnxtest.MLP(t, path, []int{4, 3, 2}, 9)
	g, err := onnx.ImportGraph(path)
	if err != nil {
		t.Fatalf("ImportGraph: %v", err)
	}
	if g.Input != "input" || g.Output != "output" || g.Classes != 2 || len(g.Nodes) != 3 {
		t.Fatalf("imported %+v", g)
	}
	x := []float32{0.5, -1, 2, 0.25, 1, 1, -1, 0}
	if diff := cmp.Diff(w.Forward(append([]float32(nil), x...), 2), forward(*g, x, 2), cmp.Comparer(func(a, b float32) bool {
		return math.Abs(float64(a-b)) <= 1e-6
	})); diff != "" {
		t.Errorf("imported weights compute differently (-want +got):\n%s", diff)
	}
}

func TestImportErrors(t *testing.T) {
	dir := t.TempDir()
	good, data := exportBytes(t, testMLP(1))
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	softmax := filepath.Join(dir, "softmax.onnx")
	onnxtest.GemmClassifier(t, softmax, [][]float32{{1, 2}, {3, 4}}, []float32{0, 1}, onnxtest.Softmax())
	two := filepath.Join(dir, "two.onnx")
	onnxtest.TwoInputs(t, two)
	fixed := filepath.Join(dir, "fixed.onnx")
	onnxtest.GemmClassifier(t, fixed, [][]float32{{1, 2}, {3, 4}}, []float32{0, 1}, onnxtest.FixedBatch(1))
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"missing", filepath.Join(dir, "nope.onnx"), []string{"no such file"}},
		{"garbage", write("garbage.onnx", []byte("not a model at all")), []string{"not an ONNX model"}},
		{"truncated", write("trunc.onnx", data[:len(data)/2]), nil},
		{"empty", write("empty.onnx", nil), []string{"no graph"}},
		{"softmax node", softmax, []string{"(Softmax)", "op is not supported"}},
		{"two inputs", two, []string{"more than one graph input"}},
		{"fixed batch", fixed, []string{`input "input"`, "batch axis is fixed at 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := onnx.ImportGraph(tc.path)
			if err == nil {
				t.Fatal("ImportGraph succeeded, want an error")
			}
			for _, w := range append([]string{"import onnx " + tc.path}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := onnx.ImportGraph(good); err != nil {
		t.Errorf("ImportGraph of a good file: %v", err)
	}
}

// TestChecker runs onnx.checker.check_model(full_check=True) from Debian's python3-onnx on exported
// files, when it is installed.
func TestChecker(t *testing.T) {
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import onnx").Run(); err != nil {
		t.Skipf("skipping: %s with the onnx module is not available (%v); apt install python3-onnx to run it", py, err)
	}
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := exportBytes(t, tc.g)
			out, err := exec.Command(py, "-c",
				"import sys, onnx; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True); print('ok')", path).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "ok" {
				t.Errorf("onnx.checker on %s: %v\n%s", tc.name, err, out)
			}
		})
	}
}

// FuzzImportGraph feeds arbitrary bytes to ImportGraph. Whatever it accepts must export again, and
// that export must import to the same graph (NaN payloads aside).
func FuzzImportGraph(f *testing.F) {
	// The seed corpus lives in testdata/fuzz/FuzzImportGraph (written by TestGolden/-update helpers);
	// these add the current exports of the test graphs (int8 ones among them).
	for _, tc := range cases() {
		path := filepath.Join(f.TempDir(), tc.name+".onnx")
		if err := onnx.Export(path, tc.g); err != nil {
			f.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "in.onnx")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		g, err := onnx.ImportGraph(path)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "import onnx "+path+": ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		out := filepath.Join(dir, "out.onnx")
		if err := onnx.Export(out, *g); err != nil {
			t.Fatalf("imported graph does not export: %v", err)
		}
		g2, err := onnx.ImportGraph(out)
		if err != nil {
			t.Fatalf("re-export does not import: %v", err)
		}
		if diff := cmp.Diff(g, g2, cmp.Comparer(func(a, b float32) bool {
			return a == b || (a != a && b != b)
		}), cmpopts.IgnoreUnexported(nn.ONNXNode{})); diff != "" {
			t.Fatalf("re-import differs:\n%s", diff)
		}
	})
}

// TestWriteFuzzCorpus writes the fuzz seed corpus under testdata/fuzz/FuzzImportGraph with -update.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite the fuzz seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzImportGraph")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seeds := map[string][]byte{"garbage": []byte("not a model"), "empty": {}}
	for _, tc := range cases() {
		_, data := exportBytes(t, tc.g)
		seeds[tc.name] = data
		seeds[tc.name+"-truncated"] = data[:len(data)*2/3]
	}
	for name, data := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
