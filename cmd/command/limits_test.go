package command

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/onnx/onnxtest"
)

// tinyImageFolder writes an image folder of 4x4 gray PNGs in classes 0..2 whose last image is
// damaged, so that a command that decodes every image fails on it: one that checks the shape
// first does not get there.
func tinyImageFolder(t *testing.T, dir string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "images")
	for c, files := range map[string][]string{"0": {"a.png"}, "1": {"b.png"}, "2": {"c.png", "z.png"}} {
		if err := os.MkdirAll(filepath.Join(root, c), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b := buf.Bytes()
			if f == "z.png" {
				b = b[:20]
			}
			if err := os.WriteFile(filepath.Join(root, c, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

// TestImageSizeCheckedFirst: an --image-size that cannot fit the model is refused from the first
// image alone, in train, eval and predict, before every image is decoded (the damaged last image is never
// reached), naming the sample shape and the model's input.
func TestImageSizeCheckedFirst(t *testing.T) {
	f := newTrainFixture(t)
	images := tinyImageFolder(t, f.dir)
	ckpt := trainedCheckpoint(t, f)
	teacher := filepath.Join(f.dir, "teacher.onnx")
	rowTeacherModel(t, teacher)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"train", []string{"train", "--model", f.spec, "--data", images, "--image-size", "2000x2000", "--out", filepath.Join(f.dir, "i.ckpt")}},
		{"eval", []string{"eval", "--model", ckpt, "--data", images, "--image-size", "2000x2000"}},
		{"eval onnx", []string{"eval", "--model", teacher, "--data", images, "--image-size", "2000x2000"}},
		{"predict", []string{"predict", "--model", ckpt, "--data", images, "--image-size", "2000x2000"}},
		{"predict onnx", []string{"predict", "--model", teacher, "--data", images, "--image-size", "2000x2000", "--runtime", "go"}},
		{"targets", []string{"targets", "--teacher", teacher, "--data", images, "--image-size", "2000x2000", "--out", filepath.Join(f.dir, "t.safetensors")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runMain(t, tc.args...)
			want := "samples of shape [1 2000 2000] hold 4000000 values, but the model's input [16] needs 16"
			if code == ExitOK || !strings.Contains(stderr, want) || strings.Contains(stderr, "z.png") {
				t.Errorf("exit %d, stderr %q; want an error containing %q", code, stderr, want)
			}
		})
	}
}

// TestFileGivenAsAnotherKind: a checkpoint, an ONNX model or a soft-target file given where
// another is wanted is named for what it is, in every command that opens one.
func TestFileGivenAsAnotherKind(t *testing.T) {
	onnxtest.RequireLibrary(t)
	f := newTrainFixture(t)
	ckpt := trainedCheckpoint(t, f)
	teacher := filepath.Join(f.dir, "teacher.onnx")
	rowTeacherModel(t, teacher)
	soft := filepath.Join(f.dir, "soft.safetensors")
	if code, _, stderr := runMain(t, "targets", "--teacher", teacher, "--data", f.data, "--out", soft, "--scale", "255", "--output", "logits", "--threads", "1"); code != ExitOK {
		t.Fatalf("targets: exit %d: %s", code, stderr)
	}
	out := func(name string) string { return filepath.Join(f.dir, name) }
	trainArgs := []string{"train", "--model", f.spec, "--data", f.data, "--labels", f.labels, "--epochs", "1"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"export an onnx model", []string{"export", "--model", teacher, "--out", out("e.onnx")}, teacher + " is an ONNX model, not a checkpoint"},
		{"export soft targets", []string{"export", "--model", soft, "--out", out("e.onnx")}, soft + " is a soft-target file, not a checkpoint"},
		{"train teacher checkpoint", append(trainArgs, "--teacher", ckpt, "--out", out("a.ckpt")), ckpt + " is a student checkpoint, not an ONNX model"},
		{"train soft targets checkpoint", append(trainArgs, "--soft-targets", ckpt, "--out", out("b.ckpt")), ckpt + " is a student checkpoint, not soft targets"},
		{"train soft targets model", append(trainArgs, "--soft-targets", teacher, "--out", out("c.ckpt")), teacher + " is an ONNX model, not soft targets"},
		{"train init from checkpoint", append(trainArgs, "--init-from", ckpt, "--out", out("d.ckpt")), ckpt + " is a student checkpoint, not an ONNX model"},
		{"targets teacher checkpoint", []string{"targets", "--teacher", ckpt, "--data", f.data, "--out", out("t.safetensors")}, ckpt + " is a student checkpoint, not an ONNX model"},
		{"eval teacher soft targets", []string{"eval", "--model", ckpt, "--data", f.evalData, "--labels", f.evalLabels, "--teacher", soft}, soft + " is a soft-target file, not an ONNX model"},
		{"eval soft targets", []string{"eval", "--model", soft, "--data", f.evalData, "--labels", f.evalLabels}, soft + " is a soft-target file, not a checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runMain(t, tc.args...)
			if code == ExitOK || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want an error containing %q", code, stderr, tc.want)
			}
		})
	}
}
