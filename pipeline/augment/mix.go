package augment

import (
	"math"
	"math/rand/v2"
	"strconv"

	"gonum.org/v1/gonum/stat/distuv"
)

// Mixup mixes each image with another of the batch (a random permutation pairs them):
// x_i ← λ·x_i + (1−λ)·x_{π(i)}, one λ ~ Beta(Alpha, Alpha) per batch (Zhang et al. 2018). The
// hard-label term then uses λ·e(y_i) + (1−λ)·e(y_{π(i)}); the soft term compares the student
// with the teacher on the mixed image.
type Mixup struct{ Alpha float64 }

func (m Mixup) String() string { return "mixup:" + formatFloat(m.Alpha) }

// Check accepts every image.
func (Mixup) Check(Geometry) error { return nil }

func (Mixup) mixes() {}

// Apply mixes the images of b and records how in b.Mixed.
func (m Mixup) Apply(b *Batch, rng *rand.Rand) {
	lam := distuv.Beta{Alpha: m.Alpha, Beta: m.Alpha, Src: rng}.Rand()
	perm := rng.Perm(b.N)
	orig := originals(b)
	s := b.Size()
	l, r := float32(lam), float32(1-lam)
	for i, j := range perm {
		img, other := b.X[i*s:(i+1)*s], orig[j*s:(j+1)*s]
		for v := range img {
			img[v] = l*img[v] + r*other[v]
		}
	}
	b.Mixed = &Mix{Partner: perm, Lam: lam}
}

// CutMix pastes into each image a rectangle of another of the batch (a random permutation pairs
// them), of area fraction 1−λ with λ ~ Beta(Alpha, Alpha) drawn once per batch, centred
// uniformly and clipped to the image (Yun et al. 2019); λ is then the fraction of the image left
// its own. The targets mix as for Mixup.
type CutMix struct{ Alpha float64 }

func (c CutMix) String() string { return "cutmix:" + formatFloat(c.Alpha) }

// Check accepts every image.
func (CutMix) Check(Geometry) error { return nil }

func (CutMix) mixes() {}

// Apply pastes the rectangles into the images of b and records the mix in b.Mixed.
func (c CutMix) Apply(b *Batch, rng *rand.Rand) {
	lam := distuv.Beta{Alpha: c.Alpha, Beta: c.Alpha, Src: rng}.Rand()
	perm := rng.Perm(b.N)
	cut := math.Sqrt(1 - lam)
	h, w := int(float64(b.H)*cut), int(float64(b.W)*cut)
	cy, cx := rng.IntN(b.H), rng.IntN(b.W)
	y0, y1 := max(cy-h/2, 0), min(cy+h/2, b.H)
	x0, x1 := max(cx-w/2, 0), min(cx+w/2, b.W)
	orig := originals(b)
	s := b.Size()
	if y1 > y0 && x1 > x0 {
		for i, j := range perm {
			fillRect(b, i, y0, x0, y1-y0, x1-x0, orig[j*s:(j+1)*s])
		}
	}
	own := 1 - float64((y1-y0)*(x1-x0))/float64(b.H*b.W)
	b.Mixed = &Mix{Partner: perm, Lam: own}
}

// originals returns a copy of b's images before mixing (partners are read unmixed).
func originals(b *Batch) []float32 {
	n := b.N * b.Size()
	if cap(b.mixSrc) < n {
		b.mixSrc = make([]float32, n)
	}
	b.mixSrc = b.mixSrc[:n]
	copy(b.mixSrc, b.X[:n])
	return b.mixSrc
}

// formatFloat writes a parameter as the user would.
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
