// Package nntest holds the cases of the operators' conformance suite: for every operator in
// internal/nn's registry, small networks that exercise it, and the helpers that fill their
// tensors. The suite itself runs where each face can be reached: the training kernels' gradients
// against finite differences in package student, the forward pass against onnxruntime and the
// pure-Go runtime and the export round trips in package pipeline/export. TestEveryOperator (here)
// fails when an operator has no case, so adding an operator means adding its entry to Cases.
package nntest

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/distillgo/distill/internal/nn"
)

// Case is one network of the suite.
type Case struct {
	// Name names the case in test names.
	Name string
	// Ops are the operators the case is there for (others may appear in it).
	Ops []string
	// Spec is the network, in JSON.
	Spec string
	// Int8 says whether an int8 export of it is checked (it has a dense or conv2d weight).
	Int8 bool
}

// Cases are the suite's networks: small, each with a layer with parameters before the operator
// under test, so that the operator's input gradient shows in that layer's weight gradient.
var Cases = []Case{
	{Name: "dense-relu", Ops: []string{"dense", "relu"}, Int8: true,
		Spec: `{"input":[6],"classes":3,"layers":[{"type":"dense","units":5},{"type":"relu"},{"type":"dense","units":3}]}`},
	{Name: "dense-nobias-dropout", Ops: []string{"dense", "dropout"}, Int8: true,
		Spec: `{"input":[6],"classes":3,"layers":[{"type":"dense","units":5,"bias":false},{"type":"dropout","p":0.3},{"type":"dense","units":3}]}`},
	{Name: "conv-maxpool-flatten", Ops: []string{"conv2d", "maxpool", "flatten"}, Int8: true,
		Spec: `{"input":[2,7,7],"classes":3,"layers":[{"type":"conv2d","filters":3,"kernel":3,"pad":1},{"type":"relu"},{"type":"maxpool","kernel":2},{"type":"conv2d","filters":2,"kernel":2,"stride":2,"pad":1},{"type":"flatten"},{"type":"dense","units":3}]}`},
	{Name: "conv-groups-same", Ops: []string{"conv2d"}, Int8: true,
		Spec: `{"input":[4,6,6],"classes":3,"layers":[{"type":"conv2d","filters":4,"kernel":1},{"type":"conv2d","filters":4,"kernel":3,"pad":"same","groups":4,"bias":false},{"type":"conv2d","filters":8,"kernel":3,"stride":2,"pad":1,"groups":4},{"type":"conv2d","filters":6,"kernel":3,"stride":2,"pad":1,"groups":2},{"type":"flatten"},{"type":"dense","units":3}]}`},
	{Name: "conv-depthwise", Ops: []string{"conv2d", "relu"}, Int8: true,
		Spec: `{"input":[3,9,9],"classes":3,"layers":[{"type":"conv2d","filters":3,"kernel":1},{"type":"conv2d","filters":6,"kernel":3,"pad":"same","groups":3},{"type":"relu"},{"type":"conv2d","filters":6,"kernel":5,"groups":6,"bias":false},{"type":"conv2d","filters":6,"kernel":3,"stride":3,"pad":1,"groups":6},{"type":"flatten"},{"type":"dense","units":3}]}`},
	{Name: "maxpool-pad", Ops: []string{"maxpool"},
		Spec: `{"input":[2,6,6],"classes":3,"layers":[{"type":"conv2d","filters":2,"kernel":1},{"type":"maxpool","kernel":3,"stride":2,"pad":1},{"type":"flatten"},{"type":"dense","units":3}]}`},
	{Name: "batchnorm-conv", Ops: []string{"batchnorm"}, Int8: true,
		Spec: `{"input":[2,5,5],"classes":3,"layers":[{"type":"conv2d","filters":3,"kernel":3,"pad":1,"bias":false},{"type":"batchnorm"},{"type":"relu"},{"type":"conv2d","filters":3,"kernel":3,"pad":1},{"type":"batchnorm","momentum":0.2,"eps":0.001},{"type":"flatten"},{"type":"dense","units":3}]}`},
	{Name: "batchnorm-vector", Ops: []string{"batchnorm"},
		Spec: `{"input":[6],"classes":3,"layers":[{"type":"dense","units":5},{"type":"batchnorm"},{"type":"tanh"},{"type":"batchnorm"},{"type":"dense","units":3}]}`},
	{Name: "residual-add", Ops: []string{"add", "batchnorm"},
		Spec: `{"input":[2,5,5],"classes":3,"layers":[{"type":"conv2d","filters":3,"kernel":3,"pad":1,"name":"stem"},{"type":"relu","name":"r0"},{"type":"conv2d","filters":3,"kernel":3,"pad":1,"bias":false},{"type":"batchnorm","name":"bn"},{"type":"add","inputs":["bn","r0","r0"],"name":"twice"},{"type":"add","inputs":["twice","stem","r0"]},{"type":"globalavgpool"},{"type":"dense","units":3}]}`},
	{Name: "residual-strided", Ops: []string{"conv2d", "batchnorm", "add"},
		Spec: `{"input":[2,7,7],"classes":3,"layers":[{"type":"conv2d","filters":3,"kernel":3,"pad":1,"name":"stem"},{"type":"relu","name":"s"},{"type":"conv2d","filters":4,"kernel":3,"stride":2,"pad":"same","bias":false},{"type":"batchnorm"},{"type":"relu"},{"type":"conv2d","filters":4,"kernel":3,"pad":"same","bias":false},{"type":"batchnorm","name":"b"},{"type":"conv2d","filters":4,"kernel":1,"stride":2,"bias":false,"inputs":["s"]},{"type":"batchnorm","name":"p"},{"type":"add","inputs":["b","p"]},{"type":"relu"},{"type":"globalavgpool"},{"type":"dense","units":3}]}`},
	{Name: "concat-branches", Ops: []string{"concat"},
		Spec: `{"input":[2,4,4],"classes":3,"layers":[{"type":"conv2d","filters":2,"kernel":1,"name":"a"},{"type":"conv2d","filters":3,"kernel":3,"pad":1,"inputs":["input"],"name":"b"},{"type":"concat","inputs":["a","b","a"]},{"type":"flatten"},{"type":"dense","units":3}]}`},
	{Name: "avgpool", Ops: []string{"avgpool"},
		Spec: `{"input":[2,7,7],"classes":3,"layers":[{"type":"conv2d","filters":2,"kernel":1},{"type":"avgpool","kernel":2},{"type":"avgpool","kernel":3,"stride":1,"pad":1},{"type":"flatten"},{"type":"dense","units":3}]}`},
	{Name: "globalavgpool", Ops: []string{"globalavgpool"},
		Spec: `{"input":[2,5,4],"classes":3,"layers":[{"type":"conv2d","filters":4,"kernel":3},{"type":"globalavgpool"},{"type":"dense","units":3}]}`},
	{Name: "activations", Ops: []string{"sigmoid", "tanh", "leakyrelu", "hardswish", "gelu"},
		Spec: `{"input":[6],"classes":3,"layers":[{"type":"dense","units":8},{"type":"sigmoid"},{"type":"dense","units":8},{"type":"tanh"},{"type":"dense","units":8},{"type":"leakyrelu","slope":0.1},{"type":"dense","units":8},{"type":"hardswish"},{"type":"dense","units":8},{"type":"gelu"},{"type":"dense","units":3}]}`},
	{Name: "leakyrelu-residual", Ops: []string{"leakyrelu", "add"},
		Spec: `{"input":[2,5,5],"classes":3,"layers":[{"type":"conv2d","filters":2,"kernel":3,"pad":1,"name":"a"},{"type":"leakyrelu","slope":0.2,"name":"l"},{"type":"add","inputs":["a","l"]},{"type":"flatten"},{"type":"dense","units":3}]}`},
	{Name: "activations-conv", Ops: []string{"leakyrelu", "hardswish", "gelu"},
		Spec: `{"input":[1,5,5],"classes":3,"layers":[{"type":"conv2d","filters":2,"kernel":3,"pad":1},{"type":"hardswish"},{"type":"conv2d","filters":2,"kernel":3},{"type":"gelu"},{"type":"leakyrelu"},{"type":"flatten"},{"type":"dense","units":3}]}`},
}

// Spec parses the case's spec; it panics on a bad one (TestCases checks them all).
func (c Case) Parse() *nn.Spec {
	s, err := nn.ParseSpec([]byte(c.Spec), c.Name)
	if err != nil {
		panic(err)
	}
	return s
}

// Randomize fills the tensors of a network of spec s with seeded values: weights and biases
// N(0, 0.5²), batchnorm's scales in [0.5, 1.5), running means N(0, 0.3²) and running variances
// in [0.5, 2), so that evaluation mode is not the identity a new network's buffers give.
func Randomize(s *nn.Spec, tensors []*nn.Tensor, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, t := range tensors {
		var i int
		var name string
		if _, err := fmt.Sscanf(strings.Replace(t.Name, ".", " ", 2), "layers %d %s", &i, &name); err != nil || i >= len(s.Layers) {
			panic(fmt.Sprintf("nntest: tensor %q is not layers.<i>.<name> of the spec", t.Name))
		}
		bn := s.Layers[i].Type == "batchnorm"
		for j := range t.Value {
			switch {
			case name == "running_var":
				t.Value[j] = float32(0.5 + 1.5*rng.Float64())
			case name == "running_mean":
				t.Value[j] = float32(0.3 * rng.NormFloat64())
			case bn && name == "weight":
				t.Value[j] = float32(0.5 + rng.Float64())
			default:
				t.Value[j] = float32(0.5 * rng.NormFloat64())
			}
		}
	}
}

// Inputs returns n seeded samples of the spec's input, N(0, 1).
func Inputs(s *nn.Spec, n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 11))
	x := make([]float32, n*nn.Shape(s.Input).Size())
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}
