package purego_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/distillgo/distill/onnx/purego"
	"github.com/distillgo/distill/onnx/purego/direct"
)

// FuzzLoad feeds outside bytes to both runtimes' Load (and a Predict of one zero sample when
// it succeeds): an error is fine, a panic or a hang is not. Seeds: the exporter fixtures and a
// small MLP; found inputs go to testdata/fuzz/FuzzLoad.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"export_mlp_fp16.onnx", "export_cnn.onnx"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(encode(mlp(1, 3, 2)))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "m.onnx")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if m, err := purego.Load(path); err == nil {
			_, _ = m.Predict(make([]float32, elems(m.SampleShape())), 1)
			m.Close()
		}
		if m, err := direct.Load(path); err == nil {
			_, _ = m.Predict(make([]float32, elems(m.Describe().SampleShape)), 1)
			m.Close()
		}
	})
}

func elems(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
