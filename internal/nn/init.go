package nn

import (
	"math"
	"math/rand/v2"
)

// NewTensors returns the graph's tensors (Params order) filled as a new network's: weights drawn
// from an RNG seeded with seed, layer by layer, biases and running means zero, scales and running
// variances one. The same seed gives the same values on every machine.
func (g *Graph) NewTensors(seed uint64) []*Tensor {
	rng := initRNG(seed)
	var out []*Tensor
	for _, n := range g.Nodes {
		for _, s := range n.Tensors {
			t := &Tensor{Name: TensorName(n.Index, s.Name), Shape: append([]int(nil), s.Shape...), Value: make([]float32, s.Size()), Buffer: s.Buffer}
			if !s.Buffer {
				t.Grad = make([]float32, s.Size())
			}
			switch s.Init {
			case InitOnes:
				for i := range t.Value {
					t.Value[i] = 1
				}
			case InitWeight:
				if g.ReluAfter(n.Index) {
					initHe(t.Value, s.FanIn, rng)
				} else {
					initGlorot(t.Value, s.FanIn, s.FanOut, rng)
				}
			}
			out = append(out, t)
		}
	}
	return out
}

// initRNG returns the PCG generator that initialises the weights for seed. The second PCG word is
// a fixed odd constant (the golden ratio in 64 bits) so that seed 0 is as good as any other.
func initRNG(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
}

// initHe fills w with N(0, 2/fanIn) (He et al. 2015), the initialisation for layers followed by relu.
func initHe(w []float32, fanIn int, rng *rand.Rand) {
	std := math.Sqrt(2 / float64(fanIn))
	for i := range w {
		w[i] = float32(rng.NormFloat64() * std)
	}
}

// initGlorot fills w with U(-a, a), a = sqrt(6/(fanIn+fanOut)) (Glorot and Bengio 2010), for layers
// not followed by relu (e.g. the logits layer).
func initGlorot(w []float32, fanIn, fanOut int, rng *rand.Rand) {
	a := math.Sqrt(6 / float64(fanIn+fanOut))
	for i := range w {
		w[i] = float32((2*rng.Float64() - 1) * a)
	}
}
