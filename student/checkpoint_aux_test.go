package student

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCheckpointAux: auxiliary tensors (a hint's projection) and their optimiser state are saved
// and loaded beside the network's; a name without the prefix is refused.
func TestCheckpointAux(t *testing.T) {
	spec, err := ParseSpec([]byte(`{"input":[4],"classes":2,"layers":[{"type":"dense","units":2}]}`), "spec")
	if err != nil {
		t.Fatal(err)
	}
	net, err := NewNet(spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	h, err := NewHint(AuxPrefix+"hints.0", HintMSE, 1, []int{3}, []int{2}, 7)
	if err != nil {
		t.Fatal(err)
	}
	opt := NewAdam(1e-3, 0.9, 0.999, 1e-8)
	for _, p := range append(slices.Clone(net.Params()), h.Params()...) {
		for i := range p.Grad {
			p.Grad[i] = 0.5
		}
	}
	opt.Step(append(slices.Clone(net.Params()), h.Params()...))
	path := filepath.Join(t.TempDir(), "a.ckpt")
	c := &Checkpoint{Spec: spec, Params: net.ParamValues(), Aux: h.Params(), Optimizer: opt.State(), OptimizerName: "adam", Epoch: 1}
	if err := SaveCheckpoint(path, c); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Aux) != 2 {
		t.Fatalf("%d auxiliary tensors, want 2", len(got.Aux))
	}
	for i, p := range h.Params() {
		if got.Aux[i].Name != p.Name || !slices.Equal(got.Aux[i].Shape, p.Shape) || !slices.Equal(got.Aux[i].Value, p.Value) {
			t.Errorf("aux %d: %s %v, want %s %v", i, got.Aux[i].Name, got.Aux[i].Shape, p.Name, p.Shape)
		}
		if _, ok := got.Optimizer[p.Name+".exp_avg"]; !ok {
			t.Errorf("no optimiser state for %s: %v", p.Name, slices.Sorted(func(yield func(string) bool) {
				for k := range got.Optimizer {
					if !yield(k) {
						return
					}
				}
			}))
		}
	}
	c.Aux = []*Param{{Name: "hints.0.weight", Shape: []int{1}, Value: []float32{1}}}
	if err := SaveCheckpoint(path, c); err == nil || !strings.Contains(err.Error(), `want a name starting "aux."`) {
		t.Errorf("aux name without the prefix: %v", err)
	}
}
