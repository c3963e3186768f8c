package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// ChecksumKey is the metadata key under which [Writer.Commit] stores the hex sha256 of
// the data section, and which [Open] verifies when present.
const ChecksumKey = "data_sha256"

// HeaderChecksumKey is the metadata key under which [Writer.Commit] stores the hex sha256
// of the JSON header (padding included) as it reads with this key's own value replaced by
// 64 '0' characters. [Open] verifies it when present, so a flipped byte anywhere in the
// header, metadata strings included, is refused.
const HeaderChecksumKey = "header_sha256"

// zeroSum is the placeholder for a checksum not yet known: 64 '0' characters.
var zeroSum = strings.Repeat("0", 64)

// MaxHeaderSize bounds the JSON header (100 MB, the limit of the reference implementation),
// so that a corrupt length field cannot make a reader allocate without bound.
const MaxHeaderSize = 100 << 20

// ErrCorrupt is wrapped by every error that reports a malformed or damaged file, so that
// callers can tell bad input from I/O failures with errors.Is.
var ErrCorrupt = errors.New("corrupt safetensors file")

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	// Name is the tensor's key in the header; it may not be "__metadata__" or empty.
	Name string
	// DType is the element type: "F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8",
	// "U64", "U32", "U16", "U8" or "BOOL".
	DType string
	// Shape is the tensor's shape; an empty shape is a scalar with one element.
	Shape []int
	// Begin and End are the byte offsets of the tensor's data relative to the start of the
	// data section (filled by [Create]).
	Begin, End int64
}

// Elems is the number of elements, the product of Shape.
func (t TensorInfo) Elems() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

// dtypeSizes maps each supported dtype to its element size in bytes.
var dtypeSizes = map[string]int64{
	"F64": 8, "F32": 4, "F16": 2, "BF16": 2,
	"I64": 8, "I32": 4, "I16": 2, "I8": 1,
	"U64": 8, "U32": 4, "U16": 2, "U8": 1,
	"BOOL": 1,
}

// DTypeSize returns the size in bytes of one element of dtype, or 0 if the dtype is not
// supported.
func DTypeSize(dtype string) int {
	return int(dtypeSizes[dtype])
}

// byteSize returns the number of data bytes of a tensor with this dtype and shape,
// checking for negative dimensions, unknown dtypes and overflow.
func byteSize(dtype string, shape []int) (int64, error) {
	size, ok := dtypeSizes[dtype]
	if !ok {
		return 0, fmt.Errorf("unsupported dtype %q", dtype)
	}
	n := size
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d != 0 && n > math.MaxInt64/int64(d) {
			return 0, fmt.Errorf("shape %v overflows", shape)
		}
		n *= int64(d)
	}
	return n, nil
}

// encodeHeader returns the JSON header for tensors (offsets already set) and meta,
// padded with spaces so that 8+len is a multiple of 8.
func encodeHeader(tensors []TensorInfo, meta map[string]string) ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	if len(meta) > 0 {
		keys := make([]string, 0, len(meta))
		for k := range meta {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(`"__metadata__":{`)
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, k)
			b.WriteByte(':')
			writeJSONString(&b, meta[k])
		}
		b.WriteByte('}')
		first = false
	}
	for _, t := range tensors {
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeJSONString(&b, t.Name)
		b.WriteString(`:{"dtype":`)
		writeJSONString(&b, t.DType)
		b.WriteString(`,"shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%d", d)
		}
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, t.Begin, t.End)
	}
	b.WriteByte('}')
	for (8+b.Len())%8 != 0 {
		b.WriteByte(' ')
	}
	if b.Len() > MaxHeaderSize {
		return nil, fmt.Errorf("header of %d bytes exceeds %d", b.Len(), MaxHeaderSize)
	}
	return []byte(b.String()), nil
}

func writeJSONString(b *strings.Builder, s string) {
	// json.Marshal of a string cannot fail; invalid UTF-8 is replaced, deterministically.
	enc, _ := json.Marshal(s)
	b.Write(enc)
}

// headerPrefix returns the 8-byte little-endian length of header.
func headerPrefix(header []byte) []byte {
	var p [8]byte
	binary.LittleEndian.PutUint64(p[:], uint64(len(header)))
	return p[:]
}
