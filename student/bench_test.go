package student

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkTrainStep times one training step (forward, backward, Adam) of the 784-800-800-10 MNIST
// student on random inputs with cross-entropy on random labels. scripts/bench-train.sh compares the
// same work with PyTorch.
func BenchmarkTrainStep(b *testing.B) {
	spec, err := LoadSpec("../models/mnist-student.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, batch := range []int{128, 256, 8192} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			net, err := NewNet(spec, 1)
			if err != nil {
				b.Fatal(err)
			}
			defer net.Close()
			rng := rand.New(rand.NewPCG(1, 1))
			x := randSlice(rng, batch*784, 1)
			labels := make([]int32, batch)
			for i := range labels {
				labels[i] = int32(rng.IntN(10))
			}
			loss := Loss{T: 1, Alpha: 0}.Func(nil, 0, labels)
			opt := NewAdam(1e-3, 0.9, 0.999, 1e-8)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := net.TrainStep(x, batch, rng, loss); err != nil {
					b.Fatal(err)
				}
				opt.Step(net.Params())
			}
			b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
