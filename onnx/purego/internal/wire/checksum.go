package wire

import (
	"errors"
	"fmt"

	"github.com/distillgo/distill/internal/checksum"
)

// Metadata keys distill writes into an exported student (internal/meta holds the same names).
const (
	// ChecksumKey holds the hex sha256 of the whole file computed with this value replaced by
	// 64 '0' characters (internal/checksum, the algorithm package onnx seals it with).
	ChecksumKey = checksum.Key
	// SpecKey holds the student's spec; a model with it must also have ChecksumKey.
	SpecKey = "distill.spec"
	// PreprocessKey holds the student's preprocessing as JSON.
	PreprocessKey = "distill.preprocess"
)

// ErrChecksum is returned (wrapped) when a model's ChecksumKey does not match its bytes.
var ErrChecksum = errors.New("model checksum mismatch")

// CheckChecksum verifies the ChecksumKey entry of the model data whose metadata is md, when it
// has one, and requires one when md has SpecKey (a distill student always has it).
func CheckChecksum(data []byte, md map[string]string) error {
	value, ok := md[ChecksumKey]
	if !ok {
		if _, student := md[SpecKey]; student {
			return fmt.Errorf("%w: a distill student (metadata %s) without its %s entry", ErrChecksum, SpecKey, ChecksumKey)
		}
		return nil
	}
	if len(value) != checksum.HexLen {
		return fmt.Errorf("%w: %s %q is not a sha256", ErrChecksum, ChecksumKey, value)
	}
	got, ok := checksum.Compute(data, value)
	if !ok {
		return fmt.Errorf("%w: the %s entry is not where distill export writes it", ErrChecksum, ChecksumKey)
	}
	if got != value {
		return fmt.Errorf("%w: computed %s, %s says %s (file damaged or edited after export)", ErrChecksum, got, ChecksumKey, value)
	}
	return nil
}
