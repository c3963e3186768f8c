package student

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/distillgo/distill/internal/safetensors"
)

var updateCheckpoint = flag.Bool("update-checkpoint", false, "rewrite testdata/tiny-v1.ckpt and the FuzzLoadCheckpoint seed corpus")

const tinySpecJSON = `{"name": "tiny", "input": [6], "classes": 3, "layers": [
	{"type": "dense", "units": 5}, {"type": "relu"}, {"type": "dropout", "p": 0.5}, {"type": "dense", "units": 3}]}`

func tinySpec(t testing.TB) *Spec {
	t.Helper()
	s, err := ParseSpec([]byte(tinySpecJSON), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tinyCheckpoint builds a deterministic checkpoint of tinySpec with Adam state after two steps.
func tinyCheckpoint(t testing.TB) *Checkpoint {
	t.Helper()
	spec := tinySpec(t)
	shapes, err := SpecParams(spec)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(42, 43))
	var params []*Param
	values := map[string][]float32{}
	for _, s := range shapes {
		p := &Param{Name: s.Name, Shape: s.Shape, Value: randLogits(rng, s.Size(), 1), Grad: make([]float32, s.Size())}
		params = append(params, p)
	}
	opt := NewAdam(1e-3, 0.9, 0.999, 1e-8)
	for step := range 2 {
		gradsFor(params, step)
		opt.Step(params)
	}
	for _, p := range params {
		values[p.Name] = p.Value
	}
	pcg := rand.NewPCG(7, 8)
	pcg.Uint64()
	rngState, err := pcg.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return &Checkpoint{
		Spec: spec, Params: values, Optimizer: opt.State(), OptimizerName: opt.Name(), OptimizerHyper: opt.Hyper(),
		Epoch: 3, RNG: rngState,
		Meta: map[string]string{"preprocess": `{"scale":0.00392156862745098}`, "teacher_sha256": strings.Repeat("ab", 32), "T": "20"},
	}
}

var ignorePath = cmpopts.IgnoreFields(Checkpoint{}, "Path")

func TestSpecParamsMatchesNet(t *testing.T) {
	specs := map[string]string{
		"dense": tinySpecJSON,
		"conv": `{"input": [1, 8, 8], "classes": 4, "layers": [{"type": "conv2d", "filters": 3, "kernel": 3, "pad": 1},
			{"type": "relu"}, {"type": "maxpool", "kernel": 2}, {"type": "flatten"}, {"type": "dense", "units": 4}]}`,
	}
	for name, js := range specs {
		t.Run(name, func(t *testing.T) {
			spec, err := ParseSpec([]byte(js), name)
			if err != nil {
				t.Fatal(err)
			}
			want, err := SpecParams(spec)
			if err != nil {
				t.Fatal(err)
			}
			net, err := NewNet(spec, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			var got []ParamShape
			for _, p := range net.Tensors() {
				got = append(got, ParamShape{Name: p.Name, Shape: p.Shape, Buffer: p.Buffer})
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("SpecParams differs from NewNet's params (-SpecParams +net):\n%s", diff)
			}
		})
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := tinyCheckpoint(t)
	path := filepath.Join(dir, "a.ckpt")
	if err := SaveCheckpoint(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, ignorePath); diff != "" {
		t.Errorf("round trip (-saved +loaded):\n%s", diff)
	}
	if got.Path != path {
		t.Errorf("Path = %q, want %q", got.Path, path)
	}
	// The optimiser resumes from the loaded state.
	if err := NewAdam(1e-3, 0.9, 0.999, 1e-8).SetState(got.Optimizer); err != nil {
		t.Errorf("SetState(loaded): %v", err)
	}
	// Deterministic: saving the same checkpoint again gives the same bytes.
	path2 := filepath.Join(dir, "b.ckpt")
	if err := SaveCheckpoint(path2, got); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(path2)
	if !bytes.Equal(a, b) {
		t.Errorf("two saves of one checkpoint differ (%d vs %d bytes)", len(a), len(b))
	}
	// Weights and moment buffers are stored with the parameter's shape.
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, shape := range map[string][]int{"layers.0.weight": {6, 5}, "optim.layers.3.weight.exp_avg_sq": {5, 3}, "optim.step": {2}} {
		if ti, ok := f.Tensor(name); !ok || !cmp.Equal(ti.Shape, shape) || ti.DType != "F32" {
			t.Errorf("tensor %s: %+v (found %v), want F32 %v", name, ti, ok, shape)
		}
	}
	if f.Meta["format"] != CheckpointFormat || f.Meta["meta.T"] != "20" || f.Meta["epoch"] != "3" {
		t.Errorf("metadata %v", f.Meta)
	}
}

func TestCheckpointGolden(t *testing.T) {
	path := filepath.Join("testdata", "tiny-v1.ckpt")
	want := tinyCheckpoint(t)
	if *updateCheckpoint {
		if err := SaveCheckpoint(path, want); err != nil {
			t.Fatal(err)
		}
		writeFuzzSeeds(t, path)
	}
	got, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatalf("checkpoint of format v1 no longer loads: %v", err)
	}
	if diff := cmp.Diff(want, got, ignorePath); diff != "" {
		t.Errorf("golden checkpoint (-want +loaded):\n%s", diff)
	}
}

func TestCheckpointApply(t *testing.T) {
	c := tinyCheckpoint(t)
	c.Path = "run/student.ckpt"
	net, err := NewNet(tinySpec(t), 99)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	if err := c.Apply(net); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c.Params, net.ParamValues()); diff != "" {
		t.Errorf("net params after Apply (-checkpoint +net):\n%s", diff)
	}

	// Another architecture: refused, naming both, and nothing copied.
	other, err := ParseSpec([]byte(`{"name":"wide","input":[6],"classes":3,"layers":[{"type":"dense","units":7},{"type":"relu"},{"type":"dense","units":3}]}`), "wide")
	if err != nil {
		t.Fatal(err)
	}
	wide, err := NewNet(other, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer wide.Close()
	before := wide.ParamValues()
	err = c.Apply(wide)
	const msg = "checkpoint run/student.ckpt was made for spec tiny (input [6]: dense 5, relu, dropout 0.5, dense 3), not wide (input [6]: dense 7, relu, dense 3)"
	if !errors.Is(err, ErrSpecMismatch) || err == nil || !strings.Contains(err.Error(), msg) {
		t.Errorf("Apply to another spec: %v\nwant %q", err, msg)
	}
	if diff := cmp.Diff(before, wide.ParamValues()); diff != "" {
		t.Errorf("a refused Apply changed the weights:\n%s", diff)
	}

	// LoadParams checks names and sizes too.
	bad := net.ParamValues()
	bad["layers.0.bias"] = bad["layers.0.bias"][:4]
	if err := net.LoadParams(bad); !errors.Is(err, ErrSpecMismatch) || !strings.Contains(err.Error(), "layers.0.bias has 4 values, want 5") {
		t.Errorf("LoadParams with a short bias: %v", err)
	}
}

func TestSaveCheckpointRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.ckpt")
	good := tinyCheckpoint(t)
	if err := SaveCheckpoint(path, good); err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(path)
	tests := []struct {
		name string
		edit func(c *Checkpoint)
		want string
	}{
		{"missing param", func(c *Checkpoint) { delete(c.Params, "layers.3.bias") }, "no values for parameter layers.3.bias [3]"},
		{"extra param", func(c *Checkpoint) { c.Params["layers.1.weight"] = []float32{1} }, "parameter layers.1.weight is not in the spec"},
		{"short param", func(c *Checkpoint) { c.Params["layers.0.weight"] = make([]float32, 29) }, "has 29 values, want 30"},
		{"no spec", func(c *Checkpoint) { c.Spec = nil }, "no spec"},
		{"negative epoch", func(c *Checkpoint) { c.Epoch = -1 }, "negative epoch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tinyCheckpoint(t)
			tt.edit(c)
			err := SaveCheckpoint(path, c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("SaveCheckpoint = %v, want error containing %q", err, tt.want)
			}
			// The previous checkpoint is untouched and no temporary file is left.
			if now, _ := os.ReadFile(path); !bytes.Equal(now, orig) {
				t.Errorf("the previous checkpoint changed")
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("directory holds %d entries after a refused save, want 1", len(ents))
			}
		})
	}
}

// writeST writes a safetensors file of F32 tensors (shape, values) and metadata.
func writeST(t *testing.T, path string, tensors map[string][]int, order []string, meta map[string]string) {
	t.Helper()
	var ts []safetensors.Tensor
	for _, name := range order {
		shape := tensors[name]
		n := 1
		for _, d := range shape {
			n *= d
		}
		raw, _ := safetensors.EncodeFloat32(make([]float32, n), "F32")
		ts = append(ts, safetensors.Tensor{Name: name, DType: "F32", Shape: shape, Data: raw})
	}
	if err := safetensors.WriteFile(path, ts, meta); err != nil {
		t.Fatal(err)
	}
}

func TestLoadCheckpointRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.ckpt")
	if err := SaveCheckpoint(good, tinyCheckpoint(t)); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	tests := append(damagedCheckpointCases(data), invalidCheckpointCases()...)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCheckpointRefused(t, filepath.Join(dir, strconv.Itoa(i)+".ckpt"), tt)
		})
	}
}

// badCheckpointCase is a file that LoadCheckpoint must refuse: write puts it at path; the error
// must hold want unless it is empty and wrap is unless it is nil.
type badCheckpointCase struct {
	name  string
	write func(t *testing.T, path string)
	want  string
	is    error
}

// damagedCheckpointCases are data, a good checkpoint, cut short or with a byte flipped, and an
// empty file; each must be refused as safetensors.ErrCorrupt.
func damagedCheckpointCases(data []byte) []badCheckpointCase {
	hdrLen := 8 + int(binary.LittleEndian.Uint64(data)) // the length prefix and the JSON header
	return []badCheckpointCase{
		{"truncated", func(t *testing.T, p string) { writeBytes(t, p, data[:len(data)-3]) }, "", safetensors.ErrCorrupt},
		{"cut in header", func(t *testing.T, p string) { writeBytes(t, p, data[:hdrLen/2]) }, "", safetensors.ErrCorrupt},
		{"flipped data byte", func(t *testing.T, p string) {
			d := bytes.Clone(data)
			d[len(d)-5] ^= 0x10
			writeBytes(t, p, d)
		}, "", safetensors.ErrCorrupt},
		{"flipped metadata byte", func(t *testing.T, p string) {
			d := bytes.Clone(data)
			i := bytes.Index(d, []byte("teacher_sha256")) + 20
			d[i] ^= 0x01
			writeBytes(t, p, d)
		}, "", safetensors.ErrCorrupt},
		{"empty file", func(t *testing.T, p string) { writeBytes(t, p, nil) }, "", safetensors.ErrCorrupt},
	}
}

// invalidCheckpointCases are sound safetensors files whose tensors do not fit tinySpec or whose
// metadata is not a checkpoint's.
func invalidCheckpointCases() []badCheckpointCase {
	return []badCheckpointCase{
		{"missing tensor", func(t *testing.T, p string) {
			writeST(t, p, tinyTensorShapes(nil), []string{"layers.0.weight", "layers.0.bias", "layers.3.weight"}, tinyCheckpointMeta())
		}, `missing tensor "layers.3.bias" (shape [3])`, ErrSpecMismatch},
		{"wrong shape", func(t *testing.T, p string) {
			writeST(t, p, tinyTensorShapes(map[string][]int{"layers.0.weight": {5, 6}}), tinyTensorOrder(), tinyCheckpointMeta())
		}, `tensor "layers.0.weight" has shape [5 6], spec wants [6 5]`, ErrSpecMismatch},
		{"extra tensor", func(t *testing.T, p string) {
			writeST(t, p, tinyTensorShapes(map[string][]int{"layers.1.weight": {2}}), tinyTensorOrder("layers.1.weight"), tinyCheckpointMeta())
		}, `unexpected tensor "layers.1.weight"`, ErrSpecMismatch},
		{"optimizer tensor of no param", func(t *testing.T, p string) {
			writeST(t, p, tinyTensorShapes(map[string][]int{"optim.layers.9.weight.exp_avg": {2}}), tinyTensorOrder("optim.layers.9.weight.exp_avg"), tinyCheckpointMeta())
		}, `optimizer tensor "optim.layers.9.weight.exp_avg" belongs to no parameter`, ErrSpecMismatch},
		{"optimizer tensor size", func(t *testing.T, p string) {
			writeST(t, p, tinyTensorShapes(map[string][]int{"optim.layers.0.bias.exp_avg": {4}}), tinyTensorOrder("optim.layers.0.bias.exp_avg"), tinyCheckpointMeta())
		}, `optimizer tensor "optim.layers.0.bias.exp_avg" has shape [4], its parameter 5 values`, ErrSpecMismatch},
		{"soft-target file", func(t *testing.T, p string) {
			writeST(t, p, map[string][]int{"logits": {2, 3}}, []string{"logits"}, map[string]string{"format": "distill.softtargets/v1"})
		}, `is a soft-target file, not a checkpoint (give it to train or sweep --soft-targets)`, nil},
		{"no format", func(t *testing.T, p string) {
			m := tinyCheckpointMeta()
			delete(m, "format")
			writeST(t, p, tinyTensorShapes(nil), tinyTensorOrder(), m)
		}, "not a distill checkpoint", nil},
		{"bad spec", func(t *testing.T, p string) {
			m := tinyCheckpointMeta()
			m["spec"] = `{"input":[6],"classes":3,"layers":[{"type":"dense","units":0}]}`
			writeST(t, p, tinyTensorShapes(nil), tinyTensorOrder(), m)
		}, `layer 0 (dense): field "units"`, nil},
		{"bad epoch", func(t *testing.T, p string) {
			m := tinyCheckpointMeta()
			m["epoch"] = "-2"
			writeST(t, p, tinyTensorShapes(nil), tinyTensorOrder(), m)
		}, `bad "epoch"`, nil},
		{"bad rng", func(t *testing.T, p string) {
			m := tinyCheckpointMeta()
			m["rng"] = "!!"
			writeST(t, p, tinyTensorShapes(nil), tinyTensorOrder(), m)
		}, `bad "rng"`, nil},
	}
}

// tinyCheckpointMeta returns the metadata of a valid checkpoint of tinySpec at epoch 1.
func tinyCheckpointMeta() map[string]string {
	return map[string]string{"format": CheckpointFormat, "spec": tinySpecJSON, "epoch": "1", "rng": ""}
}

// tinyTensorShapes returns the shapes of tinySpec's parameters, with extra added or replacing them.
func tinyTensorShapes(extra map[string][]int) map[string][]int {
	m := map[string][]int{"layers.0.weight": {6, 5}, "layers.0.bias": {5}, "layers.3.weight": {5, 3}, "layers.3.bias": {3}}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// tinyTensorOrder returns the names of tinySpec's parameters in file order, then extra.
func tinyTensorOrder(extra ...string) []string {
	return append([]string{"layers.0.weight", "layers.0.bias", "layers.3.weight", "layers.3.bias"}, extra...)
}

// writeBytes writes b to path.
func writeBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkCheckpointRefused writes tt at path and checks that LoadCheckpoint refuses it with an
// error that names the file, holds tt.want and wraps tt.is.
func checkCheckpointRefused(t *testing.T, path string, tt badCheckpointCase) {
	t.Helper()
	tt.write(t, path)
	c, err := LoadCheckpoint(path)
	if err == nil {
		t.Fatalf("LoadCheckpoint accepted it: %+v", c)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
	if tt.want != "" && !strings.Contains(err.Error(), tt.want) {
		t.Errorf("error %q, want it to contain %q", err, tt.want)
	}
	if tt.is != nil && !errors.Is(err, tt.is) {
		t.Errorf("error %q does not wrap %v", err, tt.is)
	}
}

// Every single-byte flip anywhere in a checkpoint is refused.
func TestCheckpointEveryByteFlipRefused(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "tiny-v1.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "flip.ckpt")
	step := 1
	if testing.Short() {
		step = 7
	}
	for i := 0; i < len(data); i += step {
		d := bytes.Clone(data)
		d[i] ^= 1 << (i % 8)
		if err := os.WriteFile(path, d, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadCheckpoint(path); err == nil {
			t.Errorf("byte %d flipped (of %d): accepted", i, len(data))
		}
	}
	for _, n := range []int{0, 1, 8, 100, len(data) / 2, len(data) - 1} {
		if err := os.WriteFile(path, data[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadCheckpoint(path); err == nil {
			t.Errorf("cut to %d bytes: accepted", n)
		}
	}
}

// writeFuzzSeeds writes the FuzzLoadCheckpoint seed corpus from the golden checkpoint: the file
// itself, cut short, and with a byte flipped in the header and in the data.
func writeFuzzSeeds(t *testing.T, golden string) {
	t.Helper()
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzLoadCheckpoint")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte { d := bytes.Clone(data); d[i] ^= 0x20; return d }
	seeds := map[string][]byte{
		"valid":     data,
		"truncated": data[:len(data)/2],
		"header":    flip(40),
		"data":      flip(len(data) - 1),
		"short":     data[:7],
	}
	for name, d := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", d)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzLoadCheckpoint feeds arbitrary bytes to LoadCheckpoint: it must not panic, and whatever it
// accepts must save and load back to the same checkpoint.
func FuzzLoadCheckpoint(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "f.ckpt")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := LoadCheckpoint(path)
		if err != nil {
			return
		}
		again := filepath.Join(dir, "again.ckpt")
		if err := SaveCheckpoint(again, c); err != nil {
			t.Fatalf("loaded checkpoint does not save: %v", err)
		}
		c2, err := LoadCheckpoint(again)
		if err != nil {
			t.Fatalf("saved checkpoint does not load: %v", err)
		}
		if diff := cmp.Diff(c, c2, ignorePath, cmpopts.EquateNaNs()); diff != "" {
			t.Fatalf("save/load changed the checkpoint:\n%s", diff)
		}
	})
}
