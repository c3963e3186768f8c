package command

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/onnx/onnxtest"
	"github.com/distillgo/distill/pipeline/eval"
)

// TestRuntimeGo: an exported student evaluated and used as a teacher with --runtime go gives
// onnxruntime's figures and logits; export --verify checks it under both runtimes; a model with an
// operator the pure-Go runtime lacks is refused naming the operator.
func TestRuntimeGo(t *testing.T) {
	f := newTrainFixture(t)
	ckpt := trainedCheckpoint(t, f)
	model := filepath.Join(f.dir, "student.onnx")
	code, out, stderr := runMain(t, "export", "--model", ckpt, "--out", model, "--verify", "16")
	if code != ExitOK || !strings.Contains(out, "verify: onnxruntime vs student") || !strings.Contains(out, "verify: pure Go (--runtime go) vs student") {
		t.Fatalf("export: exit %d\n%s\n%s", code, out, stderr)
	}
	var res [2]eval.Result
	for i, rt := range []string{"ort", "go"} {
		code, out, stderr := runMain(t, "eval", "--model", model, "--data", f.evalData, "--labels", f.evalLabels, "--runtime", rt, "--json")
		if code != ExitOK {
			t.Fatalf("eval --runtime %s: exit %d\n%s", rt, code, stderr)
		}
		if err := json.Unmarshal([]byte(out), &res[i]); err != nil {
			t.Fatal(err)
		}
	}
	if res[0].Metrics.Errors != res[1].Metrics.Errors || abs(res[0].Metrics.MeanNLL-res[1].Metrics.MeanNLL) > 1e-5 {
		t.Errorf("onnxruntime %+v, pure Go %+v", res[0].Metrics, res[1].Metrics)
	}
	var logits [2][]float32
	for i, rt := range []string{"ort", "go"} {
		soft := filepath.Join(f.dir, rt+".safetensors")
		if code, _, stderr := runMain(t, "targets", "--teacher", model, "--data", f.data, "--runtime", rt, "--out", soft); code != ExitOK {
			t.Fatalf("targets --runtime %s: exit %d\n%s", rt, code, stderr)
		}
		_, logits[i] = fileLogits(t, soft)
	}
	within(t, "pure-Go logits", logits[1], logits[0], 1e-4)

	softmax := filepath.Join(f.dir, "softmax.onnx")
	onnxtest.GemmClassifier(t, softmax, [][]float32{{1, 0}, {0, 1}}, []float32{0, 0}, onnxtest.Softmax())
	code, _, stderr = runMain(t, "eval", "--model", softmax, "--data", f.evalData, "--labels", f.evalLabels, "--runtime", "go")
	if code != ExitRuntime || !strings.Contains(stderr, "Softmax") {
		t.Errorf("a Softmax model under --runtime go: exit %d, %s", code, stderr)
	}
	code, _, stderr = runMain(t, "eval", "--model", model, "--data", f.evalData, "--labels", f.evalLabels, "--runtime", "go", "--device", "cuda")
	if code != ExitUsage || !strings.Contains(stderr, "--runtime go with --device cuda") {
		t.Errorf("--runtime go --device cuda: exit %d, %s", code, stderr)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
