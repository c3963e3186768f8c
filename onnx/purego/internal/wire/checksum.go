package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// Metadata keys distill writes into an exported student (internal/meta holds the same names).
const (
	// ChecksumKey holds the hex sha256 of the whole file computed with this value replaced by
	// 64 '0' characters.
	ChecksumKey = "distill.model_sha256"
	// SpecKey holds the student's spec; a model with it must also have ChecksumKey.
	SpecKey = "distill.spec"
	// PreprocessKey holds the student's preprocessing as JSON.
	PreprocessKey = "distill.preprocess"
)

// ErrChecksum is returned (wrapped) when a model's ChecksumKey does not match its bytes.
var ErrChecksum = errors.New("model checksum mismatch")

// checksumEntry returns the protobuf encoding of a StringStringEntryProto holding ChecksumKey and
// value (field 1 key, field 2 value, both length-delimited and shorter than 128 bytes), as the
// entry appears in the file. This is package onnx's algorithm, restated so that this package
// does not import it.
func checksumEntry(value []byte) []byte {
	b := []byte{0x0a, byte(len(ChecksumKey))}
	b = append(b, ChecksumKey...)
	b = append(b, 0x12, byte(len(value)))
	return append(b, value...)
}

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
	const hexLen = 2 * sha256.Size
	if len(value) != hexLen {
		return fmt.Errorf("%w: %s %q is not a sha256", ErrChecksum, ChecksumKey, value)
	}
	entry := checksumEntry([]byte(value))
	i := bytes.Index(data, entry)
	if i < 0 || bytes.LastIndex(data, entry) != i {
		return fmt.Errorf("%w: the %s entry is not where distill export writes it", ErrChecksum, ChecksumKey)
	}
	buf := bytes.Clone(data)
	copy(buf[i+len(entry)-hexLen:], bytes.Repeat([]byte{'0'}, hexLen))
	sum := sha256.Sum256(buf)
	if got := hex.EncodeToString(sum[:]); got != value {
		return fmt.Errorf("%w: computed %s, %s says %s (file damaged or edited after export)", ErrChecksum, got, ChecksumKey, value)
	}
	return nil
}
