package purego_test

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/distillgo/distill/onnx/purego"
)

// fixture is one entry of testdata/fixtures.json (written by internal/fixturegen).
type fixture struct {
	File    string    `json:"file"`
	N       int       `json:"n"`
	Classes int       `json:"classes"`
	Inputs  []float32 `json:"inputs"`
	Logits  []float32 `json:"logits"`
}

// refused are the exporter fixtures gorgonnx cannot run (the conformance suite's networks with
// operators or forms onnx-go lacks), with what Load's ErrUnsupported must name.
var refused = map[string]string{
	"nn_dense-nobias-dropout.onnx": "Gemm without a bias",
	"nn_conv-groups-same.onnx":     "Conv with group",
	"nn_batchnorm-vector.onnx":     "Batchnormalization not implemented",
	"nn_concat-branches.onnx":      "operator Concat",
	"nn_avgpool.onnx":              "operator AveragePool",
	"nn_activations.onnx":          "operator HardSigmoid",
	"nn_activations-conv.onnx":     "operator HardSigmoid",
	"nn_leakyrelu-residual.onnx":   "LeakyRelu of a value another node reads",
}

// TestExporterFixtures runs models written by distill's exporter and checks the logits against
// those onnxruntime computed for the same inputs, one sample at a time and all at once.
func TestExporterFixtures(t *testing.T) {
	data, err := os.ReadFile("testdata/fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var fixtures []fixture
	if err := json.Unmarshal(data, &fixtures); err != nil {
		t.Fatal(err)
	}
	const tol = 1e-5 // float32 sums of at most 36 products, two libraries' orders of summation
	for _, f := range fixtures {
		t.Run(f.File, func(t *testing.T) {
			m, err := purego.Load(filepath.Join("testdata", f.File))
			if why, ok := refused[f.File]; ok {
				if !errors.Is(err, purego.ErrUnsupported) || !strings.Contains(err.Error(), why) {
					t.Fatalf("Load: %v, want ErrUnsupported naming %q", err, why)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Classes() != f.Classes {
				t.Fatalf("Classes() = %d, want %d", m.Classes(), f.Classes)
			}
			dim := len(f.Inputs) / f.N
			var alone []float32
			for i := range f.N {
				y, err := m.Predict(f.Inputs[i*dim:(i+1)*dim], 1)
				if err != nil {
					t.Fatal(err)
				}
				alone = append(alone, y...)
			}
			all, err := m.Predict(f.Inputs, f.N)
			if err != nil {
				t.Fatal(err)
			}
			for name, got := range map[string][]float32{"one at a time": alone, "batch": all} {
				if d := maxDiff(got, f.Logits); !(d <= tol) {
					t.Errorf("%s: logits differ from onnxruntime's by %g > %g\ngot  %v\nwant %v", name, d, tol, got, f.Logits)
				}
			}
		})
	}
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func TestPreprocessMetadata(t *testing.T) {
	m, err := purego.Load("testdata/export_mlp_fp16.onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want := &purego.Preprocess{Scale: 255, InputShape: []int{12}}
	if diff := cmp.Diff(want, m.Preprocess()); diff != "" {
		t.Errorf("Preprocess() (-want +got):\n%s", diff)
	}
	y, err := (&purego.Preprocess{Scale: 2, Mean: []float64{1, 2}, Std: []float64{0.5, 4}}).Apply([]float32{4, 6, 8, 10})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float32{2, 4, 0.5, 0.75}, y); diff != "" {
		t.Errorf("Apply (-want +got):\n%s", diff)
	}
	m2, err := purego.Load("testdata/export_cnn.onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if p := m2.Preprocess(); p != nil {
		t.Errorf("Preprocess() of a model without the metadata = %+v, want nil", p)
	}
}

// TestLoadErrors: damaged checksums, operators gorgonnx lacks and other Casts are refused,
// naming what is wrong.
func TestLoadErrors(t *testing.T) {
	good, err := os.ReadFile("testdata/export_mlp_fp16.onnx")
	if err != nil {
		t.Fatal(err)
	}
	flipped := slices.Clone(good)
	flipped[len(flipped)/2] ^= 1 // a byte of a weight
	softmax := mlp(1, 4, 3)
	softmax.layers = append(softmax.layers, layer{op: "LogSoftmax"})
	tests := []struct {
		name string
		data []byte
		is   error
		want string
	}{
		{"flipped weight byte", flipped, purego.ErrChecksum, "checksum"},
		{"missing checksum", encode(netSpec{inShape: []int{4}, classes: 3, layers: mlp(1, 4, 3).layers, meta: [][2]string{{"distill.spec", "{}"}}}), purego.ErrChecksum, "distill.model_sha256"},
		{"LogSoftmax", encode(softmax), purego.ErrUnsupported, "operator LogSoftmax"},
		{"truncated", good[:len(good)-7], nil, "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.onnx")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := purego.Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Load: error %v, want one naming %q and the file", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("Load: error %v is not %v", err, tc.is)
			}
		})
	}
}

// TestConcurrent shares one Model between goroutines (run with -race to check the pool).
func TestConcurrent(t *testing.T) {
	s := mlp(5, 6, 8, 4)
	m, err := purego.Load(write(t, s))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			n := 1 + g%3
			x := randn(newRand(uint64(g)), n*6, 1)
			for range 20 {
				y, err := m.Predict(x, n)
				if err != nil {
					t.Error(err)
					return
				}
				if d := maxDiff(y, reference(s, x, n)); d > 1e-4 {
					t.Errorf("goroutine %d: logits differ from the reference by %g", g, d)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestNoCgo builds and vets this package and direct with CGO_ENABLED=0, and checks with the
// default settings that neither depends on cgo, package onnx or onnxruntime_go.
func TestNoCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package; skipped under -short")
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	for _, args := range [][]string{{"build", "-o", os.DevNull, ".", "./direct"}, {"vet", ".", "./direct"}} {
		cmd := exec.Command(gobin, args...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("CGO_ENABLED=0 go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, pkg := range []string{".", "./direct"} {
		cmd := exec.Command(gobin, "list", "-deps", pkg)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			bad := dep == "github.com/distillgo/distill/onnx" || strings.Contains(dep, "onnxruntime_go") || dep == "runtime/cgo"
			// direct must also stay clear of onnx-go, whose protobuf names clash with gonnx's.
			bad = bad || (pkg == "./direct" && (strings.Contains(dep, "onnx-go") || strings.Contains(dep, "gonnx")))
			if bad {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
