// Command bitcheck trains small students of every chain form for a few steps from a fixed seed
// and prints the sha256 of their weights, logits and losses, so that a change to the student's
// builder can be checked to train the same weights bit for bit (run it before and after, on the
// same machine and BLAS, and compare the lines).
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"

	"github.com/distillgo/distill/student"
)

var specs = []string{
	`{"name":"mlp","input":[64],"classes":10,"layers":[{"type":"dense","units":48},{"type":"relu"},{"type":"dropout","p":0.3},{"type":"dense","units":32},{"type":"relu"},{"type":"dense","units":10}]}`,
	`{"name":"mlp2","input":[64],"classes":5,"layers":[{"type":"dropout","p":0.2},{"type":"dense","units":40},{"type":"dense","units":5}]}`,
	`{"name":"cnn","input":[1,12,12],"classes":10,"layers":[{"type":"conv2d","filters":6,"kernel":3,"pad":1},{"type":"relu"},{"type":"maxpool","kernel":2},{"type":"conv2d","filters":8,"kernel":3},{"type":"relu"},{"type":"maxpool","kernel":2},{"type":"flatten"},{"type":"dense","units":10}]}`,
	`{"name":"cnn2","input":[2,11,11],"classes":4,"layers":[{"type":"conv2d","filters":5,"kernel":3,"stride":2,"pad":1},{"type":"maxpool","kernel":3,"stride":1},{"type":"relu"},{"type":"flatten"},{"type":"dropout","p":0.1},{"type":"dense","units":12},{"type":"relu"},{"type":"dense","units":4}]}`,
	`{"name":"resnet","input":[2,28,28],"classes":4,"layers":[{"type":"conv2d","filters":4,"kernel":3,"pad":"same","bias":false},{"type":"batchnorm"},{"type":"relu","name":"s"},{"type":"conv2d","filters":6,"kernel":3,"stride":2,"pad":"same","bias":false},{"type":"batchnorm"},{"type":"relu"},{"type":"conv2d","filters":6,"kernel":3,"pad":"same","bias":false},{"type":"batchnorm","name":"b"},{"type":"conv2d","filters":6,"kernel":1,"stride":2,"bias":false,"inputs":["s"]},{"type":"batchnorm","name":"p"},{"type":"add","inputs":["b","p"]},{"type":"relu"},{"type":"globalavgpool"},{"type":"dense","units":4}]}`,
	`{"name":"mobile","input":[1,30,30],"classes":3,"layers":[{"type":"conv2d","filters":4,"kernel":3,"pad":"same","bias":false},{"type":"batchnorm"},{"type":"hardswish"},{"type":"conv2d","filters":8,"kernel":3,"stride":2,"pad":"same","groups":4,"bias":false},{"type":"batchnorm"},{"type":"hardswish"},{"type":"conv2d","filters":8,"kernel":1,"bias":false},{"type":"batchnorm"},{"type":"hardswish"},{"type":"conv2d","filters":8,"kernel":3,"pad":"same","groups":8},{"type":"maxpool","kernel":2},{"type":"globalavgpool"},{"type":"dense","units":3}]}`,
}

func main() {
	if _, err := student.UseBLAS(os.Getenv("BLAS")); err != nil {
		panic(err)
	}
	for _, js := range specs {
		spec, err := student.ParseSpec([]byte(js), "spec")
		if err != nil {
			panic(err)
		}
		net, err := student.NewNet(spec, 7)
		if err != nil {
			panic(err)
		}
		opt := student.NewAdam(1e-3, 0.9, 0.999, 1e-8)
		dim := 1
		for _, d := range spec.Input {
			dim *= d
		}
		rng := rand.New(rand.NewPCG(1, 2))
		h := sha256.New()
		for _, batch := range []int{32, 7, 32} {
			for step := 0; step < 3; step++ {
				x := make([]float32, batch*dim)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				labels := make([]int32, batch)
				for i := range labels {
					labels[i] = int32(rng.IntN(spec.Classes))
				}
				loss := student.Loss{T: 1, Alpha: 0, Kind: "kl"}.Func(nil, 0, labels)
				l, err := net.TrainStep(x, batch, rng, loss)
				if err != nil {
					panic(err)
				}
				binary.Write(h, binary.LittleEndian, math.Float32bits(l))
				opt.Step(net.Params())
				z, err := net.Forward(x, batch)
				if err != nil {
					panic(err)
				}
				binary.Write(h, binary.LittleEndian, z)
			}
		}
		for _, p := range net.Params() {
			binary.Write(h, binary.LittleEndian, p.Value)
			binary.Write(h, binary.LittleEndian, p.Grad)
		}
		fmt.Printf("%s %x\n", spec.Name, h.Sum(nil))
	}
}
