package dataset

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestJitter(t *testing.T) {
	// One 2-channel 3x3 image: channel 0 is 1..9, channel 1 is 11..19.
	src := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19}
	tests := []struct {
		name   string
		dx, dy int
		want   []float32
	}{
		{"none", 0, 0, src},
		{"right", 1, 0, []float32{0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 11, 12, 0, 14, 15, 0, 17, 18}},
		{"up left", -1, -1, []float32{5, 6, 0, 8, 9, 0, 0, 0, 0, 15, 16, 0, 18, 19, 0, 0, 0, 0}},
		{"down 2", 0, 2, []float32{0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 11, 12, 13}},
		{"off the image", 3, 0, make([]float32, 18)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := make([]float32, len(src))
			for i := range out {
				out[i] = -1 // must be overwritten everywhere
			}
			shift(out, src, 3, 3, 2, tt.dx, tt.dy)
			if diff := cmp.Diff(tt.want, out); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	// Jitter: deterministic from the seed, shifts within ±k, pixel sum never grows.
	const n, h, w, k = 200, 28, 28, 2
	rng := rand.New(rand.NewPCG(7, 8))
	imgs := make([]float32, n*h*w)
	for i := range imgs {
		imgs[i] = float32(rng.IntN(256))
	}
	a := make([]float32, len(imgs))
	b := make([]float32, len(imgs))
	Jitter(a, imgs, n, h, w, 1, k, rand.New(rand.NewPCG(1, 1)))
	Jitter(b, imgs, n, h, w, 1, k, rand.New(rand.NewPCG(1, 1)))
	if !slices.Equal(a, b) {
		t.Error("same seed, different output")
	}
	seen := map[[2]int]int{}
	for i := range n {
		img, out := imgs[i*h*w:(i+1)*h*w], a[i*h*w:(i+1)*h*w]
		found := false
		for dx := -k; dx <= k && !found; dx++ {
			for dy := -k; dy <= k && !found; dy++ {
				want := make([]float32, h*w)
				shift(want, img, h, w, 1, dx, dy)
				if slices.Equal(want, out) {
					found = true
					seen[[2]int{dx, dy}]++
				}
			}
		}
		if !found {
			t.Fatalf("image %d: output is no shift within ±%d of the input", i, k)
		}
	}
	// 200 draws over 25 shifts: each appears 8 times on average; all 25 should occur.
	if len(seen) != (2*k+1)*(2*k+1) {
		t.Errorf("only %d of %d shifts drawn: %v", len(seen), (2*k+1)*(2*k+1), seen)
	}
	c := make([]float32, len(imgs))
	Jitter(c, imgs, n, h, w, 1, 0, nil)
	if !slices.Equal(c, imgs) {
		t.Error("k=0 changed the images")
	}
}

func TestImageDims(t *testing.T) {
	tests := []struct {
		shape, model []int
		h, w, c      int
		ok           bool
	}{
		{[]int{28, 28}, nil, 28, 28, 1, true},
		{[]int{3, 32, 32}, nil, 32, 32, 3, true},
		{[]int{784}, []int{784}, 0, 0, 0, false}, // a vector, square or not
		{[]int{784}, []int{1, 28, 28}, 28, 28, 1, true},
		{[]int{4}, []int{4}, 0, 0, 0, false}, // an iris row is no 2x2 image
		{[]int{3072}, []int{3, 32, 32}, 32, 32, 3, true},
		{[]int{10}, []int{10}, 0, 0, 0, false},
		{[]int{2, 3, 4, 5}, nil, 0, 0, 0, false},
	}
	for _, tt := range tests {
		h, w, c, ok := ImageDims(tt.shape, tt.model)
		if h != tt.h || w != tt.w || c != tt.c || ok != tt.ok {
			t.Errorf("ImageDims(%v, %v) = %d, %d, %d, %v; want %d, %d, %d, %v", tt.shape, tt.model, h, w, c, ok, tt.h, tt.w, tt.c, tt.ok)
		}
	}
}

func TestJitterLayout(t *testing.T) {
	// Channel-last images jittered, then transposed, are the channel-major images transposed,
	// then jittered: the same shifts from the same seed, every pixel's channels moving together.
	const n, h, w, c, k = 50, 6, 7, 3, 2
	rng := rand.New(rand.NewPCG(9, 10))
	hwcImgs := make([]float32, n*h*w*c)
	for i := range hwcImgs {
		hwcImgs[i] = float32(1 + rng.IntN(255)) // never 0, so a shift always shows
	}
	got := make([]float32, len(hwcImgs))
	JitterLayout(got, hwcImgs, n, h, w, c, LayoutNHWC, k, rand.New(rand.NewPCG(1, 2)))
	want := make([]float32, len(hwcImgs))
	Jitter(want, toCHW(hwcImgs, n, h, w, c), n, h, w, c, k, rand.New(rand.NewPCG(1, 2)))
	if diff := cmp.Diff(want, toCHW(got, n, h, w, c)); diff != "" {
		t.Errorf("(-transpose then jitter +jitter then transpose):\n%s", diff)
	}
	if slices.Equal(got, hwcImgs) {
		t.Error("no image was shifted")
	}
	// Channel-major layouts are Jitter's.
	for _, layout := range []string{"", LayoutNCHW} {
		a, b := make([]float32, len(hwcImgs)), make([]float32, len(hwcImgs))
		JitterLayout(a, hwcImgs, n, h, w, c, layout, k, rand.New(rand.NewPCG(1, 2)))
		Jitter(b, hwcImgs, n, h, w, c, k, rand.New(rand.NewPCG(1, 2)))
		if !slices.Equal(a, b) {
			t.Errorf("layout %q: JitterLayout is not Jitter", layout)
		}
	}
}

func TestImageDimsLayout(t *testing.T) {
	tests := []struct {
		shape, model []int
		layout       string
		h, w, c      int
		ok           bool
	}{
		{[]int{32, 32, 3}, nil, LayoutNHWC, 32, 32, 3, true},
		{[]int{28, 28}, nil, LayoutNHWC, 28, 28, 1, true},
		{[]int{3072}, []int{3, 32, 32}, LayoutNHWC, 32, 32, 3, true},
		{[]int{3072}, []int{3072}, LayoutNHWC, 0, 0, 0, false},
		{[]int{2, 3, 4, 5}, nil, LayoutNHWC, 0, 0, 0, false},
		{[]int{3, 32, 32}, nil, LayoutNCHW, 32, 32, 3, true},
		{[]int{3, 32, 32}, nil, "", 32, 32, 3, true},
	}
	for _, tt := range tests {
		h, w, c, ok := ImageDimsLayout(tt.shape, tt.model, tt.layout)
		if h != tt.h || w != tt.w || c != tt.c || ok != tt.ok {
			t.Errorf("ImageDimsLayout(%v, %v, %q) = %d, %d, %d, %v; want %d, %d, %d, %v", tt.shape, tt.model, tt.layout, h, w, c, ok, tt.h, tt.w, tt.c, tt.ok)
		}
	}
}
