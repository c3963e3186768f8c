package pipeline

import "context"

// Teacher is what training, evaluation and soft-target generation need from a teacher model.
// *onnx.Session satisfies it (checked at compile time in teacher_test.go).
type Teacher interface {
	// Logits returns n*Classes() logits, row-major [n, classes], for n preprocessed samples x.
	// A teacher whose model outputs probabilities returns log-probabilities, which are logits
	// up to a per-row constant and so give the same softmax at any temperature.
	Logits(ctx context.Context, x []float32, n int) ([]float32, error)
	// Classes is the number of classes the teacher predicts.
	Classes() int
	// Close releases the teacher's resources; it is safe to call once.
	Close() error
}
