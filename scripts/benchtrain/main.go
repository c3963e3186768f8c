// Command benchtrain times training steps of a student network (forward, backward, Adam) on random
// data for scripts/bench-train.sh. It prints one line:
//
//	go batch=<B> steps=<N> samples_per_s=<S> cpu_ms_per_step=<C> peak_rss_mib=<M> blas=<backend>
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"syscall"
	"time"

	"github.com/distillgo/distill/student"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchtrain:", err)
		os.Exit(1)
	}
}

func run() error {
	model := flag.String("model", "models/mnist-student.json", "student spec `file`")
	batch := flag.Int("batch", 256, "batch size")
	steps := flag.Int("steps", 50, "timed steps")
	warmup := flag.Int("warmup", 3, "untimed steps first")
	blasName := flag.String("blas", "auto", "BLAS backend: auto, openblas or go")
	flag.Parse()
	backend, err := student.UseBLAS(*blasName)
	if err != nil {
		return err
	}
	spec, err := student.LoadSpec(*model)
	if err != nil {
		return err
	}
	net, err := student.NewNet(spec, 1)
	if err != nil {
		return err
	}
	defer net.Close()
	in := 1
	for _, d := range spec.Input {
		in *= d
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, *batch*in)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	labels := make([]int32, *batch)
	for i := range labels {
		labels[i] = int32(rng.IntN(spec.Classes))
	}
	// Cross-entropy on the labels alone (alpha 0), like PyTorch's CrossEntropyLoss.
	loss := student.Loss{T: 1, Alpha: 0}.Func(nil, 0, labels)
	opt := student.NewAdam(1e-3, 0.9, 0.999, 1e-8)
	step := func() error {
		if _, err := net.TrainStep(x, *batch, rng, loss); err != nil {
			return err
		}
		opt.Step(net.Params())
		return nil
	}
	for range *warmup {
		if err := step(); err != nil {
			return err
		}
	}
	cpu0, err := cpuSeconds()
	if err != nil {
		return err
	}
	start := time.Now()
	for range *steps {
		if err := step(); err != nil {
			return err
		}
	}
	el := time.Since(start).Seconds()
	cpu1, err := cpuSeconds()
	if err != nil {
		return err
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return err
	}
	fmt.Printf("go batch=%d steps=%d samples_per_s=%.1f cpu_ms_per_step=%.1f peak_rss_mib=%.1f blas=%s\n",
		*batch, *steps, float64(*batch**steps)/el, 1000*(cpu1-cpu0)/float64(*steps), float64(ru.Maxrss)/1024, backend)
	return nil
}

// cpuSeconds returns the user+system CPU time of the process so far (all threads, OpenBLAS's too).
func cpuSeconds() (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9, nil
}
