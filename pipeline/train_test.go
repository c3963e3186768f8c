package pipeline

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/distillgo/distill/student"
)

// Synthetic task: 4x4 images in 3 classes; class c lights up row c of the image over uniform noise.
// It is linearly separable, so a tiny net learns it in a few epochs.
const (
	synthH, synthW, synthClasses = 4, 4, 3
)

// writeIDX writes an uncompressed uint8 IDX file with the given dimensions.
func writeIDX(tb testing.TB, path string, dims []int, data []uint8) {
	tb.Helper()
	b := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	b = append(b, data...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// synthSet writes n synthetic images and labels (seeded) to dir/<name>-{images,labels}.idx and
// returns the paths and the labels.
func synthSet(tb testing.TB, dir, name string, n int, seed uint64) (data, labels string, y []uint8) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	x := make([]uint8, n*synthH*synthW)
	y = make([]uint8, n)
	for i := range n {
		c := rng.IntN(synthClasses)
		y[i] = uint8(c)
		for p := range synthH * synthW {
			v := rng.IntN(60)
			if p/synthW == c {
				v += 140 + rng.IntN(40)
			}
			x[i*synthH*synthW+p] = uint8(v)
		}
	}
	data = filepath.Join(dir, name+"-images.idx")
	labels = filepath.Join(dir, name+"-labels.idx")
	writeIDX(tb, data, []int{n, synthH, synthW}, x)
	writeIDX(tb, labels, []int{n}, y)
	return data, labels, y
}

// writeSpec writes a student spec for the synthetic task: 16-hidden-3, with dropout when asked.
func writeSpec(tb testing.TB, dir, name string, hidden int, dropout float64) string {
	tb.Helper()
	layers := []student.LayerSpec{{Type: "dense", Units: hidden}, {Type: "relu"}}
	if dropout > 0 {
		layers = append(layers, student.LayerSpec{Type: "dropout", P: dropout})
	}
	layers = append(layers, student.LayerSpec{Type: "dense", Units: synthClasses})
	spec := student.Spec{Name: name, Input: []int{synthH * synthW}, Classes: synthClasses, Layers: layers}
	b, err := json.Marshal(spec)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, name+".json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// rowTeacher is a Go teacher for the synthetic task: logit c = gain * mean of row c, on inputs
// scaled to [0, 1]. It can poison one sample (by its first pixel value) with NaN, and counts calls.
type rowTeacher struct {
	classes  int
	gain     float32
	nanAbove float32 // samples whose first input is at least this get a NaN logit (0: never)
	calls    atomic.Int64
	onCall   func(call int64)
}

func (t *rowTeacher) Logits(ctx context.Context, x []float32, n int) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	call := t.calls.Add(1)
	if t.onCall != nil {
		t.onCall(call)
	}
	D := synthH * synthW
	if len(x) != n*D {
		return nil, fmt.Errorf("row teacher: %d inputs for %d samples", len(x), n)
	}
	out := make([]float32, n*t.classes)
	for i := range n {
		for c := range t.classes {
			var s float32
			if c < synthH {
				for j := range synthW {
					s += x[i*D+c*synthW+j]
				}
			}
			out[i*t.classes+c] = t.gain * s / synthW
		}
		if t.nanAbove > 0 && x[i*D] >= t.nanAbove {
			out[i*t.classes+1] = float32(math.NaN())
		}
	}
	return out, nil
}
func (t *rowTeacher) Classes() int { return t.classes }
func (t *rowTeacher) Close() error { return nil }

var _ Teacher = (*rowTeacher)(nil)

// fixture is a training setup on synthetic data in a temp dir.
type fixture struct {
	dir                  string
	spec                 string
	data, labels         string
	evalData, evalLabels string
	y                    []uint8
}

func newFixture(tb testing.TB, n int, dropout float64) *fixture {
	tb.Helper()
	f := &fixture{dir: tb.TempDir()}
	f.spec = writeSpec(tb, f.dir, "tiny", 16, dropout)
	f.data, f.labels, f.y = synthSet(tb, f.dir, "train", n, 1)
	f.evalData, f.evalLabels, _ = synthSet(tb, f.dir, "eval", 150, 2)
	return f
}

func (f *fixture) opts(out string) TrainOptions {
	o := DefaultTrainOptions()
	o.ModelSpec, o.Data, o.Labels = f.spec, f.data, f.labels
	o.EvalData, o.EvalLabels = f.evalData, f.evalLabels
	o.Preprocess = Preprocess{Scale: 255}
	o.TeacherPreprocess = Preprocess{Scale: 255}
	o.Epochs, o.Batch, o.LR, o.Seed = 6, 32, 1e-2, 3
	o.Out = filepath.Join(f.dir, out)
	return o
}

func lastAccuracy(tb testing.TB, res *TrainResult) float64 {
	tb.Helper()
	if res.Eval == nil {
		tb.Fatal("no eval result")
	}
	return res.Eval.Accuracy
}

func TestTrainModes(t *testing.T) {
	f := newFixture(t, 300, 0)
	var progress strings.Builder
	tests := []struct {
		name    string
		mode    string
		setup   func(o *TrainOptions)
		minAcc  float64
		checkFn func(t *testing.T, res *TrainResult)
	}{
		{name: "hard labels", mode: ModeHard, setup: func(o *TrainOptions) { o.Progress = &progress }, minAcc: 0.95},
		{name: "online teacher with jitter", mode: ModeOnline, setup: func(o *TrainOptions) {
			o.Teacher = &rowTeacher{classes: synthClasses, gain: 8}
			o.Temperature, o.Alpha, o.Jitter = 2, 0.7, 1
		}, minAcc: 0.9},
		{name: "online teacher soft only mse sgd", mode: ModeOnline, setup: func(o *TrainOptions) {
			o.Teacher = &rowTeacher{classes: synthClasses, gain: 8}
			o.Alpha, o.Loss, o.Optimizer, o.LR, o.Momentum = 1, "mse", "sgd", 0.05, 0.9
		}, minAcc: 0.9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := f.opts(strings.ReplaceAll(tt.name, " ", "-") + ".ckpt")
			o.Metrics = o.Out + ".jsonl"
			o.Plot = o.Out + ".png"
			tt.setup(&o)
			var out strings.Builder
			res, err := Train(context.Background(), o, &out)
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
			ck, prov := loadProvenance(t, o.Out)
			if ck.Epoch != o.Epochs {
				t.Errorf("checkpoint epoch %d, want %d", ck.Epoch, o.Epochs)
			}
			if prov.Mode != tt.mode || prov.Epochs != o.Epochs || prov.EvalAccuracy == nil {
				t.Errorf("provenance %+v: want mode %s, %d epochs and an eval accuracy", prov, tt.mode, o.Epochs)
			}
			var pre Preprocess
			if err := json.Unmarshal([]byte(ck.Meta[MetaPreprocess]), &pre); err != nil || pre.Scale != 255 {
				t.Errorf("preprocess %q (%v): want scale 255", ck.Meta[MetaPreprocess], err)
			}
			if o.Progress != nil && !strings.Contains(progress.String(), "epoch 1/") {
				t.Errorf("progress output %q lacks the epoch", progress.String())
			}
			if tt.mode == ModeOnline && res.Epochs[0].Agreement == nil {
				t.Error("online training with eval data records no agreement")
			}
		})
	}
}

// TestTrainDeterministic checks that the same seed and flags give the same weights.
func TestTrainDeterministic(t *testing.T) {
	f := newFixture(t, 200, 0.2)
	var params [2]map[string][]float32
	for i := range params {
		o := f.opts(fmt.Sprintf("run%d.ckpt", i))
		o.Epochs, o.Jitter = 2, 1
		o.Teacher = &rowTeacher{classes: synthClasses, gain: 8}
		if _, err := Train(context.Background(), o, nil); err != nil {
			t.Fatal(err)
		}
		ck, err := student.LoadCheckpoint(o.Out)
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
	f := newFixture(t, 200, 0.2)
	run := func(out string, epochs int, resume bool) *student.Checkpoint {
		t.Helper()
		o := f.opts(out)
		o.Epochs, o.Jitter, o.Resume = epochs, 1, resume
		o.Metrics = o.Out + ".jsonl"
		o.Teacher = &rowTeacher{classes: synthClasses, gain: 8}
		res, err := Train(context.Background(), o, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Epochs) != epochs {
			t.Errorf("%s: %d epoch records after %d epochs", out, len(res.Epochs), epochs)
		}
		ck, err := student.LoadCheckpoint(o.Out)
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

// TestTrainCancel: cancelling during epoch 2 returns context.Canceled and leaves epoch 1 on disk.
func TestTrainCancel(t *testing.T) {
	f := newFixture(t, 200, 0)
	o := f.opts("cancel.ckpt")
	o.Epochs, o.Batch = 3, 20 // 10 teacher calls per epoch (+1 for the eval set)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.Teacher = &rowTeacher{classes: synthClasses, gain: 8, onCall: func(call int64) {
		if call == 1+10+5 {
			cancel()
		}
	}}
	_, err := Train(ctx, o, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Train error %v, want context.Canceled", err)
	}
	ck, err := student.LoadCheckpoint(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Epoch != 1 {
		t.Errorf("checkpoint after cancellation in epoch 2 holds epoch %d, want 1", ck.Epoch)
	}
	// And it resumes to the end.
	o.Resume = true
	o.Teacher = &rowTeacher{classes: synthClasses, gain: 8}
	res, err := Train(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StartEpoch != 1 || len(res.Epochs) == 0 || res.Epochs[len(res.Epochs)-1].Epoch != 3 {
		t.Errorf("resume after cancellation: start %d, epochs %+v", res.StartEpoch, res.Epochs)
	}
}

func TestTrainBadInput(t *testing.T) {
	f := newFixture(t, 60, 0)
	dir := f.dir
	// Labels out of range: class 3 of 3.
	badLabels := filepath.Join(dir, "bad-labels.idx")
	y := append([]uint8(nil), f.y...)
	y[17] = 3
	writeIDX(t, badLabels, []int{len(y)}, y)
	// Empty data set.
	emptyData := filepath.Join(dir, "empty-images.idx")
	emptyLabels := filepath.Join(dir, "empty-labels.idx")
	writeIDX(t, emptyData, []int{0, synthH, synthW}, nil)
	writeIDX(t, emptyLabels, []int{0}, nil)
	// The NaN sample: its first pixel is 255, which no other sample reaches (at most 239), and
	// the teacher poisons inputs whose first value is at least 0.999.
	raw, err := os.ReadFile(f.data)
	if err != nil {
		t.Fatal(err)
	}
	pixels := raw[4+3*4:]
	const nanSample = 23
	pixels[nanSample*16] = 255
	uniqData := filepath.Join(dir, "uniq-images.idx")
	writeIDX(t, uniqData, []int{len(f.y), synthH, synthW}, pixels)
	otherSpec := writeSpec(t, dir, "other", 8, 0)
	fourSpec := filepath.Join(dir, "four.json")
	if err := os.WriteFile(fourSpec, []byte(`{"input":[16],"classes":4,"layers":[{"type":"dense","units":4}]}`), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		setup func(o *TrainOptions)
		want  string
	}{
		{"labels out of range", func(o *TrainOptions) { o.Labels = badLabels }, "sample 17 has label 3, outside the 3 classes"},
		{"eval labels out of range", func(o *TrainOptions) { o.EvalLabels = badLabels; o.EvalData = f.data }, "sample 17 has label 3"},
		{"empty data", func(o *TrainOptions) { o.Data, o.Labels = emptyData, emptyLabels }, "empty"},
		{"no labels for hard training", func(o *TrainOptions) { o.Labels = "" }, "hard-label training needs --labels"},
		{"teacher classes", func(o *TrainOptions) {
			o.Teacher = &rowTeacher{classes: 4, gain: 1}
			o.TeacherPath = "t4.onnx"
		}, "teacher t4.onnx has 4 classes, but student spec"},
		{"teacher NaN", func(o *TrainOptions) {
			o.Data = uniqData
			o.Teacher = &rowTeacher{classes: 3, gain: 1, nanAbove: 0.999}
		}, fmt.Sprintf("sample %d: logit 1 is NaN", nanSample)},
		{"spec with more classes than the labels use", func(o *TrainOptions) { o.ModelSpec = fourSpec; o.EvalData, o.EvalLabels = "", "" }, ""},
		{"jitter with soft targets", func(o *TrainOptions) { o.SoftTargets, o.Jitter = f.data, 1 }, "--jitter 1 with offline soft targets"},
		{"soft targets and teacher", func(o *TrainOptions) {
			o.SoftTargets = f.data
			o.Teacher = &rowTeacher{classes: 3}
		}, "choose one"},
		{"bad optimizer", func(o *TrainOptions) { o.Optimizer = "rmsprop" }, `unknown optimizer "rmsprop"`},
		{"resume missing", func(o *TrainOptions) { o.Resume = true; o.Out = filepath.Join(dir, "none.ckpt") }, "resume"},
		{"resume other spec", func(o *TrainOptions) {
			o.Resume = true
			o.ModelSpec = otherSpec
			o.Out = filepath.Join(dir, "base.ckpt")
		}, "another spec"},
		{"existing checkpoint", func(o *TrainOptions) { o.Out = filepath.Join(dir, "base.ckpt") }, "checkpoint exists"},
		{"no output directory", func(o *TrainOptions) { o.Out = filepath.Join(dir, "none", "x.ckpt") }, "does not exist"},
		{"bad preprocessing", func(o *TrainOptions) { o.Preprocess.Mean = []float64{0.1, 0.2} }, "2 mean values"},
		{"resume with sgd", func(o *TrainOptions) { o.Resume = true; o.Optimizer = "sgd"; o.Out = filepath.Join(dir, "base.ckpt") }, "trained with optimizer adam, not --optimizer sgd"},
		{"resume with other preprocessing", func(o *TrainOptions) {
			o.Resume = true
			o.Preprocess.Scale = 1
			o.Out = filepath.Join(dir, "base.ckpt")
		}, "trained with preprocessing"},
	}
	// A finished checkpoint to protect.
	base := f.opts("base.ckpt")
	base.Epochs = 1
	if _, err := Train(context.Background(), base, nil); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(base.Out)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := f.opts(strings.ReplaceAll(tt.name, " ", "-") + ".ckpt")
			o.Epochs = 1
			tt.setup(&o)
			_, err := Train(context.Background(), o, nil)
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
			if o.Out != base.Out {
				if _, serr := os.Stat(o.Out); serr == nil {
					t.Errorf("failed run left a checkpoint at %s", o.Out)
				}
			}
		})
	}
	after, err := os.ReadFile(base.Out)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("a failed run changed the existing checkpoint")
	}
}

// writeSoftTargets writes a soft-target file for data from k copies of the row teacher (gains
// 8, 6, ...), as `distill targets` would.
func writeSoftTargets(tb testing.TB, path, data string, k int, classes int) {
	tb.Helper()
	ds, err := LoadDataset(data, "")
	if err != nil {
		tb.Fatal(err)
	}
	meta := TargetsMeta{DataSHA256: ds.SHA256, DataN: ds.N}
	for i := range k {
		meta.Teachers = append(meta.Teachers, TeacherInfo{Path: fmt.Sprintf("row%d.onnx", i), SHA256: strings.Repeat("0", 64),
			Input: "input", Output: "output", Preprocess: Preprocess{Scale: 255}, OutputKind: "logits"})
	}
	w, err := CreateTargets(path, meta, k, ds.N, classes, false)
	if err != nil {
		tb.Fatal(err)
	}
	defer w.Abort()
	x := make([]float32, len(ds.X))
	if err := (Preprocess{Scale: 255}).Apply(ds.X, ds.N, ds.Shape, x); err != nil {
		tb.Fatal(err)
	}
	for i := range k {
		logits, err := (&rowTeacher{classes: classes, gain: float32(8 - 2*i)}).Logits(context.Background(), x, ds.N)
		if err != nil {
			tb.Fatal(err)
		}
		if err := w.WriteBatch(i, 0, logits); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		tb.Fatal(err)
	}
}

func TestTrainOffline(t *testing.T) {
	f := newFixture(t, 300, 0)
	one := filepath.Join(f.dir, "one.safetensors")
	two := filepath.Join(f.dir, "two.safetensors")
	writeSoftTargets(t, one, f.data, 1, synthClasses)
	writeSoftTargets(t, two, f.data, 2, synthClasses)
	tests := []struct {
		name  string
		setup func(o *TrainOptions)
	}{
		{"one teacher", func(o *TrainOptions) { o.SoftTargets = one }},
		{"one teacher, no labels", func(o *TrainOptions) { o.SoftTargets, o.Labels = one, "" }},
		{"ensemble of probs", func(o *TrainOptions) { o.SoftTargets = two }},
		{"ensemble of logits", func(o *TrainOptions) { o.SoftTargets, o.Ensemble = two, "logits" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := f.opts(strings.ReplaceAll(tt.name, " ", "-") + ".ckpt")
			o.Temperature = 2
			tt.setup(&o)
			var out strings.Builder
			res, err := Train(context.Background(), o, &out)
			if err != nil {
				t.Fatal(err)
			}
			if acc := lastAccuracy(t, res); acc < 0.9 {
				t.Errorf("eval accuracy %.3f, want >= 0.9\n%s", acc, out.String())
			}
			if o.Labels != "" && !strings.Contains(out.String(), "teacher 1 of ") {
				t.Errorf("output lacks the teacher's transfer-set accuracy:\n%s", out.String())
			}
			_, prov := loadProvenance(t, o.Out)
			sum, err := FileSHA256(o.SoftTargets)
			if err != nil {
				t.Fatal(err)
			}
			if prov.Mode != ModeOffline || prov.SoftTargetsSHA256 != sum || !strings.Contains(string(prov.Teachers), "row0.onnx") {
				t.Errorf("provenance %+v: want offline from %s with its teachers", prov, sum)
			}
		})
	}
}

func TestTrainOfflineMismatch(t *testing.T) {
	f := newFixture(t, 60, 0)
	other, _, _ := synthSet(t, f.dir, "other", 60, 9) // same N, other bytes
	short, _, _ := synthSet(t, f.dir, "short", 50, 1) // other N
	sameFile := filepath.Join(f.dir, "same.safetensors")
	otherFile := filepath.Join(f.dir, "other.safetensors")
	shortFile := filepath.Join(f.dir, "short.safetensors")
	fourFile := filepath.Join(f.dir, "four.safetensors")
	writeSoftTargets(t, sameFile, f.data, 1, synthClasses)
	writeSoftTargets(t, otherFile, other, 1, synthClasses)
	writeSoftTargets(t, shortFile, short, 1, synthClasses)
	writeSoftTargets(t, fourFile, f.data, 1, 4)
	ds, err := LoadDataset(f.data, "")
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
			o := f.opts(strings.ReplaceAll(tt.name, " ", "-") + ".ckpt")
			o.SoftTargets = tt.file
			_, err := Train(context.Background(), o, nil)
			if err == nil {
				t.Fatal("Train accepted mismatched soft targets")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !errors.Is(err, ErrTargetsMismatch) {
				t.Errorf("error %v does not wrap ErrTargetsMismatch", err)
			}
		})
	}
	o := f.opts("same.ckpt")
	o.SoftTargets, o.Epochs = sameFile, 1
	if _, err := Train(context.Background(), o, nil); err != nil {
		t.Errorf("matching soft targets refused: %v", err)
	}
}

// TestTrainInitFrom starts training from a student exported to ONNX: with a negligible learning
// rate the weights stay those of the exported model.
func TestTrainInitFrom(t *testing.T) {
	f := newFixture(t, 100, 0)
	o := f.opts("a.ckpt")
	o.Epochs = 2
	if _, err := Train(context.Background(), o, nil); err != nil {
		t.Fatal(err)
	}
	ck, err := student.LoadCheckpoint(o.Out)
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
	exported := filepath.Join(f.dir, "a.onnx")
	if err := ExportStudent(net, exported, ExportOptions{}); err != nil {
		t.Fatal(err)
	}

	b := f.opts("b.ckpt")
	b.Epochs, b.LR, b.InitFrom = 1, 1e-12, exported
	if _, err := Train(context.Background(), b, nil); err != nil {
		t.Fatal(err)
	}
	got, err := student.LoadCheckpoint(b.Out)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ck.Params, got.Params, cmpopts.EquateApprox(0, 1e-6)); d != "" {
		t.Errorf("weights after --init-from differ from the exported model's:\n%s", d)
	}

	c := f.opts("c.ckpt")
	c.ModelSpec, c.InitFrom = writeSpec(t, f.dir, "wide", 32, 0), exported
	if _, err := Train(context.Background(), c, nil); err == nil || !strings.Contains(err.Error(), "layers.0.weight shaped [16 32]") {
		t.Errorf("--init-from with another spec: error %v, want one naming layers.0.weight", err)
	}
}

func TestImageDims(t *testing.T) {
	tests := []struct {
		shape, model []int
		h, w, c      int
		ok           bool
	}{
		{[]int{28, 28}, nil, 28, 28, 1, true},
		{[]int{3, 32, 32}, nil, 32, 32, 3, true},
		{[]int{784}, []int{784}, 28, 28, 1, true},
		{[]int{3072}, []int{3, 32, 32}, 32, 32, 3, true},
		{[]int{10}, []int{10}, 0, 0, 0, false},
		{[]int{2, 3, 4, 5}, nil, 0, 0, 0, false},
	}
	for _, tt := range tests {
		h, w, c, ok := imageDims(tt.shape, tt.model)
		if h != tt.h || w != tt.w || c != tt.c || ok != tt.ok {
			t.Errorf("imageDims(%v, %v) = %d, %d, %d, %v; want %d, %d, %d, %v", tt.shape, tt.model, h, w, c, ok, tt.h, tt.w, tt.c, tt.ok)
		}
	}
}

// loadProvenance loads the checkpoint at path and decodes its MetaProvenance.
func loadProvenance(t *testing.T, path string) (*student.Checkpoint, Provenance) {
	t.Helper()
	ck, err := student.LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	var prov Provenance
	if err := json.Unmarshal([]byte(ck.Meta[MetaProvenance]), &prov); err != nil {
		t.Fatalf("provenance of %s %q: %v", path, ck.Meta[MetaProvenance], err)
	}
	return ck, prov
}
