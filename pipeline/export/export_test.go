package export

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
	"github.com/distillgo/distill/student"
)

// exportSpecs are an MLP and a CNN (conv with pad, maxpool, strided conv, flatten, dropout).
var exportSpecs = map[string]string{
	"mlp": `{"name": "mlp", "input": [12], "classes": 4, "layers": [
		{"type": "dense", "units": 10}, {"type": "relu"}, {"type": "dropout", "p": 0.5},
		{"type": "dense", "units": 4}]}`,
	// [1,8,8] -conv3 pad1-> [3,8,8] -pool2-> [3,4,4] -conv2 stride2-> [4,2,2] -flatten-> [16] -> 5
	"cnn": `{"name": "cnn", "input": [1, 8, 8], "classes": 5, "layers": [
		{"type": "conv2d", "filters": 3, "kernel": 3, "pad": 1}, {"type": "relu"},
		{"type": "maxpool", "kernel": 2},
		{"type": "conv2d", "filters": 4, "kernel": 2, "stride": 2}, {"type": "relu"},
		{"type": "flatten"}, {"type": "dropout", "p": 0.25}, {"type": "dense", "units": 5}]}`,
}

// exportTestNet builds the named spec with seeded weights and random (non-zero) biases.
func exportTestNet(t *testing.T, name string, seed uint64) *student.Net {
	t.Helper()
	spec, err := student.ParseSpec([]byte(exportSpecs[name]), name)
	if err != nil {
		t.Fatal(err)
	}
	net, err := student.NewNet(spec, seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { net.Close() })
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, p := range net.Params() {
		if strings.HasSuffix(p.Name, ".bias") {
			for i := range p.Value {
				p.Value[i] = float32(rng.Float64()*0.4 - 0.2)
			}
		}
	}
	return net
}

func exportInputs(net *student.Net, n int, seed uint64) []float32 {
	size := 1
	for _, d := range net.Spec().Input {
		size *= d
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	x := make([]float32, n*size)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	return x
}

var exportMeta = map[string]string{"distill.preprocess": `{"scale":0.00392156862745098}`, "distill.teacher_sha256": "abc"}

// TestExportStudentParity exports MLP and CNN students and checks onnxruntime agrees with the
// Gorgonia forward pass (Verify: 1e-4 for float32, the relative fp16 or int8 bound otherwise).
func TestExportStudentParity(t *testing.T) {
	onnxtest.RequireLibrary(t)
	for _, tc := range []struct {
		name       string
		fp16, int8 bool
	}{{"mlp", false, false}, {"cnn", false, false}, {"mlp", true, false}, {"cnn", true, false}, {"mlp", false, true}, {"cnn", false, true}} {
		label := tc.name
		if tc.fp16 {
			label += "-fp16"
		}
		if tc.int8 {
			label += "-int8"
		}
		t.Run(label, func(t *testing.T) {
			net := exportTestNet(t, tc.name, 11)
			path := filepath.Join(t.TempDir(), "student.onnx")
			if err := Student(net, path, GraphOptions{FP16: tc.fp16, Int8: tc.int8, Metadata: exportMeta}); err != nil {
				t.Fatalf("Student: %v", err)
			}
			const n = 9
			rep, err := Verify(context.Background(), &onnx.Runtime{}, net, path, exportInputs(net, n, 5), n)
			if err != nil {
				t.Fatalf("Verify: %v (report %+v)", err, rep)
			}
			t.Logf("max abs diff %.3g (tolerance %.3g), agreement %.3f on %d", rep.MaxAbsDiff, rep.Tolerance, rep.Agreement, rep.N)
			if rep.N != n || rep.FP16 != tc.fp16 || rep.Int8 != tc.int8 {
				t.Errorf("report %+v", rep)
			}
			if tc.int8 && rep.Tolerance <= VerifyToleranceInt8 {
				t.Errorf("int8 tolerance %g, want VerifyToleranceInt8 x (1 + largest |logit|)", rep.Tolerance)
			}
			if !tc.fp16 && !tc.int8 && (rep.MaxAbsDiff > 1e-4 || rep.Agreement != 1) {
				t.Errorf("max abs diff %g, agreement %g: want <= 1e-4 and 1", rep.MaxAbsDiff, rep.Agreement)
			}
			info, err := onnx.ReadModelInfo(path)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range exportMeta {
				if info.Metadata[k] != v {
					t.Errorf("metadata %q = %q, want %q", k, info.Metadata[k], v)
				}
			}
			if info.Metadata[meta.Classes] != map[string]string{"mlp": "4", "cnn": "5"}[tc.name] {
				t.Errorf("metadata %q = %q", meta.Classes, info.Metadata[meta.Classes])
			}
		})
	}
}

// TestVerifyExportMismatch checks that Verify fails when the file is another student's.
func TestVerifyExportMismatch(t *testing.T) {
	onnxtest.RequireLibrary(t)
	a, b := exportTestNet(t, "mlp", 1), exportTestNet(t, "mlp", 2)
	path := filepath.Join(t.TempDir(), "a.onnx")
	if err := Student(a, path, GraphOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(context.Background(), &onnx.Runtime{}, b, path, exportInputs(b, 4, 1), 4)
	if !errors.Is(err, ErrVerify) {
		t.Fatalf("Verify with another net: err = %v, want ErrVerify", err)
	}
	if rep.MaxAbsDiff <= VerifyTolerance || rep.N != 4 {
		t.Errorf("report %+v", rep)
	}
}

// TestStudentRoundTrip checks export -> Import -> export gives the same bytes and weights (int8
// weights: within half a quantisation step, and ImportParams gives the dequantised ones).
func TestStudentRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  GraphOptions
		model string
	}{
		{"mlp", GraphOptions{Metadata: exportMeta}, "mlp"},
		{"cnn", GraphOptions{Opset: 11}, "cnn"},
		{"cnn-fp16", GraphOptions{FP16: true, Metadata: exportMeta}, "cnn"},
		{"mlp-int8", GraphOptions{Int8: true, Metadata: exportMeta}, "mlp"},
		{"cnn-int8", GraphOptions{Int8: true, Opset: 17}, "cnn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			net := exportTestNet(t, tc.model, 3)
			first := filepath.Join(dir, "a.onnx")
			if err := Student(net, first, tc.opts); err != nil {
				t.Fatal(err)
			}
			back, err := Import(first)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			defer back.Close()
			if diff := cmp.Diff(net.Spec(), back.Spec()); diff != "" {
				t.Errorf("spec differs (-want +got):\n%s", diff)
			}
			switch {
			case tc.opts.Int8:
				checkDequantized(t, net, back)
			case !tc.opts.FP16:
				if diff := cmp.Diff(net.Params(), back.Params()); diff != "" {
					t.Errorf("params differ (-want +got):\n%s", diff)
				}
			}
			second := filepath.Join(dir, "b.onnx")
			if err := Student(back, second, tc.opts); err != nil {
				t.Fatal(err)
			}
			a, _ := os.ReadFile(first)
			b, _ := os.ReadFile(second)
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Errorf("export -> import -> export changed the file (%d vs %d bytes)", len(a), len(b))
			}
			params, err := ImportParams(first, net.Spec())
			if err != nil {
				t.Fatalf("ImportParams: %v", err)
			}
			for _, p := range back.Params() {
				if diff := cmp.Diff(p.Value, params[p.Name]); diff != "" {
					t.Errorf("ImportParams %s differs:\n%s", p.Name, diff)
				}
			}
		})
	}
}

// checkDequantized checks that back's weights are net's moved by at most half an int8 step of
// their output channel (max|w|/254) and its biases net's exactly.
func checkDequantized(t *testing.T, net, back *student.Net) {
	t.Helper()
	got := back.ParamValues()
	for _, p := range net.Params() {
		if strings.HasSuffix(p.Name, ".bias") {
			if diff := cmp.Diff(p.Value, got[p.Name]); diff != "" {
				t.Errorf("%s differs:\n%s", p.Name, diff)
			}
			continue
		}
		// Dense weights are [in, out] (channels are columns), conv weights [f, ...] (rows).
		channel := func(i int) int { return i % p.Shape[1] }
		channels := p.Shape[1]
		if len(p.Shape) == 4 {
			inner := len(p.Value) / p.Shape[0]
			channel, channels = func(i int) int { return i / inner }, p.Shape[0]
		}
		top := make([]float64, channels)
		for i, v := range p.Value {
			top[channel(i)] = math.Max(top[channel(i)], math.Abs(float64(v)))
		}
		moved := false
		for i, v := range p.Value {
			d := math.Abs(float64(v) - float64(got[p.Name][i]))
			if d > top[channel(i)]/254*(1+1e-5) {
				t.Fatalf("%s[%d] = %v after the round trip, want %v within half a step (%g)", p.Name, i, got[p.Name][i], v, top[channel(i)]/254)
			}
			moved = moved || d > 0
		}
		if !moved {
			t.Errorf("%s is unchanged by int8 quantisation", p.Name)
		}
	}
}

func TestImportStudentErrors(t *testing.T) {
	dir := t.TempDir()
	net := exportTestNet(t, "mlp", 1)
	good := filepath.Join(dir, "good.onnx")
	if err := Student(net, good, GraphOptions{}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	trunc := filepath.Join(dir, "trunc.onnx")
	if err := os.WriteFile(trunc, data[:len(data)-40], 0o644); err != nil {
		t.Fatal(err)
	}
	// rewrite exports good's graph again with its metadata changed by edit.
	rewrite := func(name string, edit func(g *onnx.ExportGraph)) string {
		g, err := onnx.ImportGraph(good)
		if err != nil {
			t.Fatal(err)
		}
		edit(g)
		p := filepath.Join(dir, name)
		if err := onnx.Export(p, *g); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noSpec := rewrite("nospec.onnx", func(g *onnx.ExportGraph) { delete(g.Metadata, meta.Spec) })
	otherSpec := rewrite("other.onnx", func(g *onnx.ExportGraph) {
		g.Metadata[meta.Spec] = strings.Replace(g.Metadata[meta.Spec], `"units":10`, `"units":9`, 1)
	})
	badSpec := rewrite("bad.onnx", func(g *onnx.ExportGraph) { g.Metadata[meta.Spec] = `{"input": [12]}` })
	for _, tc := range []struct {
		name, path string
		want       string
	}{
		{"missing", filepath.Join(dir, "none.onnx"), "no such file"},
		{"truncated", trunc, "import onnx"},
		{"no spec", noSpec, `no "distill.spec" metadata`},
		{"other spec", otherSpec, "does not match the spec"},
		{"invalid spec", badSpec, "classes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Import(tc.path)
			if err == nil || !strings.Contains(err.Error(), "import student "+tc.path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Import(%s) error = %v, want one naming the file and containing %q", tc.name, err, tc.want)
			}
		})
	}
	// A training spec whose weights do not fit the model's.
	wider, err := student.ParseSpec([]byte(strings.Replace(exportSpecs["mlp"], `"units": 10`, `"units": 11`, 1)), "wider")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ImportParams(good, wider); err == nil || !strings.Contains(err.Error(), "layers.0.weight shaped [12 11]") {
		t.Errorf("ImportParams with another spec: %v", err)
	}
	// Exporting a net fails cleanly on a bad opset and leaves nothing behind.
	old := filepath.Join(dir, "old.onnx")
	if err := Student(net, old, GraphOptions{Opset: 6}); !errors.Is(err, onnx.ErrOpsetTooOld) || !strings.Contains(err.Error(), "Gemm needs opset >= 7") {
		t.Errorf("Student opset 6: %v", err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("failed export left %s", old)
	}
}
