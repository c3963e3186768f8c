package onnx_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/x448/float16"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/option"
	"github.com/distillgo/distill/internal/teachertest"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
)

// inputsDim and inputsClasses are the per-sample size and class count of the models with
// several inputs or typed inputs; inputsW and inputsB their Gemm head.
const inputsDim, inputsClasses = 3, 2

var (
	inputsW = sessW
	inputsB = sessB
)

// typedValues returns count values for an input of element type elem, drawn from rng so that
// they are exact in elem, and their float32 values as the model's Cast sees them. With
// fromFloat32 a float16 or float64 input gets []float32 values (which LogitsInputs converts; for
// float16 the float32 view is rounded as the conversion rounds).
func typedValues(rng *rand.Rand, elem string, fromFloat32 bool, count int) (any, []float32) {
	f := make([]float32, count)
	small := func() int { return rng.IntN(11) - 5 } // integers in [-5, 5]
	switch elem {
	case "float32", "float16", "float64":
		for i := range f {
			f[i] = float32(rng.Float64()*2 - 1)
		}
		switch {
		case elem == "float16" && fromFloat32:
			return f, round16(f, false)
		case elem == "float16":
			bits := make([]uint16, count)
			for i, v := range f {
				bits[i] = float16.Fromfloat32(v).Bits()
			}
			return bits, round16(f, false)
		case elem == "float64" && !fromFloat32:
			d := make([]float64, count)
			for i := range d {
				d[i] = rng.Float64()*2 - 1
				f[i] = float32(d[i])
			}
			return d, f
		}
		return f, f
	case "int64":
		v := make([]int64, count)
		for i := range v {
			v[i] = int64(small())
			f[i] = float32(v[i])
		}
		return v, f
	case "int32":
		v := make([]int32, count)
		for i := range v {
			v[i] = int32(small())
			f[i] = float32(v[i])
		}
		return v, f
	case "int8":
		v := make([]int8, count)
		for i := range v {
			v[i] = int8(small())
			f[i] = float32(v[i])
		}
		return v, f
	case "uint8":
		v := make([]uint8, count)
		for i := range v {
			v[i] = uint8(rng.IntN(11))
			f[i] = float32(v[i])
		}
		return v, f
	case "bool":
		v := make([]bool, count)
		for i := range v {
			if v[i] = rng.IntN(2) == 1; v[i] {
				f[i] = 1
			}
		}
		return v, f
	}
	panic("typedValues: element type " + elem)
}

// TestSessionLogitsInputsTyped feeds models of one or several inputs of every element type a
// Session takes (SumInputs: the inputs cast to float32 and summed, then a Gemm) by name and
// checks the logits against GemmRef of the summed inputs, in runs that split n (a partial last
// run, a fixed batch padded with zeros) and twice per session (tensors reused).
func TestSessionLogitsInputsTyped(t *testing.T) {
	onnxtest.RequireLibrary(t)
	confQuiet(t)
	dir := t.TempDir()
	type in struct {
		elem        string
		fromFloat32 bool
	}
	for _, tc := range []struct {
		name   string
		inputs []in
		opts   []onnxtest.Option
		batch  int
		probs  bool // the model outputs probabilities: the logits are log p
	}{
		{"two float32 inputs", []in{{"float32", false}, {"float32", false}}, nil, 2, false},
		{"float16 as bits", []in{{"float16", false}}, nil, 2, false},
		{"float16 from float32", []in{{"float16", true}}, nil, 3, false},
		{"float64", []in{{"float64", false}}, nil, 2, false},
		{"float64 from float32", []in{{"float64", true}}, nil, 2, false},
		{"int64, int32 and int8", []in{{"int64", false}, {"int32", false}, {"int8", false}}, nil, 4, false},
		{"uint8 and bool", []in{{"uint8", false}, {"bool", false}}, nil, 64, false},
		{"float16 and int64, fixed batch 4 padded", []in{{"float16", false}, {"int64", false}}, []onnxtest.Option{onnxtest.FixedBatch(4)}, 0, false},
		{"int32, fixed batch 1", []in{{"int32", false}}, []onnxtest.Option{onnxtest.FixedBatch(1)}, 0, false},
		{"int64 with softmax, returned as log p", []in{{"int64", false}}, []onnxtest.Option{onnxtest.Softmax()}, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var specs []onnxtest.InputSpec
			for i, x := range tc.inputs {
				specs = append(specs, onnxtest.InputSpec{Name: "x" + strconv.Itoa(i), Elem: x.elem})
			}
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".onnx")
			onnxtest.SumInputs(t, path, specs, inputsW, inputsB, tc.opts...)
			s := sessOpen(t, path, onnx.Options{Batch: tc.batch})
			wantInfo := make([]model.InputInfo, len(specs))
			for i, sp := range specs {
				wantInfo[i] = model.InputInfo{Name: sp.Name, DType: sp.Elem, SampleShape: []int{inputsDim}}
			}
			if diff := cmp.Diff(wantInfo, s.Inputs()); diff != "" {
				t.Errorf("Inputs() (-want +got):\n%s", diff)
			}
			rng := rand.New(rand.NewPCG(21, uint64(len(tc.name))))
			for _, n := range []int{7, 5} {
				feeds, sum := make([]model.Input, len(specs)), make([]float32, n*inputsDim)
				for i, x := range tc.inputs {
					v, f := typedValues(rng, x.elem, x.fromFloat32, n*inputsDim)
					// Given in reverse order: inputs are matched by name.
					feeds[len(specs)-1-i] = model.Input{Name: specs[i].Name, SampleShape: []int{inputsDim}, Values: v}
					for j := range sum {
						sum[j] += f[j]
					}
				}
				want := onnxtest.GemmRef(sum, n, inputsW, inputsB)
				if tc.probs {
					want = logSoftmaxRows(want, inputsClasses)
				}
				got, err := s.LogitsInputs(context.Background(), feeds, n)
				if err != nil {
					t.Fatalf("LogitsInputs(n=%d): %v", n, err)
				}
				sessClose(t, got, want, sessTol)
			}
		})
	}
}

// TestSessionLogitsInputsSingle checks that LogitsInputs of the one float32 input of a model
// returns exactly what Logits returns, with the sample shape given or nil (the model's).
func TestSessionLogitsInputsSingle(t *testing.T) {
	onnxtest.RequireLibrary(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(23, 24))
	imgW, imgB := sessRandGemm(rng, 784, 10)
	for _, tc := range []struct {
		name   string
		build  func(path string)
		opts   onnx.Options
		sample []int
	}{
		{"dynamic batch 2", func(p string) { onnxtest.GemmClassifier(t, p, sessW, sessB) }, onnx.Options{Batch: 2}, []int{3}},
		{"fixed batch 4 padded", func(p string) { onnxtest.GemmClassifier(t, p, sessW, sessB, onnxtest.FixedBatch(4)) }, onnx.Options{}, nil},
		{"softmax", func(p string) { onnxtest.GemmClassifier(t, p, sessW, sessB, onnxtest.Softmax()) }, onnx.Options{Batch: 3}, nil},
		{"image input", func(p string) { onnxtest.GemmClassifier(t, p, imgW, imgB, onnxtest.ImageInput()) }, onnx.Options{Batch: 2}, []int{1, 28, 28}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".onnx")
			tc.build(path)
			s := sessOpen(t, path, tc.opts)
			size := 1
			for _, d := range s.SampleShape() {
				size *= int(d)
			}
			want := model.InputInfo{Name: "input", DType: "float32", SampleShape: toInts(s.SampleShape())}
			if diff := cmp.Diff([]model.InputInfo{want}, s.Inputs()); diff != "" {
				t.Errorf("Inputs() (-want +got):\n%s", diff)
			}
			x := sessRandVec(rng, 5*size)
			a, err := s.Logits(context.Background(), x, 5)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.LogitsInputs(context.Background(), []model.Input{{Name: "input", SampleShape: tc.sample, Values: x}}, 5)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a, b) {
				t.Errorf("LogitsInputs = %v, Logits = %v; want them identical", b, a)
			}
		})
	}
}

func toInts(v []int64) []int {
	out := make([]int, len(v))
	for i, d := range v {
		out[i] = int(d)
	}
	return out
}

// tokenBatch returns n samples of token ids in [0, 50) and attention masks (each sample's first
// 1 + i%seqLen tokens are attended, the rest are padding with id 0) [n, seqLen].
func tokenBatch(rng *rand.Rand, n, seqLen int) (ids, mask []int64) {
	ids, mask = make([]int64, n*seqLen), make([]int64, n*seqLen)
	for r := range n {
		for j := range 1 + r%seqLen {
			ids[r*seqLen+j], mask[r*seqLen+j] = int64(rng.IntN(50)), 1
		}
	}
	return ids, mask
}

// TestSessionTokenClassifier feeds a text classifier's input_ids and attention_mask (int64 [N,
// L]) to models with a fixed and a dynamic sequence length, the latter with calls of different
// lengths (each keeps its own tensors), in runs of 3 samples.
func TestSessionTokenClassifier(t *testing.T) {
	onnxtest.RequireLibrary(t)
	dir := t.TempDir()
	W := [][]float32{{0.01, -0.02, 0.03}, {0.5, -0.25, 0}}
	b := []float32{0.1, 0, -0.1}
	fixed, dynamic := filepath.Join(dir, "fixed.onnx"), filepath.Join(dir, "dynamic.onnx")
	onnxtest.TokenClassifier(t, fixed, 6, W, b)
	onnxtest.TokenClassifier(t, dynamic, 0, W, b)
	rng := rand.New(rand.NewPCG(25, 26))
	for _, tc := range []struct {
		name    string
		path    string
		model   []int // the per-sample shape Inputs reports
		lengths []int
	}{
		{"fixed length 6", fixed, []int{6}, []int{6, 6}},
		{"dynamic length", dynamic, []int{-1}, []int{4, 9, 4, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sessOpen(t, tc.path, onnx.Options{Batch: 3})
			want := []model.InputInfo{{Name: "input_ids", DType: "int64", SampleShape: tc.model}, {Name: "attention_mask", DType: "int64", SampleShape: tc.model}}
			if diff := cmp.Diff(want, s.Inputs()); diff != "" {
				t.Errorf("Inputs() (-want +got):\n%s", diff)
			}
			if got := s.Describe(); got.Input != "input_ids" || !slices.Equal(got.SampleShape, tc.model) {
				t.Errorf("Describe() input %q, sample shape %v; want input_ids, %v", got.Input, got.SampleShape, tc.model)
			}
			for _, l := range tc.lengths {
				const n = 7
				ids, mask := tokenBatch(rng, n, l)
				got, err := s.LogitsInputs(context.Background(), []model.Input{
					{Name: "attention_mask", SampleShape: []int{l}, Values: mask},
					{Name: "input_ids", SampleShape: []int{l}, Values: ids},
				}, n)
				if err != nil {
					t.Fatalf("LogitsInputs(L=%d): %v", l, err)
				}
				sessClose(t, got, onnxtest.GemmRef(onnxtest.TokenFeatures(ids, mask, n, l), n, W, b), sessTol)
			}
		})
	}
}

// TestSessionLogitsInputsErrors checks each way of giving a model's inputs wrongly: what must be
// an *option.Error for Inputs (a name missing, unknown or given twice) and what names the input.
func TestSessionLogitsInputsErrors(t *testing.T) {
	onnxtest.RequireLibrary(t)
	dir := t.TempDir()
	W, b := [][]float32{{1, 0}, {0, 1}}, []float32{0, 0}
	fixed, dynamic := filepath.Join(dir, "fixed.onnx"), filepath.Join(dir, "dynamic.onnx")
	onnxtest.TokenClassifier(t, fixed, 6, W, b)
	onnxtest.TokenClassifier(t, dynamic, 0, W, b)
	half := filepath.Join(dir, "half.onnx")
	onnxtest.SumInputs(t, half, []onnxtest.InputSpec{{Name: "x", Elem: "float16"}}, inputsW, inputsB)
	ids := func(k int) model.Input { return model.Input{Name: "input_ids", Values: make([]int64, k)} }
	mask := func(k int) model.Input { return model.Input{Name: "attention_mask", Values: make([]int64, k)} }
	shaped := func(in model.Input, shape ...int) model.Input { in.SampleShape = shape; return in }
	listed := `"input_ids" int64 [N, 6] and "attention_mask" int64 [N, 6], each given once by name`
	for _, tc := range []struct {
		name   string
		path   string
		in     []model.Input
		n      int
		option bool // an *option.Error for Inputs
		want   []string
	}{
		{"missing", fixed, []model.Input{ids(12)}, 2, true, []string{`input "attention_mask" not given`, listed}},
		{"unknown", fixed, []model.Input{ids(12), mask(12), {Name: "token_type_ids", Values: make([]int64, 12)}}, 2, true,
			[]string{`no input "token_type_ids"`, listed}},
		{"twice", fixed, []model.Input{ids(12), mask(12), ids(12)}, 2, true, []string{`input "input_ids" given twice`, listed}},
		{"none", fixed, nil, 2, true, []string{`input "input_ids", "attention_mask" not given`}},
		{"wrong type", fixed, []model.Input{ids(12), {Name: "attention_mask", Values: make([]int32, 12)}}, 2, false,
			[]string{`input "attention_mask" is int64: got []int32 values, want []int64`}},
		{"float32 for int64", fixed, []model.Input{{Name: "input_ids", Values: make([]float32, 12)}, mask(12)}, 2, false,
			[]string{`input "input_ids" is int64: got []float32 values, want []int64`}},
		{"no values", fixed, []model.Input{{Name: "input_ids"}, mask(12)}, 2, false, []string{`input "input_ids" is int64: got no values`}},
		{"float64 for float16", half, []model.Input{{Name: "x", Values: make([]float64, 6)}}, 2, false,
			[]string{`input "x" is float16: got []float64 values, want []uint16 (float16 bits) or []float32`}},
		{"too few values", fixed, []model.Input{ids(10), mask(12)}, 2, false, []string{`input "input_ids": got 10 values for 2 samples of shape [6] (6 values each)`}},
		{"n differs between inputs", fixed, []model.Input{ids(12), mask(18)}, 2, false, []string{`input "attention_mask": got 18 values for 2 samples`}},
		{"fixed axis mismatch", fixed, []model.Input{shaped(ids(10), 5), mask(12)}, 2, false,
			[]string{`input "input_ids": sample shape [5] given does not fit the input's per-sample shape [6]`}},
		{"too many axes", fixed, []model.Input{shaped(ids(12), 2, 3), mask(12)}, 2, false, []string{`sample shape [2 3] given does not fit`}},
		{"dynamic axis without a shape", dynamic, []model.Input{ids(12), mask(12)}, 2, false,
			[]string{`input "input_ids": sample shape [] given does not fit the input's per-sample shape [-1] (-1: any size)`}},
		{"zero length", dynamic, []model.Input{shaped(ids(0), 0), shaped(mask(0), 0)}, 2, false, []string{`sample shape [0] given does not fit`}},
		{"negative n", fixed, []model.Input{ids(0), mask(0)}, -1, false, []string{"-1 samples"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sessOpen(t, tc.path, onnx.Options{})
			_, err := s.LogitsInputs(context.Background(), tc.in, tc.n)
			if err == nil {
				t.Fatal("LogitsInputs succeeded, want an error")
			}
			var oe *option.Error
			if isOpt := errors.As(err, &oe) && oe.Scope == "onnx" && oe.Option == "Inputs"; isOpt != tc.option {
				t.Errorf("error %v (%T): *option.Error for onnx Inputs is %v, want %v", err, err, isOpt, tc.option)
			}
			for _, w := range append([]string{"model " + tc.path}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q: want it to contain %q", err, w)
				}
			}
		})
	}
}

// TestSessionNamedInputsRefused checks what a model fed by name refuses: Logits (an
// *option.Error for Inputs listing the inputs), an InputShape at Open (one for InputShape), and
// LogitsInputs on a cancelled context or after Close; and that Open refuses an input of a type
// it cannot feed.
func TestSessionNamedInputsRefused(t *testing.T) {
	onnxtest.RequireLibrary(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.onnx")
	onnxtest.TokenClassifier(t, tokens, 0, [][]float32{{1, 0}, {0, 1}}, []float32{0, 0})
	integer := filepath.Join(dir, "int.onnx")
	onnxtest.IntInput(t, integer)
	two := filepath.Join(dir, "two.onnx")
	onnxtest.TwoInputs(t, two)
	for _, tc := range []struct {
		path, want string
	}{
		{two, `model ` + two + ` has 2 inputs, "a" float32 [N, 4] and "b" float32 [N, 4]: each must be fed by name (LogitsInputs), as Logits feeds only a model with one float input (float32, float16 or float64)`},
		{tokens, `model ` + tokens + ` has 2 inputs, "input_ids" int64 [N, L] and "attention_mask" int64 [N, L]: each must be fed by name (LogitsInputs)`},
		{integer, `model ` + integer + ` has 1 input, "input" int64 [N, 4]: each must be fed by name`},
	} {
		s := sessOpen(t, tc.path, onnx.Options{})
		_, err := s.Logits(context.Background(), make([]float32, 8), 2)
		var oe *option.Error
		if !errors.As(err, &oe) || oe.Scope != "onnx" || oe.Option != "Inputs" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Logits: error %v (%T), want an *option.Error for onnx Inputs containing %q", err, err, tc.want)
		}
	}

	_, err := onnx.Open(tokens, onnx.Options{InputShape: []int{8}})
	var oe *option.Error
	if !errors.As(err, &oe) || oe.Option != "InputShape" || !strings.Contains(err.Error(), "open model "+tokens) ||
		!strings.Contains(err.Error(), "an input shape is for a model with one float input (float32, float16 or float64)") {
		t.Errorf("Open with InputShape: error %v, want an *option.Error for InputShape naming the model", err)
	}

	s := sessOpen(t, tokens, onnx.Options{Batch: 1})
	in := []model.Input{{Name: "input_ids", SampleShape: []int{2}, Values: make([]int64, 4)}, {Name: "attention_mask", SampleShape: []int{2}, Values: make([]int64, 4)}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.LogitsInputs(ctx, in, 2); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
	if got, err := s.LogitsInputs(context.Background(), []model.Input{{Name: "input_ids", SampleShape: []int{2}, Values: []int64{}},
		{Name: "attention_mask", SampleShape: []int{2}, Values: []int64{}}}, 0); err != nil || len(got) != 0 {
		t.Errorf("n = 0: got %v, %v; want empty, nil", got, err)
	}
	s.Close()
	if _, err := s.LogitsInputs(context.Background(), in, 2); !errors.Is(err, onnx.ErrClosed) {
		t.Errorf("after Close: err = %v, want ErrClosed", err)
	}

	brain := filepath.Join(dir, "bfloat16.onnx")
	onnxtest.SumInputs(t, brain, []onnxtest.InputSpec{{Name: "x", Elem: "float32"}, {Name: "h", Elem: "bfloat16"}}, inputsW, inputsB)
	if _, err := onnx.Open(brain, onnx.Options{}); err == nil || !strings.Contains(err.Error(), `input "h" bfloat16 [N, 3] cannot be fed: want float32, float16, float64, int64, int32, int8, uint8 or bool`) {
		t.Errorf("Open of a bfloat16 input: error %v, want one naming the input", err)
	}
}

// namedTeacher is a teachertest.Teacher over a Session of two inputs, "x" float64 and "zero"
// int32 (SumInputs): Logits feeds x to "x" as []float32 (widened) and zeros to "zero".
type namedTeacher struct{ *onnx.Session }

func (t namedTeacher) Logits(ctx context.Context, x []float32, n int) ([]float32, error) {
	return t.LogitsInputs(ctx, []model.Input{{Name: "zero", Values: make([]int32, len(x))}, {Name: "x", Values: x}}, n)
}

// TestSessionConformanceInputs runs the conformance suite on LogitsInputs of a model with a
// float64 and an int32 input, with dynamic and fixed batches.
func TestSessionConformanceInputs(t *testing.T) {
	onnxtest.RequireLibrary(t)
	confQuiet(t)
	dir := t.TempDir()
	const in, classes = 6, 4
	W, b := confRandGemm(rand.New(rand.NewPCG(27, 28)), in, classes)
	specs := []onnxtest.InputSpec{{Name: "x", Elem: "float64"}, {Name: "zero", Elem: "int32"}}
	for _, tc := range []struct {
		name  string
		opts  []onnxtest.Option
		batch int
	}{{"batch 4", nil, 4}, {"fixed batch 4", []onnxtest.Option{onnxtest.FixedBatch(4)}, 4}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".onnx")
			onnxtest.SumInputs(t, path, specs, W, b, tc.opts...)
			teachertest.Run(t, teachertest.Case{
				Open: func(tb testing.TB) teachertest.Teacher {
					s, err := onnx.Open(path, onnx.Options{Batch: tc.batch})
					if err != nil {
						tb.Fatalf("Open(%s): %v", path, err)
					}
					return namedTeacher{s}
				},
				Dim: in, Classes: classes, Tol: confGemmTol, MaxBatch: tc.batch, ErrClosed: onnx.ErrClosed,
				Reference: func(x []float32, n int) []float32 { return onnxtest.GemmRef(x, n, W, b) },
			})
		})
	}
}
