package pipeline

import "github.com/distillgo/distill/onnx"

// The onnxruntime session is the production Teacher.
var _ Teacher = (*onnx.Session)(nil)
