package onnx

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// checksumGraph is a small MLP exported with a checksum, as export.Student writes it.
func checksumGraph(fp16 bool) ExportGraph {
	rng := rand.New(rand.NewPCG(3, 4))
	vals := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = rng.Float32()*2 - 1
		}
		return v
	}
	g := ChainForTest([]int{4}, 3,
		ChainLayer{Op: "Gemm", Weight: vals(20), WeightShape: []int{4, 5}, Bias: vals(5)},
		ChainLayer{Op: "Relu"},
		ChainLayer{Op: "Gemm", Weight: vals(15), WeightShape: []int{5, 3}, Bias: vals(3)})
	g.FP16, g.Checksum = fp16, true
	g.Metadata = map[string]string{SpecKey: `{"name":"t"}`, "distill.classes": "3", "zz": "last"}
	return g
}

func exportBytes(t *testing.T, g ExportGraph) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := Export(path, g); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestChecksumRoundTrip(t *testing.T) {
	for _, fp16 := range []bool{false, true} {
		g := checksumGraph(fp16)
		data := exportBytes(t, g)
		info, err := parseModelInfo(data)
		if err != nil {
			t.Fatalf("fp16 %v: read: %v", fp16, err)
		}
		if len(info.Metadata[ChecksumKey]) != 64 || bytes.Contains(data, checksumPlaceholder) {
			t.Errorf("fp16 %v: checksum %q not sealed", fp16, info.Metadata[ChecksumKey])
		}
		back, err := importModel(data)
		if err != nil {
			t.Fatalf("fp16 %v: import: %v", fp16, err)
		}
		if !back.Checksum {
			t.Errorf("fp16 %v: imported graph lost its Checksum flag", fp16)
		}
		if _, ok := back.Metadata[ChecksumKey]; ok {
			t.Errorf("fp16 %v: imported metadata keeps %s", fp16, ChecksumKey)
		}
		// Export, import, export again: the same bytes.
		if again := exportBytes(t, *back); !bytes.Equal(again, data) {
			t.Errorf("fp16 %v: re-export of the imported graph differs", fp16)
		}
	}
	// Without Checksum no entry is written, and a stale one in Metadata is dropped.
	g := checksumGraph(false)
	g.Checksum = false
	g.Metadata[ChecksumKey] = "stale"
	delete(g.Metadata, SpecKey)
	info, err := parseModelInfo(exportBytes(t, g))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info.Metadata[ChecksumKey]; ok {
		t.Errorf("export without Checksum wrote %s", ChecksumKey)
	}
}

// TestChecksumDetectsDamage flips every bit of every byte of an exported student, one at a time,
// and cuts it short at every length: each damaged file is refused by both readers, except files
// cut before their metadata, which have lost every metadata entry (and so are no distill student).
func TestChecksumDetectsDamage(t *testing.T) {
	data := exportBytes(t, checksumGraph(false))
	buf := make([]byte, len(data))
	for i := range data {
		for bit := range 8 {
			copy(buf, data)
			buf[i] ^= 1 << bit
			if _, err := parseModelInfo(buf); err == nil {
				t.Fatalf("byte %d bit %d flipped: ReadModelInfo accepted the file", i, bit)
			}
			if _, err := importModel(buf); err == nil {
				t.Fatalf("byte %d bit %d flipped: ImportGraph accepted the file", i, bit)
			}
		}
	}
	for n := range len(data) {
		cut := data[:n]
		if info, err := parseModelInfo(cut); err == nil && len(info.Metadata) != 0 {
			t.Fatalf("cut to %d of %d bytes: ReadModelInfo accepted the file with metadata %v", n, len(data), info.Metadata)
		}
		if g, err := importModel(cut); err == nil && len(g.Metadata) != 0 {
			t.Fatalf("cut to %d of %d bytes: ImportGraph accepted the file with metadata %v", n, len(data), g.Metadata)
		}
	}
	// The error says what happened.
	copy(buf, data)
	buf[len(buf)/3] ^= 0x10
	_, err := importModel(buf)
	if _, err2 := parseModelInfo(buf); !errors.Is(err, ErrChecksum) || !errors.Is(err2, ErrChecksum) {
		t.Errorf("flipped weight byte: errors %v and %v, want %v", err, err2, ErrChecksum)
	}
}
