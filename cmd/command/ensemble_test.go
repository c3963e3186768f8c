package command

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/onnx/onnxtest"
	"github.com/distillgo/distill/student"
)

// TestTrainOnlineEnsembleCLI distils two ONNX teachers online, each with its own preprocessing
// (the first records its own, the second's comes from its spec), and checks the log and the
// provenance's teacher list.
func TestTrainOnlineEnsembleCLI(t *testing.T) {
	onnxtest.RequireLibrary(t)
	f := newTrainFixture(t)
	recorded := filepath.Join(f.dir, "recorded.onnx")
	W := make([][]float32, 16)
	for p := range W {
		W[p] = make([]float32, 3)
		if p/4 < 3 {
			W[p][p/4] = 2
		}
	}
	onnxtest.GemmClassifier(t, recorded, W, []float32{0, 0, 0}, onnxtest.Metadata(map[string]string{
		"distill.preprocess": `{"scale":255,"mean":[0.5],"std":[0.5]}`}))
	plain := filepath.Join(f.dir, "plain.onnx")
	rowTeacherModel(t, plain)
	ckpt := filepath.Join(f.dir, "ensemble.ckpt")
	code, out, stderr := runMain(t, "train", "--model", f.spec, "--data", f.data, "--labels", f.labels,
		"--eval-data", f.evalData, "--eval-labels", f.evalLabels, "--teacher", recorded, "--teacher", plain+":scale=127.5",
		"--ensemble", "logits", "--jitter", "1", "--epochs", "2", "--batch", "32", "--lr", "0.01", "--scale", "255",
		"--blas", "go", "--threads", "1", "--out", ckpt)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"teacher 1 of 2", "teacher 2 of 2", "ensemble of 2 (logits) on the eval set", "agree"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	ck, err := student.LoadCheckpoint(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	var prov struct {
		Mode     string `json:"mode"`
		Ensemble string `json:"ensemble"`
		Teachers []struct {
			Path       string          `json:"path"`
			SHA256     string          `json:"sha256"`
			Preprocess json.RawMessage `json:"preprocess"`
		} `json:"teachers"`
	}
	if err := json.Unmarshal([]byte(ck.Meta[meta.Provenance]), &prov); err != nil {
		t.Fatal(err)
	}
	if prov.Mode != "online" || prov.Ensemble != "logits" || len(prov.Teachers) != 2 {
		t.Fatalf("provenance %+v: want an online ensemble of logits of two teachers", prov)
	}
	for i, want := range []string{`{"scale":255,"mean":[0.5],"std":[0.5]}`, `{"scale":127.5,"mean":[0],"std":[1]}`} {
		if got := string(prov.Teachers[i].Preprocess); got != want || prov.Teachers[i].SHA256 == "" {
			t.Errorf("teacher %d: preprocessing %s, sha256 %q; want %s", i+1, got, prov.Teachers[i].SHA256, want)
		}
	}
	// A bad spec names the flag.
	code, _, stderr = runMain(t, "train", "--model", f.spec, "--data", f.data, "--labels", f.labels,
		"--teacher", plain, "--teacher", plain+":scale=x", "--out", filepath.Join(f.dir, "bad.ckpt"))
	if code == ExitOK || !strings.Contains(stderr, "--teacher") {
		t.Errorf("bad teacher spec: exit %d, stderr %q", code, stderr)
	}
}
