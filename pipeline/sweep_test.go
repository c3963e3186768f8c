package pipeline

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/student"
)

func TestSweepRunName(t *testing.T) {
	tests := []struct {
		t, a float64
		want string
	}{
		{20, 0.7, "T20-a0.7"},
		{1, 0, "T1-a0"},
		{2.5, 1, "T2.5-a1"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := SweepRunName(tt.t, tt.a); got != tt.want {
				t.Errorf("SweepRunName(%v, %v) = %q, want %q", tt.t, tt.a, got, tt.want)
			}
		})
	}
}

func sweepFixture(t *testing.T) (*fixture, SweepOptions) {
	t.Helper()
	f := newFixture(t, 200, 0)
	targets := filepath.Join(f.dir, "targets.safetensors")
	writeSoftTargets(t, targets, f.data, 1, synthClasses)
	o := SweepOptions{Train: f.opts("unused.ckpt"), Temperatures: []float64{1, 4}, Alphas: []float64{0.5, 1},
		Dir: filepath.Join(f.dir, "sweep")}
	o.Train.SoftTargets = targets
	o.Train.Epochs = 3
	return f, o
}

func TestSweep(t *testing.T) {
	_, o := sweepFixture(t)
	o.FineEpochs, o.FineLR = 1, 1e-3
	var log strings.Builder
	res, err := Sweep(context.Background(), o, &log)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 {
		t.Fatalf("%d results, want 4", len(res))
	}
	order := []string{"T1-a0.5", "T1-a1", "T4-a0.5", "T4-a1"}
	for i, r := range res {
		if got := SweepRunName(r.Temperature, r.Alpha); got != order[i] {
			t.Errorf("result %d is %s, want %s", i, got, order[i])
		}
		if r.Epochs != 3 || r.Accuracy < 0.9 || r.Errors < 0 || r.Seconds <= 0 {
			t.Errorf("%s: %+v: want 3 epochs, accuracy >= 0.9", order[i], r)
		}
		ck, err := student.LoadCheckpoint(r.Checkpoint)
		if err != nil {
			t.Fatal(err)
		}
		var prov Provenance
		if err := json.Unmarshal([]byte(ck.Meta[MetaProvenance]), &prov); err != nil {
			t.Fatal(err)
		}
		// The last stage ran at the fine learning rate; T and alpha are the cell's.
		if prov.Temperature != r.Temperature || prov.Alpha != r.Alpha || prov.LR != 1e-3 || prov.Mode != ModeOffline {
			t.Errorf("%s: provenance T=%v alpha=%v lr=%v mode=%s", order[i], prov.Temperature, prov.Alpha, prov.LR, prov.Mode)
		}
	}
	b, err := os.ReadFile(filepath.Join(o.Dir, "sweep.json"))
	if err != nil {
		t.Fatal(err)
	}
	var saved []SweepResult
	if err := json.Unmarshal(b, &saved); err != nil || len(saved) != 4 {
		t.Fatalf("sweep.json: %d results, err %v", len(saved), err)
	}

	// Run again: every run is complete, so nothing is trained and the results are read back.
	log.Reset()
	again, err := Sweep(context.Background(), o, &log)
	if err != nil {
		t.Fatal(err)
	}
	for i := range res {
		if again[i].Accuracy != res[i].Accuracy || again[i].Errors != res[i].Errors {
			t.Errorf("rerun %d: %+v, first run %+v", i, again[i], res[i])
		}
	}
	if strings.Count(log.String(), "nothing to do") != 4 {
		t.Errorf("rerun trained again:\n%s", log.String())
	}
}

// A sweep interrupted after the first stage of a run resumes it to the same weights as a run
// that was never interrupted.
func TestSweepResumeExact(t *testing.T) {
	_, o := sweepFixture(t)
	o.Temperatures, o.Alphas = []float64{4}, []float64{0.5}
	o.FineEpochs, o.FineLR = 1, 1e-3
	want, err := Sweep(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantCk, err := student.LoadCheckpoint(want[0].Checkpoint)
	if err != nil {
		t.Fatal(err)
	}

	o2 := o
	o2.Dir = o.Dir + "-2"
	// First stage only, as if the sweep had been stopped there.
	first := o2.Train
	first.Temperature, first.Alpha, first.Epochs = 4, 0.5, 2
	if err := os.MkdirAll(o2.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	first.Out = filepath.Join(o2.Dir, "T4-a0.5.ckpt")
	first.Metrics = filepath.Join(o2.Dir, "T4-a0.5.jsonl")
	if _, err := Train(context.Background(), first, nil); err != nil {
		t.Fatal(err)
	}
	got, err := Sweep(context.Background(), o2, nil)
	if err != nil {
		t.Fatal(err)
	}
	gotCk, err := student.LoadCheckpoint(got[0].Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range wantCk.Params {
		g := gotCk.Params[name]
		if len(g) != len(w) {
			t.Fatalf("param %s: %d values, want %d", name, len(g), len(w))
		}
		for i := range w {
			if g[i] != w[i] {
				t.Fatalf("param %s[%d] = %v after resuming, %v uninterrupted", name, i, g[i], w[i])
			}
		}
	}
	if got[0].Errors != want[0].Errors {
		t.Errorf("errors %d after resuming, %d uninterrupted", got[0].Errors, want[0].Errors)
	}
}

func TestSweepBadOptions(t *testing.T) {
	_, base := sweepFixture(t)
	tests := []struct {
		name   string
		change func(o *SweepOptions)
		want   string
	}{
		{"no soft targets", func(o *SweepOptions) { o.Train.SoftTargets = "" }, "no soft-target file"},
		{"no eval data", func(o *SweepOptions) { o.Train.EvalData = "" }, "no eval data"},
		{"empty grid", func(o *SweepOptions) { o.Alphas = nil }, "empty grid"},
		{"no folder", func(o *SweepOptions) { o.Dir = "" }, "no output folder"},
		{"bad temperature", func(o *SweepOptions) { o.Temperatures = []float64{0} }, "temperature 0"},
		{"bad alpha", func(o *SweepOptions) { o.Alphas = []float64{1.5} }, "alpha 1.5"},
		{"repeat", func(o *SweepOptions) { o.Alphas = []float64{0.5, 0.5} }, "twice"},
		{"fine epochs too many", func(o *SweepOptions) { o.FineEpochs, o.FineLR = 3, 1e-4 }, "fine-tuning epochs 3"},
		{"fine lr", func(o *SweepOptions) { o.FineEpochs, o.FineLR = 1, 0 }, "fine-tuning learning rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			tt.change(&o)
			_, err := Sweep(context.Background(), o, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestFormatSweepTable(t *testing.T) {
	res := []SweepResult{
		{Temperature: 1, Alpha: 0.5, Accuracy: 0.9812, Errors: 188},
		{Temperature: 1, Alpha: 0.9, Accuracy: 0.9850, Errors: 150},
		{Temperature: 20, Alpha: 0.5, Accuracy: 0.9901, Errors: 99},
	}
	got := FormatSweepTable(res, []float64{1, 20}, []float64{0.5, 0.9})
	want := "| T \\ alpha | 0.5 | 0.9 |\n" +
		"|---:|---:|---:|\n" +
		"| 1 | 98.12% (188) | 98.50% (150) |\n" +
		"| 20 | **99.01% (99)** | |\n"
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}
