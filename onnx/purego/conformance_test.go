package purego_test

import (
	"testing"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/teachertest"
	"github.com/distillgo/distill/onnx/purego"
)

// conformanceCases are the models run through internal/teachertest: an MLP, a small CNN and an
// fp16 export, each with a graph batch of 4 so that n = 1, 3, 4, 5 and 9 cover a single sample
// (the batch-1 workaround), padded odd runs, a full run and more than one run.
func conformanceCases() map[string]netSpec {
	fp16 := mlp(3, 6, 8, 4)
	fp16.fp16 = true
	fp16.checksum = true
	fp16.meta = [][2]string{{"distill.preprocess", `{"scale":255}`}, {"distill.spec", "{}"}}
	return map[string]netSpec{
		"mlp":      mlp(1, 6, 8, 4),
		"cnn":      cnn(2, 2, 6, 6, 3, 5),
		"mlp fp16": fp16,
	}
}

func TestConformance(t *testing.T) {
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
					m, err := purego.Runtime{}.Open(path, model.Options{Batch: batch, Output: model.OutputLogits})
					if err != nil {
						tb.Fatalf("open: %v", err)
					}
					return m
				},
				Dim:       dim,
				Classes:   s.classes,
				Reference: func(x []float32, n int) []float32 { return reference(s, x, n) },
				// float32 sums of at most 72 products of values near 1 against float64.
				Tol:       1e-4,
				MaxBatch:  batch,
				ErrClosed: purego.ErrClosed,
			})
		})
	}
}
