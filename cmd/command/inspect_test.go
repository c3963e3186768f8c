package command

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/distillgo/distill/onnx/onnxtest"
)

// runMain runs Main with args and returns the exit code, stdout and stderr.
func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(append([]string{"distill"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.onnx")
	W := [][]float32{{1, 2, 3}, {4, 5, 6}}
	onnxtest.GemmClassifier(t, model, W, []float32{0, 0, 0},
		onnxtest.Metadata(map[string]string{"zeta": "last", "alpha": "first"}), onnxtest.ProducerName("pytorch"))

	var out bytes.Buffer
	if err := runInspect(context.Background(), InspectOptions{Model: model}, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"producer  pytorch 1", "opset     13", "input   float32  [N, 2]", "output  float32  [N, 3]"} {
		if !strings.Contains(text, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, text)
		}
	}
	if a, z := strings.Index(text, "alpha"), strings.Index(text, "zeta"); a < 0 || z < a {
		t.Errorf("metadata not sorted (alpha at %d, zeta at %d):\n%s", a, z, text)
	}

	out.Reset()
	if err := runInspect(context.Background(), InspectOptions{Model: model, JSON: true}, &out); err != nil {
		t.Fatal(err)
	}
	var rep inspectReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("inspect --json is not JSON: %v\n%s", err, out.String())
	}
	want := []inspectValue{{Name: "input", ElemType: "float32", Shape: []int64{-1, 2}, Dims: []string{"N", "2"}}}
	if diff := cmp.Diff(want, rep.Inputs); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
	if rep.Opset != 13 || rep.Metadata["zeta"] != "last" || len(rep.SHA256) != 64 {
		t.Errorf("opset %d, metadata %v, sha256 %q", rep.Opset, rep.Metadata, rep.SHA256)
	}
}

func TestInspectImageAndFixedBatch(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "img.onnx")
	W := make([][]float32, 784)
	for i := range W {
		W[i] = make([]float32, 10)
	}
	onnxtest.GemmClassifier(t, model, W, make([]float32, 10), onnxtest.ImageInput(), onnxtest.FixedBatch(1))
	code, stdout, stderr := runMain(t, "inspect", model)
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "[1, 1, 28, 28]") {
		t.Errorf("want input shape [1, 1, 28, 28] in:\n%s", stdout)
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	notONNX := filepath.Join(dir, "not.onnx")
	if err := os.WriteFile(notONNX, []byte("hello, I am not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		code      int
		stderrHas string
		wantUsage bool
		stdoutHas string
	}{
		{name: "help", args: []string{"--help"}, code: ExitOK, stdoutHas: "inspect"},
		{name: "command help", args: []string{"inspect", "--help"}, code: ExitOK, stdoutHas: "<model.onnx>"},
		{name: "no command", args: nil, code: ExitUsage, stderrHas: "no command given", wantUsage: true},
		{name: "unknown command", args: []string{"frobnicate"}, code: ExitUsage, stderrHas: `unknown command "frobnicate"`},
		{name: "unknown flag", args: []string{"inspect", "--bogus", notONNX}, code: ExitUsage, stderrHas: "bogus"},
		{name: "missing argument", args: []string{"inspect"}, code: ExitUsage, stderrHas: "want 1 argument"},
		{name: "bad log level", args: []string{"--log-level", "loud", "inspect", notONNX}, code: ExitUsage, stderrHas: "loud"},
		{name: "bad log level after command", args: []string{"inspect", "--log-level", "loud", notONNX}, code: ExitUsage, stderrHas: "loud"},
		{name: "not onnx", args: []string{"inspect", notONNX}, code: ExitRuntime, stderrHas: notONNX},
		{name: "missing file", args: []string{"inspect", filepath.Join(dir, "absent.onnx")}, code: ExitRuntime, stderrHas: "absent.onnx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runMain(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstderr:\n%s", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.stderrHas) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderrHas, stderr)
			}
			if !strings.Contains(stdout, tt.stdoutHas) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdoutHas, stdout)
			}
			if got := strings.Contains(stderr, "USAGE:"); got != tt.wantUsage {
				t.Errorf("usage printed: %v, want %v\nstderr:\n%s", got, tt.wantUsage, stderr)
			}
			// A usage error is one short message that says where the help is.
			if tt.code == ExitUsage && !tt.wantUsage && (!strings.Contains(stderr, "--help' for the") || strings.Count(stderr, "\n") > 3) {
				t.Errorf("usage error is not one short message pointing at --help:\n%s", stderr)
			}
		})
	}
}

// TestInspectNodes runs `distill inspect --nodes` on an MLP 4-5-3 (Gemm, Relu, Gemm): it lists
// each inner tensor with its operator and shape for one sample, in graph order, as a table and as
// JSON; --input-shape is for --nodes, and is needed for a dynamic per-sample axis.
func TestInspectNodes(t *testing.T) {
	onnxtest.RequireLibrary(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "mlp.onnx")
	onnxtest.MLP(t, model, []int{4, 5, 3}, 1)

	code, stdout, stderr := runMain(t, "inspect", "--nodes", model)
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	want := [][]string{{"model", model}, {"tensors", "3,", "shapes", "for", "one", "sample", "(0", "other", "node", "outputs", "left", "out:", "not", "float,", "or", "no", "batch", "axis)"},
		{"gemm0", "Gemm", "float32", "[5]"}, {"relu0", "Relu", "float32", "[5]"}, {"output", "Gemm", "float32", "[3]"}}
	got := make([][]string, len(lines))
	for i, l := range lines {
		got[i] = strings.Fields(l)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inspect --nodes (-want +got words of each line):\n%s", diff)
	}

	code, stdout, stderr = runMain(t, "inspect", "--nodes", "--json", model)
	if code != ExitOK {
		t.Fatalf("--json: exit %d, stderr:\n%s", code, stderr)
	}
	var rep inspectNodesReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("inspect --nodes --json is not JSON: %v\n%s", err, stdout)
	}
	wantRep := inspectNodesReport{Path: model, Rows: 2, Tensors: []inspectNode{
		{Name: "gemm0", Node: "Gemm_gemm0", Op: "Gemm", ElemType: "float32", Shape: []int{5}},
		{Name: "relu0", Node: "Relu_relu0", Op: "Relu", ElemType: "float32", Shape: []int{5}},
		{Name: "output", Node: "Gemm_output", Op: "Gemm", ElemType: "float32", Shape: []int{3}}}}
	if diff := cmp.Diff(wantRep, rep); diff != "" {
		t.Errorf("--json (-want +got):\n%s", diff)
	}

	code, _, stderr = runMain(t, "inspect", "--input-shape", "4", model)
	if code != ExitUsage || !strings.Contains(stderr, "--input-shape is for --nodes") {
		t.Errorf("--input-shape without --nodes: exit %d, stderr:\n%s", code, stderr)
	}
	image := filepath.Join(dir, "image.onnx")
	W := make([][]float32, 784)
	for i := range W {
		W[i] = make([]float32, 10)
	}
	onnxtest.GemmClassifier(t, image, W, make([]float32, 10), onnxtest.ImageInput())
	code, _, stderr = runMain(t, "inspect", "--nodes", "--input-shape", "1x28x27", image)
	if code == ExitOK || !strings.Contains(stderr, "--input-shape") || !strings.Contains(stderr, "[1 28 27]") {
		t.Errorf("--input-shape that does not fit: exit %d, stderr:\n%s", code, stderr)
	}
}
