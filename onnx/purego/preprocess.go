package purego

import (
	"github.com/distillgo/distill/onnx/purego/internal/prep"
	"github.com/distillgo/distill/onnx/purego/internal/wire"
)

// Preprocess is the preprocessing distill recorded with a student (metadata distill.preprocess),
// which maps a raw sample to the model's input: y = (x/Scale - Mean[c]) / Std[c] for channel (or
// feature) c, after a transposition of channel-last samples (Layout "nhwc"). It is the JSON form
// of pipeline/dataset.Preprocess, read here without importing that package.
type Preprocess = prep.Preprocess

// parsePreprocess reads the distill.preprocess JSON value raw.
func parsePreprocess(raw string) (*Preprocess, error) { return prep.Parse(raw) }

// PreprocessKey is the metadata key under which distill records a student's preprocessing.
const PreprocessKey = wire.PreprocessKey

// ErrChecksum is returned (wrapped) when a model's checksum (metadata distill.model_sha256)
// does not match its bytes, or a distill student lacks it.
var ErrChecksum = wire.ErrChecksum
