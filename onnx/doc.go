// Package onnx runs ONNX teachers under onnxruntime and reads and writes ONNX files.
//
// It is the only package that imports onnxruntime_go. The shared library is found once by
// FindLibrary (the --ort-lib flag, then $ONNXRUNTIME_LIB, then the copy that scripts/setup.sh puts
// under third_party/onnxruntime/) and loaded once per process by Init; Open does this itself when
// Init has not been called.
//
// A Session wraps one classifier: exactly one float32 input whose first axis is the batch, and one
// float32 output shaped [N, classes]. Logits runs preprocessed samples through it in batches,
// reusing its input and output tensors, and returns logits: a model that outputs probabilities has
// them converted to log-probabilities, which are valid logits (softmax(log p) = p).
//
// Device "cuda" appends onnxruntime's CUDA execution provider: through the version-2 provider
// options where the library supports them, else through the version-1 call, which lets a CPU
// build of onnxruntime load libonnxruntime_providers_cuda.so from its own directory (the pair that
// scripts/setup.sh --cuda fetches). A provider that cannot load is an error wrapping
// ErrCUDAUnavailable; device "auto" then logs why and runs on CPU.
//
// ReadModelInfo parses a model's protobuf directly, without onnxruntime, for `distill inspect` and
// for checks made before a session is opened. Export (Encode's bytes, written atomically) and
// ImportGraph write and read back the students that this tool trains.
package onnx
