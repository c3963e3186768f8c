// Package student holds the student networks of distill: a Net built from a Spec (internal/nn's
// graph of registered operators) as a Gorgonia expression graph with automatic differentiation,
// and the losses, optimisers and checkpoints that train it.
//
// # Networks
//
// A Net compiles one Gorgonia graph per batch size and mode (training: forward, loss and
// gorgonia.Grad for every parameter; inference: forward only) to a TapeMachine and reuses it, so a
// step builds nothing. Each layer is one op (ops.go) running its operator's kernel, whose forward
// and backward passes call sgemm directly and write into buffers allocated once; flatten and
// dropout at inference are reshapes, and a relu that alone reads a dense, conv2d, batchnorm or add layer is applied
// by that layer's kernel. The loss is a LossFunc from outside, wrapped in an op whose Do computes
// the loss and dL/dz and whose gradient op returns dL/dz, so one tape run does forward and
// backward.
//
// Rules: float32 throughout; weights come from a seed (math/rand/v2 PCG; He for layers followed by
// relu, Glorot otherwise) and dropout masks from the rng passed to TrainStep (Gorgonia's global
// RNG is never used), so runs are exactly reproducible and resumable. Results do not depend on
// GOMAXPROCS. Tensors are named "layers.<i>.<name>"; Param.Value and Param.Grad alias the tensors
// the graphs use. Batchnorm's running statistics are buffers: in Tensors and checkpoints, not in
// Params.
//
// # BLAS
//
// The BLAS backend is chosen in one place, UseBLAS: OpenBLAS loaded at run time with dlopen (cgo,
// no link-time dependency, so a plain go build gives the fast binary) or gonum's pure Go BLAS. It is
// installed with gorgonia.Use, which also calls tensor.Use for gorgonia.org/tensor. OpenBLAS is
// set to one thread and large products are split across goroutines instead (see openBLAS).
package student
