package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

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

// TestTrainEnsembleOnline: two online teachers, each with its own preprocessing, train exactly
// the student that the offline file of the same two teachers trains (gains 8 and 6; the second
// teacher here has gain 3 on inputs scaled by 127.5, which doubles them), for either way of
// combining them; the provenance lists both teachers.
func TestTrainEnsembleOnline(t *testing.T) {
	f := synth.NewFixture(t, 200, 0.2)
	soft := filepath.Join(f.Dir, "two.safetensors")
	synth.WriteSoftTargets(t, soft, f.Data, 2, synth.Classes)
	paths := []string{filepath.Join(f.Dir, "a.onnx"), filepath.Join(f.Dir, "b.onnx")}
	for i, p := range paths {
		if err := os.WriteFile(p, []byte{byte(i)}, 0o644); err != nil { // stand-ins, for their sha256
			t.Fatal(err)
		}
	}
	for _, how := range []string{"probs", "logits"} {
		t.Run(how, func(t *testing.T) {
			off := opts(f, "offline-"+how+".ckpt")
			off.Epochs, off.SoftTargets, off.Ensemble, off.Temperature = 2, soft, how, 3
			if _, err := off.train(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			on := opts(f, "online-"+how+".ckpt")
			on.Epochs, on.Ensemble, on.Temperature = 2, how, 3
			on.OnlineTeachers = []OnlineTeacher{
				{Path: paths[0], Preprocess: dataset.Preprocess{Scale: 255}},
				{Path: paths[1], Preprocess: dataset.Preprocess{Scale: 127.5}},
			}
			teachers := []model.Teacher{&synth.RowTeacher{C: synth.Classes, Gain: 8}, &synth.RowTeacher{C: synth.Classes, Gain: 3}}
			var out strings.Builder
			if _, err := TrainEnsemble(context.Background(), on.Options, teachers, &out); err != nil {
				t.Fatal(err)
			}
			offCk, _ := loadProvenance(t, off.Checkpoint)
			onCk, prov := loadProvenance(t, on.Checkpoint)
			if d := cmp.Diff(offCk.Params, onCk.Params); d != "" {
				t.Errorf("online ensemble differs from the offline one:\n%s", d)
			}
			if got := prov.TeacherSHA256s(); prov.Mode != provenance.ModeOnline || len(got) != 2 || got[0] == got[1] {
				t.Errorf("provenance mode %s, teachers %v: want online with two teachers", prov.Mode, got)
			}
			if !strings.Contains(out.String(), "ensemble of 2 ("+how+") on the eval set") || !strings.Contains(out.String(), "teacher 2 of 2") {
				t.Errorf("output lacks the teachers' and the ensemble's eval accuracy:\n%s", out.String())
			}
		})
	}
}

func TestTrainEnsembleErrors(t *testing.T) {
	f := synth.NewFixture(t, 60, 0)
	two := []model.Teacher{&synth.RowTeacher{C: synth.Classes, Gain: 8}, &synth.RowTeacher{C: synth.Classes, Gain: 6}}
	one := []OnlineTeacher{{Path: "a.onnx", Preprocess: dataset.Preprocess{Scale: 255}}}
	tests := []struct {
		name     string
		teachers []model.Teacher
		desc     []OnlineTeacher
		inputs   []TeacherInput
		option   string
	}{
		{"undescribed", two, nil, nil, "OnlineTeachers"},
		{"too few described", two, one, nil, "OnlineTeachers"},
		{"named inputs", two, append(one, one...), []TeacherInput{{Name: "ids", Path: "ids.npy"}}, "TeacherInputs"},
		{"bad preprocessing", two[:1], []OnlineTeacher{{Path: "a.onnx", Preprocess: dataset.Preprocess{Scale: -1}}}, nil, "OnlineTeachers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts(f, "x.ckpt")
			o.OnlineTeachers, o.TeacherInputs = tt.desc, tt.inputs
			_, err := TrainEnsemble(context.Background(), o.Options, tt.teachers, nil)
			var oe *OptionError
			if !errors.As(err, &oe) || oe.Option != tt.option {
				t.Errorf("error %v: want an OptionError on %s", err, tt.option)
			}
		})
	}
}
