package command

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/pipeline/targets"
)

// writeIDX writes a uint8 IDX file with the given dimensions.
func writeIDX(t *testing.T, path string, dims []int, data []byte) {
	t.Helper()
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0x08, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// targetsSetup is a directory with a Gemm teacher (4 inputs, 3 classes), n images [2,2] and labels.
type targetsSetup struct {
	dir, model, data, labels string
	W                        [][]float32
	b                        []float32
	pix                      []byte
	lab                      []int32
}

func newTargetsSetup(t *testing.T, n int) *targetsSetup {
	t.Helper()
	onnxtest.RequireLibrary(t)
	s := &targetsSetup{dir: t.TempDir(),
		W: [][]float32{{1, -2, 0.5}, {0.25, 3, -1}, {-1.5, 0.75, 2}, {2, -0.5, -0.25}}, b: []float32{0.1, -0.2, 0.3}}
	s.model = filepath.Join(s.dir, "teacher.onnx")
	s.data = filepath.Join(s.dir, "images.idx")
	s.labels = filepath.Join(s.dir, "labels.idx")
	onnxtest.GemmClassifier(t, s.model, s.W, s.b)
	rng := rand.New(rand.NewPCG(42, 1))
	s.pix = make([]byte, n*4)
	for i := range s.pix {
		s.pix[i] = byte(rng.IntN(256))
	}
	lb := make([]byte, n)
	for i := range lb {
		lb[i] = byte(rng.IntN(3))
		s.lab = append(s.lab, int32(lb[i]))
	}
	writeIDX(t, s.data, []int{n, 2, 2}, s.pix)
	writeIDX(t, s.labels, []int{n}, lb)
	return s
}

// want computes the teacher's logits by hand for (x/255 - mean).
func (s *targetsSetup) want(mean float32) []float32 {
	x := make([]float32, len(s.pix))
	for i, p := range s.pix {
		x[i] = float32(p)/255 - mean
	}
	return onnxtest.GemmRef(x, len(s.pix)/4, s.W, s.b)
}

func fileLogits(t *testing.T, path string) (*targets.File, []float32) {
	t.Helper()
	st, err := targets.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	z, err := st.Logits()
	if err != nil {
		t.Fatal(err)
	}
	return st, z
}

func within(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > tol {
			t.Fatalf("%s[%d] = %v, want %v (tolerance %g)", what, i, got[i], want[i], tol)
		}
	}
}

func TestTargetsCommand(t *testing.T) {
	s := newTargetsSetup(t, 12)
	out := filepath.Join(s.dir, "st.safetensors")
	code, stdout, stderr := runMain(t, "targets", "--teacher", s.model, "--data", s.data, "--labels", s.labels,
		"--out", out, "--batch", "5")
	if code != ExitOK {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr)
	}
	st, z := fileLogits(t, out)
	want := s.want(0)
	within(t, "logits", z, want, 1e-5)
	correct := 0
	for i, y := range s.lab {
		if eval.Argmax(want[i*3:(i+1)*3]) == int(y) {
			correct++
		}
	}
	if w := fmt.Sprintf("accuracy %.2f%% (%d/12", 100*float64(correct)/12, correct); !strings.Contains(stdout, w) {
		t.Errorf("stdout lacks %q:\n%s", w, stdout)
	}
	ti := st.Meta.Teachers[0]
	if ti.Path != "teacher.onnx" || ti.Input != "input" || ti.Output != "output" || ti.OutputKind != "logits" ||
		len(ti.SHA256) != 64 || ti.Preprocess.Scale != 255 || fmt.Sprint(ti.Preprocess.InputShape) != "[4]" {
		t.Errorf("teacher metadata %+v", ti)
	}
	if st.Meta.DataN != 12 || st.Meta.Start != 0 || st.Meta.End != 12 {
		t.Errorf("range metadata %+v", st.Meta)
	}
}

func TestTargetsShardsMergeCommand(t *testing.T) {
	s := newTargetsSetup(t, 10)
	full := filepath.Join(s.dir, "full.safetensors")
	base := []string{"targets", "--teacher", s.model, "--data", s.data, "--batch", "3", "--fp16"}
	if code, _, stderr := runMain(t, append(base, "--out", full)...); code != ExitOK {
		t.Fatalf("single run: exit %d\n%s", code, stderr)
	}
	merge := []string{"targets", "merge", "--out", filepath.Join(s.dir, "merged.safetensors")}
	for i := 0; i < 3; i++ {
		p := filepath.Join(s.dir, fmt.Sprintf("part-%d.safetensors", i))
		if code, _, stderr := runMain(t, append(base, "--out", p, "--shard", fmt.Sprintf("%d/3", i))...); code != ExitOK {
			t.Fatalf("shard %d: exit %d\n%s", i, code, stderr)
		}
		merge = append(merge, p)
	}
	if code, stdout, stderr := runMain(t, merge...); code != ExitOK || !strings.Contains(stdout, "merged 3 parts") {
		t.Fatalf("merge: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	a, _ := os.ReadFile(full)
	b, _ := os.ReadFile(filepath.Join(s.dir, "merged.safetensors"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("merged shards (%d bytes) differ from one run (%d bytes)", len(b), len(a))
	}
	// A gap (shard 1 missing) is refused.
	code, _, stderr := runMain(t, "targets", "merge", "--out", filepath.Join(s.dir, "gap.safetensors"), merge[4], merge[6])
	if code != ExitRuntime || !strings.Contains(stderr, "part-") {
		t.Errorf("merge with a gap: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestTargetsEnsembleCommand(t *testing.T) {
	s := newTargetsSetup(t, 8)
	out := filepath.Join(s.dir, "ens.safetensors")
	code, stdout, stderr := runMain(t, "targets", "--teacher", s.model, "--teacher", s.model+":mean=0.5,shape=4",
		"--data", s.data, "--labels", s.labels, "--out", out)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	st, z := fileLogits(t, out)
	if st.K != 2 || st.N != 8 || st.Classes != 3 {
		t.Fatalf("K=%d N=%d C=%d, want 2, 8, 3", st.K, st.N, st.Classes)
	}
	within(t, "teacher 0", z[:24], s.want(0), 1e-5)
	within(t, "teacher 1", z[24:], s.want(0.5), 1e-5)
	if !strings.Contains(stdout, "ensemble (mean probabilities): accuracy") {
		t.Errorf("no ensemble accuracy in:\n%s", stdout)
	}
}

func TestTargetsBadInput(t *testing.T) {
	s := newTargetsSetup(t, 6)
	notONNX := filepath.Join(s.dir, "not.onnx")
	os.WriteFile(notONNX, []byte("this is not a model"), 0o644)
	two := filepath.Join(s.dir, "two.onnx")
	onnxtest.TwoInputs(t, two)
	intIn := filepath.Join(s.dir, "int.onnx")
	onnxtest.IntInput(t, intIn)
	img := filepath.Join(s.dir, "image.onnx")
	W := make([][]float32, 784)
	for i := range W {
		W[i] = make([]float32, 10)
	}
	onnxtest.GemmClassifier(t, img, W, make([]float32, 10), onnxtest.ImageInput())
	fewLabels := filepath.Join(s.dir, "few-labels.idx")
	writeIDX(t, fewLabels, []int{4}, []byte{0, 1, 2, 0})
	out := filepath.Join(s.dir, "st.safetensors")

	tests := []struct {
		name    string
		teacher string
		labels  string
		extra   []string
		code    int
		want    []string
	}{
		{name: "not onnx", teacher: notONNX, code: ExitRuntime, want: []string{notONNX, "not an ONNX model"}},
		{name: "two inputs", teacher: two, code: ExitRuntime, want: []string{two, "2 inputs"}},
		{name: "int input", teacher: intIn, code: ExitRuntime, want: []string{intIn, "int64"}},
		{name: "shape mismatch", teacher: img, code: ExitRuntime, want: []string{s.data, "[2 2]", img, "[1 28 28]"}},
		{name: "labels count", teacher: s.model, labels: fewLabels, code: ExitRuntime, want: []string{"few-labels.idx", "4"}},
		{name: "missing data", teacher: s.model, extra: []string{"--data", filepath.Join(s.dir, "absent.idx")}, code: ExitRuntime, want: []string{"absent.idx"}},
		{name: "bad shard", teacher: s.model, extra: []string{"--shard", "3/3"}, code: ExitUsage, want: []string{"--shard", "3/3"}},
		{name: "bad teacher option", teacher: s.model + ":gamma=2", code: ExitUsage, want: []string{"gamma"}},
		{name: "bad device", teacher: s.model, extra: []string{"--device", "tpu"}, code: ExitUsage, want: []string{"tpu"}},
		{name: "batch 0", teacher: s.model, extra: []string{"--batch", "0"}, code: ExitUsage, want: []string{"--batch 0"}},
		{name: "stray argument", teacher: s.model, extra: []string{"extra"}, code: ExitUsage, want: []string{"extra"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"targets", "--teacher", tc.teacher, "--out", out}
			if tc.labels != "" {
				args = append(args, "--labels", tc.labels)
			}
			hasData := false
			for _, a := range tc.extra {
				hasData = hasData || a == "--data"
			}
			if !hasData {
				args = append(args, "--data", s.data)
			}
			args = append(args, tc.extra...)
			code, _, stderr := runMain(t, args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstderr:\n%s", code, tc.code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s was written", out)
			}
		})
	}
	if code, _, stderr := runMain(t, "targets", "--data", s.data, "--out", out); code != ExitUsage || !strings.Contains(stderr, "--teacher is required") {
		t.Errorf("no --teacher: exit %d\n%s", code, stderr)
	}
	left, _ := filepath.Glob(filepath.Join(s.dir, "*.tmp*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestTargetsJSONLogs(t *testing.T) {
	s := newTargetsSetup(t, 4)
	out := filepath.Join(s.dir, "st.safetensors")
	code, _, stderr := runMain(t, "targets", "--log-format", "json", "--teacher", s.model, "--data", s.data, "--out", out)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("no log lines")
	}
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
}

// TestTargetsImageFixedBatch runs a teacher with a [1,1,28,28] input (batch fixed at 1) over
// images stored as [28,28]: the input shape comes from the model and samples run one at a time.
func TestTargetsBatches(t *testing.T) {
	for _, tc := range []struct {
		name              string
		o                 TargetsOptions
		wantStep, wantRun int
	}{
		{"cpu default", TargetsOptions{Runtime: modelRuntime{Name: runtimeORT, ORT: onnx.Runtime{Device: "cpu"}}}, targets.DefaultBatch, targets.DefaultBatch},
		{"go runtime", TargetsOptions{Runtime: modelRuntime{Name: runtimeGo, ORT: onnx.Runtime{Device: "cpu"}}}, targets.DefaultBatch, targets.DefaultBatch},
		{"cuda default", TargetsOptions{Runtime: modelRuntime{Name: runtimeORT, ORT: onnx.Runtime{Device: "cuda"}}}, onnx.DefaultBatchCUDA, 0},
		{"auto default", TargetsOptions{Runtime: modelRuntime{Name: runtimeORT, ORT: onnx.Runtime{Device: "auto"}}}, onnx.DefaultBatchCUDA, 0},
		{"given on cuda", TargetsOptions{Batch: 500, Runtime: modelRuntime{Name: runtimeORT, ORT: onnx.Runtime{Device: "cuda"}}}, 500, 500},
		{"given on cpu", TargetsOptions{Batch: 7, Runtime: modelRuntime{Name: runtimeORT, ORT: onnx.Runtime{Device: "cpu"}}}, 7, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if step, run := tc.o.batches(); step != tc.wantStep || run != tc.wantRun {
				t.Errorf("batches() = %d, %d; want %d, %d", step, run, tc.wantStep, tc.wantRun)
			}
		})
	}
}

func TestTargetsImageFixedBatch(t *testing.T) {
	onnxtest.RequireLibrary(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(9, 9))
	W := make([][]float32, 784)
	for i := range W {
		W[i] = make([]float32, 10)
		for j := range W[i] {
			W[i][j] = float32(rng.NormFloat64() * 0.05)
		}
	}
	b := make([]float32, 10)
	model := filepath.Join(dir, "image.onnx")
	onnxtest.GemmClassifier(t, model, W, b, onnxtest.ImageInput(), onnxtest.FixedBatch(1), onnxtest.Softmax())
	const n = 5
	pix := make([]byte, n*784)
	for i := range pix {
		pix[i] = byte(rng.IntN(256))
	}
	data := filepath.Join(dir, "images.idx")
	writeIDX(t, data, []int{n, 28, 28}, pix)
	out := filepath.Join(dir, "st.safetensors")
	code, _, stderr := runMain(t, "targets", "--teacher", model, "--data", data, "--out", out, "--batch", "2")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	st, z := fileLogits(t, out)
	x := make([]float32, len(pix))
	for i, p := range pix {
		x[i] = float32(p) / 255
	}
	want := onnxtest.GemmRef(x, n, W, b)
	// The model outputs softmax probabilities, stored as log p = z - logsumexp(z).
	for i := 0; i < n; i++ {
		row := want[i*10 : (i+1)*10]
		var m, s float64 = math.Inf(-1), 0
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		for _, v := range row {
			s += math.Exp(float64(v) - m)
		}
		for j := range row {
			row[j] = float32(float64(row[j]) - m - math.Log(s))
		}
	}
	within(t, "log-probabilities", z, want, 1e-4)
	ti := st.Meta.Teachers[0]
	if ti.OutputKind != "probs" || fmt.Sprint(ti.Preprocess.InputShape) != "[1 28 28]" {
		t.Errorf("teacher metadata: output kind %q, input shape %v", ti.OutputKind, ti.Preprocess.InputShape)
	}
}

// TestTargetsRecordedPreprocessing: a teacher that records its preprocessing (as every student
// distill exports does) is run with it when no flag is given, and a flag given replaces its one
// field only.
func TestTargetsRecordedPreprocessing(t *testing.T) {
	s := newTargetsSetup(t, 12)
	recorded := filepath.Join(s.dir, "recorded.onnx")
	onnxtest.GemmClassifier(t, recorded, s.W, s.b, onnxtest.Metadata(map[string]string{
		"distill.preprocess": `{"scale":255,"mean":[0.25]}`}))
	for _, tt := range []struct {
		name string
		args []string
		mean float32
	}{
		{"recorded", nil, 0.25},
		{"a flag replaces its field", []string{"--mean", "0.5"}, 0.5},
		{"the spec replaces the flag", []string{"--mean", "0.5", "--teacher", recorded + ":mean=0.75"}, 0.75},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(s.dir, strings.ReplaceAll(tt.name, " ", "-")+".safetensors")
			args := []string{"targets", "--data", s.data, "--out", out}
			if !strings.Contains(strings.Join(tt.args, " "), "--teacher") {
				args = append(args, "--teacher", recorded)
			}
			if code, _, stderr := runMain(t, append(args, tt.args...)...); code != ExitOK {
				t.Fatalf("exit %d\nstderr:\n%s", code, stderr)
			}
			st, z := fileLogits(t, out)
			within(t, "logits", z, s.want(tt.mean), 1e-5)
			if p := st.Meta.Teachers[0].Preprocess; p.Scale != 255 || len(p.Mean) != 1 || float32(p.Mean[0]) != tt.mean {
				t.Errorf("recorded teacher preprocessing %+v, want scale 255, mean %v", p, tt.mean)
			}
		})
	}
}

// TestTargetsTeacherOutput: a teacher with two outputs that could hold the scores is refused with
// an error naming --teacher-output; with it, the chosen output is stored; a scikit-learn style
// ZipMap teacher records its class labels.
func TestTargetsTeacherOutput(t *testing.T) {
	s := newTargetsSetup(t, 12)
	two := filepath.Join(s.dir, "two.onnx")
	onnxtest.GemmClassifier(t, two, s.W, s.b, onnxtest.Softmax(), onnxtest.LogitsOutput())
	out := filepath.Join(s.dir, "two.safetensors")
	args := []string{"targets", "--teacher", two, "--data", s.data, "--scale", "255", "--out", out}
	code, _, stderr := runMain(t, args...)
	if code != ExitRuntime || !strings.Contains(stderr, "--teacher-output: ") || !strings.Contains(stderr, `"logits"`) {
		t.Fatalf("two candidate outputs: exit %d, stderr %q: want %d and an error naming --teacher-output", code, stderr, ExitRuntime)
	}
	if code, _, stderr := runMain(t, append(args, "--teacher-output", "logits")...); code != ExitOK {
		t.Fatalf("--teacher-output logits: exit %d\n%s", code, stderr)
	}
	st, z := fileLogits(t, out)
	within(t, "logits", z, s.want(0), 1e-5)
	if ti := st.Meta.Teachers[0]; ti.Output != "logits" || ti.OutputKind != "logits" {
		t.Errorf("teacher %+v: want output logits of kind logits", ti)
	}

	zip := filepath.Join(s.dir, "zip.onnx")
	onnxtest.GemmClassifier(t, zip, s.W, s.b, onnxtest.Softmax(), onnxtest.ZipMap("cat", "dog", "eel"))
	zout := filepath.Join(s.dir, "zip.safetensors")
	if code, _, stderr := runMain(t, "targets", "--teacher", zip, "--data", s.data, "--scale", "255", "--out", zout); code != ExitOK {
		t.Fatalf("ZipMap teacher: exit %d\n%s", code, stderr)
	}
	st, _ = fileLogits(t, zout)
	if ti := st.Meta.Teachers[0]; fmt.Sprint(ti.ClassLabels) != "[cat dog eel]" || ti.OutputKind != "probs" {
		t.Errorf("ZipMap teacher %+v: want class labels [cat dog eel] and probabilities", ti)
	}
}

// TestClassNamesCarried: the class names of a CSV's label column go into the soft-target file,
// the checkpoint, the exported model and eval's report.
func TestClassNamesCarried(t *testing.T) {
	s := newTargetsSetup(t, 12)
	names := []string{"cat", "dog", "eel"}
	var b strings.Builder
	b.WriteString("f0,f1,f2,f3,species\n")
	for i := range s.lab {
		p := s.pix[i*4 : (i+1)*4]
		fmt.Fprintf(&b, "%d,%d,%d,%d,%s\n", p[0], p[1], p[2], p[3], names[s.lab[i]])
	}
	csv := filepath.Join(s.dir, "pets.csv")
	if err := os.WriteFile(csv, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	soft := filepath.Join(s.dir, "pets.safetensors")
	if code, _, stderr := runMain(t, "targets", "--teacher", s.model, "--data", csv, "--label-column", "species",
		"--scale", "255", "--out", soft); code != ExitOK {
		t.Fatalf("targets: exit %d\n%s", code, stderr)
	}
	st, z := fileLogits(t, soft)
	within(t, "logits", z, s.want(0), 1e-5)
	if fmt.Sprint(st.Meta.ClassNames) != "[cat dog eel]" {
		t.Errorf("soft-target class names %v", st.Meta.ClassNames)
	}
	spec := filepath.Join(s.dir, "pets.json")
	if err := os.WriteFile(spec, []byte(`{"input":[4],"classes":3,"layers":[{"type":"dense","units":3}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(s.dir, "pets.ckpt")
	if code, _, stderr := runMain(t, "train", "--model", spec, "--data", csv, "--label-column", "species", "--scale", "255",
		"--soft-targets", soft, "--epochs", "1", "--batch", "4", "--blas", "go", "--out", ckpt); code != ExitOK {
		t.Fatalf("train: exit %d\n%s", code, stderr)
	}
	model := filepath.Join(s.dir, "pets.onnx")
	if code, _, stderr := runMain(t, "export", "--model", ckpt, "--out", model); code != ExitOK {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	info, err := onnx.ReadModelInfo(model)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Metadata["distill.class_names"]; got != `["cat","dog","eel"]` {
		t.Errorf("exported class names %q", got)
	}
	code, out, stderr := runMain(t, "eval", "--model", model, "--data", csv, "--label-column", "species")
	if code != ExitOK || !strings.Contains(out, "classes   0 cat, 1 dog, 2 eel") {
		t.Errorf("eval: exit %d, output:\n%s\n%s", code, out, stderr)
	}
}

// TestTargetsImageFolder: an image folder is read with its labels from the class folders and
// resized by --image-size; the class names reach the file.
func TestTargetsImageFolder(t *testing.T) {
	s := newTargetsSetup(t, 12)
	dir := filepath.Join(s.dir, "folder")
	for i, y := range s.lab {
		class := filepath.Join(dir, []string{"ant", "bee", "cow"}[y])
		if err := os.MkdirAll(class, 0o755); err != nil {
			t.Fatal(err)
		}
		// Each image 4x4, 2x2 blocks of the sample's 4 pixels, so that a resize to 2x2 gives them back.
		img := image.NewGray(image.Rect(0, 0, 4, 4))
		p := s.pix[i*4 : (i+1)*4]
		for yy := range 4 {
			for xx := range 4 {
				img.SetGray(xx, yy, color.Gray{Y: p[(yy/2)*2+xx/2]})
			}
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(class, fmt.Sprintf("%02d.png", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(s.dir, "folder.safetensors")
	code, stdout, stderr := runMain(t, "targets", "--teacher", s.model, "--data", dir, "--image-size", "2x2",
		"--input-shape", "4", "--out", out)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	st, _ := fileLogits(t, out)
	if fmt.Sprint(st.Meta.ClassNames) != "[ant bee cow]" || st.N != 12 {
		t.Errorf("class names %v, %d samples", st.Meta.ClassNames, st.N)
	}
	if !strings.Contains(stdout, "on the transfer set") {
		t.Errorf("no accuracy from the folder's labels:\n%s", stdout)
	}
	if code, _, stderr := runMain(t, "targets", "--teacher", s.model, "--data", dir, "--image-size", "2", "--out", out); code != ExitUsage || !strings.Contains(stderr, "--image-size") {
		t.Errorf("bad --image-size: exit %d, %s", code, stderr)
	}
}
