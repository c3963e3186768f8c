package onnx_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
)

// TestExportParity runs exported graphs under onnxruntime and compares the logits with the naive
// float64 forward pass of the same weights. Tolerance 1e-4 (float32 accumulation over at most a
// few dozen terms of size < 1 stays far below it); fp16 exports are compared with the reference on
// the fp16-rounded weights at 1e-4 and with the original weights at 5e-3 (float16 has an 11-bit
// significand: relative rounding 2^-11 ≈ 5e-4 per weight, summed over the layers; measured about 2.5e-4 here).
// int8 exports: 2e-2 against the dequantised weights and 3e-2 against the original ones. Each
// weight moves by at most max|w|/254 ≈ 2e-3 of its channel here; and onnxruntime's default
// (extended) graph optimisation fuses DequantizeLinear + Gemm into com.microsoft MatMulNBits
// (bits 8, block 32) at accuracy level 4, which quantises the activations to int8 per block of 32
// too, moving each by up to max|a|/254 of its block. Over a few dozen terms of inputs in [-1, 1]
// both stay below 1e-2 (measured 1e-3 to 6e-3).
func TestExportParity(t *testing.T) {
	onnxtest.RequireLibrary(t)
	const n = 7
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := exportBytes(t, tc.g)
			s, err := onnx.Open(path, onnx.Options{Output: onnx.OutputLogits, Threads: 1, Batch: 4})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if s.Classes() != tc.g.Classes {
				t.Errorf("Classes() = %d, want %d", s.Classes(), tc.g.Classes)
			}
			size := 1
			for _, d := range tc.g.InputShape {
				size *= d
			}
			rng := rand.New(rand.NewPCG(42, uint64(len(tc.name))))
			x := randVals(rng, n*size, 1)
			got, err := s.Logits(context.Background(), x, n)
			if err != nil {
				t.Fatalf("Logits: %v", err)
			}
			check := func(what string, want []float32, tol float64) {
				t.Helper()
				if len(got) != len(want) {
					t.Fatalf("%s: got %d logits, want %d", what, len(got), len(want))
				}
				worst := 0.0
				for i := range want {
					worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
				}
				if worst > tol {
					t.Errorf("%s: max abs diff %.3g > %.0e", what, worst, tol)
				}
				t.Logf("%s: max abs diff %.3g", what, worst)
			}
			switch {
			case tc.g.FP16:
				check("fp16 weights", forward(roundFP16(tc.g), x, n), 1e-4)
				check("fp32 weights", forward(tc.g, x, n), 5e-3)
			case tc.g.Int8:
				check("int8 weights", forward(roundInt8(t, tc.g), x, n), 2e-2)
				check("fp32 weights", forward(tc.g, x, n), 3e-2)
			default:
				check("reference", forward(tc.g, x, n), 1e-4)
			}
		})
	}
}

// TestExportModelInfo checks that ReadModelInfo shows what Export wrote: names, the dynamic batch
// axis, opset, producer and metadata.
func TestExportModelInfo(t *testing.T) {
	g := testCNN(3)
	g.Opset = 11
	path, _ := exportBytes(t, g)
	info, err := onnx.ReadModelInfo(path)
	if err != nil {
		t.Fatalf("ReadModelInfo: %v", err)
	}
	if info.Opset != 11 || info.Producer != onnx.ProducerName || info.ProducerVersion != onnx.ProducerVersion {
		t.Errorf("opset %d, producer %q %q", info.Opset, info.Producer, info.ProducerVersion)
	}
	if len(info.Inputs) != 1 || info.Inputs[0].Name != "pixels" || len(info.Inputs[0].Shape) != 4 || info.Inputs[0].Shape[0] != -1 ||
		info.Inputs[0].DimNames[0] != onnx.BatchDim || info.Inputs[0].Shape[1] != 2 {
		t.Errorf("inputs %+v", info.Inputs)
	}
	if len(info.Outputs) != 1 || info.Outputs[0].Name != "scores" || info.Outputs[0].Shape[1] != 4 || info.Outputs[0].ElemType != "float32" {
		t.Errorf("outputs %+v", info.Outputs)
	}
	if info.Metadata["distill.classes"] != "4" || len(info.Metadata) != 1 {
		t.Errorf("metadata %v", info.Metadata)
	}
}
