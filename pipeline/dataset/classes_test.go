package dataset

import (
	"slices"
	"strings"
	"testing"
)

func TestAlignClasses(t *testing.T) {
	iris := []string{"setosa", "versicolor", "virginica"}
	digits := []string{"0", "1", "2", "3"}
	for _, tc := range []struct {
		name       string
		dataNames  []string
		labels     []int32
		model      ModelClasses
		want       []int32  // labels after
		wantNames  []string // class names after
		note, fail string   // substrings of the note and of the error ("" for none)
	}{
		{name: "same names", dataNames: iris, labels: []int32{0, 1, 2},
			model: ModelClasses{N: 3, Names: iris}, want: []int32{0, 1, 2}, wantNames: iris},
		{name: "a class missing from the data", dataNames: iris[1:], labels: []int32{0, 1, 1},
			model: ModelClasses{N: 3, Names: iris}, want: []int32{1, 2, 2}, wantNames: iris, note: "matched by name"},
		{name: "a class the model does not know", dataNames: []string{"setosa", "tulip"}, labels: []int32{0, 1},
			model: ModelClasses{N: 3, Names: iris}, fail: `class "tulip" of the data is not one of the 3 classes`},
		{name: "folders named by number, one missing", dataNames: []string{"1", "2", "3"}, labels: []int32{0, 1, 2},
			model: ModelClasses{N: 4}, want: []int32{1, 2, 3}, wantNames: digits, note: "named by number"},
		{name: "folders named by number, all there", dataNames: digits, labels: []int32{0, 3},
			model: ModelClasses{N: 4}, want: []int32{0, 3}, wantNames: digits},
		{name: "a numbered folder past the model's classes", dataNames: []string{"1", "7"}, labels: []int32{0, 1},
			model: ModelClasses{N: 4}, fail: `class "7" of the data is a number past the 4 classes`},
		{name: "folders named by number, the last missing", dataNames: []string{"0", "1"}, labels: []int32{0, 1},
			model: ModelClasses{N: 4}, want: []int32{0, 1}, wantNames: digits},
		{name: "numbered folders against a model recording fewer numbers", dataNames: digits, labels: []int32{3},
			model: ModelClasses{N: 4, Names: []string{"0", "1", "2"}}, want: []int32{3}, wantNames: digits},
		{name: "a corrupt label against a model's numbers", labels: []int32{2147483647},
			model: ModelClasses{N: 3, Names: []string{"1", "2", "3"}}, fail: "has label 2147483647, which is not one of the classes"},
		{name: "numbered folders against named model", dataNames: []string{"2"}, labels: []int32{0},
			model: ModelClasses{N: 3, Names: iris}, want: []int32{2}, wantNames: iris, note: "named by number"},
		{name: "numbers against a model's numbers (ZipMap keys)", dataNames: []string{"3", "5"}, labels: []int32{0, 1},
			model: ModelClasses{N: 3, Names: []string{"1", "3", "5"}}, want: []int32{1, 2}, wantNames: []string{"1", "3", "5"}, note: "by number"},
		{name: "numeric labels against a named model", labels: []int32{2, 0},
			model: ModelClasses{N: 3, Names: iris}, want: []int32{2, 0}, wantNames: iris, note: `label k is taken as its class k (0 is "setosa")`},
		{name: "numeric labels against a model numbered 0..N-1", labels: []int32{2, 0},
			model: ModelClasses{N: 3, Names: []string{"0", "1", "2"}}, want: []int32{2, 0}, wantNames: []string{"0", "1", "2"}},
		{name: "numeric labels against a model's numbers (ZipMap keys)", labels: []int32{3, 1},
			model: ModelClasses{N: 3, Names: []string{"1", "2", "3"}}, want: []int32{2, 0}, wantNames: []string{"1", "2", "3"}, note: "by number"},
		{name: "a numeric label the model's numbers lack", labels: []int32{0},
			model: ModelClasses{N: 3, Names: []string{"1", "2", "3"}}, fail: "has label 0, which is not one of the classes"},
		{name: "names against an unnamed model of as many classes", dataNames: iris, labels: []int32{1},
			model: ModelClasses{N: 3}, want: []int32{1}, wantNames: iris, note: "records no class names"},
		{name: "names against an unnamed model of more classes", dataNames: iris[1:], labels: []int32{1},
			model: ModelClasses{N: 3}, fail: "which is which is unknown"},
		{name: "names against a model numbered otherwise", dataNames: iris, labels: []int32{1},
			model: ModelClasses{N: 3, Names: []string{"1", "2", "3"}}, fail: "which is which is unknown"},
		{name: "no names anywhere", labels: []int32{1}, model: ModelClasses{N: 3}, want: []int32{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &Dataset{Path: "d.csv", ClassNames: slices.Clone(tc.dataNames), Labels: slices.Clone(tc.labels)}
			tc.model.Of = "model m.onnx"
			note, err := d.AlignClasses(tc.model)
			if tc.fail != "" {
				if err == nil || !strings.Contains(err.Error(), tc.fail) {
					t.Fatalf("error %v, want one containing %q", err, tc.fail)
				}
				if !strings.Contains(err.Error(), "d.csv") || !strings.Contains(err.Error(), "m.onnx") {
					t.Errorf("error %q names neither the data nor the model", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(d.Labels, tc.want) || !slices.Equal(d.ClassNames, tc.wantNames) {
				t.Errorf("labels %v names %v, want %v %v", d.Labels, d.ClassNames, tc.want, tc.wantNames)
			}
			if (tc.note == "") != (note == "") || !strings.Contains(note, tc.note) {
				t.Errorf("note %q, want one containing %q", note, tc.note)
			}
		})
	}
}

func TestSameClasses(t *testing.T) {
	a := ModelClasses{Of: "model a", Names: []string{"cat", "dog"}}
	if err := SameClasses(a, ModelClasses{Of: "teacher b", Names: []string{"dog", "cat"}}); err == nil || !strings.Contains(err.Error(), "teacher b") {
		t.Errorf("reordered names: %v", err)
	}
	for _, b := range [][]string{nil, {"0", "1"}, {"cat", "dog"}} {
		if err := SameClasses(a, ModelClasses{Of: "b", Names: b}); err != nil {
			t.Errorf("names %v: %v", b, err)
		}
	}
}

// TestAlignTo: the first source that names its classes numbers them (an unnamed model scored
// beside a named teacher follows the teacher), and sources that name them otherwise are refused.
func TestAlignTo(t *testing.T) {
	abc, cba := []string{"a", "b", "c"}, []string{"c", "b", "a"}
	d := &Dataset{Path: "d", ClassNames: abc, Labels: []int32{0, 1, 2}}
	if _, err := d.AlignTo(3, ModelClasses{Of: "model m"}, ModelClasses{Of: "teacher t", Names: cba}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Labels, []int32{2, 1, 0}) || !slices.Equal(d.ClassNames, cba) {
		t.Errorf("labels %v names %v, want the teacher's numbering", d.Labels, d.ClassNames)
	}
	d = &Dataset{Path: "d", ClassNames: abc, Labels: []int32{0}}
	if _, err := d.AlignTo(3, ModelClasses{Of: "model m", Names: abc}, ModelClasses{Of: "teacher t", Names: cba}); err == nil || !strings.Contains(err.Error(), "teacher t") {
		t.Errorf("two numberings: %v", err)
	}
	if note, err := d.AlignTo(3); note != "" || err != nil || d.Labels[0] != 0 {
		t.Errorf("no sources: %q %v %v", note, err, d.Labels)
	}
}
