package student

import (
	"errors"
	"math/rand/v2"
)

// Param is one named trainable tensor. Names are stable: "layers.<i>.weight", "layers.<i>.bias"
// (i = index in Spec.Layers). Dense weight shape is [in, out] (row-major, y = x W + b); conv weight
// is [filters, inC, k, k] (ONNX/PyTorch layout). Value and Grad alias the live tensors of the
// network: an optimiser updates Value in place and the next step sees it; TrainStep overwrites Grad.
type Param struct {
	Name  string
	Shape []int
	Value []float32
	Grad  []float32
}

// LossFunc computes the mean loss over the batch of logits z [n,c] and writes dL/dz into dz.
type LossFunc func(z []float32, n, c int, dz []float32) float32

// Net is a student network built from a Spec as a Gorgonia expression graph.
type Net struct {
	spec   *Spec
	params []*Param
}

// NewNet builds the network for spec with weights initialised from seed.
func NewNet(spec *Spec, seed uint64) (*Net, error) {
	return nil, errors.New("new net: not implemented yet")
}

// Spec returns the network's spec.
func (n *Net) Spec() *Spec { return n.spec }

// Params returns the trainable tensors in layer order (weight before bias).
func (n *Net) Params() []*Param { return n.params }

// Forward runs inference (dropout off) on batch samples and returns batch*Classes logits.
func (n *Net) Forward(x []float32, batch int) ([]float32, error) {
	return nil, errors.New("forward: not implemented yet")
}

// TrainStep runs forward (dropout on, masks drawn from rng) and backward and fills every Param.Grad.
func (n *Net) TrainStep(x []float32, batch int, rng *rand.Rand, loss LossFunc) (float32, error) {
	return 0, errors.New("train step: not implemented yet")
}

// Close releases the compiled graphs.
func (n *Net) Close() error { return nil }

// UseBLAS selects the BLAS backend: "auto", "openblas" or "go".
func UseBLAS(name string) (string, error) { return "go", nil }
