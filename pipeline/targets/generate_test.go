package targets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/teachertest"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/eval"
)

// targetsFixture is a synthetic transfer set of n samples of shape [2,2] with raw values in
// [0,255], labels in [0,3), and the weights of a Gemm teacher [4 inputs, 3 classes].
type targetsFixture struct {
	ds *dataset.Dataset
	W  [][]float32
	b  []float32
}

func newTargetsFixture(n int, seed uint64) *targetsFixture {
	rng := rand.New(rand.NewPCG(seed, 7))
	ds := &dataset.Dataset{Path: "synthetic.idx", SHA256: strings.Repeat("ab", 32), N: n, Shape: []int{2, 2},
		X: make([]float32, n*4), Labels: make([]int32, n), LabelsPath: "synthetic-labels.idx"}
	for i := range ds.X {
		ds.X[i] = float32(rng.IntN(256))
	}
	for i := range ds.Labels {
		ds.Labels[i] = int32(rng.IntN(3))
	}
	W := [][]float32{{1, -2, 0.5}, {0.25, 3, -1}, {-1.5, 0.75, 2}, {2, -0.5, -0.25}}
	return &targetsFixture{ds: ds, W: W, b: []float32{0.1, -0.2, 0.3}}
}

// want returns the teacher's logits for samples [s, e) under pre (scale only), by hand.
func (f *targetsFixture) want(s, e int, scale float32, mean float32) []float32 {
	x := make([]float32, 0, (e-s)*4)
	for _, v := range f.ds.X[s*4 : e*4] {
		x = append(x, v/scale-mean)
	}
	return onnxtest.GemmRef(x, e-s, f.W, f.b)
}

// openGemm writes the fixture's Gemm teacher (plus opts) and opens it under onnxruntime.
func openGemm(t *testing.T, f *targetsFixture, name string, batch int, opts ...onnxtest.Option) Teacher {
	t.Helper()
	onnxtest.RequireLibrary(t)
	path := filepath.Join(t.TempDir(), name)
	onnxtest.GemmClassifier(t, path, f.W, f.b, opts...)
	s, err := onnx.Open(path, onnx.Options{Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return Teacher{Teacher: s, TeacherInfo: TeacherInfo{Path: path, SHA256: s.Info().SHA256, Input: "input", Output: "output",
		Preprocess: dataset.Preprocess{Scale: 255, InputShape: []int{4}}}}
}

func readLogits(t *testing.T, path string) (*File, []float32) {
	t.Helper()
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	z, err := st.Logits()
	if err != nil {
		t.Fatal(err)
	}
	return st, z
}

func closeTo(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > tol*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("%s[%d] = %v, want %v (tolerance %g)", what, i, got[i], want[i], tol)
		}
	}
}

// handAccuracy counts the samples [s, e) whose arg-max logit is the label.
func handAccuracy(z []float32, labels []int32, c int) int {
	n := 0
	for i, y := range labels {
		if eval.Argmax(z[i*c:(i+1)*c]) == int(y) {
			n++
		}
	}
	return n
}

func TestGenerateTargetsGemm(t *testing.T) {
	f := newTargetsFixture(10, 1)
	for _, batch := range []int{1, 3, 10, 64} {
		t.Run(fmt.Sprintf("batch%d", batch), func(t *testing.T) {
			te := openGemm(t, f, "gemm.onnx", 4)
			out := filepath.Join(t.TempDir(), "st.safetensors")
			rep, err := Generate(context.Background(), Options{Out: out, Batch: batch}, []Teacher{te}, f.ds, nil)
			if err != nil {
				t.Fatal(err)
			}
			st, z := readLogits(t, out)
			want := f.want(0, 10, 255, 0)
			closeTo(t, "logits", z, want, 1e-5)
			if st.K != 1 || st.N != 10 || st.Classes != 3 || st.Meta.Teachers[0].OutputKind != "logits" {
				t.Errorf("file K=%d N=%d C=%d kind %q", st.K, st.N, st.Classes, st.Meta.Teachers[0].OutputKind)
			}
			if len(rep.Accuracy) != 1 || rep.Accuracy[0].Correct != handAccuracy(want, f.ds.Labels, 3) || rep.Ensemble != nil {
				t.Errorf("accuracy %+v, ensemble %+v; want %d correct", rep.Accuracy, rep.Ensemble, handAccuracy(want, f.ds.Labels, 3))
			}
			var buf bytes.Buffer
			if err := rep.WriteText(&buf); err != nil || !strings.Contains(buf.String(), "accuracy") {
				t.Errorf("report text %q, %v", buf.String(), err)
			}
		})
	}
}

func TestGenerateTargetsShardsMerge(t *testing.T) {
	f := newTargetsFixture(11, 2)
	te := openGemm(t, f, "gemm.onnx", 4)
	dir := t.TempDir()
	for _, fp16 := range []bool{false, true} {
		full := filepath.Join(dir, "full.safetensors")
		if _, err := Generate(context.Background(), Options{Out: full, Batch: 4, FP16: fp16}, []Teacher{te}, f.ds, nil); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for i := 2; i >= 0; i-- { // out of order on purpose
			p := filepath.Join(dir, fmt.Sprintf("part%d.safetensors", i))
			rep, err := Generate(context.Background(), Options{Out: p, Batch: 4, FP16: fp16, Shard: i, Shards: 3}, []Teacher{te}, f.ds, nil)
			if err != nil {
				t.Fatal(err)
			}
			if s, e := ShardRange(i, 3, 11); rep.Start != s || rep.End != e {
				t.Errorf("shard %d/3: range %d:%d, want %d:%d", i, rep.Start, rep.End, s, e)
			}
			parts = append(parts, p)
		}
		merged := filepath.Join(dir, "merged.safetensors")
		if err := Merge(context.Background(), merged, parts); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(full)
		b, _ := os.ReadFile(merged)
		if !bytes.Equal(a, b) {
			t.Errorf("fp16=%v: merged shards (%d bytes) differ from one run (%d bytes)", fp16, len(b), len(a))
		}
		if fp16 {
			_, z := readLogits(t, full)
			closeTo(t, "fp16 logits", z, f.want(0, 11, 255, 0), 2e-3)
		}
	}
}

func TestGenerateTargetsEnsemble(t *testing.T) {
	f := newTargetsFixture(9, 3)
	a := openGemm(t, f, "a.onnx", 4)
	b := openGemm(t, f, "b.onnx", 2, onnxtest.Softmax())
	b.Preprocess.Mean = []float64{0.5}
	out := filepath.Join(t.TempDir(), "ens.safetensors")
	rep, err := Generate(context.Background(), Options{Out: out, Batch: 4}, []Teacher{a, b}, f.ds, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, z := readLogits(t, out)
	if st.K != 2 || st.N != 9 {
		t.Fatalf("K=%d N=%d, want 2 and 9", st.K, st.N)
	}
	za := f.want(0, 9, 255, 0)
	zb := f.want(0, 9, 255, 0.5)
	// Teacher b outputs probabilities, stored as log p: log softmax of its logits.
	lb := make([]float32, len(zb))
	for i := 0; i < 9; i++ {
		row := zb[i*3 : (i+1)*3]
		for j := range row {
			lb[i*3+j] = float32(logSoftmaxAt(row, j))
		}
	}
	closeTo(t, "teacher a", z[:27], za, 1e-5)
	closeTo(t, "teacher b", z[27:], lb, 1e-4)
	if k := st.Meta.Teachers[1].OutputKind; k != "probs" {
		t.Errorf("teacher b output kind %q, want probs", k)
	}
	if m := st.Meta.Teachers[1].Preprocess.Mean; len(m) != 1 || m[0] != 0.5 {
		t.Errorf("teacher b preprocessing not recorded: %+v", st.Meta.Teachers[1].Preprocess)
	}
	// Ensemble accuracy by hand: arg-max of the mean of the two softmaxes.
	correct := 0
	for i, y := range f.ds.Labels {
		p := make([]float64, 3)
		eval.AddSoftmax(p, za[i*3:(i+1)*3])
		eval.AddSoftmax(p, zb[i*3:(i+1)*3])
		best := 0
		for j := range p {
			if p[j] > p[best] {
				best = j
			}
		}
		if best == int(y) {
			correct++
		}
	}
	if rep.Ensemble == nil || rep.Ensemble.Correct != correct || rep.Accuracy[1].Correct != handAccuracy(zb, f.ds.Labels, 3) {
		t.Errorf("ensemble %+v (want %d correct), accuracy %+v", rep.Ensemble, correct, rep.Accuracy)
	}
}

// fakeTeacher returns x's first value + j as logit j for samples of fakeDim values, and NaN for
// sample nanAt (global index counted across calls).
type fakeTeacher struct {
	c, seen, nanAt int
	cancel         func()
}

// fakeDim is the number of values in a sample of the targets fixture.
const fakeDim = 4

func (f *fakeTeacher) Classes() int { return f.c }
func (f *fakeTeacher) Close() error { return nil }
func (f *fakeTeacher) Logits(ctx context.Context, x []float32, n int) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n < 0 || len(x) != n*fakeDim {
		return nil, fmt.Errorf("fake teacher: %d values for %d samples of %d", len(x), n, fakeDim)
	}
	z := make([]float32, n*f.c)
	for i := range n {
		for j := range f.c {
			z[i*f.c+j] = x[i*fakeDim] + float32(j)
		}
		if f.seen+i == f.nanAt {
			z[i*f.c+1] = float32(math.NaN())
		}
	}
	f.seen += n
	if f.cancel != nil && f.seen >= 4 {
		f.cancel()
	}
	return z, nil
}

// TestFakeTeacherConformance holds the fake to the contract every teacher meets.
func TestFakeTeacherConformance(t *testing.T) {
	teachertest.Run(t, teachertest.Case{
		Open:    func(testing.TB) teachertest.Teacher { return &fakeTeacher{c: 3, nanAt: -1} },
		Dim:     fakeDim,
		Classes: 3,
		Reference: func(x []float32, n int) []float32 {
			z := make([]float32, n*3)
			for i := range n {
				for j := range 3 {
					z[i*3+j] = x[i*fakeDim] + float32(j)
				}
			}
			return z
		},
	})
}

func TestGenerateTargetsErrors(t *testing.T) {
	f := newTargetsFixture(10, 4)
	tt := func(te model.Teacher, pre dataset.Preprocess) []Teacher {
		return []Teacher{{Teacher: te, TeacherInfo: TeacherInfo{Path: "fake.onnx", Input: "input", Output: "output", Preprocess: pre, OutputKind: "logits"}}}
	}
	good := dataset.Preprocess{Scale: 255, InputShape: []int{4}}
	badLabels := *f.ds
	badLabels.Labels = []int32{0, 1}
	outOfRange := *f.ds
	outOfRange.Labels = append([]int32(nil), f.ds.Labels...)
	outOfRange.Labels[7] = 5
	tests := []struct {
		name     string
		teachers []Teacher
		ds       *dataset.Dataset
		opts     Options
		cancel   bool
		want     []string
	}{
		{name: "nan", teachers: tt(&fakeTeacher{c: 3, nanAt: 6}, good), ds: f.ds, want: []string{"fake.onnx", "sample 6", "NaN"}},
		{name: "shape mismatch", teachers: tt(&fakeTeacher{c: 3, nanAt: -1}, dataset.Preprocess{InputShape: []int{3, 32, 32}}), ds: f.ds,
			want: []string{"synthetic.idx", "[2 2]", "fake.onnx", "[3 32 32]"}},
		{name: "labels count", teachers: tt(&fakeTeacher{c: 3, nanAt: -1}, good), ds: &badLabels, want: []string{"synthetic-labels.idx", "2 labels", "10 samples"}},
		{name: "label out of range", teachers: tt(&fakeTeacher{c: 3, nanAt: -1}, good), ds: &outOfRange, want: []string{"sample 7", "label 5"}},
		{name: "bad shard", teachers: tt(&fakeTeacher{c: 3, nanAt: -1}, good), ds: f.ds, opts: Options{Shard: 3, Shards: 3}, want: []string{"shard 3/3"}},
		{name: "cancelled", teachers: tt(&fakeTeacher{c: 3, nanAt: -1}, good), ds: f.ds, cancel: true, want: []string{"context canceled"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := tc.opts
			opts.Out, opts.Batch = filepath.Join(dir, "st.safetensors"), 2
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				tc.teachers[0].Teacher.(*fakeTeacher).cancel = cancel
			}
			_, err := Generate(ctx, opts, tc.teachers, tc.ds, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tc.cancel && !errors.Is(err, context.Canceled) {
				t.Errorf("error %v is not context.Canceled", err)
			}
			left, _ := os.ReadDir(dir)
			for _, e := range left {
				t.Errorf("left behind: %s", e.Name())
			}
		})
	}
}

// TestGenerateTargetsFake runs without onnxruntime: a fake teacher, one ensemble of two, with
// partial batches and auto output kind falling back to "auto" when the teacher cannot say.
func TestGenerateTargetsFake(t *testing.T) {
	f := newTargetsFixture(7, 5)
	te := []Teacher{
		{Teacher: &fakeTeacher{c: 3, nanAt: -1}, TeacherInfo: TeacherInfo{Path: "a.onnx", Preprocess: dataset.Preprocess{Scale: 1}}},
		{Teacher: &fakeTeacher{c: 3, nanAt: -1}, TeacherInfo: TeacherInfo{Path: "b.onnx", Preprocess: dataset.Preprocess{Scale: 2}, OutputKind: "logprobs"}},
	}
	out := filepath.Join(t.TempDir(), "st.safetensors")
	if _, err := Generate(context.Background(), Options{Out: out, Batch: 3}, te, f.ds, nil); err != nil {
		t.Fatal(err)
	}
	st, z := readLogits(t, out)
	for k, scale := range []float32{1, 2} {
		for i := 0; i < 7; i++ {
			for j := 0; j < 3; j++ {
				want := f.ds.X[i*4]/scale + float32(j)
				if got := z[(k*7+i)*3+j]; got != want {
					t.Fatalf("teacher %d sample %d class %d: %v, want %v", k, i, j, got, want)
				}
			}
		}
	}
	if a, b := st.Meta.Teachers[0].OutputKind, st.Meta.Teachers[1].OutputKind; a != "auto" || b != "logprobs" {
		t.Errorf("output kinds %q %q", a, b)
	}
}

// logSoftmaxAt returns log softmax(row)[k] in float64.
func logSoftmaxAt(row []float32, k int) float64 {
	m := math.Inf(-1)
	for _, v := range row {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return float64(row[k]) - m - math.Log(s)
}
