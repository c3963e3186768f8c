package dataset

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func le64(v ...int64) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, uint64(x))
	}
	return b
}

func TestReadArray(t *testing.T) {
	dir := t.TempDir()
	ids := writeFile(t, dir, "ids.npy", npyBytes("<i8", []int{3, 2}, le64(1, 2, 3, 4, 5, 6)))
	a, err := ReadArray(ids)
	if err != nil {
		t.Fatal(err)
	}
	if a.N != 3 || !cmp.Equal(a.SampleShape, []int{2}) || a.DType != "int64" || len(a.SHA256) != 64 {
		t.Fatalf("array %+v", a)
	}
	if got := a.Rows(1, 3); !cmp.Equal(got, []int64{3, 4, 5, 6}) {
		t.Errorf("Rows(1, 3) = %v", got)
	}
	if got := a.Gather([]int{2, 0}); !cmp.Equal(got, []int64{5, 6, 1, 2}) {
		t.Errorf("Gather(2, 0) = %v", got)
	}
	empty := writeFile(t, dir, "empty.npy", npyBytes("<i8", []int{0, 2}, nil))
	if _, err := ReadArray(empty); err == nil || !strings.Contains(err.Error(), "no samples") {
		t.Errorf("empty array: %v", err)
	}
}

func TestConvertValues(t *testing.T) {
	tests := []struct {
		name    string
		in      any
		dtype   string
		want    any
		wantErr string
	}{
		{"int32 to int64", []int32{1, -2}, "int64", []int64{1, -2}, ""},
		{"uint8 to int64", []uint8{7}, "int64", []int64{7}, ""},
		{"int64 to int32 in range", []int64{1, 2}, "int32", []int32{1, 2}, ""},
		{"int64 to int32 out of range", []int64{1 << 40}, "int32", nil, "does not fit"},
		{"float64 to int64", []float64{1}, "int64", nil, "want integers"},
		{"int64 to float32", []int64{3}, "float32", []float32{3}, ""},
		{"float32 for float16", []float32{0.5}, "float16", []float32{0.5}, ""},
		{"float32 to float64", []float32{0.5}, "float64", []float64{0.5}, ""},
		{"mask to bool", []int64{0, 1}, "bool", []bool{false, true}, ""},
		{"2 is no bool", []int64{2}, "bool", nil, "does not fit"},
		{"same type", []int8{1}, "int8", []int8{1}, ""},
		{"unknown", []int8{1}, "string", nil, "for an input of type string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConvertValues(tt.in, tt.dtype)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !cmp.Equal(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}
