package dataset

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// table is a CSV file read as src says: n samples of f features.
type table struct {
	n, f       int
	x          []float32
	labels     []int32  // nil without a label column
	classNames []string // nil for numeric labels
	lines      []int    // the line of each sample's label; nil without a label column
}

// openCSV reads the CSV data file of src.
func openCSV(src Source) (*Dataset, error) {
	raw, err := os.ReadFile(src.Data)
	if err != nil {
		return nil, fmt.Errorf("read data %s: %w", src.Data, err)
	}
	h := sha256.Sum256(raw)
	t, err := readCSV(raw, src)
	if err != nil {
		return nil, fmt.Errorf("read data %s: %w", src.Data, err)
	}
	return &Dataset{Path: src.Data, SHA256: hex.EncodeToString(h[:]), N: t.n, Shape: []int{t.f}, X: t.x,
		Labels: t.labels, ClassNames: t.classNames, DType: "float64", labelLines: t.lines}, nil
}

// csvReader reads the records of one CSV file, keeping the line each began on.
type csvReader struct {
	r    *csv.Reader
	line int // of the record last read
}

// next returns the next record (a slice reused by the following call), or io.EOF.
func (cr *csvReader) next() ([]string, error) {
	rec, err := cr.r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("%w: csv: %v", ErrBadData, err)
	}
	cr.line, _ = cr.r.FieldPos(0)
	return rec, nil
}

// lineOf returns the line field j of the record last read is on (a quoted field may span lines).
func (cr *csvReader) lineOf(j int) int {
	line, _ := cr.r.FieldPos(j)
	return line
}

// readCSV decodes a CSV file (gzip-compressed or not, with or without a UTF-8 byte-order mark;
// quoted fields and CRLF line ends as RFC 4180 has them) as src says.
func readCSV(raw []byte, src Source) (*table, error) {
	if isGzip(raw) {
		var err error
		if raw, err = gunzip(raw); err != nil {
			return nil, err
		}
	}
	raw = bytes.TrimPrefix(raw, []byte("\uFEFF"))
	r := csv.NewReader(bytes.NewReader(raw))
	r.FieldsPerRecord = -1 // counted here, against the header, with a clearer message
	r.TrimLeadingSpace = true
	r.ReuseRecord = true
	cr := &csvReader{r: r}
	h, first, err := readHeader(cr, src.Header, len(raw))
	if err != nil {
		return nil, err
	}
	label, feats, err := pickColumns(h.cols, src, h.form)
	if err != nil {
		return nil, err
	}
	t := &table{f: len(feats)}
	var lab labelColumn
	if label >= 0 {
		lab = labelColumn{name: h.cols[label], classes: len(h.classNames)}
	}
	row := func(rec []string) error {
		if len(rec) != len(h.cols) {
			hint := ""
			if h.sklearnLike(len(rec)) {
				hint = h.sklearnHint()
			}
			return fmt.Errorf("%w: csv: line %d: %d fields, want %d as the header has%s", ErrBadData, cr.line, len(rec), len(h.cols), hint)
		}
		for _, j := range feats {
			v, err := parseValue(rec[j])
			if err != nil {
				return fmt.Errorf("%w: csv: line %d, column %q: %v", ErrBadData, cr.lineOf(j), h.cols[j], err)
			}
			t.x = append(t.x, float32(v))
		}
		if label >= 0 {
			lab.add(rec[label], cr.lineOf(label))
		}
		t.n++
		return nil
	}
	if first != nil {
		if err := row(first); err != nil {
			return nil, err
		}
	}
	for {
		rec, err := cr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := row(rec); err != nil {
			return nil, err
		}
	}
	return t, t.finish(h, &lab, label >= 0)
}

// finish checks the sample count and turns the label column into class indices.
func (t *table) finish(h *csvHeader, lab *labelColumn, labeled bool) error {
	if t.n == 0 {
		return fmt.Errorf("%w: csv: empty dataset (0 samples): no rows after the header", ErrBadData)
	}
	switch {
	case h.form == HeaderSklearn && t.n != h.samples:
		return fmt.Errorf("%w: csv: the header says %d samples, the file has %d", ErrBadData, h.samples, t.n)
	case h.sklearnLike(len(h.cols)) && h.cols[0] == strconv.Itoa(t.n):
		return fmt.Errorf("%w: csv: %d samples of %d columns%s", ErrBadData, t.n, len(h.cols), h.sklearnHint())
	}
	if !labeled {
		return nil
	}
	var err error
	t.labels, t.classNames, err = lab.indices()
	t.lines = lab.lines
	if err != nil {
		return err
	}
	if h.form == HeaderSklearn && t.classNames != nil {
		return fmt.Errorf("%w: csv: column %q: labels are names, but a scikit-learn file holds class indices", ErrBadData, lab.name)
	}
	if h.classNames != nil {
		t.classNames = h.classNames
	}
	return nil
}

// parseValue parses one feature value: a finite number, int or float, that float32 can hold.
func parseValue(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("missing value")
	}
	v, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil && errors.Is(err, strconv.ErrRange):
		return 0, fmt.Errorf("%q is out of range", s)
	case err != nil:
		return 0, fmt.Errorf("%q is not a number", s)
	case math.IsNaN(v) || math.IsInf(v, 0):
		return 0, fmt.Errorf("%q is not a finite number", s)
	case math.Abs(v) > math.MaxFloat32:
		return 0, fmt.Errorf("%q is out of the range of float32", s)
	}
	return v, nil
}
