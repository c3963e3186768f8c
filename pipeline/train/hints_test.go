package train

import (
	"strings"
	"testing"
)

func TestParseHint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want HintOption
		fail string
	}{
		{in: "/layer2/Relu_output_0=block2", want: HintOption{Tensor: "/layer2/Relu_output_0", Layer: "block2", Loss: "mse", Weight: 1}},
		{in: "feat=r1:loss=at:weight=50", want: HintOption{Tensor: "feat", Layer: "r1", Loss: "at", Weight: 50}},
		{in: "a:b=c=l1:weight=0.5:loss=cosine", want: HintOption{Tensor: "a:b=c", Layer: "l1", Loss: "cosine", Weight: 0.5}},
		{in: "feat", fail: "want <teacher-tensor>=<student-layer>"},
		{in: "feat=", fail: "want <teacher-tensor>=<student-layer>"},
		{in: "feat=r1:loss=l1", fail: `loss "l1"`},
		{in: "feat=r1:weight=-1", fail: "weight"},
		{in: "feat=r1:loss=at:loss=mse", fail: "loss given twice"},
	} {
		got, err := ParseHint(tc.in)
		if tc.fail != "" {
			if err == nil || !strings.Contains(err.Error(), tc.fail) {
				t.Errorf("%q: %v, want %q", tc.in, err, tc.fail)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v %v, want %+v", tc.in, got, err, tc.want)
		}
		if back, err := ParseHint(got.String()); err != nil || back != got {
			t.Errorf("%q: String %q reads back as %+v %v", tc.in, got.String(), back, err)
		}
	}
}
