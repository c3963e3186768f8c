package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// ErrBadSource is wrapped by the errors of a [Source] whose fields do not fit together (a labels
// file with CSV data, CSV settings for another format, an unknown header form), as opposed to a
// file that is malformed ([ErrBadData]).
var ErrBadSource = errors.New("bad data source")

// Source says where a data set comes from and how to read it.
type Source struct {
	// Data is the data file: IDX (raw or gzip), NPY, NPZ ("f.npz" holding one array, or
	// "f.npz:<key>"), or CSV (named *.csv or *.csv.gz); or an image folder, a directory of
	// class folders of PNG and JPEG images, or of such images without classes (a flat folder).
	// See the package doc for how a file is told apart.
	Data string
	// Labels is the labels file (IDX, NPY, NPZ[:<key>]); empty for none. Not allowed with CSV,
	// whose labels are a column, nor with an image folder, whose labels are its class folders.
	Labels string
	// LabelColumn (CSV) is the label column; "" means "label" when the header has it, else no
	// labels.
	LabelColumn string
	// FeatureColumns (CSV) are the feature columns in this order; nil means every other column,
	// in file order.
	FeatureColumns []string
	// Header (CSV) is the form of the first line: HeaderNames ("" means it), HeaderSklearn or
	// HeaderNone.
	Header string
	// ImageSize (image folder) is the [height, width] every image is resized to; nil means
	// every image must have the size of the first one.
	ImageSize []int
	// Color (image folder) is ColorGray or ColorRGB; "" means gray when the first image is
	// grayscale (or paletted with gray colours only), else rgb.
	Color string
	// ClassNames names the classes of an array's labels (IDX, NPY, NPZ), class k being
	// ClassNames[k]; the Dataset records them as it records an image folder's or a CSV file's
	// names. CSV files and image folders name their own classes.
	ClassNames []string
}

// The forms of a CSV file's first line, for [Source.Header].
const (
	// HeaderNames: the first line names the columns.
	HeaderNames = "names"
	// HeaderSklearn: scikit-learn's form (load_csv_data in sklearn/datasets/_base.py, used by
	// its iris, wine and breast cancer files): "<n_samples>,<n_features>[,<class name>...]",
	// then rows of n_features features and the class index last. The columns are named "0" to
	// "<n_features-1>" and "label"; the class names become [Dataset.ClassNames].
	HeaderSklearn = "sklearn"
	// HeaderNone: no header; every line is a row and the columns are named by their index,
	// "0", "1", ... (so LabelColumn "64" is the last of 65 columns).
	HeaderNone = "none"
)

// Open reads the data set src describes: the data file and, when src.Labels is not empty, its
// labels. A CSV file is one table: the label column and the feature columns, each sample of
// shape [F]. For the other formats the first dimension of the array is the sample count and the
// rest is the sample shape; labels must be one-dimensional (or [N,1]), of an integer type,
// non-negative and as many as the samples. An image folder's samples are its images and its
// labels their class folders; a flat image folder's samples have no labels (see the package
// doc). Every malformed file gives an error naming it and wrapping [ErrBadData].
func Open(src Source) (*Dataset, error) {
	if isDir(src.Data) {
		if src.ClassNames != nil {
			return nil, fmt.Errorf("open dataset %s: %w: class names are for array labels (IDX, NPY, NPZ); an image folder's class folders name its classes", src.Data, ErrBadSource)
		}
		return openImageFolder(src, maxImagePixels)
	}
	csv, err := src.check()
	if err != nil {
		return nil, err
	}
	if csv {
		return openCSV(src)
	}
	a, sum, err := readArrayFile(src.Data)
	if err != nil {
		return nil, err
	}
	if len(a.shape) < 2 {
		return nil, fmt.Errorf("load dataset %s: %w: shape %v, want [samples, ...] with at least 2 dimensions", src.Data, ErrBadData, a.shape)
	}
	ds := &Dataset{Path: src.Data, SHA256: sum, N: a.shape[0], Shape: append([]int(nil), a.shape[1:]...), DType: a.dtype}
	if ds.N == 0 {
		return nil, fmt.Errorf("load dataset %s: %w: empty dataset (0 samples)", src.Data, ErrBadData)
	}
	if ds.SampleSize() == 0 {
		return nil, fmt.Errorf("load dataset %s: %w: empty samples of shape %v", src.Data, ErrBadData, ds.Shape)
	}
	ds.X = a.float32s()
	if src.Labels == "" {
		return ds, nil
	}
	l, lsum, err := readArrayFile(src.Labels)
	if err != nil {
		return nil, err
	}
	labels, err := l.labels()
	if err != nil {
		return nil, fmt.Errorf("load labels %s: %w: %v", src.Labels, ErrBadData, err)
	}
	if len(labels) != ds.N {
		return nil, fmt.Errorf("load labels %s: %w: %d labels for %d samples in %s", src.Labels, ErrBadData, len(labels), ds.N, src.Data)
	}
	ds.Labels, ds.LabelsPath, ds.LabelsSHA256 = labels, src.Labels, lsum
	if src.ClassNames != nil {
		for i, y := range labels {
			if int(y) >= len(src.ClassNames) {
				return nil, fmt.Errorf("load labels %s: %w: label %d of sample %d is past the %d class names given (%s)", src.Labels, ErrBadData, y, i, len(src.ClassNames), quoteList(src.ClassNames))
			}
		}
		ds.ClassNames = slices.Clone(src.ClassNames)
	}
	return ds, nil
}

// check reports whether src is CSV and whether its fields fit together.
func (src Source) check() (csv bool, err error) {
	if src.Data == "" {
		return false, fmt.Errorf("open dataset: %w: no data file", ErrBadSource)
	}
	csv = IsCSV(src.Data)
	switch {
	case csv && src.Labels != "":
		return true, fmt.Errorf("open dataset %s: %w: a labels file (%s) is not allowed with CSV data, whose labels are a column", src.Data, ErrBadSource, src.Labels)
	case !csv && (src.LabelColumn != "" || src.FeatureColumns != nil || src.Header != ""):
		return false, fmt.Errorf("open dataset %s: %w: label column, feature columns and header form are for CSV data (a file named *.csv or *.csv.gz)", src.Data, ErrBadSource)
	case src.ImageSize != nil || src.Color != "":
		return csv, fmt.Errorf("open dataset %s: %w: image size and color are for image folders (a directory of images, or of class folders of images)", src.Data, ErrBadSource)
	case src.ClassNames != nil && csv:
		return csv, fmt.Errorf("open dataset %s: %w: class names are for array labels (IDX, NPY, NPZ); a CSV file names its classes in its label column", src.Data, ErrBadSource)
	case src.ClassNames != nil && src.Labels == "":
		return csv, fmt.Errorf("open dataset %s: %w: class names without a labels file to name", src.Data, ErrBadSource)
	}
	if err := checkClassNames(src.ClassNames); err != nil {
		return csv, fmt.Errorf("open dataset %s: %w: %v", src.Data, ErrBadSource, err)
	}
	switch src.Header {
	case "", HeaderNames, HeaderSklearn, HeaderNone:
	default:
		return csv, fmt.Errorf("open dataset %s: %w: unknown CSV header form %q: want %s, %s or %s", src.Data, ErrBadSource, src.Header, HeaderNames, HeaderSklearn, HeaderNone)
	}
	return csv, nil
}

// IsCSV reports whether path names a CSV file: it ends in ".csv" or ".csv.gz", in any case.
// CSV is the one format told by name; the others are told by content.
func IsCSV(path string) bool {
	p := strings.ToLower(path)
	return strings.HasSuffix(p, ".csv") || strings.HasSuffix(p, ".csv.gz")
}

// splitKey splits "f.npz:<key>" into the file and the key when path does not exist as a file
// but its part before the last ':' does; otherwise the file is path and the key is empty.
func splitKey(path string) (file, key string) {
	if _, err := os.Stat(path); err == nil {
		return path, ""
	}
	i := strings.LastIndexByte(path, ':')
	if i <= 0 || i == len(path)-1 {
		return path, ""
	}
	if fi, err := os.Stat(path[:i]); err == nil && fi.Mode().IsRegular() {
		return path[:i], path[i+1:]
	}
	return path, ""
}

// readArrayFile reads path (an IDX, NPY or NPZ file, or "f.npz:<key>"), returning its array
// and the hex sha256 of the file's bytes (of the whole archive for NPZ).
func readArrayFile(path string) (array, string, error) {
	file, key := splitKey(path)
	raw, err := os.ReadFile(file)
	if err != nil {
		return array{}, "", fmt.Errorf("read data %s: %w", path, err)
	}
	h := sha256.Sum256(raw)
	sum := hex.EncodeToString(h[:])
	var a array
	switch {
	case isZip(raw):
		a, err = readNPZ(raw, file, key)
	case key != "":
		err = fmt.Errorf("%w, and %s is not an NPZ archive (a \":<key>\" suffix picks an array of one)", fs.ErrNotExist, file)
	default:
		a, err = decodeArray(raw)
	}
	if err != nil {
		return array{}, "", fmt.Errorf("read data %s: %w", path, err)
	}
	return a, sum, nil
}

// quoteList formats names as a comma-separated list of quoted strings, for messages.
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// checkClassNames refuses empty and repeated names, which could not tell classes apart.
func checkClassNames(names []string) error {
	seen := map[string]int{}
	for k, n := range names {
		if strings.TrimSpace(n) == "" {
			return fmt.Errorf("class name %d is empty", k)
		}
		if j, ok := seen[n]; ok {
			return fmt.Errorf("class name %q given twice (classes %d and %d)", n, j, k)
		}
		seen[n] = k
	}
	return nil
}
