package purego_test

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/distillgo/distill/onnx/purego"
	"github.com/distillgo/distill/onnx/purego/direct"
)

// TestDirectPreprocessMetadata: the direct runtime reads a student's preprocessing and metadata
// as purego does, for every exporter fixture.
func TestDirectPreprocessMetadata(t *testing.T) {
	for _, name := range []string{"export_cnn.onnx", "export_cnn_int8.onnx", "export_mlp_fp16.onnx"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			d, err := direct.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			p, err := purego.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if diff := cmp.Diff(p.Preprocess(), d.Preprocess()); diff != "" {
				t.Errorf("Preprocess (-purego +direct):\n%s", diff)
			}
			if diff := cmp.Diff(p.Metadata(), d.Metadata()); diff != "" {
				t.Errorf("Metadata (-purego +direct):\n%s", diff)
			}
			if name == "export_mlp_fp16.onnx" && (d.Preprocess() == nil || d.Preprocess().Scale != 255) {
				t.Errorf("Preprocess() = %+v, want the fixture's scale 255", d.Preprocess())
			}
		})
	}
}
