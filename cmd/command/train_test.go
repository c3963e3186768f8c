package command

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/onnx/onnxtest"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/pipeline/provenance"
	"github.com/distillgo/distill/student"
)

// trainFixture writes a tiny synthetic task for the train and eval commands: 4x4 uint8 images in
// 3 classes, class c lighting up row c, and a 16-16-3 student spec.
type trainFixture struct {
	dir, spec                          string
	data, labels, evalData, evalLabels string
}

func writeUint8IDX(t *testing.T, path string, dims []int, data []uint8) {
	t.Helper()
	b := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	if err := os.WriteFile(path, append(b, data...), 0o644); err != nil {
		t.Fatal(err)
	}
}

func rowImages(t *testing.T, dir, name string, n int, seed uint64) (data, labels string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	x := make([]uint8, n*16)
	y := make([]uint8, n)
	for i := range n {
		c := rng.IntN(3)
		y[i] = uint8(c)
		for p := range 16 {
			v := rng.IntN(60)
			if p/4 == c {
				v += 140 + rng.IntN(40)
			}
			x[i*16+p] = uint8(v)
		}
	}
	data, labels = filepath.Join(dir, name+"-images.idx"), filepath.Join(dir, name+"-labels.idx")
	writeUint8IDX(t, data, []int{n, 4, 4}, x)
	writeUint8IDX(t, labels, []int{n}, y)
	return data, labels
}

func newTrainFixture(t *testing.T) *trainFixture {
	t.Helper()
	f := &trainFixture{dir: t.TempDir()}
	f.spec = filepath.Join(f.dir, "tiny.json")
	spec := `{"name":"tiny","input":[16],"classes":3,"layers":[{"type":"dense","units":16},{"type":"relu"},{"type":"dense","units":3}]}`
	if err := os.WriteFile(f.spec, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	f.data, f.labels = rowImages(t, f.dir, "train", 300, 1)
	f.evalData, f.evalLabels = rowImages(t, f.dir, "eval", 150, 2)
	return f
}

// rowWeights are the weights of a Gemm teacher for the task: logit c = 2 * sum of row c.
func rowWeights() [][]float32 {
	W := make([][]float32, 16)
	for p := range W {
		W[p] = make([]float32, 3)
		if p/4 < 3 {
			W[p][p/4] = 2
		}
	}
	return W
}

// rowTeacherModel writes an ONNX Gemm teacher for the task with rowWeights and no bias.
func rowTeacherModel(t *testing.T, path string) {
	onnxtest.GemmClassifier(t, path, rowWeights(), []float32{0, 0, 0})
}

func TestTrainHelp(t *testing.T) {
	code, out, _ := runMain(t, "train", "--help")
	if code != ExitOK {
		t.Fatalf("train --help: exit %d", code)
	}
	for _, want := range []string{"T^2", "batchmean", "Hinton et al. 2015", "--soft-targets", "--teacher-scale", "--resume", "--init-from", "--exclude-classes", "--only-classes", "online ensemble"} {
		if !strings.Contains(out, want) {
			t.Errorf("train --help lacks %q", want)
		}
	}
}

func TestTrainUsageErrors(t *testing.T) {
	f := newTrainFixture(t)
	base := []string{"train", "--model", f.spec, "--data", f.data, "--labels", f.labels, "--out", filepath.Join(f.dir, "x.ckpt")}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"both teacher kinds", []string{"--soft-targets", "s", "--teacher", "t"}, "choose one"},
		{"bad loss", []string{"--loss", "l1"}, `--loss "l1": want kl, mse or dkd`},
		{"bad alpha", []string{"--alpha", "1.5"}, "--alpha: 1.5"},
		{"jitter offline", []string{"--soft-targets", "s", "--jitter", "2"}, "--jitter: 2 with offline soft targets"},
		{"eval data alone", []string{"--eval-data", f.evalData}, "--eval-data: eval data and eval labels go together"},
		{"bad std", []string{"--std", "0"}, "--std"},
		{"resume and overwrite", []string{"--resume", "--overwrite"}, "choose one"},
		{"bad schedule", []string{"--schedule", "30:1e-3,20:1e-4"}, "--schedule: schedule \"30:1e-3,20:1e-4\": epoch 20 after 30"},
		{"schedule and lr", []string{"--schedule", "3:1e-3", "--lr", "0.1"}, "--lr with a step --schedule"},
		{"schedule and epochs", []string{"--schedule", "3:1e-3,4:1e-4", "--epochs", "5"}, "--schedule: the steps end at epoch 4, but the run has 5 epochs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runMain(t, append(append([]string{}, base...), tt.args...)...)
			if code != ExitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q: want %d and %q", code, stderr, ExitUsage, tt.want)
			}
		})
	}
	if code, _, stderr := runMain(t, "train", "--data", f.data, "--out", "x"); code != ExitUsage || !strings.Contains(stderr, "model") {
		t.Errorf("missing --model: exit %d, stderr %q", code, stderr)
	}
}

// TestTrainEvalCLI trains on hard labels and online from an ONNX teacher, resumes, and evaluates
// the checkpoint with and without the teacher, as text and JSON.
func TestTrainEvalCLI(t *testing.T) {
	f := newTrainFixture(t)
	ckpt := filepath.Join(f.dir, "student.ckpt")
	metrics := filepath.Join(f.dir, "m.jsonl")
	plot := filepath.Join(f.dir, "curves.png")
	common := []string{"--model", f.spec, "--data", f.data, "--labels", f.labels, "--eval-data", f.evalData,
		"--eval-labels", f.evalLabels, "--batch", "32", "--lr", "0.01", "--scale", "255", "--blas", "go"}
	args := append([]string{"train", "--epochs", "2", "--out", ckpt, "--metrics", metrics, "--plot", plot}, common...)
	code, out, stderr := runMain(t, args...)
	if code != ExitOK {
		t.Fatalf("train: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "epoch 2/2") || !strings.Contains(out, "eval loss") {
		t.Errorf("train output lacks the epoch lines:\n%s", out)
	}
	// Again without --resume: refused, checkpoint kept.
	if code, _, stderr := runMain(t, args...); code != ExitRuntime || !strings.Contains(stderr, "--resume") {
		t.Errorf("train over an existing checkpoint: exit %d, stderr %q", code, stderr)
	}
	args = append([]string{"train", "--epochs", "4", "--resume", "--out", ckpt, "--metrics", metrics, "--plot", plot}, common...)
	if code, out, stderr := runMain(t, args...); code != ExitOK || !strings.Contains(out, "epoch 4/4") || strings.Contains(out, "epoch 2/4") {
		t.Fatalf("train --resume: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	data, err := os.ReadFile(metrics)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != 4 {
		t.Errorf("metrics file has %d lines after 2+2 epochs, want 4:\n%s", n, data)
	}
	if st, err := os.Stat(plot); err != nil || st.Size() == 0 {
		t.Errorf("plot: %v", err)
	}

	code, out, stderr = runMain(t, "eval", "--model", ckpt, "--data", f.evalData, "--labels", f.evalLabels, "--json")
	if code != ExitOK {
		t.Fatalf("eval: exit %d\n%s", code, stderr)
	}
	var res eval.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("eval --json: %v\n%s", err, out)
	}
	if res.Metrics == nil || res.Metrics.N != 150 || res.Metrics.Accuracy < 0.95 || res.Kind != eval.KindCheckpoint {
		t.Errorf("eval --json: %+v", res)
	}

	onnxtest.RequireLibrary(t)
	teacher := filepath.Join(f.dir, "teacher.onnx")
	rowTeacherModel(t, teacher)
	online := filepath.Join(f.dir, "online.ckpt")
	args = append([]string{"train", "--epochs", "3", "--out", online, "--teacher", teacher, "--jitter", "1",
		"--temperature", "2", "--threads", "1"}, common...)
	if code, out, stderr := runMain(t, args...); code != ExitOK || !strings.Contains(out, "agree") {
		t.Fatalf("online train: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	code, out, stderr = runMain(t, "eval", "--model", online, "--data", f.evalData, "--labels", f.evalLabels, "--teacher", teacher)
	if code != ExitOK {
		t.Fatalf("eval --teacher: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"accuracy", "agreement", "confusion matrix", "ECE"} {
		if !strings.Contains(out, want) {
			t.Errorf("eval output lacks %q:\n%s", want, out)
		}
	}
	// The teacher itself, as an ONNX model with preprocessing flags.
	code, out, stderr = runMain(t, "eval", "--model", teacher, "--data", f.evalData, "--labels", f.evalLabels, "--scale", "255", "--json")
	if code != ExitOK {
		t.Fatalf("eval onnx: exit %d\n%s", code, stderr)
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Kind != eval.KindONNX || res.Metrics.Accuracy < 0.99 {
		t.Errorf("eval onnx: %v %+v", err, res)
	}
}

// TestTrainTeacherRecordedPreprocessing: an online teacher that records its preprocessing is run
// with it, not with the student's; a --teacher-* flag replaces its one field.
func TestTrainTeacherRecordedPreprocessing(t *testing.T) {
	onnxtest.RequireLibrary(t)
	f := newTrainFixture(t)
	W := rowWeights()
	teacher := filepath.Join(f.dir, "recorded.onnx")
	onnxtest.GemmClassifier(t, teacher, W, []float32{0, 0, 0}, onnxtest.Metadata(map[string]string{
		"distill.preprocess": `{"scale":255,"mean":[0.5],"std":[0.5]}`}))
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"recorded", nil, `{"scale":255,"mean":[0.5],"std":[0.5]}`},
		{"teacher flag", []string{"--teacher-std", "0.25"}, `{"scale":255,"mean":[0.5],"std":[0.25]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ckpt := filepath.Join(f.dir, strings.ReplaceAll(tt.name, " ", "-")+".ckpt")
			args := append([]string{"train", "--model", f.spec, "--data", f.data, "--labels", f.labels,
				"--teacher", teacher, "--epochs", "1", "--batch", "32", "--scale", "1", "--blas", "go", "--out", ckpt}, tt.args...)
			if code, _, stderr := runMain(t, args...); code != ExitOK {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			ck, err := student.LoadCheckpoint(ckpt)
			if err != nil {
				t.Fatal(err)
			}
			var prov provenance.Record
			if err := json.Unmarshal([]byte(ck.Meta[meta.Provenance]), &prov); err != nil {
				t.Fatal(err)
			}
			if got, _ := json.Marshal(prov.TeacherPreprocess); string(got) != tt.want {
				t.Errorf("teacher preprocessing %s, want %s", got, tt.want)
			}
		})
	}
}
