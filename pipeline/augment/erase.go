package augment

import (
	"math"
	"math/rand/v2"
)

// Erase is random erasing (Zhong et al. 2020; torchvision's RandomErasing with its defaults):
// with probability P an image gets one rectangle set to zero, of area a uniform fraction of the
// image in [0.02, 0.33] and aspect ratio log-uniform in [0.3, 3.3], placed uniformly; up to 10
// tries find a rectangle that fits, else the image is left as it is. Zero is black in raw pixel
// space, as RandomErasing(value=0) on unnormalised images.
type Erase struct{ P float64 }

func (e Erase) String() string { return "erase:" + formatFloat(e.P) }

// Check accepts every image.
func (Erase) Check(Geometry) error { return nil }

// The erasing defaults of Zhong et al. and torchvision.
const (
	eraseMinArea, eraseMaxArea = 0.02, 0.33
	eraseMinRatio              = 0.3
	eraseTries                 = 10
)

// Apply erases a rectangle of about P of the images of b.
func (e Erase) Apply(b *Batch, rng *rand.Rand) {
	logLo, logHi := math.Log(eraseMinRatio), math.Log(1/eraseMinRatio)
	area := float64(b.H * b.W)
	for i := range b.N {
		if rng.Float64() >= e.P {
			continue
		}
		for range eraseTries {
			target := area * (eraseMinArea + rng.Float64()*(eraseMaxArea-eraseMinArea))
			ratio := math.Exp(logLo + rng.Float64()*(logHi-logLo))
			h := int(math.Round(math.Sqrt(target * ratio)))
			w := int(math.Round(math.Sqrt(target / ratio)))
			if h < 1 || w < 1 || h >= b.H || w >= b.W {
				continue
			}
			y0, x0 := rng.IntN(b.H-h+1), rng.IntN(b.W-w+1)
			fillRect(b, i, y0, x0, h, w, nil)
			break
		}
	}
}

// fillRect sets the h×w rectangle at (y0, x0) of image i of b, on every channel, to the same
// rectangle of src (an image of b's geometry), or to zero when src is nil.
func fillRect(b *Batch, i, y0, x0, h, w int, src []float32) {
	img := b.image(i)
	planes, group := b.planes()
	rowLen := b.W * group
	for p := range planes {
		for y := y0; y < y0+h; y++ {
			s := p*b.H*rowLen + y*rowLen + x0*group
			if src == nil {
				clear(img[s : s+w*group])
			} else {
				copy(img[s:s+w*group], src[s:s+w*group])
			}
		}
	}
}
