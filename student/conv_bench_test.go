package student

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the process's user plus system CPU time, for a throughput per CPU-second that
// other processes on a shared machine change less than the wall-clock figure.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchCNNSpec is the small CNN of the conv benchmark: conv 32 3×3 pad 1, relu, maxpool 2, conv 64
// 3×3 pad 1, relu, maxpool 2, dense 128, relu, dense 10, on 1×28×28 inputs.
func benchCNNSpec() *Spec {
	return &Spec{Name: "bench-cnn", Input: []int{1, 28, 28}, Classes: 10, Layers: []LayerSpec{
		{Type: "conv2d", Filters: 32, Kernel: 3, Pad: 1}, {Type: "relu"}, {Type: "maxpool", Kernel: 2},
		{Type: "conv2d", Filters: 64, Kernel: 3, Pad: 1}, {Type: "relu"}, {Type: "maxpool", Kernel: 2},
		{Type: "flatten"}, {Type: "dense", Units: 128}, {Type: "relu"}, {Type: "dense", Units: 10},
	}}
}

// BenchmarkConvTrainStep times one training step (forward, backward, Adam) of a small CNN on
// random 28×28 images with cross-entropy on random labels, in samples/s of wall time and
// samples per CPU-second (all goroutines' CPU time summed; on an idle machine with two cores the
// wall figure is up to twice the CPU one).
func BenchmarkConvTrainStep(b *testing.B) {
	spec := benchCNNSpec()
	if err := spec.Validate(); err != nil {
		b.Fatal(err)
	}
	benchTrainStep(b, spec, 128)
}

// BenchmarkResNetTrainStep is BenchmarkConvTrainStep for the small ResNet with batchnorm,
// models/fashion-resnet.json (77,754 parameters), at batch 128.
func BenchmarkResNetTrainStep(b *testing.B) {
	spec, err := LoadSpec("../models/fashion-resnet.json")
	if err != nil {
		b.Fatal(err)
	}
	benchTrainStep(b, spec, 128)
}

// BenchmarkFashionTeacherTrainStep is BenchmarkConvTrainStep for the Fashion-MNIST teacher's
// architecture, models/fashion-teacher.json (three 3×3 convolutions, two max pools, dense 256), at
// batch 128.
func BenchmarkFashionTeacherTrainStep(b *testing.B) {
	spec, err := LoadSpec("../models/fashion-teacher.json")
	if err != nil {
		b.Fatal(err)
	}
	benchTrainStep(b, spec, 128)
}

// BenchmarkMobileNetTrainStep is BenchmarkConvTrainStep for the MobileNet-like student,
// models/fashion-mobilenet.json (18,826 parameters: depthwise-separable blocks, batchnorm,
// hardswish), at batch 128.
func BenchmarkMobileNetTrainStep(b *testing.B) {
	spec, err := LoadSpec("../models/fashion-mobilenet.json")
	if err != nil {
		b.Fatal(err)
	}
	benchTrainStep(b, spec, 128)
}

// benchTrainStep times training steps of spec on 1×28×28 images at the given batches.
func benchTrainStep(b *testing.B, spec *Spec, batches ...int) {
	for _, batch := range batches {
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
			cpu0 := cpuTime(b)
			for i := 0; i < b.N; i++ {
				if _, err := net.TrainStep(x, batch, rng, loss); err != nil {
					b.Fatal(err)
				}
				opt.Step(net.Params())
			}
			b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(float64(batch)*float64(b.N)/(cpuTime(b)-cpu0).Seconds(), "samples/cpu-s")
		})
	}
}
