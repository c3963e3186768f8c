package dataset

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// ErrBadData is wrapped by every error that reports a malformed data or labels file
// (bad magic, truncated, wrong counts, negative labels), as opposed to an I/O failure.
var ErrBadData = errors.New("bad data file")

// Dataset is a transfer, training or test set held in memory.
type Dataset struct {
	// Path is the data file as given; SHA256 is the hex sha256 of its bytes as stored
	// (of the compressed bytes for a gzip file; of its files' names and sums for an image
	// folder, see the package doc), which soft-target files record.
	Path, SHA256 string
	// N is the number of samples.
	N int
	// Shape is the shape of one sample as stored, e.g. [28,28] for MNIST's IDX files.
	Shape []int
	// X holds the raw values (no scaling), N*prod(Shape) of them, sample-major.
	X []float32
	// Labels holds one class index per sample, or is nil when the data has none (no labels
	// file, a CSV without a label column, a flat image folder).
	Labels []int32
	// SampleNames names each sample by its file in an image folder, "<class folder>/<file>"
	// ("<file>" in a flat folder), '/'-separated; nil for the other formats, whose samples are
	// known by their index.
	SampleNames []string
	// LabelsPath and LabelsSHA256 describe the labels file, empty when there is none (and for
	// CSV, whose labels are a column of the data file).
	LabelsPath, LabelsSHA256 string
	// ClassNames names the classes, ClassNames[k] being class k, when the file names them: a CSV
	// label column of names (mapped, sorted, to 0..K-1), a scikit-learn CSV header or an image
	// folder's class folders. Nil for numeric labels.
	ClassNames []string
	// DType is the element type of the data as stored: "uint8", "int8", "int16", "int32",
	// "int64", "float16", "float32" or "float64" ("float64" for CSV). X holds the values as
	// float32 whatever it is.
	DType string
	// labelLines is the line of each sample's label in a CSV file (nil for other files), for
	// CheckLabels's messages.
	labelLines []int
}

// Unlabelled describes, for an error, why a data set without labels has none and how to give it
// some: a CSV file without a label column, a flat image folder, or a file given no labels file.
func (d *Dataset) Unlabelled() string {
	switch {
	case IsCSV(d.Path):
		return fmt.Sprintf("%s has no label column: name it", d.Path)
	case d.SampleNames != nil:
		return fmt.Sprintf("%s is a folder of images without class folders, so it has no labels (each class's images go in a folder named after it)", d.Path)
	}
	return fmt.Sprintf("%s has no labels: give its labels file", d.Path)
}

// LabelsFile returns the file the labels were read from: LabelsPath, or Path when the data holds
// them itself (a CSV label column, an image folder's class folders).
func (d *Dataset) LabelsFile() string {
	if d.LabelsPath != "" {
		return d.LabelsPath
	}
	return d.Path
}

// CheckLabels checks that every label is a class of a model with classes classes (0..classes-1).
// The error names the labels file, where the first bad label is in it (the line of a CSV file,
// else the sample's index from 0) and the label as the file writes it (a class name, or its
// index), and wraps ErrBadLabel.
func (d *Dataset) CheckLabels(classes int) error {
	for i, y := range d.Labels {
		if y >= 0 && int(y) < classes {
			continue
		}
		where := fmt.Sprintf("sample %d (from 0)", i)
		if i < len(d.labelLines) {
			where = fmt.Sprintf("line %d", d.labelLines[i])
		}
		label := fmt.Sprint(y)
		if int(y) < len(d.ClassNames) && y >= 0 {
			label = fmt.Sprintf("%q (class %d of the %d it names)", d.ClassNames[y], y, len(d.ClassNames))
		}
		return fmt.Errorf("labels %s: %s has label %s, but the model has %d classes (0..%d): %w", d.LabelsFile(), where, label, classes, classes-1, ErrBadLabel)
	}
	return nil
}

// ErrBadLabel is wrapped by Dataset.CheckLabels's error: a label that is not a class of the model.
var ErrBadLabel = errors.New("label out of range")

// DefaultScale is the scale preprocessing should divide raw values by when none is given: 255
// for 8-bit integer data (pixels), 1 for everything else (already scaled floats, tabular data).
// A Dataset without a DType (one built by hand) gets the package's [DefaultScale], 255, which
// was the rule before the element type was recorded.
func (d *Dataset) DefaultScale() float64 {
	switch d.DType {
	case "uint8", "int8":
		return 255
	case "":
		return DefaultScale
	}
	return 1
}

// SampleSize is the number of values in one sample, the product of Shape.
func (d *Dataset) SampleSize() int {
	return NumValues(d.Shape)
}

// Sample returns the raw values of sample i (a view into X).
func (d *Dataset) Sample(i int) []float32 {
	s := d.SampleSize()
	return d.X[i*s : (i+1)*s]
}

// Load reads the data file dataPath and, when labelsPath is not empty, its labels: it is
// Open(Source{Data: dataPath, Labels: labelsPath}), and [Open] tells the formats apart.
// Each IDX file (MNIST's format, raw or gzip-compressed; images of any IDX element type, labels
// of an integer type) or NPY file (images uint8, int8/16/32/64, float16, float32 or float64;
// labels of an integer type) is told apart by content, not by name. The first dimension is the
// sample count; the rest is the sample shape. Labels must be one-dimensional (or [N,1]),
// non-negative and as many as the samples.
func Load(dataPath, labelsPath string) (*Dataset, error) {
	return Open(Source{Data: dataPath, Labels: labelsPath})
}

// FileSHA256 returns the hex sha256 of a file's bytes, as provenance records it.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// array is a decoded n-dimensional array; values is one of []uint8, []int8, []int16,
// []int32, []int64, []float32 or []float64, in row-major order. dtype is the element type as
// stored (as [Dataset.DType] names it): "float16" for values decoded to []float32.
type array struct {
	shape  []int
	values any
	dtype  string
}

// decodeArray tells NPY, gzip and IDX apart by their first bytes and decodes.
func decodeArray(raw []byte) (array, error) {
	switch {
	case bytes.HasPrefix(raw, []byte("\x93NUMPY")):
		return readNPY(raw)
	case isGzip(raw):
		plain, err := gunzip(raw)
		if err != nil {
			return array{}, err
		}
		if bytes.HasPrefix(plain, []byte("\x93NUMPY")) {
			return readNPY(plain)
		}
		return readIDX(plain)
	case len(raw) >= 4 && raw[0] == 0 && raw[1] == 0:
		return readIDX(raw)
	}
	n := min(len(raw), 4)
	return array{}, fmt.Errorf("%w: unknown format (first bytes % x): want IDX (raw or gzip), NPY, NPZ, or CSV (named *.csv)", ErrBadData, raw[:n])
}

// isGzip reports whether raw starts with gzip's magic.
func isGzip(raw []byte) bool { return bytes.HasPrefix(raw, []byte{0x1f, 0x8b}) }

// gunzip decompresses a gzip stream.
func gunzip(raw []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrBadData, err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v (file cut short?)", ErrBadData, err)
	}
	return plain, nil
}

// float32s converts the values to float32.
func (a array) float32s() []float32 {
	switch v := a.values.(type) {
	case []float32:
		return v
	case []uint8:
		return convert[uint8](v)
	case []int8:
		return convert[int8](v)
	case []int16:
		return convert[int16](v)
	case []int32:
		return convert[int32](v)
	case []int64:
		return convert[int64](v)
	case []float64:
		return convert[float64](v)
	}
	panic(fmt.Sprintf("dataset: unexpected array type %T", a.values))
}

func convert[T uint8 | int8 | int16 | int32 | int64 | float64](v []T) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// labels returns the values as class indices, checking they are integers, non-negative
// and fit in int32, and that the shape is [N] or [N,1].
func (a array) labels() ([]int32, error) {
	if len(a.shape) != 1 && !(len(a.shape) == 2 && a.shape[1] == 1) {
		return nil, fmt.Errorf("labels of shape %v, want [N] or [N,1]", a.shape)
	}
	var out []int32
	check := func(i int, x int64) error {
		if x < 0 {
			return fmt.Errorf("label %d of sample %d is negative", x, i)
		}
		if x > math.MaxInt32 {
			return fmt.Errorf("label %d of sample %d is too large", x, i)
		}
		return nil
	}
	switch v := a.values.(type) {
	case []uint8:
		out = make([]int32, len(v))
		for i, x := range v {
			out[i] = int32(x)
		}
		return out, nil
	case []int8:
		return toLabels(v, check)
	case []int16:
		return toLabels(v, check)
	case []int32:
		return toLabels(v, check)
	case []int64:
		return toLabels(v, check)
	}
	return nil, fmt.Errorf("labels of type %s, want an integer type (uint8, int8, int16, int32, int64)", a.dtype)
}

func toLabels[T int8 | int16 | int32 | int64](v []T, check func(int, int64) error) ([]int32, error) {
	out := make([]int32, len(v))
	for i, x := range v {
		if err := check(i, int64(x)); err != nil {
			return nil, err
		}
		out[i] = int32(x)
	}
	return out, nil
}

// NumValues returns the number of values in an array of shape dims: their product (1 for none).
func NumValues(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// checkedCount returns the product of dims times elemSize, or an error if a dimension is
// negative or the product exceeds limit (so a corrupt header cannot make us allocate more
// than the file holds).
func checkedCount(dims []int, elemSize int, limit int) (int, error) {
	n := elemSize
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", dims)
		}
		if d != 0 && n > limit/d {
			return 0, fmt.Errorf("truncated: shape %v needs more than the %d bytes of data in the file", dims, limit)
		}
		n *= d
	}
	return n, nil
}
