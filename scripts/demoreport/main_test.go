package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/pipeline/train"
)

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// evalOf returns an eval result with the given errors out of 10,000 (synthetic test input).
func evalOf(errs int, agree *float64) *eval.Result {
	return &eval.Result{Metrics: &eval.Classification{N: 10000, Classes: 10, Correct: 10000 - errs,
		Errors: errs, Accuracy: float64(10000-errs) / 10000, MeanNLL: 0.05, ECE: 0.01}, Agreement: agree}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	agree := 0.995
	writeJSON(t, filepath.Join(dir, "eval-teacher.json"), evalOf(90, nil))
	writeJSON(t, filepath.Join(dir, "eval-baseline.json"), evalOf(130, &agree))
	writeJSON(t, filepath.Join(dir, "eval-distilled.json"), evalOf(100, &agree))
	writeJSON(t, filepath.Join(dir, "eval-distilled-onnx.json"), evalOf(100, nil))
	for _, name := range []string{"baseline", "distilled"} {
		var recs []train.EpochMetrics
		for e := 1; e <= 3; e++ {
			errs := 400 / e
			recs = append(recs, train.EpochMetrics{Epoch: e, Loss: 1 / float64(e), EvalErrors: &errs, Seconds: 10})
		}
		if err := train.WriteMetricsFile(filepath.Join(dir, name+".jsonl"), recs); err != nil {
			t.Fatal(err)
		}
	}
	teacher := filepath.Join(dir, "teacher.onnx")
	if err := os.WriteFile(teacher, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := run(dir, teacher, "", "EPOCHS=3 make demo", settings{T: 20, Alpha: 0.7, Jitter: 2, Dataset: "MNIST", Teacher: "784-1200-1200-10", Student: "784-800-800-10", Paper: true}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 99.10% | 90 | 67 | — |", "| 98.70% | 130 | 146 | 99.50% |", "| 99.00% | 100 | 74 | 99.50% |", "(hard labels, no jitter)", "(T=20, alpha=0.7, jitter 2)", "| 3 | 30 s |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"`EPOCHS=3 make demo`", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "makes 100 errors", "curves.png", "errors.png"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	for _, png := range []string{"curves.png", "errors.png"} {
		b, err := os.ReadFile(filepath.Join(dir, png))
		if err != nil || len(b) < 8 || string(b[1:4]) != "PNG" {
			t.Errorf("%s: not a PNG (err %v)", png, err)
		}
	}

	// With the jittered baseline's files the table has its row, without a paper figure.
	writeJSON(t, filepath.Join(dir, "eval-baseline-jitter.json"), evalOf(115, &agree))
	recs := []train.EpochMetrics{{Epoch: 1, Loss: 0.5, Seconds: 7}}
	if err := train.WriteMetricsFile(filepath.Join(dir, "baseline-jitter.jsonl"), recs); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(dir, teacher, "", "make demo", settings{T: 20, Alpha: 0.7, Jitter: 2, Dataset: "MNIST", Teacher: "784-1200-1200-10", Student: "784-800-800-10", Paper: true}, &out); err != nil {
		t.Fatal(err)
	}
	if want := "| baseline student 784-800-800-10 (hard labels, jitter 2) | 98.85% | 115 | — | 99.50% |"; !strings.Contains(out.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, out.String())
	}
	if n := strings.Count(out.String(), "\n"); n != 6 {
		t.Errorf("table has %d lines, want 6 (header, rule, four models):\n%s", n, out.String())
	}

	// A missing eval file is an error naming it.
	os.Remove(filepath.Join(dir, "eval-baseline.json"))
	if err := run(dir, teacher, "", "make demo", settings{T: 20, Alpha: 0.7, Jitter: 2, Dataset: "MNIST", Teacher: "784-1200-1200-10", Student: "784-800-800-10", Paper: true}, &out); err == nil || !strings.Contains(err.Error(), "eval-baseline.json") {
		t.Errorf("without eval-baseline.json: error %v", err)
	}
}
