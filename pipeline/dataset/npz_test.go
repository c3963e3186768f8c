package dataset

import (
	"archive/zip"
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzReadNPZ feeds arbitrary bytes to the NPZ reader, with a key (empty for the only array):
// it must return an error wrapping ErrBadData or an array whose size matches its shape, and
// never panic.
func FuzzReadNPZ(f *testing.F) {
	x := npyBytes("|u1", []int{3, 2}, []byte{1, 2, 3, 4, 5, 6})
	h := npyBytes("<f2", []int{2}, halfBytes(binary.LittleEndian, []float32{0.5, -2}))
	f.Add(zipBytes(f, zip.Store, member{"x.npy", x}), "")
	f.Add(zipBytes(f, zip.Deflate, member{"x.npy", x}, member{"y.npy", h}), "y")
	f.Add(zipBytes(f, zip.Deflate, member{"x.npy", x}, member{"y.npy", h}), "")
	f.Add(zipBytes(f, zip.Store, member{"x.npy", []byte("not npy")}), "x")
	f.Add(zipBytes(f, zip.Store), "")
	f.Fuzz(func(t *testing.T, b []byte, key string) {
		a, err := readNPZ(b, "f.npz", key)
		if err != nil {
			if !errors.Is(err, ErrBadData) {
				t.Errorf("error does not wrap ErrBadData: %v", err)
			}
			return
		}
		checkArray(t, a)
	})
}
