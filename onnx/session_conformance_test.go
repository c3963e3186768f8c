package onnx_test

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/distillgo/distill/internal/teachertest"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
)

var _ teachertest.Teacher = (*onnx.Session)(nil)

// Tolerances against float64 references: confGemmTol for a Gemm of up to 6 inputs in [-1, 1)
// (float32 rounding of such sums stays below 1e-6, and log-softmax adds a few ulps);
// confDeepTol for sums of hundreds of terms and for layers rounded to float32 in between.
const (
	confGemmTol = 1e-5
	confDeepTol = 1e-4
)

// TestSessionConformance runs the teacher conformance suite on Sessions over each kind of model
// they open: dynamic batch axes run in batches of 1, 4 and DefaultBatch, fixed batch axes of 1
// and 4 (padded), a ReLU MLP, an image input that is flattened, models that output
// log-probabilities and probabilities (which Logits returns as log-probabilities), and the MLP
// opened with features.
// TestSessionConformanceOutputs adds other kinds of outputs, TestSessionConformanceSklearn
// skl2onnx's random forest.
func TestSessionConformance(t *testing.T) {
	onnxtest.RequireLibrary(t)
	confQuiet(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(11, 12))

	const in, classes = 6, 4
	W, b := confRandGemm(rng, in, classes)
	gemmRef := func(x []float32, n int) []float32 { return onnxtest.GemmRef(x, n, W, b) }
	logpRef := func(x []float32, n int) []float32 { return confLogSoftmax(gemmRef(x, n), classes) }
	model := func(name string, opts ...onnxtest.Option) string {
		path := filepath.Join(dir, name+".onnx")
		onnxtest.GemmClassifier(t, path, W, b, opts...)
		return path
	}
	gemm := model("gemm")
	fixed1 := model("fixed1", onnxtest.FixedBatch(1))
	fixed4 := model("fixed4", onnxtest.FixedBatch(4))
	logsoft := model("logsoftmax", onnxtest.LogSoftmax())
	soft := model("softmax", onnxtest.Softmax())

	mlpPath := filepath.Join(dir, "mlp.onnx")
	mlp := onnxtest.MLP(t, mlpPath, []int{20, 32, 16, 5}, 7)

	imgPath := filepath.Join(dir, "image.onnx")
	imgW, imgB := confRandGemm(rng, 784, 10)
	onnxtest.GemmClassifier(t, imgPath, imgW, imgB, onnxtest.ImageInput())

	confRun(t, []confCase{
		{"gemm batch 4", gemm, onnx.Options{Batch: 4},
			teachertest.Case{Dim: in, Classes: classes, Reference: gemmRef, Tol: confGemmTol, MaxBatch: 4}},
		{"gemm batch 1", gemm, onnx.Options{Batch: 1, Output: onnx.OutputLogits},
			teachertest.Case{Dim: in, Classes: classes, Reference: gemmRef, Tol: confGemmTol, MaxBatch: 1}},
		{"gemm default batch", gemm, onnx.Options{Threads: 1},
			teachertest.Case{Dim: in, Classes: classes, Reference: gemmRef, Tol: confGemmTol, MaxBatch: onnx.DefaultBatch}},
		// A fixed batch axis wins over Options.Batch.
		{"gemm fixed batch 1", fixed1, onnx.Options{Batch: 256},
			teachertest.Case{Dim: in, Classes: classes, Reference: gemmRef, Tol: confGemmTol, MaxBatch: 1}},
		{"gemm fixed batch 4", fixed4, onnx.Options{},
			teachertest.Case{Dim: in, Classes: classes, Reference: gemmRef, Tol: confGemmTol, MaxBatch: 4}},
		{"logsoftmax output", logsoft, onnx.Options{Batch: 4},
			teachertest.Case{Dim: in, Classes: classes, Reference: logpRef, Tol: confGemmTol, MaxBatch: 4}},
		{"softmax output as log-probabilities", soft, onnx.Options{Batch: 4},
			teachertest.Case{Dim: in, Classes: classes, Reference: logpRef, Tol: confGemmTol, MaxBatch: 4}},
		{"mlp 20-32-16-5", mlpPath, onnx.Options{Batch: 8, Threads: 2},
			teachertest.Case{Dim: 20, Classes: 5, Reference: mlp.Forward, Tol: confDeepTol, MaxBatch: 8}},
		// Features fetched beside the scores (Options.Features) leave Logits as it was.
		{"mlp with features", mlpPath, onnx.Options{Batch: 8, Features: []string{"relu0", "gemm1"}},
			teachertest.Case{Dim: 20, Classes: 5, Reference: mlp.Forward, Tol: confDeepTol, MaxBatch: 8}},
		{"image input 1x28x28", imgPath, onnx.Options{Batch: 4},
			teachertest.Case{Dim: 784, Classes: 10, Reference: func(x []float32, n int) []float32 {
				return onnxtest.GemmRef(x, n, imgW, imgB)
			}, Tol: confDeepTol, MaxBatch: 4}},
	})
}

// confCase is one model of TestSessionConformance, opened with opts.
type confCase struct {
	name string
	path string
	opts onnx.Options
	c    teachertest.Case // Open and ErrClosed are filled in by confRun
}

// confRun runs the conformance suite on each case as a subtest.
func confRun(t *testing.T, cases []confCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.Open = confOpen(tc.path, tc.opts)
			c.ErrClosed = onnx.ErrClosed
			teachertest.Run(t, c)
		})
	}
}

// TestSessionConformanceOutputs runs the conformance suite on Sessions over models whose scores
// are not the single float32 output: two outputs (logits and probabilities, chosen by
// OutputName; scores beside an int64 label), float64 and float16 outputs, and a ZipMap of
// probabilities with string labels (a scikit-learn style classifier).
func TestSessionConformanceOutputs(t *testing.T) {
	onnxtest.RequireLibrary(t)
	confQuiet(t)
	dir := t.TempDir()
	const in, classes = 6, 4
	W, b := confRandGemm(rand.New(rand.NewPCG(13, 14)), in, classes)
	gemmRef := func(x []float32, n int) []float32 { return onnxtest.GemmRef(x, n, W, b) }
	logpRef := func(x []float32, n int) []float32 { return confLogSoftmax(gemmRef(x, n), classes) }
	// The ZipMap's columns sorted by label (a, b, c, d) are W's columns 2, 1, 3, 0.
	zipRef := func(x []float32, n int) []float32 {
		logp := logpRef(x, n)
		out := make([]float32, len(logp))
		for i := range n {
			for j, col := range []int{2, 1, 3, 0} {
				out[i*classes+j] = logp[i*classes+col]
			}
		}
		return out
	}
	// float16 rounds the logits (|v| < 7) to steps of at most 2^-8: the reference is rounded the
	// same way, and the float32 sum may land on the other side of a rounding boundary.
	f16Ref := func(x []float32, n int) []float32 { return round16(gemmRef(x, n), false) }
	model := func(name string, opts ...onnxtest.Option) string {
		path := filepath.Join(dir, name+".onnx")
		onnxtest.GemmClassifier(t, path, W, b, opts...)
		return path
	}
	both := model("both", onnxtest.Softmax(), onnxtest.LogitsOutput())
	gemm := func(ref func([]float32, int) []float32, tol float64) teachertest.Case {
		return teachertest.Case{Dim: in, Classes: classes, Reference: ref, Tol: tol, MaxBatch: 4}
	}
	confRun(t, []confCase{
		{"two outputs, logits chosen", both, onnx.Options{Batch: 4, OutputName: "logits"}, gemm(gemmRef, confGemmTol)},
		{"two outputs, probabilities chosen", both, onnx.Options{Batch: 4, OutputName: "output"}, gemm(logpRef, confGemmTol)},
		{"scores beside an int64 label", model("labelled", onnxtest.LabelOutput()), onnx.Options{Batch: 4}, gemm(gemmRef, confGemmTol)},
		{"float64 output", model("float64", onnxtest.CastOutput("float64")), onnx.Options{Batch: 4}, gemm(gemmRef, confGemmTol)},
		{"float16 output", model("float16", onnxtest.CastOutput("float16")), onnx.Options{Batch: 4}, gemm(f16Ref, 1.0/256)},
		{"ZipMap with string labels", model("zipmap", onnxtest.Softmax(), onnxtest.ZipMap("d", "b", "a", "c"), onnxtest.LabelOutput()),
			onnx.Options{Batch: 4}, gemm(zipRef, confGemmTol)},
	})
}

// TestSessionConformanceSklearn runs the conformance suite on skl2onnx's iris random forest from
// onnxruntime_go's test_data (its output_probability is a ZipMap beside the int64 output_label).
// The reference is onnxruntime's own run of the forest, read back independently of the Session.
func TestSessionConformanceSklearn(t *testing.T) {
	onnxtest.RequireLibrary(t)
	confQuiet(t)
	path := ortFixture(t, "sklearn_randomforest.onnx")
	teachertest.Run(t, teachertest.Case{
		Open:    confOpen(path, onnx.Options{Batch: 4}),
		Dim:     4,
		Classes: 3,
		Reference: func(x []float32, n int) []float32 {
			want, err := sklearnLogProbs(path, x, n)
			if err != nil {
				t.Errorf("reference run of %s: %v", path, err) // the suite then reports the missing values
			}
			return want
		},
		// Trees are evaluated per sample; the only rounding is log's of a float32 probability.
		Tol:       1e-6,
		MaxBatch:  4,
		ErrClosed: onnx.ErrClosed,
	})
}

// sklearnLogProbs runs the forest's output_probability on n samples x with onnxruntime_go and
// returns log(max(p, 1e-30)) with the classes in the order of their int64 keys.
func sklearnLogProbs(path string, x []float32, n int) ([]float32, error) {
	in, err := ort.NewTensor(ort.Shape{int64(n), 4}, x)
	if err != nil {
		return nil, err
	}
	defer in.Destroy()
	sess, err := ort.NewDynamicAdvancedSession(path, []string{"X"}, []string{"output_probability"}, nil)
	if err != nil {
		return nil, err
	}
	defer sess.Destroy()
	outs := []ort.Value{nil}
	if err := sess.Run([]ort.Value{in}, outs); err != nil {
		return nil, err
	}
	defer outs[0].Destroy()
	seq, ok := outs[0].(*ort.Sequence)
	if !ok {
		return nil, fmt.Errorf("output_probability is %T, want a sequence", outs[0])
	}
	maps, _ := seq.GetValues()
	out := make([]float32, 0, 3*n)
	for _, m := range maps {
		mp, ok := m.(*ort.Map)
		if !ok {
			return nil, fmt.Errorf("output_probability holds %T, want maps", m)
		}
		k, v, _ := mp.GetKeysAndValues()
		keys, ok1 := k.(*ort.Tensor[int64])
		vals, ok2 := v.(*ort.Tensor[float32])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("map of %T to %T, want int64 to float32", k, v)
		}
		byKey := map[int64]float32{}
		for i, key := range keys.GetData() {
			byKey[key] = vals.GetData()[i]
		}
		for key := range int64(3) {
			out = append(out, float32(math.Log(math.Max(float64(byKey[key]), 1e-30))))
		}
	}
	return out, nil
}

// BenchmarkSessionTeacher times Session.Logits through teachertest.Bench on the
// 784-1200-1200-10 MLP teacher of Hinton et al. (2015) on CPU: one sample at a time (latency),
// and 1024 samples run at once or split into runs of DefaultBatch.
func BenchmarkSessionTeacher(b *testing.B) {
	onnxtest.RequireLibrary(b)
	confQuiet(b)
	path := filepath.Join(b.TempDir(), "mlp.onnx")
	m := onnxtest.MLP(b, path, []int{784, 1200, 1200, 10}, 1)
	for _, bc := range []struct {
		batch, n int
	}{{1, 1}, {1024, 1024}, {onnx.DefaultBatch, 1024}} {
		name := "batch=" + strconv.Itoa(bc.batch) + "/n=" + strconv.Itoa(bc.n)
		b.Run(name, func(b *testing.B) {
			teachertest.Bench(b, teachertest.Case{
				Open:      confOpen(path, onnx.Options{Batch: bc.batch}),
				Dim:       784,
				Classes:   10,
				Reference: m.Forward,
				Tol:       confDeepTol,
				MaxBatch:  bc.batch,
			}, bc.n)
		})
	}
}

// confOpen returns a teachertest.Case.Open that opens the model at path with opts.
func confOpen(path string, opts onnx.Options) func(testing.TB) teachertest.Teacher {
	return func(tb testing.TB) teachertest.Teacher {
		tb.Helper()
		s, err := onnx.Open(path, opts)
		if err != nil {
			tb.Fatalf("Open(%s): %v", path, err)
		}
		return s
	}
}

// confQuiet drops the log lines that every Open writes (the suite opens hundreds of sessions)
// until tb ends.
func confQuiet(tb testing.TB) {
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	tb.Cleanup(func() { slog.SetDefault(prev) })
}

// confRandGemm returns W [in][out] and b [out] with values uniform in [-1, 1).
func confRandGemm(rng *rand.Rand, in, out int) ([][]float32, []float32) {
	vec := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.Float64()*2 - 1)
		}
		return v
	}
	W := make([][]float32, in)
	for i := range W {
		W[i] = vec(out)
	}
	return W, vec(out)
}

// confLogSoftmax returns the log-softmax of each row of z [n, c], computed in float64.
func confLogSoftmax(z []float32, c int) []float32 {
	out := make([]float32, len(z))
	for r := 0; r < len(z); r += c {
		row := z[r : r+c]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - mx)
		}
		lse := mx + math.Log(s)
		for j, v := range row {
			out[r+j] = float32(float64(v) - lse)
		}
	}
	return out
}
