package main

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/distillgo/distill/onnx/onnxtest"
)

func TestConvNetDeterministic(t *testing.T) {
	a, err := convNet(1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := convNet(1)
	c, _ := convNet(2)
	if !bytes.Equal(a, b) {
		t.Error("convNet(1) gave different bytes twice")
	}
	if bytes.Equal(a, c) {
		t.Error("convNet(1) and convNet(2) are the same")
	}
	var m pb.ModelProto
	if err := proto.Unmarshal(a, &m); err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	for _, n := range m.Graph.Node {
		ops[n.OpType] = true
	}
	for _, op := range convNetOps {
		if !ops[op] {
			t.Errorf("the model has no %s node", op)
		}
	}
}

func TestCompare(t *testing.T) {
	a := []float32{1, 2, 3, 0, 5, -1}
	for _, tc := range []struct {
		name          string
		b             []float32
		diff, agree   float64
		infiniteDiffs bool
	}{
		{"same", []float32{1, 2, 3, 0, 5, -1}, 0, 1, false},
		{"close", []float32{1, 2, 3.01, 0, 5, -1}, 0.01, 1, false},
		{"other class", []float32{1, 4, 3, 0, 5, -1}, 2, 0.5, false},
		{"NaN", []float32{1, 2, float32(math.NaN()), 0, 5, -1}, 0, 0.5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diff, tol, agree := compare(a, tc.b, 3)
			if tc.infiniteDiffs != math.IsInf(diff, 1) || (!tc.infiniteDiffs && math.Abs(diff-tc.diff) > 1e-6) {
				t.Errorf("max diff %g, want %g", diff, tc.diff)
			}
			if agree != tc.agree {
				t.Errorf("agreement %g, want %g", agree, tc.agree)
			}
			if tol != relTol*5 {
				t.Errorf("bound %g, want %g", tol, relTol*5)
			}
		})
	}
}

// TestCheckOnCPU runs the whole check with the CPU as the device under test, on the MNIST
// teacher's format: the same numbers on both sides, and a verdict of FAIL for want of a GPU.
func TestCheckOnCPU(t *testing.T) {
	lib := onnxtest.RequireLibrary(t)
	dir := t.TempDir()
	teacher := filepath.Join(dir, "teacher.onnx")
	W := make([][]float32, 784)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range W {
		W[i] = make([]float32, 10)
		for j := range W[i] {
			W[i][j] = float32(rng.NormFloat64() * 0.05)
		}
	}
	onnxtest.GemmClassifier(t, teacher, W, make([]float32, 10), onnxtest.Metadata(map[string]string{
		"distill.preprocess": `{"scale":255,"mean":[0.5],"std":[0.5]}`}))
	images := filepath.Join(dir, "images.idx")
	writeImages(t, images, 40, rng)

	cfg := config{Lib: lib, Device: "cpu", CPURows: 16, CUDARows: 7, Samples: 100, Reps: 3}
	var out bytes.Buffer
	rs, err := run(context.Background(), &out, cfg, teacher, images)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("%d results, want 2", len(rs))
	}
	for _, r := range rs {
		if r.Compared != 40 || r.Classes != 10 || r.Device != "cpu" {
			t.Errorf("%s: compared %d, classes %d, device %q; want 40, 10, cpu", r.Name, r.Compared, r.Classes, r.Device)
		}
		if r.MaxDiff > 1e-4 || r.Agree != 1 {
			t.Errorf("%s: cpu against cpu: max diff %g, agreement %g", r.Name, r.MaxDiff, r.Agree)
		}
		if !(r.CPU > 0) || !(r.Dev > 0) {
			t.Errorf("%s: throughputs %g, %g", r.Name, r.CPU, r.Dev)
		}
	}
	if v := verdict(rs, "cuda", nil); !strings.HasPrefix(v, "VERDICT FAIL maxdiff=") {
		t.Errorf("verdict on cpu for cuda: %q, want FAIL", v)
	}
	v := verdict(rs, "cpu", nil)
	if !strings.HasPrefix(v, "VERDICT PASS maxdiff=") || !strings.Contains(v, " agree=100.0000% cpu=") || !strings.Contains(v, "/s ratio=") {
		t.Errorf("verdict %q", v)
	}
	if v := verdict(nil, "cuda", os.ErrNotExist); v != "VERDICT FAIL maxdiff=- agree=- cpu=-/s cuda=-/s ratio=-" {
		t.Errorf("verdict of a failed check: %q", v)
	}
}

// writeImages writes n random 28x28 uint8 images as an IDX file.
func writeImages(t *testing.T, path string, n int, rng *rand.Rand) {
	t.Helper()
	b := []byte{0, 0, 0x08, 3, 0, 0, 0, byte(n), 0, 0, 0, 28, 0, 0, 0, 28}
	for i := 0; i < n*784; i++ {
		b = append(b, byte(rng.IntN(256)))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
