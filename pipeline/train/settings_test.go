package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/pipeline/internal/synth"
	"github.com/distillgo/distill/pipeline/provenance"
	"github.com/distillgo/distill/student"
)

// resumeBase is a finished run of 2 epochs that the cases of TestResumeSettings resume, each
// from a copy of its checkpoint.
type resumeBase struct {
	name string
	set  func(o *testOpts) // the base run's options, over opts()
}

// TestResumeSettings resumes a 2-epoch checkpoint with each setting that shapes the run changed
// alone: each is refused with an *OptionError naming the option, both values and
// ErrSettingChanged, and the checkpoint is left as it was; a longer run, a schedule that extends
// the old one and the settings that do not shape the run (the eval set, DKD weights of another
// loss) resume, and the provenance then records the new values.
func TestResumeSettings(t *testing.T) {
	f := synth.NewFixture(t, 96, 0)
	soft := filepath.Join(f.Dir, "soft.safetensors")
	synth.WriteSoftTargets(t, soft, f.Data, 1, synth.Classes)
	otherLabels := filepath.Join(f.Dir, "other-labels.idx")
	y := append([]uint8(nil), f.Y...)
	y[0] = (y[0] + 1) % synth.Classes
	synth.WriteIDX(t, otherLabels, []int{len(y)}, y)
	online := func(o *testOpts) {
		o.Teacher, o.Jitter = &synth.RowTeacher{C: synth.Classes, Gain: 8}, 1
	}
	bases := map[string]resumeBase{
		"online": {"online", online},
		"dkd":    {"dkd", func(o *testOpts) { o.SoftTargets, o.Loss = soft, "dkd" }},
		"sgd":    {"sgd", func(o *testOpts) { online(o); o.Optimizer = "sgd" }},
		"cosine": {"cosine", func(o *testOpts) { online(o); o.Schedule = Schedule{Cosine: true} }},
		"steps":  {"steps", func(o *testOpts) { online(o); o.Schedule = Schedule{Steps: []Step{{2, 1e-2}}} }},
	}
	for _, b := range bases {
		o := opts(f, b.name+".ckpt")
		o.Epochs = 2
		b.set(&o)
		if _, err := o.train(context.Background(), nil); err != nil {
			t.Fatalf("base %s: %v", b.name, err)
		}
	}
	steps := func(s ...Step) Schedule { return Schedule{Steps: s} }
	tests := []struct {
		name   string
		base   string
		change func(o *testOpts)
		// want is the option and both values named by the error; nil: the resume goes ahead.
		want []string
		// check, for a resume that goes ahead, inspects the provenance written.
		check func(t *testing.T, p *provenance.Record)
	}{
		{"temperature", "online", func(o *testOpts) { o.Temperature = 4 }, []string{"Temperature: 4 differs from the 20"}, nil},
		{"alpha", "online", func(o *testOpts) { o.Alpha = 0.5 }, []string{"Alpha: 0.5 differs from the 0.7"}, nil},
		{"loss", "online", func(o *testOpts) { o.Loss = "mse" }, []string{"Loss: mse differs from the kl"}, nil},
		{"standardize logits", "online", func(o *testOpts) { o.StandardizeLogits = true }, []string{"StandardizeLogits: true differs from the false"}, nil},
		{"lr", "online", func(o *testOpts) { o.LR = 1e-3 }, []string{"LR: 0.001 differs from the 0.01"}, nil},
		{"seed", "online", func(o *testOpts) { o.Seed = 4 }, []string{"Seed: 4 differs from the 3"}, nil},
		{"batch", "online", func(o *testOpts) { o.Batch = 16 }, []string{"Batch: 16 differs from the 32"}, nil},
		{"jitter", "online", func(o *testOpts) { o.Jitter = 2 }, []string{"Jitter: 2 differs from the 1"}, nil},
		{"optimizer", "online", func(o *testOpts) { o.Optimizer = "sgd" }, []string{"Optimizer: sgd differs from the adam"}, nil},
		{"momentum", "sgd", func(o *testOpts) { o.Momentum = 0.5 }, []string{"Momentum: 0.5 differs from the 0.9"}, nil},
		{"exclude classes", "online", func(o *testOpts) { o.ExcludeClasses = []int{1} }, []string{"ExcludeClasses: 1 differs from the none"}, nil},
		{"only classes", "online", func(o *testOpts) { o.OnlyClasses = []int{0, 2} }, []string{"OnlyClasses: 0,2 differs from the none"}, nil},
		{"teacher preprocessing", "online", func(o *testOpts) { o.TeacherPreprocess.Scale = 1 }, []string{"TeacherPreprocess:", `"scale":1`, `"scale":255`}, nil},
		{"student preprocessing", "online", func(o *testOpts) { o.Preprocess.Scale = 128 }, []string{"Preprocess:", `"scale":128`, `"scale":255`}, nil},
		{"labels", "online", func(o *testOpts) { o.Labels = otherLabels }, []string{"Labels: ", "other-labels.idx", "labels.idx (sha256"}, nil},
		{"data", "online", func(o *testOpts) { o.Data, o.Labels = f.EvalData, f.EvalLabels }, []string{"Data: ", "eval-images", "train-images"}, nil},
		{"dkd alpha", "dkd", func(o *testOpts) { o.DKDAlpha = 2 }, []string{"DKDAlpha: 2 differs from the 1"}, nil},
		{"dkd beta", "dkd", func(o *testOpts) { o.DKDBeta = 4 }, []string{"DKDBeta: 4 differs from the 8"}, nil},
		{"dkd warm-up", "dkd", func(o *testOpts) { o.DKDWarmup = 5 }, []string{"DKDWarmup: 5 differs from the 20"}, nil},
		{"schedule added over trained epochs", "online", func(o *testOpts) { o.Epochs, o.Schedule = 4, steps(Step{1, 1e-2}, Step{4, 1e-3}) },
			[]string{"Schedule: 1:0.01,4:0.001 differs from the constant 0.01", "epoch 2 ran at 0.01 and would run at 0.001"}, nil},
		{"cosine instead of constant", "online", func(o *testOpts) { o.Schedule = Schedule{Cosine: true} }, []string{"Schedule: cosine from 0.01 differs from the constant 0.01"}, nil},
		{"steps lengthened at the same rate", "steps", func(o *testOpts) { o.Epochs, o.Schedule = 4, steps(Step{4, 1e-2}) }, nil, nil},
		{"steps rate changed", "steps", func(o *testOpts) { o.Epochs, o.Schedule = 4, steps(Step{2, 2e-2}, Step{4, 1e-3}) },
			[]string{"Schedule: 2:0.02,4:0.001 differs from the 2:0.01", "epoch 1 ran at 0.01"}, nil},
		{"cosine lengthened", "cosine", func(o *testOpts) { o.Epochs = 4 }, []string{"Epochs: 4 differs from the 2", "cosine schedule anneals"}, nil},
		{"cosine peak", "cosine", func(o *testOpts) { o.LR = 0.1 }, []string{"LR: 0.1 differs from the 0.01"}, nil},

		{"longer epochs", "online", func(o *testOpts) { o.Epochs = 3 }, nil, func(t *testing.T, p *provenance.Record) {
			if p.Epochs != 3 || p.RunEpochs != 3 {
				t.Errorf("provenance epochs %d, run epochs %d, want 3", p.Epochs, p.RunEpochs)
			}
		}},
		{"shorter epochs", "online", func(o *testOpts) { o.Epochs = 1 }, nil, nil},
		{"schedule extends constant", "online", func(o *testOpts) { o.Epochs, o.Schedule = 4, steps(Step{2, 1e-2}, Step{4, 1e-3}) }, nil,
			func(t *testing.T, p *provenance.Record) {
				if p.Schedule != "2:0.01,4:0.001" || p.Epochs != 4 {
					t.Errorf("provenance schedule %q at epoch %d, want 2:0.01,4:0.001 at 4", p.Schedule, p.Epochs)
				}
			}},
		{"steps extended", "steps", func(o *testOpts) { o.Epochs, o.Schedule = 3, steps(Step{2, 1e-2}, Step{3, 1e-3}) }, nil, nil},
		{"other eval data", "online", func(o *testOpts) { o.Epochs, o.EvalData, o.EvalLabels = 3, f.Data, f.Labels }, nil, func(t *testing.T, p *provenance.Record) {
			if p.EvalData != f.Data {
				t.Errorf("provenance eval data %s, want %s", p.EvalData, f.Data)
			}
		}},
		{"dkd weights with kl", "online", func(o *testOpts) { o.DKDAlpha = 3 }, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := bases[tt.base]
			o := opts(f, tt.base+".ckpt")
			o.Epochs = 2
			base.set(&o)
			o.Checkpoint = copyCheckpoint(t, o.Checkpoint, filepath.Join(t.TempDir(), "resume.ckpt"))
			o.Resume = true
			tt.change(&o)
			before, err := os.ReadFile(o.Checkpoint)
			if err != nil {
				t.Fatal(err)
			}
			_, err = o.train(context.Background(), nil)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("resume: %v", err)
				}
				if tt.check != nil {
					tt.check(t, readProvenance(t, o.Checkpoint))
				}
				return
			}
			var oe *OptionError
			if !errors.As(err, &oe) || !errors.Is(err, ErrSettingChanged) {
				t.Fatalf("resume: %v, want an option error wrapping ErrSettingChanged", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("resume: %v, want it to contain %q", err, w)
				}
			}
			if after, _ := os.ReadFile(o.Checkpoint); !bytes.Equal(after, before) {
				t.Error("the refused resume changed the checkpoint")
			}
		})
	}
}

// TestResumeUnrecorded: the initialisation a run started from stays in the provenance of its
// resume; a cosine run's epochs, when its record lacks them, are checked against the rate its
// optimiser holds; and a checkpoint that records no settings is refused, since nothing can be
// checked.
func TestResumeUnrecorded(t *testing.T) {
	f := synth.NewFixture(t, 64, 0)
	o := opts(f, "bare.ckpt")
	o.Epochs = 1
	if _, err := o.train(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	ck, err := student.LoadCheckpoint(o.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	var rec provenance.Record
	if err := json.Unmarshal([]byte(ck.Meta[meta.Provenance]), &rec); err != nil {
		t.Fatal(err)
	}
	rec.InitFrom = "start.onnx"
	ck.Meta[meta.Provenance] = provenance.MustJSON(&rec)
	if err := student.SaveCheckpoint(o.Checkpoint, ck); err != nil {
		t.Fatal(err)
	}
	o.Resume, o.Epochs = true, 2
	if _, err := o.train(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if p := readProvenance(t, o.Checkpoint); p.InitFrom != "start.onnx" {
		t.Errorf("resumed provenance init_from %q, want the checkpoint's start.onnx", p.InitFrom)
	}

	// A cosine run recorded before its run's epochs were: they are taken as the options', and
	// checked against the rate its last epoch ran at.
	c := opts(f, "cosine.ckpt")
	c.Epochs, c.Schedule = 3, Schedule{Cosine: true}
	if _, err := c.train(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	cosine, err := student.LoadCheckpoint(c.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	cosine.Epoch = 2 // as if stopped after epoch 2, whose rate the optimiser holds
	cosine.OptimizerHyper["lr"] = c.Schedule.Rate(2, 3, c.LR)
	var crec provenance.Record
	if err := json.Unmarshal([]byte(cosine.Meta[meta.Provenance]), &crec); err != nil {
		t.Fatal(err)
	}
	crec.RunEpochs = 0
	cosine.Meta[meta.Provenance] = provenance.MustJSON(&crec)
	if err := student.SaveCheckpoint(c.Checkpoint, cosine); err != nil {
		t.Fatal(err)
	}
	c.Resume, c.Epochs = true, 5
	if _, err := c.train(context.Background(), nil); !errors.Is(err, ErrSettingChanged) || !strings.Contains(err.Error(), "Epochs: 5 differs from the number of epochs (not recorded)") {
		t.Errorf("lengthened cosine run without recorded epochs: %v", err)
	}
	c.Epochs = 3
	if _, err := c.train(context.Background(), nil); err != nil {
		t.Errorf("cosine run without recorded epochs, resumed to the same: %v", err)
	}

	delete(ck.Meta, meta.Provenance)
	if err := student.SaveCheckpoint(o.Checkpoint, ck); err != nil {
		t.Fatal(err)
	}
	if _, err := o.train(context.Background(), nil); !errors.Is(err, ErrSettingChanged) || !strings.Contains(err.Error(), "records no training settings") {
		t.Errorf("resume of a checkpoint without provenance: %v", err)
	}
}

func copyCheckpoint(t *testing.T, from, to string) string {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return to
}

func readProvenance(t *testing.T, path string) *provenance.Record {
	t.Helper()
	ck, err := student.LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	_, p, err := provenance.Read(ck.Meta)
	if err != nil || p == nil {
		t.Fatalf("provenance of %s: %v", path, err)
	}
	return p
}
