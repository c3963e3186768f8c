package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestOpenFlatImageFolder: a folder of images without class folders is read as unlabelled
// samples sorted by file name, each named by its file, with the decoding, --image-size and
// --color of a class folder; hidden entries are skipped, other files counted as skipped.
func TestOpenFlatImageFolder(t *testing.T) {
	g := func(pix ...uint8) []byte { return pngOf(t, grayImg(2, 2, pix...)) }
	red := color.NRGBA{200, 10, 20, 255}
	tests := []struct {
		name  string
		files map[string][]byte
		src   Source
		shape []int
		x     []float32
		tol   float64
		names []string
	}{
		{
			name: "gray, sorted by name, hidden and other files skipped",
			files: map[string][]byte{
				"b.png": g(5, 6, 7, 8), "a.PNG": g(1, 2, 3, 4), "10.png": g(9, 10, 11, 12),
				".hidden.png": []byte("not an image"), "notes.txt": []byte("skipped"), ".git": nil,
			},
			shape: []int{1, 2, 2}, x: []float32{9, 10, 11, 12, 1, 2, 3, 4, 5, 6, 7, 8},
			names: []string{"10.png", "a.PNG", "b.png"},
		},
		{
			name:  "colour: rgb",
			files: map[string][]byte{"x.png": pngOf(t, uniform(1, 1, red, newNRGBA))},
			shape: []int{3, 1, 1}, x: []float32{200, 10, 20}, names: []string{"x.png"},
		},
		{
			name:  "gray asked for: luma",
			files: map[string][]byte{"x.png": pngOf(t, uniform(1, 1, red, newNRGBA))},
			src:   Source{Color: ColorGray},
			shape: []int{1, 1, 1}, x: []float32{68}, names: []string{"x.png"},
		},
		{
			name: "jpeg and png of mixed sizes resized",
			files: map[string][]byte{
				"1.jpg": jpegOf(t, uniform(8, 8, color.Gray{77}, newGray)),
				"2.png": pngOf(t, uniform(4, 6, color.Gray{100}, newGray)),
			},
			src:   Source{ImageSize: []int{2, 3}},
			shape: []int{1, 2, 3}, tol: 3, // JPEG is lossy; Catmull-Rom keeps a uniform image uniform
			x: cat(repeat(77, 6), repeat(100, 6)), names: []string{"1.jpg", "2.png"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tt.files)
			src := tt.src
			src.Data = dir
			ds, err := Open(src)
			if err != nil {
				t.Fatal(err)
			}
			if ds.N != len(tt.names) || ds.Labels != nil || ds.ClassNames != nil || ds.DType != "uint8" {
				t.Errorf("N %d, labels %v, class names %v, dtype %q: want %d unlabelled uint8 samples", ds.N, ds.Labels, ds.ClassNames, ds.DType, len(tt.names))
			}
			if d := cmp.Diff(tt.names, ds.SampleNames); d != "" {
				t.Errorf("sample names (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.shape, ds.Shape); d != "" {
				t.Errorf("shape (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.x, ds.X, cmpopts.EquateApprox(0, tt.tol)); d != "" {
				t.Errorf("values (-want +got):\n%s", d)
			}
			if shape, err := PeekShape(src); err != nil || !slices.Equal(shape, tt.shape) {
				t.Errorf("PeekShape: %v, %v; want %v", shape, err, tt.shape)
			}
			if !strings.Contains(ds.Unlabelled(), "without class folders") {
				t.Errorf("Unlabelled() = %q, want it to say the folder has no class folders", ds.Unlabelled())
			}
		})
	}
}

// TestImageFolderModes: class folders win over images beside them (the images are skipped, as
// before flat folders were read), and class folders' samples are named "<class>/<file>".
func TestImageFolderModes(t *testing.T) {
	ok := pngOf(t, grayImg(1, 1, 7))
	dir := t.TempDir()
	writeTree(t, dir, map[string][]byte{"stray.png": ok, "b/2.png": ok, "a/1.png": ok})
	ds, err := Open(Source{Data: dir})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"a/1.png", "b/2.png"}, ds.SampleNames); d != "" {
		t.Errorf("sample names (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]int32{0, 1}, ds.Labels); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
}

// TestFlatImageFolderErrors: a flat folder's bad images are refused as a class folder's are,
// naming the first in sample order; a labels file is still refused.
func TestFlatImageFolderErrors(t *testing.T) {
	ok := pngOf(t, grayImg(2, 2, 1, 2, 3, 4))
	tests := []struct {
		name  string
		files map[string][]byte
		src   Source
		is    error
		want  string // "$DIR" is the folder
	}{
		{"damaged", map[string][]byte{"1.png": ok, "2.png": ok[:30], "3.png": []byte("x")}, Source{}, ErrBadData, "read image $DIR/2.png"},
		{"empty first", map[string][]byte{"1.png": {}, "2.png": ok}, Source{}, ErrBadData, "read image $DIR/1.png: bad data file: an empty file"},
		{"mixed sizes", map[string][]byte{"1.png": ok, "2.png": pngOf(t, grayImg(3, 2, 1, 2, 3, 4, 5, 6))}, Source{}, ErrBadData, "set an image size"},
		{"labels file", map[string][]byte{"1.png": ok}, Source{Labels: "l.idx"}, ErrBadSource, "labels file (l.idx) is not allowed with an image folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tt.files)
			src := tt.src
			src.Data = dir
			_, err := Open(src)
			want := strings.ReplaceAll(tt.want, "$DIR", dir)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), filepath.FromSlash(want)) {
				t.Fatalf("error %v, want one wrapping %v containing %q", err, tt.is, want)
			}
		})
	}
}

// TestFlatImageFolderSHA256: a flat folder's sum is sha256sum's listing of its files.
func TestFlatImageFolderSHA256(t *testing.T) {
	a, b := pngOf(t, grayImg(1, 1, 7)), pngOf(t, grayImg(1, 1, 8))
	dir := t.TempDir()
	writeTree(t, dir, map[string][]byte{"1.png": a, "2.png": b})
	ds, err := Open(Source{Data: dir})
	if err != nil {
		t.Fatal(err)
	}
	hexSum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	list := fmt.Sprintf("%s  1.png\n%s  2.png\n", hexSum(a), hexSum(b))
	if want := hexSum([]byte(list)); ds.SHA256 != want {
		t.Errorf("sha256 %s, want %s, the sha256 of\n%s", ds.SHA256, want, list)
	}
	if err := os.Rename(filepath.Join(dir, "2.png"), filepath.Join(dir, "3.png")); err != nil {
		t.Fatal(err)
	}
	if ds2, err := Open(Source{Data: dir}); err != nil || ds2.SHA256 == ds.SHA256 {
		t.Errorf("renamed file: sha256 %v (err %v), want a new one", ds2, err)
	}
}
