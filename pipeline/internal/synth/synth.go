// Package synth makes the synthetic task that the pipeline's tests train on: 4x4 images in 3
// classes, class c lighting up row c over uniform noise. It is linearly separable, so a tiny net
// learns it in a few epochs. It also has a Go teacher for the task, RowTeacher.
package synth

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/targets"
	"github.com/distillgo/distill/student"
)

// The task's image height and width and its number of classes.
const (
	H, W, Classes = 4, 4, 3
)

// WriteIDX writes an uncompressed uint8 IDX file with the given dimensions.
func WriteIDX(tb testing.TB, path string, dims []int, data []uint8) {
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

// Set writes n synthetic images and labels (seeded) to dir/<name>-{images,labels}.idx and
// returns the paths and the labels.
func Set(tb testing.TB, dir, name string, n int, seed uint64) (data, labels string, y []uint8) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	x := make([]uint8, n*H*W)
	y = make([]uint8, n)
	for i := range n {
		c := rng.IntN(Classes)
		y[i] = uint8(c)
		for p := range H * W {
			v := rng.IntN(60)
			if p/W == c {
				v += 140 + rng.IntN(40)
			}
			x[i*H*W+p] = uint8(v)
		}
	}
	data = filepath.Join(dir, name+"-images.idx")
	labels = filepath.Join(dir, name+"-labels.idx")
	WriteIDX(tb, data, []int{n, H, W}, x)
	WriteIDX(tb, labels, []int{n}, y)
	return data, labels, y
}

// WriteSpec writes a student spec for the task, 16-hidden-3 (with dropout when asked), to
// dir/<name>.json and returns its path.
func WriteSpec(tb testing.TB, dir, name string, hidden int, dropout float64) string {
	tb.Helper()
	layers := []student.LayerSpec{{Type: "dense", Units: hidden}, {Type: "relu"}}
	if dropout > 0 {
		layers = append(layers, student.LayerSpec{Type: "dropout", P: dropout})
	}
	layers = append(layers, student.LayerSpec{Type: "dense", Units: Classes})
	spec := student.Spec{Name: name, Input: []int{H * W}, Classes: Classes, Layers: layers}
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

// Fixture is a training set-up on synthetic data in a temporary folder.
type Fixture struct {
	Dir                  string
	Spec                 string  // a 16-hidden student spec
	Data, Labels         string  // the training set
	EvalData, EvalLabels string  // 150 evaluation samples
	Y                    []uint8 // the training labels
}

// NewFixture writes a spec (with the given dropout), n training samples and 150 eval samples.
func NewFixture(tb testing.TB, n int, dropout float64) *Fixture {
	tb.Helper()
	f := &Fixture{Dir: tb.TempDir()}
	f.Spec = WriteSpec(tb, f.Dir, "tiny", 16, dropout)
	f.Data, f.Labels, f.Y = Set(tb, f.Dir, "train", n, 1)
	f.EvalData, f.EvalLabels, _ = Set(tb, f.Dir, "eval", 150, 2)
	return f
}

// RowWeights are the weights [H*W][Classes] of a linear model for the task: logit c = gain * mean
// of image row c, as RowTeacher computes it.
func RowWeights(gain float32) [][]float32 {
	Wt := make([][]float32, H*W)
	for p := range Wt {
		Wt[p] = make([]float32, Classes)
		if r := p / W; r < Classes {
			Wt[p][r] = gain / W
		}
	}
	return Wt
}

// RowTeacher is a Go teacher for the task: logit c = Gain * mean of row c, on inputs scaled to
// [0, 1]. It can poison samples (by their first input value) with NaN, and counts its calls.
type RowTeacher struct {
	C        int     // classes
	Gain     float32 // logit scale
	NaNAbove float32 // samples whose first input is at least this get a NaN logit (0: never)
	Calls    atomic.Int64
	OnCall   func(call int64) // called on every Logits call, when set
}

// Logits implements the teacher interface of package model.
func (t *RowTeacher) Logits(ctx context.Context, x []float32, n int) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	call := t.Calls.Add(1)
	if t.OnCall != nil {
		t.OnCall(call)
	}
	D := H * W
	if n < 0 || len(x) != n*D {
		return nil, fmt.Errorf("row teacher: %d inputs for %d samples", len(x), n)
	}
	out := make([]float32, n*t.C)
	for i := range n {
		for c := range t.C {
			var s float32
			if c < H {
				for j := range W {
					s += x[i*D+c*W+j]
				}
			}
			out[i*t.C+c] = t.Gain * s / W
		}
		if t.NaNAbove > 0 && x[i*D] >= t.NaNAbove {
			out[i*t.C+1] = float32(math.NaN())
		}
	}
	return out, nil
}

// Classes returns C.
func (t *RowTeacher) Classes() int { return t.C }

// Close does nothing.
func (t *RowTeacher) Close() error { return nil }

// Reference is RowTeacher's function without NaN poisoning, for the conformance suite.
func (t *RowTeacher) Reference(x []float32, n int) []float32 {
	u := RowTeacher{C: t.C, Gain: t.Gain}
	out, err := u.Logits(context.Background(), x, n)
	if err != nil {
		panic(err)
	}
	return out
}

// WriteSoftTargets writes a soft-target file for data from k copies of the row teacher (gains
// 8, 6, ...), as `distill targets` would.
func WriteSoftTargets(tb testing.TB, path, data string, k int, classes int) {
	tb.Helper()
	ds, err := dataset.Load(data, "")
	if err != nil {
		tb.Fatal(err)
	}
	md := targets.Meta{DataSHA256: ds.SHA256, DataN: ds.N}
	for i := range k {
		md.Teachers = append(md.Teachers, targets.TeacherInfo{Path: fmt.Sprintf("row%d.onnx", i), SHA256: strings.Repeat("0", 64),
			Input: "input", Output: "output", Preprocess: dataset.Preprocess{Scale: 255}, OutputKind: "logits"})
	}
	w, err := targets.Create(path, md, k, ds.N, classes, false)
	if err != nil {
		tb.Fatal(err)
	}
	defer w.Abort()
	x := make([]float32, len(ds.X))
	if err := (dataset.Preprocess{Scale: 255}).Apply(ds.X, ds.N, ds.Shape, x); err != nil {
		tb.Fatal(err)
	}
	for i := range k {
		logits, err := (&RowTeacher{C: classes, Gain: float32(8 - 2*i)}).Logits(context.Background(), x, ds.N)
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

// WriteNPY writes a float32 NPY file (format 1.0, little-endian, C order) of the given shape.
func WriteNPY(tb testing.TB, path string, shape []int, data []float32) {
	tb.Helper()
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	hdr := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", tuple)
	// The preamble (10 bytes) and the header, padded with spaces and a newline to 64 bytes.
	pad := 64 - (10+len(hdr)+1)%64
	hdr += strings.Repeat(" ", pad%64) + "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
	b = append(b, hdr...)
	for _, v := range data {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// FloatSet writes the images of an IDX set written by Set as float32 NPY in [0, 1] (x/255), the
// form of data that is already scaled, and returns its path.
func FloatSet(tb testing.TB, idxPath string) string {
	tb.Helper()
	raw, err := os.ReadFile(idxPath)
	if err != nil {
		tb.Fatal(err)
	}
	n := int(binary.BigEndian.Uint32(raw[4:]))
	px := raw[4+3*4:]
	x := make([]float32, len(px))
	for i, v := range px {
		x[i] = float32(v) / 255
	}
	path := strings.TrimSuffix(idxPath, ".idx") + ".npy"
	WriteNPY(tb, path, []int{n, H, W}, x)
	return path
}
