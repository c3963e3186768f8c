package onnx_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/distillgo/distill/internal/option"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
)

// TestSessionMNISTTeacherLogits runs the 784-1200-1200-10 MLP teacher of the MNIST demo (the shape
// scripts/train-teacher.sh trains) on pixel-like inputs in [0, 1): "auto" takes its output for
// logits, and Logits returns exactly what a bare onnxruntime run gives, bit for bit.
func TestSessionMNISTTeacherLogits(t *testing.T) {
	onnxtest.RequireLibrary(t)
	confQuiet(t)
	path := filepath.Join(t.TempDir(), "mlp.onnx")
	onnxtest.MLP(t, path, []int{784, 1200, 1200, 10}, 1)
	const n = 64
	rng := rand.New(rand.NewPCG(41, 42))
	x := make([]float32, n*784)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	s := sessOpen(t, path, onnx.Options{Batch: n})
	got, err := s.Logits(context.Background(), x, n)
	if err != nil {
		t.Fatal(err)
	}
	if k := s.OutputKind(); k != onnx.OutputLogits {
		t.Errorf("OutputKind() = %q, want logits", k)
	}
	want := bareRun(t, path, x, n, 10)
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("value %d: Logits gave %v, a bare onnxruntime run %v", i, got[i], want[i])
		}
	}
}

// bareRun runs the model at path ("input" -> "output" [n, classes]) on n samples x with
// onnxruntime_go alone.
func bareRun(t *testing.T, path string, x []float32, n, classes int) []float32 {
	t.Helper()
	in, err := ort.NewTensor(ort.Shape{int64(n), int64(len(x) / n)}, x)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	out, err := ort.NewEmptyTensor[float32](ort.Shape{int64(n), int64(classes)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Destroy()
	sess, err := ort.NewAdvancedSession(path, []string{"input"}, []string{"output"}, []ort.Value{in}, []ort.Value{out}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Destroy()
	if err := sess.Run(); err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), out.GetData()...)
}

// TestSessionAmbiguousOutput opens models whose first batch fits no output kind: every row has
// entries in [0, 1] summing to 1.05 (a constant Gemm), or some rows are probabilities and others
// not. "auto" refuses them with an *option.Error for Output that says what it saw; an explicit kind
// runs them.
func TestSessionAmbiguousOutput(t *testing.T) {
	onnxtest.RequireLibrary(t)
	confQuiet(t)
	dir := t.TempDir()
	zero := [][]float32{{0, 0}, {0, 0}, {0, 0}}
	near := filepath.Join(dir, "near.onnx")
	onnxtest.GemmClassifier(t, near, zero, []float32{0.3, 0.75})
	// x W + b with W the identity's first two columns: a sample (p, 1-p, 0) gives (p, 1-p).
	mixed := filepath.Join(dir, "mixed.onnx")
	onnxtest.GemmClassifier(t, mixed, [][]float32{{1, 0}, {0, 1}, {0, 0}}, []float32{0, 0})
	mixedX := []float32{0.25, 0.75, 0, 3, -2, 0}
	for _, tc := range []struct {
		name, path string
		x          []float32
		want       []string
	}{
		{"sums near 1", near, sessX[:6], []string{"2 have entries in [0, 1] summing to 1 only within 0.1 (row 0 sums to 1.05)"}},
		{"probabilities and logits", mixed, mixedX, []string{"1 look like probabilities", "1 do not (row 1: [3 -2])"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sessOpen(t, tc.path, onnx.Options{})
			_, err := s.Logits(context.Background(), tc.x, 2)
			var oe *option.Error
			if !errors.As(err, &oe) || oe.Scope != "onnx" || oe.Option != "Output" {
				t.Fatalf("Logits: err = %v, want an *option.Error for onnx Output", err)
			}
			for _, w := range append(tc.want, tc.path, "give the output kind (logits, probs or logprobs) explicitly") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q: want it to contain %q", err, w)
				}
			}
			if k := s.OutputKind(); k != onnx.OutputAuto {
				t.Errorf("OutputKind() after the refused batch = %q, want auto", k)
			}
			forced := sessOpen(t, tc.path, onnx.Options{Output: onnx.OutputLogits})
			if _, err := forced.Logits(context.Background(), tc.x, 2); err != nil {
				t.Errorf("Logits with output logits: %v", err)
			}
		})
	}
}

// TestSessionSaturatedProbabilities checks the one warning per session for probabilities at the
// log floor: a softmax of (0, 200) is exactly (0, 1) in float32, and its log p is log(1e-30).
func TestSessionSaturatedProbabilities(t *testing.T) {
	onnxtest.RequireLibrary(t)
	dir := t.TempDir()
	zero := [][]float32{{0, 0}, {0, 0}, {0, 0}}
	saturated := filepath.Join(dir, "saturated.onnx")
	onnxtest.GemmClassifier(t, saturated, zero, []float32{0, 200}, onnxtest.Softmax())
	plain := filepath.Join(dir, "softmax.onnx")
	onnxtest.GemmClassifier(t, plain, sessW, sessB, onnxtest.Softmax())
	floor := float32(math.Log(1e-30))
	for _, tc := range []struct {
		name, path string
		output     string
		warnings   int
	}{
		{"auto", saturated, "", 1},
		{"forced probs", saturated, onnx.OutputProbs, 1},
		{"forced logits", saturated, onnx.OutputLogits, 0},
		{"unsaturated softmax", plain, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := warnLogs(t)
			s := sessOpen(t, tc.path, onnx.Options{Output: tc.output, Batch: 2})
			for range 3 {
				got, err := s.Logits(context.Background(), sessX, 5)
				if err != nil {
					t.Fatal(err)
				}
				if tc.path == saturated && s.OutputKind() == onnx.OutputProbs && (got[0] != floor || got[1] != 0) {
					t.Errorf("log p of (0, 1) = %v, want [%v 0]", got[:2], floor)
				}
			}
			if n := strings.Count(logs.String(), "level=WARN"); n != tc.warnings {
				t.Errorf("%d warnings, want %d:\n%s", n, tc.warnings, logs)
			}
			if tc.warnings > 0 && !strings.Contains(logs.String(), "saturated_fraction=0.5 ") {
				t.Errorf("warning does not give the fraction 0.5 of saturated entries:\n%s", logs)
			}
		})
	}
}
