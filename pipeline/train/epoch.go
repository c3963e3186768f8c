package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/distillgo/distill/pipeline/augment"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/student"
)

// batch is one prepared mini-batch.
type batch struct {
	idx     []int
	raw     []float32     // gathered raw samples, augmented in place
	aug     augment.Batch // raw as the augmentations see it; aug.Mixed says how it was mixed
	mixed   []int32       // with a mixing augmentation, the label each sample was mixed with
	feats   [][]float32   // the online teacher's features the hints read, [f][n][size]
	x       []float32     // student inputs
	tx      []float32     // online teacher inputs
	teacher []float32     // teacher logits [k][n][C]
	labels  []int32
	n       int
	// tCorrect counts the samples the online teachers (their mean logits) label right, against
	// the label that dominates a mixed sample; -1 without labels or online teachers.
	tCorrect int
	err      error
}

// epoch runs one epoch: a seeded permutation, batches prepared (and the online teacher run) one
// ahead in a goroutine, and the student's steps, calling onStep after each. It returns the
// epoch's training metrics; evaluation is a hook.
func (t *trainer) epoch(ctx context.Context, epoch int, onStep func(StepInfo) error) (*EpochMetrics, error) {
	N := t.samples()
	start := time.Now()
	perm := t.rng.Perm(N)
	if t.keep != nil {
		// A permutation of the samples the class filters keep, as indices of the data set.
		for i, j := range perm {
			perm[i] = t.keep[j]
		}
	}
	// Separate streams for augmentation (used in the producer goroutine) and dropout (in the steps),
	// drawn from the main stream so that the epoch depends only on its state at the epoch start.
	jit := rand.New(rand.NewPCG(t.rng.Uint64(), t.rng.Uint64()))
	drop := rand.New(rand.NewPCG(t.rng.Uint64(), t.rng.Uint64()))

	ctx, cancel := context.WithCancel(ctx)
	ready, free, wait := t.produce(ctx, perm, jit)
	defer func() { cancel(); wait() }()

	var sumLoss, sumSoft, sumHard float64
	sumHints := make([]float64, len(t.hints))
	seen, tCorrect := 0, 0
	for b := range ready {
		if b.err != nil {
			return nil, b.err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		parts, hintLoss, err := t.step(b, drop)
		if err != nil {
			return nil, fmt.Errorf("train: epoch %d: %w", epoch, err)
		}
		if math.IsNaN(parts.Total) || math.IsInf(parts.Total, 0) {
			return nil, fmt.Errorf("train: epoch %d: loss is %v after %d samples (lower the learning rate?)", epoch, float32(parts.Total), seen)
		}
		sumLoss += parts.Total * float64(b.n)
		sumSoft += parts.Soft * float64(b.n)
		sumHard += parts.Hard * float64(b.n)
		for i, l := range hintLoss {
			sumHints[i] += float64(l) * float64(b.n)
		}
		seen += b.n
		tCorrect += b.tCorrect
		if err := onStep(StepInfo{Epoch: epoch, Samples: b.n, Seen: seen, Loss: parts.Total}); err != nil {
			return nil, err
		}
		free <- b
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if seen != N {
		return nil, fmt.Errorf("train: epoch %d: trained on %d of %d samples", epoch, seen, N)
	}
	secs := time.Since(start).Seconds()
	m := &EpochMetrics{
		Epoch: epoch, Loss: sumLoss / float64(N), SoftLoss: sumSoft / float64(N), HardLoss: sumHard / float64(N),
		SamplesPerSec: float64(N) / secs, Seconds: secs,
	}
	if t.labels != nil && len(t.teachers) > 0 {
		acc := float64(tCorrect) / float64(N)
		m.TeacherAccuracy = &acc
	}
	for _, s := range sumHints {
		m.HintLosses = append(m.HintLosses, s/float64(N))
	}
	return m, nil
}

// produce starts the goroutine that fills batches of the permutation perm, one ahead of the
// steps: it sends them on ready (closed at the end or on an error) and takes used ones back on
// free. wait waits for it to stop after ctx is cancelled.
func (t *trainer) produce(ctx context.Context, perm []int, jit *rand.Rand) (ready <-chan *batch, free chan<- *batch, wait func()) {
	const nbuf = 3 // one being filled, one waiting, one in the step
	freeCh := make(chan *batch, nbuf)
	for range nbuf {
		freeCh <- t.newBatch()
	}
	readyCh := make(chan *batch, 1)
	var wg sync.WaitGroup
	B, N := t.batchSize(), len(perm)
	wg.Go(func() {
		defer close(readyCh)
		for s := 0; s < N; s += B {
			var b *batch
			select {
			case b = <-freeCh:
			case <-ctx.Done():
				return
			}
			t.fill(ctx, b, perm[s:min(s+B, N)], jit)
			select {
			case readyCh <- b:
			case <-ctx.Done():
				return
			}
			if b.err != nil {
				return
			}
		}
	})
	return readyCh, freeCh, wg.Wait
}

// step runs the student's forward and backward pass on b and the optimiser's update; it returns
// the loss's parts, Total including the hints' terms, and each hint's term.
func (t *trainer) step(b *batch, drop *rand.Rand) (student.LossParts, []float32, error) {
	C := t.spec.Classes
	var teacher []float32
	if t.k > 0 {
		teacher = b.teacher[:t.k*b.n*C]
	}
	var labels []int32
	if t.labels != nil {
		labels = b.labels[:b.n]
	}
	var mix *student.Mixed
	if m := b.aug.Mixed; m != nil && labels != nil {
		mix = &student.Mixed{Labels: b.mixed[:b.n], Lam: m.Lam}
	}
	var parts student.LossParts
	lossFn := func(z []float32, n, c int, dz []float32) float32 {
		parts = t.loss.PartsMixed(z, n, c, dz, teacher, t.k, labels, mix)
		return float32(parts.Total)
	}
	l, hintLoss, err := t.net.TrainStepFeatures(b.x[:b.n*t.stDim], b.n, drop, lossFn, t.featureLosses(b))
	if err != nil {
		return parts, nil, err
	}
	for _, h := range hintLoss {
		l += h
		parts.Total += float64(h)
	}
	if math.IsNaN(float64(l)) || math.IsInf(float64(l), 0) {
		parts.Total = float64(l)
		return parts, hintLoss, nil
	}
	t.optim.Step(t.trainParams())
	return parts, hintLoss, nil
}

func (t *trainer) newBatch() *batch {
	B, C := t.batchSize(), t.spec.Classes
	b := &batch{idx: make([]int, B), raw: make([]float32, B*t.inDim), x: make([]float32, B*t.stDim)}
	if t.k > 0 {
		b.teacher = make([]float32, t.k*B*C)
	}
	if len(t.teachers) > 0 && t.teacherInputs == nil {
		b.tx = make([]float32, B*t.maxTeacherDim())
	}
	if t.labels != nil {
		b.labels = make([]int32, B)
	}
	if len(t.featSize) > 0 {
		b.feats = make([][]float32, len(t.featSize)) // filled by each batch's teacher run
	}
	return b
}

// fill gathers the samples idx into b: raw values (augmented), both sides' preprocessing, labels,
// and the teacher's logits (from the file, or by running the online teacher on the augmented
// batch).
func (t *trainer) fill(ctx context.Context, b *batch, idx []int, jit *rand.Rand) {
	n, D := len(idx), t.inDim
	b.n = n
	copy(b.idx, idx)
	raw := b.raw[:n*D]
	for j, i := range idx {
		copy(raw[j*D:(j+1)*D], t.data.X[i*D:(i+1)*D])
		if t.labels != nil {
			b.labels[j] = t.labels[i]
		}
	}
	b.aug.Mixed = nil
	if t.aug != nil {
		b.aug.X, b.aug.N, b.aug.Geometry = raw, n, t.geom
		t.aug.Apply(&b.aug, jit)
		if m := b.aug.Mixed; m != nil && t.labels != nil {
			b.mixed = b.mixed[:0]
			for _, j := range m.Partner {
				b.mixed = append(b.mixed, b.labels[j])
			}
		}
	}
	if err := t.opts.Preprocess.Apply(raw, n, t.data.Shape, b.x[:n*t.stDim]); err != nil {
		b.err = fmt.Errorf("train: preprocess %s: %w", t.opts.Data, err)
		return
	}
	switch {
	case t.soft != nil:
		t.gatherSoft(b, idx)
	case len(t.teachers) > 0:
		b.err = t.runTeachers(ctx, b, idx, raw)
		b.tCorrect = t.teacherCorrect(b)
	}
}

// teacherCorrect counts the samples of b the online teachers' mean logits label right; -1
// without labels. A mixed sample's label is the one of the larger part.
func (t *trainer) teacherCorrect(b *batch) int {
	if t.labels == nil || b.err != nil {
		return -1
	}
	n, C := b.n, t.spec.Classes
	var sum []float32 // an ensemble's summed logits (one teacher's are read in place)
	if t.k > 1 {
		sum = make([]float32, C)
	}
	correct := 0
	for i := range n {
		row := b.teacher[i*C : (i+1)*C]
		if t.k > 1 {
			clear(sum)
			for k := range t.k {
				for j, v := range b.teacher[(k*n+i)*C : (k*n+i+1)*C] {
					sum[j] += v
				}
			}
			row = sum
		}
		y := b.labels[i]
		if m := b.aug.Mixed; m != nil && m.Lam < 0.5 {
			y = b.mixed[i]
		}
		if int32(eval.Argmax(row)) == y {
			correct++
		}
	}
	return correct
}

// gatherSoft copies the offline teachers' logits of the samples idx into b.
func (t *trainer) gatherSoft(b *batch, idx []int) {
	n, N, C := len(idx), t.data.N, t.spec.Classes
	for k := range t.k {
		for j, i := range idx {
			copy(b.teacher[(k*n+j)*C:(k*n+j+1)*C], t.soft[(k*N+i)*C:(k*N+i+1)*C])
		}
	}
}
