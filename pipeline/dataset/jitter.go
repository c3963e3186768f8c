package dataset

import (
	"fmt"
	"math/rand/v2"
)

// Jitter writes into dst n images from src, each shifted by whole pixels dx and dy drawn
// uniformly from [-k, k] (dx first, then dy, one pair per image, from rng), with the
// pixels shifted in filled with zero. It works in raw pixel space, before preprocessing (so
// zero is black for 8-bit images), on the images as stored. This is the augmentation of Hinton
// et al. 2015 §3 (MNIST teacher trained on images "jittered by up to two pixels").
//
// Each image is c planes of h×w values, channel-major ([C,H,W] or, with c=1, [H,W];
// a flat 784-value MNIST sample is h=w=28, c=1). All channels of an image get the same
// shift. dst and src must each hold n*c*h*w values and must not overlap. With k <= 0 the
// images are copied unchanged and rng is not used. It panics if the slices are short. Images
// stored channel-last (Layout "nhwc") are jittered with [JitterLayout].
func Jitter(dst, src []float32, n, h, w, c int, k int, rng *rand.Rand) {
	size := c * h * w
	if len(dst) < n*size || len(src) < n*size {
		panic(fmt.Sprintf("dataset.Jitter: %d images of %dx%dx%d need %d values; src has %d, dst %d", n, c, h, w, n*size, len(src), len(dst)))
	}
	if k <= 0 {
		copy(dst[:n*size], src[:n*size])
		return
	}
	for i := range n {
		dx := rng.IntN(2*k+1) - k
		dy := rng.IntN(2*k+1) - k
		shift(dst[i*size:(i+1)*size], src[i*size:(i+1)*size], h, w, c, dx, dy)
	}
}

// shift moves each h×w plane of one image by dx columns and dy rows:
// out[y][x] = in[y-dy][x-dx], zero where that falls outside.
func shift(out, in []float32, h, w, c, dx, dy int) {
	clear(out)
	// Columns x of out with 0 <= x-dx < w.
	x0, x1 := max(0, dx), min(w, w+dx)
	if x0 >= x1 {
		return
	}
	for ch := range c {
		plane := ch * h * w
		for y := max(0, dy); y < min(h, h+dy); y++ {
			row := plane + y*w
			srow := plane + (y-dy)*w
			copy(out[row+x0:row+x1], in[srow+x0-dx:srow+x1-dx])
		}
	}
}

// JitterLayout is [Jitter] of images stored in layout (a [Preprocess.Layout]): for LayoutNHWC
// each image is h×w pixels of c values each ([H,W,C]), and a pixel's c values move together;
// any other layout is Jitter's channel-major [C,H,W]. The shifts drawn from rng are the same as
// Jitter's, so jittering channel-last images and then transposing them gives the same images as
// transposing and then jittering.
func JitterLayout(dst, src []float32, n, h, w, c int, layout string, k int, rng *rand.Rand) {
	if layout != LayoutNHWC || c == 1 || k <= 0 {
		Jitter(dst, src, n, h, w, c, k, rng)
		return
	}
	size := c * h * w
	if len(dst) < n*size || len(src) < n*size {
		panic(fmt.Sprintf("dataset.JitterLayout: %d images of %dx%dx%d need %d values; src has %d, dst %d", n, h, w, c, n*size, len(src), len(dst)))
	}
	for i := range n {
		dx := rng.IntN(2*k+1) - k
		dy := rng.IntN(2*k+1) - k
		// A row of a channel-last image is w*c values, and a shift by dx pixels moves them by
		// dx*c: one plane of h rows of w*c values.
		shift(dst[i*size:(i+1)*size], src[i*size:(i+1)*size], h, w*c, 1, dx*c, dy)
	}
}

// ImageDimsLayout is [ImageDims] for images stored in layout (a [Preprocess.Layout]): for
// LayoutNHWC [h w c], [h w] (c = 1) or a flat sample laid out as a [c h w] modelShape says,
// for [JitterLayout]; any other layout is ImageDims's channel-major reading.
func ImageDimsLayout(shape, modelShape []int, layout string) (h, w, c int, ok bool) {
	if layout != LayoutNHWC {
		return ImageDims(shape, modelShape)
	}
	h, w, c, err := hwc(shape, modelShape)
	return h, w, c, err == nil
}

// ImageDims reads image height, width and channels from a per-sample shape, channel-major as
// Jitter wants it: [h w], [c h w], or a flat [h*w] sample laid out as the model's input shape
// modelShape ([c h w] or [h w]) says. A flat sample with a flat model shape is a vector of
// features (a CSV's row, say) as far as anything here can tell, not an image, even when its length
// is a square: ok is false.
func ImageDims(shape, modelShape []int) (h, w, c int, ok bool) {
	switch len(shape) {
	case 2:
		return shape[0], shape[1], 1, true
	case 3:
		return shape[1], shape[2], shape[0], true
	case 1:
		if NumValues(modelShape) == shape[0] && (len(modelShape) == 2 || len(modelShape) == 3) {
			return ImageDims(modelShape, nil)
		}
	}
	return 0, 0, 0, false
}
