package export

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/nn"
	"github.com/distillgo/distill/internal/nn/nntest"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
	"github.com/distillgo/distill/onnx/purego/direct"
	"github.com/distillgo/distill/student"
)

// TestOperatorConformance is the inference face of the operators' conformance suite: for every
// case of nntest (each operator of internal/nn in at least one), with every tensor random
// (batchnorm's running statistics too), exported with and without folded batchnorms:
//   - onnxruntime and the pure-Go runtime (direct) give the student's evaluation-mode logits at
//     batch 1, 3 and 64;
//   - export -> import -> export gives the same bytes, and the imported student the same logits;
//   - float16 and, where the case has weights to quantise, int8 exports pass Verify under both
//     runtimes.
func TestOperatorConformance(t *testing.T) {
	onnxtest.RequireLibrary(t)
	ctx := context.Background()
	runtimes := []struct {
		name string
		rt   model.Runtime
	}{{"onnxruntime", &onnx.Runtime{}}, {"direct", direct.Runtime{}}}
	for _, c := range nntest.Cases {
		t.Run(c.Name, func(t *testing.T) {
			spec := c.Parse()
			net, err := student.NewNet(spec, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			nntest.Randomize(spec, net.Tensors(), 2)
			dir := t.TempDir()
			for _, fold := range []bool{false, true} {
				t.Run(fmt.Sprintf("fold=%v", fold), func(t *testing.T) {
					path := filepath.Join(dir, fmt.Sprintf("fold-%v.onnx", fold))
					if err := Student(net, path, GraphOptions{FoldBN: fold}); err != nil {
						t.Fatal(err)
					}
					for _, n := range []int{1, 3, 64} {
						x := nntest.Inputs(spec, n, uint64(n))
						want, err := net.Forward(x, n)
						if err != nil {
							t.Fatal(err)
						}
						for _, r := range runtimes {
							m, err := r.rt.Open(path, model.Options{Output: model.OutputLogits})
							if err != nil {
								t.Fatalf("%s: %v", r.name, err)
							}
							got, err := m.Logits(ctx, x, n)
							m.Close()
							if err != nil {
								t.Fatalf("%s: %v", r.name, err)
							}
							if d := maxRelDiff(got, want); d > 1e-4 {
								t.Errorf("%s at batch %d: logits differ from the student's by %.3g (relative)", r.name, n, d)
							}
						}
					}
					// Export -> import -> export: the same bytes, the same logits.
					back, err := Import(path)
					if err != nil {
						t.Fatalf("import: %v", err)
					}
					defer back.Close()
					again := filepath.Join(dir, fmt.Sprintf("again-%v.onnx", fold))
					if err := Student(back, again, GraphOptions{FoldBN: fold}); err != nil {
						t.Fatal(err)
					}
					a, _ := os.ReadFile(path)
					b, _ := os.ReadFile(again)
					if !bytes.Equal(a, b) {
						t.Errorf("export -> import -> export changed the file (%d and %d bytes)", len(a), len(b))
					}
					x := nntest.Inputs(spec, 5, 9)
					want, _ := net.Forward(x, 5)
					got, err := back.Forward(x, 5)
					if err != nil {
						t.Fatal(err)
					}
					if d := maxRelDiff(got, want); d > 1e-5 {
						t.Errorf("the imported student's logits differ by %.3g (relative)", d)
					}
					// --init-from: every tensor, buffers included; unfolded, exactly the student's;
					// folded batchnorms are refused, naming the flag that keeps them.
					params, err := ImportParams(path, spec)
					folds := false
					if g, gerr := spec.Graph(); gerr == nil {
						for _, n := range g.Nodes {
							folds = folds || (fold && nn.Folded(g, n.Index))
						}
					}
					switch {
					case folds && (err == nil || !strings.Contains(err.Error(), "--fold-bn=false")):
						t.Errorf("ImportParams of folded batchnorms: %v, want an error naming --fold-bn=false", err)
					case !folds && err != nil:
						t.Fatalf("ImportParams: %v", err)
					}
					if !fold {
						for name, v := range net.ParamValues() {
							if !slices.Equal(params[name], v) {
								t.Errorf("ImportParams: %s differs from the student's", name)
							}
						}
					}
				})
			}
			for _, form := range []struct {
				name string
				o    GraphOptions
				ok   bool
			}{{"fp16", GraphOptions{FP16: true, FoldBN: true}, true}, {"int8", GraphOptions{Int8: true, FoldBN: true}, c.Int8}} {
				if !form.ok {
					continue
				}
				path := filepath.Join(dir, form.name+".onnx")
				if err := Student(net, path, form.o); err != nil {
					t.Fatalf("%s: %v", form.name, err)
				}
				x := nntest.Inputs(spec, 16, 4)
				for _, r := range runtimes {
					if rep, err := Verify(ctx, r.rt, net, path, x, 16); err != nil {
						t.Errorf("%s export under %s: %v (%+v)", form.name, r.name, err, rep)
					}
				}
				// It imports back (the widened or dequantised weights) and exports to the same bytes.
				back, err := Import(path)
				if err != nil {
					t.Errorf("%s export does not import: %v", form.name, err)
					continue
				}
				again := filepath.Join(dir, form.name+"-again.onnx")
				if err := Student(back, again, form.o); err != nil {
					t.Errorf("%s re-export: %v", form.name, err)
				}
				back.Close()
				a, _ := os.ReadFile(path)
				b, _ := os.ReadFile(again)
				if !bytes.Equal(a, b) {
					t.Errorf("%s export -> import -> export changed the file (%d and %d bytes)", form.name, len(a), len(b))
				}
			}
		})
	}
}

// maxRelDiff is the largest |a−b| over 1 + the largest |b|.
func maxRelDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d, m float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		if a[i] != a[i] || b[i] != b[i] {
			return math.Inf(1)
		}
		m = math.Max(m, math.Abs(float64(b[i])))
	}
	return d / (1 + m)
}
