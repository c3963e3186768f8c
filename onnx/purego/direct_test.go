package purego_test

// Tests and benchmarks of package direct, the pure-Go runtime that links no onnx-go; they
// sit here to share this package's fixtures and reference.

import (
	"encoding/json"
	"errors"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/teachertest"
	"github.com/distillgo/distill/onnx/purego"
	"github.com/distillgo/distill/onnx/purego/direct"
)

func TestDirectConformance(t *testing.T) {
	const batch = 4
	for name, s := range conformanceCases() {
		t.Run(name, func(t *testing.T) {
			path := write(t, s)
			dim := 1
			for _, d := range s.inShape {
				dim *= d
			}
			teachertest.Run(t, teachertest.Case{
				Open: func(tb testing.TB) teachertest.Teacher {
					m, err := direct.Runtime{}.Open(path, model.Options{Batch: batch})
					if err != nil {
						tb.Fatalf("open: %v", err)
					}
					return m
				},
				Dim: dim, Classes: s.classes,
				Reference: func(x []float32, n int) []float32 { return reference(s, x, n) },
				Tol:       1e-4, // as TestConformance
				MaxBatch:  batch, ErrClosed: direct.ErrClosed,
			})
		})
	}
}

// TestDirectExporterFixtures checks the direct runtime against onnxruntime's logits on the
// models written by distill's exporter (as TestExporterFixtures does for purego).
func TestDirectExporterFixtures(t *testing.T) {
	data, err := os.ReadFile("testdata/fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var fixtures []fixture
	if err := json.Unmarshal(data, &fixtures); err != nil {
		t.Fatal(err)
	}
	for _, f := range fixtures {
		m, err := direct.Load(filepath.Join("testdata", f.File))
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.Predict(f.Inputs, f.N)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(got, f.Logits); !(d <= 1e-5) {
			t.Errorf("%s: logits differ from onnxruntime's by %g", f.File, d)
		}
		m.Close()
	}
}

// TestDirectPredictIntoAllocatesNothing checks the steady state of a server: PredictInto with a
// reused dst allocates nothing per call, at batch 1 (the Saxpy row) and 256 (the blocked
// product on all cores).
func TestDirectPredictIntoAllocatesNothing(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	m, err := direct.Load(write(t, mlp(9, benchWidths...)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, n := range []int{1, 256} {
		x := randn(rand.New(rand.NewPCG(uint64(n), 3)), n*benchWidths[0], 1)
		want, err := m.Predict(x, n)
		if err != nil {
			t.Fatal(err)
		}
		dst := make([]float32, n*m.Classes())
		allocs := testing.AllocsPerRun(20, func() {
			got, err := m.PredictInto(dst, x, n)
			if err != nil || &got[0] != &dst[0] || maxDiff(got, want) != 0 {
				t.Fatalf("batch %d: PredictInto gave other logits or memory (%v)", n, err)
			}
		})
		if allocs != 0 {
			t.Errorf("batch %d: %v allocations per PredictInto, want 0", n, allocs)
		}
	}
}

// BenchmarkDirectPredict times the direct runtime on the demo student, as BenchmarkPredict, with
// PredictInto reusing its output as a server would.
func BenchmarkDirectPredict(b *testing.B) {
	m, err := direct.Load(write(b, mlp(9, benchWidths...)))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	for _, n := range []int{1, 256} {
		b.Run("batch="+itoa3(n), func(b *testing.B) {
			x := randn(rand.New(rand.NewPCG(uint64(n), 3)), n*benchWidths[0], 1)
			if _, err := m.Predict(x, n); err != nil {
				b.Fatal(err)
			}
			dst := make([]float32, n*m.Classes())
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.PredictInto(dst, x, n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// TestDirectGraphsAllocateNothing is TestDirectPredictIntoAllocatesNothing for the conformance
// fixtures of graph students (batchnorm, residual adds, concatenation, grouped convolutions,
// pooling heads, the activations): a warm PredictInto allocates nothing at batch 1 and 5.
func TestDirectGraphsAllocateNothing(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, name := range []string{"nn_residual-add.onnx", "nn_concat-branches.onnx", "nn_conv-groups-same.onnx",
		"nn_batchnorm-conv.onnx", "nn_activations-conv.onnx", "nn_avgpool.onnx"} {
		m, err := direct.Load(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		dim := 1
		for _, d := range m.Describe().SampleShape {
			dim *= d
		}
		for _, n := range []int{1, 5} {
			x := randn(rand.New(rand.NewPCG(uint64(n), 4)), n*dim, 1)
			dst := make([]float32, n*m.Classes())
			if _, err := m.PredictInto(dst, x, n); err != nil {
				t.Fatal(err)
			}
			if allocs := testing.AllocsPerRun(10, func() {
				if _, err := m.PredictInto(dst, x, n); err != nil {
					t.Fatal(err)
				}
			}); allocs != 0 {
				t.Errorf("%s at batch %d: %v allocations per PredictInto, want 0", name, n, allocs)
			}
		}
		m.Close()
	}
}

// TestDirectBoundsConvScratch checks that a convolution whose im2col buffer would be huge (a
// 33×33 kernel over 512×512: 285 million values, above the 2^26 per sample a workspace may hold)
// is refused at load, before anything that size is allocated.
func TestDirectBoundsConvScratch(t *testing.T) {
	r := newRand(5)
	s := netSpec{inShape: []int{1, 512, 512}, classes: 2, layers: []layer{
		{op: "Conv", w: randn(r, 33*33, 0.1), wshape: []int{1, 1, 33, 33}, b: []float32{0}, k: 33, s: 1, p: 16},
		{op: "Flatten"},
		{op: "Gemm", w: randn(r, 512*512*2, 0.01), wshape: []int{512 * 512, 2}, b: []float32{0, 0}},
	}}
	_, err := direct.Load(write(t, s))
	if !errors.Is(err, direct.ErrUnsupported) || !strings.Contains(err.Error(), "values per sample") {
		t.Errorf("Load: %v, want ErrUnsupported for the size of a layer's buffer", err)
	}
}

// FuzzDirectLoad feeds arbitrary bytes to the direct runtime's reader and planner (the wire
// reader, nn.Decode and every operator's decoder): whatever it accepts must run a sample, and
// nothing may panic. The seeds are the exporter fixtures, the conformance cases among them.
func FuzzDirectLoad(f *testing.F) {
	files, err := filepath.Glob("testdata/*.onnx")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := direct.Check(data); err != nil {
			return
		}
		path := filepath.Join(t.TempDir(), "m.onnx")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := direct.Load(path)
		if err != nil {
			t.Fatalf("Check accepted what Load refuses: %v", err)
		}
		defer m.Close()
		dim := 1
		for _, d := range m.Describe().SampleShape {
			dim *= d
		}
		if dim > 1<<20 {
			return
		}
		if _, err := m.Predict(make([]float32, dim), 1); err != nil {
			t.Fatalf("Predict: %v", err)
		}
	})
}

// TestFeaturesRefused checks that both pure-Go runtimes refuse Options.Features, which only
// onnxruntime fetches, with ErrUnsupported rather than opening a model that would not return them.
func TestFeaturesRefused(t *testing.T) {
	cases := conformanceCases()
	keys := slices.Sorted(maps.Keys(cases))
	path := write(t, cases[keys[0]])
	opts := model.Options{Features: []string{"hidden"}}
	for _, tc := range []struct {
		name string
		open func() (model.Model, error)
		want error
	}{
		{"purego", func() (model.Model, error) { return purego.Runtime{}.Open(path, opts) }, purego.ErrUnsupported},
		{"direct", func() (model.Model, error) { return direct.Runtime{}.Open(path, opts) }, direct.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.open()
			if err == nil {
				m.Close()
				t.Fatal("Open with features succeeded")
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), `"hidden"`) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v: want %v naming the feature and the file", err, tc.want)
			}
		})
	}
}
