// Package direct is the pure-Go runtime of distill's exported students that `--runtime go` uses:
// it reads the model with the protowire reader of onnx/purego/internal/wire, folds the Cast and
// DequantizeLinear nodes of stored float16 and int8 weights into float32 initializers, reads the
// nodes as layers with internal/nn's operators (nn.Decode) and runs each layer's inference kernel
// into workspaces kept per model, so that PredictInto allocates nothing. The matrix products of the
// kernels (Gemm, Conv by im2col) are gonum's serial Sgemm on 64×64 blocks shared with a
// process-wide pool of workers, a single row on Saxpy. It links no onnx-go and no generated
// protobuf types, so unlike package purego it can sit in the distill binary beside package onnx
// (whose gonnx types register the protobuf names "onnx.*" that onnx-go's register too), and it
// needs none of purego's workarounds for gorgonnx (batch of 1, fixed batch axis, no float16 or
// Cast).
//
// It accepts exactly the graphs internal/nn decodes: every operator distill exports (Gemm, Conv
// with groups, BatchNormalization, MaxPool, AveragePool, GlobalAveragePool, Add, Concat,
// Flatten, the activations, Identity and Dropout, ...) in the forms distill writes them;
// anything else is refused naming the node and the operator. A Model is safe for concurrent use.
// Its tests sit beside purego's, in onnx/purego (direct_test.go), to share the fixtures and the
// conformance suite.
package direct
