package train

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/internal/synth"
)

// writeSubset writes the samples of data and labels whose label keep accepts to new IDX files
// in dir and returns their paths.
func writeSubset(t *testing.T, dir, data, labels string, keep func(int32) bool) (string, string) {
	t.Helper()
	ds, err := dataset.Load(data, labels)
	if err != nil {
		t.Fatal(err)
	}
	D := ds.SampleSize()
	var x, y []uint8
	for i, l := range ds.Labels {
		if keep(l) {
			for _, v := range ds.X[i*D : (i+1)*D] {
				x = append(x, uint8(v))
			}
			y = append(y, uint8(l))
		}
	}
	sub, subLabels := filepath.Join(dir, "subset-images.idx"), filepath.Join(dir, "subset-labels.idx")
	synth.WriteIDX(t, sub, append([]int{len(y)}, ds.Shape...), x)
	synth.WriteIDX(t, subLabels, []int{len(y)}, y)
	return sub, subLabels
}

// TestTrainClassFilters: training with a class filter gives exactly the weights of training on a
// copy of the data without the filtered samples (same seed: the permutation, jitter and dropout
// draw the same numbers), in each mode, and the provenance and the log count the samples kept.
func TestTrainClassFilters(t *testing.T) {
	f := synth.NewFixture(t, 240, 0.2)
	full := filepath.Join(f.Dir, "full.safetensors")
	synth.WriteSoftTargets(t, full, f.Data, 2, synth.Classes)
	tests := []struct {
		name          string
		exclude, only []int
		keep          func(int32) bool
		mode          func(o *testOpts, data string)
	}{
		{"hard labels without class 1", []int{1}, nil, func(y int32) bool { return y != 1 },
			func(o *testOpts, _ string) { o.Jitter = 1 }},
		{"offline ensemble, only classes 0 and 2", nil, []int{0, 2}, func(y int32) bool { return y != 1 },
			func(o *testOpts, data string) {
				o.SoftTargets = full
				if data != f.Data {
					o.SoftTargets = filepath.Join(filepath.Dir(data), "subset.safetensors")
					synth.WriteSoftTargets(t, o.SoftTargets, data, 2, synth.Classes)
				}
			}},
		{"online, only class 2", nil, []int{2}, func(y int32) bool { return y == 2 },
			func(o *testOpts, _ string) { o.Teacher, o.Jitter = &synth.RowTeacher{C: synth.Classes, Gain: 8}, 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts(f, "filtered.ckpt")
			o.Epochs, o.Overwrite = 2, true
			o.ExcludeClasses, o.OnlyClasses = tt.exclude, tt.only
			tt.mode(&o, f.Data)
			var log strings.Builder
			if _, err := o.train(context.Background(), &log); err != nil {
				t.Fatal(err)
			}
			ck, prov := loadProvenance(t, o.Checkpoint)

			dir := t.TempDir()
			sub, subLabels := writeSubset(t, dir, f.Data, f.Labels, tt.keep)
			r := opts(f, "subset.ckpt")
			r.Epochs, r.Overwrite = 2, true
			r.Data, r.Labels = sub, subLabels
			tt.mode(&r, sub)
			if _, err := r.train(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			ref, _ := loadProvenance(t, r.Checkpoint)
			if d := cmp.Diff(ref.Params, ck.Params); d != "" {
				t.Errorf("filtered run differs from the run on the filtered copy:\n%s", d)
			}
			kept := 0
			for _, y := range f.Y {
				if tt.keep(int32(y)) {
					kept++
				}
			}
			if prov.DataKept != kept || prov.DataN != len(f.Y) || !slices.Equal(prov.ExcludeClasses, tt.exclude) || !slices.Equal(prov.OnlyClasses, tt.only) {
				t.Errorf("provenance kept %d of %d, exclude %v, only %v: want %d of %d", prov.DataKept, prov.DataN, prov.ExcludeClasses, prov.OnlyClasses, kept, len(f.Y))
			}
			if want := "training on " + strconv.Itoa(kept) + " of 240 samples"; !strings.Contains(log.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, log.String())
			}
		})
	}
}

func TestTrainClassFilterErrors(t *testing.T) {
	f := synth.NewFixture(t, 60, 0)
	tests := []struct {
		name          string
		exclude, only []int
		noLabels      bool
		option, want  string
	}{
		{"both", []int{1}, []int{2}, false, "OnlyClasses", "choose one"},
		{"out of range", []int{3}, nil, false, "ExcludeClasses", "class 3 outside [0, 3)"},
		{"only out of range", nil, []int{0, 7}, false, "OnlyClasses", "class 7 outside"},
		{"twice", []int{1, 1}, nil, false, "ExcludeClasses", "given twice"},
		{"negative", nil, []int{-1}, false, "OnlyClasses", "negative"},
		{"everything excluded", []int{0, 1, 2}, nil, false, "ExcludeClasses", "no sample"},
		{"no labels", []int{0}, nil, true, "ExcludeClasses", "needs the labels"},
	}
	soft := filepath.Join(f.Dir, "soft.safetensors")
	synth.WriteSoftTargets(t, soft, f.Data, 1, synth.Classes)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts(f, "x.ckpt")
			o.Epochs = 1
			o.ExcludeClasses, o.OnlyClasses = tt.exclude, tt.only
			if tt.noLabels {
				o.Labels, o.SoftTargets = "", soft
			}
			_, err := o.train(context.Background(), nil)
			var oe *OptionError
			if !errors.As(err, &oe) || oe.Option != tt.option || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v: want an OptionError on %s with %q", err, tt.option, tt.want)
			}
		})
	}
}
