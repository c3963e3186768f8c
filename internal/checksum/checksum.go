// Package checksum is the sha256 that distill export records in a model file (metadata
// meta.ModelSHA256): the hex digest of the file's bytes with the entry's value replaced by
// [Placeholder]. Package onnx seals and verifies it, and the pure-Go runtimes under onnx/purego
// verify it, from this one statement of the algorithm; it imports only the standard library and
// internal/meta, so onnx/purego links neither onnxruntime nor a protobuf registry through it.
package checksum

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/distillgo/distill/internal/meta"
)

// Key is the metadata key of the checksum.
const Key = meta.ModelSHA256

// HexLen is the length of the checksum's value: a hex sha256.
const HexLen = 2 * sha256.Size

// Placeholder is the value the digest is computed over: HexLen '0' characters.
var Placeholder = strings.Repeat("0", HexLen)

// entry returns the protobuf encoding of a StringStringEntryProto holding Key and value (field 1
// key, field 2 value, both length-delimited and shorter than 128 bytes), as the entry appears in
// the file.
func entry(value string) []byte {
	b := []byte{0x0a, byte(len(Key))}
	b = append(b, Key...)
	b = append(b, 0x12, byte(len(value)))
	return append(b, value...)
}

// locate returns the offset in data of the value of the Key entry holding value, or false when
// that entry does not occur exactly once.
func locate(data []byte, value string) (int, bool) {
	e := entry(value)
	i := bytes.Index(data, e)
	if i < 0 || bytes.LastIndex(data, e) != i {
		return 0, false
	}
	return i + len(e) - len(value), true
}

// Seal replaces the Placeholder value of the Key entry in the marshalled model data with the
// digest of data. It reports false, leaving data as it was, when the entry does not occur exactly
// once.
func Seal(data []byte) bool {
	at, ok := locate(data, Placeholder)
	if !ok {
		return false
	}
	sum := sha256.Sum256(data)
	hex.Encode(data[at:], sum[:])
	return true
}

// Compute returns the hex digest of data, a model whose Key entry holds value (HexLen
// characters), computed with that value replaced by Placeholder. It reports false when value is
// not HexLen long or the entry does not occur exactly once. data is not modified.
func Compute(data []byte, value string) (string, bool) {
	if len(value) != HexLen {
		return "", false
	}
	at, ok := locate(data, value)
	if !ok {
		return "", false
	}
	buf := bytes.Clone(data)
	copy(buf[at:], Placeholder)
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:]), true
}
