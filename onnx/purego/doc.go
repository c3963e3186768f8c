// Package purego runs distill's exported students without cgo: it decodes an ONNX model with
// github.com/owulveryck/onnx-go and evaluates it with that module's gorgonnx backend (gorgonia on
// gonum's pure-Go BLAS), so a service built with CGO_ENABLED=0 can classify with a student.
//
// [Load] opens a model file and [Model.Predict] returns its logits; [Model.Preprocess] gives the
// preprocessing distill recorded in the model's metadata (key distill.preprocess), which a caller
// applies to raw samples first. A Model also implements internal/model's Model, and [Runtime]
// its Runtime, so the pipeline can run a student through this package instead of onnxruntime.
//
// Rules and limits:
//   - Only a model whose operators gorgonnx implements is accepted: of distill's, Gemm (with a
//     bias), Relu, Conv, MaxPool, Flatten, Add, BatchNormalization of images,
//     GlobalAveragePool, Sigmoid, Tanh and LeakyRelu (a small ResNet runs). Load names the first
//     operator that is not (AveragePool, HardSigmoid, Erf, ...), and refuses a Conv with groups,
//     a Gemm without a bias, Concat (which gorgonnx joins wrongly) and a LeakyRelu of a value
//     another node or the caller reads (gorgonnx overwrites its input); an error of gorgonnx's
//     graph build is ErrUnsupported too. The input must be one float32 tensor [N, ...] with a
//     dynamic batch axis.
//   - A float16 initializer widened by a Cast node (distill's --fp16 export) is folded into a
//     float32 initializer before decoding, since gorgonnx has neither float16 tensors nor Cast.
//   - gorgonnx drops the dynamic batch axis and fixes a decoded graph at the batch size of its
//     first run, so a Model keeps decoded graphs per batch size: a call is cut into runs of the
//     model's batch size, and a shorter last run is padded with zero rows to a power of two.
//   - gorgonnx's Gemm writes its output into the bias when the bias has as many elements as the
//     output (a bias [n] and a batch of 1), so a later run adds the previous logits to the bias.
//     Every run first copies each Gemm bias's values back from a copy made at decoding (a few
//     thousand floats for an MLP), so a single sample runs on one row and stays exact.
//   - A decoded graph is not safe for concurrent use; a Model keeps a pool of them per batch
//     size, so one Model may be shared by goroutines.
//   - The checksum distill records (metadata distill.model_sha256) is verified when present.
//   - gorgonnx runs a graph in a goroutine of its own and panics there, where no recover
//     reaches, on a weight that does not fit its input; so a graph of distill's operators is
//     first checked layer by layer by package direct's planner. Other panics of onnx-go and
//     gorgonnx are turned into errors.
//
// The package imports neither package onnx nor onnxruntime_go, nor anything that needs cgo. It
// cannot share a binary with package onnx: onnx-go's generated protobuf types (its
// internal/onnx/ir, imported by every onnx-go package) register the message names "onnx.*" that
// package onnx's gonnx types register too, and the protobuf registry panics at start
// ("proto: message onnx.AttributeProto is already registered"). Package direct, beside this
// one, runs the same models without onnx-go and can.
package purego

//go:generate go run ./internal/fixturegen -out testdata
