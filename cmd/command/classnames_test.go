package command

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/onnx/onnxtest"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/pipeline/provenance"
	"github.com/distillgo/distill/student"
)

// rowCSV writes n rows of the row task as CSV with a "species" label column of names, leaving
// out the classes in drop.
func rowCSV(t *testing.T, path string, names []string, n int, seed uint64, drop ...int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	var b strings.Builder
	for p := range 16 {
		fmt.Fprintf(&b, "f%d,", p)
	}
	b.WriteString("species\n")
	for range n {
		c := rng.IntN(len(names))
		if slicesContains(drop, c) {
			continue
		}
		for p := range 16 {
			v := rng.IntN(60)
			if p/4 == c {
				v += 140 + rng.IntN(40)
			}
			fmt.Fprintf(&b, "%d,", v)
		}
		b.WriteString(names[c] + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func slicesContains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// rowFolder writes the row task as an image folder of 4x4 gray PNGs, one class folder per name,
// leaving out the classes in drop.
func rowFolder(t *testing.T, dir string, names []string, n int, seed uint64, drop ...int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 5))
	for i := range n {
		c := rng.IntN(len(names))
		img := image.NewGray(image.Rect(0, 0, 4, 4))
		for p := range 16 {
			v := rng.IntN(60)
			if p/4 == c {
				v += 140 + rng.IntN(40)
			}
			img.SetGray(p%4, p/4, color.Gray{Y: uint8(v)})
		}
		if slicesContains(drop, c) {
			continue
		}
		sub := filepath.Join(dir, names[c])
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(sub, fmt.Sprintf("%03d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

func evalAccuracy(t *testing.T, args ...string) (float64, string) {
	t.Helper()
	code, out, stderr := runMain(t, append(append([]string{"eval"}, args...), "--json")...)
	if code != ExitOK {
		t.Fatalf("eval %v: exit %d\n%s", args, code, stderr)
	}
	var res eval.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("eval --json: %v\n%s", err, out)
	}
	return res.Metrics.Accuracy, stderr
}

// TestClassNamesAcrossFiles: labels are numbered by each file's own class names; a file without
// one of the classes must still be scored, trained and distilled against the right classes
// (issue 22: 0.00% where the truth is 100%).
func TestClassNamesAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "tiny.json")
	if err := os.WriteFile(spec, []byte(`{"input":[16],"classes":3,"layers":[{"type":"dense","units":16},{"type":"relu"},{"type":"dense","units":3}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	iris := []string{"setosa", "versicolor", "virginica"}
	full, part := filepath.Join(dir, "iris.csv"), filepath.Join(dir, "no-setosa.csv")
	rowCSV(t, full, iris, 300, 1)
	rowCSV(t, part, iris, 150, 2, 0)
	ckpt := filepath.Join(dir, "iris.ckpt")
	if code, _, stderr := runMain(t, "train", "--model", spec, "--data", full, "--label-column", "species", "--out", ckpt,
		"--epochs", "4", "--batch", "32", "--lr", "0.01", "--scale", "255", "--blas", "go"); code != ExitOK {
		t.Fatalf("train: exit %d\n%s", code, stderr)
	}
	if acc, stderr := evalAccuracy(t, "--model", ckpt, "--data", part, "--label-column", "species"); acc < 0.95 || !strings.Contains(stderr, "matched by name") {
		t.Errorf("checkpoint on the CSV without setosa: accuracy %.2f (want > 0.95), log:\n%s", acc, stderr)
	}
	// A CSV with a class the model does not know.
	other := filepath.Join(dir, "tulips.csv")
	rowCSV(t, other, []string{"setosa", "tulip", "virginica"}, 60, 3)
	if code, _, stderr := runMain(t, "eval", "--model", ckpt, "--data", other, "--label-column", "species"); code == ExitOK || !strings.Contains(stderr, `class "tulip" of the data is not one of the 3 classes`) {
		t.Errorf("eval with an unknown class: exit %d, stderr %q", code, stderr)
	}
	// As --eval-data of a run trained on the full file.
	code, out, stderr := runMain(t, "train", "--model", spec, "--data", full, "--label-column", "species", "--out", filepath.Join(dir, "e.ckpt"),
		"--eval-data", part, "--epochs", "4", "--batch", "32", "--lr", "0.01", "--scale", "255", "--blas", "go")
	if code != ExitOK || !strings.Contains(out, "acc 100.00%") {
		t.Errorf("train --eval-data without setosa: exit %d\n%s\n%s", code, out, stderr)
	}

	onnxtest.RequireLibrary(t)
	exported := filepath.Join(dir, "iris.onnx")
	if code, _, stderr := runMain(t, "export", "--model", ckpt, "--out", exported); code != ExitOK {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	if acc, _ := evalAccuracy(t, "--model", exported, "--data", part, "--label-column", "species"); acc < 0.95 {
		t.Errorf("exported model on the CSV without setosa: accuracy %.2f", acc)
	}
	// Started from that model on the CSV without setosa, then resumed: the resumed epochs keep
	// the model's numbering (a resume takes no --init-from to number by).
	fromModel := filepath.Join(dir, "from-model.ckpt")
	for _, extra := range [][]string{{"--init-from", exported, "--epochs", "2"}, {"--resume", "--epochs", "3"}} {
		args := append([]string{"train", "--model", spec, "--data", part, "--label-column", "species", "--out", fromModel,
			"--batch", "32", "--lr", "0.01", "--scale", "255", "--blas", "go"}, extra...)
		if code, _, stderr := runMain(t, args...); code != ExitOK {
			t.Fatalf("train %v: exit %d\n%s", extra, code, stderr)
		}
		if got := recordedNames(t, fromModel); got != "setosa,versicolor,virginica" {
			t.Errorf("after train %v the checkpoint records classes %q", extra, got)
		}
	}

	// An image folder of classes named by number, "0" missing, against models numbered 0..2 that
	// record no names: the folder "1" is class 1.
	digits := []string{"0", "1", "2"}
	folder := filepath.Join(dir, "digits")
	rowFolder(t, folder, digits, 120, 4, 0)
	teacher := filepath.Join(dir, "teacher.onnx")
	rowTeacherModel(t, teacher)
	if acc, stderr := evalAccuracy(t, "--model", teacher, "--data", folder, "--scale", "255", "--layout", "nchw"); acc < 0.99 || !strings.Contains(stderr, "named by number") {
		t.Errorf("teacher on the folder without class 0: accuracy %.2f, log:\n%s", acc, stderr)
	}
	// Online distillation on that folder: the hard term must see class 1 as 1. With alpha 0.1 the
	// student follows the labels; on shifted labels it would score about 0 on the full IDX set.
	idxData, idxLabels := rowImages(t, dir, "test", 150, 6)
	online := filepath.Join(dir, "online.ckpt")
	if code, out, stderr := runMain(t, "train", "--model", spec, "--data", folder, "--layout", "nchw", "--teacher", teacher, "--alpha", "0.1", "--out", online,
		"--epochs", "6", "--batch", "16", "--lr", "0.02", "--scale", "255", "--blas", "go", "--threads", "1"); code != ExitOK {
		t.Fatalf("online train on the folder: exit %d\n%s\n%s", code, out, stderr)
	}
	if got := recordedNames(t, online); got != "0,1,2" {
		t.Errorf("online run records class names %q, want 0,1,2", got)
	}
	if acc, _ := evalAccuracy(t, "--model", online, "--data", idxData, "--labels", idxLabels); acc < 0.6 {
		t.Errorf("student distilled on the folder without class 0 scores %.2f on all classes", acc)
	}
	// Soft targets of the folder, then offline training: the file records the classes as numbered.
	soft := filepath.Join(dir, "soft.safetensors")
	if code, _, stderr := runMain(t, "targets", "--teacher", teacher, "--data", folder, "--layout", "nchw", "--scale", "255", "--out", soft); code != ExitOK {
		t.Fatalf("targets: exit %d\n%s", code, stderr)
	}
	code, out, stderr = runMain(t, "train", "--model", spec, "--data", folder, "--layout", "nchw", "--soft-targets", soft, "--out", filepath.Join(dir, "off.ckpt"),
		"--epochs", "1", "--batch", "16", "--scale", "255", "--blas", "go")
	if code != ExitOK || !strings.Contains(out, "on the transfer set: accuracy 100.00%") {
		t.Errorf("offline train on the folder: exit %d\n%s\n%s", code, out, stderr)
	}
	// Names by words against a model that records none and has more classes: refused.
	words := filepath.Join(dir, "words")
	rowFolder(t, words, []string{"ant", "bee", "cat"}, 30, 7, 0)
	if code, _, stderr := runMain(t, "eval", "--model", teacher, "--data", words, "--scale", "255", "--layout", "nchw"); code == ExitOK || !strings.Contains(stderr, "which is which is unknown") {
		t.Errorf("eval of word-named folders missing one against an unnamed model: exit %d, stderr %q", code, stderr)
	}
}

// recordedNames returns the class names a checkpoint's provenance records, comma-separated.
func recordedNames(t *testing.T, ckpt string) string {
	t.Helper()
	ck, err := student.LoadCheckpoint(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	_, prov, err := provenance.Read(ck.Meta)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(prov.ClassNames, ",")
}
