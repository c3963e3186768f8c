package dataset

import (
	"archive/zip"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/x448/float16"
)

// halfValues are float16-representable values (exactly, so compared exactly): zero, a
// fraction, a negative, the largest float16 (65504), the smallest normal (2^-14) and the
// smallest subnormal (2^-24).
var halfValues = []float32{0, 0.5, -1.25, 65504, 6.1035156e-05, 5.9604645e-08}

// halfBytes encodes values as float16 in the byte order given.
func halfBytes(order binary.AppendByteOrder, v []float32) []byte {
	var b []byte
	for _, x := range v {
		b = order.AppendUint16(b, float16.Fromfloat32(x).Bits())
	}
	return b
}

// arrayFixtures writes the NPY and NPZ files of TestOpen and TestOpenErrors to a temporary
// folder and returns it.
func arrayFixtures(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	x := npyBytes("|u1", []int{3, 2}, []byte{1, 2, 3, 4, 5, 6})
	y := npyBytes("<i8", []int{3}, binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, 2), 0), 1))
	writeFile(t, dir, "half.npy", npyBytes("<f2", []int{3, 2}, halfBytes(binary.LittleEndian, halfValues)))
	writeFile(t, dir, "half_be.npy", npyBytes(">f2", []int{3, 2}, halfBytes(binary.BigEndian, halfValues)))
	writeFile(t, dir, "half_labels.npy", npyBytes("<f2", []int{3}, halfBytes(binary.LittleEndian, []float32{0, 1, 2})))
	writeFile(t, dir, "one.npz", zipBytes(t, zip.Store, member{"x.npy", x}))
	writeFile(t, dir, "two.npz", zipBytes(t, zip.Deflate, member{"x.npy", x}, member{"y.npy", y}))
	writeFile(t, dir, "empty.npz", zipBytes(t, zip.Store))
	writeFile(t, dir, "notnpy.npz", zipBytes(t, zip.Store, member{"x.npy", []byte("hello")}))
	writeFile(t, dir, "trunc.npz", zipBytes(t, zip.Deflate, member{"x.npy", x[:len(x)-1]}))
	two, _ := os.ReadFile(filepath.Join(dir, "two.npz"))
	writeFile(t, dir, "cut.npz", two[:len(two)/2])
	writeFile(t, dir, "x.npy", x)
	writeFile(t, dir, "odd:name", idxBytes(0x08, []int{2, 2}, []byte{7, 8, 9, 10}))
	return dir
}

func TestOpen(t *testing.T) {
	dir := arrayFixtures(t)
	tests := []struct {
		name  string
		src   Source
		shape []int
		x     []float32
		want  []int32
		dtype string
	}{
		{"npy float16", Source{Data: "half.npy"}, []int{2}, halfValues, nil, "float16"},
		{"npy float16 big-endian", Source{Data: "half_be.npy"}, []int{2}, halfValues, nil, "float16"},
		{"npz of one array", Source{Data: "one.npz"}, []int{2}, []float32{1, 2, 3, 4, 5, 6}, nil, "uint8"},
		{"npz keys", Source{Data: "two.npz:x", Labels: "two.npz:y"}, []int{2}, []float32{1, 2, 3, 4, 5, 6}, []int32{2, 0, 1}, "uint8"},
		{"npz labels of npy data", Source{Data: "x.npy", Labels: "two.npz:y"}, []int{2}, []float32{1, 2, 3, 4, 5, 6}, []int32{2, 0, 1}, "uint8"},
		{"a file whose name has a colon", Source{Data: "odd:name"}, []int{2}, []float32{7, 8, 9, 10}, nil, "uint8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			src.Data = filepath.Join(dir, src.Data)
			if src.Labels != "" {
				src.Labels = filepath.Join(dir, src.Labels)
			}
			ds, err := Open(src)
			if err != nil {
				t.Fatal(err)
			}
			if !cmp.Equal(ds.Shape, tt.shape) || ds.N != len(tt.x)/NumValues(tt.shape) || ds.DType != tt.dtype {
				t.Errorf("N=%d shape=%v dtype=%s, want %d %v %s", ds.N, ds.Shape, ds.DType, len(tt.x)/NumValues(tt.shape), tt.shape, tt.dtype)
			}
			if diff := cmp.Diff(tt.x, ds.X); diff != "" {
				t.Errorf("X (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, ds.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			if ds.Path != src.Data || ds.LabelsPath != src.Labels || ds.ClassNames != nil {
				t.Errorf("path %q labels path %q class names %v", ds.Path, ds.LabelsPath, ds.ClassNames)
			}
			file, _ := splitKey(src.Data)
			if sum, _ := FileSHA256(file); ds.SHA256 != sum {
				t.Errorf("sha256 = %s, want %s, that of the file", ds.SHA256, sum)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := arrayFixtures(t)
	tests := []struct {
		name  string
		src   Source
		blame string // the file the error must name
		want  string
		is    error
	}{
		{"npz of two arrays without a key", Source{Data: "two.npz"}, "two.npz", `holds 2 arrays ("x", "y"): write ` + filepath.Join(dir, "two.npz") + ":<key>", ErrBadData},
		{"npz without the key", Source{Data: "two.npz:z"}, "two.npz:z", `no array "z": the archive holds "x", "y"`, ErrBadData},
		{"npz labels without the key", Source{Data: "x.npy", Labels: "two.npz:w"}, "two.npz:w", `no array "w"`, ErrBadData},
		{"empty npz", Source{Data: "empty.npz"}, "empty.npz", "holds no arrays", ErrBadData},
		{"npz member not npy", Source{Data: "notnpy.npz"}, "notnpy.npz", `member "x.npy" is not an NPY file`, ErrBadData},
		{"npz member truncated", Source{Data: "trunc.npz"}, "trunc.npz", `npz: array "x": npy: truncated`, ErrBadData},
		{"npz cut short", Source{Data: "cut.npz"}, "cut.npz", "npz: zip: not a valid zip file", ErrBadData},
		{"key on npy", Source{Data: "x.npy:x"}, "x.npy:x", "x.npy is not an NPZ archive", fs.ErrNotExist},
		{"float16 labels", Source{Data: "x.npy", Labels: "half_labels.npy"}, "half_labels.npy", "labels of type float16, want an integer type", ErrBadData},
		{"csv settings for npy", Source{Data: "x.npy", LabelColumn: "y"}, "x.npy", "are for CSV data", ErrBadSource},
		{"no data", Source{}, "", "no data file", ErrBadSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if src.Data != "" {
				src.Data = filepath.Join(dir, src.Data)
			}
			if src.Labels != "" {
				src.Labels = filepath.Join(dir, src.Labels)
			}
			_, err := Open(src)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.blame) {
				t.Errorf("err = %v, want %q naming %s", err, tt.want, tt.blame)
			}
			if testing.Verbose() {
				t.Log(err)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("err does not wrap %v: %v", tt.is, err)
			}
		})
	}
}

func TestDefaultScale(t *testing.T) {
	tests := []struct {
		dtype string
		want  float64
	}{
		{"uint8", 255}, {"int8", 255}, {"int16", 1}, {"int32", 1}, {"int64", 1},
		{"float16", 1}, {"float32", 1}, {"float64", 1}, {"", DefaultScale},
	}
	for _, tt := range tests {
		name := tt.dtype
		if name == "" {
			name = "unset"
		}
		t.Run(name, func(t *testing.T) {
			if got := (&Dataset{DType: tt.dtype}).DefaultScale(); got != tt.want {
				t.Errorf("DefaultScale() = %v, want %v", got, tt.want)
			}
		})
	}
}
