package dataset

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// csvHeader is what the first line of a CSV file says.
type csvHeader struct {
	form       string   // HeaderNames, HeaderSklearn or HeaderNone
	cols       []string // the column names
	samples    int      // HeaderSklearn: the sample count it gives
	classNames []string // HeaderSklearn: the class names it gives, nil for none
}

// readHeader reads the first record as form says. For HeaderNone it is the first row, returned
// as first. limit is the file's size, which bounds the columns a header may claim.
func readHeader(cr *csvReader, form string, limit int) (h *csvHeader, first []string, err error) {
	rec, err := cr.next()
	if errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("%w: csv: empty file: no header line", ErrBadData)
	}
	if err != nil {
		return nil, nil, err
	}
	h = &csvHeader{form: form}
	switch form {
	case HeaderSklearn:
		return h, nil, h.parseSklearn(rec, limit)
	case HeaderNone:
		h.cols = indexNames(len(rec))
		return h, slices.Clone(rec), nil
	}
	h.form = HeaderNames
	h.cols = make([]string, len(rec))
	for i, c := range rec {
		h.cols[i] = strings.TrimSpace(c)
	}
	if looksLikeData(h.cols) {
		return nil, nil, fmt.Errorf("%w: csv: the first line %q looks like a row of numbers, not column names: read the file with the %s header form (no header)",
			ErrBadData, strings.Join(h.cols, ","), HeaderNone)
	}
	return h, nil, nil
}

// looksLikeData reports whether a names header is a row of data: every name a number, and some
// number twice (a header of numbers, like pandas' "0,1,2" for unnamed columns or years, names
// each column once).
func looksLikeData(cols []string) bool {
	seen := make(map[string]bool, len(cols))
	dup := false
	for _, c := range cols {
		if _, err := strconv.ParseFloat(c, 64); err != nil {
			return false
		}
		dup = dup || seen[c]
		seen[c] = true
	}
	return dup
}

// parseSklearn parses "<n_samples>,<n_features>[,<class name>...]"; trailing empty class names
// are dropped (scikit-learn's boston file pads the line with commas).
func (h *csvHeader) parseSklearn(rec []string, limit int) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: csv: scikit-learn header %q: %s; want \"<n_samples>,<n_features>[,<class name>...]\"", ErrBadData, strings.Join(rec, ","), why)
	}
	if len(rec) < 2 {
		return bad("fewer than 2 fields")
	}
	samples, err1 := strconv.Atoi(strings.TrimSpace(rec[0]))
	features, err2 := strconv.Atoi(strings.TrimSpace(rec[1]))
	switch {
	case err1 != nil || err2 != nil || samples < 0 || features < 0:
		return bad("the counts are not non-negative integers")
	case features >= limit: // each feature takes at least a byte and a comma
		return bad(fmt.Sprintf("%d features, more than the file could hold", features))
	}
	names := rec[2:]
	for len(names) > 0 && strings.TrimSpace(names[len(names)-1]) == "" {
		names = names[:len(names)-1]
	}
	for i, n := range names {
		if n = strings.TrimSpace(n); n == "" {
			return bad(fmt.Sprintf("class name %d is empty", i))
		}
		h.classNames = append(h.classNames, n)
	}
	h.samples = samples
	h.cols = append(indexNames(features), "label")
	return nil
}

// sklearnLike reports whether a names header is really scikit-learn's form for rows of fields
// fields: two integers, the second one less than fields.
func (h *csvHeader) sklearnLike(fields int) bool {
	if h.form != HeaderNames || len(h.cols) < 2 {
		return false
	}
	_, err := strconv.Atoi(h.cols[0])
	f, err2 := strconv.Atoi(h.cols[1])
	return err == nil && err2 == nil && f+1 == fields
}

// sklearnHint is added to an error about a file whose first line looks like scikit-learn's
// header read as column names.
func (h *csvHeader) sklearnHint() string {
	return fmt.Sprintf(" (the first line %q looks like scikit-learn's \"<n_samples>,<n_features>,<class names>\" header: read the file with the %s header form)",
		strings.Join(h.cols, ","), HeaderSklearn)
}

// indexNames returns "0", "1", ..., the names of n columns without a header.
func indexNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}

// pickColumns returns the index of the label column (-1 for none) and those of the features.
func pickColumns(cols []string, src Source, form string) (label int, feats []int, err error) {
	index := func(name, what string) (int, error) {
		found := -1
		for i, c := range cols {
			if c == name && found >= 0 {
				return -1, fmt.Errorf("%w: csv: %s column %q appears twice in the header", ErrBadData, what, name)
			}
			if c == name {
				found = i
			}
		}
		if found < 0 {
			return -1, fmt.Errorf("%w: csv: no %s column %q: %s", ErrBadData, what, name, describeColumns(cols, form))
		}
		return found, nil
	}
	label = -1
	if name := src.LabelColumn; name != "" || slices.Contains(cols, "label") {
		if label, err = index(cmp.Or(name, "label"), "label"); err != nil {
			return -1, nil, err
		}
	}
	if src.FeatureColumns == nil {
		for i := range cols {
			if i != label {
				feats = append(feats, i)
			}
		}
	}
	for _, name := range src.FeatureColumns {
		j, err := index(name, "feature")
		switch {
		case err != nil:
			return -1, nil, err
		case j == label:
			return -1, nil, fmt.Errorf("%w: csv: column %q is the label column; it cannot also be a feature", ErrBadData, name)
		case slices.Contains(feats, j):
			return -1, nil, fmt.Errorf("%w: csv: feature column %q is given twice", ErrBadData, name)
		}
		feats = append(feats, j)
	}
	if len(feats) == 0 {
		return -1, nil, fmt.Errorf("%w: csv: no feature columns: %s", ErrBadData, describeColumns(cols, form))
	}
	return label, feats, nil
}

// describeColumns lists the columns of a file for messages.
func describeColumns(cols []string, form string) string {
	switch {
	case form == HeaderNone && len(cols) > 0:
		return fmt.Sprintf("the file has no header and %d columns, named \"0\" to \"%d\"", len(cols), len(cols)-1)
	case form == HeaderSklearn:
		return fmt.Sprintf("the scikit-learn header gives %d feature columns, named \"0\" to \"%d\", and \"label\"", len(cols)-1, len(cols)-2)
	}
	return "the header has " + quoteList(cols)
}

// labelColumn gathers the label column of a CSV file, to be turned into class indices.
type labelColumn struct {
	name    string
	classes int // the classes a scikit-learn header names; 0 for none
	values  []string
	lines   []int
}

func (l *labelColumn) add(s string, line int) {
	l.values = append(l.values, strings.TrimSpace(s))
	l.lines = append(l.lines, line)
}

// indices returns the labels as class indices. Labels are all numbers, each a non-negative
// integer (1.0 is 1), or all names, mapped, sorted, to 0..K-1 and returned as the class names.
func (l *labelColumn) indices() ([]int32, []string, error) {
	_, err := strconv.ParseFloat(l.values[0], 64)
	numeric := err == nil
	names := map[string]int32{}
	out := make([]int32, len(l.values))
	for i, s := range l.values {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: csv: line %d, column %q: %s", ErrBadData, l.lines[i], l.name, fmt.Sprintf(format, args...))
		}
		v, err := strconv.ParseFloat(s, 64)
		switch {
		case s == "":
			return nil, nil, bad("missing label")
		case numeric && err != nil:
			return nil, nil, bad("label %q is not a number, but the label on line %d (%q) is: labels must be all class indices or all names", s, l.lines[0], l.values[0])
		case !numeric && err == nil:
			return nil, nil, bad("label %q is a number, but the label on line %d (%q) is not: labels must be all class indices or all names", s, l.lines[0], l.values[0])
		case !numeric:
			names[s] = 0
		case v < 0:
			return nil, nil, bad("label %q is negative", s)
		case v != math.Trunc(v): // NaN too; +Inf is too large, -Inf negative
			return nil, nil, bad("label %q is not an integer", s)
		case v > math.MaxInt32:
			return nil, nil, bad("label %q is too large", s)
		case l.classes > 0 && int(v) >= l.classes:
			return nil, nil, bad("label %q, but the header names %d classes", s, l.classes)
		default:
			out[i] = int32(v)
		}
	}
	if numeric {
		return out, nil, nil
	}
	classes := make([]string, 0, len(names))
	for n := range names {
		classes = append(classes, n)
	}
	slices.Sort(classes)
	for k, n := range classes {
		names[n] = int32(k)
	}
	for i, s := range l.values {
		out[i] = names[s]
	}
	return out, classes, nil
}
