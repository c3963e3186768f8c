package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func idxBytes(dims []int, data []byte) []byte {
	b := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, data...)
}

// TestSplit splits 5 images of 2x2 (gzip) and their labels (plain) at 3.
func TestSplit(t *testing.T) {
	dir := t.TempDir()
	pix := make([]byte, 5*4)
	for i := range pix {
		pix[i] = byte(i)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(idxBytes([]int{5, 2, 2}, pix))
	w.Close()
	images, labels := filepath.Join(dir, "img.gz"), filepath.Join(dir, "lbl.idx")
	os.WriteFile(images, gz.Bytes(), 0o644)
	os.WriteFile(labels, idxBytes([]int{5}, []byte{9, 8, 7, 6, 5}), 0o644)
	out := filepath.Join(dir, "split")
	if err := run(images, labels, 3, out); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{
		"first-images.idx": idxBytes([]int{3, 2, 2}, pix[:12]), "rest-images.idx": idxBytes([]int{2, 2, 2}, pix[12:]),
		"first-labels.idx": idxBytes([]int{3}, []byte{9, 8, 7}), "rest-labels.idx": idxBytes([]int{2}, []byte{6, 5}),
	}
	for name, w := range want {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || !cmp.Equal(got, w) {
			t.Errorf("%s: %v %v, want %v", name, got, err, w)
		}
	}
	if err := run(images, labels, 5, out); err == nil {
		t.Error("a split leaving no samples for the rest was accepted")
	}
}
