package dataset

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// npyBytes builds an NPY file (format 1.0) of dtype descr ("<f2", "|u1", ...) and shape, holding
// data as it is given, the way numpy.save writes one: the header dictionary padded with spaces
// to a multiple of 64 bytes, ending in a newline.
func npyBytes(descr string, shape []int, data []byte) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	tuple := "(" + strings.Join(dims, ", ") + ")"
	if len(shape) == 1 {
		tuple = "(" + dims[0] + ",)"
	}
	hdr := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, tuple)
	const preamble = 10 // magic, version, header length
	hdr += strings.Repeat(" ", (64-(preamble+len(hdr)+1)%64)%64) + "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), 0, 0)
	binary.LittleEndian.PutUint16(b[8:], uint16(len(hdr)))
	return append(append(b, hdr...), data...)
}

// member is one file of a test zip archive.
type member struct {
	name string
	data []byte
}

// zipBytes builds a zip archive of members, each stored or deflated as method says
// (zip.Store, zip.Deflate), as numpy.savez and savez_compressed do.
func zipBytes(tb testing.TB, method uint16, members ...member) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: m.name, Method: method})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write(m.data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// writeFile writes b to name in dir and returns its path.
func writeFile(tb testing.TB, dir, name string, b []byte) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// le32 encodes float32 values little-endian, as "<f4".
func le32(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}
