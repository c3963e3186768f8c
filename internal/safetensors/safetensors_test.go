package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sampleTensors returns a few tensors of different dtypes with seeded data.
func sampleTensors(t testing.TB) []Tensor {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	f32 := make([]float32, 2*3)
	for i := range f32 {
		f32[i] = float32(rng.NormFloat64())
	}
	w, err := EncodeFloat32(f32, "F32")
	if err != nil {
		t.Fatal(err)
	}
	h, err := EncodeFloat32([]float32{1, -2.5, 0.125, 65504}, "F16")
	if err != nil {
		t.Fatal(err)
	}
	i64 := make([]byte, 8*3)
	for i, v := range []int64{-1, 7, 1 << 40} {
		binary.LittleEndian.PutUint64(i64[8*i:], uint64(v))
	}
	return []Tensor{
		{Name: "layers.0.weight", DType: "F32", Shape: []int{2, 3}, Data: w},
		{Name: "half", DType: "F16", Shape: []int{4}, Data: h},
		{Name: "step", DType: "I64", Shape: []int{3}, Data: i64},
		{Name: "bytes", DType: "U8", Shape: []int{5}, Data: []byte{1, 2, 3, 4, 5}},
		{Name: "empty", DType: "F32", Shape: []int{0, 4}, Data: nil},
	}
}

func writeSample(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "sample.safetensors")
	if err := WriteFile(path, sampleTensors(t), map[string]string{"format": "test", "spec": `{"a":"<b>"}`}); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRoundTrip(t *testing.T) {
	path := writeSample(t, t.TempDir())
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Meta["format"] != "test" || f.Meta["spec"] != `{"a":"<b>"}` {
		t.Errorf("meta = %v", f.Meta)
	}
	if len(f.Meta[ChecksumKey]) != 64 || len(f.Meta[HeaderChecksumKey]) != 64 {
		t.Errorf("checksums missing: %v", f.Meta)
	}
	for _, want := range sampleTensors(t) {
		t.Run(want.Name, func(t *testing.T) {
			info, ok := f.Tensor(want.Name)
			if !ok {
				t.Fatal("missing")
			}
			if info.DType != want.DType || !cmp.Equal(info.Shape, want.Shape) {
				t.Errorf("info = %+v", info)
			}
			raw, err := f.Raw(want.Name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(raw, want.Data) {
				t.Errorf("raw = %v, want %v", raw, want.Data)
			}
		})
	}
	got, err := f.Float32("half")
	if err != nil {
		t.Fatal(err)
	}
	// All four values are exactly representable in float16.
	if diff := cmp.Diff([]float32{1, -2.5, 0.125, 65504}, got); diff != "" {
		t.Errorf("F16 (-want +got):\n%s", diff)
	}
	if _, err := f.Float32("step"); err == nil {
		t.Error("Float32 of an I64 tensor: no error")
	}
	if _, err := f.Float32("nope"); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("missing tensor error = %v", err)
	}
}

func TestF16Rounding(t *testing.T) {
	in := []float32{0.1, 1.0 / 3, -1e-3, 1234.567}
	raw, err := EncodeFloat32(in, "F16")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(in))
	if err := DecodeFloat32(out, raw, "F16"); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		// float16 has an 11-bit significand: relative error at most 2^-11.
		if math.Abs(float64(out[i]-in[i])) > math.Abs(float64(in[i]))/2048 {
			t.Errorf("%g -> %g", in[i], out[i])
		}
	}
}

func TestLayout(t *testing.T) {
	path := writeSample(t, t.TempDir())
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(data)
	if (8+n)%8 != 0 {
		t.Errorf("data section starts at %d, not a multiple of 8", 8+n)
	}
	if data[8] != '{' {
		t.Errorf("header starts with %q", data[8])
	}
	if !strings.HasPrefix(string(data[8:]), `{"__metadata__":{"data_sha256":"`) {
		t.Errorf("header = %s", data[8:8+n])
	}
	tmps, _ := filepath.Glob(path + ".tmp-*")
	if len(tmps) != 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
}

func TestDeterministicAndStreaming(t *testing.T) {
	dir := t.TempDir()
	a := writeSample(t, dir)
	want, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	// The same content written in pieces, out of order, and with one overwrite.
	tensors := sampleTensors(t)
	infos := make([]TensorInfo, len(tensors))
	for i, ts := range tensors {
		infos[i] = TensorInfo{Name: ts.Name, DType: ts.DType, Shape: ts.Shape}
	}
	b := filepath.Join(dir, "b.safetensors")
	w, err := Create(b, infos, map[string]string{"spec": `{"a":"<b>"}`, "format": "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for i := len(tensors) - 1; i >= 0; i-- {
		ts := tensors[i]
		size := DTypeSize(ts.DType)
		for off := len(ts.Data) - size; off >= 0; off -= size {
			if err := w.WriteAt(ts.Name, int64(off/size), ts.Data[off:off+size]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.WriteAt("bytes", 1, []byte{9}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAt("bytes", 1, []byte{2}); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("streamed file differs from WriteFile's (%d vs %d bytes)", len(got), len(want))
	}
}

func TestWriterErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	tests := []struct {
		name    string
		tensors []TensorInfo
		want    string
	}{
		{"bad dtype", []TensorInfo{{Name: "a", DType: "F8", Shape: []int{1}}}, "unsupported dtype"},
		{"negative dim", []TensorInfo{{Name: "a", DType: "F32", Shape: []int{-1}}}, "negative"},
		{"duplicate", []TensorInfo{{Name: "a", DType: "F32"}, {Name: "a", DType: "F32"}}, "duplicate"},
		{"reserved name", []TensorInfo{{Name: "__metadata__", DType: "F32"}}, "invalid tensor name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Create(path, tt.tensors, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("err = %v, want %q naming the file", err, tt.want)
			}
		})
	}
	t.Run("unwritten", func(t *testing.T) {
		w, err := Create(path, []TensorInfo{{Name: "a", DType: "F32", Shape: []int{4}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteAt("a", 0, make([]byte, 8)); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteAt("a", 3, make([]byte, 8)); err == nil {
			t.Error("write past the end: no error")
		}
		if err := w.WriteAt("a", 0, make([]byte, 3)); err == nil {
			t.Error("partial element: no error")
		}
		err = w.Commit()
		if err == nil || !strings.Contains(err.Error(), `tensor "a": element 2 never written`) {
			t.Errorf("commit err = %v", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("output exists after failed commit: %v", err)
		}
		if tmps, _ := filepath.Glob(path + ".tmp-*"); len(tmps) != 0 {
			t.Errorf("temporary files left: %v", tmps)
		}
	})
	t.Run("abort keeps previous file", func(t *testing.T) {
		if err := WriteFile(path, []Tensor{{Name: "a", DType: "U8", Shape: []int{1}, Data: []byte{7}}}, nil); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(path)
		w, err := Create(path, []TensorInfo{{Name: "a", DType: "U8", Shape: []int{1}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteAt("a", 0, []byte{8}); err != nil {
			t.Fatal(err)
		}
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
		after, _ := os.ReadFile(path)
		if !bytes.Equal(before, after) {
			t.Error("abort changed the previous file")
		}
		if err := w.WriteAt("a", 0, []byte{8}); err == nil {
			t.Error("write after abort: no error")
		}
	})
}

// rawFile builds a safetensors file by hand from a header string and data.
func rawFile(header string, data []byte) []byte {
	out := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(out, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

func TestOpenRejects(t *testing.T) {
	good := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "shorter than"},
		{"header too long", rawFile(good, make([]byte, 8))[:20], "exceeds"},
		{"huge header length", append([]byte{0, 0, 0, 0, 0, 0, 0, 1}, "{}"...), "exceeds the limit"},
		{"not an object", rawFile(`[1,2]   `, nil), "does not start with"},
		{"bad json", rawFile(`{"a":}`, nil), "invalid JSON"},
		{"trailing garbage", rawFile(`{}x`, nil), "trailing"},
		{"duplicate key", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1}), "duplicate"},
		{"bad dtype", rawFile(`{"a":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)), "unsupported dtype"},
		{"unknown field", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, make([]byte, 8)), "unknown field"},
		{"missing field", rawFile(`{"a":{"dtype":"F32","shape":[2]}}`, make([]byte, 8)), "needs dtype"},
		{"shape vs offsets", rawFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), "needs 12 bytes"},
		{"negative dim", rawFile(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, make([]byte, 8)), "negative"},
		{"cut short", rawFile(good, make([]byte, 7)), "run past"},
		{"extra data", rawFile(good, make([]byte, 9)), "cover 8 bytes of a 9-byte"},
		{"gap", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, make([]byte, 2)), "gap"},
		{"overlap", rawFile(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}`, make([]byte, 3)), "overlap"},
		{"bad metadata", rawFile(`{"__metadata__":{"a":1}}`, nil), "map of strings"},
		{"one checksum", rawFile(`{"__metadata__":{"data_sha256":"00"},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1}), "not both"},
		{"header checksum", rawFile(`{"__metadata__":{"header_sha256":"0000000000000000000000000000000000000000000000000000000000000000"}}`, nil), "header damaged"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if err := os.WriteFile(path, tt.file, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(path)
			if err == nil {
				f.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("err = %v, want %q naming the file", err, tt.want)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("err does not wrap ErrCorrupt: %v", err)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		if _, err := Open(filepath.Join(dir, "none")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestDataChecksum(t *testing.T) {
	path := writeSample(t, t.TempDir())
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 0x04
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(path)
	if err == nil || !strings.Contains(err.Error(), "data damaged") || !errors.Is(err, ErrCorrupt) {
		t.Errorf("err = %v", err)
	}
}

// TestEveryByteChecked flips each byte of a written file in turn, and cuts it at every
// length: Open must refuse every variant.
func TestEveryByteChecked(t *testing.T) {
	dir := t.TempDir()
	path := writeSample(t, dir)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.safetensors")
	try := func(b []byte, what string) {
		t.Helper()
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if f, err := Open(bad); err == nil {
			f.Close()
			t.Errorf("%s: accepted", what)
		}
	}
	for i := range data {
		for _, mask := range []byte{0x01, 0x80} {
			b := bytes.Clone(data)
			b[i] ^= mask
			try(b, "flip byte "+itoa(i))
		}
	}
	for n := 0; n < len(data); n++ {
		try(data[:n], "cut at "+itoa(n))
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// FuzzOpen feeds arbitrary bytes to Open; it must return an error or a file whose every
// tensor can be read, never panic.
func FuzzOpen(f *testing.F) {
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(rawFile(`{"__metadata__":{"k":"v"},"a":{"dtype":"F16","shape":[1,2],"data_offsets":[0,4]},"b":{"dtype":"I64","shape":[],"data_offsets":[4,12]}}`, make([]byte, 12)))
	f.Add([]byte{})
	dir := f.TempDir()
	sample, err := os.ReadFile(writeSample(f, dir))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := OpenReader(bytes.NewReader(data), int64(len(data)), "fuzz")
		if err != nil {
			return
		}
		defer sf.Close()
		for _, ti := range sf.Tensors {
			if _, err := sf.Raw(ti.Name); err != nil {
				t.Errorf("raw %s: %v", ti.Name, err)
			}
			switch ti.DType {
			case "F32", "F16", "BF16", "F64":
				if _, err := sf.Float32(ti.Name); err != nil {
					t.Errorf("float32 %s: %v", ti.Name, err)
				}
			}
		}
	})
}
