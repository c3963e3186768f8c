package command

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/onnx/onnxtest"
)

// npyFloat32 returns an NPY file of float32 values shaped [n, 4, 4].
func npyFloat32(n int, v []float32) []byte {
	hdr := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 4, 4), }", n)
	hdr += strings.Repeat(" ", 63-(10+len(hdr))%64) + "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
	b = append(b, hdr...)
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// TestRecordedScaleAgainstData: a scale a model records is not applied to data that is already on
// another scale (issue 22: a float NPY in [0, 1] given to the MNIST teacher, which records 255, was
// divided again: 8.70% instead of 98.70%). Each such command stops with an error naming the flag;
// the flag decides.
func TestRecordedScaleAgainstData(t *testing.T) {
	onnxtest.RequireLibrary(t)
	f := newTrainFixture(t)
	W := rowWeights()
	// A teacher whose logits need inputs in [0, 1]: the bias makes class 0 win on raw 0..255
	// inputs divided by 255 twice.
	teacher := filepath.Join(f.dir, "t255.onnx")
	onnxtest.GemmClassifier(t, teacher, W, []float32{0.5, 0, 0}, onnxtest.Metadata(map[string]string{meta.Preprocess: `{"scale":255}`}))
	teacher1 := filepath.Join(f.dir, "t1.onnx")
	onnxtest.GemmClassifier(t, teacher1, W, []float32{0.5, 0, 0}, onnxtest.Metadata(map[string]string{meta.Preprocess: `{"scale":1}`}))

	// The eval images as floats already divided by 255.
	raw, err := os.ReadFile(f.evalData)
	if err != nil {
		t.Fatal(err)
	}
	pix := raw[4+3*4:]
	x := make([]float32, len(pix))
	for i, v := range pix {
		x[i] = float32(v) / 255
	}
	scaled := filepath.Join(f.dir, "scaled.npy")
	if err := os.WriteFile(scaled, npyFloat32(len(x)/16, x), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(f.dir, "t.safetensors")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"eval scaled floats, recorded 255", []string{"eval", "--model", teacher, "--data", scaled, "--labels", f.evalLabels},
			"--scale: data " + scaled + " holds float32 values in [0, 0.9"},
		{"targets scaled floats, recorded 255", []string{"targets", "--teacher", teacher, "--data", scaled, "--out", out},
			"records scale 255"},
		{"train online, scaled floats, recorded 255", []string{"train", "--model", f.spec, "--data", scaled, "--labels", f.evalLabels,
			"--teacher", teacher, "--out", filepath.Join(f.dir, "s.ckpt"), "--epochs", "1"}, "--teacher-scale"},
		{"eval --teacher, scaled floats, recorded 255", []string{"eval", "--model", teacher1, "--data", scaled, "--labels", f.evalLabels,
			"--teacher", teacher}, "--teacher-scale: data"},
		{"eval pixels, recorded 1", []string{"eval", "--model", teacher1, "--data", f.evalData, "--labels", f.evalLabels},
			"holds raw uint8 values, but model " + teacher1 + " records scale 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runMain(t, tc.args...)
			if code == ExitOK || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q, want an error containing %q", code, stderr, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s written", out)
			}
		})
	}
	// The flag decides; the data then scores as it should.
	if acc, _ := evalAccuracy(t, "--model", teacher, "--data", scaled, "--labels", f.evalLabels, "--scale", "1"); acc < 0.99 {
		t.Errorf("eval scaled floats with --scale 1: accuracy %.2f", acc)
	}
	if acc, _ := evalAccuracy(t, "--model", teacher, "--data", f.evalData, "--labels", f.evalLabels); acc < 0.99 {
		t.Errorf("eval pixels with the recorded 255: accuracy %.2f", acc)
	}
	if code, _, stderr := runMain(t, "targets", "--teacher", teacher+":scale=1", "--data", scaled, "--out", out); code != ExitOK {
		t.Errorf("targets with :scale=1: exit %d\n%s", code, stderr)
	}
}

// TestHalfPrecisionTeacherFromData: a teacher whose one input is float16 (or float64), as models
// exported in half precision for GPUs are, is fed from --data like a float32 one (preprocessed in
// float32, converted at the end), not only through --input arrays (issue 26).
func TestHalfPrecisionTeacherFromData(t *testing.T) {
	onnxtest.RequireLibrary(t)
	f := newTrainFixture(t)
	for _, elem := range []string{"float16", "float64"} {
		teacher := filepath.Join(f.dir, elem+".onnx")
		onnxtest.SumInputs(t, teacher, []onnxtest.InputSpec{{Name: "x", Elem: elem}}, rowWeights(), []float32{0, 0, 0})
		if acc, _ := evalAccuracy(t, "--model", teacher, "--data", f.evalData, "--labels", f.evalLabels, "--scale", "255"); acc < 0.99 {
			t.Errorf("%s teacher on the data: accuracy %.2f", elem, acc)
		}
		out := filepath.Join(f.dir, elem+".safetensors")
		// --teacher-output-kind is targets' --output under the name train and eval give it.
		if code, _, stderr := runMain(t, "targets", "--teacher", teacher, "--data", f.data, "--scale", "255", "--teacher-output-kind", "logits", "--out", out); code != ExitOK {
			t.Errorf("targets from a %s teacher: exit %d\n%s", elem, code, stderr)
		}
	}
}
