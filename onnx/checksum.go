package onnx

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/distillgo/distill/internal/meta"
)

// ChecksumKey is the metadata key under which Export (with ExportGraph.Checksum) records a sha256
// of the whole model file: the hex digest of the file's bytes with this entry's value replaced by
// 64 '0' characters. It is the first metadata entry, so a file cut short after it fails the check
// (one cut before it has lost all its metadata). ONNX itself has no checksum, so without it a flipped byte in a weight would
// load silently. ReadModelInfo (and so Open) and ImportGraph verify it when present; a model
// edited after export (other metadata added, weights changed) then fails the check as well.
const ChecksumKey = meta.ModelSHA256

// SpecKey is the metadata key under which distill stores a student's spec (meta.Spec). A
// model that has it was exported by distill with a checksum, so a missing ChecksumKey means the
// entry was damaged: such a model is refused too.
const SpecKey = meta.Spec

// ErrChecksum is returned (wrapped) when a model's ChecksumKey does not match its bytes.
var ErrChecksum = errors.New("model checksum mismatch")

// checksumPlaceholder is the value the digest is computed over.
var checksumPlaceholder = bytes.Repeat([]byte{'0'}, sha256.Size*2)

// checksumEntry returns the protobuf encoding of the metadata entry's key and value fields
// (StringStringEntryProto: field 1 key, field 2 value, both length-delimited), which is how the
// entry appears in the file.
func checksumEntry(value []byte) []byte {
	b := []byte{0x0a, byte(len(ChecksumKey))}
	b = append(b, ChecksumKey...)
	b = append(b, 0x12, byte(len(value)))
	return append(b, value...)
}

// sealChecksum replaces the placeholder value of the ChecksumKey entry in the marshalled model
// data with the digest of data. The entry must occur exactly once.
func sealChecksum(data []byte) error {
	entry := checksumEntry(checksumPlaceholder)
	i := bytes.Index(data, entry)
	if i < 0 || bytes.LastIndex(data, entry) != i {
		return errors.New("checksum entry not found exactly once in the marshalled model")
	}
	sum := sha256.Sum256(data)
	hex.Encode(data[i+len(entry)-len(checksumPlaceholder):], sum[:])
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
	entry := checksumEntry([]byte(value))
	i := bytes.Index(data, entry)
	if i < 0 || bytes.LastIndex(data, entry) != i {
		return fmt.Errorf("%w: the %s entry is not where distill export writes it (file damaged or edited)", ErrChecksum, ChecksumKey)
	}
	buf := bytes.Clone(data)
	copy(buf[i+len(entry)-len(checksumPlaceholder):], checksumPlaceholder)
	sum := sha256.Sum256(buf)
	if got := hex.EncodeToString(sum[:]); got != value {
		return fmt.Errorf("%w: computed %s, %s says %s (file damaged or edited after export)", ErrChecksum, got, ChecksumKey, value)
	}
	return nil
}
