package onnx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

func TestDetectKind(t *testing.T) {
	for _, tc := range []struct {
		name string
		y    []float32
		c    int
		want string
	}{
		{"probabilities", []float32{0.25, 0.75, 1, 0, 0.5, 0.5}, 2, OutputProbs},
		{"probabilities within 1e-3", []float32{0.3, 0.7005}, 2, OutputProbs},
		{"sum off by 2e-3", []float32{0.3, 0.702}, 2, OutputLogits},
		{"one negative entry", []float32{0.5, 0.5, -0.1, 1.1}, 2, OutputLogits},
		{"log-probabilities", []float32{-0.6931472, -0.6931472, 0, -80}, 2, OutputLogProbs},
		{"logits", []float32{1, 2, -3, 0.5}, 2, OutputLogits},
		{"all zero logits", []float32{0, 0, 0}, 3, OutputLogits},
		{"NaN", []float32{float32(nan()), 1}, 2, OutputLogits},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := detectKind(tc.y, tc.c); got != tc.want {
				t.Errorf("detectKind(%v, %d) = %q, want %q", tc.y, tc.c, got, tc.want)
			}
		})
	}
}

func nan() float64 {
	var z float64
	return z / z
}

// TestAppendCUDAv1 calls the version-1 CUDA registration through the hand-written OrtApi indexes
// on a library without the CUDA provider beside it: the call must come back with onnxruntime's
// own error message (so the indexes of the call, GetErrorMessage and ReleaseStatus are right).
func TestAppendCUDAv1(t *testing.T) {
	lib, _, err := FindLibrary("", false)
	if err == nil {
		err = Init(lib)
	}
	if err != nil {
		if os.Getenv("DISTILL_REQUIRE_ORT") == "1" {
			t.Fatal(err)
		}
		t.Skipf("onnxruntime not available: %v", err)
	}
	lib, _ = Initialized()
	if _, err := os.Stat(filepath.Join(filepath.Dir(lib), "libonnxruntime_providers_cuda.so")); err == nil {
		t.Skip("a CUDA provider is beside the library; the gpu-tagged tests cover it")
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer so.Destroy()
	err = appendCUDAv1(lib, so, 0)
	if err == nil {
		t.Fatal("appendCUDAv1 succeeded without a CUDA provider")
	}
	if msg := err.Error(); !strings.Contains(msg, "Cuda") && !strings.Contains(msg, "CUDA") {
		t.Errorf("error %q is not onnxruntime's CUDA registration error", msg)
	}
	t.Logf("appendCUDAv1: %v", err)
}
