package command

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/onnx/onnxtest"
)

func TestParseGrid(t *testing.T) {
	tests := []struct {
		in      string
		want    []float64
		wantErr string
	}{
		{"1,2,5,10,20", []float64{1, 2, 5, 10, 20}, ""},
		{" 0.5, 0.7 ,0.9", []float64{0.5, 0.7, 0.9}, ""},
		{"3", []float64{3}, ""},
		{"1,,2", nil, "empty item"},
		{"1,x", nil, "not a finite number"},
		{"NaN", nil, "not a finite number"},
		{"Inf", nil, "not a finite number"},
		{"2,2.0", nil, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseGrid(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseGrid(%q) error %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("parseGrid(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("parseGrid(%q)[%d] = %v, want %v", tt.in, i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestSweepUsageErrors(t *testing.T) {
	f := newTrainFixture(t)
	base := []string{"sweep", "--model", f.spec, "--data", f.data, "--labels", f.labels, "--soft-targets", "s.safetensors",
		"--eval-data", f.evalData, "--eval-labels", f.evalLabels, "--out-dir", filepath.Join(f.dir, "sweep")}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad temperatures", []string{"--temperatures", "1,a"}, "--temperatures"},
		{"zero temperature", []string{"--temperatures", "0,1"}, "must be positive"},
		{"bad alpha", []string{"--alphas", "0.5,1.5"}, "--alphas: 1.5"},
		{"schedule epochs", []string{"--epochs", "3", "--schedule", "2:1e-3,4:1e-4"}, "--schedule: the steps end at epoch 4, but the run has 3 epochs"},
		{"bad loss", []string{"--loss", "l1"}, `--loss "l1": want kl, mse or dkd`},
		{"bad batch", []string{"--batch", "0"}, "--batch: 0 must be at least 1"},
		{"bad std", []string{"--std", "0"}, "--std"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runMain(t, append(append([]string{}, base...), tt.args...)...)
			if code != ExitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q: want %d and %q", code, stderr, ExitUsage, tt.want)
			}
		})
	}
	if code, _, stderr := runMain(t, "sweep", "--model", f.spec, "--data", f.data); code != ExitUsage || !strings.Contains(stderr, "soft-targets") {
		t.Errorf("missing --soft-targets: exit %d, stderr %q", code, stderr)
	}
}

// TestSweepCLI makes soft targets with an ONNX teacher and sweeps a 2x2 grid over them.
func TestSweepCLI(t *testing.T) {
	onnxtest.RequireLibrary(t)
	f := newTrainFixture(t)
	model := filepath.Join(f.dir, "teacher.onnx")
	rowTeacherModel(t, model)
	targets := filepath.Join(f.dir, "targets.safetensors")
	if code, out, stderr := runMain(t, "targets", "--teacher", model, "--data", f.data, "--labels", f.labels,
		"--out", targets, "--scale", "255", "--output", "logits", "--threads", "1"); code != ExitOK {
		t.Fatalf("targets: exit %d\n%s\n%s", code, out, stderr)
	}
	dir := filepath.Join(f.dir, "sweep")
	code, out, stderr := runMain(t, "sweep", "--model", f.spec, "--data", f.data, "--labels", f.labels,
		"--soft-targets", targets, "--eval-data", f.evalData, "--eval-labels", f.evalLabels, "--out-dir", dir,
		"--temperatures", "1,5", "--alphas", "0.5,0.9", "--schedule", "3:0.01,4:0.001", "--batch", "32")
	if code != ExitOK {
		t.Fatalf("sweep: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"after 4 epochs", "| T \\ alpha | 0.5 | 0.9 |", "\n| 1 |", "\n| 5 |", "**"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, name := range []string{"T1-a0.5.ckpt", "T5-a0.9.jsonl", "T1-a0.9.png", "sweep.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
}
