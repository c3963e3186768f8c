package eval

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/distillgo/distill/pipeline/dataset"
)

func TestChoosePreprocess(t *testing.T) {
	scale1 := 1.0
	stored := `{"scale":255,"mean":[0.5],"std":[0.5],"input_shape":[1,28,28]}`
	tests := []struct {
		name     string
		pre      *dataset.Preprocess
		override dataset.PreprocessOverride
		stored   string
		want     dataset.Preprocess
		wantErr  string
	}{
		{name: "stored", stored: stored,
			want: dataset.Preprocess{Scale: 255, Mean: []float64{0.5}, Std: []float64{0.5}, InputShape: []int{1, 28, 28}, ScaleFrom: "model m.onnx"}},
		{name: "one flag keeps the other stored fields", stored: stored, override: dataset.PreprocessOverride{InputShape: []int{784}},
			want: dataset.Preprocess{Scale: 255, Mean: []float64{0.5}, Std: []float64{0.5}, InputShape: []int{784}, ScaleFrom: "model m.onnx"}},
		{name: "scale and mean", stored: stored, override: dataset.PreprocessOverride{Scale: &scale1, Mean: []float64{0.1}},
			want: dataset.Preprocess{Scale: 1, Mean: []float64{0.1}, Std: []float64{0.5}, InputShape: []int{1, 28, 28}}},
		{name: "Preprocess replaces the stored one", stored: stored, pre: &dataset.Preprocess{Scale: 2},
			want: dataset.Preprocess{Scale: 2}},
		{name: "override over Preprocess", stored: stored, pre: &dataset.Preprocess{Scale: 2}, override: dataset.PreprocessOverride{Std: []float64{3}},
			want: dataset.Preprocess{Scale: 2, Std: []float64{3}}},
		{name: "nothing stored, flags", override: dataset.PreprocessOverride{Mean: []float64{0.5}},
			want: dataset.Preprocess{Mean: []float64{0.5}}}, // scale: the data's, by ForData
		{name: "nothing stored, no flags", want: dataset.Preprocess{}},
		{name: "bad metadata", stored: "{", wantErr: "preprocessing metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := choosePreprocess(Options{Model: "m.onnx", Preprocess: tt.pre, PreprocessOverride: tt.override}, tt.stored)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("preprocessing (-want +got):\n%s", diff)
			}
		})
	}
}
