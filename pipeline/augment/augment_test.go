package augment

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// img is one 2-channel 3x3 image, channel-major: channel 0 is 1..9, channel 1 is 11..19.
var img = []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19}

func TestShift(t *testing.T) {
	for _, tt := range []struct {
		name   string
		dx, dy int
		want   []float32
	}{
		{"none", 0, 0, img},
		{"right", 1, 0, []float32{0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 11, 12, 0, 14, 15, 0, 17, 18}},
		{"up left", -1, -1, []float32{5, 6, 0, 8, 9, 0, 0, 0, 0, 15, 16, 0, 18, 19, 0, 0, 0, 0}},
		{"down 2", 0, 2, []float32{0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 11, 12, 13}},
		{"off the image", 3, 0, make([]float32, 18)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := make([]float32, len(img))
			for i := range out {
				out[i] = -1 // must be overwritten everywhere
			}
			Shift(out, img, 3, 3, 2, tt.dx, tt.dy)
			if diff := cmp.Diff(tt.want, out); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// oneImage returns a batch of copies of img.
func oneImage(n int, layout string) *Batch {
	x := make([]float32, 0, n*len(img))
	src := img
	if layout == LayoutNHWC {
		src = toHWC(img, 1, 3, 3, 2)
	}
	for range n {
		x = append(x, src...)
	}
	return &Batch{X: x, N: n, Geometry: Geometry{H: 3, W: 3, C: 2, Layout: layout}}
}

// seeded returns the same random stream each call.
func seeded() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

func TestFlip(t *testing.T) {
	for _, layout := range []string{"", LayoutNHWC} {
		b := oneImage(64, layout)
		Flip{}.Apply(b, seeded())
		mirrored := []float32{3, 2, 1, 6, 5, 4, 9, 8, 7, 13, 12, 11, 16, 15, 14, 19, 18, 17}
		flipped := 0
		for i := range b.N {
			got := b.image(i)
			if layout == LayoutNHWC {
				got = toCHW(got, 1, 3, 3, 2)
			}
			switch {
			case slices.Equal(got, mirrored):
				flipped++
			case !slices.Equal(got, img):
				t.Fatalf("layout %q: image %d is neither the image nor its mirror: %v", layout, i, got)
			}
		}
		if flipped < 16 || flipped > 48 {
			t.Errorf("layout %q: %d of 64 flipped, want about half", layout, flipped)
		}
	}
}

func TestCropAndJitter(t *testing.T) {
	// A crop draws top, then left; a jitter draws dx, then dy: each image is some shift within
	// the bound, the same for the same seed, and every shift occurs.
	for _, st := range []Step{Crop{Pad: 1}, Jitter{K: 1}} {
		for _, layout := range []string{"", LayoutNHWC} {
			b := oneImage(200, layout)
			st.Apply(b, seeded())
			again := oneImage(200, layout)
			st.Apply(again, seeded())
			if !slices.Equal(b.X, again.X) {
				t.Errorf("%s %q: same seed, other images", st, layout)
			}
			seen := map[[2]int]bool{}
			for i := range b.N {
				got := b.image(i)
				if layout == LayoutNHWC {
					got = toCHW(got, 1, 3, 3, 2)
				}
				found := false
				for dx := -1; dx <= 1 && !found; dx++ {
					for dy := -1; dy <= 1 && !found; dy++ {
						want := make([]float32, len(img))
						Shift(want, img, 3, 3, 2, dx, dy)
						if slices.Equal(want, got) {
							found, seen[[2]int{dx, dy}] = true, true
						}
					}
				}
				if !found {
					t.Fatalf("%s %q: image %d is no shift within ±1: %v", st, layout, i, got)
				}
			}
			if len(seen) != 9 {
				t.Errorf("%s %q: %d of 9 shifts drawn", st, layout, len(seen))
			}
		}
	}
	// The crop is torchvision's: top and left drawn from [0, 2p], the shift p−left, p−top.
	b := oneImage(1, "")
	rng := seeded()
	top, left := rng.IntN(3), rng.IntN(3)
	Crop{Pad: 1}.Apply(b, seeded())
	want := make([]float32, len(img))
	Shift(want, img, 3, 3, 2, 1-left, 1-top)
	if !slices.Equal(b.X, want) {
		t.Errorf("crop: %v, want the shift by (%d, %d): %v", b.X, 1-left, 1-top, want)
	}
}

func TestErase(t *testing.T) {
	// 10x10 images of ones: an erased image has one zero rectangle of 2..33 pixels on both
	// channels, at the same place.
	const n, h, w = 400, 10, 10
	x := make([]float32, n*2*h*w)
	for i := range x {
		x[i] = 1
	}
	b := &Batch{X: x, N: n, Geometry: Geometry{H: h, W: w, C: 2}}
	Erase{P: 0.5}.Apply(b, seeded())
	erased := 0
	for i := range n {
		im := b.image(i)
		zeros0, zeros1 := 0, 0
		for p := range h * w {
			if im[p] == 0 {
				zeros0++
				if im[h*w+p] != 0 {
					t.Fatalf("image %d: pixel %d erased on channel 0 only", i, p)
				}
			}
			if im[h*w+p] == 0 {
				zeros1++
			}
		}
		if zeros0 != zeros1 {
			t.Fatalf("image %d: %d and %d erased", i, zeros0, zeros1)
		}
		if zeros0 > 0 {
			erased++
			if zeros0 < 1 || zeros0 > 40 {
				t.Errorf("image %d: %d pixels erased", i, zeros0)
			}
		}
	}
	if erased < 150 || erased > 250 {
		t.Errorf("%d of %d images erased at p 0.5", erased, n)
	}
}

func TestMixup(t *testing.T) {
	// Two images, 1s and 3s: each becomes λ·own + (1−λ)·partner, with λ and the pairing
	// recorded.
	b := &Batch{X: []float32{1, 1, 1, 1, 3, 3, 3, 3}, N: 2, Geometry: Geometry{H: 2, W: 2, C: 1}}
	Mixup{Alpha: 0.4}.Apply(b, seeded())
	if b.Mixed == nil || b.Mixed.Lam < 0 || b.Mixed.Lam > 1 {
		t.Fatalf("mix %+v", b.Mixed)
	}
	lam := b.Mixed.Lam
	for i, j := range b.Mixed.Partner {
		own, other := float64(1+2*i), float64(1+2*j)
		want := float32(lam)*float32(own) + float32(1-lam)*float32(other)
		for _, v := range b.image(i) {
			if v != want {
				t.Errorf("image %d: %v, want %v (λ %v, partner %d)", i, v, want, lam, j)
			}
		}
	}
}

func TestCutMix(t *testing.T) {
	// 8x8 images of 0s and of 1s: the pasted area is 1−λ of the image, a rectangle of the partner.
	const h, w = 8, 8
	x := make([]float32, 2*h*w)
	for p := h * w; p < 2*h*w; p++ {
		x[p] = 1
	}
	b := &Batch{X: x, N: 2, Geometry: Geometry{H: h, W: w, C: 1}}
	CutMix{Alpha: 1}.Apply(b, seeded())
	for i, j := range b.Mixed.Partner {
		own := b.image(i)
		foreign := 0
		for _, v := range own {
			if v != float32(i) {
				foreign++
			}
		}
		if i != j {
			if got := 1 - float64(foreign)/(h*w); got != b.Mixed.Lam {
				t.Errorf("image %d: %.4f of it its own, λ says %.4f", i, got, b.Mixed.Lam)
			}
		}
	}
}

func TestParse(t *testing.T) {
	p, err := Parse("crop:2, flip,erase:0.25,mixup:0.2")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.String(); got != "crop:2,flip,erase:0.25,mixup:0.2" || !p.Mixes() {
		t.Errorf("Parse: %q, mixes %v", got, p.Mixes())
	}
	for _, tt := range []struct{ list, want string }{
		{"rotate", `unknown augmentation "rotate"`},
		{"crop:0", "at least 1"},
		{"crop", "at least 1"},
		{"flip:1", "no parameter"},
		{"erase:2", "probability"},
		{"mixup:0", "a > 0"},
		{"mixup:0.2,cutmix:1", "both mix images"},
	} {
		if _, err := Parse(tt.list); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q): %v, want %q", tt.list, err, tt.want)
		}
	}
	if err := (Pipeline{Crop{Pad: 3}}).Check(Geometry{H: 3, W: 8, C: 1}); err == nil || !strings.Contains(err.Error(), "crop:3: 3 shifts the 3x8 images") {
		t.Errorf("crop as large as the image: %v", err)
	}
}

// toHWC and toCHW transpose n images between [C,H,W] and [H,W,C].
func toHWC(x []float32, n, h, w, c int) []float32 {
	out := make([]float32, len(x))
	for i := range n {
		for ch := range c {
			for p := range h * w {
				out[i*h*w*c+p*c+ch] = x[i*h*w*c+ch*h*w+p]
			}
		}
	}
	return out
}

func toCHW(x []float32, n, h, w, c int) []float32 {
	out := make([]float32, len(x))
	for i := range n {
		for ch := range c {
			for p := range h * w {
				out[i*h*w*c+ch*h*w+p] = x[i*h*w*c+p*c+ch]
			}
		}
	}
	return out
}

// BenchmarkPipeline augments a batch of 128 Fashion-MNIST-sized images with each step and with
// the usual recipe; compare with a training step of the student (scripts/bench-augment.sh).
func BenchmarkPipeline(b *testing.B) {
	const n, h, w = 128, 28, 28
	x := make([]float32, n*h*w)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range x {
		x[i] = float32(rng.IntN(256))
	}
	for _, list := range []string{"flip", "crop:2", "jitter:2", "erase:0.25", "mixup:0.2", "cutmix:1", "crop:2,flip", "crop:2,flip,erase:0.25,mixup:0.2"} {
		p, err := Parse(list)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(list, func(b *testing.B) {
			batch := &Batch{X: make([]float32, len(x)), N: n, Geometry: Geometry{H: h, W: w, C: 1}}
			for b.Loop() {
				copy(batch.X, x)
				p.Apply(batch, rng)
			}
		})
	}
}
