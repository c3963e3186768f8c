package dataset

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testImages are the pixel values of the 3 images [2,4] in testdata/data/ (made with numpy:
// (arange(24)*10 % 256) as uint8).
func testImages() []float32 {
	out := make([]float32, 24)
	for i := range out {
		out[i] = float32(i * 10 % 256)
	}
	return out
}

func TestLoad(t *testing.T) {
	dir := filepath.Join("testdata", "data")
	scaled := testImages()
	for i := range scaled {
		scaled[i] = float32(float64(scaled[i]) / 255) // numpy's float32(x/255.0)
	}
	tests := []struct {
		name, data, labels string
		shape              []int
		x                  []float32
		labelsWant         []int32
	}{
		{"idx gzip", "images-idx3-ubyte.gz", "labels-idx1-ubyte.gz", []int{2, 4}, testImages(), []int32{0, 9, 3}},
		{"idx raw", "images-idx3-ubyte", "labels-idx1-int", []int{2, 4}, testImages(), []int32{5, 6, 7}},
		{"idx float", "images-idx2-float", "", []int{8}, testImages(), nil},
		{"npy uint8", "images_u8.npy", "labels_u8.npy", []int{2, 4}, testImages(), []int32{0, 9, 3}},
		{"npy float32", "images_f32.npy", "labels_i32.npy", []int{8}, scaled, []int32{1, 2, 3}},
		{"npy float64 chw", "images_f64_chw.npy", "labels_i64.npy", []int{1, 2, 4}, testImages(), []int32{7, 0, 2}},
		{"npy big-endian", "images_f4_be.npy", "labels-idx1-ubyte.gz", []int{2, 4}, testImages(), []int32{0, 9, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			labels := ""
			if tt.labels != "" {
				labels = filepath.Join(dir, tt.labels)
			}
			ds, err := Load(filepath.Join(dir, tt.data), labels)
			if err != nil {
				t.Fatal(err)
			}
			if ds.N != 3 || !cmp.Equal(ds.Shape, tt.shape) {
				t.Errorf("N=%d shape=%v, want 3 %v", ds.N, ds.Shape, tt.shape)
			}
			if diff := cmp.Diff(tt.x, ds.X); diff != "" {
				t.Errorf("X (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.labelsWant, ds.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			raw, _ := os.ReadFile(filepath.Join(dir, tt.data))
			sum := sha256.Sum256(raw)
			if ds.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("sha256 = %s, want that of the stored bytes", ds.SHA256)
			}
			if (ds.LabelsSHA256 == "") != (tt.labels == "") {
				t.Errorf("labels sha256 = %q", ds.LabelsSHA256)
			}
		})
	}
}

// idxBytes builds an IDX file of type code typ with the given dimensions and data.
func idxBytes(typ byte, dims []int, data []byte) []byte {
	b := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, data...)
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	td := filepath.Join("testdata", "data")
	good := idxBytes(0x08, []int{3, 2, 2}, make([]byte, 12))
	goodGz := gz(t, good)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodPath := write("good", good)
	npyU8, _ := os.ReadFile(filepath.Join(td, "images_u8.npy"))
	tests := []struct {
		name, data, labels string
		blame              string // the file the error must name
		want               string
	}{
		{"truncated idx", write("trunc", good[:len(good)-1]), "", "trunc", "truncated"},
		{"truncated idx header", write("trunch", good[:9]), "", "trunch", "truncated header"},
		{"truncated gzip", write("truncgz", goodGz[:len(goodGz)-6]), "", "truncgz", "gzip"},
		{"trailing bytes", write("trail", append(bytes.Clone(good), 1)), "", "trail", "trailing"},
		{"bad magic", write("magic", append([]byte{0, 0, 0x07, 3}, good[4:]...)), "", "magic", "bad magic"},
		{"not a dataset", write("text", []byte("hello world")), "", "text", "unknown format"},
		{"huge dims", write("huge", idxBytes(0x08, []int{1 << 30, 1 << 30}, nil)), "", "huge", "truncated"},
		{"empty idx", write("empty", idxBytes(0x08, []int{0, 2, 2}, nil)), "", "empty", "empty dataset"},
		{"empty npy", filepath.Join(td, "empty.npy"), "", "empty.npy", "empty dataset"},
		{"one-dimensional data", write("flat", idxBytes(0x08, []int{4}, make([]byte, 4))), "", "flat", "at least 2"},
		{"truncated npy", write("trunc.npy", npyU8[:len(npyU8)-5]), "", "trunc.npy", "truncated"},
		{"truncated npy header", write("trunch.npy", npyU8[:40]), "", "trunch.npy", "truncated header"},
		{"fortran npy", filepath.Join(td, "images_fortran.npy"), "", "images_fortran.npy", "Fortran"},
		{"label count", goodPath, filepath.Join(td, "labels_two.npy"), "labels_two.npy", "2 labels for 3 samples"},
		{"negative label", goodPath, filepath.Join(td, "labels_negative.npy"), "labels_negative.npy", "negative"},
		{"float labels", goodPath, filepath.Join(td, "labels_f32.npy"), "labels_f32.npy", "integer type"},
		{"missing file", filepath.Join(dir, "nope"), "", "nope", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.data, tt.labels)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.blame) {
				t.Errorf("err = %v, want %q naming %s", err, tt.want, tt.blame)
			}
			if tt.name != "missing file" && !errors.Is(err, ErrBadData) {
				t.Errorf("err does not wrap ErrBadData: %v", err)
			}
		})
	}
}

// TestLoadMNIST loads MNIST's training set from data/mnist/ when scripts/setup.sh has put it
// there, and checks its size and the load time.
func TestLoadMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 47 MB of MNIST; skipped under -short")
	}
	dir := filepath.Join("..", "data", "mnist")
	images := filepath.Join(dir, "train-images-idx3-ubyte.gz")
	if _, err := os.Stat(images); err != nil {
		t.Skipf("MNIST not present (run scripts/setup.sh): %v", err)
	}
	start := time.Now()
	ds, err := Load(images, filepath.Join(dir, "train-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	t.Logf("loaded %d MNIST images in %v", ds.N, elapsed)
	if ds.N != 60000 || !cmp.Equal(ds.Shape, []int{28, 28}) || len(ds.X) != 60000*784 || len(ds.Labels) != 60000 {
		t.Fatalf("N=%d shape=%v len(X)=%d len(labels)=%d", ds.N, ds.Shape, len(ds.X), len(ds.Labels))
	}
	// MNIST's first training label is 5 (LeCun's page; every MNIST loader agrees).
	if ds.Labels[0] != 5 {
		t.Errorf("first label = %d, want 5", ds.Labels[0])
	}
	if elapsed > 5*time.Second {
		t.Errorf("loading took %v; the goal is well under 2 s", elapsed)
	}
}

// FuzzReadIDX feeds arbitrary bytes, raw and gzip-compressed, to the IDX reader: it must
// return an error or an array whose size matches its shape, and never panic.
func FuzzReadIDX(f *testing.F) {
	f.Add(idxBytes(0x08, []int{3, 2, 2}, make([]byte, 12)))
	f.Add(idxBytes(0x0D, []int{1, 2}, make([]byte, 8)))
	f.Add(idxBytes(0x08, []int{2}, []byte{1, 2}))
	f.Add(gz(f, idxBytes(0x0E, []int{1, 1}, make([]byte, 8))))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeArray(b)
		if err != nil {
			if !errors.Is(err, ErrBadData) {
				t.Errorf("error does not wrap ErrBadData: %v", err)
			}
			return
		}
		checkArray(t, a)
	})
}

// FuzzReadNPY feeds arbitrary bytes to the NPY reader.
func FuzzReadNPY(f *testing.F) {
	for _, name := range []string{"images_u8.npy", "images_f32.npy", "labels_i64.npy", "images_f4_be.npy", "empty.npy"} {
		b, err := os.ReadFile(filepath.Join("testdata", "data", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := readNPY(b)
		if err != nil {
			if !errors.Is(err, ErrBadData) {
				t.Errorf("error does not wrap ErrBadData: %v", err)
			}
			return
		}
		checkArray(t, a)
	})
}

func checkArray(t *testing.T, a array) {
	t.Helper()
	x := a.float32s()
	if len(x) != NumValues(a.shape) {
		t.Errorf("%d values for shape %v", len(x), a.shape)
	}
	_, _ = a.labels()
}
