package augment

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// LayoutNHWC is the channel-last layout of stored images (dataset.LayoutNHWC); any other layout
// is channel-major [C,H,W].
const LayoutNHWC = "nhwc"

// Geometry says how the images of a batch are stored: H×W pixels of C channels, channel-major
// ([C,H,W], or [H,W] with C 1) unless Layout is LayoutNHWC ([H,W,C]).
type Geometry struct {
	H, W, C int
	Layout  string
}

// Size is the number of values of one image.
func (g Geometry) Size() int { return g.H * g.W * g.C }

// planes returns how the image is walked: planes of h rows of w pixels of group values each
// (c planes of single values channel-major; one plane of c-value pixels channel-last).
func (g Geometry) planes() (planes, group int) {
	if g.Layout == LayoutNHWC {
		return 1, g.C
	}
	return g.C, 1
}

// Batch is a mini-batch of images in raw pixel space (before preprocessing), augmented in place.
type Batch struct {
	// X holds the N images, Geometry.Size() values each.
	X []float32
	N int
	Geometry
	// Mixed is set by a mixing step (mixup, cutmix): image i is then Lam parts of image i and
	// 1−Lam parts of image Partner[i], and its hard target, for labels y, is Lam·e(y[i]) +
	// (1−Lam)·e(y[Partner[i]]). Nil when no step mixed.
	Mixed *Mix

	scratch []float32 // one image, for steps that cannot work in place
	mixSrc  []float32 // the batch before a mixing step
}

// Mix is how a batch was mixed.
type Mix struct {
	Partner []int
	Lam     float64
}

// image returns image i of b.
func (b *Batch) image(i int) []float32 {
	s := b.Size()
	return b.X[i*s : (i+1)*s]
}

// tmp returns a scratch buffer of one image.
func (b *Batch) tmp() []float32 {
	if len(b.scratch) < b.Size() {
		b.scratch = make([]float32, b.Size())
	}
	return b.scratch[:b.Size()]
}

// Step is one augmentation: it changes the images of a batch in place, drawing what it needs
// from rng (the same draws for the same batch and RNG state, so that training is reproducible
// from its seed and resumes exactly).
type Step interface {
	// String is the step as --augment writes it, e.g. "crop:2".
	String() string
	// Check refuses images the step cannot apply to (a shift as large as the image).
	Check(g Geometry) error
	// Apply augments b.
	Apply(b *Batch, rng *rand.Rand)
}

// Mixing is a Step that mixes pairs of images (and so their labels).
type Mixing interface {
	Step
	mixes()
}

// Pipeline is the list of steps --augment gives, applied in order.
type Pipeline []Step

// String writes p as --augment takes it.
func (p Pipeline) String() string {
	s := make([]string, len(p))
	for i, st := range p {
		s[i] = st.String()
	}
	return strings.Join(s, ",")
}

// Mixes reports whether a step of p mixes images.
func (p Pipeline) Mixes() bool {
	for _, st := range p {
		if _, ok := st.(Mixing); ok {
			return true
		}
	}
	return false
}

// Check refuses a geometry a step cannot apply to.
func (p Pipeline) Check(g Geometry) error {
	for _, st := range p {
		if err := st.Check(g); err != nil {
			return fmt.Errorf("%s: %w", st, err)
		}
	}
	return nil
}

// Apply runs every step on b in order; b.Mixed is reset first.
func (p Pipeline) Apply(b *Batch, rng *rand.Rand) {
	b.Mixed = nil
	for _, st := range p {
		st.Apply(b, rng)
	}
}

// ErrSyntax is wrapped by Parse's errors.
var ErrSyntax = errors.New("bad augmentation list")

// Parse reads an augmentation list, e.g. "crop:2,flip,erase:0.25" (see the package doc): each
// item a name and, for those that take one, ":" and its parameter. At most one mixing step.
func Parse(list string) (Pipeline, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var p Pipeline
	mixing := ""
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		name, arg, hasArg := strings.Cut(item, ":")
		mk, ok := steps[name]
		if !ok {
			return nil, fmt.Errorf("%w %q: unknown augmentation %q (want %s)", ErrSyntax, list, name, known)
		}
		st, err := mk(arg, hasArg)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %s: %v", ErrSyntax, list, item, err)
		}
		if _, ok := st.(Mixing); ok {
			if mixing != "" {
				return nil, fmt.Errorf("%w %q: %s and %s both mix images: give one", ErrSyntax, list, mixing, item)
			}
			mixing = item
		}
		p = append(p, st)
	}
	return p, nil
}

// known lists the augmentations for messages.
const known = "flip, crop:<pixels>, jitter:<pixels>, erase:<p>, mixup:<a>, cutmix:<a>"

// steps makes each augmentation from its parameter.
var steps = map[string]func(arg string, hasArg bool) (Step, error){
	"flip": func(arg string, hasArg bool) (Step, error) {
		if hasArg {
			return nil, errors.New("flip takes no parameter (it flips half the images)")
		}
		return Flip{}, nil
	},
	"crop": func(arg string, _ bool) (Step, error) {
		k, err := pixels(arg)
		return Crop{Pad: k}, err
	},
	"jitter": func(arg string, _ bool) (Step, error) {
		k, err := pixels(arg)
		return Jitter{K: k}, err
	},
	"erase": func(arg string, _ bool) (Step, error) {
		p, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(p > 0 && p <= 1) {
			return nil, errors.New("want a probability in (0, 1], e.g. erase:0.25")
		}
		return Erase{P: p}, nil
	},
	"mixup": func(arg string, _ bool) (Step, error) {
		a, err := alpha(arg)
		return Mixup{Alpha: a}, err
	},
	"cutmix": func(arg string, _ bool) (Step, error) {
		a, err := alpha(arg)
		return CutMix{Alpha: a}, err
	},
}

// pixels reads a shift or padding of at least one pixel.
func pixels(arg string) (int, error) {
	k, err := strconv.Atoi(arg)
	if err != nil || k < 1 {
		return 0, errors.New("want a whole number of pixels, at least 1")
	}
	return k, nil
}

// alpha reads a Beta distribution's parameter.
func alpha(arg string) (float64, error) {
	a, err := strconv.ParseFloat(arg, 64)
	if err != nil || !(a > 0) || a > 1e6 {
		return 0, errors.New("want the Beta(a, a) parameter a > 0, e.g. mixup:0.2")
	}
	return a, nil
}
