package onnx

import (
	"errors"
	"fmt"

	"github.com/distillgo/distill/internal/checksum"
	"github.com/distillgo/distill/internal/meta"
)

// ChecksumKey is the metadata key under which Export (with ExportGraph.Checksum) records a sha256
// of the whole model file: the hex digest of the file's bytes with this entry's value replaced by
// 64 '0' characters. It is the first metadata entry, so a file cut short after it fails the check
// (one cut before it has lost all its metadata). ONNX itself has no checksum, so without it a flipped byte in a weight would
// load silently. ReadModelInfo (and so Open) and ImportGraph verify it when present; a model
// edited after export (other metadata added, weights changed) then fails the check as well.
const ChecksumKey = checksum.Key

// SpecKey is the metadata key under which distill stores a student's spec (meta.Spec). A
// model that has it was exported by distill with a checksum, so a missing ChecksumKey means the
// entry was damaged: such a model is refused too.
const SpecKey = meta.Spec

// ErrChecksum is returned (wrapped) when a model's ChecksumKey does not match its bytes.
var ErrChecksum = errors.New("model checksum mismatch")

// checksumPlaceholder is the value the digest is computed over.
var checksumPlaceholder = []byte(checksum.Placeholder)

// sealChecksum replaces the placeholder value of the ChecksumKey entry in the marshalled model
// data with the digest of data. The entry must occur exactly once.
func sealChecksum(data []byte) error {
	if !checksum.Seal(data) {
		return errors.New("checksum entry not found exactly once in the marshalled model")
	}
	return nil
}

// checkModelChecksum verifies the ChecksumKey of the model data whose metadata_props are meta,
// when it has one, and requires one when meta has SpecKey.
func checkModelChecksum(data []byte, meta map[string]string) error {
	sum, ok := meta[ChecksumKey]
	if !ok {
		if _, student := meta[SpecKey]; student {
			return fmt.Errorf("%w: a distill student (metadata %s) without its %s entry (file damaged or edited)", ErrChecksum, SpecKey, ChecksumKey)
		}
		return nil
	}
	return verifyChecksum(data, sum)
}

// verifyChecksum checks the data of a model whose metadata holds value under ChecksumKey.
func verifyChecksum(data []byte, value string) error {
	if len(value) != len(checksumPlaceholder) {
		return fmt.Errorf("%w: %s %q is not a sha256", ErrChecksum, ChecksumKey, value)
	}
	got, ok := checksum.Compute(data, value)
	if !ok {
		return fmt.Errorf("%w: the %s entry is not where distill export writes it (file damaged or edited)", ErrChecksum, ChecksumKey)
	}
	if got != value {
		return fmt.Errorf("%w: computed %s, %s says %s (file damaged or edited after export)", ErrChecksum, got, ChecksumKey, value)
	}
	return nil
}
