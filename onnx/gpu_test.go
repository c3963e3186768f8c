//go:build gpu

// CUDA tests, for a machine with an NVIDIA GPU, Go and the CUDA 13 libraries on the library path,
// after `scripts/setup.sh --cuda`:
//
//	go test -tags gpu -count=1 -run GPU -v ./onnx/
//
// The GPU machine of this project has no Go: there scripts/gpu-check.sh runs scripts/gpucheck,
// built and staged by scripts/gpu-stage.sh.
// $DISTILL_GPU_ID picks the GPU (default 0); $DISTILL_GPU_MODEL, when set, is where the teacher
// model is written, so the script can reuse it for `distill targets`.

package onnx_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
)

// gpuSamples is the number of synthetic samples timed on each device; MNIST's test set size.
const gpuSamples = 10000

// gpuInit loads the CUDA build of onnxruntime ($ONNXRUNTIME_LIB or third_party/onnxruntime/cuda)
// and returns the GPU ordinal to use.
func gpuInit(t *testing.T) int {
	t.Helper()
	path, searched, err := onnx.FindLibrary("", true)
	if err != nil {
		t.Fatalf("find CUDA onnxruntime (searched %v): %v", searched, err)
	}
	if err := onnx.Init(path); err != nil {
		t.Fatal(err)
	}
	id := 0
	if s := os.Getenv("DISTILL_GPU_ID"); s != "" {
		if id, err = strconv.Atoi(s); err != nil {
			t.Fatalf("DISTILL_GPU_ID=%q: %v", s, err)
		}
	}
	return id
}

// gpuTeacher writes the 784-1200-1200-10 MLP (seed 1) and returns its path and weights.
func gpuTeacher(t *testing.T) (string, *onnxtest.MLPWeights) {
	t.Helper()
	path := os.Getenv("DISTILL_GPU_MODEL")
	if path == "" {
		path = filepath.Join(t.TempDir(), "mlp.onnx")
	}
	return path, onnxtest.MLP(t, path, []int{784, 1200, 1200, 10}, 1)
}

// gpuTime runs all of x through s after one warm-up batch and returns the logits and seconds.
func gpuTime(t *testing.T, s *onnx.Session, x []float32, n int) ([]float32, float64) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Logits(ctx, x[:1024*784], 1024); err != nil {
		t.Fatalf("%s warm-up: %v", s.Device(), err)
	}
	start := time.Now()
	z, err := s.Logits(ctx, x, n)
	if err != nil {
		t.Fatalf("%s: %v", s.Device(), err)
	}
	return z, time.Since(start).Seconds()
}

func TestGPUSessionMatchesCPU(t *testing.T) {
	id := gpuInit(t)
	path, m := gpuTeacher(t)
	rng := rand.New(rand.NewPCG(2015, 3))
	x := make([]float32, gpuSamples*784)
	for i := range x {
		x[i] = float32(rng.Float64()) // pixel-like values in [0, 1)
	}

	cpu := sessOpen(t, path, onnx.Options{Device: "cpu", Batch: 1024})
	gpu := sessOpen(t, path, onnx.Options{Device: "cuda", GPUID: id, Batch: 1024})
	if want := "cuda:" + strconv.Itoa(id); gpu.Device() != want {
		t.Fatalf("Device() = %q, want %q", gpu.Device(), want)
	}
	zc, sc := gpuTime(t, cpu, x, gpuSamples)
	zg, sg := gpuTime(t, gpu, x, gpuSamples)

	// Both against a float64 reference on the first 64 samples.
	ref := m.Forward(x[:64*784], 64)
	var refCPU, refGPU float64
	for i, r := range ref {
		refCPU = math.Max(refCPU, math.Abs(float64(zc[i]-r)))
		refGPU = math.Max(refGPU, math.Abs(float64(zg[i]-r)))
	}
	var maxDiff, maxAbs float64
	agree := 0
	for r := 0; r < gpuSamples; r++ {
		ac, ag := 0, 0
		for j := 0; j < 10; j++ {
			i := r*10 + j
			maxDiff = math.Max(maxDiff, math.Abs(float64(zc[i]-zg[i])))
			maxAbs = math.Max(maxAbs, math.Abs(float64(zc[i])))
			if zc[i] > zc[r*10+ac] {
				ac = j
			}
			if zg[i] > zg[r*10+ag] {
				ag = j
			}
		}
		if ac == ag {
			agree++
		}
	}
	fmt.Printf("gpu-check: teacher 784-1200-1200-10, %d samples, batch 1024\n", gpuSamples)
	fmt.Printf("gpu-check: cpu     %8.3f s  %10.0f samples/s\n", sc, gpuSamples/sc)
	fmt.Printf("gpu-check: %-7s %8.3f s  %10.0f samples/s\n", gpu.Device(), sg, gpuSamples/sg)
	fmt.Printf("gpu-check: max |cpu - cuda| = %.3g (max |logit| %.3g), argmax agreement %d/%d\n", maxDiff, maxAbs, agree, gpuSamples)
	fmt.Printf("gpu-check: max |float64 ref - cpu| = %.3g, max |float64 ref - cuda| = %.3g (first 64 samples)\n", refCPU, refGPU)
	// TF32 matrix products on Ampere and later keep about 3 decimal digits; 1e-2 of the logit
	// scale is well above that and far below a wrong result.
	if tol := 1e-2 * math.Max(1, maxAbs); maxDiff > tol {
		t.Errorf("max |cpu - cuda| = %g > %g", maxDiff, tol)
	}
	if agree < gpuSamples*999/1000 {
		t.Errorf("argmax agrees on %d of %d samples", agree, gpuSamples)
	}
}

func TestGPUAutoAndBadID(t *testing.T) {
	id := gpuInit(t)
	path := filepath.Join(t.TempDir(), "gemm.onnx")
	onnxtest.GemmClassifier(t, path, sessW, sessB)

	a := sessOpen(t, path, onnx.Options{Device: "auto", GPUID: id})
	if want := "cuda:" + strconv.Itoa(id); a.Device() != want {
		t.Errorf("auto: Device() = %q, want %q", a.Device(), want)
	}
	got, err := a.Logits(context.Background(), sessX, 5)
	if err != nil {
		t.Fatal(err)
	}
	sessClose(t, got, sessWant, 1e-3)

	s, err := onnx.Open(path, onnx.Options{Device: "cuda", GPUID: 999})
	if err == nil {
		s.Close()
		t.Fatal("Open on gpu 999 succeeded")
	}
	if !errors.Is(err, onnx.ErrCUDAUnavailable) {
		t.Errorf("gpu 999: err = %v, want ErrCUDAUnavailable", err)
	}
	t.Logf("gpu 999: %v", err)
	b := sessOpen(t, path, onnx.Options{Device: "auto", GPUID: 999})
	if b.Device() != "cpu" {
		t.Errorf("auto on gpu 999: Device() = %q, want cpu", b.Device())
	}
}
