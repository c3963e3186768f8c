package nntest

import (
	"slices"
	"testing"

	"github.com/distillgo/distill/internal/nn"
)

// TestEveryOperator fails when a registered operator has no case in the suite, or a case names
// an operator that is not registered or that its spec does not use.
func TestEveryOperator(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range Cases {
		s, err := nn.ParseSpec([]byte(c.Spec), c.Name)
		if err != nil {
			t.Fatalf("case %s: %v", c.Name, err)
		}
		for _, op := range c.Ops {
			if _, ok := nn.Lookup(op); !ok {
				t.Errorf("case %s names operator %q, which is not registered", c.Name, op)
			}
			if !slices.ContainsFunc(s.Layers, func(l nn.Layer) bool { return l.Type == op }) {
				t.Errorf("case %s names operator %q but has no such layer", c.Name, op)
			}
			covered[op] = true
		}
	}
	for _, op := range nn.Operators() {
		if !covered[op] {
			t.Errorf("operator %q has no case in nntest.Cases", op)
		}
	}
	t.Logf("%d operators, %d cases", len(nn.Operators()), len(Cases))
}
