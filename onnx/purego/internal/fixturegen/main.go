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

	"github.com/distillgo/distill/internal/nn"
	"github.com/distillgo/distill/internal/nn/nntest"
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
func graphs() (map[string]onnx.ExportGraph, error) {
	r := rand.New(rand.NewPCG(42, 1))
	mlp := &nn.Spec{Input: []int{12}, Classes: 3, Layers: []nn.Layer{{Type: "dense", Units: 16}, {Type: "relu"}, {Type: "dense", Units: 3}}}
	mlpW := map[string][]float32{}
	mlpW["layers.0.weight"], mlpW["layers.0.bias"] = randn(r, 12*16, 0.4), randn(r, 16, 0.1)
	mlpW["layers.2.weight"], mlpW["layers.2.bias"] = randn(r, 16*3, 0.35), randn(r, 3, 0.1)
	cnn := &nn.Spec{Input: []int{1, 6, 6}, Classes: 4, Layers: []nn.Layer{{Type: "conv2d", Filters: 4, Kernel: 3, Pad: 1},
		{Type: "relu"}, {Type: "maxpool", Kernel: 2}, {Type: "flatten"}, {Type: "dense", Units: 4}}}
	cnnW := map[string][]float32{}
	cnnW["layers.0.weight"], cnnW["layers.0.bias"] = randn(r, 4*9, 0.47), randn(r, 4, 0.1)
	cnnW["layers.4.weight"], cnnW["layers.4.bias"] = randn(r, 36*4, 0.17), randn(r, 4, 0.1)
	mlpG, err := nn.EncodeSpec(mlp, mlpW, nn.EncodeOptions{})
	if err != nil {
		return nil, err
	}
	cnnG, err := nn.EncodeSpec(cnn, cnnW, nn.EncodeOptions{})
	if err != nil {
		return nil, err
	}
	all := map[string]onnx.ExportGraph{
		"export_mlp_fp16.onnx": {
			ONNXGraph: *mlpG, FP16: true, Checksum: true,
			Metadata: map[string]string{
				"distill.preprocess": `{"scale":255,"input_shape":[12]}`,
				"distill.spec":       `{"kind":"mlp","hidden":[16]}`,
			},
		},
		"export_cnn.onnx": {ONNXGraph: *cnnG},
	}
	// One model per case of the operators' conformance suite, every tensor random, batchnorms
	// written as BatchNormalization nodes.
	for _, c := range nntest.Cases {
		spec := c.Parse()
		g, err := spec.Graph()
		if err != nil {
			return nil, err
		}
		tensors := g.NewTensors(1)
		nntest.Randomize(spec, tensors, 2)
		values := map[string][]float32{}
		for _, t := range tensors {
			values[t.Name] = t.Value
		}
		og, err := nn.Encode(g, values, nn.EncodeOptions{})
		if err != nil {
			return nil, err
		}
		all["nn_"+c.Name+".onnx"] = onnx.ExportGraph{ONNXGraph: *og, Checksum: true}
	}
	return all, nil
}

// names are the fixtures in the order fixtures.json lists them.
func names() []string {
	out := []string{"export_cnn.onnx", "export_mlp_fp16.onnx", "export_cnn_int8.onnx"}
	for _, c := range nntest.Cases {
		out = append(out, "nn_"+c.Name+".onnx")
	}
	return out
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
	for _, name := range names() {
		all, err := graphs()
		if err != nil {
			return err
		}
		g, ok := all[name]
		if !ok { // the CNN again with int8 weights
			g = all["export_cnn.onnx"]
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
