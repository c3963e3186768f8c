package onnx_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/x448/float16"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/distillgo/distill/internal/option"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
)

// ortTestData is the test_data directory of the onnxruntime_go module in the module cache.
var ortTestData = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/yalue/onnxruntime_go").Output()
	if err != nil {
		return "", err
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", errors.New("the module is not in the module cache")
	}
	return filepath.Join(dir, "test_data"), nil
})

// ortFixture returns the path of the model name among onnxruntime_go's test models (skl2onnx's
// random forest, PyTorch exports with several inputs, outputs and types), skipping the test when
// the module's directory or the file is not there.
func ortFixture(tb testing.TB, name string) string {
	tb.Helper()
	dir, err := ortTestData()
	if err != nil {
		tb.Skipf("onnxruntime_go's test_data not found (go list -m -f {{.Dir}} github.com/yalue/onnxruntime_go: %v); skipping", err)
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		tb.Skipf("onnxruntime_go fixture %s not found: %v; skipping", name, err)
	}
	return path
}

// irisX are six iris flowers (sepal length and width, petal length and width, in cm) and
// irisProbs the probabilities that sklearn_randomforest.onnx gives them, in the order of the
// class keys 0, 1, 2, as onnxruntime_go's TestSklearnNetwork (from generate_sklearn_network.py)
// has them.
var (
	irisX = []float32{
		5.9, 3.0, 5.1, 1.8,
		6.8, 2.8, 4.8, 1.4,
		6.3, 2.3, 4.4, 1.3,
		6.5, 3.0, 5.5, 1.8,
		7.7, 2.8, 6.7, 2.0,
		5.5, 2.5, 4.0, 1.3,
	}
	irisProbs = []float32{
		0, 0.12999998033046722, 0.8699994683265686,
		0, 0.7699995636940002, 0.23000003397464752,
		0, 0.969999372959137, 0.029999999329447746,
		0, 0, 0.9999993443489075,
		0, 0, 0.9999993443489075,
		0, 0.9999993443489075, 0,
	}
)

// irisLike returns n samples drawn uniformly from the ranges of the iris measurements.
func irisLike(rng *rand.Rand, n int) []float32 {
	lo := [4]float64{4.3, 2.0, 1.0, 0.1}
	hi := [4]float64{7.9, 4.4, 6.9, 2.5}
	x := make([]float32, 4*n)
	for i := range x {
		j := i % 4
		x[i] = float32(lo[j] + rng.Float64()*(hi[j]-lo[j]))
	}
	return x
}

// sklearnLabels runs the random forest's label output on n samples x with onnxruntime directly.
func sklearnLabels(t *testing.T, path string, x []float32, n int) []int64 {
	t.Helper()
	in, err := ort.NewTensor(ort.Shape{int64(n), 4}, x)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	sess, err := ort.NewDynamicAdvancedSession(path, []string{"X"}, []string{"output_label"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Destroy()
	outs := []ort.Value{nil}
	if err := sess.Run([]ort.Value{in}, outs); err != nil {
		t.Fatal(err)
	}
	defer outs[0].Destroy()
	labels, ok := outs[0].(*ort.Tensor[int64])
	if !ok {
		t.Fatalf("output_label is %T, want an int64 tensor", outs[0])
	}
	return slices.Clone(labels.GetData())
}

// argmaxRow returns the index of the first largest entry of row.
func argmaxRow(row []float32) int {
	best := 0
	for j, v := range row {
		if v > row[best] {
			best = j
		}
	}
	return best
}

// warnLogs makes slog's default logger record warnings into the returned buffer until t ends.
func warnLogs(t *testing.T) *strings.Builder {
	t.Helper()
	var mu sync.Mutex
	buf := &strings.Builder{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(lockedWriter{&mu, buf}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return buf
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestSessionSklearnZipMap opens skl2onnx's iris random forest, whose outputs are output_label
// (int64 [N]) and output_probability (a ZipMap seq(map(int64, float))), without OutputName: the
// session reads the probabilities, in the order of the sorted class keys, as log-probabilities.
func TestSessionSklearnZipMap(t *testing.T) {
	onnxtest.RequireLibrary(t)
	path := ortFixture(t, "sklearn_randomforest.onnx")
	logs := warnLogs(t)
	s := sessOpen(t, path, onnx.Options{Batch: 4}) // 6 samples: a full run and a partial one
	d := s.Describe()
	if d.Input != "X" || d.Output != "output_probability" || s.Classes() != 3 {
		t.Errorf("Describe() = %+v, Classes() = %d; want input X, output output_probability, 3 classes", d, s.Classes())
	}
	if diff := cmp.Diff([]string{"0", "1", "2"}, d.ClassLabels); diff != "" {
		t.Errorf("ClassLabels (-want +got):\n%s", diff)
	}
	got, err := s.Logits(context.Background(), irisX, 6)
	if err != nil {
		t.Fatal(err)
	}
	if k := s.OutputKind(); k != onnx.OutputProbs {
		t.Errorf("OutputKind() = %q, want probs", k)
	}
	labels := sklearnLabels(t, path, irisX, 6)
	for i := range 6 {
		row := got[3*i : 3*i+3]
		var sum float64
		for j, v := range row {
			p := math.Exp(float64(v))
			sum += p
			// The probabilities are float32 values (log then exp in float64 loses ~1e-7); a zero
			// comes back as the floor 1e-30.
			if want := float64(irisProbs[3*i+j]); math.Abs(p-want) > 1e-6 {
				t.Errorf("sample %d class %d: p = %g, want %g", i, j, p, want)
			}
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Errorf("sample %d: probabilities sum to %g, want 1 within 1e-5", i, sum)
		}
		if a := argmaxRow(row); int64(a) != labels[i] {
			t.Errorf("sample %d: argmax %d, output_label %d", i, a, labels[i])
		}
	}
	// Iris-like samples: the label output is an argmax of the probabilities (where two classes
	// tie, the forest's own label may be either: it is one of the largest).
	x := irisLike(rand.New(rand.NewPCG(21, 22)), 200)
	got, err = s.Logits(context.Background(), x, 200)
	if err != nil {
		t.Fatal(err)
	}
	labels = sklearnLabels(t, path, x, 200)
	for i, l := range labels {
		row := got[3*i : 3*i+3]
		if a := argmaxRow(row); row[l] != row[a] {
			t.Errorf("sample %d %v: argmax %d of %v, output_label %d", i, x[4*i:4*i+4], a, row, l)
		}
	}
	// The forest gives exact zeros: one warning for the session, not one per call.
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "saturated_fraction=") {
		t.Errorf("saturation warnings: %d, want 1:\n%s", n, logs)
	}
}

// outGemm3 are a 4-input, 3-class Gemm for the ZipMap models, and outX3 samples for it.
func outGemm3() ([][]float32, []float32, []float32) {
	rng := rand.New(rand.NewPCG(31, 32))
	W, b := sessRandGemm(rng, 4, 3)
	return W, b, sessRandVec(rng, 7*4)
}

// TestSessionZipMapOrder checks that a ZipMap's probabilities are put in the order of the sorted
// class labels: numerically for int64 keys, lexically for strings, whatever order the model has.
func TestSessionZipMapOrder(t *testing.T) {
	onnxtest.RequireLibrary(t)
	confQuiet(t)
	dir := t.TempDir()
	W, b, x := outGemm3()
	logp := logSoftmaxRows(onnxtest.GemmRef(x, 7, W, b), 3)
	// W's columns 0, 1, 2 have the labels below; sorted, the columns come in the order 1, 2, 0.
	perm := []int{1, 2, 0}
	want := make([]float32, len(logp))
	for i := range 7 {
		for j, col := range perm {
			want[3*i+j] = logp[3*i+col]
		}
	}
	for _, tc := range []struct {
		name   string
		opt    onnxtest.Option
		labels []string
	}{
		{"string keys", onnxtest.ZipMap("cat", "ant", "bee"), []string{"ant", "bee", "cat"}},
		{"int64 keys", onnxtest.ZipMapInts(10, 2, 7), []string{"2", "7", "10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".onnx")
			onnxtest.GemmClassifier(t, path, W, b, onnxtest.Softmax(), tc.opt, onnxtest.LabelOutput())
			s := sessOpen(t, path, onnx.Options{Batch: 3})
			got, err := s.Logits(context.Background(), x, 7)
			if err != nil {
				t.Fatal(err)
			}
			sessClose(t, got, want, sessTol)
			d := s.Describe()
			if d.Output != "output" || d.OutputKind != onnx.OutputProbs {
				t.Errorf("Describe() = %+v: want output %q of kind probs", d, "output")
			}
			if diff := cmp.Diff(tc.labels, d.ClassLabels); diff != "" {
				t.Errorf("ClassLabels (-want +got):\n%s", diff)
			}
		})
	}
}

// round16 rounds each value of v to float16 (bfloat16 when brain) and back.
func round16(v []float32, brain bool) []float32 {
	out := make([]float32, len(v))
	for i, f := range v {
		if brain {
			// Round to nearest even on the top 16 bits, as onnxruntime's Cast does.
			u := math.Float32bits(f)
			u += 0x7fff + (u>>16)&1
			out[i] = math.Float32frombits(u &^ 0xffff)
		} else {
			out[i] = float16.Fromfloat32(f).Float32()
		}
	}
	return out
}

// TestSessionOutputTypes checks outputs of float16, bfloat16 and float64 (a Cast at the end of the
// Gemm classifier): they come back as float32 logits, and a Softmax cast to float16 is still taken
// for probabilities.
func TestSessionOutputTypes(t *testing.T) {
	onnxtest.RequireLibrary(t)
	confQuiet(t)
	dir := t.TempDir()
	logp := logSoftmaxRows(sessWant, 2)
	for _, tc := range []struct {
		name string
		opts []onnxtest.Option
		want []float32
		kind string
		tol  float64
	}{
		// float64 holds the float32 Gemm exactly.
		{"float64 logits", []onnxtest.Option{onnxtest.CastOutput("float64")}, sessWant, onnx.OutputLogits, sessTol},
		// One float16 (bfloat16) rounding of values below 9: within half a step, 2^-8 (2^-5), of
		// the float64 sum rounded the same way.
		{"float16 logits", []onnxtest.Option{onnxtest.CastOutput("float16")}, round16(sessWant, false), onnx.OutputLogits, 1.0 / 256},
		{"bfloat16 logits", []onnxtest.Option{onnxtest.CastOutput("bfloat16")}, round16(sessWant, true), onnx.OutputLogits, 1.0 / 32},
		{"float64 probabilities", []onnxtest.Option{onnxtest.Softmax(), onnxtest.CastOutput("float64")}, logp, onnx.OutputProbs, sessTol},
		// log p of a float16 p: a relative error of 2^-11 in p is an absolute one of 2^-11 in log
		// p, but p = 1.1e-5 (sample 4) is subnormal in float16 (below 6.1e-5), with steps of
		// 6e-8: up to 3e-3 in log p.
		{"float16 probabilities", []onnxtest.Option{onnxtest.Softmax(), onnxtest.CastOutput("float16")}, logp, onnx.OutputProbs, 5e-3},
		{"float16 log-probabilities", []onnxtest.Option{onnxtest.LogSoftmax(), onnxtest.CastOutput("float16")}, round16(logp, false), onnx.OutputLogProbs, 1.0 / 256},
		// The probing run learns the class count of an output that leaves it dynamic.
		{"float32 with a dynamic class axis", []onnxtest.Option{onnxtest.DynamicClasses()}, sessWant, onnx.OutputLogits, sessTol},
		{"float64 with a dynamic class axis", []onnxtest.Option{onnxtest.CastOutput("float64"), onnxtest.DynamicClasses()}, sessWant, onnx.OutputLogits, sessTol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".onnx")
			onnxtest.GemmClassifier(t, path, sessW, sessB, tc.opts...)
			s := sessOpen(t, path, onnx.Options{Batch: 2})
			for _, n := range []int{5, 3} {
				got, err := s.Logits(context.Background(), sessX[:3*n], n)
				if err != nil {
					t.Fatalf("Logits(n=%d): %v", n, err)
				}
				sessClose(t, got, tc.want[:2*n], tc.tol)
			}
			if k := s.OutputKind(); k != tc.kind {
				t.Errorf("OutputKind() = %q, want %q", k, tc.kind)
			}
		})
	}
}

// TestSessionOutputName checks the choice of the output among several: by OutputName, or the
// only one that can hold class scores; and the option errors that name the outputs.
func TestSessionOutputName(t *testing.T) {
	onnxtest.RequireLibrary(t)
	confQuiet(t)
	dir := t.TempDir()
	model := func(name string, opts ...onnxtest.Option) string {
		path := filepath.Join(dir, name+".onnx")
		onnxtest.GemmClassifier(t, path, sessW, sessB, opts...)
		return path
	}
	both := model("both", onnxtest.Softmax(), onnxtest.LogitsOutput())
	labelled := model("labelled", onnxtest.LabelOutput())
	logp := logSoftmaxRows(sessWant, 2)
	for _, tc := range []struct {
		name, path, outputName string
		want                   []float32
		kind                   string
	}{
		{"logits of two", both, "logits", sessWant, onnx.OutputLogits},
		{"probabilities of two", both, "output", logp, onnx.OutputProbs},
		{"scores beside a label", labelled, "", sessWant, onnx.OutputLogits},
		{"scores beside a label, named", labelled, "output", sessWant, onnx.OutputLogits},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sessOpen(t, tc.path, onnx.Options{OutputName: tc.outputName})
			got, err := s.Logits(context.Background(), sessX, 5)
			if err != nil {
				t.Fatal(err)
			}
			sessClose(t, got, tc.want, sessTol)
			want := tc.outputName
			if want == "" {
				want = "output"
			}
			if d := s.Describe(); d.Output != want || d.OutputKind != tc.kind || d.ClassLabels != nil {
				t.Errorf("Describe() = %+v: want output %q of kind %s, no class labels", d, want, tc.kind)
			}
		})
	}
}

// TestSessionOutputNameErrors checks the errors of a missing or unusable OutputName, and of
// several candidate outputs without one: *option.Error for OutputName, naming the file and the
// outputs with their types and shapes; and of a 16-bit output of unknown class count.
func TestSessionOutputNameErrors(t *testing.T) {
	onnxtest.RequireLibrary(t)
	dir := t.TempDir()
	model := func(name string, opts ...onnxtest.Option) string {
		path := filepath.Join(dir, name+".onnx")
		onnxtest.GemmClassifier(t, path, sessW, sessB, opts...)
		return path
	}
	both := model("both", onnxtest.Softmax(), onnxtest.LogitsOutput())
	zipBoth := model("zipboth", onnxtest.Softmax(), onnxtest.ZipMapInts(0, 1), onnxtest.LogitsOutput())
	labelled := model("labelled", onnxtest.LabelOutput())
	const sk = "ort:sklearn_randomforest.onnx" // found by ortFixture in the subtest
	for _, tc := range []struct {
		name, path, outputName string
		want                   []string
		notOption              bool // another OutputName would not help
	}{
		{"float16 with a dynamic class axis", model("f16dyn", onnxtest.CastOutput("float16"), onnxtest.DynamicClasses()), "output",
			[]string{`output "output" float16 [N, C]: a float16 output must declare its class count`}, true},
		{"two candidates", both, "", []string{"2 outputs that could hold the class scores", `"output" float32 [N, 2]`, `"logits" float32 [N, 2]`, "choose one"}, false},
		{"a ZipMap and logits", zipBoth, "", []string{`"output" seq(map(int64,float32))`, `"logits" float32 [N, 2]`, "choose one"}, false},
		{"not an output", both, "probs", []string{`no output "probs"`, `"output" float32 [N, 2]`, `"logits" float32 [N, 2]`}, false},
		{"a label output", labelled, "label", []string{`output "label" int64 [N] cannot hold class scores`, "ZipMap"}, false},
		{"sklearn label", sk, "output_label", []string{`output "output_label" int64 [?] cannot hold class scores`}, false},
		{"sklearn unknown", sk, "probabilities", []string{`no output "probabilities"`, `"output_label" int64 [?]`, `"output_probability" seq(map(int64,float32))`}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if name, ok := strings.CutPrefix(path, "ort:"); ok {
				path = ortFixture(t, name)
			}
			s, err := onnx.Open(path, onnx.Options{OutputName: tc.outputName})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			var oe *option.Error
			if isOpt := errors.As(err, &oe); tc.notOption && isOpt {
				t.Errorf("error %v is an *option.Error for %s, want a plain error", err, oe.Option)
			} else if !tc.notOption && (!isOpt || oe.Scope != "onnx" || oe.Option != "OutputName") {
				t.Errorf("error %v (%T): want an *option.Error for onnx OutputName", err, err)
			}
			msg := err.Error()
			for _, w := range append([]string{path}, tc.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q: want it to contain %q", msg, w)
				}
			}
		})
	}
}

// TestSessionFixtureErrors opens onnxruntime_go's test models that are not classifiers: each is
// refused with an error that names the file and says why (TestSessionFixtureInputs makes
// classifiers of three of them).
func TestSessionFixtureErrors(t *testing.T) {
	onnxtest.RequireLibrary(t)
	for _, tc := range []struct {
		file string
		want string
	}{
		{"example_several_inputs_and_outputs.onnx", `input "input 3" bfloat16 [9] cannot be fed: want float32, float16, float64, int64, int32, int8, uint8 or bool`},
		// uint8 and float64 inputs are fed; int16 and int64 outputs cannot hold class scores.
		{"example_multitype.onnx", `none of the model's outputs "OutputA" int16 [1, 2, 2], "OutputB" int64 [1, 1, 1] can hold class scores`},
		// The float16 input is fed; a bfloat16 [1, 2, 2, 2] output is not [N, classes].
		{"example_float16.onnx", `output "OutputA" bfloat16 [1, 2, 2, 2] cannot hold class scores`},
		{"example_strings.onnx", `input "input" string [?] cannot be fed`},
		// float [N, 10] -> float [N]: no [N, classes] output.
		{"example_dynamic_axes.onnx", `output "output_scalars" float32 [output_scalars_dynamic_axes_1] cannot hold class scores`},
		{"example_0_dim_output.onnx", "cannot hold class scores"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := ortFixture(t, tc.file)
			s, err := onnx.Open(path, onnx.Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if msg := err.Error(); !strings.Contains(msg, "open model "+path) || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q: want it to name %s and contain %q", msg, path, tc.want)
			}
		})
	}
}

// TestReadModelInfoFixtures reads the types of onnxruntime_go's test models with several outputs
// and non-tensor outputs.
func TestReadModelInfoFixtures(t *testing.T) {
	for _, tc := range []struct {
		file    string
		inputs  []string // name type
		outputs []string
	}{
		{"sklearn_randomforest.onnx", []string{"X float32"}, []string{"output_label int64", "output_probability seq(map(int64,float32))"}},
		{"example_several_inputs_and_outputs.onnx", []string{"input 1 int32", "input 2 float32", "input 3 bfloat16"},
			[]string{"output 1 int64", "output 2 float64"}},
		{"example_float16.onnx", []string{"InputA float16"}, []string{"OutputA bfloat16"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			info, err := onnx.ReadModelInfo(ortFixture(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			names := func(vs []onnx.ValueInfo) []string {
				var out []string
				for _, v := range vs {
					out = append(out, v.Name+" "+v.Type)
				}
				return out
			}
			if diff := cmp.Diff(tc.inputs, names(info.Inputs)); diff != "" {
				t.Errorf("inputs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.outputs, names(info.Outputs)); diff != "" {
				t.Errorf("outputs (-want +got):\n%s", diff)
			}
		})
	}
}
