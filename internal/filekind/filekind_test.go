package filekind

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// safetensorsBytes is a safetensors file of no tensors whose metadata format is format ("" for
// none).
func safetensorsBytes(format string) []byte {
	h := `{"__metadata__":{"format":"` + format + `"}}`
	if format == "" {
		h = `{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(b, h...), 0, 0, 0, 0)
}

func TestOf(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		data []byte
		want Kind
	}{
		{"checkpoint", safetensorsBytes("distill.checkpoint/v1"), Checkpoint},
		{"soft targets", safetensorsBytes("distill.softtargets/v1"), SoftTargets},
		{"other safetensors", safetensorsBytes(""), Safetensors},
		{"onnx", []byte{0x08, 0x07, 0x12, 0x04, 't', 'e', 's', 't'}, ONNX},
		{"empty", nil, Empty},
		{"idx", []byte{0, 0, 8, 1, 0, 0, 0, 2, 1, 2}, Other},
		{"text", []byte("x,label\n1,0\n"), Other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			if got, err := Of(path); err != nil || got != tc.want {
				t.Errorf("Of: %v, %v; want %v", got, err, tc.want)
			}
			if got := OfBytes(tc.data); got != tc.want {
				t.Errorf("OfBytes: %v; want %v", got, tc.want)
			}
		})
	}
}

// TestMismatch: a file of another kind than the reader wants is named for what it is, with where
// it goes; one of the kind wanted, or of no kind known, leaves the reader's own error.
func TestMismatch(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ckpt := write("s.ckpt", safetensorsBytes("distill.checkpoint/v1"))
	soft := write("soft.safetensors", safetensorsBytes("distill.softtargets/v1"))
	model := write("t.onnx", []byte{0x08, 0x07, 0x12, 0x00})
	empty := write("e.onnx", nil)
	data := write("x.idx", []byte{0, 0, 8, 1, 0, 0, 0, 1, 1})
	for _, tc := range []struct {
		name, path string
		want       Kind
		msg        string // "" for no error
	}{
		{"model as checkpoint", model, Checkpoint, model + " is an ONNX model, not a checkpoint (give it to --teacher, --init-from or eval --model)"},
		{"checkpoint as model", ckpt, ONNX, ckpt + " is a student checkpoint, not an ONNX model (export it with distill export"},
		{"soft targets as checkpoint", soft, Checkpoint, soft + " is a soft-target file, not a checkpoint (give it to train or sweep --soft-targets)"},
		{"checkpoint as soft targets", ckpt, SoftTargets, ckpt + " is a student checkpoint, not soft targets"},
		{"model as soft targets", model, SoftTargets, model + " is an ONNX model, not soft targets (give it to --teacher, or make soft targets of it"},
		{"empty model", empty, ONNX, ""},
		{"damaged safetensors", write("d.ckpt", safetensorsBytes("")), Checkpoint, ""},
		{"damaged checkpoint", ckpt, Checkpoint, ""},
		{"data", data, ONNX, ""},
		{"missing", filepath.Join(dir, "missing"), ONNX, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Mismatch(tc.path, tc.want)
			switch {
			case tc.msg == "" && err != nil:
				t.Errorf("Mismatch: %v, want nil", err)
			case tc.msg != "" && (err == nil || !strings.Contains(err.Error(), tc.msg)):
				t.Errorf("Mismatch: %v, want an error containing %q", err, tc.msg)
			}
		})
	}
}
