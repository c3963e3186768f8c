package onnx_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
)

// sessTol is the tolerance for float32 outputs of tiny Gemms compared with float64 sums.
const sessTol = 1e-5

// sessW and sessB are a 3-input, 2-class Gemm whose outputs are easy to compute by hand.
var (
	sessW = [][]float32{{1, -1}, {0.5, 2}, {-2, 0.25}}
	sessB = []float32{0.1, -0.2}
)

// sessX holds 5 samples of 3 features; sessWant are their logits x W + b computed by hand.
var (
	sessX = []float32{
		1, 0, 0,
		0, 1, 0,
		0, 0, 1,
		1, 2, 3,
		-1, 0.5, 4,
	}
	sessWant = []float32{
		1.1, -1.2, // row of W + b
		0.6, 1.8,
		-1.9, 0.05,
		1 + 1 - 6 + 0.1, -1 + 4 + 0.75 - 0.2, // -3.9, 3.55
		-1 + 0.25 - 8 + 0.1, 1 + 1 + 1 - 0.2, // -8.65, 2.8
	}
)

func sessOpen(t *testing.T, path string, opts onnx.Options) *onnx.Session {
	t.Helper()
	s, err := onnx.Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func sessClose(t *testing.T, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d values, want %d", len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol) {
			t.Fatalf("value %d: got %v, want %v (|diff| %g > %g)", i, got[i], want[i], d, tol)
		}
	}
}

// logSoftmaxRows returns log softmax of each row of z [n, c], in float64.
func logSoftmaxRows(z []float32, c int) []float32 {
	out := make([]float32, len(z))
	for r := 0; r < len(z); r += c {
		mx := math.Inf(-1)
		for _, v := range z[r : r+c] {
			mx = math.Max(mx, float64(v))
		}
		var s float64
		for _, v := range z[r : r+c] {
			s += math.Exp(float64(v) - mx)
		}
		for j, v := range z[r : r+c] {
			out[r+j] = float32(float64(v) - mx - math.Log(s))
		}
	}
	return out
}

func TestSessionGemm(t *testing.T) {
	onnxtest.RequireLibrary(t)
	dir := t.TempDir()
	plain := filepath.Join(dir, "gemm.onnx")
	onnxtest.GemmClassifier(t, plain, sessW, sessB)
	fixed := filepath.Join(dir, "fixed1.onnx")
	onnxtest.GemmClassifier(t, fixed, sessW, sessB, onnxtest.FixedBatch(1))
	fixed4 := filepath.Join(dir, "fixed4.onnx")
	onnxtest.GemmClassifier(t, fixed4, sessW, sessB, onnxtest.FixedBatch(4))
	soft := filepath.Join(dir, "softmax.onnx")
	onnxtest.GemmClassifier(t, soft, sessW, sessB, onnxtest.Softmax())
	logsoft := filepath.Join(dir, "logsoftmax.onnx")
	onnxtest.GemmClassifier(t, logsoft, sessW, sessB, onnxtest.LogSoftmax())

	logp := logSoftmaxRows(sessWant, 2)
	probs := make([]float32, len(logp))
	for i, v := range logp {
		probs[i] = float32(math.Exp(float64(v)))
	}
	for _, tc := range []struct {
		name      string
		path      string
		opts      onnx.Options
		want      []float32
		kind      string
		wantShape []int64
	}{
		{"dynamic batch 2 (partial last batch)", plain, onnx.Options{Batch: 2}, sessWant, "logits", []int64{-1, 3}},
		{"dynamic batch larger than n", plain, onnx.Options{Batch: 64, Threads: 1}, sessWant, "logits", []int64{-1, 3}},
		{"dynamic batch 1", plain, onnx.Options{Batch: 1, Output: "logits"}, sessWant, "logits", []int64{-1, 3}},
		{"threads that do not spin", plain, onnx.Options{Batch: 2, Threads: 2, NoSpin: true}, sessWant, "logits", []int64{-1, 3}},
		{"fixed batch 1", fixed, onnx.Options{Batch: 256}, sessWant, "logits", []int64{1, 3}},
		{"fixed batch 4 padded", fixed4, onnx.Options{}, sessWant, "logits", []int64{4, 3}},
		{"softmax auto is probs, returned as log p", soft, onnx.Options{Batch: 3}, logp, "probs", []int64{-1, 3}},
		{"softmax forced probs", soft, onnx.Options{Output: "probs"}, logp, "probs", []int64{-1, 3}},
		{"softmax forced logits passes through", soft, onnx.Options{Output: "logits"}, probs, "logits", []int64{-1, 3}},
		{"logsoftmax auto is logprobs", logsoft, onnx.Options{Batch: 2}, logp, "logprobs", []int64{-1, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sessOpen(t, tc.path, tc.opts)
			if s.Classes() != 2 {
				t.Errorf("Classes() = %d, want 2", s.Classes())
			}
			if s.Device() != "cpu" {
				t.Errorf("Device() = %q, want cpu", s.Device())
			}
			if got := s.InputShape(); !slices.Equal(got, tc.wantShape) {
				t.Errorf("InputShape() = %v, want %v", got, tc.wantShape)
			}
			// Twice, with different n, to exercise tensor reuse across calls.
			for _, n := range []int{5, 3} {
				got, err := s.Logits(context.Background(), sessX[:n*3], n)
				if err != nil {
					t.Fatalf("Logits(n=%d): %v", n, err)
				}
				sessClose(t, got, tc.want[:n*2], sessTol)
			}
			if got := s.OutputKind(); got != tc.kind {
				t.Errorf("OutputKind() = %q, want %q", got, tc.kind)
			}
			if got, err := s.Logits(context.Background(), nil, 0); err != nil || len(got) != 0 {
				t.Errorf("Logits(n=0) = %v, %v; want empty, nil", got, err)
			}
		})
	}
}

func TestSessionFixedBatch1SevenSamples(t *testing.T) {
	onnxtest.RequireLibrary(t)
	path := filepath.Join(t.TempDir(), "fixed1.onnx")
	rng := rand.New(rand.NewPCG(1, 2))
	W, b := sessRandGemm(rng, 6, 4)
	onnxtest.GemmClassifier(t, path, W, b, onnxtest.FixedBatch(1))
	x := sessRandVec(rng, 7*6)
	s := sessOpen(t, path, onnx.Options{Batch: 3})
	got, err := s.Logits(context.Background(), x, 7)
	if err != nil {
		t.Fatal(err)
	}
	sessClose(t, got, onnxtest.GemmRef(x, 7, W, b), sessTol)
}

func TestSessionImageInput(t *testing.T) {
	onnxtest.RequireLibrary(t)
	path := filepath.Join(t.TempDir(), "image.onnx")
	rng := rand.New(rand.NewPCG(3, 4))
	W, b := sessRandGemm(rng, 784, 10)
	onnxtest.GemmClassifier(t, path, W, b, onnxtest.ImageInput())
	s := sessOpen(t, path, onnx.Options{Batch: 2})
	if got, want := s.InputShape(), []int64{-1, 1, 28, 28}; !slices.Equal(got, want) {
		t.Errorf("InputShape() = %v, want %v", got, want)
	}
	x := sessRandVec(rng, 3*784)
	got, err := s.Logits(context.Background(), x, 3)
	if err != nil {
		t.Fatal(err)
	}
	// 784-term sums of values in [-1, 1): float32 rounding stays well below 1e-4.
	sessClose(t, got, onnxtest.GemmRef(x, 3, W, b), 1e-4)
}

func TestSessionMLP(t *testing.T) {
	onnxtest.RequireLibrary(t)
	path := filepath.Join(t.TempDir(), "mlp.onnx")
	m := onnxtest.MLP(t, path, []int{20, 32, 16, 5}, 7)
	rng := rand.New(rand.NewPCG(5, 6))
	x := sessRandVec(rng, 11*20)
	s := sessOpen(t, path, onnx.Options{Batch: 4, Threads: 2})
	got, err := s.Logits(context.Background(), x, 11)
	if err != nil {
		t.Fatal(err)
	}
	sessClose(t, got, m.Forward(x, 11), 1e-4)
	if s.OutputKind() != "logits" {
		t.Errorf("OutputKind() = %q, want logits", s.OutputKind())
	}
}

func TestSessionOpenErrors(t *testing.T) {
	onnxtest.RequireLibrary(t)
	dir := t.TempDir()
	text := filepath.Join(dir, "notonnx.onnx")
	if err := os.WriteFile(text, []byte("this is not a model\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "gemm.onnx")
	onnxtest.GemmClassifier(t, good, sessW, sessB)
	for _, tc := range []struct {
		name, path string
		opts       onnx.Options
		want       string
	}{
		{"not onnx", text, onnx.Options{}, "not an ONNX model"},
		{"missing", filepath.Join(dir, "missing.onnx"), onnx.Options{}, "no such file"},
		{"bad device", good, onnx.Options{Device: "tpu"}, "device"},
		{"bad output", good, onnx.Options{Output: "scores"}, "output"},
		{"negative batch", good, onnx.Options{Batch: -1}, "batch"},
		{"threads beyond the bound", good, onnx.Options{Threads: 100000}, fmt.Sprintf("threads 100000: at most %d (4 per core", onnx.MaxThreads())},
		{"input shape that does not fit", good, onnx.Options{InputShape: []int{4}}, "does not fit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := onnx.Open(tc.path, tc.opts)
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want error containing %q", tc.want)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.path) || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q: want it to name %s and contain %q", msg, tc.path, tc.want)
			}
		})
	}
}

func TestSessionLogitsErrors(t *testing.T) {
	onnxtest.RequireLibrary(t)
	path := filepath.Join(t.TempDir(), "gemm.onnx")
	onnxtest.GemmClassifier(t, path, sessW, sessB)
	s := sessOpen(t, path, onnx.Options{Batch: 1})

	t.Run("shape mismatch", func(t *testing.T) {
		_, err := s.Logits(context.Background(), make([]float32, 8), 2)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "values per sample") {
			t.Errorf("err = %v, want a shape error naming %s", err, path)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := s.Logits(ctx, sessX, 5)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		s2, err := onnx.Open(path, onnx.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s2.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := s2.Logits(context.Background(), sessX, 5); !errors.Is(err, onnx.ErrClosed) {
			t.Errorf("Logits after Close: err = %v, want ErrClosed", err)
		}
	})
}

// TestSessionDevices checks that on a machine where the CUDA provider cannot load, "cuda" fails
// with an error that says so and "auto" falls back to CPU.
func TestSessionDevices(t *testing.T) {
	lib := onnxtest.RequireLibrary(t)
	if strings.Contains(lib, "cuda") {
		t.Skip("CUDA build of onnxruntime loaded; the gpu-tagged tests cover it")
	}
	path := filepath.Join(t.TempDir(), "gemm.onnx")
	onnxtest.GemmClassifier(t, path, sessW, sessB)

	s, err := onnx.Open(path, onnx.Options{Device: "cuda", GPUID: 0})
	if err == nil {
		s.Close()
		t.Fatal("Open with device cuda succeeded on the CPU build of onnxruntime")
	}
	if msg := err.Error(); !errors.Is(err, onnx.ErrCUDAUnavailable) || !strings.Contains(msg, "scripts/setup.sh --cuda") || !strings.Contains(msg, path) {
		t.Errorf("cuda error %q: want it to name the model and CUDA", err)
	}

	a := sessOpen(t, path, onnx.Options{Device: "auto"})
	if a.Device() != "cpu" {
		t.Errorf("auto: Device() = %q, want cpu", a.Device())
	}
	got, err := a.Logits(context.Background(), sessX, 5)
	if err != nil {
		t.Fatal(err)
	}
	sessClose(t, got, sessWant, sessTol)
}

// BenchmarkSessionLogits times the 784-1200-1200-10 MLP teacher of Hinton et al. (2015) on CPU
// in batches of 1024 through Session.Logits, and a bare onnxruntime loop over the same batch for
// comparison; b.N counts batches.
func BenchmarkSessionLogits(b *testing.B) {
	onnxtest.RequireLibrary(b)
	// Keep the session's log lines out of the benchmark's result lines.
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.Cleanup(func() { slog.SetDefault(prev) })
	path := filepath.Join(b.TempDir(), "mlp.onnx")
	onnxtest.MLP(b, path, []int{784, 1200, 1200, 10}, 1)
	const batch = 1024
	x := sessRandVec(rand.New(rand.NewPCG(1, 1)), batch*784)
	b.Run("session", func(b *testing.B) {
		s, err := onnx.Open(path, onnx.Options{Batch: batch})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		ctx := context.Background()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.Logits(ctx, x, batch); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "samples/s")
	})
	b.Run("bare", func(b *testing.B) {
		in, err := ort.NewTensor(ort.Shape{batch, 784}, x)
		if err != nil {
			b.Fatal(err)
		}
		defer in.Destroy()
		out, err := ort.NewEmptyTensor[float32](ort.Shape{batch, 10})
		if err != nil {
			b.Fatal(err)
		}
		defer out.Destroy()
		s, err := ort.NewAdvancedSession(path, []string{"input"}, []string{"output"}, []ort.Value{in}, []ort.Value{out}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Destroy()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := s.Run(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "samples/s")
	})
}

func sessRandGemm(rng *rand.Rand, in, out int) ([][]float32, []float32) {
	W := make([][]float32, in)
	for i := range W {
		W[i] = sessRandVec(rng, out)
	}
	return W, sessRandVec(rng, out)
}

// sessRandVec returns n values uniform in [-1, 1).
func sessRandVec(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.Float64()*2 - 1)
	}
	return v
}
