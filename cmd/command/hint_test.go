package command

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/onnx/onnxtest"
)

// TestPreprocessHint: a teacher trained on standardised inputs, exported without its
// normalisation and run with the defaults, scores at chance; each command that runs it on
// labelled data says so, naming the flags and the better figure (issue 22: 36% with only an INFO
// line). With the flags given, no warning.
func TestPreprocessHint(t *testing.T) {
	onnxtest.RequireLibrary(t)
	f := newTrainFixture(t)
	W := rowWeights()
	// On inputs in [0, 1] the bias of class 0 wins; on standardised inputs the rows do.
	teacher := filepath.Join(f.dir, "std-teacher.onnx")
	onnxtest.GemmClassifier(t, teacher, W, []float32{8, 0, 0})
	plain := filepath.Join(f.dir, "teacher.onnx")
	rowTeacherModel(t, plain)
	for _, tc := range []struct {
		name string
		args []string
		flag string
	}{
		{"eval", []string{"eval", "--model", teacher, "--data", f.evalData, "--labels", f.evalLabels}, "give --mean"},
		{"eval --teacher", []string{"eval", "--model", plain, "--data", f.evalData, "--labels", f.evalLabels, "--teacher", teacher}, "give --teacher-mean"},
		{"targets", []string{"targets", "--teacher", teacher, "--data", f.evalData, "--labels", f.evalLabels, "--out", filepath.Join(f.dir, "t.safetensors")}, "give --mean"},
		{"train", []string{"train", "--model", f.spec, "--teacher", teacher, "--data", f.evalData, "--labels", f.evalLabels, "--out", filepath.Join(f.dir, "s.ckpt"), "--epochs", "1", "--blas", "go"}, "give --teacher-mean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runMain(t, tc.args...)
			if code != ExitOK {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			if !strings.Contains(stderr, "level=WARN") || !strings.Contains(stderr, "(chance is 33.3%), but 100.0% with mean") || !strings.Contains(stderr, tc.flag) {
				t.Errorf("no warning naming %s and the better figure:\n%s", tc.flag, stderr)
			}
			for _, l := range strings.Split(stderr, "\n") {
				if strings.Contains(l, "level=WARN") {
					t.Log(l)
				}
			}
		})
	}
	code, _, stderr := runMain(t, "eval", "--model", teacher, "--mean", "0.5", "--std", "0.5", "--data", f.evalData, "--labels", f.evalLabels)
	if code != ExitOK || strings.Contains(stderr, "chance is") {
		t.Errorf("eval with the right flags: exit %d, warned:\n%s", code, stderr)
	}
}

// TestEvalTeacherSpec: eval's --teacher takes a spec with options, as targets and train do.
func TestEvalTeacherSpec(t *testing.T) {
	onnxtest.RequireLibrary(t)
	f := newTrainFixture(t)
	teacher := filepath.Join(f.dir, "std-teacher.onnx")
	onnxtest.GemmClassifier(t, teacher, rowWeights(), []float32{8, 0, 0})
	plain := filepath.Join(f.dir, "teacher.onnx")
	rowTeacherModel(t, plain)
	// The teacher needs 0.5/0.5: with the spec's options it is no longer at chance.
	code, out, stderr := runMain(t, "eval", "--model", plain, "--data", f.evalData, "--labels", f.evalLabels, "--teacher", teacher+":mean=0.5,std=0.5")
	if code != ExitOK || !strings.Contains(out, "agreement 9") || strings.Contains(stderr, "chance is") {
		t.Errorf("eval --teacher spec: exit %d\n%s\n%s", code, out, stderr)
	}
	if code, _, stderr := runMain(t, "eval", "--model", plain, "--data", f.evalData, "--labels", f.evalLabels, "--teacher", teacher+":colour=1"); code != ExitUsage || !strings.Contains(stderr, "--teacher") {
		t.Errorf("bad spec option: exit %d\n%s", code, stderr)
	}
}
