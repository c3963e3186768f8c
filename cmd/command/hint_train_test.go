package command

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/distillgo/distill/onnx/onnxtest"
	"github.com/distillgo/distill/student"
)

// TestTrainHints: --hint trains the student against an inner tensor of the online teacher
// (fetched beside its logits), reports the hint's term, saves the projection in the checkpoint
// (a resume is exact) and leaves it out of the export; a layer or tensor that does not exist is
// an error naming it.
func TestTrainHints(t *testing.T) {
	onnxtest.RequireLibrary(t)
	f := newTrainFixture(t)
	teacher := filepath.Join(f.dir, "mlp.onnx")
	onnxtest.MLP(t, teacher, []int{16, 8, 3}, 4) // relu0 is an [8] feature
	spec := filepath.Join(f.dir, "named.json")
	if err := os.WriteFile(spec, []byte(`{"input":[16],"classes":3,"layers":[{"type":"dense","units":6,"name":"h"},{"type":"relu","name":"hr"},{"type":"dense","units":3}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"train", "--model", spec, "--data", f.data, "--labels", f.labels, "--teacher", teacher, "--batch", "32",
		"--lr", "0.01", "--scale", "255", "--blas", "go", "--threads", "1", "--augment", "flip"}
	run := func(out string, extra ...string) (int, string, string) {
		return runMain(t, append(append(append([]string{}, common...), "--out", filepath.Join(f.dir, out)), extra...)...)
	}
	code, out, stderr := run("two.ckpt", "--hint", "relu0=hr:loss=cosine:weight=2", "--epochs", "2", "--metrics", filepath.Join(f.dir, "m.jsonl"))
	if code != ExitOK || !strings.Contains(out, "hint1 ") {
		t.Fatalf("--hint: exit %d\n%s\n%s", code, out, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(f.dir, "m.jsonl")); err != nil || !strings.Contains(string(b), `"hint_losses":[`) {
		t.Errorf("metrics lack the hint's term: %v\n%s", err, b)
	}
	two, err := student.LoadCheckpoint(filepath.Join(f.dir, "two.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(two.Aux) != 2 || two.Aux[0].Name != "aux.hints.0.weight" || !slices.Equal(two.Aux[0].Shape, []int{8, 6}) {
		t.Fatalf("checkpoint's auxiliary tensors: %v", two.Aux)
	}
	// One epoch, then a resume to two: the same weights and projection, bit for bit.
	if code, _, stderr := run("one.ckpt", "--hint", "relu0=hr:loss=cosine:weight=2", "--epochs", "1"); code != ExitOK {
		t.Fatalf("one epoch: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := run("one.ckpt", "--hint", "relu0=hr:loss=cosine:weight=2", "--epochs", "2", "--resume"); code != ExitOK {
		t.Fatalf("resume: exit %d\n%s", code, stderr)
	}
	resumed, err := student.LoadCheckpoint(filepath.Join(f.dir, "one.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range two.Params {
		if !slices.Equal(v, resumed.Params[name]) {
			t.Errorf("%s differs after 1 + 1 epochs from 2", name)
		}
	}
	for i, a := range two.Aux {
		if !slices.Equal(a.Value, resumed.Aux[i].Value) {
			t.Errorf("%s differs after 1 + 1 epochs from 2", a.Name)
		}
	}
	if code, _, stderr := run("one.ckpt", "--hint", "relu0=hr:loss=mse", "--epochs", "3", "--resume"); code == ExitOK || !strings.Contains(stderr, "--hint") {
		t.Errorf("resume with another hint: exit %d\n%s", code, stderr)
	}
	exported := filepath.Join(f.dir, "two.onnx")
	if code, _, stderr := runMain(t, "export", "--model", filepath.Join(f.dir, "two.ckpt"), "--out", exported); code != ExitOK {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	if b, err := os.ReadFile(exported); err != nil || strings.Contains(string(b), "aux.hints") {
		t.Errorf("the export holds the hint's projection (or is unreadable: %v)", err)
	}
	// A hint on a layer whose relu it applies itself reads it before the relu (the relu then runs
	// as a layer of its own).
	if code, _, stderr := run("pre.ckpt", "--hint", "relu0=h", "--epochs", "1"); code != ExitOK {
		t.Errorf("hint on the dense layer before a relu: exit %d\n%s", code, stderr)
	}
	for _, tc := range []struct {
		name  string
		extra []string
		want  string
	}{
		{"unknown layer", []string{"--hint", "relu0=nope"}, `no layer named "nope"`},
		{"unknown tensor", []string{"--hint", "relu9=hr"}, `tensor "relu9"`},
		{"maps against vectors", []string{"--hint", "relu0=hr:loss=at"}, "attention transfer needs spatial maps"},
		{"bad syntax", []string{"--hint", "relu0"}, "want <teacher-tensor>=<student-layer>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run("bad.ckpt", append(tc.extra, "--epochs", "1")...)
			if code == ExitOK || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "--hint") {
				t.Errorf("exit %d, stderr %q, want %q naming --hint", code, stderr, tc.want)
			}
		})
	}
}
