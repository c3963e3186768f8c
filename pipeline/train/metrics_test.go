package train

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sampleMetrics() []EpochMetrics {
	f := func(v float64) *float64 { return &v }
	e := 3
	return []EpochMetrics{
		{Epoch: 1, Loss: 2.1, SoftLoss: 2.5, HardLoss: 1.2, EvalLoss: f(0.9), EvalAccuracy: f(0.7), EvalErrors: &e, SamplesPerSec: 1000, Seconds: 1},
		{Epoch: 2, Loss: 1.1, SoftLoss: 1.5, HardLoss: 0.2, EvalLoss: f(0.5), EvalAccuracy: f(0.9), Agreement: f(0.95), SamplesPerSec: 1100, Seconds: 0.9},
		{Epoch: 3, Loss: 0.6, SoftLoss: 0.7, HardLoss: 0.1, SamplesPerSec: 1200, Seconds: 0.8},
	}
}

func TestMetricsFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.jsonl")
	want := sampleMetrics()
	if err := WriteMetricsFile(path, want); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != len(want) {
		t.Errorf("%d lines, want %d", n, len(want))
	}
	if strings.Contains(strings.Split(string(data), "\n")[2], "eval_") {
		t.Errorf("epoch without eval data has eval fields: %s", data)
	}
	got, err := ReadMetrics(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	if _, err := ReadMetrics(strings.NewReader("{\"epoch\":1}\n{bad\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad line: error %v, want one naming line 2", err)
	}
}

func TestPlotCurves(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		recs []EpochMetrics
	}{{"with eval", sampleMetrics()}, {"without eval", sampleMetrics()[2:]}} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".png")
			if err := PlotCurves(path, tt.recs); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatalf("decode %s: %v", path, err)
			}
			if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
				t.Errorf("image %v too small", b)
			}
		})
	}
	if err := PlotCurves(filepath.Join(dir, "x.png"), nil); err == nil {
		t.Error("PlotCurves with no epochs: no error")
	}
}

func FuzzReadMetrics(f *testing.F) {
	f.Add([]byte("{\"epoch\":1,\"loss\":0.5}\n"))
	f.Add([]byte("\n\n{\"epoch\":2,\"eval_accuracy\":0.9}\n{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := ReadMetrics(bytes.NewReader(data))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		path := filepath.Join(t.TempDir(), "m.jsonl")
		if err := WriteMetricsFile(path, recs); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		again, err := ReadMetrics(&buf)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if len(again) != len(recs) {
			t.Fatalf("re-read %d records, want %d", len(again), len(recs))
		}
	})
}
