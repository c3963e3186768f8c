package augment

import (
	"math/rand/v2"
	"slices"
)

// Flip mirrors each image left to right with probability 0.5 (one uniform draw per image,
// flipped when it is below 0.5), as torchvision's RandomHorizontalFlip. A pixel's channels move
// together.
type Flip struct{}

func (Flip) String() string { return "flip" }

// Check accepts every image.
func (Flip) Check(Geometry) error { return nil }

// Apply flips about half the images of b.
func (Flip) Apply(b *Batch, rng *rand.Rand) {
	planes, group := b.planes()
	rowLen := b.W * group
	for i := range b.N {
		if rng.Float64() >= 0.5 {
			continue
		}
		img := b.image(i)
		for r := range planes * b.H {
			row := img[r*rowLen : (r+1)*rowLen]
			if group == 1 {
				slices.Reverse(row)
				continue
			}
			for x := range b.W / 2 {
				a, z := row[x*group:(x+1)*group], row[(b.W-1-x)*group:(b.W-x)*group]
				for k := range group {
					a[k], z[k] = z[k], a[k]
				}
			}
		}
	}
}
