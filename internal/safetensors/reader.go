package safetensors

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/x448/float16"
)

// File is an open, validated safetensors file. Tensor data is read from disk on demand.
type File struct {
	// Path is the file's path as given to Open.
	Path string
	// Meta is the header's "__metadata__" map (empty, not nil, when absent).
	Meta map[string]string
	// Tensors lists the tensors sorted by data offset.
	Tensors []TensorInfo

	r         io.ReaderAt
	closer    io.Closer // nil for OpenReader
	closed    bool
	dataStart int64
	index     map[string]int
}

// corrupt returns an error naming the file that wraps ErrCorrupt.
func corrupt(path, format string, args ...any) error {
	return fmt.Errorf("read safetensors %s: %w: %s", path, ErrCorrupt, fmt.Sprintf(format, args...))
}

// Open opens and validates path: the header length against the file size, the header
// JSON (an object, no duplicate keys, no unknown fields), every dtype, shape and offset
// pair, that the tensors cover the data section exactly, and the "header_sha256" and
// "data_sha256" checksums when present (reading the whole data section once).
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read safetensors %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read safetensors %s: %w", path, err)
	}
	sf, err := OpenReader(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	sf.closer = f
	return sf, nil
}

// OpenReader validates a safetensors file of size bytes read from f (e.g. a
// *bytes.Reader), as Open does; name is used in errors. Close does not close f.
func OpenReader(f io.ReaderAt, size int64, name string) (*File, error) {
	path := name
	if size < 8 {
		return nil, corrupt(path, "file of %d bytes is shorter than the 8-byte header length", size)
	}
	var prefix [8]byte
	if _, err := f.ReadAt(prefix[:], 0); err != nil {
		return nil, fmt.Errorf("read safetensors %s: %w", path, err)
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n > MaxHeaderSize {
		return nil, corrupt(path, "header length %d exceeds the limit of %d bytes", n, MaxHeaderSize)
	}
	if int64(n) > size-8 {
		return nil, corrupt(path, "header length %d exceeds the %d bytes after the length field (file cut short?)", n, size-8)
	}
	header := make([]byte, n)
	if _, err := f.ReadAt(header, 8); err != nil {
		return nil, fmt.Errorf("read safetensors %s: %w", path, err)
	}
	meta, tensors, err := parseHeader(header)
	if err != nil {
		return nil, corrupt(path, "header: %v", err)
	}
	sf := &File{Path: path, Meta: meta, Tensors: tensors, r: f, dataStart: 8 + int64(n), index: make(map[string]int, len(tensors))}
	dataLen := size - sf.dataStart
	var pos int64
	for i, t := range tensors {
		if t.Begin != pos {
			if t.Begin < pos {
				return nil, corrupt(path, "tensor %q: data_offsets [%d,%d] overlap the previous tensor (ends at %d)", t.Name, t.Begin, t.End, pos)
			}
			return nil, corrupt(path, "tensor %q: data_offsets [%d,%d] leave a gap after byte %d", t.Name, t.Begin, t.End, pos)
		}
		if t.End > dataLen {
			return nil, corrupt(path, "tensor %q: data_offsets [%d,%d] run past the %d-byte data section (file cut short?)", t.Name, t.Begin, t.End, dataLen)
		}
		pos = t.End
		sf.index[t.Name] = i
	}
	if pos != dataLen {
		return nil, corrupt(path, "tensors cover %d bytes of a %d-byte data section", pos, dataLen)
	}
	_, hasData := meta[ChecksumKey]
	_, hasHeader := meta[HeaderChecksumKey]
	if hasData != hasHeader {
		// This package writes both; a file with one has had a key name damaged.
		return nil, corrupt(path, "metadata has one of %q and %q but not both (header damaged)", ChecksumKey, HeaderChecksumKey)
	}
	if want, ok := meta[HeaderChecksumKey]; ok {
		// The checksum covers the header as written, with its own value zeroed.
		field := []byte(`"` + HeaderChecksumKey + `":"` + want + `"`)
		if len(want) != len(zeroSum) || bytes.Count(header, field) != 1 {
			return nil, corrupt(path, "%s=%q is malformed or not found verbatim in the header", HeaderChecksumKey, want)
		}
		h := sha256.Sum256(bytes.Replace(header, field, []byte(`"`+HeaderChecksumKey+`":"`+zeroSum+`"`), 1))
		if got := hex.EncodeToString(h[:]); got != want {
			return nil, corrupt(path, "header sha256 %s does not match %s=%q (header damaged)", got, HeaderChecksumKey, want)
		}
	}
	if want, ok := meta[ChecksumKey]; ok {
		h := sha256.New()
		if _, err := io.CopyBuffer(h, io.NewSectionReader(f, sf.dataStart, dataLen), make([]byte, 1<<20)); err != nil {
			return nil, fmt.Errorf("read safetensors %s: %w", path, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			return nil, corrupt(path, "data sha256 %s does not match %s=%q in the header (data damaged)", got, ChecksumKey, want)
		}
	}
	return sf, nil
}

// rawTensor mirrors one tensor entry of the JSON header.
type rawTensor struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int   `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// parseHeader decodes the JSON header, returning tensors sorted by Begin.
func parseHeader(header []byte) (map[string]string, []TensorInfo, error) {
	trimmed := bytes.TrimRight(header, " ")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, nil, fmt.Errorf("does not start with '{'")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("not a JSON object")
	}
	meta := map[string]string{}
	var tensors []TensorInfo
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("invalid JSON: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("invalid JSON: key %v", tok)
		}
		if seen[key] {
			return nil, nil, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		if key == "__metadata__" {
			var m map[string]string
			if err := dec.Decode(&m); err != nil {
				return nil, nil, fmt.Errorf("__metadata__ is not a map of strings: %v", err)
			}
			for k, v := range m {
				meta[k] = v
			}
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("invalid JSON: %v", err)
		}
		t, err := parseTensor(key, raw)
		if err != nil {
			return nil, nil, err
		}
		tensors = append(tensors, t)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, fmt.Errorf("trailing bytes after the JSON object")
	}
	sort.SliceStable(tensors, func(a, b int) bool {
		if tensors[a].Begin != tensors[b].Begin {
			return tensors[a].Begin < tensors[b].Begin
		}
		return tensors[a].End < tensors[b].End
	})
	return meta, tensors, nil
}

func parseTensor(name string, raw json.RawMessage) (TensorInfo, error) {
	var rt rawTensor
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rt); err != nil {
		return TensorInfo{}, fmt.Errorf("tensor %q: %v", name, err)
	}
	if rt.DType == nil || rt.Shape == nil || rt.DataOffsets == nil {
		return TensorInfo{}, fmt.Errorf("tensor %q: needs dtype, shape and data_offsets", name)
	}
	if name == "" {
		return TensorInfo{}, fmt.Errorf("empty tensor name")
	}
	offs := *rt.DataOffsets
	if len(offs) != 2 {
		return TensorInfo{}, fmt.Errorf("tensor %q: data_offsets has %d entries, want 2", name, len(offs))
	}
	t := TensorInfo{Name: name, DType: *rt.DType, Shape: *rt.Shape, Begin: offs[0], End: offs[1]}
	if t.Shape == nil {
		t.Shape = []int{}
	}
	if t.Begin < 0 || t.End < t.Begin {
		return TensorInfo{}, fmt.Errorf("tensor %q: invalid data_offsets [%d,%d]", name, t.Begin, t.End)
	}
	n, err := byteSize(t.DType, t.Shape)
	if err != nil {
		return TensorInfo{}, fmt.Errorf("tensor %q: %v", name, err)
	}
	if n != t.End-t.Begin {
		return TensorInfo{}, fmt.Errorf("tensor %q: %s%v needs %d bytes, data_offsets [%d,%d] give %d", name, t.DType, t.Shape, n, t.Begin, t.End, t.End-t.Begin)
	}
	return t, nil
}

// Close closes the underlying file.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	if f.closer == nil {
		return nil
	}
	if err := f.closer.Close(); err != nil {
		return fmt.Errorf("close safetensors %s: %w", f.Path, err)
	}
	return nil
}

// Tensor returns the description of tensor name.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// ReadAt reads len(dst) bytes of tensor name starting at element elemOffset into dst;
// len(dst) must be a whole number of elements. It streams parts of large tensors.
func (f *File) ReadAt(name string, elemOffset int64, dst []byte) error {
	t, ok := f.Tensor(name)
	if !ok {
		return fmt.Errorf("read safetensors %s: no tensor %q", f.Path, name)
	}
	if f.closed {
		return fmt.Errorf("read safetensors %s: file closed", f.Path)
	}
	size := dtypeSizes[t.DType]
	begin := t.Begin + elemOffset*size
	if elemOffset < 0 || int64(len(dst))%size != 0 || begin+int64(len(dst)) > t.End {
		return fmt.Errorf("read safetensors %s: tensor %q: %d bytes at element %d out of range for %s%v", f.Path, name, len(dst), elemOffset, t.DType, t.Shape)
	}
	if len(dst) == 0 {
		return nil // some readers (bytes.Reader) give io.EOF for an empty read at the end
	}
	if _, err := f.r.ReadAt(dst, f.dataStart+begin); err != nil {
		return fmt.Errorf("read safetensors %s: tensor %q: %w", f.Path, name, err)
	}
	return nil
}

// Raw returns the raw little-endian bytes of tensor name, of any dtype.
func (f *File) Raw(name string) ([]byte, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("read safetensors %s: no tensor %q", f.Path, name)
	}
	buf := make([]byte, t.End-t.Begin)
	if err := f.ReadAt(name, 0, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// Float32 returns tensor name as float32 values, converting from F16, BF16 and F64.
func (f *File) Float32(name string) ([]float32, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("read safetensors %s: no tensor %q", f.Path, name)
	}
	raw, err := f.Raw(name)
	if err != nil {
		return nil, err
	}
	out := make([]float32, t.Elems())
	if err := DecodeFloat32(out, raw, t.DType); err != nil {
		return nil, fmt.Errorf("read safetensors %s: tensor %q: %w", f.Path, name, err)
	}
	return out, nil
}

// DecodeFloat32 converts raw little-endian elements of dtype (F32, F16, BF16 or F64)
// into dst, which must have exactly one slot per element.
func DecodeFloat32(dst []float32, raw []byte, dtype string) error {
	size := DTypeSize(dtype)
	switch dtype {
	case "F32", "F16", "BF16", "F64":
	default:
		return fmt.Errorf("dtype %s is not a float type", dtype)
	}
	if len(raw) != len(dst)*size {
		return fmt.Errorf("%d bytes of %s for %d values", len(raw), dtype, len(dst))
	}
	switch dtype {
	case "F32":
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case "F16":
		for i := range dst {
			dst[i] = float16.Frombits(binary.LittleEndian.Uint16(raw[2*i:])).Float32()
		}
	case "BF16":
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
		}
	case "F64":
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		}
	}
	return nil
}

// EncodeFloat32 returns v as raw little-endian bytes of dtype F32, or F16 (rounded to
// nearest even) when dtype is "F16".
func EncodeFloat32(v []float32, dtype string) ([]byte, error) {
	switch dtype {
	case "F32":
		out := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
		}
		return out, nil
	case "F16":
		out := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(out[2*i:], float16.Fromfloat32(x).Bits())
		}
		return out, nil
	}
	return nil, fmt.Errorf("encode float32 as %s: unsupported dtype", dtype)
}
