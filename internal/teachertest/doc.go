// Package teachertest is the conformance suite for teachers: every type that satisfies the
// pipeline's Teacher interface (today *onnx.Session, on each kind of model it opens) is run
// through the same checks by Run, and timed by Bench, in the manner of gonum's blas/testblas.
//
// A test describes one teacher with a Case: how to open a fresh one, the size of a sample, the
// class count, a reference function computing the logits it must return, and a tolerance.
//
//	func TestSessionConformance(t *testing.T) {
//		teachertest.Run(t, teachertest.Case{Open: open, Dim: 6, Classes: 4, Reference: ref, Tol: 1e-5})
//	}
//
// The package is imported only by _test.go files. It imports nothing from pipeline or cmd: its
// Teacher interface has the method set of pipeline's, and Go interfaces are structural, so any
// pipeline teacher is a teachertest.Teacher.
//
// What the suite demands of a teacher, beyond its interface's documentation:
//   - Logits accepts any n >= 1, however large: a teacher that runs its model in batches of a
//     fixed size splits n into such runs itself.
//   - Row i of the output depends only on sample i (no batch statistics, no rows mixed).
//   - The same input gives bit-identical output; the input slice is left as it was; a returned
//     slice is the caller's and is not overwritten by a later call.
//   - A context that is already cancelled or past its deadline makes Logits (n >= 1) return an
//     error wrapping ctx.Err(), and the teacher stays usable.
//   - len(x) != n*Dim or n < 0 is an error, never a panic, and the teacher stays usable.
//   - n = 0 either returns an error or an empty result with a nil error; onnx.Session returns an
//     empty slice and nil.
//   - Close returns nil.
package teachertest
