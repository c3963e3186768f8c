package augment

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// Jitter shifts each image by whole pixels dx and dy drawn uniformly from [-K, K] (dx first, then
// dy, one pair per image), the pixels shifted in set to zero (black, in raw pixel space). It is
// the augmentation of Hinton et al. 2015 §3 (MNIST teacher trained on images "jittered by up to
// two pixels"); `--jitter k` is jitter:k. All channels of an image move together.
type Jitter struct{ K int }

func (j Jitter) String() string { return fmt.Sprintf("jitter:%d", j.K) }

// Check refuses a shift that would move an image by its whole height or width.
func (j Jitter) Check(g Geometry) error { return checkShift(j.K, g) }

// Apply shifts every image of b.
func (j Jitter) Apply(b *Batch, rng *rand.Rand) {
	for i := range b.N {
		dx := rng.IntN(2*j.K+1) - j.K
		dy := rng.IntN(2*j.K+1) - j.K
		shiftImage(b, i, dx, dy)
	}
}

// Crop is torchvision's RandomCrop(size, padding=Pad): each image zero-padded by Pad pixels on
// every side, then cropped back to its size at a uniform position (top drawn first, then left).
// That is a shift by Pad−top rows and Pad−left columns, zero where the padding shows.
type Crop struct{ Pad int }

func (c Crop) String() string { return fmt.Sprintf("crop:%d", c.Pad) }

// Check refuses a padding as large as the image.
func (c Crop) Check(g Geometry) error { return checkShift(c.Pad, g) }

// Apply crops every image of b.
func (c Crop) Apply(b *Batch, rng *rand.Rand) {
	for i := range b.N {
		top := rng.IntN(2*c.Pad + 1)
		left := rng.IntN(2*c.Pad + 1)
		shiftImage(b, i, c.Pad-left, c.Pad-top)
	}
}

// checkShift refuses shifts of k pixels on images they would leave blank in part.
func checkShift(k int, g Geometry) error {
	if k >= min(g.H, g.W) {
		return fmt.Errorf("%d shifts the %dx%d images by their whole height or width, leaving some blank: at most %d", k, g.H, g.W, min(g.H, g.W)-1)
	}
	if k < 1 {
		return errors.New("the shift must be at least 1 pixel")
	}
	return nil
}

// shiftImage moves image i of b by dx columns and dy rows: out[y][x] = in[y−dy][x−dx], zero where
// that falls outside.
func shiftImage(b *Batch, i, dx, dy int) {
	img := b.image(i)
	in := b.tmp()
	copy(in, img)
	planes, group := b.planes()
	Shift(img, in, b.H, b.W*group, planes, dx*group, dy)
}

// Shift moves each h×w plane of one image (planes planes, one after the other) by dx columns
// and dy rows: out[y][x] = in[y−dy][x−dx], zero where that falls outside. A channel-last image
// is one plane of h rows of w·c values, shifted by dx·c. out and in must not overlap.
func Shift(out, in []float32, h, w, planes, dx, dy int) {
	clear(out)
	// Columns x of out with 0 <= x-dx < w.
	x0, x1 := max(0, dx), min(w, w+dx)
	if x0 >= x1 {
		return
	}
	for ch := range planes {
		plane := ch * h * w
		for y := max(0, dy); y < min(h, h+dy); y++ {
			row := plane + y*w
			srow := plane + (y-dy)*w
			copy(out[row+x0:row+x1], in[srow+x0-dx:srow+x1-dx])
		}
	}
}
