package command

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/onnx/onnxtest"
)

// npyInt64 returns an NPY file of int64 values shaped [n, l].
func npyInt64(n, l int, v []int64) []byte {
	hdr := fmt.Sprintf("{'descr': '<i8', 'fortran_order': False, 'shape': (%d, %d), }", n, l)
	hdr += strings.Repeat(" ", 63-(10+len(hdr))%64) + "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
	b = append(b, hdr...)
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, uint64(x))
	}
	return b
}

// TestTeacherInputs: a token teacher (int64 input_ids and attention_mask) fed by --input arrays
// makes soft targets for a pixel student of the same samples, offline and online.
func TestTeacherInputs(t *testing.T) {
	s := newTargetsSetup(t, 12)
	const n, l = 12, 6
	rng := rand.New(rand.NewPCG(3, 4))
	ids, mask := make([]int64, n*l), make([]int64, n*l)
	for i := range ids {
		ids[i], mask[i] = int64(rng.IntN(50)), int64(rng.IntN(2))
	}
	W := [][]float32{{0.1, -0.2, 0.05}, {0.3, 0.1, -0.4}}
	b := []float32{0, 0.5, -0.5}
	model := filepath.Join(s.dir, "tokens.onnx")
	onnxtest.TokenClassifier(t, model, l, W, b)
	idsFile, maskFile := filepath.Join(s.dir, "ids.npy"), filepath.Join(s.dir, "mask.npy")
	for p, v := range map[string][]int64{idsFile: ids, maskFile: mask} {
		if err := os.WriteFile(p, npyInt64(n, l, v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for name, v := range map[string][]int64{"input_ids": ids, "attention_mask": mask} {
		w, err := zw.Create(name + ".npy")
		if err != nil {
			t.Fatal(err)
		}
		w.Write(npyInt64(n, l, v))
	}
	zw.Close()
	npz := filepath.Join(s.dir, "tokens.npz")
	if err := os.WriteFile(npz, zb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	want := onnxtest.GemmRef(onnxtest.TokenFeatures(ids, mask, n, l), n, W, b)
	for _, in := range [][]string{{"--input", npz}, {"--input", "input_ids=" + idsFile, "--input", "attention_mask=" + maskFile}} {
		out := filepath.Join(s.dir, "tok.safetensors")
		args := append([]string{"targets", "--teacher", model, "--data", s.data, "--labels", s.labels, "--out", out, "--overwrite"}, in...)
		if code, _, stderr := runMain(t, args...); code != ExitOK {
			t.Fatalf("targets %v: exit %d\n%s", in, code, stderr)
		}
		st, z := fileLogits(t, out)
		within(t, "logits", z, want, 1e-4)
		if ins := st.Meta.Teachers[0].Inputs; len(ins) != 2 || len(ins[0].SHA256) != 64 {
			t.Errorf("recorded inputs %+v", ins)
		}
	}
	// Without the inputs, the error names the flag.
	code, _, stderr := runMain(t, "targets", "--teacher", model, "--data", s.data, "--out", filepath.Join(s.dir, "x.safetensors"))
	if code != ExitRuntime || !strings.Contains(stderr, "--input: ") {
		t.Errorf("token teacher without --input: exit %d, %s", code, stderr)
	}
	// Online: the pixel student learns from the token teacher.
	spec := filepath.Join(s.dir, "pix.json")
	if err := os.WriteFile(spec, []byte(`{"input":[4],"classes":3,"layers":[{"type":"dense","units":3}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runMain(t, "train", "--model", spec, "--data", s.data, "--labels", s.labels, "--teacher", model,
		"--teacher-input", "input_ids="+idsFile, "--teacher-input", "attention_mask="+maskFile,
		"--epochs", "1", "--batch", "5", "--blas", "go", "--out", filepath.Join(s.dir, "pix.ckpt")); code != ExitOK {
		t.Fatalf("online train with --teacher-input: exit %d\n%s", code, stderr)
	}
}
