// Package wire reads what distill's pure-Go runtimes need of an ONNX model file: the graph's
// nodes, initializers, inputs and outputs and the metadata_props, decoded with protowire from
// the bytes, and distill's checksum (metadata distill.model_sha256).
//
// It uses no generated protobuf types on purpose: package onnx's (gonnx) and onnx-go's both
// register the message names "onnx.*" with the protobuf registry, which panics when one binary
// links both, so a reader that registers nothing can sit in any binary. It imports neither
// package onnx nor onnx-go, and nothing that needs cgo.
package wire
