package onnx_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
)

// RequireCUDAPairEnv turns a missing CUDA pair (scripts/setup.sh --cuda) from a skip of
// TestCUDAPair into a failure; `make test` installs the pair and sets it to 1.
const RequireCUDAPairEnv = "DISTILL_REQUIRE_CUDA_PAIR"

// cudaPairChildEnv marks the child process of TestCUDAPair: onnxruntime loads once per process,
// and the other tests of the package load the CPU build.
const cudaPairChildEnv = "DISTILL_CUDA_PAIR_CHILD"

// cudaDeps are the libraries libonnxruntime_providers_cuda.so links against (readelf -d).
var cudaDeps = []string{"libcublasLt.so.13", "libcublas.so.13", "libcurand.so.10", "libcudart.so.13", "libcuda.so.1"}

// TestCUDAPair checks, on a machine without CUDA, that the pair scripts/setup.sh --cuda installs
// matches: the core takes the version-2 CUDA options (a CPU-only core refuses them with "CUDA
// execution provider is not enabled in this build") and loads the provider, which then fails
// only for want of a CUDA library it links against; device auto then runs on CPU. It runs the
// checks in a child process that loads the CUDA build.
func TestCUDAPair(t *testing.T) {
	if os.Getenv(cudaPairChildEnv) == "1" {
		cudaPairChild(t)
		return
	}
	lib, searched, err := onnx.FindLibrary("", true)
	if err != nil {
		if os.Getenv(RequireCUDAPairEnv) == "1" {
			t.Fatalf("the CUDA pair is required (%s=1) (searched %v): %v", RequireCUDAPairEnv, searched, err)
		}
		t.Skipf("the CUDA pair of onnxruntime is not installed (scripts/setup.sh --cuda; %s=1 makes this a failure): %v", RequireCUDAPairEnv, err)
	}
	for _, f := range []string{"libonnxruntime_providers_cuda.so", "libonnxruntime_providers_shared.so"} {
		if _, err := os.Stat(filepath.Join(filepath.Dir(lib), f)); err != nil {
			t.Fatalf("the CUDA pair at %s is incomplete: %v (rerun scripts/setup.sh --cuda)", filepath.Dir(lib), err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCUDAPair$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), cudaPairChildEnv+"=1", onnx.LibraryEnv+"="+lib)
	out, err := cmd.CombinedOutput()
	t.Logf("child process with %s:\n%s", lib, out)
	if err != nil {
		t.Fatalf("child process: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestCUDAPair") {
		t.Fatal("the child process did not run TestCUDAPair")
	}
}

// cudaPairChild is TestCUDAPair in the child process, which loads the CUDA build.
func cudaPairChild(t *testing.T) {
	lib := os.Getenv(onnx.LibraryEnv)
	if err := onnx.Init(lib); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT)
	defer signal.Stop(sigs)
	path := filepath.Join(t.TempDir(), "gemm.onnx")
	onnxtest.GemmClassifier(t, path, sessW, sessB)

	s, err := onnx.Open(path, onnx.Options{Device: "cuda"})
	switch {
	case err == nil:
		// A machine with a GPU and CUDA: the pair works outright.
		defer s.Close()
		got, err := s.Logits(context.Background(), sessX, 5)
		if err != nil {
			t.Fatal(err)
		}
		sessClose(t, got, sessWant, 1e-3)
		t.Logf("the CUDA provider loaded and ran on %s", s.Device())
	case strings.Contains(err.Error(), "not enabled in this build"):
		t.Fatalf("the core refuses CUDA (a CPU-only build, not the pair's core): %v", err)
	case !errors.Is(err, onnx.ErrCUDAUnavailable):
		t.Fatalf("Open on cuda: %v, want ErrCUDAUnavailable", err)
	case strings.Contains(err.Error(), "cannot open shared object file"):
		named := false
		for _, d := range cudaDeps {
			named = named || strings.Contains(err.Error(), d+": cannot open shared object file")
		}
		if !named {
			t.Fatalf("the provider failed to load, but not for a CUDA library it links against (%v): %v", cudaDeps, err)
		}
		t.Logf("refused for want of CUDA, as expected: %v", err)
	default:
		// CUDA libraries present without a usable GPU: the provider loaded and CUDA refused.
		t.Logf("the provider loaded; CUDA refused: %v", err)
	}

	a := sessOpen(t, path, onnx.Options{Device: "auto"})
	got, err := a.Logits(context.Background(), sessX, 5)
	if err != nil {
		t.Fatal(err)
	}
	sessClose(t, got, sessWant, 1e-5)
	t.Logf("device auto runs on %s", a.Device())

	// Go's SIGINT handler survived the provider's loading.
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sigs:
	case <-time.After(5 * time.Second):
		t.Fatal("SIGINT did not reach signal.Notify after the CUDA provider was tried")
	}
}
