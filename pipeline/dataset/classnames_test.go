package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOpenClassNames: names given for array labels are the data's class names; too few for the
// labels, repeated or empty names, names for CSV data, an image folder or data without labels
// are refused, naming the file.
func TestOpenClassNames(t *testing.T) {
	dir := filepath.Join("testdata", "data")
	data, labels := filepath.Join(dir, "images-idx3-ubyte.gz"), filepath.Join(dir, "labels-idx1-ubyte.gz") // labels 0, 9, 3
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	ds, err := Open(Source{Data: data, Labels: labels, ClassNames: names})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.ClassNames, names) {
		t.Errorf("ClassNames = %v, want %v", ds.ClassNames, names)
	}
	csvFile := filepath.Join(t.TempDir(), "d.csv")
	if err := os.WriteFile(csvFile, []byte("x,label\n1,0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		src  Source
		want string
		err  error
	}{
		{"too few", Source{Data: data, Labels: labels, ClassNames: names[:9]}, "label 9 of sample 1 is past the 9 class names", ErrBadData},
		{"repeated", Source{Data: data, Labels: labels, ClassNames: []string{"a", "b", "a"}}, `class name "a" given twice`, ErrBadSource},
		{"empty", Source{Data: data, Labels: labels, ClassNames: []string{"a", " "}}, "class name 1 is empty", ErrBadSource},
		{"no labels", Source{Data: data, ClassNames: names}, "class names without a labels file", ErrBadSource},
		{"csv", Source{Data: csvFile, ClassNames: names}, "a CSV file names its classes", ErrBadSource},
		{"image folder", Source{Data: t.TempDir(), ClassNames: names}, "an image folder's class folders name its classes", ErrBadSource},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.err) || !strings.Contains(err.Error(), filepath.Base(tc.src.Data)) && tc.name != "too few" {
				t.Errorf("Open: %v, want an error (%v) saying %q and naming the file", err, tc.err, tc.want)
			}
		})
	}
}
