package safetensors

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sort"

	"github.com/distillgo/distill/internal/atomicfile"
)

// Writer streams one safetensors file to a temporary file (an [atomicfile.File]) and renames it
// into place on [Writer.Commit]. It is not safe for concurrent use.
type Writer struct {
	path    string
	f       *atomicfile.File
	tensors []TensorInfo
	index   map[string]int
	meta    map[string]string
	hdrLen  int64 // 8 + len(header): where the data section starts
	dataLen int64

	written []span // byte ranges of the data section written so far, sorted, merged
	// The data section is hashed on the fly while writes arrive in order; hashed is the
	// number of leading bytes hashed so far. Commit reads back whatever is left.
	hasher hash.Hash
	hashed int64
	done   bool
}

type span struct{ begin, end int64 }

// Create starts writing a file at path holding tensors, laid out in the order given.
// It fills each tensor's Begin and End (the caller's slice is updated too), writes the
// header with room for the checksum, and sizes the temporary file so that
// [Writer.WriteAt] can fill the data in any order. meta may be nil; "data_sha256" and
// "header_sha256" entries in it are replaced at Commit.
func Create(path string, tensors []TensorInfo, meta map[string]string) (*Writer, error) {
	w := &Writer{path: path, index: make(map[string]int, len(tensors)), meta: make(map[string]string, len(meta)+1), hasher: sha256.New()}
	for k, v := range meta {
		w.meta[k] = v
	}
	w.meta[ChecksumKey] = zeroSum
	w.meta[HeaderChecksumKey] = zeroSum
	var off int64
	for i := range tensors {
		t := &tensors[i]
		if t.Name == "" || t.Name == "__metadata__" {
			return nil, fmt.Errorf("write safetensors %s: invalid tensor name %q", path, t.Name)
		}
		if _, dup := w.index[t.Name]; dup {
			return nil, fmt.Errorf("write safetensors %s: duplicate tensor %q", path, t.Name)
		}
		n, err := byteSize(t.DType, t.Shape)
		if err != nil {
			return nil, fmt.Errorf("write safetensors %s: tensor %q: %w", path, t.Name, err)
		}
		t.Begin, t.End = off, off+n
		off += n
		w.index[t.Name] = i
	}
	w.tensors = append([]TensorInfo(nil), tensors...)
	for i := range w.tensors {
		w.tensors[i].Shape = append([]int(nil), tensors[i].Shape...)
	}
	w.dataLen = off
	header, err := encodeHeader(w.tensors, w.meta)
	if err != nil {
		return nil, fmt.Errorf("write safetensors %s: %w", path, err)
	}
	w.hdrLen = 8 + int64(len(header))

	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("write safetensors %s: %w", path, err)
	}
	w.f = f
	if _, err := f.Write(append(headerPrefix(header), header...)); err != nil {
		w.Abort()
		return nil, fmt.Errorf("write safetensors %s: %w", path, err)
	}
	if err := preallocate(f.File, w.hdrLen+w.dataLen); err != nil {
		w.Abort()
		return nil, fmt.Errorf("write safetensors %s: reserve %d bytes: %w", path, w.hdrLen+w.dataLen, err)
	}
	if err := f.Truncate(w.hdrLen + w.dataLen); err != nil {
		w.Abort()
		return nil, fmt.Errorf("write safetensors %s: %w", path, err)
	}
	return w, nil
}

// Tensors returns the layout chosen by Create, Begin and End filled.
func (w *Writer) Tensors() []TensorInfo { return w.tensors }

// WriteAt writes data, raw little-endian elements of the tensor's dtype, into tensor
// name starting at element elemOffset. len(data) must be a whole number of elements
// that fits in the tensor.
func (w *Writer) WriteAt(name string, elemOffset int64, data []byte) error {
	if w.done {
		return fmt.Errorf("write safetensors %s: write after commit or abort", w.path)
	}
	i, ok := w.index[name]
	if !ok {
		return fmt.Errorf("write safetensors %s: no tensor %q", w.path, name)
	}
	t := w.tensors[i]
	size := dtypeSizes[t.DType]
	if int64(len(data))%size != 0 {
		return fmt.Errorf("write safetensors %s: tensor %q: %d bytes is not a whole number of %s elements", w.path, name, len(data), t.DType)
	}
	begin := t.Begin + elemOffset*size
	end := begin + int64(len(data))
	if elemOffset < 0 || end > t.End {
		return fmt.Errorf("write safetensors %s: tensor %q: elements [%d,%d) out of range [0,%d)", w.path, name, elemOffset, elemOffset+int64(len(data))/size, t.Elems())
	}
	if _, err := w.f.WriteAt(data, w.hdrLen+begin); err != nil {
		return fmt.Errorf("write safetensors %s: %w", w.path, err)
	}
	switch {
	case begin == w.hashed:
		w.hasher.Write(data)
		w.hashed = end
	case begin < w.hashed:
		// Bytes already hashed were overwritten: hash everything again at Commit.
		w.hasher.Reset()
		w.hashed = 0
	}
	w.addSpan(begin, end)
	return nil
}

// addSpan records [begin,end) as written, keeping w.written sorted and merged.
func (w *Writer) addSpan(begin, end int64) {
	if begin == end {
		return
	}
	n := len(w.written)
	if n == 0 || w.written[n-1].end < begin {
		w.written = append(w.written, span{begin, end})
		return
	}
	if w.written[n-1].begin <= begin {
		// The common streaming case: extends or falls inside the last span.
		if end > w.written[n-1].end {
			w.written[n-1].end = end
		}
		return
	}
	w.written = append(w.written, span{begin, end})
	sort.Slice(w.written, func(a, b int) bool { return w.written[a].begin < w.written[b].begin })
	merged := w.written[:1]
	for _, s := range w.written[1:] {
		last := &merged[len(merged)-1]
		if s.begin <= last.end {
			if s.end > last.end {
				last.end = s.end
			}
			continue
		}
		merged = append(merged, s)
	}
	w.written = merged
}

// unwritten returns a description of the first gap in the data section, or "".
func (w *Writer) unwritten() string {
	var pos int64
	for _, s := range w.written {
		if s.begin > pos {
			return w.describeGap(pos)
		}
		pos = s.end
	}
	if pos < w.dataLen {
		return w.describeGap(pos)
	}
	return ""
}

func (w *Writer) describeGap(pos int64) string {
	for _, t := range w.tensors {
		if pos >= t.Begin && pos < t.End {
			return fmt.Sprintf("tensor %q: element %d never written", t.Name, (pos-t.Begin)/dtypeSizes[t.DType])
		}
	}
	return fmt.Sprintf("byte %d never written", pos)
}

// Commit checks that every byte of data was written, stores the checksum in the header, and
// commits the temporary file: fsync, rename onto the final path, fsync of the directory (see
// [atomicfile.File.Commit]). After an error the temporary file is removed.
func (w *Writer) Commit() (err error) {
	if w.done {
		return fmt.Errorf("write safetensors %s: commit after commit or abort", w.path)
	}
	defer func() {
		if err != nil {
			w.Abort()
		}
	}()
	if gap := w.unwritten(); gap != "" {
		return fmt.Errorf("write safetensors %s: %s", w.path, gap)
	}
	if w.hashed < w.dataLen {
		r := io.NewSectionReader(w.f, w.hdrLen+w.hashed, w.dataLen-w.hashed)
		if _, err := io.CopyBuffer(w.hasher, r, make([]byte, 1<<20)); err != nil {
			return fmt.Errorf("write safetensors %s: hash data: %w", w.path, err)
		}
	}
	w.meta[ChecksumKey] = hex.EncodeToString(w.hasher.Sum(nil))
	w.meta[HeaderChecksumKey] = zeroSum
	header, err := encodeHeader(w.tensors, w.meta)
	if err != nil {
		return fmt.Errorf("write safetensors %s: %w", w.path, err)
	}
	hsum := sha256.Sum256(header)
	w.meta[HeaderChecksumKey] = hex.EncodeToString(hsum[:])
	if header, err = encodeHeader(w.tensors, w.meta); err != nil {
		return fmt.Errorf("write safetensors %s: %w", w.path, err)
	}
	if int64(len(header))+8 != w.hdrLen {
		return fmt.Errorf("write safetensors %s: header length changed at commit (internal error)", w.path)
	}
	if _, err := w.f.WriteAt(append(headerPrefix(header), header...), 0); err != nil {
		return fmt.Errorf("write safetensors %s: %w", w.path, err)
	}
	w.done = true
	if err := w.f.Commit(); err != nil {
		return fmt.Errorf("write safetensors %s: %w", w.path, err)
	}
	return nil
}

// Abort closes and removes the temporary file. It is a no-op after Commit or Abort, so
// `defer w.Abort()` is safe.
func (w *Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	if err := w.f.Abort(); err != nil {
		return fmt.Errorf("abort safetensors %s: %w", w.path, err)
	}
	return nil
}

// Tensor is a tensor with its data, for [WriteFile].
type Tensor struct {
	// Name, DType and Shape are as in [TensorInfo].
	Name  string
	DType string
	Shape []int
	// Data holds the raw little-endian elements.
	Data []byte
}

// WriteFile atomically writes a small file holding tensors, in the order given, and meta.
func WriteFile(path string, tensors []Tensor, meta map[string]string) error {
	infos := make([]TensorInfo, len(tensors))
	for i, t := range tensors {
		infos[i] = TensorInfo{Name: t.Name, DType: t.DType, Shape: t.Shape}
	}
	w, err := Create(path, infos, meta)
	if err != nil {
		return err
	}
	defer w.Abort()
	for i, t := range tensors {
		if int64(len(t.Data)) != infos[i].End-infos[i].Begin {
			return fmt.Errorf("write safetensors %s: tensor %q: %d data bytes, want %d for %s%v", path, t.Name, len(t.Data), infos[i].End-infos[i].Begin, t.DType, t.Shape)
		}
		if err := w.WriteAt(t.Name, 0, t.Data); err != nil {
			return err
		}
	}
	return w.Commit()
}
