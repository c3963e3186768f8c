package train

import (
	"context"
	"log/slog"
	"math/rand/v2"

	"github.com/distillgo/distill/pipeline/augment"
)

// augmentProbe is how many training samples warnAugmentCost scores the teachers on.
const augmentProbe = 1024

// warnAugmentCost scores the online teachers on up to 1024 labelled training samples spread over
// the data, as they are and after each augmentation alone, and warns once for each augmentation
// that costs them more than 2 points: a teacher not trained with an augmentation may not be
// invariant to it (the shipped Fashion-MNIST teacher, trained with shifts only, labels 94.2% of
// cropped batches right and 83.9% once flips are added), and then teaches the student wrongly on
// those images. Mixing steps are left out, since a mixed image has no one right label. The
// probe's random stream is its own, so training draws the same as without it. Errors of the
// teachers are left for the training to report.
func (t *trainer) warnAugmentCost(ctx context.Context) {
	if t.aug == nil || len(t.teachers) == 0 || t.labels == nil || t.teacherInputs != nil {
		return
	}
	N := t.samples()
	n := min(N, augmentProbe)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i * N / n
		if t.keep != nil {
			idx[i] = t.keep[idx[i]]
		}
	}
	base, ok := t.probeTeachers(ctx, idx, nil, 0)
	if !ok {
		return
	}
	for s, st := range t.aug {
		if _, mixes := st.(augment.Mixing); mixes {
			continue
		}
		acc, ok := t.probeTeachers(ctx, idx, st, uint64(s))
		if ok && base-acc > 0.02 {
			slog.Warn("an augmentation costs the teacher accuracy: a teacher not trained with it may teach the student wrongly on such images",
				"augmentation", st.String(), "teacher_accuracy_augmented", acc, "teacher_accuracy", base, "samples", n,
				"teacher", t.teachers[0].path)
		}
	}
}

// probeTeachers returns the online teachers' accuracy on the training samples idx, after step
// (nil: none) drawn from a stream seeded by seed; ok is false when a teacher fails.
func (t *trainer) probeTeachers(ctx context.Context, idx []int, step augment.Step, seed uint64) (float64, bool) {
	rng := rand.New(rand.NewPCG(0x5eed, seed))
	B, D := t.batchSize(), t.inDim
	b := t.newBatch()
	correct := 0
	for s := 0; s < len(idx); s += B {
		part := idx[s:min(s+B, len(idx))]
		n := len(part)
		b.n = n
		raw := b.raw[:n*D]
		for j, i := range part {
			copy(raw[j*D:(j+1)*D], t.data.X[i*D:(i+1)*D])
			b.labels[j] = t.labels[i]
		}
		b.aug.Mixed = nil
		if step != nil {
			b.aug.X, b.aug.N, b.aug.Geometry = raw, n, t.geom
			step.Apply(&b.aug, rng)
		}
		if err := t.runTeachers(ctx, b, part, raw); err != nil {
			return 0, false
		}
		correct += t.teacherCorrect(b)
	}
	return float64(correct) / float64(len(idx)), true
}
