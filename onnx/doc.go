// Package onnx runs ONNX teachers under onnxruntime and reads and writes ONNX files.
//
// It is the only package that imports onnxruntime_go. The shared library is found once by
// FindLibrary (the --ort-lib flag, then $ONNXRUNTIME_LIB, then the copy that scripts/setup.sh puts
// under third_party/onnxruntime/) and loaded once per process by Init; Open does this itself when
// Init has not been called.
//
// A Session wraps one classifier: exactly one float32 input whose first axis is the batch, and an
// output that holds the class scores. That output is Options.OutputName, or, when it is empty, the
// only output that can hold them: a tensor of float32, float16, bfloat16 or float64 shaped [N,
// classes], or a ZipMap seq(map(int64|string, float)) of probabilities as scikit-learn's
// converters (skl2onnx) write it. Several candidates, or a name that is not an output, are an
// *option.Error for OutputName that lists the outputs; the other outputs (an int64 label beside a
// ZipMap) are neither computed nor fetched. Logits runs preprocessed samples through the model in
// batches, reusing its input and output tensors, converts the scores to float32 (a ZipMap's in the
// order of its sorted class keys, numerically for int64 and lexically for strings, which
// Describe reports as ClassLabels) and returns logits: a model that outputs probabilities has them
// converted to log-probabilities, which are valid logits (softmax(log p) = p).
//
// Output kind "auto" decides from the first batch and keeps the kind: rows whose entries are all
// in [0, 1] and sum to 1 within 2e-2 are probabilities (quantized softmax outputs sum to 1 within
// ~1e-2), rows of entries <= 0 whose log-sum-exp is 0 within 2e-2 are log-probabilities, and
// rows with an entry outside [0, 1] or a sum far from 1 are logits. A batch that is all
// probabilities or all log-probabilities is that; one without rows of entries in [0, 1] summing
// to 1 within 0.1 is logits; anything else (probability rows beside others, sums near but not
// within 2e-2 of 1) is an *option.Error for Output that asks for the kind. Probabilities at or
// below the 1e-30 floor of the logarithm (exact zeros, as tree ensembles give) are logged once
// per session with their fraction, since high temperatures amplify noise in saturated
// probabilities.
//
// Device "cuda" appends onnxruntime's CUDA execution provider: through the version-2 provider
// options where the library supports them, else through the version-1 call, which lets a CPU
// build of onnxruntime load libonnxruntime_providers_cuda.so from its own directory (the pair that
// scripts/setup.sh --cuda fetches). A provider that cannot load is an error wrapping
// ErrCUDAUnavailable; device "auto" then logs why and runs on CPU.
//
// ReadModelInfo parses a model's protobuf directly, without onnxruntime, for `distill inspect` and
// for checks made before a session is opened. Export (Encode's bytes, written atomically) and
// ImportGraph write and read back the students that this tool trains. ReadModelInfo, Open and
// ImportGraph refuse a Git LFS pointer (a checkout's stand-in for a file not yet fetched with
// git lfs pull) with ErrLFSPointer rather than a protobuf error.
package onnx
