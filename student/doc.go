// Package student holds the student networks of distill: a JSON Spec of layers, a Net built from it
// as a Gorgonia expression graph with automatic differentiation, and the losses, optimisers and
// checkpoints that train it.
//
// Rules: float32 throughout; weights come from a seed (math/rand/v2 PCG) and dropout masks from the
// rng passed to TrainStep, so runs are exactly reproducible and resumable. Parameters are named
// "layers.<i>.weight" and "layers.<i>.bias". The BLAS backend (OpenBLAS loaded at run time, or pure
// Go) is chosen in one place, UseBLAS.
package student
