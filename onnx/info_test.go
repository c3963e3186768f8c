package onnx_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/google/go-cmp/cmp"

	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
)

// infoGemm writes the 3-input, 2-class Gemm classifier with opts and returns its path.
func infoGemm(t testing.TB, dir, name string, opts ...onnxtest.Option) string {
	t.Helper()
	path := filepath.Join(dir, name)
	onnxtest.GemmClassifier(t, path, sessW, sessB, opts...)
	return path
}

// infoInitializerInput writes a model that lists its initializer W among the graph inputs, as
// exporters targeting IR < 4 do; ReadModelInfo must not report it as an input.
func infoInitializerInput(t testing.TB, path string) {
	t.Helper()
	f32 := func(name string, dims ...int64) *pb.ValueInfoProto {
		d := make([]*pb.TensorShapeProto_Dimension, len(dims))
		for i, v := range dims {
			d[i] = &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
		}
		return &pb.ValueInfoProto{Name: name, Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{
			TensorType: &pb.TypeProto_Tensor{ElemType: int32(pb.TensorProto_FLOAT), Shape: &pb.TensorShapeProto{Dim: d}}}}}
	}
	g := &pb.GraphProto{
		Name:        "init_input",
		Input:       []*pb.ValueInfoProto{f32("x", 2, 2), f32("W", 2, 2)},
		Initializer: []*pb.TensorProto{{Name: "W", DataType: int32(pb.TensorProto_FLOAT), Dims: []int64{2, 2}, FloatData: []float32{1, 0, 0, 1}}},
		Node:        []*pb.NodeProto{{OpType: "MatMul", Input: []string{"x", "W"}, Output: []string{"y"}}},
		Output:      []*pb.ValueInfoProto{f32("y", 2, 2)},
	}
	onnxtest.Write(t, path, onnxtest.Model(g, "hand", nil))
}

func TestReadModelInfo(t *testing.T) {
	dir := t.TempDir()
	initPath := filepath.Join(dir, "init.onnx")
	infoInitializerInput(t, initPath)
	twoPath := filepath.Join(dir, "two.onnx")
	onnxtest.TwoInputs(t, twoPath)
	intPath := filepath.Join(dir, "int.onnx")
	onnxtest.IntInput(t, intPath)

	for _, tc := range []struct {
		name string
		path string
		want onnx.ModelInfo // SHA256 filled in from the file
	}{
		{"gemm dynamic batch", infoGemm(t, dir, "gemm.onnx", onnxtest.Metadata(map[string]string{"author": "test", "classes": "2"})), onnx.ModelInfo{
			Inputs:  []onnx.ValueInfo{{Name: "input", ElemType: "float32", Shape: []int64{-1, 3}, DimNames: []string{"N", ""}, Type: "float32"}},
			Outputs: []onnx.ValueInfo{{Name: "output", ElemType: "float32", Shape: []int64{-1, 2}, DimNames: []string{"N", ""}, Type: "float32"}},
			Opset:   onnxtest.Opset, Producer: onnxtest.Producer, ProducerVersion: "1", IRVersion: onnxtest.IRVersion,
			Metadata: map[string]string{"author": "test", "classes": "2"},
		}},
		{"fixed batch 1", infoGemm(t, dir, "fixed.onnx", onnxtest.FixedBatch(1), onnxtest.ProducerName("pytorch")), onnx.ModelInfo{
			Inputs:  []onnx.ValueInfo{{Name: "input", ElemType: "float32", Shape: []int64{1, 3}, DimNames: []string{"", ""}, Type: "float32"}},
			Outputs: []onnx.ValueInfo{{Name: "output", ElemType: "float32", Shape: []int64{1, 2}, DimNames: []string{"", ""}, Type: "float32"}},
			Opset:   onnxtest.Opset, Producer: "pytorch", ProducerVersion: "1", IRVersion: onnxtest.IRVersion,
			Metadata: map[string]string{},
		}},
		{"initializer listed as input", initPath, onnx.ModelInfo{
			Inputs:  []onnx.ValueInfo{{Name: "x", ElemType: "float32", Shape: []int64{2, 2}, DimNames: []string{"", ""}, Type: "float32"}},
			Outputs: []onnx.ValueInfo{{Name: "y", ElemType: "float32", Shape: []int64{2, 2}, DimNames: []string{"", ""}, Type: "float32"}},
			Opset:   onnxtest.Opset, Producer: "hand", ProducerVersion: "1", IRVersion: onnxtest.IRVersion,
			Metadata: map[string]string{},
		}},
		{"two inputs", twoPath, onnx.ModelInfo{
			Inputs: []onnx.ValueInfo{
				{Name: "a", ElemType: "float32", Shape: []int64{-1, 4}, DimNames: []string{"N", ""}, Type: "float32"},
				{Name: "b", ElemType: "float32", Shape: []int64{-1, 4}, DimNames: []string{"N", ""}, Type: "float32"},
			},
			Outputs: []onnx.ValueInfo{{Name: "output", ElemType: "float32", Shape: []int64{-1, 4}, DimNames: []string{"N", ""}, Type: "float32"}},
			Opset:   onnxtest.Opset, Producer: onnxtest.Producer, ProducerVersion: "1", IRVersion: onnxtest.IRVersion,
			Metadata: map[string]string{},
		}},
		{"int input", intPath, onnx.ModelInfo{
			Inputs:  []onnx.ValueInfo{{Name: "input", ElemType: "int64", Shape: []int64{-1, 4}, DimNames: []string{"N", ""}, Type: "int64"}},
			Outputs: []onnx.ValueInfo{{Name: "output", ElemType: "float32", Shape: []int64{-1, 4}, DimNames: []string{"N", ""}, Type: "float32"}},
			Opset:   onnxtest.Opset, Producer: onnxtest.Producer, ProducerVersion: "1", IRVersion: onnxtest.IRVersion,
			Metadata: map[string]string{},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := onnx.ReadModelInfo(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			want := tc.want
			want.SHA256 = hex.EncodeToString(sum[:])
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("ReadModelInfo mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadModelInfoErrors(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(infoGemm(t, dir, "good.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		data    []byte
		notONNX bool
	}{
		{"empty", nil, true},
		{"text", []byte("hello, this is not a model\n"), true},
		{"npy header", []byte("\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"), true},
		{"truncated model", good[:len(good)/2], true},
		{"graph-less protobuf", []byte{0x08, 0x08}, true}, // ir_version 8 and nothing else
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".onnx")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := onnx.ReadModelInfo(path)
			if err == nil {
				t.Fatal("ReadModelInfo succeeded, want error")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			if tc.notONNX && !errors.Is(err, onnx.ErrNotONNX) {
				t.Errorf("error %q: want ErrNotONNX", err)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(dir, "missing.onnx")
		if _, err := onnx.ReadModelInfo(path); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Errorf("err = %v, want ErrNotExist naming %s", err, path)
		}
	})
}

// lfsPointer is a Git LFS pointer file as a checkout without `git lfs pull` holds it.
const lfsPointer = "version https://git-lfs.github.com/spec/v1\n" +
	"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n" +
	"size 4799042\n"

// TestLFSPointer gives ReadModelInfo, Open and ImportGraph a Git LFS pointer in place of a model:
// each says so and how to fetch the model, rather than failing to parse protobuf.
func TestLFSPointer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "teacher.onnx")
	if err := os.WriteFile(path, []byte(lfsPointer), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"ReadModelInfo", func() error { _, err := onnx.ReadModelInfo(path); return err }},
		{"Open", func() error {
			s, err := onnx.Open(path, onnx.Options{})
			if err == nil {
				s.Close()
			}
			return err
		}},
		{"ImportGraph", func() error { _, err := onnx.ImportGraph(path); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, onnx.ErrLFSPointer) || !errors.Is(err, onnx.ErrNotONNX) {
				t.Fatalf("err = %v, want ErrLFSPointer and ErrNotONNX", err)
			}
			for _, w := range []string{path, "Git LFS pointer", "git lfs pull"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q: want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "proto") {
				t.Errorf("error %q speaks of protobuf", err)
			}
		})
	}
}

// FuzzReadModelInfo checks that ReadModelInfo never panics and that what it accepts is sane.
// The seed corpus is the builders' models (testdata/fuzz/FuzzReadModelInfo holds copies of them
// and of a few broken files, written by TestWriteModelInfoCorpus).
func FuzzReadModelInfo(f *testing.F) {
	for _, seed := range infoSeeds(f) {
		f.Add(seed)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "model.onnx")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		info, err := onnx.ReadModelInfo(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		if len(info.Outputs) == 0 || len(info.SHA256) != 64 {
			t.Errorf("accepted model with %d outputs, sha256 %q", len(info.Outputs), info.SHA256)
		}
		for _, v := range append(info.Inputs, info.Outputs...) {
			if len(v.Shape) != len(v.DimNames) {
				t.Errorf("%s: shape %v and dim names %v differ in length", v.Name, v.Shape, v.DimNames)
			}
			for _, d := range v.Shape {
				if d == 0 || d < -1 {
					t.Errorf("%s: shape %v has dim %d", v.Name, v.Shape, d)
				}
			}
		}
	})
}

// infoSeeds builds the fuzz seeds: every test model plus a few broken files.
func infoSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	dir := tb.TempDir()
	paths := []string{
		infoGemm(tb, dir, "gemm.onnx", onnxtest.Metadata(map[string]string{"k": "v"})),
		infoGemm(tb, dir, "fixed.onnx", onnxtest.FixedBatch(1), onnxtest.Softmax()),
		filepath.Join(dir, "two.onnx"), filepath.Join(dir, "int.onnx"), filepath.Join(dir, "init.onnx"),
	}
	onnxtest.TwoInputs(tb, paths[2])
	onnxtest.IntInput(tb, paths[3])
	infoInitializerInput(tb, paths[4])
	var seeds [][]byte
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	return append(seeds, []byte("not onnx"), seeds[0][:len(seeds[0])/3], []byte{0x08, 0x08, 0x3a, 0x00}, []byte(lfsPointer))
}

// TestWriteModelInfoCorpus rewrites testdata/fuzz/FuzzReadModelInfo from infoSeeds when run with
// -run TestWriteModelInfoCorpus and DISTILL_WRITE_CORPUS=1; otherwise it checks the corpus exists.
func TestWriteModelInfoCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReadModelInfo")
	if os.Getenv("DISTILL_WRITE_CORPUS") != "1" {
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) == 0 {
			t.Errorf("fuzz corpus %s missing (%v): run DISTILL_WRITE_CORPUS=1 go test -run TestWriteModelInfoCorpus ./onnx/", dir, err)
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, seed := range infoSeeds(t) {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(seed)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, "seed"+string(rune('a'+i))), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
