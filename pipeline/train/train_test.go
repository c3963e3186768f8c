package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/export"
	"github.com/distillgo/distill/pipeline/internal/synth"
	"github.com/distillgo/distill/pipeline/provenance"
	"github.com/distillgo/distill/pipeline/targets"
	"github.com/distillgo/distill/student"
)

// testOpts is one Train call in a test: the options and the live objects passed beside them.
type testOpts struct {
	Options
	Teacher  model.Teacher // the online teacher, or nil
	Progress io.Writer     // receives a progress bar when set
	Hooks    []Hook        // more hooks
}

// train runs Train with o's options, teacher, progress bar and hooks.
func (o testOpts) train(ctx context.Context, out io.Writer) (*Result, error) {
	hooks := o.Hooks
	if o.Progress != nil {
		hooks = append([]Hook{ProgressBar(o.Progress)}, hooks...)
	}
	return Train(ctx, o.Options, o.Teacher, out, hooks...)
}

// opts returns the options of a run on f's data writing the checkpoint out in f's folder.
func opts(f *synth.Fixture, out string) testOpts {
	o := DefaultOptions()
	o.Spec, o.Data, o.Labels = f.Spec, f.Data, f.Labels
	o.EvalData, o.EvalLabels = f.EvalData, f.EvalLabels
	o.Preprocess = dataset.Preprocess{Scale: 255}
	o.TeacherPreprocess = dataset.Preprocess{Scale: 255}
	o.Epochs, o.Batch, o.LR, o.Seed = 6, 32, 1e-2, 3
	o.Checkpoint = filepath.Join(f.Dir, out)
	return testOpts{Options: o}
}

func lastAccuracy(tb testing.TB, res *Result) float64 {
	tb.Helper()
	if res.Eval == nil {
		tb.Fatal("no eval result")
	}
	return res.Eval.Accuracy
}

func TestTrainModes(t *testing.T) {
	f := synth.NewFixture(t, 300, 0)
	var progress strings.Builder
	tests := []struct {
		name    string
		mode    string
		setup   func(o *testOpts)
		minAcc  float64
		checkFn func(t *testing.T, res *Result)
	}{
		{name: "hard labels", mode: provenance.ModeHard, setup: func(o *testOpts) { o.Progress = &progress }, minAcc: 0.95},
		{name: "online teacher with jitter", mode: provenance.ModeOnline, setup: func(o *testOpts) {
			o.Teacher = &synth.RowTeacher{C: synth.Classes, Gain: 8}
			o.Temperature, o.Alpha, o.Jitter = 2, 0.7, 1
		}, minAcc: 0.9},
		{name: "online teacher soft only mse sgd", mode: provenance.ModeOnline, setup: func(o *testOpts) {
			o.Teacher = &synth.RowTeacher{C: synth.Classes, Gain: 8}
			o.Alpha, o.Loss, o.Optimizer, o.LR, o.Momentum = 1, "mse", "sgd", 0.05, 0.9
		}, minAcc: 0.9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts(f, strings.ReplaceAll(tt.name, " ", "-")+".ckpt")
			o.Metrics = o.Checkpoint + ".jsonl"
			o.Plot = o.Checkpoint + ".png"
			tt.setup(&o)
			var out strings.Builder
			res, err := o.train(context.Background(), &out)
			if err != nil {
				t.Fatal(err)
			}
			if acc := lastAccuracy(t, res); acc < tt.minAcc {
				t.Errorf("eval accuracy %.3f after %d epochs, want >= %.2f\n%s", acc, o.Epochs, tt.minAcc, out.String())
			}
			if len(res.Epochs) != o.Epochs {
				t.Errorf("%d epoch records, want %d", len(res.Epochs), o.Epochs)
			}
			if first, last := res.Epochs[0].Loss, res.Epochs[len(res.Epochs)-1].Loss; !(last < first) {
				t.Errorf("training loss went from %v to %v", first, last)
			}
			if got := strings.Count(out.String(), "epoch "); got < o.Epochs {
				t.Errorf("output has %d epoch lines, want %d:\n%s", got, o.Epochs, out.String())
			}
			mf, err := os.Open(o.Metrics)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := ReadMetrics(mf)
			mf.Close()
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(res.Epochs, recs); d != "" {
				t.Errorf("metrics file differs from the result (-result +file):\n%s", d)
			}
			if st, err := os.Stat(o.Plot); err != nil || st.Size() == 0 {
				t.Errorf("plot %s: %v", o.Plot, err)
			}
			ck, prov := loadProvenance(t, o.Checkpoint)
			if ck.Epoch != o.Epochs {
				t.Errorf("checkpoint epoch %d, want %d", ck.Epoch, o.Epochs)
			}
			if prov.Mode != tt.mode || prov.Epochs != o.Epochs || prov.EvalAccuracy == nil {
				t.Errorf("provenance %+v: want mode %s, %d epochs and an eval accuracy", prov, tt.mode, o.Epochs)
			}
			var pre dataset.Preprocess
			if err := json.Unmarshal([]byte(ck.Meta[meta.Preprocess]), &pre); err != nil || pre.Scale != 255 {
				t.Errorf("preprocess %q (%v): want scale 255", ck.Meta[meta.Preprocess], err)
			}
			if o.Progress != nil && !strings.Contains(progress.String(), "epoch 1/") {
				t.Errorf("progress output %q lacks the epoch", progress.String())
			}
			if tt.mode == provenance.ModeOnline && res.Epochs[0].Agreement == nil {
				t.Error("online training with eval data records no agreement")
			}
		})
	}
}

// TestTrainDeterministic checks that the same seed and flags give the same weights.
func TestTrainDeterministic(t *testing.T) {
	f := synth.NewFixture(t, 200, 0.2)
	var params [2]map[string][]float32
	for i := range params {
		o := opts(f, fmt.Sprintf("run%d.ckpt", i))
		o.Epochs, o.Jitter = 2, 1
		o.Teacher = &synth.RowTeacher{C: synth.Classes, Gain: 8}
		if _, err := o.train(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		ck, err := student.LoadCheckpoint(o.Checkpoint)
		if err != nil {
			t.Fatal(err)
		}
		params[i] = ck.Params
	}
	if d := cmp.Diff(params[0], params[1]); d != "" {
		t.Errorf("two runs with one seed differ:\n%s", d)
	}
}

// TestTrainResumeExact: 2 epochs, then --resume to 4, give exactly the weights, optimiser state
// and rng state of 4 epochs straight (with dropout and jitter drawing from the rng).
func TestTrainResumeExact(t *testing.T) {
	f := synth.NewFixture(t, 200, 0.2)
	run := func(out string, epochs int, resume bool) *student.Checkpoint {
		t.Helper()
		o := opts(f, out)
		o.Epochs, o.Jitter, o.Resume = epochs, 1, resume
		o.Metrics = o.Checkpoint + ".jsonl"
		o.Teacher = &synth.RowTeacher{C: synth.Classes, Gain: 8}
		res, err := o.train(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Epochs) != epochs {
			t.Errorf("%s: %d epoch records after %d epochs", out, len(res.Epochs), epochs)
		}
		ck, err := student.LoadCheckpoint(o.Checkpoint)
		if err != nil {
			t.Fatal(err)
		}
		return ck
	}
	straight := run("straight.ckpt", 4, false)
	run("resumed.ckpt", 2, false)
	resumed := run("resumed.ckpt", 4, true)
	if resumed.Epoch != 4 {
		t.Fatalf("resumed checkpoint at epoch %d, want 4", resumed.Epoch)
	}
	if d := cmp.Diff(straight.Params, resumed.Params); d != "" {
		t.Errorf("weights after 2+2 epochs differ from 4 straight:\n%s", d)
	}
	if d := cmp.Diff(straight.Optimizer, resumed.Optimizer); d != "" {
		t.Errorf("optimizer state after 2+2 epochs differs from 4 straight:\n%s", d)
	}
	if d := cmp.Diff(straight.RNG, resumed.RNG); d != "" {
		t.Errorf("rng state after 2+2 epochs differs from 4 straight:\n%s", d)
	}
	// Resuming a finished checkpoint does nothing.
	again := run("resumed.ckpt", 4, true)
	if d := cmp.Diff(resumed.Params, again.Params); d != "" {
		t.Errorf("resuming a finished checkpoint changed it:\n%s", d)
	}
}

// TestTrainResumeExactGraph is TestTrainResumeExact for a student with batchnorm, a residual
// add and dropout: the running statistics are saved with the weights, not given optimiser state,
// and a resumed run ends where the straight one does, buffers included.
func TestTrainResumeExactGraph(t *testing.T) {
	f := synth.NewFixture(t, 200, 0)
	spec := filepath.Join(f.Dir, "graph.json")
	if err := os.WriteFile(spec, []byte(`{"name":"graph","input":[16],"classes":3,"layers":[
		{"type":"dense","units":12,"bias":false},{"type":"batchnorm","momentum":0.2},{"type":"relu","name":"r"},
		{"type":"dense","units":12},{"type":"batchnorm","name":"b"},{"type":"add","inputs":["b","r"]},{"type":"relu"},
		{"type":"dropout","p":0.2},{"type":"dense","units":3}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(out string, epochs int, resume bool) *student.Checkpoint {
		t.Helper()
		o := opts(f, out)
		o.Spec, o.Epochs, o.Resume = spec, epochs, resume
		if _, err := o.train(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		ck, err := student.LoadCheckpoint(o.Checkpoint)
		if err != nil {
			t.Fatal(err)
		}
		return ck
	}
	straight := run("straight.ckpt", 4, false)
	run("resumed.ckpt", 2, false)
	resumed := run("resumed.ckpt", 4, true)
	if d := cmp.Diff(straight.Params, resumed.Params); d != "" {
		t.Errorf("weights and buffers after 2+2 epochs differ from 4 straight:\n%s", d)
	}
	if d := cmp.Diff(straight.Optimizer, resumed.Optimizer); d != "" {
		t.Errorf("optimizer state after 2+2 epochs differs from 4 straight:\n%s", d)
	}
	mean := straight.Params["layers.1.running_mean"]
	if len(mean) != 12 || mean[0] == 0 {
		t.Errorf("running mean %v: not saved, or never updated", mean)
	}
	for key := range straight.Optimizer {
		if strings.Contains(key, "running_") {
			t.Errorf("optimizer state %q belongs to a buffer", key)
		}
	}
}

// TestTrainCancel: cancelling during epoch 2 returns context.Canceled and leaves epoch 1 on disk.
func TestTrainCancel(t *testing.T) {
	f := synth.NewFixture(t, 200, 0)
	o := opts(f, "cancel.ckpt")
	o.Epochs, o.Batch = 3, 20 // 10 teacher calls per epoch (+1 for the eval set)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.Teacher = &synth.RowTeacher{C: synth.Classes, Gain: 8, OnCall: func(call int64) {
		if call == 1+10+5 {
			cancel()
		}
	}}
	_, err := o.train(ctx, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Train error %v, want context.Canceled", err)
	}
	ck, err := student.LoadCheckpoint(o.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Epoch != 1 {
		t.Errorf("checkpoint after cancellation in epoch 2 holds epoch %d, want 1", ck.Epoch)
	}
	// And it resumes to the end.
	o.Resume = true
	o.Teacher = &synth.RowTeacher{C: synth.Classes, Gain: 8}
	res, err := o.train(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StartEpoch != 1 || len(res.Epochs) == 0 || res.Epochs[len(res.Epochs)-1].Epoch != 3 {
		t.Errorf("resume after cancellation: start %d, epochs %+v", res.StartEpoch, res.Epochs)
	}
}

func TestTrainBadInput(t *testing.T) {
	f := synth.NewFixture(t, 60, 0)
	tests := badTrainCases(f, writeBadTrainInputs(t, f))
	// A finished checkpoint to protect.
	base := opts(f, "base.ckpt")
	base.Epochs = 1
	if _, err := base.train(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(base.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkBadTrainCase(t, f, base.Checkpoint, tt) })
	}
	after, err := os.ReadFile(base.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("a failed run changed the existing checkpoint")
	}
}

// badTrainNaNSample is the sample of badTrainInputs.uniqData on which the teacher gives NaN.
const badTrainNaNSample = 23

// badTrainInputs are the faulty files of TestTrainBadInput, written in the fixture's folder.
type badTrainInputs struct {
	badLabels              string // the fixture's labels with sample 17 set to class 3 of 3
	emptyData, emptyLabels string // a data set of no samples
	uniqData               string // the fixture's images, sample badTrainNaNSample's first pixel 255
	otherSpec              string // another spec of the same classes
	fourSpec               string // a spec of 4 classes
	flatData               string // the fixture's images as flat vectors of 16 values (NPY [n, 16])
}

func writeBadTrainInputs(t *testing.T, f *synth.Fixture) badTrainInputs {
	t.Helper()
	dir := f.Dir
	in := badTrainInputs{
		badLabels:   filepath.Join(dir, "bad-labels.idx"),
		emptyData:   filepath.Join(dir, "empty-images.idx"),
		emptyLabels: filepath.Join(dir, "empty-labels.idx"),
		uniqData:    filepath.Join(dir, "uniq-images.idx"),
		fourSpec:    filepath.Join(dir, "four.json"),
		flatData:    filepath.Join(dir, "flat.npy"),
	}
	// Labels out of range: class 3 of 3.
	y := append([]uint8(nil), f.Y...)
	y[17] = 3
	synth.WriteIDX(t, in.badLabels, []int{len(y)}, y)
	// Empty data set.
	synth.WriteIDX(t, in.emptyData, []int{0, synth.H, synth.W}, nil)
	synth.WriteIDX(t, in.emptyLabels, []int{0}, nil)
	// The NaN sample: its first pixel is 255, which no other sample reaches (at most 239), and
	// the teacher poisons inputs whose first value is at least 0.999.
	raw, err := os.ReadFile(f.Data)
	if err != nil {
		t.Fatal(err)
	}
	pixels := raw[4+3*4:] // after the IDX magic and three dimensions
	pixels[badTrainNaNSample*16] = 255
	synth.WriteIDX(t, in.uniqData, []int{len(f.Y), synth.H, synth.W}, pixels)
	// The same images as vectors: 16 values a sample, which a 16-input spec reads as features.
	flat := make([]float32, len(pixels))
	for i, p := range pixels {
		flat[i] = float32(p)
	}
	synth.WriteNPY(t, in.flatData, []int{len(f.Y), synth.H * synth.W}, flat)
	in.otherSpec = synth.WriteSpec(t, dir, "other", 8, 0)
	if err := os.WriteFile(in.fourSpec, []byte(`{"input":[16],"classes":4,"layers":[{"type":"dense","units":4}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return in
}

// badTrainCase is one Train call on f's options changed by setup, that must fail with an error
// holding want, or succeed where want is empty.
type badTrainCase struct {
	name  string
	setup func(o *testOpts)
	want  string
}

func badTrainCases(f *synth.Fixture, in badTrainInputs) []badTrainCase {
	dir := f.Dir
	return []badTrainCase{
		{"labels out of range", func(o *testOpts) { o.Labels = in.badLabels }, "sample 17 (from 0) has label 3, but the model has 3 classes (0..2)"},
		{"eval labels out of range", func(o *testOpts) { o.EvalLabels = in.badLabels; o.EvalData = f.Data }, "train: eval data: student spec"},
		{"empty data", func(o *testOpts) { o.Data, o.Labels = in.emptyData, in.emptyLabels }, "empty"},
		{"no labels for hard training", func(o *testOpts) { o.Labels = "" }, "hard-label training needs labels"},
		{"teacher classes", func(o *testOpts) {
			o.Teacher = &synth.RowTeacher{C: 4, Gain: 1}
			o.TeacherPath = "t4.onnx"
		}, "teacher t4.onnx has 4 classes, but student spec"},
		{"teacher NaN", func(o *testOpts) {
			o.Data = in.uniqData
			o.Teacher = &synth.RowTeacher{C: 3, Gain: 1, NaNAbove: 0.999}
		}, fmt.Sprintf("sample %d has NaN for class 1", badTrainNaNSample)},
		{"spec with more classes than the labels use", func(o *testOpts) { o.Spec = in.fourSpec; o.EvalData, o.EvalLabels = "", "" }, ""},
		{"jitter with soft targets", func(o *testOpts) { o.SoftTargets, o.Jitter = f.Data, 1 }, "Jitter: 1 with offline soft targets"},
		// Jitter shifts images: vectors of features (which 16 values could be read as 4x4) and
		// shifts as large as the image are refused, naming the option.
		{"jitter on vectors", func(o *testOpts) { o.Data, o.Jitter = in.flatData, 1 }, "Jitter: needs images"},
		{"jitter as large as the image", func(o *testOpts) { o.Jitter = synth.W }, "Jitter: 4 shifts the 4x4 images by their whole"},
		{"soft targets and teacher", func(o *testOpts) {
			o.SoftTargets = f.Data
			o.Teacher = &synth.RowTeacher{C: 3}
		}, "choose one"},
		{"bad optimizer", func(o *testOpts) { o.Optimizer = "rmsprop" }, `Optimizer: "rmsprop": want adam or sgd`},
		{"resume missing", func(o *testOpts) { o.Resume = true; o.Checkpoint = filepath.Join(dir, "none.ckpt") }, "resume"},
		{"resume other spec", func(o *testOpts) {
			o.Resume = true
			o.Spec = in.otherSpec
			o.Checkpoint = filepath.Join(dir, "base.ckpt")
		}, "another spec"},
		{"existing checkpoint", func(o *testOpts) { o.Checkpoint = filepath.Join(dir, "base.ckpt") }, "checkpoint exists"},
		{"no output directory", func(o *testOpts) { o.Checkpoint = filepath.Join(dir, "none", "x.ckpt") }, "does not exist"},
		{"bad preprocessing", func(o *testOpts) { o.Preprocess.Mean = []float64{0.1, 0.2} }, "2 mean values"},
		{"resume with sgd", func(o *testOpts) {
			o.Resume = true
			o.Optimizer = "sgd"
			o.Checkpoint = filepath.Join(dir, "base.ckpt")
		}, "Optimizer: sgd differs from the adam that checkpoint"},
		{"resume with other preprocessing", func(o *testOpts) {
			o.Resume = true
			o.Preprocess.Scale = 1
			o.Checkpoint = filepath.Join(dir, "base.ckpt")
		}, `Preprocess: preprocessing {"scale":1} differs from the preprocessing {"scale":255} that checkpoint`},
	}
}

// checkBadTrainCase runs tt for one epoch and checks its error, and that a failed run leaves no
// checkpoint behind (base, the protected one, is checked by the caller).
func checkBadTrainCase(t *testing.T, f *synth.Fixture, base string, tt badTrainCase) {
	t.Helper()
	o := opts(f, strings.ReplaceAll(tt.name, " ", "-")+".ckpt")
	o.Epochs = 1
	tt.setup(&o)
	_, err := o.train(context.Background(), nil)
	if tt.want == "" {
		// A 4-class spec with 3-class labels is fine; labels are checked against it.
		if err != nil {
			t.Fatalf("Train: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), tt.want) {
		t.Fatalf("Train error = %v, want it to contain %q", err, tt.want)
	}
	if o.Checkpoint != base {
		if _, serr := os.Stat(o.Checkpoint); serr == nil {
			t.Errorf("failed run left a checkpoint at %s", o.Checkpoint)
		}
	}
}

func TestTrainOffline(t *testing.T) {
	f := synth.NewFixture(t, 300, 0)
	one := filepath.Join(f.Dir, "one.safetensors")
	two := filepath.Join(f.Dir, "two.safetensors")
	synth.WriteSoftTargets(t, one, f.Data, 1, synth.Classes)
	synth.WriteSoftTargets(t, two, f.Data, 2, synth.Classes)
	tests := []struct {
		name  string
		setup func(o *testOpts)
	}{
		{"one teacher", func(o *testOpts) { o.SoftTargets = one }},
		{"one teacher, no labels", func(o *testOpts) { o.SoftTargets, o.Labels = one, "" }},
		{"ensemble of probs", func(o *testOpts) { o.SoftTargets = two }},
		{"ensemble of logits", func(o *testOpts) { o.SoftTargets, o.Ensemble = two, "logits" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts(f, strings.ReplaceAll(tt.name, " ", "-")+".ckpt")
			o.Temperature = 2
			tt.setup(&o)
			var out strings.Builder
			res, err := o.train(context.Background(), &out)
			if err != nil {
				t.Fatal(err)
			}
			if acc := lastAccuracy(t, res); acc < 0.9 {
				t.Errorf("eval accuracy %.3f, want >= 0.9\n%s", acc, out.String())
			}
			if o.Labels != "" && !strings.Contains(out.String(), "teacher 1 of ") {
				t.Errorf("output lacks the teacher's transfer-set accuracy:\n%s", out.String())
			}
			_, prov := loadProvenance(t, o.Checkpoint)
			sum, err := dataset.FileSHA256(o.SoftTargets)
			if err != nil {
				t.Fatal(err)
			}
			if prov.Mode != provenance.ModeOffline || prov.SoftTargetsSHA256 != sum || !strings.Contains(string(prov.Teachers), "row0.onnx") {
				t.Errorf("provenance %+v: want offline from %s with its teachers", prov, sum)
			}
		})
	}
}

func TestTrainOfflineMismatch(t *testing.T) {
	f := synth.NewFixture(t, 60, 0)
	other, _, _ := synth.Set(t, f.Dir, "other", 60, 9) // same N, other bytes
	short, _, _ := synth.Set(t, f.Dir, "short", 50, 1) // other N
	sameFile := filepath.Join(f.Dir, "same.safetensors")
	otherFile := filepath.Join(f.Dir, "other.safetensors")
	shortFile := filepath.Join(f.Dir, "short.safetensors")
	fourFile := filepath.Join(f.Dir, "four.safetensors")
	synth.WriteSoftTargets(t, sameFile, f.Data, 1, synth.Classes)
	synth.WriteSoftTargets(t, otherFile, other, 1, synth.Classes)
	synth.WriteSoftTargets(t, shortFile, short, 1, synth.Classes)
	synth.WriteSoftTargets(t, fourFile, f.Data, 1, 4)
	ds, err := dataset.Load(f.Data, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file string
		want       []string
	}{
		{"other data", otherFile, []string{"sha256", ds.SHA256}},
		{"other N", shortFile, []string{"sha256"}},
		{"other classes", fourFile, []string{"4 classes", "has 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts(f, strings.ReplaceAll(tt.name, " ", "-")+".ckpt")
			o.SoftTargets = tt.file
			_, err := o.train(context.Background(), nil)
			if err == nil {
				t.Fatal("Train accepted mismatched soft targets")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !errors.Is(err, targets.ErrMismatch) {
				t.Errorf("error %v does not wrap targets.ErrMismatch", err)
			}
		})
	}
	o := opts(f, "same.ckpt")
	o.SoftTargets, o.Epochs = sameFile, 1
	if _, err := o.train(context.Background(), nil); err != nil {
		t.Errorf("matching soft targets refused: %v", err)
	}
}

// TestTrainInitFrom starts training from a student exported to ONNX: with a negligible learning
// rate the weights stay those of the exported model.
func TestTrainInitFrom(t *testing.T) {
	f := synth.NewFixture(t, 100, 0)
	o := opts(f, "a.ckpt")
	o.Epochs = 2
	if _, err := o.train(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	ck, err := student.LoadCheckpoint(o.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	net, err := student.NewNet(ck.Spec, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	if err := net.LoadParams(ck.Params); err != nil {
		t.Fatal(err)
	}
	exported := filepath.Join(f.Dir, "a.onnx")
	if err := export.Student(net, exported, export.GraphOptions{}); err != nil {
		t.Fatal(err)
	}

	b := opts(f, "b.ckpt")
	b.Epochs, b.LR, b.InitFrom = 1, 1e-12, exported
	if _, err := b.train(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	got, err := student.LoadCheckpoint(b.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ck.Params, got.Params, cmpopts.EquateApprox(0, 1e-6)); d != "" {
		t.Errorf("weights after --init-from differ from the exported model's:\n%s", d)
	}

	c := opts(f, "c.ckpt")
	c.Spec, c.InitFrom = synth.WriteSpec(t, f.Dir, "wide", 32, 0), exported
	if _, err := c.train(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "layers.0.weight shaped [16 32]") {
		t.Errorf("--init-from with another spec: error %v, want one naming layers.0.weight", err)
	}
}

// loadProvenance loads the checkpoint at path and decodes its meta.Provenance.
func loadProvenance(t *testing.T, path string) (*student.Checkpoint, provenance.Record) {
	t.Helper()
	ck, err := student.LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	var prov provenance.Record
	if err := json.Unmarshal([]byte(ck.Meta[meta.Provenance]), &prov); err != nil {
		t.Fatalf("provenance of %s %q: %v", path, ck.Meta[meta.Provenance], err)
	}
	return ck, prov
}

// TestTrainScaleByDataType: without a scale, 8-bit data is divided by 255 and float data already
// in [0, 1] is left as it is; the checkpoint records the scale used, and both learn the task.
func TestTrainScaleByDataType(t *testing.T) {
	f := synth.NewFixture(t, 300, 0)
	floats := synth.FloatSet(t, f.Data)
	floatEval := synth.FloatSet(t, f.EvalData)
	for _, tt := range []struct {
		name, data, eval string
		scale            float64
	}{{"uint8", f.Data, f.EvalData, 255}, {"float32", floats, floatEval, 1}} {
		t.Run(tt.name, func(t *testing.T) {
			o := opts(f, tt.name+".ckpt")
			o.Data, o.EvalData = tt.data, tt.eval
			o.Preprocess, o.TeacherPreprocess = dataset.Preprocess{}, dataset.Preprocess{}
			res, err := o.train(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if acc := lastAccuracy(t, res); acc < 0.95 {
				t.Errorf("eval accuracy %.3f, want >= 0.95", acc)
			}
			ck, _ := loadProvenance(t, o.Checkpoint)
			var pre dataset.Preprocess
			if err := json.Unmarshal([]byte(ck.Meta[meta.Preprocess]), &pre); err != nil || pre.Scale != tt.scale {
				t.Errorf("stored preprocessing %s (%v), want scale %v", ck.Meta[meta.Preprocess], err, tt.scale)
			}
		})
	}
}

// TestTrainStandardize: the student's mean and std come from the training data and are stored.
func TestTrainStandardize(t *testing.T) {
	f := synth.NewFixture(t, 300, 0)
	o := opts(f, "std.ckpt")
	o.Standardize = true
	res, err := o.train(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if acc := lastAccuracy(t, res); acc < 0.95 {
		t.Errorf("eval accuracy %.3f, want >= 0.95", acc)
	}
	ck, _ := loadProvenance(t, o.Checkpoint)
	var pre dataset.Preprocess
	if err := json.Unmarshal([]byte(ck.Meta[meta.Preprocess]), &pre); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Load(f.Data, "")
	if err != nil {
		t.Fatal(err)
	}
	var sum, sq float64
	for _, v := range ds.X {
		x := float64(v) / 255
		sum += x
		sq += x * x
	}
	n := float64(len(ds.X))
	mean := sum / n
	std := math.Sqrt(sq/n - mean*mean)
	if len(pre.Mean) != 1 || len(pre.Std) != 1 || math.Abs(pre.Mean[0]-mean) > 1e-9 || math.Abs(pre.Std[0]-std) > 1e-9 {
		t.Errorf("stored preprocessing %+v, want mean %v and std %v", pre, mean, std)
	}
	o = opts(f, "std-mean.ckpt")
	o.Standardize, o.Preprocess.Mean = true, []float64{0.5}
	if _, err := o.train(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "Standardize") {
		t.Errorf("--standardize with a mean: %v", err)
	}
}

// TestTrainLayoutFromShapes: channel-last images for a [3 4 4] student are transposed (the layout
// is told from the shapes and stored), and learn the task as channel-first ones do.
func TestTrainLayoutFromShapes(t *testing.T) {
	f := synth.NewFixture(t, 300, 0)
	ds, err := dataset.Load(f.Data, f.Labels)
	if err != nil {
		t.Fatal(err)
	}
	// Three copies of each image as channels, stored [N, 4, 4, 3].
	x := make([]float32, 0, len(ds.X)*3)
	for _, v := range ds.X {
		x = append(x, v/255, v/255, v/255)
	}
	nhwc := filepath.Join(f.Dir, "nhwc.npy")
	synth.WriteNPY(t, nhwc, []int{ds.N, synth.H, synth.W, 3}, x)
	spec := filepath.Join(f.Dir, "rgb.json")
	if err := os.WriteFile(spec, []byte(`{"input":[3,4,4],"classes":3,"layers":[{"type":"flatten"},{"type":"dense","units":16},{"type":"relu"},{"type":"dense","units":3}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	o := opts(f, "nhwc.ckpt")
	o.Spec, o.Data, o.EvalData, o.EvalLabels = spec, nhwc, "", ""
	o.Preprocess = dataset.Preprocess{}
	if _, err := o.train(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	ck, _ := loadProvenance(t, o.Checkpoint)
	if got := ck.Meta[meta.Preprocess]; got != `{"scale":1,"layout":"nhwc"}` {
		t.Errorf("stored preprocessing %s, want scale 1 and layout nhwc", got)
	}
}
