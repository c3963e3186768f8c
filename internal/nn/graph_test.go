package nn

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestGraphErrors checks that a bad graph is an error naming the layer and what is wrong.
func TestGraphErrors(t *testing.T) {
	const head = `{"input":[2,6,6],"classes":3,"layers":[`
	for _, tc := range []struct {
		name, layers string
		want         []string
	}{
		{"unknown input", `{"type":"conv2d","filters":2,"kernel":3,"name":"a"},{"type":"add","inputs":["a","b"]},{"type":"flatten"},{"type":"dense","units":3}`,
			[]string{`layer 1 (add)`, `field "inputs"`, `no earlier layer is named "b"`}},
		{"later input", `{"type":"conv2d","filters":2,"kernel":3,"inputs":["c"]},{"type":"flatten","name":"c"},{"type":"dense","units":3}`,
			[]string{`layer 0 (conv2d)`, `"c" is layer 1, which comes later`}},
		{"cycle", `{"type":"conv2d","filters":2,"kernel":3},{"type":"relu","name":"r","inputs":["r"]},{"type":"flatten"},{"type":"dense","units":3}`,
			[]string{`layer 1 "r" (relu)`, `this layer's own output: a cycle`}},
		{"shapes of add", `{"type":"conv2d","filters":2,"kernel":3,"name":"a"},{"type":"conv2d","filters":3,"kernel":3,"name":"b","inputs":["input"]},{"type":"add","inputs":["a","b"]},{"type":"flatten"},{"type":"dense","units":3}`,
			[]string{`layer 2 (add)`, `input 1 ("b") has shape [3 4 4], input 0 ("a") has [2 4 4]`}},
		{"shapes of concat", `{"type":"conv2d","filters":2,"kernel":3,"name":"a"},{"type":"conv2d","filters":3,"kernel":1,"name":"b","inputs":["input"]},{"type":"concat","inputs":["a","b"]},{"type":"flatten"},{"type":"dense","units":3}`,
			[]string{`layer 2 (concat)`, `input 1 ("b") has shape [3 6 6], input 0 ("a") has [2 4 4]`}},
		{"unused output", `{"type":"conv2d","filters":2,"kernel":3,"name":"a"},{"type":"conv2d","filters":2,"kernel":3,"inputs":["input"]},{"type":"flatten"},{"type":"dense","units":3}`,
			[]string{`layer 0 "a" (conv2d)`, "not used by any later layer"}},
		{"duplicate name", `{"type":"conv2d","filters":2,"kernel":3,"name":"a"},{"type":"relu","name":"a"},{"type":"flatten"},{"type":"dense","units":3}`,
			[]string{`layer 1 "a" (relu)`, `"a" is already the name of layer 0`}},
		{"name input", `{"type":"conv2d","filters":2,"kernel":3,"name":"input"},{"type":"flatten"},{"type":"dense","units":3}`,
			[]string{`field "name"`, "names the sample"}},
		{"one input to add", `{"type":"conv2d","filters":2,"kernel":3},{"type":"add"},{"type":"flatten"},{"type":"dense","units":3}`,
			[]string{`layer 1 (add)`, "reads at least 2 inputs, got 1"}},
		{"two inputs to relu", `{"type":"conv2d","filters":2,"kernel":3,"name":"a"},{"type":"relu","inputs":["a","a"]},{"type":"flatten"},{"type":"dense","units":3}`,
			[]string{`layer 1 (relu)`, "reads 1 inputs, got 2"}},
		{"unknown type", `{"type":"swish"}`, []string{`layer 0 (swish)`, `unknown layer type "swish"`, "batchnorm", "gelu"}},
		{"field of another type", `{"type":"batchnorm","units":3}`, []string{`layer 0 (batchnorm)`, `field "units": not used by a batchnorm layer`}},
		{"same with an even kernel", `{"type":"conv2d","filters":2,"kernel":2,"pad":"same"},{"type":"flatten"},{"type":"dense","units":3}`,
			[]string{`field "pad"`, `"same" needs an odd kernel, got 2`}},
		{"groups", `{"type":"conv2d","filters":3,"kernel":3,"groups":2},{"type":"flatten"},{"type":"dense","units":3}`,
			[]string{`field "groups"`, "2 groups do not divide the 2 input channels and 3 filters"}},
		{"momentum", `{"type":"batchnorm","momentum":1.5},{"type":"flatten"},{"type":"dense","units":3}`,
			[]string{`layer 0 (batchnorm)`, `field "momentum"`}},
		{"pooling of a vector", `{"type":"flatten"},{"type":"globalavgpool"},{"type":"dense","units":3}`,
			[]string{`layer 1 (globalavgpool)`, "needs a [channels, height, width] input, got [72]"}},
		{"no parameters", `{"type":"avgpool","kernel":2},{"type":"globalavgpool"}`, []string{"no trainable layer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(head+tc.layers+`]}`), "spec.json")
			if err == nil {
				t.Fatal("ParseSpec succeeded, want an error")
			}
			for _, w := range append([]string{"read spec spec.json"}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestPadJSON checks that "same" and numbers read and write back, and that other values are
// refused naming the field.
func TestPadJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Pad
	}{{`"same"`, PadSame}, {`0`, 0}, {`2`, 2}} {
		var p Pad
		if err := json.Unmarshal([]byte(tc.in), &p); err != nil || p != tc.want {
			t.Errorf("unmarshal %s = %v, %v; want %v", tc.in, p, err, tc.want)
		}
		out, err := json.Marshal(p)
		if err != nil || string(out) != tc.in {
			t.Errorf("marshal %v = %s, %v; want %s", p, out, err, tc.in)
		}
	}
	for _, bad := range []string{`"valid"`, `1.5`, `true`, `-2147483648`} {
		var p Pad
		if err := json.Unmarshal([]byte(bad), &p); err == nil || !strings.Contains(err.Error(), `field "pad"`) {
			t.Errorf("unmarshal %s: %v, want an error naming the field", bad, err)
		}
	}
}

// TestSameArchitecture checks that defaults and "same" compare equal to their values, and that
// wiring and fields do not.
func TestSameArchitecture(t *testing.T) {
	parse := func(layers string) *Spec {
		s, err := ParseSpec([]byte(`{"input":[2,6,6],"classes":3,"layers":[`+layers+`]}`), "s")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := parse(`{"type":"conv2d","filters":2,"kernel":3,"pad":"same","name":"x"},{"type":"batchnorm","name":"n"},{"type":"add","inputs":["x","n"]},{"type":"flatten"},{"type":"dense","units":3}`)
	b := parse(`{"type":"conv2d","filters":2,"kernel":3,"pad":1,"stride":1,"name":"y"},{"type":"batchnorm","momentum":0.1,"eps":1e-5,"name":"m"},{"type":"add","inputs":["y","m"]},{"type":"flatten"},{"type":"dense","units":3,"bias":true}`)
	c := parse(`{"type":"conv2d","filters":2,"kernel":3,"pad":1,"name":"y"},{"type":"batchnorm","name":"z"},{"type":"add","inputs":["z","y"]},{"type":"flatten"},{"type":"dense","units":3}`)
	if !SameArchitecture(a, b) {
		t.Errorf("%s and %s differ", Describe(a), Describe(b))
	}
	if SameArchitecture(a, c) {
		t.Errorf("%s and %s (other wiring) are the same", Describe(a), Describe(c))
	}
}

// TestSpecBounds checks that shapes and tensors over the size limits (MaxValues per tensor and per
// sample at a layer, MaxParams in all), or whose sizes would overflow, are errors naming the field
// or the layer and giving the figure and the limit, not a panic or an out-of-memory when the net is
// built; and that a spec at the limits passes, as do the shipped specs (models/*.json).
func TestSpecBounds(t *testing.T) {
	dense := func(in string, units ...int) string {
		s := `{"input":[` + in + `],"classes":10,"layers":[`
		for _, u := range units {
			s += fmt.Sprintf(`{"type":"dense","units":%d},`, u)
		}
		return s + `{"type":"dense","units":10}]}`
	}
	const image = `{"input":[1,28,28],"classes":10,"layers":[`
	for _, tc := range []struct {
		name, spec string
		want       []string // empty: the spec is valid
	}{
		{"input overflows", `{"input":[65536,65536,65536],"classes":10,"layers":[{"type":"flatten"},{"type":"dense","units":10}]}`,
			[]string{`field "input": [65536 65536 65536] holds 281474976710656 values, over the limit of 67108864 (2^26) values per sample`}},
		{"input too large", `{"input":[4194304,2097152,2097152],"classes":10,"layers":[{"type":"flatten"},{"type":"dense","units":10}]}`, []string{`field "input"`}},
		{"output overflows", dense("4", 4611686018427387904), []string{`layer 0 (dense): its output of shape [4611686018427387904] holds 4.61e+18 values`}},
		{"units 1e9", dense("1", 1000000000), []string{`layer 0 (dense): its output of shape [1000000000] holds 1000000000 values, over the limit of 67108864 (2^26) values per sample`}},
		{"weight of 100000 units", dense("784", 100000), []string{`layer 0 (dense): its weight of shape [784 100000] holds 78400000 values, over the limit of 67108864 (2^26) values per tensor`}},
		{"filters 100000", image + `{"type":"conv2d","filters":100000,"kernel":3},{"type":"flatten"},{"type":"dense","units":10}]}`,
			[]string{`layer 0 (conv2d): its output of shape [100000 26 26] holds 67600000 values, over the limit`}},
		{"pad larger than the input", image + `{"type":"conv2d","filters":4,"kernel":1000001,"pad":1000000},{"type":"flatten"},{"type":"dense","units":10}]}`,
			[]string{`layer 0 (conv2d): field "pad": 1000000 is larger than the input 28x28: at most 28`}},
		{"pool pad larger than the input", `{"input":[1,2,2],"classes":10,"layers":[{"type":"maxpool","kernel":5,"pad":3},{"type":"flatten"},{"type":"dense","units":10}]}`,
			[]string{`layer 0 (maxpool): field "pad": 3 is larger than the input 2x2`}},
		{"same pad on a map smaller than the kernel", `{"input":[1,1,32],"classes":10,"layers":[{"type":"conv2d","filters":2,"kernel":5,"pad":"same"},{"type":"flatten"},{"type":"dense","units":10}]}`, nil},
		{"parameters in all", dense("8192", 8192, 8192, 8192, 8192),
			[]string{`field "layers": the network has 268550154 parameters and buffers, over the limit of 268435456`}},
		{"one tensor at the limit", dense("8192", 8192), nil},
		{"same pad of a 1x1 input", `{"input":[1,1,1],"classes":10,"layers":[{"type":"conv2d","filters":2,"kernel":3,"pad":"same"},{"type":"flatten"},{"type":"dense","units":10}]}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(tc.spec), "big")
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("ParseSpec: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("ParseSpec succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	shipped, err := filepath.Glob("../../models/*.json")
	if err != nil || len(shipped) == 0 {
		t.Fatalf("no shipped specs: %v", err)
	}
	for _, path := range shipped {
		if _, err := LoadSpec(path); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}
