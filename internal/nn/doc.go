// Package nn holds the networks distill trains as students: a Spec is a graph of named layers,
// and every kind of layer is an Operator registered once, in a file of its own, with all of its
// faces: its fields and their validation, shape inference, its parameters and buffers, its
// training kernels (forward and backward on float32 buffers), its ONNX encoding and decoding, and
// its pure-Go inference kernel.
//
// Everything that walks a network asks the registry (Lookup) instead of switching on the layer
// type: package student builds its Gorgonia graph from the kernels, pipeline/export encodes the
// graph (Encode) and imports it back, and onnx/purego/direct decodes an ONNX graph (Decode) and
// runs the inference kernels. Adding an operator is one new file that calls Register from init,
// plus its entry in the conformance suite's table (nntest).
//
// # Graphs
//
// A layer reads the previous layer's output unless it names its "inputs" (names of earlier
// layers, or "input" for the sample); the last layer's output is the logits. Spec.Graph resolves
// the names, checks each layer with its operator and infers every shape; a bad graph is an error
// naming the layer.
//
// # Tensors
//
// A layer's tensors are named "layers.<i>.<name>" (i: its index in Spec.Layers): parameters
// ("weight", "bias"), which the optimiser updates, and buffers (batchnorm's "running_mean" and
// "running_var"), which only the forward pass in training mode changes.
//
// The package imports no Gorgonia, no protobuf and no native code: kernels call a gonum
// blas.Float32, which the caller chooses (OpenBLAS in training, gonum's in the pure-Go runtime).
package nn
