//go:build cgo

// Command fixturegen writes the exporter fixtures of package purego's tests: small students
// encoded by distill's own exporter (onnx.Encode), and the logits onnxruntime computes for them
// on fixed inputs, which the pure-Go runtime must reproduce. It lives apart from purego because
// it links package onnx, whose ONNX protobuf types cannot share a binary with onnx-go's, and
// so onnxruntime_go: it builds only with cgo, which keeps CGO_ENABLED=0 go build ./onnx/purego/...
// working.
//
// Run it from the module root after a change to the exporter (it needs onnxruntime, found as
// package onnx finds it):
//
//	go generate ./onnx/purego
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/distillgo/distill/onnx"
)

// Fixture is one entry of fixtures.json: the model file, its inputs and onnxruntime's logits.
type Fixture struct {
	File    string    `json:"file"`
	N       int       `json:"n"`
	Classes int       `json:"classes"`
	Inputs  []float32 `json:"inputs"`
	Logits  []float32 `json:"logits"`
}

func main() {
	out := flag.String("out", "testdata", "directory to write the fixtures to")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "fixturegen:", err)
		os.Exit(1)
	}
}

// graphs are the fixtures: a float16 MLP with distill's metadata and checksum, and a CNN
// (written twice, the second time with int8 weights).
func graphs() map[string]onnx.ExportGraph {
	r := rand.New(rand.NewPCG(42, 1))
	return map[string]onnx.ExportGraph{
		"export_mlp_fp16.onnx": {
			InputShape: []int{12}, Classes: 3, FP16: true, Checksum: true,
			Metadata: map[string]string{
				"distill.preprocess": `{"scale":255,"input_shape":[12]}`,
				"distill.spec":       `{"kind":"mlp","hidden":[16]}`,
			},
			Layers: []onnx.Layer{
				{Op: "Gemm", Weight: randn(r, 12*16, 0.4), WeightShape: []int{12, 16}, Bias: randn(r, 16, 0.1)},
				{Op: "Relu"},
				{Op: "Gemm", Weight: randn(r, 16*3, 0.35), WeightShape: []int{16, 3}, Bias: randn(r, 3, 0.1)},
			},
		},
		"export_cnn.onnx": {
			InputShape: []int{1, 6, 6}, Classes: 4,
			Layers: []onnx.Layer{
				{Op: "Conv", Weight: randn(r, 4*9, 0.47), WeightShape: []int{4, 1, 3, 3}, Bias: randn(r, 4, 0.1), Kernel: 3, Stride: 1, Pad: 1},
				{Op: "Relu"},
				{Op: "MaxPool", Kernel: 2, Stride: 2},
				{Op: "Flatten"},
				{Op: "Gemm", Weight: randn(r, 36*4, 0.17), WeightShape: []int{36, 4}, Bias: randn(r, 4, 0.1)},
			},
		},
	}
}

func randn(r *rand.Rand, n int, scale float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64() * scale)
	}
	return out
}

func run(dir string) error {
	lib, _, err := onnx.FindLibrary("", false)
	if err != nil {
		return err
	}
	if err := onnx.Init(lib); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var fixtures []Fixture
	for _, name := range []string{"export_cnn.onnx", "export_mlp_fp16.onnx", "export_cnn_int8.onnx"} {
		g, ok := graphs()[name]
		if !ok { // the CNN again with int8 weights
			g = graphs()["export_cnn.onnx"]
			g.Int8, g.Checksum = true, true
			// A distill student (spec in its metadata) has its int8 weights folded into float32
			// by package onnx at load, so onnxruntime computes in float32 as this package does.
			g.Metadata = map[string]string{"distill.spec": `{"kind":"cnn"}`}
		}
		path := filepath.Join(dir, name)
		if err := onnx.Export(path, g); err != nil {
			return fmt.Errorf("export %s: %w", path, err)
		}
		f, err := ortLogits(path, g)
		if err != nil {
			return err
		}
		f.File = name
		fixtures = append(fixtures, f)
	}
	data, err := json.MarshalIndent(fixtures, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "fixtures.json"), append(data, '\n'), 0o644)
}

// ortLogits runs the model at path with onnxruntime on 5 seeded inputs.
func ortLogits(path string, g onnx.ExportGraph) (Fixture, error) {
	const n = 5
	dim := 1
	for _, d := range g.InputShape {
		dim *= d
	}
	r := rand.New(rand.NewPCG(7, uint64(dim)))
	x := make([]float32, n*dim)
	for i := range x {
		x[i] = float32(math.Round(r.Float64()*2000-1000) / 1000) // 3 decimals: exact in JSON
	}
	s, err := onnx.Open(path, onnx.Options{Output: "logits"})
	if err != nil {
		return Fixture{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer s.Close()
	y, err := s.Logits(context.Background(), x, n)
	if err != nil {
		return Fixture{}, fmt.Errorf("logits of %s: %w", path, err)
	}
	return Fixture{N: n, Classes: g.Classes, Inputs: x, Logits: y}, nil
}
