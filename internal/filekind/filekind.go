// Package filekind tells the files distill reads apart by their first bytes: a student
// checkpoint, a soft-target file, another safetensors file, an ONNX model, an empty file. The
// readers of checkpoints, soft targets and ONNX models ask it when a file does not read as what
// they want, so that a file given to the wrong flag is named for what it is ("teacher.onnx is an
// ONNX model, not a checkpoint") instead of failing as corrupt.
package filekind

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/distillgo/distill/internal/meta"
)

// Kind is what a file holds.
type Kind int

// The kinds Of tells apart.
const (
	// Other is anything else: data, text, a damaged file.
	Other Kind = iota
	// Empty is a file of 0 bytes.
	Empty
	// Checkpoint is a student checkpoint (safetensors, format meta.CheckpointFormat).
	Checkpoint
	// SoftTargets is a soft-target file (safetensors, format meta.TargetsFormat).
	SoftTargets
	// Safetensors is a safetensors file of another format, or none.
	Safetensors
	// ONNX is an ONNX model.
	ONNX
)

// String names the kind in a sentence: "an ONNX model".
func (k Kind) String() string {
	switch k {
	case Empty:
		return "an empty file (0 bytes)"
	case Checkpoint:
		return "a student checkpoint"
	case SoftTargets:
		return "a soft-target file"
	case Safetensors:
		return "a safetensors file"
	case ONNX:
		return "an ONNX model"
	}
	return "not a file distill writes"
}

// noun names what a reader wants: "a checkpoint".
func (k Kind) noun() string {
	switch k {
	case Checkpoint:
		return "a checkpoint"
	case SoftTargets:
		return "soft targets"
	case ONNX:
		return "an ONNX model"
	}
	return k.String()
}

// use says where a file of kind got goes on the command line, for a reader that wanted want.
func use(got, want Kind) string {
	switch {
	case got == Checkpoint && want == ONNX:
		return "export it with distill export to use it as an ONNX model"
	case got == Checkpoint:
		return "give it to eval --model or export --model; soft targets come from distill targets"
	case got == ONNX && want == SoftTargets:
		return "give it to --teacher, or make soft targets of it with distill targets"
	case got == ONNX:
		return "give it to --teacher, --init-from or eval --model"
	case got == SoftTargets:
		return "give it to train or sweep --soft-targets"
	}
	return ""
}

// maxSniffHeader bounds the safetensors header Of reads to tell a checkpoint from soft targets:
// distill's headers are a few KiB; a larger one is reported as a safetensors file.
const maxSniffHeader = 1 << 20

// Of returns the kind of the file at path; the error is the file's opening or reading.
func Of(path string) (Kind, error) {
	f, err := os.Open(path)
	if err != nil {
		return Other, err
	}
	defer f.Close()
	var head [9]byte
	n, err := io.ReadFull(f, head[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return Other, err
	}
	b := head[:n]
	if !isSafetensors(b) {
		return OfBytes(b), nil
	}
	size := binary.LittleEndian.Uint64(b)
	if size > maxSniffHeader {
		return Safetensors, nil
	}
	hdr := make([]byte, size)
	copy(hdr, b[8:])
	if _, err := io.ReadFull(f, hdr[1:]); err != nil {
		return Safetensors, nil
	}
	return safetensorsKind(hdr), nil
}

// OfBytes returns the kind of a file whose bytes (or first bytes: a safetensors file's header
// in full tells a checkpoint from soft targets) are data.
func OfBytes(data []byte) Kind {
	switch {
	case len(data) == 0:
		return Empty
	case isSafetensors(data):
		size := binary.LittleEndian.Uint64(data)
		if size > uint64(len(data)-8) {
			return Safetensors
		}
		return safetensorsKind(data[8 : 8+size])
	case data[0] == 0x08:
		// An ONNX ModelProto starts with its ir_version, field 1 as a varint: tag 0x08.
		return ONNX
	}
	return Other
}

// isSafetensors reports whether data starts as a safetensors file: an 8-byte little-endian header
// length of at least 2, then the header's '{'.
func isSafetensors(data []byte) bool {
	return len(data) >= 9 && data[8] == '{' && binary.LittleEndian.Uint64(data) >= 2
}

// safetensorsKind tells a safetensors header's format.
func safetensorsKind(header []byte) Kind {
	var h struct {
		Meta map[string]string `json:"__metadata__"`
	}
	if json.Unmarshal(header, &h) != nil {
		return Safetensors
	}
	switch h.Meta[meta.FormatKey] {
	case meta.CheckpointFormat:
		return Checkpoint
	case meta.TargetsFormat:
		return SoftTargets
	}
	return Safetensors
}

// Mismatch returns an error when the file at path, which a reader wanted as want and could not
// read, is of another kind it can name: "teacher.onnx is an ONNX model, not a checkpoint (give it
// to --teacher, --init-from or eval --model)". It returns nil when the file is of the kind wanted
// (then damaged), empty, of no kind it can name, or cannot be read: the reader's own error stands.
func Mismatch(path string, want Kind) error {
	got, err := Of(path)
	if err != nil {
		return nil
	}
	return mismatch(path, got, want)
}

// MismatchBytes is Mismatch for a file already read into data.
func MismatchBytes(path string, data []byte, want Kind) error {
	return mismatch(path, OfBytes(data), want)
}

func mismatch(path string, got, want Kind) error {
	switch got {
	case want, Other, Empty, Safetensors:
		// Of the kind wanted, or nothing distill writes whole (empty, a damaged header, another
		// tool's safetensors): the reader's own error says best what is wrong.
		return nil
	}
	return fmt.Errorf("%s is %s, not %s (%s)", path, got, want.noun(), use(got, want))
}
