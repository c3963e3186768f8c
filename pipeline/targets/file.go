package targets

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/distillgo/distill/internal/filekind"
	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/internal/safetensors"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/x448/float16"
)

// logitsTensor is the name of the one tensor of a soft-target file.
const logitsTensor = "logits"

// Metadata keys of a soft-target file (safetensors "__metadata__", all strings).
const (
	metaFormat   = meta.FormatKey   // meta.TargetsFormat
	metaTeachers = "teachers"       // JSON list of TeacherInfo
	metaDataSHA  = "dataset_sha256" // hex sha256 of the data file as stored
	metaDataN    = "dataset_n"      // samples in the data file
	metaRange    = "range"          // "start:end", the samples held, end exclusive
	metaClasses  = "classes"        // C
	metaTool     = "tool"           // meta.ToolVersion of the writer
	metaNames    = "class_names"    // JSON list of the data's class names, when it names them
)

// ErrMismatch is wrapped by the errors that refuse a soft-target file for data,
// classes or shards it does not fit (as opposed to a damaged file).
var ErrMismatch = errors.New("soft targets do not match")

// TeacherInfo records one teacher of a soft-target file.
type TeacherInfo struct {
	// Path is the base name of the teacher's model file (directories differ between machines).
	Path string `json:"path"`
	// SHA256 is the hex sha256 of the model file.
	SHA256 string `json:"sha256"`
	// Input and Output name the model's input and output tensors.
	Input  string `json:"input"`
	Output string `json:"output"`
	// Preprocess is the preprocessing applied to the data for this teacher.
	Preprocess dataset.Preprocess `json:"preprocess"`
	// OutputKind is what the model outputs: "logits", "probs" or "logprobs". Probabilities
	// are stored as log p, which are valid logits.
	OutputKind string `json:"output_kind"`
	// ClassLabels names the classes as the model does (a scikit-learn ZipMap's keys), class k
	// being ClassLabels[k]; absent when the model does not name them.
	ClassLabels []string `json:"class_labels,omitempty"`
	// Inputs lists the arrays that fed the teacher's named inputs, when the data set did not.
	Inputs []InputInfo `json:"inputs,omitempty"`
}

// Meta is the provenance stored in a soft-target file's header.
type Meta struct {
	// Teachers lists the teachers in the order of the file's first axis.
	Teachers []TeacherInfo
	// DataSHA256 and DataN identify the data file: its sha256 as stored and sample count.
	DataSHA256 string
	DataN      int
	// Start and End are the samples held, [Start, End): [0, DataN) for a whole run, a
	// contiguous part of it for a shard.
	Start, End int
	// Classes is C, the number of logits per sample.
	Classes int
	// DType is the element type of the logits: "F32" or "F16".
	DType string
	// Tool names the writer; Create sets meta.ToolVersion when empty.
	Tool string
	// ClassNames names the classes, class k being ClassNames[k], when the data names them.
	ClassNames []string
}

// K is the number of teachers.
func (m Meta) K() int { return len(m.Teachers) }

// shape is the logits tensor's shape: [n,C] for one teacher, [K,n,C] for several.
func (m Meta) shape() []int {
	if m.K() == 1 {
		return []int{m.End - m.Start, m.Classes}
	}
	return []int{m.K(), m.End - m.Start, m.Classes}
}

// encode returns the header metadata map.
func (m Meta) encode() (map[string]string, error) {
	teachers, err := json.Marshal(m.Teachers)
	if err != nil {
		return nil, err
	}
	md := map[string]string{
		metaFormat:   meta.TargetsFormat,
		metaTeachers: string(teachers),
		metaDataSHA:  m.DataSHA256,
		metaDataN:    strconv.Itoa(m.DataN),
		metaRange:    fmt.Sprintf("%d:%d", m.Start, m.End),
		metaClasses:  strconv.Itoa(m.Classes),
		metaTool:     m.Tool,
	}
	if len(m.ClassNames) > 0 {
		names, err := json.Marshal(m.ClassNames)
		if err != nil {
			return nil, err
		}
		md[metaNames] = string(names)
	}
	return md, nil
}

// validate checks the fields against each other.
func (m Meta) validate() error {
	switch {
	case m.K() == 0:
		return errors.New("no teachers")
	case m.Classes <= 0:
		return fmt.Errorf("%d classes", m.Classes)
	case m.DataN <= 0:
		return fmt.Errorf("data of %d samples", m.DataN)
	case m.Start < 0 || m.End <= m.Start || m.End > m.DataN:
		return fmt.Errorf("range %d:%d is not a non-empty part of the %d samples", m.Start, m.End, m.DataN)
	case m.DType != "F32" && m.DType != "F16":
		return fmt.Errorf("dtype %q, want F32 or F16", m.DType)
	}
	return nil
}

// Writer streams the logits of a soft-target file; see [Create].
type Writer struct {
	path string
	meta Meta
	w    *safetensors.Writer
	buf  []byte
}

// Create starts writing a soft-target file at path for k teachers, n samples
// (md.Start to md.Start+n) and c classes, as float16 when fp16 is set (half the size;
// logits keep about 3 significant digits) else float32. k must equal len(md.Teachers);
// md.End and md.Classes are set from n and c when zero, and must agree otherwise;
// teacher paths are reduced to their base names. Write every row with
// [Writer.WriteBatch], then Commit (or Abort). The file appears at path only on
// Commit, and memory does not grow with n.
func Create(path string, md Meta, k, n, c int, fp16 bool) (*Writer, error) {
	md.Teachers = append([]TeacherInfo(nil), md.Teachers...)
	for i := range md.Teachers {
		md.Teachers[i].Path = filepath.Base(md.Teachers[i].Path)
	}
	if md.End == 0 {
		md.End = md.Start + n
	}
	if md.Classes == 0 {
		md.Classes = c
	}
	md.DType = "F32"
	if fp16 {
		md.DType = "F16"
	}
	if md.Tool == "" {
		md.Tool = meta.ToolVersion
	}
	switch {
	case k != md.K():
		return nil, fmt.Errorf("write soft targets %s: %d teachers, but the metadata lists %d", path, k, md.K())
	case n != md.End-md.Start:
		return nil, fmt.Errorf("write soft targets %s: %d samples, but the range is %d:%d", path, n, md.Start, md.End)
	case c != md.Classes:
		return nil, fmt.Errorf("write soft targets %s: %d classes, but the metadata says %d", path, c, md.Classes)
	}
	if err := md.validate(); err != nil {
		return nil, fmt.Errorf("write soft targets %s: %w", path, err)
	}
	hm, err := md.encode()
	if err != nil {
		return nil, fmt.Errorf("write soft targets %s: %w", path, err)
	}
	w, err := safetensors.Create(path, []safetensors.TensorInfo{{Name: logitsTensor, DType: md.DType, Shape: md.shape()}}, hm)
	if err != nil {
		return nil, fmt.Errorf("write soft targets %s: %w", path, err)
	}
	return &Writer{path: path, meta: md, w: w}, nil
}

// Meta returns the metadata being written.
func (tw *Writer) Meta() Meta { return tw.meta }

// WriteBatch writes the logits of teacher (0-based) for the samples start, start+1, ...
// (dataset indices within the file's range), len(logits)/C rows of C values. Logits must
// be finite, and within ±65504 for a float16 file.
func (tw *Writer) WriteBatch(teacher int, start int, logits []float32) error {
	m := tw.meta
	c := m.Classes
	if teacher < 0 || teacher >= m.K() {
		return fmt.Errorf("write soft targets %s: teacher %d of %d", tw.path, teacher, m.K())
	}
	if len(logits)%c != 0 {
		return fmt.Errorf("write soft targets %s: %d logits is not a whole number of rows of %d classes", tw.path, len(logits), c)
	}
	rows := len(logits) / c
	if start < m.Start || start+rows > m.End {
		return fmt.Errorf("write soft targets %s: samples %d:%d outside the file's range %d:%d", tw.path, start, start+rows, m.Start, m.End)
	}
	size := 4
	if m.DType == "F16" {
		size = 2
	}
	if cap(tw.buf) < len(logits)*size {
		tw.buf = make([]byte, len(logits)*size)
	}
	buf := tw.buf[:len(logits)*size]
	for i, v := range logits {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("write soft targets %s: teacher %d, sample %d: logit %d is %v", tw.path, teacher, start+i/c, i%c, v)
		}
		if size == 2 {
			h := float16.Fromfloat32(v)
			if h.IsInf(0) {
				return fmt.Errorf("write soft targets %s: teacher %d, sample %d: logit %d = %v overflows float16 (max 65504); write float32", tw.path, teacher, start+i/c, i%c, v)
			}
			binary.LittleEndian.PutUint16(buf[2*i:], h.Bits())
		} else {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
		}
	}
	off := int64(teacher)*int64(m.End-m.Start)*int64(c) + int64(start-m.Start)*int64(c)
	if err := tw.w.WriteAt(logitsTensor, off, buf); err != nil {
		return fmt.Errorf("write soft targets: %w", err)
	}
	return nil
}

// Commit finishes the file (checking that every row was written) and moves it into place.
func (tw *Writer) Commit() error {
	if err := tw.w.Commit(); err != nil {
		return fmt.Errorf("write soft targets: %w", err)
	}
	return nil
}

// Abort removes the unfinished file; it is a no-op after Commit.
func (tw *Writer) Abort() error {
	return tw.w.Abort()
}

// File is an open, validated soft-target file. The logits stay on disk until asked for.
type File struct {
	// Path is the file's path.
	Path string
	// Meta is the file's provenance.
	Meta Meta
	// K is the number of teachers, N the number of samples held (End-Start) and Classes C.
	K, N, Classes int
	// DataSHA256 is the sha256 of the data file the logits were made from.
	DataSHA256 string
	// TeachersJSON is the "teachers" metadata as stored, a JSON list of TeacherInfo.
	TeachersJSON string

	f *safetensors.File
}

// Open opens and validates a soft-target file: the safetensors checks (checksums of
// header and data included), the format key, every metadata field, and the logits
// tensor's dtype and shape against them.
func Open(path string) (*File, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		if kerr := filekind.Mismatch(path, filekind.SoftTargets); kerr != nil {
			return nil, fmt.Errorf("read soft targets: %w", kerr)
		}
		return nil, fmt.Errorf("read soft targets: %w", err)
	}
	t, err := targetsFromFile(path, f)
	if err != nil {
		f.Close()
		if kerr := filekind.Mismatch(path, filekind.SoftTargets); kerr != nil {
			return nil, fmt.Errorf("read soft targets: %w", kerr)
		}
		return nil, fmt.Errorf("read soft targets %s: %w", path, err)
	}
	return t, nil
}

func targetsFromFile(path string, f *safetensors.File) (*File, error) {
	md := f.Meta
	if got := md[metaFormat]; got != meta.TargetsFormat {
		return nil, fmt.Errorf("%w: metadata format %q, want %q (not a soft-target file)", safetensors.ErrCorrupt, got, meta.TargetsFormat)
	}
	var m Meta
	dec := json.NewDecoder(strings.NewReader(md[metaTeachers]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m.Teachers); err != nil {
		return nil, fmt.Errorf("%w: metadata teachers: %v", safetensors.ErrCorrupt, err)
	}
	var err error
	num := func(key string) int {
		if err != nil {
			return 0
		}
		v, e := strconv.Atoi(md[key])
		if e != nil {
			err = fmt.Errorf("%w: metadata %s=%q is not an integer", safetensors.ErrCorrupt, key, md[key])
		}
		return v
	}
	m.DataSHA256, m.Tool = md[metaDataSHA], md[metaTool]
	if raw, ok := md[metaNames]; ok {
		if err := json.Unmarshal([]byte(raw), &m.ClassNames); err != nil {
			return nil, fmt.Errorf("%w: metadata class_names: %v", safetensors.ErrCorrupt, err)
		}
	}
	m.DataN, m.Classes = num(metaDataN), num(metaClasses)
	a, b, ok := strings.Cut(md[metaRange], ":")
	if !ok {
		return nil, fmt.Errorf("%w: metadata range %q is not start:end", safetensors.ErrCorrupt, md[metaRange])
	}
	if m.Start, err = strconv.Atoi(a); err == nil {
		m.End, err = strconv.Atoi(b)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: metadata range %q is not start:end", safetensors.ErrCorrupt, md[metaRange])
	}
	if len(f.Tensors) != 1 || f.Tensors[0].Name != logitsTensor {
		return nil, fmt.Errorf("%w: want one tensor %q, have %d tensors", safetensors.ErrCorrupt, logitsTensor, len(f.Tensors))
	}
	ti := f.Tensors[0]
	m.DType = ti.DType
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%w: metadata: %v", safetensors.ErrCorrupt, err)
	}
	if want := m.shape(); !slices.Equal(ti.Shape, want) {
		return nil, fmt.Errorf("%w: logits of shape %v, but the metadata (%d teachers, range %d:%d, %d classes) needs %v", safetensors.ErrCorrupt, ti.Shape, m.K(), m.Start, m.End, m.Classes, want)
	}
	return &File{Path: path, Meta: m, K: m.K(), N: m.End - m.Start, Classes: m.Classes, DataSHA256: m.DataSHA256, TeachersJSON: md[metaTeachers], f: f}, nil
}

// Close closes the file.
func (t *File) Close() error { return t.f.Close() }

// Logits returns all logits as float32, [K,N,C] flattened (teacher-major).
func (t *File) Logits() ([]float32, error) {
	out, err := t.f.Float32(logitsTensor)
	if err != nil {
		return nil, fmt.Errorf("read soft targets: %w", err)
	}
	return out, nil
}

// Rows returns the logits of teacher for the n samples start, start+1, ... (dataset
// indices within the file's range), [n,C] flattened.
func (t *File) Rows(teacher, start, n int) ([]float32, error) {
	m := t.Meta
	if teacher < 0 || teacher >= t.K || n < 0 || start < m.Start || start+n > m.End {
		return nil, fmt.Errorf("read soft targets %s: teacher %d, samples %d:%d: outside %d teachers, range %d:%d", t.Path, teacher, start, start+n, t.K, m.Start, m.End)
	}
	size := safetensors.DTypeSize(m.DType)
	raw := make([]byte, n*t.Classes*size)
	off := int64(teacher)*int64(t.N)*int64(t.Classes) + int64(start-m.Start)*int64(t.Classes)
	if err := t.f.ReadAt(logitsTensor, off, raw); err != nil {
		return nil, fmt.Errorf("read soft targets: %w", err)
	}
	out := make([]float32, n*t.Classes)
	if err := safetensors.DecodeFloat32(out, raw, m.DType); err != nil {
		return nil, fmt.Errorf("read soft targets %s: %w", t.Path, err)
	}
	return out, nil
}

// CheckData refuses the file for a dataset other than the one it was made from (by the
// data file's sha256 and sample count) and for a file holding only part of the samples (a
// shard: merge the shards first). Errors wrap ErrMismatch and give both values.
func (t *File) CheckData(ds *dataset.Dataset) error {
	m := t.Meta
	if m.DataSHA256 != ds.SHA256 {
		return fmt.Errorf("soft targets %s: %w: made from a data file with sha256 %s, but %s has sha256 %s", t.Path, ErrMismatch, m.DataSHA256, ds.Path, ds.SHA256)
	}
	if m.DataN != ds.N {
		return fmt.Errorf("soft targets %s: %w: made from data of %d samples, but %s has %d", t.Path, ErrMismatch, m.DataN, ds.Path, ds.N)
	}
	if m.Start != 0 || m.End != m.DataN {
		return fmt.Errorf("soft targets %s: %w: holds samples %d:%d of %d only (a shard; merge the shards with `distill targets merge`)", t.Path, ErrMismatch, m.Start, m.End, m.DataN)
	}
	return nil
}

// CheckClasses refuses the file for a model of c classes when it holds another number.
func (t *File) CheckClasses(c int) error {
	if t.Classes != c {
		return fmt.Errorf("soft targets %s: %w: %d classes, but the student has %d", t.Path, ErrMismatch, t.Classes, c)
	}
	return nil
}

// ShardRange returns the samples [start, end) of shard i (from 0) of n over N samples:
// n contiguous ranges in order, their sizes differing by at most one, together covering
// [0, N).
func ShardRange(i, n, N int) (start, end int) {
	return int(int64(i) * int64(N) / int64(n)), int(int64(i+1) * int64(N) / int64(n))
}

// ParseShard parses a --shard argument "i/n" (i from 0, 0 <= i < n).
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		i, err = strconv.Atoi(a)
		if err == nil {
			n, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || n <= 0 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("shard %q: want i/n with 0 <= i < n, e.g. 0/4", s)
	}
	return i, n, nil
}
