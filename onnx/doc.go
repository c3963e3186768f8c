// Package onnx runs ONNX teachers under onnxruntime and reads and writes ONNX files.
//
// It is the only package that imports onnxruntime_go. The shared library is found once by
// FindLibrary (the --ort-lib flag, then $ONNXRUNTIME_LIB, then the copy that scripts/setup.sh puts
// under third_party/onnxruntime/) and loaded once per process by Init; Open does this itself when
// Init has not been called.
//
// A Session wraps one classifier: inputs whose first axis is the batch, and an output that holds
// the class scores. A model with one float32 input is fed preprocessed samples by Logits. Any
// other model (a text classifier's input_ids and attention_mask, int64 [N, L]; float16, float64,
// int32, int8, uint8 or bool inputs; several inputs) is fed by name through LogitsInputs (the
// model.MultiInput of package internal/model), with values of each input's element type, as they
// are, without preprocessing: a []uint16 of float16 bits or a []float32 (rounded to float16)
// for a float16 input, a []float64 or []float32 for a float64 one, the slice of the element type
// for the others. Each call gives each input's per-sample shape, so dynamic axes such as a
// sequence length may change from call to call. Logits of such a model, and a name missing,
// unknown or given twice, are an *option.Error for Inputs that lists the model's inputs. Other
// input types (bfloat16, string, ...) are refused by Open. onnxruntime_go v1.27.0 has no float16
// Go type, so a float16 input is a CustomDataTensor of element type FLOAT16 over its bytes.
//
// The output of the class scores is Options.OutputName, or, when it is empty, the only output
// that can hold them: a tensor of float32, float16, bfloat16 or float64 shaped [N, classes], or a
// ZipMap seq(map(int64|string, float)) of probabilities as scikit-learn's converters (skl2onnx)
// write it. Several candidates, or a name that is not an output, are an *option.Error for
// OutputName that lists the outputs; the other outputs (an int64 label beside a ZipMap) are
// neither computed nor fetched. Logits and LogitsInputs run the samples through the model in
// batches (Options.Batch, or a fixed batch axis, padded with zeros), reusing the input and output
// tensors for runs of the same size and per-sample shapes, convert the scores to float32 (a
// ZipMap's in the order of its sorted class keys, numerically for int64 and lexically for
// strings, which Describe reports as ClassLabels) and return logits: a model that outputs
// probabilities has them converted to log-probabilities, which are valid logits
// (softmax(log p) = p).
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
// Device "cuda" appends onnxruntime's CUDA execution provider through onnxruntime_go's version-2
// CUDA options, which need a core built with CUDA support beside its provider libraries (the pair
// that scripts/setup.sh --cuda fetches). A provider that cannot load is an error wrapping
// ErrCUDAUnavailable; device "auto" then logs why and runs on CPU. A CUDA session makes all its
// native calls on one OS thread of its own (the provider keeps per-thread state), and each of
// them keeps the process's signal handlers: the CUDA libraries install handlers of their own,
// which would break Go's SIGINT and SIGTERM handling. Options.NoCPUFallback makes Open fail when
// a node would run on the CPU instead.
//
// Options.Features makes a Session fetch tensors from inside the model beside the scores
// (LogitsFeatures, the model.FeatureModel of package internal/model), for feature distillation:
// Open runs a copy of the model, made in memory, whose graph has them as outputs too (as
// ExposeTensors writes them, each as float32 through a Cast where it is another float type). NodeTensors lists the tensors that nodes output, and NodeShapes runs a model once to find
// which of them are float tensors with a batch axis, and their per-sample shapes (`distill
// inspect --nodes`).
//
// ReadModelInfo parses a model's protobuf directly, without onnxruntime, for `distill inspect` and
// for checks made before a session is opened. Export (Encode's bytes, written atomically) and
// ImportGraph write and read back the students that this tool trains. ReadModelInfo, Open and
// ImportGraph refuse a Git LFS pointer (a checkout's stand-in for a file not yet fetched with
// git lfs pull) with ErrLFSPointer rather than a protobuf error.
package onnx
