package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/pipeline/train"
)

// writeRun writes a run's metrics (two epochs, the last with acc and errs) and wall time.
func writeRun(t *testing.T, dir, name string, acc float64, errs int, secs float64) {
	t.Helper()
	first, last := 0.5, acc
	e0, e1 := 5000, errs
	ms := []train.EpochMetrics{{Epoch: 1, EvalAccuracy: &first, EvalErrors: &e0}, {Epoch: 2, EvalAccuracy: &last, EvalErrors: &e1}}
	if err := train.WriteMetricsFile(filepath.Join(dir, name+".jsonl"), ms); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".seconds"), []byte(fmt.Sprintln(secs)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, "mlp-alone-s1", 0.88, 1200, 80)
	writeRun(t, dir, "mlp-alone-s2", 0.89, 1100, 90)
	writeRun(t, dir, "mlp-kl-s1", 0.90, 1000, 100)
	writeRun(t, dir, "mlp-kl-s2", 0.91, 900, 110)
	writeRun(t, dir, "mlp-dkd-s1", 0.895, 1050, 100) // one seed only: the other is not run yet
	if err := os.WriteFile(filepath.Join(dir, "eval-teacher.json"), []byte(`{"model":"t.onnx","metrics":{"accuracy":0.93,"errors":700}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := run(dir, []string{"mlp"}, []string{"alone", "kl", "dkd"}, []string{"1", "2"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| teacher | t.onnx | 93.00% | — | 700 | — | — |\n",
		"| mlp | alone | 88.50% | 88.00–89.00% | 1200, 1100 | 2 | 85 s |\n",
		"| mlp | kl | 90.50% | 90.00–91.00% | 1000, 900 | 2 | 105 s |\n",
		"| mlp | dkd | 89.50% | 89.50–89.50% | 1050 | 1 | 100 s |\n",
		"mlp: best distilled kl, +2.00 points against alone (means 90.50% and 88.50%; above the alone range by 1.00 points)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunBadFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mlp-alone-s1.jsonl"), []byte("{not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(dir, []string{"mlp"}, []string{"alone"}, []string{"1"}, &strings.Builder{}); err == nil {
		t.Error("a damaged metrics file gave no error")
	}
}
