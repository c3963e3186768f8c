package purego_test

import (
	"math"
	"slices"
	"testing"

	"github.com/distillgo/distill/onnx/purego"
)

// TestBatchOneWorkaround shows the gorgonnx fault that restoring the biases avoids: with graphs
// run on a single row, gorgonnx's Gemm writes its output into the bias (both have as many
// elements), so the second single-sample call returns wrong logits. With the workaround all are
// right.
func TestBatchOneWorkaround(t *testing.T) {
	s := mlp(7, 6, 8, 4)
	path := write(t, s)
	x := []float32{0.1, -0.2, 0.3, 0.4, -0.5, 0.6}
	want := reference(s, x, 1)
	worst := func() float64 {
		m, err := purego.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		var d float64
		for range 3 {
			got, err := m.Predict(slices.Clone(x), 1)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				d = math.Max(d, math.Abs(float64(got[i]-want[i])))
			}
		}
		return d
	}
	if d := worst(); d > 1e-4 {
		t.Errorf("with the workaround, three single-sample calls differ from the reference by %g", d)
	}
	restore := purego.SetGuardBiases(false)
	defer restore()
	if d := worst(); d < 1e-2 {
		t.Errorf("without the workaround the calls differ by only %g: has gorgonnx's Gemm been fixed? then the biases need no restoring", d)
	}
}
