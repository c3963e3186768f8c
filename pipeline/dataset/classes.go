package dataset

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ModelClasses is how a model numbers its classes, which a data set's labels must follow.
type ModelClasses struct {
	// Of names the model in messages, e.g. "model s.onnx" or "teacher t.onnx".
	Of string
	// N is the number of classes the model outputs.
	N int
	// Names are the model's names of its classes, class k being Names[k]; nil when it records
	// none. Names that are all numbers carry no identity beyond the numbers themselves.
	Names []string
}

// numbers returns the values of names when every one is a decimal number (0, 1, ...), else nil.
func numbers(names []string) []int {
	if len(names) == 0 {
		return nil
	}
	out := make([]int, len(names))
	for i, n := range names {
		v, err := strconv.Atoi(n)
		if err != nil || v < 0 || strings.TrimSpace(n) != n || strings.HasPrefix(n, "+") {
			return nil
		}
		out[i] = v
	}
	return out
}

// ClassesAreNumbers reports whether every class name is a decimal number (0, 1, ...), which
// then is the class's number.
func ClassesAreNumbers(names []string) bool { return numbers(names) != nil }

// named reports whether names name classes by words, not by numbers: only such names tell the
// classes of two files apart by name.
func named(names []string) bool { return len(names) > 0 && numbers(names) == nil }

// AlignClasses renumbers d's labels to follow m's numbering of the classes, so that the same class
// has the same number in the data and in the model, and returns a note saying what was assumed
// ("" when nothing needed saying). The rules, class identity taking precedence over position:
//   - the data and the model both name their classes: they are matched by name, and a data class
//     the model does not know is an error naming it;
//   - the data's class names are numbers (image folders "0" to "9"): the number is the class, also
//     when some are missing (folders "1" to "9" are classes 1 to 9, not 0 to 8);
//   - only the model names its classes (the data has numeric labels): label k is the model's class
//     k, which the note says; when the model's names are numbers in another order (a scikit-learn
//     model's ZipMap keys), the label is matched to the number;
//   - only the data names its classes, by words: its k-th class (sorted by name, as read) is taken
//     as the model's class k, which the note says; when the counts differ, which class is which is
//     unknown and it is an error.
//
// After it, d.ClassNames are the model's names when it has names. Labels out of the model's range
// are left for [Dataset.CheckLabels] to report.
func (d *Dataset) AlignClasses(m ModelClasses) (string, error) {
	if d.Labels == nil || (len(d.ClassNames) == 0 && len(m.Names) == 0) {
		return "", nil
	}
	perm, note, err := d.classPermutation(m)
	if err != nil {
		return "", fmt.Errorf("classes of %s against %s: %w", d.Path, m.Of, err)
	}
	if perm != nil {
		labels := make([]int32, len(d.Labels))
		for i, l := range d.Labels {
			if int(l) >= len(perm) {
				return "", fmt.Errorf("classes of %s: %w: sample %d has label %d, but the file names %d classes", d.Path, ErrBadData, i, l, len(perm))
			}
			labels[i] = int32(perm[l])
		}
		d.Labels = labels
	}
	switch {
	case numbers(d.ClassNames) != nil && (len(m.Names) == 0 || (numbers(m.Names) != nil && isIdentity(numbers(m.Names)))):
		// The numbers are the model's classes; name them all (also when the last ones are
		// missing from the data), so that reports list them and a model trained on them
		// records every class.
		d.ClassNames = make([]string, m.N)
		for k := range d.ClassNames {
			d.ClassNames[k] = strconv.Itoa(k)
		}
	case len(m.Names) == m.N:
		d.ClassNames = slices.Clone(m.Names)
	}
	return note, nil
}

// classPermutation returns the model class of each of d's classes (nil: the same numbers) and
// the note to print.
func (d *Dataset) classPermutation(m ModelClasses) ([]int, string, error) {
	dataNums, modelNums := numbers(d.ClassNames), numbers(m.Names)
	if dataNums != nil && modelNums != nil && isIdentity(modelNums) {
		// A model numbered 0..k-1 (a student trained on folders 0 to k-1, which may record fewer
		// names than its classes) names nothing beyond the numbers: the data's numbers are its
		// classes.
		modelNums = nil
	}
	switch {
	case len(d.ClassNames) == 0 && modelNums != nil && isIdentity(modelNums):
		return nil, "", nil
	case len(d.ClassNames) == 0 && modelNums != nil:
		// Numeric labels against a model whose classes are numbers in another order (a
		// scikit-learn ZipMap's keys 1, 2, 3): the label is the number.
		// The permutation covers the model's numbers only, so a corrupt label (2147483647)
		// allocates nothing.
		pos := make(map[int]int, len(modelNums))
		for k, v := range modelNums {
			pos[v] = k
		}
		perm := make([]int, slices.Max(modelNums)+1)
		for v := range perm {
			j, ok := pos[v]
			if !ok {
				j = -1
			}
			perm[v] = j
		}
		for i, l := range d.Labels {
			if int(l) >= len(perm) || perm[l] < 0 {
				return nil, "", fmt.Errorf("%w: sample %d (from 0) has label %d, which is not one of the classes %s knows (%s)", ErrBadData, i, l, m.Of, strings.Join(m.Names, ", "))
			}
		}
		return perm, fmt.Sprintf("labels of %s matched by number to the classes of %s", d.Path, m.Of), nil
	case len(d.ClassNames) == 0:
		// Numeric labels against a model that names its classes.
		return nil, fmt.Sprintf("%s has numbered labels and %s names its classes: label k is taken as its class k (0 is %q)", d.Path, m.Of, m.Names[0]), nil
	case named(d.ClassNames) && named(m.Names):
		pos := make(map[string]int, len(m.Names))
		for k, n := range m.Names {
			pos[n] = k
		}
		perm := make([]int, len(d.ClassNames))
		for k, n := range d.ClassNames {
			j, ok := pos[n]
			if !ok {
				return nil, "", fmt.Errorf("%w: class %q of the data is not one of the %d classes %s knows (%s)", ErrBadData, n, len(m.Names), m.Of, quoteList(m.Names))
			}
			perm[k] = j
		}
		if isIdentity(perm) {
			return nil, "", nil
		}
		return perm, fmt.Sprintf("classes of %s matched by name to those of %s", d.Path, m.Of), nil
	case dataNums != nil && modelNums != nil:
		// Numbers on both sides (a model's ZipMap keys): matched by value.
		pos := make(map[int]int, len(modelNums))
		for k, v := range modelNums {
			pos[v] = k
		}
		perm := make([]int, len(dataNums))
		for k, v := range dataNums {
			j, ok := pos[v]
			if !ok {
				return nil, "", fmt.Errorf("%w: class %q of the data is not one of the %d classes %s knows (%s)", ErrBadData, d.ClassNames[k], len(m.Names), m.Of, quoteList(m.Names))
			}
			perm[k] = j
		}
		if isIdentity(perm) {
			return nil, "", nil
		}
		return perm, fmt.Sprintf("classes of %s matched by number to those of %s", d.Path, m.Of), nil
	case dataNums != nil:
		// Class folders named by number: the number is the class.
		for k, v := range dataNums {
			if v >= m.N {
				return nil, "", fmt.Errorf("%w: class %q of the data is a number past the %d classes of %s", ErrBadData, d.ClassNames[k], m.N, m.Of)
			}
		}
		if isIdentity(dataNums) {
			return nil, "", nil
		}
		return dataNums, fmt.Sprintf("the classes of %s are named by number (%s): each is taken as that class of %s", d.Path, strings.Join(d.ClassNames, ", "), m.Of), nil
	case named(d.ClassNames) && modelNums != nil && !isIdentity(modelNums):
		return nil, "", fmt.Errorf("%w: the data names its classes (%s) and %s numbers them (%s): which is which is unknown; give the data numeric labels", ErrBadData, quoteList(d.ClassNames), m.Of, strings.Join(m.Names, ", "))
	}
	// The data names its classes by words; the model has no names (or names 0..N-1).
	if len(d.ClassNames) != m.N {
		return nil, "", fmt.Errorf("%w: the data names %d classes (%s), %s has %d and records no names: which is which is unknown; give the data numeric labels (the model's class numbers), or use a model exported by distill from data with these names", ErrBadData, len(d.ClassNames), quoteList(d.ClassNames), m.Of, m.N)
	}
	return nil, fmt.Sprintf("%s records no class names: the classes of %s, in sorted order, are taken as its classes 0 to %d (0 is %q)", m.Of, d.Path, m.N-1, d.ClassNames[0]), nil
}

// isIdentity reports whether perm maps every k to k.
func isIdentity(perm []int) bool {
	for k, v := range perm {
		if v != k {
			return false
		}
	}
	return true
}

// SameClasses returns an error when a and b both name their classes by words and the names
// differ: their outputs cannot be compared class by class.
func SameClasses(a, b ModelClasses) error {
	if named(a.Names) && named(b.Names) && !slices.Equal(a.Names, b.Names) {
		return fmt.Errorf("%s names its classes %s, but %s names them %s: their outputs are not the same classes in the same order", a.Of, quoteList(a.Names), b.Of, quoteList(b.Names))
	}
	return nil
}

// AlignTo numbers d's labels as the sources number the classes — the models a run scores, starts
// from or learns from — for a model of n classes: the first source that names its classes gives
// the numbering (the first source when none does), every other source that names its classes
// must name them the same (SameClasses), and AlignClasses does the rest. No sources: nothing to
// do. It returns AlignClasses' note.
func (d *Dataset) AlignTo(n int, sources ...ModelClasses) (string, error) {
	if len(sources) == 0 {
		return "", nil
	}
	num := sources[0]
	for _, s := range sources[1:] {
		if len(num.Names) == 0 && len(s.Names) > 0 {
			num = s
		}
	}
	for _, s := range sources {
		if err := SameClasses(num, s); err != nil {
			return "", err
		}
	}
	num.N = n
	return d.AlignClasses(num)
}
