package dataset

import (
	"math"
	"strings"
	"testing"
)

func TestCheckScale(t *testing.T) {
	floats01 := &Dataset{Path: "x.npy", DType: "float32", X: []float32{0, 0.5, 1}}
	floats255 := &Dataset{Path: "x.npy", DType: "float32", X: []float32{0, 17, 255}}
	pixels := &Dataset{Path: "x.idx", DType: "uint8", X: []float32{0, 255}}
	rec := func(scale float64) Preprocess { return Preprocess{Scale: scale, ScaleFrom: "model m.onnx"} }
	for _, tc := range []struct {
		name string
		p    Preprocess
		ds   *Dataset
		want string // substring of the error, "" for none
	}{
		{"scaled floats against a recorded 255", rec(255), floats01, "--scale: data x.npy holds float32 values in [0, 1], already scaled, but model m.onnx records scale 255"},
		{"raw floats against a recorded 255", rec(255), floats255, ""},
		{"pixels against a recorded 255", rec(255), pixels, ""},
		{"pixels against a recorded 1", rec(1), pixels, "--scale: data x.idx holds raw uint8 values, but model m.onnx records scale 1"},
		{"scaled floats against a recorded 1", rec(1), floats01, ""},
		{"pixels against a recorded 1 with raw mean and std", Preprocess{Scale: 1, Mean: []float64{127.5}, Std: []float64{127.5}, ScaleFrom: "model m.onnx"}, pixels, ""},
		{"int8 against a recorded 1", rec(1), &Dataset{Path: "q.npy", DType: "int8", X: []float32{-128, 127}}, ""},
		{"floats with a NaN against a recorded 255", rec(255), &Dataset{Path: "x.npy", DType: "float32", X: []float32{0, float32(math.NaN()), 200}}, ""},
		{"scale given, not recorded", Preprocess{Scale: 255}, floats01, ""},
		{"a flag over the recording", PreprocessOverride{Scale: ptr(255.0)}.Over(rec(255)), floats01, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.CheckScale(tc.ds, "--scale")
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
