package dataset

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestPreprocessApply(t *testing.T) {
	// Two samples [2,1,2] (2 channels of 1x2): values 0..7.
	raw := []float32{0, 1, 2, 3, 4, 5, 6, 7}
	tests := []struct {
		name  string
		p     Preprocess
		shape []int
		want  []float32
	}{
		{"identity", Preprocess{}, []int{2, 1, 2}, raw},
		{"scale only", Preprocess{Scale: 2}, []int{4}, []float32{0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5}},
		{"one mean and std", Preprocess{Scale: 1, Mean: []float64{1}, Std: []float64{2}}, []int{2, 2},
			[]float32{-0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3}},
		{"per channel", Preprocess{Scale: 1, Mean: []float64{0, 10}, Std: []float64{1, 0.5}}, []int{2, 1, 2},
			[]float32{0, 1, -16, -14, 4, 5, -8, -6}},
		{"per channel via input shape", Preprocess{Scale: 1, Mean: []float64{0, 10}, Std: []float64{1, 0.5}, InputShape: []int{2, 1, 2}}, []int{4},
			[]float32{0, 1, -16, -14, 4, 5, -8, -6}},
		{"mnist", Preprocess{Scale: 255, Mean: []float64{0.1307}, Std: []float64{0.3081}, InputShape: []int{1, 2, 2}}, []int{2, 2},
			[]float32{-0.42421296, -0.41148472, -0.3987565, -0.38602826, -0.37330002, -0.3605718, -0.34784356, -0.33511534}}, // numpy float32
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]float32, len(raw))
			if err := tt.p.Apply(raw, 2, tt.shape, dst); err != nil {
				t.Fatal(err)
			}
			// float32 arithmetic: agree to 1e-6 relative.
			if diff := cmp.Diff(tt.want, dst, cmpopts.EquateApprox(1e-6, 1e-7)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("in place", func(t *testing.T) {
		x := append([]float32(nil), raw...)
		if err := (Preprocess{Scale: 2}).Apply(x, 2, []int{4}, x); err != nil {
			t.Fatal(err)
		}
		if x[7] != 3.5 {
			t.Errorf("x = %v", x)
		}
	})
}

func TestPreprocessErrors(t *testing.T) {
	raw := make([]float32, 8)
	tests := []struct {
		name  string
		p     Preprocess
		shape []int
		n     int
		want  string
	}{
		{"shape mismatch", Preprocess{InputShape: []int{1, 3, 3}}, []int{2, 2}, 2, "input shape [1 3 3] holds 9 values, but samples of shape [2 2] hold 4"},
		{"channel count", Preprocess{Mean: []float64{1, 2, 3}}, []int{2, 1, 2}, 2, "3 mean values for 2 channels"},
		{"zero std", Preprocess{Std: []float64{0}}, []int{4}, 2, "std"},
		{"negative scale", Preprocess{Scale: -1}, []int{4}, 2, "scale"},
		{"short raw", Preprocess{}, []int{4}, 3, "need 12 values"},
		{"bad dim", Preprocess{InputShape: []int{0, 4}}, []int{4}, 1, "positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Apply(raw, tt.n, tt.shape, make([]float32, 8))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPreprocessJSON(t *testing.T) {
	p := Preprocess{Scale: 255, Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.229, 0.224, 0.225}, InputShape: []int{3, 32, 32}}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"scale":255,"mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225],"input_shape":[3,32,32]}`
	if string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
	var q Preprocess
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, q); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if got := p.String(); got != "scale=255,mean=0.485/0.456/0.406,std=0.229/0.224/0.225,shape=3x32x32" {
		t.Errorf("String() = %s", got)
	}
}

func TestPreprocessJSONLayout(t *testing.T) {
	p := Preprocess{Scale: 255, Mean: []float64{0.5}, InputShape: []int{3, 32, 32}, Layout: LayoutNHWC}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"scale":255,"mean":[0.5],"input_shape":[3,32,32],"layout":"nhwc"}`
	if string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
	var q Preprocess
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, q); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if got := p.String(); got != "scale=255,mean=0.5,shape=3x32x32,layout=nhwc" {
		t.Errorf("String() = %s", got)
	}
	if got, err := ParseTeacherSpec("m.onnx:"+p.String(), Preprocess{}); err != nil || !cmp.Equal(got.Preprocess, p) {
		t.Errorf("ParseTeacherSpec(String()) = %+v, %v", got.Preprocess, err)
	}
	// An empty layout is not stored: channel-major artefacts are as before.
	if b, _ := json.Marshal(Preprocess{Scale: 1}); string(b) != `{"scale":1}` {
		t.Errorf("json = %s", b)
	}
	if got := (Preprocess{Scale: 1, Layout: LayoutNCHW}).Normalized(); got.Layout != "" {
		t.Errorf("Normalized keeps layout %q", got.Layout)
	}
}

func TestPerFeature(t *testing.T) {
	// Two samples of 3 features.
	raw := []float32{1, 10, 100, 3, 30, 300}
	tests := []struct {
		name  string
		p     Preprocess
		shape []int
		want  []float32
	}{
		{"mean and std per feature", Preprocess{Scale: 1, Mean: []float64{1, 10, 100}, Std: []float64{2, 20, 200}}, []int{3},
			[]float32{0, 0, 0, 1, 1, 1}},
		{"mean per feature, one std", Preprocess{Scale: 1, Mean: []float64{2, 20, 200}, Std: []float64{2}}, []int{3},
			[]float32{-0.5, -5, -50, 0.5, 5, 50}},
		{"one mean, std per feature", Preprocess{Scale: 1, Mean: []float64{1}, Std: []float64{1, 9, 99}}, []int{3},
			[]float32{0, 1, 1, 2, 29.0 / 9, 299.0 / 99}},
		{"per feature via input shape", Preprocess{Scale: 1, Mean: []float64{1, 10, 100}, InputShape: []int{3}}, []int{1, 3},
			[]float32{0, 0, 0, 2, 20, 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]float32, len(raw))
			if err := tt.p.Apply(raw, 2, tt.shape, dst); err != nil {
				t.Fatal(err)
			}
			// float32 arithmetic: agree to 1e-6 relative.
			if diff := cmp.Diff(tt.want, dst, cmpopts.EquateApprox(1e-6, 1e-7)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, tt := range []struct {
		name string
		p    Preprocess
		want string
	}{
		{"two means for three features", Preprocess{Mean: []float64{1, 2}}, "2 mean values for the 3 features of input shape [3] (give one value, or 3: one per feature)"},
		{"three means, two stds", Preprocess{Mean: []float64{1, 2, 3}, Std: []float64{1, 2}}, "2 std values for the 3 features"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Apply(raw, 2, []int{3}, make([]float32, len(raw)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestOverrideLayout(t *testing.T) {
	base := Preprocess{Scale: 255, Layout: LayoutNCHW}
	if o := (PreprocessOverride{Layout: LayoutNHWC}); o.IsZero() || o.Over(base).Layout != LayoutNHWC {
		t.Errorf("Over = %+v", o.Over(base))
	}
	if got := (PreprocessOverride{}).Over(base); got.Layout != LayoutNCHW {
		t.Errorf("an empty override changed the layout: %+v", got)
	}
	stored := &Preprocess{Scale: 255, Layout: LayoutNHWC}
	p, from := PreprocessOverride{}.Resolve(stored, Preprocess{}, "default")
	if p.Layout != LayoutNHWC || !strings.HasSuffix(from, ", layout nhwc (model)") {
		t.Errorf("Resolve = %+v, %q", p, from)
	}
	p, from = PreprocessOverride{Layout: LayoutNCHW}.Resolve(stored, Preprocess{}, "default")
	if p.Layout != LayoutNCHW || !strings.HasSuffix(from, ", layout nchw (flag)") {
		t.Errorf("Resolve = %+v, %q", p, from)
	}
	if _, from = (PreprocessOverride{}).Resolve(nil, Preprocess{}, "default"); strings.Contains(from, "layout") {
		t.Errorf("Resolve without a layout: %q", from)
	}
}

func TestParseTeacherSpec(t *testing.T) {
	plain := Preprocess{Scale: 255, Mean: []float64{0.5}, Std: []float64{0.5}}
	tests := []struct {
		spec string
		want TeacherSpec
	}{
		{"a.onnx", TeacherSpec{Path: "a.onnx", Preprocess: plain}},
		{"dir:x/a.onnx", TeacherSpec{Path: "dir:x/a.onnx", Preprocess: plain}},
		{"a.onnx:mean=0.1307,std=0.3081", TeacherSpec{Path: "a.onnx", Preprocess: Preprocess{Scale: 255, Mean: []float64{0.1307}, Std: []float64{0.3081}}}},
		{"m/b.onnx:scale=1,mean=0.485/0.456/0.406,std=0.229/0.224/0.225,shape=3x32x32,output=probs",
			TeacherSpec{Path: "m/b.onnx", Output: "probs", Preprocess: Preprocess{Scale: 1, Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.229, 0.224, 0.225}, InputShape: []int{3, 32, 32}}}},
		{"m/b.onnx:scale=1,mean=0.485,0.456,0.406,std=0.229/0.224,0.225,shape=3,32,32,output=probs",
			TeacherSpec{Path: "m/b.onnx", Output: "probs", Preprocess: Preprocess{Scale: 1, Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.229, 0.224, 0.225}, InputShape: []int{3, 32, 32}}}},
		{"c.onnx:shape=784", TeacherSpec{Path: "c.onnx", Preprocess: Preprocess{Scale: 255, Mean: []float64{0.5}, Std: []float64{0.5}, InputShape: []int{784}}}},
		{"d.onnx:layout=nhwc,shape=3x32x32", TeacherSpec{Path: "d.onnx", Preprocess: Preprocess{Scale: 255, Mean: []float64{0.5}, Std: []float64{0.5}, InputShape: []int{3, 32, 32}, Layout: LayoutNHWC}}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseTeacherSpec(tt.spec, plain)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []string{"", ":mean=1", "a.onnx:mean=x", "a.onnx:std=0", "a.onnx:shape=1x0", "a.onnx:colour=1", "a.onnx:mean=1,mean=2", "a.onnx:output=soft", "a.onnx:scale=1,=2", "a.onnx:scale=1,2", "a.onnx:mean=1,x", "a.onnx:shape=1,2.5", "a.onnx:layout=chw", "a.onnx:scale=0", "a.onnx:scale=-1"} {
		t.Run("bad "+bad, func(t *testing.T) {
			if _, err := ParseTeacherSpec(bad, plain); err == nil {
				t.Error("no error")
			}
		})
	}
	// The plain preprocessing must not be aliased by the result.
	got, _ := ParseTeacherSpec("a.onnx", plain)
	got.Preprocess.Mean[0] = 9
	if plain.Mean[0] != 0.5 {
		t.Error("ParseTeacherSpec aliases the plain flags' slices")
	}
}

func TestParseShapeAndFloatList(t *testing.T) {
	shapes := []struct {
		in   string
		want []int
	}{
		{"784", []int{784}},
		{"1x28x28", []int{1, 28, 28}},
		{"1,28,28", []int{1, 28, 28}},
		{"3 x 32 x 32", []int{3, 32, 32}},
	}
	for _, tt := range shapes {
		t.Run("shape "+tt.in, func(t *testing.T) {
			got, err := ParseShape(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if back, err := ParseShape(FormatShape(got)); err != nil || !cmp.Equal(back, got) {
				t.Errorf("FormatShape round trip: %v, %v", back, err)
			}
		})
	}
	lists := []struct {
		in   string
		want []float64
	}{
		{"0.5", []float64{0.5}},
		{"0.485/0.456/0.406", []float64{0.485, 0.456, 0.406}},
		{"0.485,0.456,0.406", []float64{0.485, 0.456, 0.406}},
		{"-1/2e-3", []float64{-1, 0.002}},
	}
	for _, tt := range lists {
		t.Run("list "+tt.in, func(t *testing.T) {
			got, err := ParseFloatList(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []string{"", "x", "1x0", "1x-2", "2.5"} {
		t.Run("bad shape "+bad, func(t *testing.T) {
			if got, err := ParseShape(bad); err == nil {
				t.Errorf("ParseShape(%q) = %v, no error", bad, got)
			}
		})
	}
	for _, bad := range []string{"", "/", "a", "0.5/b"} {
		t.Run("bad list "+bad, func(t *testing.T) {
			if got, err := ParseFloatList(bad); err == nil {
				t.Errorf("ParseFloatList(%q) = %v, no error", bad, got)
			}
		})
	}
}
