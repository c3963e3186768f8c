package train

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/internal/synth"
	"github.com/distillgo/distill/pipeline/provenance"
)

// TestTrainOnlineORT distils the onnxruntime Gemm teacher online into the tiny student.
func TestTrainOnlineORT(t *testing.T) {
	onnxtest.RequireLibrary(t)
	f := synth.NewFixture(t, 300, 0)
	path := filepath.Join(f.Dir, "teacher.onnx")
	onnxtest.GemmClassifier(t, path, synth.RowWeights(8), make([]float32, synth.Classes))
	s, err := (&onnx.Runtime{}).Open(path, model.Options{Batch: 32, NoSpin: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	o := opts(f, "online.ckpt")
	o.Teacher, o.TeacherPath, o.Jitter, o.Temperature = s, path, 1, 2
	res, err := o.train(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if acc := lastAccuracy(t, res); acc < 0.9 {
		t.Errorf("eval accuracy %.3f, want >= 0.9", acc)
	}
	_, prov := loadProvenance(t, o.Checkpoint)
	sum, err := dataset.FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	if prov.TeacherSHA256 != sum || prov.Mode != provenance.ModeOnline || prov.Temperature != 2 {
		t.Errorf("provenance %+v: want online, T 2, teacher sha256 %s", prov, sum)
	}
}
