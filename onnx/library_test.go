package onnx_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
)

func TestFindLibrary(t *testing.T) {
	tmp := t.TempDir()
	flagLib := filepath.Join(tmp, "flag", "libonnxruntime.so")
	envLib := filepath.Join(tmp, "env", "libonnxruntime.so.1")
	// A fake checkout: <tmp>/repo/third_party/onnxruntime/{cpu,cuda}/ with the work dir deeper.
	repo := filepath.Join(tmp, "repo")
	cpuLib := filepath.Join(repo, "third_party", "onnxruntime", "cpu", "libonnxruntime.so.1")
	cpuLibLong := filepath.Join(repo, "third_party", "onnxruntime", "cpu", "libonnxruntime.so.1.30.0")
	cudaLib := filepath.Join(repo, "third_party", "onnxruntime", "cuda", "libonnxruntime.so")
	cudaProv := filepath.Join(repo, "third_party", "onnxruntime", "cuda", "libonnxruntime_providers_cuda.so")
	for _, p := range []string{flagLib, envLib, cpuLib, cpuLibLong, cudaLib, cudaProv} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("elf"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	deep := filepath.Join(repo, "a", "b")
	bare := filepath.Join(tmp, "bare")
	for _, d := range []string{deep, bare} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name      string
		flag, env string
		wd        string
		cuda      bool
		want      string // path, or "" for an error containing wantErr
		wantErr   string
	}{
		{"flag wins", flagLib, envLib, deep, false, flagLib, ""},
		{"env next", "", envLib, deep, false, envLib, ""},
		{"cpu default searched upward", "", "", deep, false, cpuLib, ""},
		{"cuda default", "", "", deep, true, cudaLib, ""},
		{"missing flag path is an error", filepath.Join(tmp, "nope.so"), envLib, deep, false, "", "Runtime.Lib"},
		{"missing env path is an error", "", filepath.Join(tmp, "nope.so"), deep, false, "", "ONNXRUNTIME_LIB"},
		{"directory is an error", filepath.Join(tmp, "flag"), "", deep, false, "", "directory"},
		{"not found names setup", "", "", bare, false, "", "run scripts/setup.sh to fetch it"},
		{"cuda not found names setup --cuda", "", "", bare, true, "", "run scripts/setup.sh --cuda to fetch it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(onnx.LibraryEnv, tc.env)
			t.Chdir(tc.wd)
			got, searched, err := onnx.FindLibrary(tc.flag, tc.cuda)
			if tc.want != "" {
				if err != nil || got != tc.want {
					t.Fatalf("FindLibrary = %q, %v; want %q (searched %v)", got, err, tc.want, searched)
				}
				return
			}
			if err == nil {
				t.Fatalf("FindLibrary = %q, want error containing %q", got, tc.wantErr)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.wantErr) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line containing %q", msg, tc.wantErr)
			}
			if tc.wantErr == "run scripts/setup.sh to fetch it" && !errors.Is(err, onnx.ErrLibraryNotFound) {
				t.Errorf("error %q: want ErrLibraryNotFound", err)
			}
			if len(searched) == 0 {
				t.Error("searched is empty")
			}
		})
	}
}

func TestInitOnce(t *testing.T) {
	lib := onnxtest.RequireLibrary(t)
	if err := onnx.Init(lib); err != nil {
		t.Errorf("second Init with the same path: %v", err)
	}
	other := filepath.Join(t.TempDir(), "libonnxruntime.so")
	if err := onnx.Init(other); err == nil || !strings.Contains(err.Error(), "already initialised") {
		t.Errorf("Init with another path: err = %v, want 'already initialised'", err)
	}
	if got, ok := onnx.Initialized(); !ok || got != lib {
		t.Errorf("Initialized() = %q, %v; want %q, true", got, ok, lib)
	}
}
