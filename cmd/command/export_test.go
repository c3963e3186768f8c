package command

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/export"
	"github.com/distillgo/distill/pipeline/provenance"
	"github.com/distillgo/distill/pipeline/train"
	"github.com/distillgo/distill/student"
)

// trainedCheckpoint trains the tiny fixture student for two epochs with hard labels through the
// CLI and returns the checkpoint path.
func trainedCheckpoint(t *testing.T, f *trainFixture) string {
	t.Helper()
	ckpt := filepath.Join(f.dir, "student.ckpt")
	code, out, stderr := runMain(t, "train", "--model", f.spec, "--data", f.data, "--labels", f.labels,
		"--eval-data", f.evalData, "--eval-labels", f.evalLabels, "--epochs", "2", "--batch", "32",
		"--lr", "0.01", "--scale", "255", "--blas", "go", "--out", ckpt)
	if code != ExitOK {
		t.Fatalf("train: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	return ckpt
}

func TestExportHelpAndUsage(t *testing.T) {
	code, out, _ := runMain(t, "export", "--help")
	if code != ExitOK || !strings.Contains(out, "--verify") || !strings.Contains(out, "distill.teacher_sha256") || !strings.Contains(out, "--int8") {
		t.Errorf("export --help: exit %d\n%s", code, out)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no model", []string{"--out", "x.onnx"}, "--model is required"},
		{"no out", []string{"--model", "x.ckpt"}, "--out is required"},
		{"negative verify", []string{"--model", "x.ckpt", "--out", "x.onnx", "--verify", "-1"}, "--verify: -1 samples: must not be negative"},
		{"random verify beyond the bound", []string{"--model", "x.ckpt", "--out", "x.onnx", "--verify", "1000000000"}, "--verify: 1000000000 random samples: at most 4096 (verification data allows up to its size)"},
		{"verify data without verify", []string{"--model", "x.ckpt", "--out", "x.onnx", "--verify", "0", "--verify-data", "d"}, "nothing would be verified"},
		{"positional", []string{"--model", "x.ckpt", "--out", "x.onnx", "extra"}, "unexpected argument"},
		{"int8 with fp16", []string{"--model", "x.ckpt", "--out", "x.onnx", "--int8", "--fp16"}, "--int8: int8 and fp16 weights exclude each other"},
		{"int8 before opset 13", []string{"--model", "x.ckpt", "--out", "x.onnx", "--int8", "--opset", "11"}, "--opset: 11: int8 weights need opset >= 13"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runMain(t, append([]string{"export"}, tc.args...)...)
			if code != ExitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, ExitUsage, tc.want)
			}
		})
	}
}

func TestExportCLI(t *testing.T) {
	f := newTrainFixture(t)
	ckpt := trainedCheckpoint(t, f)

	plain := exportUnverified(t, f, ckpt)
	ck, err := student.LoadCheckpoint(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	checkExportMetadata(t, plain, ck)
	checkInspectShowsMetadata(t, plain)

	onnxtest.RequireLibrary(t)
	// --verify-data reads every format --data does, not only arrays: a CSV table here.
	cases := append(exportVerifyCases(f), exportVerifyCase{"csv data", []string{"--verify", "20", "--verify-data", idxAsCSV(t, f.evalData)}, "on 20 samples of"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkVerifiedExport(t, ckpt, ck, tc) })
	}
}

// idxAsCSV writes the samples of the uint8 IDX file at path as a CSV table beside it, one
// column per value, and returns its path.
func idxAsCSV(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dims := int(b[3])
	n, dim := int(binary.BigEndian.Uint32(b[4:])), 1
	for i := 1; i < dims; i++ {
		dim *= int(binary.BigEndian.Uint32(b[4+4*i:]))
	}
	x := b[4+4*dims:]
	row := func(v func(j int) string) string {
		cells := make([]string, dim)
		for j := range cells {
			cells[j] = v(j)
		}
		return strings.Join(cells, ",") + "\n"
	}
	var sb strings.Builder
	sb.WriteString(row(func(j int) string { return fmt.Sprintf("f%d", j) }))
	for i := range n {
		sb.WriteString(row(func(j int) string { return fmt.Sprint(x[i*dim+j]) }))
	}
	out := strings.TrimSuffix(path, filepath.Ext(path)) + ".csv"
	if err := os.WriteFile(out, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// exportUnverified exports ckpt with --verify 0, which needs no onnxruntime, and returns the
// model's path.
func exportUnverified(t *testing.T, f *trainFixture, ckpt string) string {
	t.Helper()
	plain := filepath.Join(f.dir, "noverify.onnx")
	code, out, stderr := runMain(t, "export", "--model", ckpt, "--out", plain, "--verify", "0")
	if code != ExitOK || !strings.Contains(out, "not verified") {
		t.Fatalf("export --verify 0: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	return plain
}

// checkExportMetadata checks that the model exported from the hard-label checkpoint ck carries
// its preprocessing, provenance, classes, epochs, eval accuracy, tool and checkpoint hash, and no
// temperature.
func checkExportMetadata(t *testing.T, model string, ck *student.Checkpoint) {
	t.Helper()
	info, err := onnx.ReadModelInfo(model)
	if err != nil {
		t.Fatal(err)
	}
	var prov provenance.Record
	if err := json.Unmarshal([]byte(ck.Meta[meta.Provenance]), &prov); err != nil || prov.EvalAccuracy == nil {
		t.Fatalf("checkpoint provenance %q: %v", ck.Meta[meta.Provenance], err)
	}
	for k, want := range map[string]string{
		meta.Preprocess:   ck.Meta[meta.Preprocess],
		meta.Provenance:   ck.Meta[meta.Provenance],
		meta.Classes:      "3",
		meta.Epochs:       "2",
		meta.EvalAccuracy: jsonFloat(*prov.EvalAccuracy),
		meta.Tool:         meta.ToolVersion,
	} {
		if got := info.Metadata[k]; got != want {
			t.Errorf("metadata %s = %q, want %q", k, got, want)
		}
	}
	if _, ok := info.Metadata[meta.Temperature]; ok {
		t.Errorf("a hard-label student records a temperature: %v", info.Metadata)
	}
	if len(info.Metadata[meta.CheckpointSHA256]) != 64 {
		t.Errorf("no checkpoint sha256 in %v", info.Metadata)
	}
}

// checkInspectShowsMetadata checks that distill inspect shows the exported metadata.
func checkInspectShowsMetadata(t *testing.T, model string) {
	t.Helper()
	code, out, _ := runMain(t, "inspect", model)
	for _, want := range []string{meta.Preprocess, meta.EvalAccuracy, `"scale":255`} {
		if code != ExitOK || !strings.Contains(out, want) {
			t.Errorf("inspect: exit %d, lacks %q:\n%s", code, want, out)
		}
	}
}

// exportVerifyCase is one verified export: the flags beyond --model and --out, and a phrase the
// verification report must hold.
type exportVerifyCase struct {
	name  string
	extra []string
	want  string
}

func exportVerifyCases(f *trainFixture) []exportVerifyCase {
	return []exportVerifyCase{
		{"random", nil, "on 64 random inputs"},
		{"data", []string{"--verify", "20", "--verify-data", f.evalData}, "on 20 samples of"},
		{"more than the data", []string{"--verify", "1000", "--verify-data", f.evalData}, "on 150 samples of"},
		{"fp16", []string{"--fp16"}, "bound"},
		{"int8", []string{"--int8", "--verify", "150", "--verify-data", f.evalData}, "int8 weights"},
		{"int8 opset 17", []string{"--int8", "--opset", "17"}, "int8 weights, opset 17"},
		{"opset 17", []string{"--opset", "17"}, "agreement 100.00%"},
	}
}

// checkVerifiedExport exports ckpt as tc says and checks the verification report, that no
// temporary file is left and that the model reads back into ck's weights.
func checkVerifiedExport(t *testing.T, ckpt string, ck *student.Checkpoint, tc exportVerifyCase) {
	t.Helper()
	outPath := filepath.Join(t.TempDir(), "student.onnx")
	code, out, stderr := runMain(t, append([]string{"export", "--model", ckpt, "--out", outPath}, tc.extra...)...)
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "max abs logit difference") || !strings.Contains(out, tc.want) || !strings.Contains(out, ": ok") {
		t.Errorf("output lacks the verification figures (%q):\n%s", tc.want, out)
	}
	// No temporary file is left beside the model.
	if ents, _ := os.ReadDir(filepath.Dir(outPath)); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the model", len(ents))
	}
	tol := 0.0
	switch {
	case strings.Contains(tc.name, "fp16"):
		tol = 1e-3 // float16 weights: about 3 significant digits
	case strings.Contains(tc.name, "int8"):
		tol = 1e-2 // int8: half a step, max|w|/254 of the weight's channel (|w| < 1.5 here)
	}
	checkImportedWeights(t, outPath, ck, tol)
}

// checkImportedWeights checks that the exported model reads back into ck's weights, each within
// tol relative to its size (0: exactly).
func checkImportedWeights(t *testing.T, model string, ck *student.Checkpoint, tol float64) {
	t.Helper()
	net, err := export.Import(model)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	for name, v := range net.ParamValues() {
		for i := range v {
			if d := math.Abs(float64(v[i] - ck.Params[name][i])); d > tol*(1+math.Abs(float64(ck.Params[name][i]))) {
				t.Fatalf("%s[%d] = %v after the round trip, want %v", name, i, v[i], ck.Params[name][i])
			}
		}
	}
}

// jsonFloat formats v as ExportCheckpoint does.
func jsonFloat(v float64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestExportBadInput(t *testing.T) {
	f := newTrainFixture(t)
	ckpt := trainedCheckpoint(t, f)
	data, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flipped := append([]byte(nil), data...)
	flipped[len(flipped)-5] ^= 0x10
	flippedHeader := append([]byte(nil), data...)
	flippedHeader[20] ^= 0x01
	otherSpec := write("other.json", []byte(`{"name":"other","input":[16],"classes":3,"layers":[{"type":"dense","units":8},{"type":"relu"},{"type":"dense","units":3}]}`))

	for _, tc := range []struct {
		name  string
		model string
		extra []string
		want  []string
	}{
		{"missing", filepath.Join(dir, "nope.ckpt"), nil, []string{"nope.ckpt", "no such file"}},
		{"truncated", write("short.ckpt", data[:len(data)/2]), nil, []string{"short.ckpt"}},
		{"empty", write("empty.ckpt", nil), nil, []string{"empty.ckpt"}},
		{"flipped data byte", write("flip.ckpt", flipped), nil, []string{"flip.ckpt", "sha256"}},
		{"flipped header byte", write("fliph.ckpt", flippedHeader), nil, []string{"fliph.ckpt"}},
		{"not a checkpoint", write("model.onnx", []byte("\x08\x07\x12\x04onnx")), nil, []string{"model.onnx"}},
		{"other spec", ckpt, []string{"--spec", otherSpec}, []string{"was made for spec", "other"}},
		{"opset too old", ckpt, []string{"--opset", "6"}, []string{"opset too old", "Gemm"}},
		{"bad verify data", ckpt, []string{"--verify-data", filepath.Join(dir, "nodata.idx")}, []string{"nodata.idx"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.onnx")
			verify := "0" // loading fails before onnxruntime would be needed
			if tc.name == "bad verify data" {
				onnxtest.RequireLibrary(t)
				verify = "4"
			}
			args := append([]string{"export", "--model", tc.model, "--out", out, "--verify", verify}, tc.extra...)
			code, stdout, stderr := runMain(t, args...)
			if code != ExitRuntime {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitRuntime, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, "Usage") || strings.Contains(stderr, "USAGE") {
				t.Errorf("a runtime error printed the usage:\n%s", stderr)
			}
			if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
				t.Errorf("a failed export left %d files behind", len(ents))
			}
		})
	}
}

// TestExportChain uses an exported student as the teacher of `distill targets` (teacher ->
// student -> student of the student): the soft targets equal the student's own forward pass, and
// the exported model initialises a student of the same spec, but not of another one.
func TestExportChain(t *testing.T) {
	onnxtest.RequireLibrary(t)
	f := newTrainFixture(t)
	ckpt := trainedCheckpoint(t, f)
	model := filepath.Join(f.dir, "student.onnx")
	if code, out, stderr := runMain(t, "export", "--model", ckpt, "--out", model); code != ExitOK {
		t.Fatalf("export: exit %d\n%s\n%s", code, out, stderr)
	}
	soft := filepath.Join(f.dir, "student-targets.safetensors")
	if code, out, stderr := runMain(t, "targets", "--teacher", model, "--data", f.data, "--labels", f.labels,
		"--out", soft, "--scale", "255", "--output", "logits", "--threads", "1"); code != ExitOK {
		t.Fatalf("targets: exit %d\n%s\n%s", code, out, stderr)
	}
	_, got := fileLogits(t, soft)
	want := checkpointLogits(t, ckpt, f.data)
	if len(got) != len(want) {
		t.Fatalf("soft targets hold %d logits, the student gives %d", len(got), len(want))
	}
	const tol = 1e-5 // float32 onnxruntime vs Gorgonia: summation order only
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= tol) {
			t.Fatalf("logit %d: soft target %v, student %v", i, got[i], want[i])
		}
	}

	checkGrandStudent(t, f, model, soft)
	checkInitFromExport(t, f, model)
}

// checkpointLogits returns the logits that the student of ckpt gives for the images in data,
// scaled by 1/255, computed by Gorgonia.
func checkpointLogits(t *testing.T, ckpt, data string) []float32 {
	t.Helper()
	ck, err := student.LoadCheckpoint(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	net, err := student.NewNet(ck.Spec, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	if err := ck.Apply(net); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Load(data, "")
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, len(ds.X))
	if err := (dataset.Preprocess{Scale: 255}).Apply(ds.X, ds.N, ds.Shape, x); err != nil {
		t.Fatal(err)
	}
	want, err := net.Forward(x, ds.N)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// chainTrainArgs are the flags of a one-epoch train run of the fixture spec on the fixture data.
func chainTrainArgs(f *trainFixture) []string {
	return []string{"train", "--model", f.spec, "--data", f.data, "--labels", f.labels, "--epochs", "1",
		"--batch", "32", "--scale", "255", "--blas", "go"}
}

// checkGrandStudent trains a student of the student on soft, the soft targets of the exported
// student model, and checks that its export records that teacher, T and alpha.
func checkGrandStudent(t *testing.T, f *trainFixture, model, soft string) {
	t.Helper()
	grand := filepath.Join(f.dir, "grand.ckpt")
	if code, out, stderr := runMain(t, append(chainTrainArgs(f), "--soft-targets", soft, "--out", grand)...); code != ExitOK {
		t.Fatalf("train on the student's targets: exit %d\n%s\n%s", code, out, stderr)
	}
	grandModel := filepath.Join(f.dir, "grand.onnx")
	if code, out, stderr := runMain(t, "export", "--model", grand, "--out", grandModel, "--verify", "8"); code != ExitOK {
		t.Fatalf("export grand: exit %d\n%s\n%s", code, out, stderr)
	}
	teacherInfo, err := onnx.ReadModelInfo(model)
	if err != nil {
		t.Fatal(err)
	}
	info, err := onnx.ReadModelInfo(grandModel)
	if err != nil {
		t.Fatal(err)
	}
	def := train.DefaultOptions()
	for k, want := range map[string]string{
		meta.TeacherSHA256: teacherInfo.SHA256,
		meta.Temperature:   jsonFloat(def.Temperature),
		meta.Alpha:         jsonFloat(def.Alpha),
		meta.Epochs:        "1",
	} {
		if got := info.Metadata[k]; got != want {
			t.Errorf("grand-student metadata %s = %q, want %q", k, got, want)
		}
	}
}

// checkInitFromExport checks train --init-from the exported student model: the same spec works,
// another spec is refused.
func checkInitFromExport(t *testing.T, f *trainFixture, model string) {
	t.Helper()
	if code, out, stderr := runMain(t, append(chainTrainArgs(f), "--init-from", model, "--out", filepath.Join(f.dir, "init.ckpt"))...); code != ExitOK {
		t.Fatalf("train --init-from: exit %d\n%s\n%s", code, out, stderr)
	}
	other := filepath.Join(f.dir, "other.json")
	if err := os.WriteFile(other, []byte(`{"name":"other","input":[16],"classes":3,"layers":[{"type":"dense","units":8},{"type":"relu"},{"type":"dense","units":3}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"train", "--model", other, "--data", f.data, "--labels", f.labels, "--epochs", "1", "--scale", "255",
		"--blas", "go", "--init-from", model, "--out", filepath.Join(f.dir, "other.ckpt")}
	if code, _, stderr := runMain(t, args...); code != ExitRuntime || !strings.Contains(stderr, "layers.0.weight") {
		t.Errorf("train --init-from with another spec: exit %d, stderr %q", code, stderr)
	}
}

// TestExportVerifyFails exports a checkpoint whose logits overflow float32 (weights of 1e38), so
// that onnxruntime and the student cannot agree: export prints the figures, fails with exit code
// 1 and writes nothing.
func TestExportVerifyFails(t *testing.T) {
	onnxtest.RequireLibrary(t)
	dir := t.TempDir()
	spec, err := student.ParseSpec([]byte(`{"name":"huge","input":[16],"classes":3,"layers":[{"type":"dense","units":3}]}`), "huge")
	if err != nil {
		t.Fatal(err)
	}
	net, err := student.NewNet(spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	params := net.ParamValues()
	net.Close()
	for _, v := range params {
		for i := range v {
			v[i] = 1e38
		}
	}
	ckpt := filepath.Join(dir, "huge.ckpt")
	if err := student.SaveCheckpoint(ckpt, &student.Checkpoint{Spec: spec, Params: params}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "huge.onnx")
	code, stdout, stderr := runMain(t, "export", "--model", ckpt, "--out", out, "--verify", "8")
	if code != ExitRuntime {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitRuntime, stdout, stderr)
	}
	t.Logf("stdout: %sstderr: %s", stdout, lastLine(stderr))
	if !strings.Contains(stdout, "max abs logit difference") || !strings.Contains(stdout, "FAILED") {
		t.Errorf("stdout lacks the failed figures:\n%s", stdout)
	}
	if !strings.Contains(stderr, "does not match the student") || !strings.Contains(stderr, "nothing written") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries after a failed verification, want only the checkpoint", len(ents))
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestExportInt8InitFrom exports an int8 model (unverified: no onnxruntime needed) and starts a
// student of the same spec from its dequantised weights with train --init-from.
func TestExportInt8InitFrom(t *testing.T) {
	f := newTrainFixture(t)
	ckpt := trainedCheckpoint(t, f)
	model := filepath.Join(f.dir, "int8.onnx")
	code, out, stderr := runMain(t, "export", "--model", ckpt, "--out", model, "--int8", "--verify", "0")
	if code != ExitOK || !strings.Contains(out, "int8 weights") {
		t.Fatalf("export --int8: exit %d\n%s\n%s", code, out, stderr)
	}
	if code, out, stderr := runMain(t, append(chainTrainArgs(f), "--init-from", model, "--out", filepath.Join(f.dir, "init.ckpt"))...); code != ExitOK {
		t.Fatalf("train --init-from an int8 model: exit %d\n%s\n%s", code, out, stderr)
	}
}
