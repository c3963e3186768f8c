package dataset

import (
	"errors"
	"os"
	"slices"
	"testing"
)

// FuzzReadImageFolder makes its input one PNG file of a two-class image folder and of a flat
// folder, the first image, which fixes the size and the colour, and opens each folder as it is
// and resized to rgb: it must give an error wrapping ErrBadData or a data set of two samples of
// values in 0..255 (labelled 0 and 1 in the class folders, unlabelled in the flat one), and
// never panic. Images are limited to 1<<16 pixels, so that a header's size cannot make the
// fuzzer allocate much.
func FuzzReadImageFolder(f *testing.F) {
	other := pngOf(f, grayImg(2, 2, 0, 85, 170, 255))
	f.Fuzz(func(t *testing.T, b []byte) {
		classes, flat := t.TempDir(), t.TempDir()
		writeTree(t, classes, map[string][]byte{"a/0.png": b, "b/0.png": other})
		writeTree(t, flat, map[string][]byte{"0.png": b, "1.png": other})
		for _, src := range []Source{{Data: classes}, {Data: classes, ImageSize: []int{3, 5}, Color: ColorRGB},
			{Data: flat}, {Data: flat, ImageSize: []int{3, 5}, Color: ColorRGB}} {
			ds, err := openImageFolder(src, 1<<16)
			if err != nil {
				if !errors.Is(err, ErrBadData) {
					t.Errorf("error does not wrap ErrBadData: %v", err)
				}
				continue
			}
			wantLabels := []int32{0, 1}
			if src.Data == flat {
				wantLabels = nil
			}
			if ds.N != 2 || !slices.Equal(ds.Labels, wantLabels) || len(ds.SampleNames) != 2 {
				t.Fatalf("N %d, labels %v, sample names %v", ds.N, ds.Labels, ds.SampleNames)
			}
			if len(ds.Shape) != 3 || (ds.Shape[0] != 1 && ds.Shape[0] != 3) || len(ds.X) != 2*ds.SampleSize() {
				t.Fatalf("shape %v, %d values", ds.Shape, len(ds.X))
			}
			for i, v := range ds.X {
				if !(v >= 0 && v <= 255) {
					t.Fatalf("value %d is %v, outside 0..255", i, v)
				}
			}
		}
	})
}

// BenchmarkOpenImageFolder times Open of the image folder DISTILL_IMAGEFOLDER names
// (scripts/bench-imagefolder.sh makes one of MNIST's 60,000 training images, as PNG files, and
// runs this), reporting images/s; without it, the benchmark is skipped.
func BenchmarkOpenImageFolder(b *testing.B) {
	dir := os.Getenv("DISTILL_IMAGEFOLDER")
	if dir == "" {
		b.Skip("DISTILL_IMAGEFOLDER is not set (scripts/bench-imagefolder.sh sets it)")
	}
	n := 0
	for b.Loop() {
		ds, err := Open(Source{Data: dir})
		if err != nil {
			b.Fatal(err)
		}
		n += ds.N
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "images/s")
}
