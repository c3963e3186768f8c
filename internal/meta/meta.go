// Package meta is the one place for the metadata keys and format names that distill writes into
// its files: the metadata_props of exported ONNX models, the "__metadata__" of checkpoints and
// soft-target files. Every key distill owns starts with "distill."; the values are strings, JSON
// where a key says so.
package meta

// Keys of an exported student's metadata_props, also used in checkpoints where noted.
const (
	// ModelSHA256 holds the sha256 of the whole ONNX file, computed with this value zeroed; it is
	// the first metadata entry, verified on every read.
	ModelSHA256 = "distill.model_sha256"
	// Spec holds the student's spec as JSON; importing an exported student rebuilds it from this.
	Spec = "distill.spec"
	// Classes holds the number of classes (logits per sample) in decimal.
	Classes = "distill.classes"
	// Preprocess holds the student's preprocessing as JSON (checkpoints too).
	Preprocess = "distill.preprocess"
	// Provenance holds how the student was trained as JSON (checkpoints too).
	Provenance = "distill.provenance"
	// TeacherSHA256 is the sha256 of the teacher model, or a comma-separated list for an
	// ensemble of soft-target teachers.
	TeacherSHA256 = "distill.teacher_sha256"
	// Temperature is the softmax temperature T of the distillation loss.
	Temperature = "distill.temperature"
	// Alpha is the weight of the soft loss.
	Alpha = "distill.alpha"
	// Epochs is the number of epochs the student was trained.
	Epochs = "distill.epochs"
	// EvalAccuracy is the accuracy on the evaluation data after the last epoch.
	EvalAccuracy = "distill.eval_accuracy"
	// CheckpointSHA256 is the sha256 of the checkpoint file the model was exported from.
	CheckpointSHA256 = "distill.checkpoint_sha256"
	// Tool is the tool version that wrote the file (Tool's value, ToolVersion).
	Tool = "distill.tool"
	// ClassNames holds the names of the classes as a JSON list, class k being the k-th, when
	// the training data named them (a CSV's label names, an image folder's sub-folders).
	ClassNames = "distill.class_names"
	// BiasShift records the per-class shifts added to an exported student's last bias
	// ("3=+3.5,7=-7.6"), when export was asked to bake some in.
	BiasShift = "distill.bias_shift"
)

// Version is distill's version: `distill --version` prints it, and every file distill writes
// records it (ToolVersion; an exported model's producer_version). Its one source is the VERSION
// file at the repository root: `make build` stamps that file's content here with
//
//	-ldflags "-X github.com/distillgo/distill/internal/meta.Version=$(cat VERSION)"
//
// and a build without the stamp (go build, go run, go test) keeps this value, which
// TestVersionFile holds equal to VERSION.
var Version = "0.1.0"

// ToolVersion names this tool and its version in the files it writes: "distill/" + Version.
var ToolVersion = "distill/" + Version

// Format names, the value of the "format" key of distill's safetensors files.
const (
	// FormatKey is the safetensors metadata key that holds a file's format name.
	FormatKey = "format"
	// CheckpointFormat is a student checkpoint's format.
	CheckpointFormat = "distill.checkpoint/v1"
	// TargetsFormat is a soft-target file's format.
	TargetsFormat = "distill.softtargets/v1"
)
