package command

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/onnx/onnxtest"
)

// TestTrainAugment: --augment runs its steps on the batches both the student and the online
// teacher see, reports the teacher's accuracy on them, warns about an augmentation that costs the
// teacher (the row task's teacher is invariant to a horizontal flip, not to a vertical shift), and
// refuses what it cannot do.
func TestTrainAugment(t *testing.T) {
	onnxtest.RequireLibrary(t)
	f := newTrainFixture(t)
	teacher := filepath.Join(f.dir, "teacher.onnx")
	rowTeacherModel(t, teacher)
	common := []string{"train", "--model", f.spec, "--data", f.data, "--labels", f.labels, "--batch", "32", "--lr", "0.01",
		"--scale", "255", "--blas", "go", "--threads", "1"}
	run := func(out string, extra ...string) (int, string, string) {
		return runMain(t, append(append(append([]string{}, common...), "--out", filepath.Join(f.dir, out)), extra...)...)
	}
	code, out, stderr := run("flip.ckpt", "--teacher", teacher, "--augment", "flip", "--epochs", "2", "--metrics", filepath.Join(f.dir, "flip.jsonl"))
	if code != ExitOK || !strings.Contains(out, "teacher 100.00% on the batches") {
		t.Fatalf("--augment flip: exit %d\n%s\n%s", code, out, stderr)
	}
	if strings.Contains(stderr, "costs the teacher") {
		t.Errorf("a warning for flip, which the teacher is invariant to:\n%s", stderr)
	}
	if b, err := os.ReadFile(filepath.Join(f.dir, "flip.jsonl")); err != nil || !strings.Contains(string(b), `"teacher_accuracy":1`) {
		t.Errorf("metrics lack the teacher's accuracy: %v\n%s", err, b)
	}
	code, out, stderr = run("crop.ckpt", "--teacher", teacher, "--augment", "flip,crop:1", "--epochs", "1")
	if code != ExitOK || !strings.Contains(stderr, "augmentation=crop:1") || strings.Contains(stderr, "augmentation=flip") {
		t.Errorf("--augment flip,crop:1: exit %d, want one warning naming crop:1\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "% on the batches") || strings.Contains(out, "teacher 100.00% on the batches") {
		t.Errorf("the teacher's accuracy on cropped batches should fall:\n%s", out)
	}
	// Mixing with hard labels alone, and with a teacher.
	for _, extra := range [][]string{{"--augment", "mixup:0.4"}, {"--augment", "cutmix:1", "--teacher", teacher}} {
		if code, out, stderr := run("mix.ckpt", append(extra, "--epochs", "1", "--overwrite")...); code != ExitOK || !strings.Contains(out, "epoch 1/1") {
			t.Errorf("%v: exit %d\n%s\n%s", extra, code, out, stderr)
		}
	}
	// Resuming with another list is refused.
	if code, _, stderr := run("flip.ckpt", "--teacher", teacher, "--augment", "crop:1", "--epochs", "3", "--resume"); code == ExitOK || !strings.Contains(stderr, "--augment") {
		t.Errorf("resume with another --augment: exit %d\n%s", code, stderr)
	}
	soft := filepath.Join(f.dir, "soft.safetensors")
	if code, _, stderr := runMain(t, "targets", "--teacher", teacher, "--data", f.data, "--scale", "255", "--out", soft); code != ExitOK {
		t.Fatalf("targets: exit %d\n%s", code, stderr)
	}
	for _, tc := range []struct {
		name  string
		extra []string
		want  string
	}{
		{"soft targets", []string{"--soft-targets", soft, "--augment", "flip"}, "--augment: \"flip\" with offline soft targets"},
		{"with --jitter", []string{"--jitter", "1", "--augment", "flip"}, "--jitter: 1 with an augmentation list: give it in the list as jitter:1"},
		{"unknown", []string{"--augment", "rotate:90"}, `unknown augmentation "rotate"`},
		{"crop as large as the image", []string{"--augment", "crop:4"}, "--augment: crop:4: 4 shifts the 4x4 images"},
		{"mixup with dkd", []string{"--teacher", teacher, "--loss", "dkd", "--augment", "mixup:0.2"}, "dkd needs one label per sample"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run("bad.ckpt", append(tc.extra, "--epochs", "1")...)
			if code == ExitOK || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q, want %q", code, stderr, tc.want)
			}
		})
	}
}
