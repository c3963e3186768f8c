package synth

import (
	"testing"

	"github.com/distillgo/distill/internal/teachertest"
)

// TestRowTeacherConformance holds the Go teacher of the tests to the contract every teacher meets.
func TestRowTeacherConformance(t *testing.T) {
	ref := &RowTeacher{C: Classes, Gain: 8}
	teachertest.Run(t, teachertest.Case{
		Open:      func(testing.TB) teachertest.Teacher { return &RowTeacher{C: Classes, Gain: 8} },
		Dim:       H * W,
		Classes:   Classes,
		Reference: ref.Reference,
		Tol:       1e-6,
	})
}
