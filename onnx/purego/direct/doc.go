// Package direct is the pure-Go runtime of distill's exported students that `--runtime go` uses:
// it reads the model with the protowire reader of onnx/purego/internal/wire and runs its layers
// itself, Gemm and Conv (by im2col) as gonum's serial Sgemm on 64×64 blocks shared with a
// process-wide pool of workers (a single row on Saxpy), Relu, MaxPool and Flatten as loops, into
// workspaces kept per model, so that PredictInto allocates nothing. It links no onnx-go and no generated protobuf types, so unlike
// package purego it can sit in the distill binary beside package onnx (whose gonnx types
// register the protobuf names "onnx.*" that onnx-go's register too), and it needs none of
// purego's workarounds for gorgonnx (batch of 1, fixed batch axis, no float16 or Cast).
//
// It accepts exactly the graphs distill's exporter writes: a chain of Gemm (transA 0, alpha and
// beta 1), Relu, Conv (group 1, dilations 1, symmetric pads), MaxPool, Flatten (axis 1),
// Identity and Dropout, with float16 initializers widened by Cast nodes and int8 ones by
// DequantizeLinear nodes (distill's --fp16 and int8 exports); anything else is
// refused naming the operator. A Model is safe for concurrent use. Its tests sit beside
// purego's, in onnx/purego (direct_test.go), to share the fixtures and the conformance suite.
package direct
