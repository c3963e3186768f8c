package dataset

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// csvCase is one CSV file of TestOpenCSV: its name and text, the Source fields beyond Data, and
// what Open must give.
type csvCase struct {
	name, file, text string
	src              Source
	shape            []int
	x                []float32
	labels           []int32
	classNames       []string
}

func csvCases(t testing.TB) []csvCase {
	t.Helper()
	return []csvCase{
		{name: "label last", file: "a.csv", text: "a,b,label\n1,2.5,0\n-3,4e2,2\n",
			shape: []int{2}, x: []float32{1, 2.5, -3, 400}, labels: []int32{0, 2}},
		{name: "no label column", file: "a.csv", text: "a,b\n1,2\n3,4\n5,6\n",
			shape: []int{2}, x: []float32{1, 2, 3, 4, 5, 6}},
		{name: "label names in the middle", file: "a.csv", text: "x,species,y\n1,virginica,2\n3,setosa,4\n5,virginica,6\n",
			src: Source{LabelColumn: "species"}, shape: []int{2}, x: []float32{1, 2, 3, 4, 5, 6},
			labels: []int32{1, 0, 1}, classNames: []string{"setosa", "virginica"}},
		{name: "feature columns chosen and ordered", file: "a.csv", text: "id,a,b,c,label\nq7,1,2,3,1\nr8,4,5,6,0\n",
			src: Source{FeatureColumns: []string{"c", "a"}}, shape: []int{2}, x: []float32{3, 1, 6, 4}, labels: []int32{1, 0}},
		{name: "float labels that are integers", file: "a.csv", text: "a,label\n1,1.0\n2,3\n",
			shape: []int{1}, x: []float32{1, 2}, labels: []int32{1, 3}},
		{name: "quotes, CRLF, BOM, spaces, blank line", file: "b.CSV",
			text: "\uFEFF\"a\",\"the label\",\"b, c\"\r\n\"1\", \"cat\",2\r\n\r\n3,\"dog\",\" 4 \"\r\n",
			src:  Source{LabelColumn: "the label"}, shape: []int{2}, x: []float32{1, 2, 3, 4},
			labels: []int32{0, 1}, classNames: []string{"cat", "dog"}},
		{name: "gzip", file: "c.csv.gz", text: string(gz(t, []byte("a,label\n1,0\n2,1\n"))),
			shape: []int{1}, x: []float32{1, 2}, labels: []int32{0, 1}},
		{name: "scikit-learn header", file: "iris.csv", text: "3,2,setosa,versicolor,virginica\n5.1,3.5,0\n7,3.2,1\n6.3,3.3,2\n",
			src: Source{Header: HeaderSklearn}, shape: []int{2}, x: []float32{5.1, 3.5, 7, 3.2, 6.3, 3.3},
			labels: []int32{0, 1, 2}, classNames: []string{"setosa", "versicolor", "virginica"}},
		{name: "scikit-learn header without names", file: "b.csv", text: "2,1,,,\n0.5,1\n0.25,0\n",
			src: Source{Header: HeaderSklearn}, shape: []int{1}, x: []float32{0.5, 0.25}, labels: []int32{1, 0}},
		{name: "no header", file: "digits.csv", text: "0,1,2,5\n3,4,5,7\n",
			src: Source{Header: HeaderNone, LabelColumn: "3"}, shape: []int{3}, x: []float32{0, 1, 2, 3, 4, 5}, labels: []int32{5, 7}},
		{name: "numbers as names", file: "years.csv", text: "2019,2020,label\n1,2,0\n",
			shape: []int{2}, x: []float32{1, 2}, labels: []int32{0}},
		{name: "no header, no labels", file: "d.csv", text: "0,1\n",
			src: Source{Header: HeaderNone}, shape: []int{2}, x: []float32{0, 1}},
	}
}

func TestOpenCSV(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range csvCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			src.Data = writeFile(t, dir, tt.file, []byte(tt.text))
			ds, err := Open(src)
			if err != nil {
				t.Fatal(err)
			}
			if !cmp.Equal(ds.Shape, tt.shape) || ds.N != len(tt.x)/tt.shape[0] || ds.DType != "float64" {
				t.Errorf("N=%d shape=%v dtype=%s, want %d %v float64", ds.N, ds.Shape, ds.DType, len(tt.x)/tt.shape[0], tt.shape)
			}
			// Every value of the cases is the float32 nearest its decimal text, as
			// float32(strconv.ParseFloat(s, 64)) gives: compared exactly.
			if diff := cmp.Diff(tt.x, ds.X); diff != "" {
				t.Errorf("X (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.labels, ds.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.classNames, ds.ClassNames); diff != "" {
				t.Errorf("class names (-want +got):\n%s", diff)
			}
			if sum, _ := FileSHA256(src.Data); ds.SHA256 != sum || ds.Path != src.Data || ds.LabelsPath != "" {
				t.Errorf("sha256 %s path %s labels path %q", ds.SHA256, ds.Path, ds.LabelsPath)
			}
			if ds.DefaultScale() != 1 {
				t.Errorf("DefaultScale() = %v, want 1 for CSV", ds.DefaultScale())
			}
		})
	}
}

// csvErrorCase is one bad CSV file or source of TestOpenCSVErrors; want are the parts the error
// must hold (the file's name always).
type csvErrorCase struct {
	name, text string
	src        Source
	want       []string
	is         error
}

func csvErrorCases() []csvErrorCase {
	// Like scikit-learn's iris.csv, whose 4 features and label are as many as the header's
	// fields: read as names, it fits until the sample count is checked.
	iris := "2,3,setosa,versicolor\n5.1,3.5,1.4,0\n7,3.2,4.7,1\n"
	return []csvErrorCase{
		{"not a number", "a,b\n1,2\n3,x\n", Source{}, []string{`line 3, column "b": "x" is not a number`}, ErrBadData},
		{"missing value", "a,b\n1,\n", Source{}, []string{`line 2, column "b": missing value`}, ErrBadData},
		{"NaN", "a,b\n1,NaN\n", Source{}, []string{`line 2, column "b": "NaN" is not a finite number`}, ErrBadData},
		{"too large for float32", "a,b\n1,1e39\n", Source{}, []string{`column "b": "1e39" is out of the range of float32`}, ErrBadData},
		{"out of range", "a,b\n1,1e999\n", Source{}, []string{`"1e999" is out of range`}, ErrBadData},
		{"quoted value over two lines", "a,b\n1,\"2\n3\"\n", Source{}, []string{`line 2, column "b": "2\n3" is not a number`}, ErrBadData},
		{"field count", "a,b,c\n1,2,3\n4,5\n", Source{}, []string{"line 3: 2 fields, want 3 as the header has"}, ErrBadData},
		{"bad quote", "a,b\n1,\"2\n", Source{}, []string{"line 2", "extraneous or missing \" in quoted-field"}, ErrBadData},
		{"label column not in header", "a,b\n1,2\n", Source{LabelColumn: "y"}, []string{`no label column "y": the header has "a", "b"`}, ErrBadData},
		{"feature column not in header", "a,b\n1,2\n", Source{FeatureColumns: []string{"a", "z"}}, []string{`no feature column "z": the header has "a", "b"`}, ErrBadData},
		{"feature is the label", "a,label\n1,2\n", Source{FeatureColumns: []string{"label"}}, []string{`column "label" is the label column`}, ErrBadData},
		{"feature twice", "a,b\n1,2\n", Source{FeatureColumns: []string{"a", "a"}}, []string{`feature column "a" is given twice`}, ErrBadData},
		{"ambiguous column", "a,a,label\n1,2,0\n", Source{FeatureColumns: []string{"a"}}, []string{`feature column "a" appears twice in the header`}, ErrBadData},
		{"no features", "label\n1\n", Source{}, []string{`no feature columns: the header has "label"`}, ErrBadData},
		{"negative label", "a,label\n1,0\n2,-1\n", Source{}, []string{`line 3, column "label": label "-1" is negative`}, ErrBadData},
		{"fractional label", "a,label\n1,0.5\n", Source{}, []string{`line 2, column "label": label "0.5" is not an integer`}, ErrBadData},
		{"huge label", "a,label\n1,3e9\n", Source{}, []string{`label "3e9" is too large`}, ErrBadData},
		{"missing label", "a,label\n1,cat\n2,\n", Source{}, []string{`line 3, column "label": missing label`}, ErrBadData},
		{"names after numbers", "a,label\n1,0\n2,cat\n", Source{}, []string{`line 3, column "label": label "cat" is not a number, but the label on line 2 ("0") is`}, ErrBadData},
		{"numbers after names", "a,label\n1,cat\n2,7\n", Source{}, []string{`line 3, column "label": label "7" is a number, but the label on line 2 ("cat") is not`}, ErrBadData},
		{"empty file", "", Source{}, []string{"empty file: no header line"}, ErrBadData},
		{"header only", "a,label\n", Source{}, []string{"empty dataset (0 samples)"}, ErrBadData},
		{"scikit-learn sample count", "3,2,a,b\n1,2,0\n", Source{Header: HeaderSklearn}, []string{"the header says 3 samples, the file has 1"}, ErrBadData},
		{"scikit-learn label range", "1,1,a,b\n1,2\n", Source{Header: HeaderSklearn}, []string{`line 2, column "label": label "2", but the header names 2 classes`}, ErrBadData},
		{"scikit-learn header", "x,2,a\n1,2,0\n", Source{Header: HeaderSklearn}, []string{`scikit-learn header "x,2,a": the counts are not non-negative integers`}, ErrBadData},
		{"scikit-learn label names", "1,1\n1,cat\n", Source{Header: HeaderSklearn}, []string{"labels are names, but a scikit-learn file holds class indices"}, ErrBadData},
		{"scikit-learn column", "1,1\n1,0\n", Source{Header: HeaderSklearn, FeatureColumns: []string{"a"}}, []string{`no feature column "a": the scikit-learn header gives 1 feature columns, named "0" to "0", and "label"`}, ErrBadData},
		{"no-header column", "1,2\n", Source{Header: HeaderNone, LabelColumn: "label"}, []string{`no label column "label": the file has no header and 2 columns, named "0" to "1"`}, ErrBadData},
		{"scikit-learn header read as names", iris, Source{}, []string{`2 samples of 4 columns (the first line "2,3,setosa,versicolor" looks like scikit-learn's`, "sklearn header form"}, ErrBadData},
		{"numeric names that only nearly fit scikit-learn's form", "2,3,a,b\n1,2,3,0\n", Source{}, nil, nil},
		{"scikit-learn header of wine read as names", "1,3,a,b,c\n1,2,3,0\n", Source{}, []string{"line 2: 4 fields, want 5 as the header has (the first line", "sklearn header form"}, ErrBadData},
		{"a row of data read as names", "0,0,5,13\n1,2,3,4\n", Source{}, []string{`the first line "0,0,5,13" looks like a row of numbers, not column names: read the file with the none header form`}, ErrBadData},
		{"labels file with CSV", "a\n1\n", Source{Labels: "labels.npy"}, []string{"a labels file (labels.npy) is not allowed with CSV data"}, ErrBadSource},
		{"unknown header form", "a\n1\n", Source{Header: "pandas"}, []string{`unknown CSV header form "pandas": want names, sklearn or none`}, ErrBadSource},
		{"gzip cut short", string(gzipPrefix), Source{}, []string{"gzip"}, ErrBadData},
	}
}

// gzipPrefix is the start of a gzip stream, cut short.
var gzipPrefix = []byte{0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff}

func TestOpenCSVErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range csvErrorCases() {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			src.Data = writeFile(t, dir, "bad.csv", []byte(tt.text))
			_, err := Open(src)
			if tt.is == nil { // a header that fits scikit-learn's form and the rows: read as names
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tt.want, filepath.Join(dir, "bad.csv")) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v\nwant it to hold %q", err, w)
				}
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("err does not wrap %v: %v", tt.is, err)
			}
			if testing.Verbose() {
				t.Log(err)
			}
		})
	}
}

// fuzzForms are the header forms FuzzReadCSV picks from by its form argument.
var fuzzForms = []string{HeaderNames, HeaderSklearn, HeaderNone}

// FuzzReadCSV feeds arbitrary bytes to the CSV reader, read with one of the header forms and a
// label column (empty for the default): it must return an error wrapping ErrBadData or a table
// whose sizes agree, and never panic.
func FuzzReadCSV(f *testing.F) {
	for _, tt := range csvCases(f) {
		f.Add([]byte(tt.text), uint8(slicesIndex(fuzzForms, tt.src.Header)), tt.src.LabelColumn)
	}
	for _, tt := range csvErrorCases() {
		f.Add([]byte(tt.text), uint8(slicesIndex(fuzzForms, tt.src.Header)), tt.src.LabelColumn)
	}
	f.Fuzz(func(t *testing.T, b []byte, form uint8, label string) {
		tab, err := readCSV(b, Source{Header: fuzzForms[int(form)%len(fuzzForms)], LabelColumn: label})
		if err != nil {
			if !errors.Is(err, ErrBadData) {
				t.Errorf("error does not wrap ErrBadData: %v", err)
			}
			return
		}
		if tab.n < 1 || tab.f < 1 || len(tab.x) != tab.n*tab.f {
			t.Fatalf("%d values for %d samples of %d features", len(tab.x), tab.n, tab.f)
		}
		if tab.labels != nil && len(tab.labels) != tab.n {
			t.Fatalf("%d labels for %d samples", len(tab.labels), tab.n)
		}
		for i, l := range tab.labels {
			if l < 0 || (tab.classNames != nil && int(l) >= len(tab.classNames)) {
				t.Fatalf("label %d of sample %d, with %d class names", l, i, len(tab.classNames))
			}
		}
	})
}

// slicesIndex returns the index of s in forms, 0 (names) when it is not there.
func slicesIndex(forms []string, s string) int {
	for i, f := range forms {
		if f == s {
			return i
		}
	}
	return 0
}

// TestCheckLabels: a label that is not a class of the model is an error naming the file the
// labels are in (the CSV data file itself, else the labels file), the line of a CSV file (after
// its header and a blank line) or the index of the sample, and the label as the file writes it.
func TestCheckLabels(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file, text string
		labels           string // a labels file's name, written as IDX from the text's labels
		want             string // "" when the labels fit 3 classes
	}{
		{"csv numbers", "n.csv", "x,label\n1,0\n\n2,1\n3,3\n", "", `labels $DIR/n.csv: line 5 has label 3, but the model has 3 classes (0..2)`},
		{"csv names", "c.csv", "x,label\n1,ant\n2,bee\n3,cat\n4,dog\n", "", `labels $DIR/c.csv: line 5 has label "dog" (class 3 of the 4 it names), but the model has 3 classes (0..2)`},
		{"csv fits", "ok.csv", "x,label\n1,0\n2,2\n", "", ""},
		{"idx", "x.idx", "", "y.idx", `labels $DIR/y.idx: sample 2 (from 0) has label 3, but the model has 3 classes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := Source{}
			if tc.labels == "" {
				src.Data = writeFile(t, dir, tc.file, []byte(tc.text))
			} else {
				src.Data = writeFile(t, dir, tc.file, []byte{0, 0, 0x08, 2, 0, 0, 0, 3, 0, 0, 0, 1, 5, 6, 7})
				src.Labels = writeFile(t, dir, tc.labels, []byte{0, 0, 0x08, 1, 0, 0, 0, 3, 0, 1, 3})
			}
			ds, err := Open(src)
			if err != nil {
				t.Fatal(err)
			}
			err = ds.CheckLabels(3)
			want := strings.ReplaceAll(tc.want, "$DIR", dir)
			switch {
			case want == "" && err != nil:
				t.Fatalf("CheckLabels: %v", err)
			case want != "" && (!errors.Is(err, ErrBadLabel) || !strings.Contains(err.Error(), want)):
				t.Fatalf("CheckLabels: %v, want an error containing %q", err, want)
			}
		})
	}
}
