package sweep

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/internal/outputs"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/internal/synth"
	"github.com/distillgo/distill/pipeline/provenance"
	"github.com/distillgo/distill/pipeline/train"
	"github.com/distillgo/distill/student"
)

func TestRunName(t *testing.T) {
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
			if got := RunName(tt.t, tt.a); got != tt.want {
				t.Errorf("RunName(%v, %v) = %q, want %q", tt.t, tt.a, got, tt.want)
			}
		})
	}
}

func sweepFixture(t *testing.T) (*synth.Fixture, Options) {
	t.Helper()
	f := synth.NewFixture(t, 200, 0)
	targets := filepath.Join(f.Dir, "targets.safetensors")
	synth.WriteSoftTargets(t, targets, f.Data, 1, synth.Classes)
	tr := train.DefaultOptions()
	tr.Spec, tr.Data, tr.Labels = f.Spec, f.Data, f.Labels
	tr.EvalData, tr.EvalLabels = f.EvalData, f.EvalLabels
	tr.Preprocess = dataset.Preprocess{Scale: 255}
	tr.Epochs, tr.Batch, tr.LR, tr.Seed = 3, 32, 1e-2, 3
	tr.SoftTargets = targets
	o := Options{Train: tr, Temperatures: []float64{1, 4}, Alphas: []float64{0.5, 1}, Dir: filepath.Join(f.Dir, "sweep")}
	return f, o
}

// fineSchedule runs the last of the fixture's 3 epochs at 1e-3.
var fineSchedule = train.Schedule{Steps: []train.Step{{End: 2, LR: 1e-2}, {End: 3, LR: 1e-3}}}

func TestSweep(t *testing.T) {
	_, o := sweepFixture(t)
	o.Train.Schedule = fineSchedule
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
		if got := RunName(r.Temperature, r.Alpha); got != order[i] {
			t.Errorf("result %d is %s, want %s", i, got, order[i])
		}
		if r.Epochs != 3 || r.Accuracy < 0.9 || r.Errors < 0 || r.Seconds <= 0 {
			t.Errorf("%s: %+v: want 3 epochs, accuracy >= 0.9", order[i], r)
		}
		ck, err := student.LoadCheckpoint(r.Checkpoint)
		if err != nil {
			t.Fatal(err)
		}
		var prov provenance.Record
		if err := json.Unmarshal([]byte(ck.Meta[meta.Provenance]), &prov); err != nil {
			t.Fatal(err)
		}
		// The schedule ended at the fine learning rate; T and alpha are the cell's.
		if prov.Temperature != r.Temperature || prov.Alpha != r.Alpha || prov.Schedule != "2:0.01,3:0.001" ||
			ck.OptimizerHyper["lr"] != 1e-3 || prov.Mode != provenance.ModeOffline {
			t.Errorf("%s: provenance T=%v alpha=%v schedule=%q lr=%v mode=%s", order[i], prov.Temperature, prov.Alpha, prov.Schedule, ck.OptimizerHyper["lr"], prov.Mode)
		}
	}
	b, err := os.ReadFile(filepath.Join(o.Dir, "sweep.json"))
	if err != nil {
		t.Fatal(err)
	}
	var saved []Result
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

// A sweep interrupted within a run resumes it to the same weights as a run that was never
// interrupted.
func TestSweepResumeExact(t *testing.T) {
	_, o := sweepFixture(t)
	o.Temperatures, o.Alphas = []float64{4}, []float64{0.5}
	o.Train.Schedule = fineSchedule
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
	// Two epochs only, as if the sweep had been stopped there.
	first := o2.Train
	first.Temperature, first.Alpha, first.Epochs, first.Schedule = 4, 0.5, 2, train.Schedule{}
	if err := os.MkdirAll(o2.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	first.Checkpoint = filepath.Join(o2.Dir, "T4-a0.5.ckpt")
	first.Metrics = filepath.Join(o2.Dir, "T4-a0.5.jsonl")
	if _, err := train.Train(context.Background(), first, nil, nil); err != nil {
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
		change func(o *Options)
		want   string
	}{
		{"no soft targets", func(o *Options) { o.Train.SoftTargets = "" }, "no soft-target file"},
		{"no eval data", func(o *Options) { o.Train.EvalData = "" }, "no eval data"},
		{"empty grid", func(o *Options) { o.Alphas = nil }, "empty grid"},
		{"no folder", func(o *Options) { o.Dir = "" }, "no output folder"},
		{"bad temperature", func(o *Options) { o.Temperatures = []float64{0} }, "Train.Temperature: 0 must be positive"},
		{"bad alpha", func(o *Options) { o.Alphas = []float64{1.5} }, "Train.Alpha: 1.5 must be in [0, 1]"},
		{"repeat", func(o *Options) { o.Alphas = []float64{0.5, 0.5} }, "twice"},
		{"schedule ends early", func(o *Options) { o.Train.Schedule = train.Schedule{Steps: []train.Step{{End: 2, LR: 1e-3}}} }, "the steps end at epoch 2, but the run has 3 epochs"},
		{"bad shared option", func(o *Options) { o.Train.Batch = 0 }, "Train.Batch: 0 must be at least 1"},
		{"unknown loss", func(o *Options) { o.Losses = []Loss{{Kind: "l1"}} }, `Losses: l1: "l1": want kl, mse or dkd`},
		{"standardised mse", func(o *Options) { o.Losses = []Loss{{Kind: "mse", Standardize: true}} }, "Losses: mse+std: goes with loss kl or dkd"},
		{"repeated loss", func(o *Options) { o.Losses = []Loss{{Kind: "kl"}, {Kind: "kl"}} }, "Losses: the grid names kl-T1-a0.5 twice"},
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

func TestFormatTable(t *testing.T) {
	res := []Result{
		{Temperature: 1, Alpha: 0.5, Accuracy: 0.9812, Errors: 188},
		{Temperature: 1, Alpha: 0.9, Accuracy: 0.9850, Errors: 150},
		{Temperature: 20, Alpha: 0.5, Accuracy: 0.9901, Errors: 99},
	}
	got := FormatTable(res, []float64{1, 20}, []float64{0.5, 0.9})
	want := "| T \\ alpha | 0.5 | 0.9 |\n" +
		"|---:|---:|---:|\n" +
		"| 1 | 98.12% (188) | 98.50% (150) |\n" +
		"| 20 | **99.01% (99)** | |\n"
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

// TestSweepLosses runs a grid with a loss axis: names, order, the loss each run trained with, and
// the table's loss column.
func TestSweepLosses(t *testing.T) {
	_, o := sweepFixture(t)
	o.Temperatures, o.Alphas = []float64{4}, []float64{0.5}
	o.Train.DKDWarmup = 0
	for _, s := range []string{"kl", "dkd", "kl+std"} {
		l, err := ParseLoss(s)
		if err != nil {
			t.Fatal(err)
		}
		o.Losses = append(o.Losses, l)
	}
	res, err := Sweep(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, loss string }{{"kl-T4-a0.5", "kl"}, {"dkd-T4-a0.5", "dkd"}, {"kl+std-T4-a0.5", "kl"}}
	if len(res) != len(want) {
		t.Fatalf("%d results, want %d", len(res), len(want))
	}
	for i, r := range res {
		if got := LossRunName(r.Loss, r.Temperature, r.Alpha); got != want[i].name || filepath.Base(r.Checkpoint) != got+".ckpt" {
			t.Errorf("result %d: %s at %s, want %s", i, got, r.Checkpoint, want[i].name)
		}
		ck, err := student.LoadCheckpoint(r.Checkpoint)
		if err != nil {
			t.Fatal(err)
		}
		var prov provenance.Record
		if err := json.Unmarshal([]byte(ck.Meta[meta.Provenance]), &prov); err != nil {
			t.Fatal(err)
		}
		if prov.Loss != want[i].loss || prov.StandardizeLogits != strings.HasSuffix(r.Loss, "+std") {
			t.Errorf("%s trained with loss %q standardised %v", want[i].name, prov.Loss, prov.StandardizeLogits)
		}
	}
	table := FormatTable(res, o.Temperatures, o.Alphas)
	if !strings.HasPrefix(table, "| loss | T \\ alpha | 0.5 |\n|---|---:|---:|\n| kl | 4 |") || !strings.Contains(table, "| kl+std | 4 |") {
		t.Errorf("table:\n%s", table)
	}
}

func TestParseLoss(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Loss
		err  bool
	}{
		{"kl", Loss{Kind: "kl"}, false},
		{" dkd+std", Loss{Kind: "dkd", Standardize: true}, false},
		{"+std", Loss{}, true},
		{"kl+std+std", Loss{}, true},
		{"", Loss{}, true},
	} {
		got, err := ParseLoss(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseLoss(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestSweepRerunChangedSettings reruns a finished 2-epoch sweep (a copy of its folder for each
// case) with one setting changed: a run whose checkpoint records another learning rate, seed,
// batch or schedule, one past the sweep's epochs and one evaluated on other eval data is trained
// afresh with a line saying why; a longer run, or a schedule that extends the constant rate, is
// resumed; the same settings train nothing.
func TestSweepRerunChangedSettings(t *testing.T) {
	f, o := sweepFixture(t)
	o.Temperatures, o.Alphas = []float64{4}, []float64{0.5}
	o.Train.Epochs = 2
	if _, err := Sweep(context.Background(), o, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(o *Options)
		want   string // the line that says why the run is redone; "" for none
		epoch  int    // the epoch the checkpoint ends at
	}{
		{"same settings", func(o *Options) {}, "", 2},
		{"lr", func(o *Options) { o.Train.LR = 1e-3 }, "T4-a0.5: its checkpoint was trained with lr 0.01, this sweep gives 0.001: training it afresh", 2},
		{"seed", func(o *Options) { o.Train.Seed = 4 }, "trained with seed 3, this sweep gives 4: training it afresh", 2},
		{"batch", func(o *Options) { o.Train.Batch = 16 }, "trained with batch 32, this sweep gives 16: training it afresh", 2},
		{"schedule changed", func(o *Options) {
			o.Train.Schedule = train.Schedule{Steps: []train.Step{{End: 1, LR: 1e-2}, {End: 2, LR: 1e-3}}}
		},
			"trained with schedule constant 0.01, this sweep gives 1:0.01,2:0.001 (epoch 2 ran at 0.01", 2},
		{"schedule extended", func(o *Options) { o.Train.Epochs, o.Train.Schedule = 3, fineSchedule }, "", 3},
		{"longer", func(o *Options) { o.Train.Epochs = 3 }, "", 3},
		{"shorter", func(o *Options) { o.Train.Epochs = 1 }, "its checkpoint is at epoch 2, past the 1 of this sweep: training it afresh", 1},
		{"eval data", func(o *Options) { o.Train.EvalData, o.Train.EvalLabels = f.Data, f.Labels }, "was evaluated on " + f.EvalData + ", this sweep evaluates on " + f.Data, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := o
			run.Dir = filepath.Join(t.TempDir(), "sweep")
			copyDir(t, o.Dir, run.Dir)
			tt.change(&run)
			var log strings.Builder
			res, err := Sweep(context.Background(), run, &log)
			if err != nil {
				t.Fatal(err)
			}
			afresh := strings.Contains(log.String(), "training it afresh")
			if tt.want == "" && afresh || tt.want != "" && !strings.Contains(log.String(), tt.want) {
				t.Errorf("log:\n%s\nwant the line %q", log.String(), tt.want)
			}
			if tt.name == "same settings" && !strings.Contains(log.String(), "nothing to do") {
				t.Errorf("the same settings trained again:\n%s", log.String())
			}
			ck, err := student.LoadCheckpoint(res[0].Checkpoint)
			if err != nil {
				t.Fatal(err)
			}
			_, p, err := provenance.Read(ck.Meta)
			if err != nil {
				t.Fatal(err)
			}
			if res[0].Epochs != tt.epoch || p.Epochs != tt.epoch || p.LR != run.Train.LR || p.Seed != run.Train.Seed ||
				p.Batch != run.Train.Batch || p.EvalData != run.Train.EvalData || p.Schedule != run.Train.Schedule.String() {
				t.Errorf("result %+v, provenance %+v: want the sweep's settings at epoch %d", res[0], p, tt.epoch)
			}
		})
	}
}

// copyDir copies the files of folder from into a new folder to.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSamePath: a rerun giving the same eval data by another spelling of its path is not "other
// eval data" (which would retrain every finished run).
func TestSamePath(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "t.gz")
	if err := os.WriteFile(a, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.gz")
	if err := os.Symlink(a, link); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, b := range []string{"t.gz", "./t.gz", a, link, filepath.Join(dir, "x", "..", "t.gz")} {
		if !outputs.SamePath(a, b) {
			t.Errorf("outputs.SamePath(%s, %s) = false", a, b)
		}
	}
	if outputs.SamePath(a, filepath.Join(dir, "other.gz")) {
		t.Error("another file is the same path")
	}
}
