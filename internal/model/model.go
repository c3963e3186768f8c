// Package model defines what the pipeline needs of a model runtime: a [Teacher] that turns
// preprocessed samples into logits, and a [Runtime] that opens model files as teachers. A
// [MultiInput] model is also fed by named inputs of other element types, as they are, without
// preprocessing (a text classifier's token ids and attention mask). A [FeatureModel] also returns
// tensors from inside the model beside the logits, for feature distillation.
//
// The pipeline never loads a runtime itself. The command line decides how models are run (today
// onnxruntime on the CPU or a CUDA device, through package onnx) and hands the pipeline a Runtime;
// a second runtime (a pure-Go one) implements the same two interfaces. Every implementation passes
// the conformance suite in internal/teachertest. It sits below both the pipeline and package onnx, so
// that a runtime implements it directly.
package model

import "context"

// Teacher is what training, evaluation and soft-target generation need from a model.
type Teacher interface {
	// Logits returns n*Classes() logits, row-major [n, classes], for n preprocessed samples x.
	// A teacher whose model outputs probabilities returns log-probabilities, which are logits
	// up to a per-row constant and so give the same softmax at any temperature.
	Logits(ctx context.Context, x []float32, n int) ([]float32, error)
	// Classes is the number of classes the teacher predicts.
	Classes() int
	// Close releases the teacher's resources; it is safe to call once.
	Close() error
}

// Model is a Teacher opened from a file by a Runtime, which can also say what it is.
type Model interface {
	Teacher
	// Describe returns the model's description. OutputKind is final only after the first
	// Logits call when the model was opened with Output "auto".
	Describe() Description
}

// Input holds the values of one model input for n samples, for MultiInput.LogitsInputs.
type Input struct {
	// Name is the model's name of the input.
	Name string
	// SampleShape is the shape of one sample, without the batch axis, e.g. [128] for 128
	// tokens. It must agree with the model's fixed axes; a dynamic axis takes the size given.
	// Nil stands for the model's own per-sample shape when that has no dynamic axis.
	SampleShape []int
	// Values are the n samples' values, row-major [n, SampleShape...], as a []float32,
	// []float64, []uint16 (the bits of IEEE 754 half-precision floats, for a float16 input),
	// []int64, []int32, []int8, []uint8 or []bool: the slice type of the input's element type
	// (InputInfo.DType). A runtime may also take a []float32 for a float16 or float64 input and
	// convert it; package onnx does.
	Values any
}

// InputInfo describes one input of a model, as a MultiInput feeds it.
type InputInfo struct {
	// Name is the model's name of the input.
	Name string
	// DType is the input's element type: "float32", "float16", "float64", "int64", "int32",
	// "int8", "uint8" or "bool".
	DType string
	// SampleShape is the per-sample shape from the model (the input's shape without its batch
	// axis), -1 for a dynamic axis; nil when the model does not say the input's shape.
	SampleShape []int
}

// MultiInput is a Model fed by named inputs of any supported element type: a text classifier's
// input_ids and attention_mask (int64 [N, L]), a float16 or float64 input, several inputs.
// Its Logits feeds only a model with one float input (float32, float16 or float64), and fails for other models.
type MultiInput interface {
	Model
	// Inputs describes the model's inputs, in the model's order.
	Inputs() []InputInfo
	// LogitsInputs returns n*Classes() logits, row-major [n, classes], for n samples given as
	// every one of the model's inputs, each exactly once by name, as Logits does for one
	// float32 input (probabilities are returned as log-probabilities). For a model with one
	// float32 input it returns exactly what Logits returns.
	LogitsInputs(ctx context.Context, in []Input, n int) ([]float32, error)
}

// FeatureModel is a Model opened with Options.Features: beside the logits it fetches tensors from
// inside the model (the outputs of nodes of its graph, such as a block's feature map), which
// feature distillation ("hints", Romero et al. 2015) compares with the student's own.
type FeatureModel interface {
	Model
	// FeatureShapes returns the per-sample shape of each feature, in the order of
	// Options.Features (the shape of one sample's values, without the batch axis), e.g.
	// [64 14 14] for a feature map or [128] for a vector.
	FeatureShapes() [][]int
	// LogitsFeatures returns what Logits returns for the n samples x and, for each feature in
	// the order of Options.Features, its n samples' values as float32, row-major
	// [n, FeatureShapes()[i]...], from the same runs of the model.
	LogitsFeatures(ctx context.Context, x []float32, n int) (logits []float32, feats [][]float32, err error)
}

// Description is what a soft-target file and the logs record about a model.
type Description struct {
	// Path is the model file as opened; SHA256 the hex sha256 of its bytes.
	Path, SHA256 string
	// Input and Output name the input the runtime feeds (the first of several) and the output
	// it reads the class scores from (Options.OutputName, or the one output that can hold them).
	Input, Output string
	// SampleShape is the per-sample input shape the model takes, e.g. [784] or [1 28 28]. For a
	// model that is not fed through Logits (several inputs, or one that is not float32), it is
	// the first input's, -1 for a dynamic axis; MultiInput.Inputs describes them all.
	SampleShape []int
	// OutputKind is what the model outputs: "logits", "probs" or "logprobs" ("auto" while
	// undetected).
	OutputKind string
	// Device is where the model runs, e.g. "cpu" or "cuda:0".
	Device string
	// ClassLabels are the model's own names of its classes, in the order of the columns of
	// Logits, when the model says them: the keys of a scikit-learn ZipMap output
	// (seq(map(int64|string, float))), sorted numerically for int64 keys (written in decimal) and
	// lexically for string keys. Nil when the model does not name its classes (a tensor output).
	ClassLabels []string
	// Features names the tensors fetched beside the scores (Options.Features), nil when none.
	Features []string
}

// Output kinds a model may be opened with (Options.Output).
const (
	OutputAuto     = "auto"     // detect on the first batch: rows of probabilities, else logits
	OutputLogits   = "logits"   // the model outputs logits
	OutputProbs    = "probs"    // the model outputs probabilities (returned as log p)
	OutputLogProbs = "logprobs" // the model outputs log-probabilities
)

// Options says how to open one model. The device, threads and library are the Runtime's own
// settings, chosen once by the command line.
type Options struct {
	// Batch is the largest number of samples one Logits call runs at once (0: the runtime's
	// default); larger calls are split.
	Batch int
	// InputShape overrides the per-sample input shape of a model whose input has dynamic axes
	// besides the batch (nil: the model's). It is for a model with one float input (float32, float16 or float64), fed by
	// Logits; the inputs given to MultiInput.LogitsInputs say their own shapes.
	InputShape []int
	// Output is what the model outputs, one of the Output* constants ("" means OutputAuto).
	Output string
	// OutputName names the model output that holds the class scores ("": the only output that
	// can, a float tensor [N, classes] or a ZipMap; a model with several such outputs needs it).
	OutputName string
	// NoSpin asks that the runtime's idle threads do not spin: the model shares the cores with
	// training (the online teacher).
	NoSpin bool
	// Features names tensors inside the model, outputs of nodes of its graph, to fetch beside the
	// class scores; the model opened is then a FeatureModel (nil, the default: none). They are
	// for a model with one float input (float32, float16 or float64), fed by Logits, and each must be a float tensor whose
	// first axis is the batch. A runtime that cannot fetch them refuses them when it opens the
	// model, rather than ignoring them.
	Features []string
	// Name is what logs and errors call the model; "" (the default) is its path (an export
	// verified in its temporary file is named by the file it will become).
	Name string
}

// Runtime opens model files as teachers.
type Runtime interface {
	// Open opens the model at path. Errors name the file.
	Open(path string, opts Options) (Model, error)
}
