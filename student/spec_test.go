package student

import (
	"github.com/distillgo/distill/internal/nn"
	"github.com/distillgo/distill/internal/nn/nntest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadSpecModels(t *testing.T) {
	for _, tc := range []struct {
		path   string
		layers int
		params []string
	}{
		{"../models/mnist-teacher.json", 7, []string{"layers.0.weight", "layers.0.bias", "layers.3.weight", "layers.3.bias", "layers.6.weight", "layers.6.bias"}},
		{"../models/mnist-student.json", 5, []string{"layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias", "layers.4.weight", "layers.4.bias"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			s, err := LoadSpec(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Layers) != tc.layers || s.Classes != 10 || !cmp.Equal(s.Input, []int{784}) {
				t.Fatalf("spec %+v", s)
			}
			net, err := NewNet(s, 1)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range net.Params() {
				names = append(names, p.Name)
			}
			if diff := cmp.Diff(tc.params, names); diff != "" {
				t.Errorf("param names (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSpecErrors(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       []string // substrings of the error
	}{
		{"unknown field", `{"input":[4],"classes":2,"layers":[{"type":"dense","unit":2}]}`, []string{`unknown field "unit"`}},
		{"unknown top field", `{"input":[4],"classes":2,"layer":[]}`, []string{`unknown field "layer"`}},
		{"unknown type", `{"input":[4],"classes":2,"layers":[{"type":"dense","units":3},{"type":"softmax"}]}`, []string{"layer 1 (softmax)", `field "type"`}},
		{"missing type", `{"input":[4],"classes":2,"layers":[{"units":2}]}`, []string{"layer 0", `field "type"`}},
		{"dense units", `{"input":[4],"classes":2,"layers":[{"type":"dense","units":0}]}`, []string{"layer 0 (dense)", `field "units"`}},
		{"dropout p", `{"input":[4],"classes":4,"layers":[{"type":"dropout","p":1},{"type":"dense","units":4}]}`, []string{"layer 0 (dropout)", `field "p"`}},
		{"dropout negative", `{"input":[4],"classes":4,"layers":[{"type":"dropout","p":-0.1},{"type":"dense","units":4}]}`, []string{"layer 0 (dropout)", `field "p"`}},
		{"field not used", `{"input":[4],"classes":4,"layers":[{"type":"relu","units":3},{"type":"dense","units":4}]}`, []string{"layer 0 (relu)", `field "units"`}},
		{"conv kernel", `{"input":[1,8,8],"classes":2,"layers":[{"type":"conv2d","filters":2,"kernel":0}]}`, []string{"layer 0 (conv2d)", `field "kernel"`}},
		{"conv filters", `{"input":[1,8,8],"classes":2,"layers":[{"type":"conv2d","kernel":3}]}`, []string{"layer 0 (conv2d)", `field "filters"`}},
		{"conv kernel too big", `{"input":[1,4,4],"classes":2,"layers":[{"type":"conv2d","filters":1,"kernel":5}]}`, []string{"layer 0 (conv2d)", `field "kernel"`}},
		{"conv on vector", `{"input":[16],"classes":2,"layers":[{"type":"conv2d","filters":1,"kernel":3}]}`, []string{"layer 0 (conv2d)"}},
		{"dense on image", `{"input":[1,4,4],"classes":2,"layers":[{"type":"dense","units":2}]}`, []string{"layer 0 (dense)", "flatten"}},
		{"pool stride", `{"input":[1,4,4],"classes":2,"layers":[{"type":"maxpool","kernel":2,"stride":-1}]}`, []string{"layer 0 (maxpool)", `field "stride"`}},
		{"classes mismatch", `{"input":[4],"classes":3,"layers":[{"type":"dense","units":2}]}`, []string{"layer 0 (dense)", `"classes"`}},
		{"nothing to train", `{"input":[4],"classes":4,"layers":[{"type":"relu"}]}`, []string{`field "layers"`, "trainable"}},
		{"no layers", `{"input":[4],"classes":4,"layers":[]}`, []string{`field "layers"`}},
		{"bad input", `{"input":[4,4],"classes":4,"layers":[{"type":"relu"}]}`, []string{`field "input"`}},
		{"no classes", `{"input":[4],"layers":[{"type":"relu"}]}`, []string{`field "classes"`}},
		{"not json", `{"input":`, []string{"read spec test.json"}},
		{"trailing", `{"input":[2],"classes":2,"layers":[{"type":"relu"}]} {}`, []string{"trailing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(tc.json), "test.json")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tc.want, "test.json") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseSpecConv(t *testing.T) {
	s := mustSpec(t, `{"input":[1,28,28],"classes":10,"layers":[{"type":"conv2d","filters":8,"kernel":3,"stride":1,"pad":1},
		{"type":"relu"},{"type":"maxpool","kernel":2,"stride":2},{"type":"flatten"},{"type":"dense","units":10}]}`)
	g, err := s.Graph()
	if err != nil {
		t.Fatal(err)
	}
	var shapes []nn.Shape
	for _, n := range g.Nodes {
		shapes = append(shapes, n.Out)
	}
	want := []nn.Shape{{8, 28, 28}, {8, 28, 28}, {8, 14, 14}, {8 * 14 * 14}, {10}}
	if diff := cmp.Diff(want, shapes); diff != "" {
		t.Errorf("shapes (-want +got):\n%s", diff)
	}
	net, err := NewNet(s, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	x := randSlice(newTestRNG(), 2*784, 1)
	z, err := net.Forward(x, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(z) != 20 {
		t.Fatalf("got %d logits, want 20", len(z))
	}
}

func FuzzParseSpec(f *testing.F) {
	f.Add([]byte(`{"input":[784],"classes":10,"layers":[{"type":"dense","units":10}]}`))
	f.Add([]byte(`{"input":[1,28,28],"classes":10,"layers":[{"type":"conv2d","filters":8,"kernel":3,"pad":1},{"type":"maxpool","kernel":2},{"type":"flatten"},{"type":"dense","units":10}]}`))
	for _, c := range nntest.Cases { // graph specs: names, inputs, every operator
		f.Add([]byte(c.Spec))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSpec(data, "fuzz")
		if err != nil {
			return
		}
		// A valid spec must survive validation again and give a shape per layer.
		g, err := s.Graph()
		if err != nil || len(g.Nodes) != len(s.Layers) {
			t.Fatalf("valid spec failed re-validation: %v", err)
		}
	})
}
