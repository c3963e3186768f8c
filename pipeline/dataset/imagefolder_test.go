package dataset

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// pngOf encodes img as a PNG file.
func pngOf(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// jpegOf encodes img as a JPEG file of quality 95.
func jpegOf(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// grayImg is an h x w gray image of pix, row-major.
func grayImg(h, w int, pix ...uint8) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, w, h))
	copy(m.Pix, pix)
	return m
}

// uniform is an h x w image of colour c, in the image type of model m.
func uniform(h, w int, c color.Color, m func(image.Rectangle) drawImage) image.Image {
	img := m(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	return img
}

type drawImage interface {
	image.Image
	Set(x, y int, c color.Color)
}

func newNRGBA(r image.Rectangle) drawImage  { return image.NewNRGBA(r) }
func newRGBA64(r image.Rectangle) drawImage { return image.NewRGBA64(r) }
func newGray16(r image.Rectangle) drawImage { return image.NewGray16(r) }
func newGray(r image.Rectangle) drawImage   { return image.NewGray(r) }

// writeTree writes files (path relative to dir, '/'-separated, -> contents) under dir.
func writeTree(tb testing.TB, dir string, files map[string][]byte) {
	tb.Helper()
	for rel, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if b == nil { // a folder
			if err := os.MkdirAll(p, 0o755); err != nil {
				tb.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// repeat returns n copies of v.
func repeat(v float32, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func cat(parts ...[]float32) []float32 {
	var out []float32
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// imageFolderCase is a folder of images and what Open makes of it.
type imageFolderCase struct {
	name    string
	files   map[string][]byte // path in the folder -> contents (nil: a folder)
	src     Source            // Data is set to the folder
	shape   []int
	x       []float32
	tol     float64 // on x
	labels  []int32
	classes []string
}

// layoutCases are the cases of folder layout and colour modes.
func layoutCases(t *testing.T) []imageFolderCase {
	g := func(pix ...uint8) []byte { return pngOf(t, grayImg(2, 2, pix...)) }
	red := color.NRGBA{200, 10, 20, 255}
	// Alpha is dropped, not composited: a half-transparent colour keeps its red, green, blue.
	seeThrough := color.NRGBA{100, 50, 25, 128}
	palGray := &image.Paletted{Pix: []uint8{0, 1, 1, 0}, Stride: 2, Rect: image.Rect(0, 0, 2, 2), Palette: color.Palette{color.Gray{0}, color.Gray{90}}}
	palColour := &image.Paletted{Pix: []uint8{0, 1, 1, 0}, Stride: 2, Rect: image.Rect(0, 0, 2, 2), Palette: color.Palette{color.RGBA{0, 0, 0, 255}, color.RGBA{255, 0, 0, 255}}}
	return []imageFolderCase{
		{
			name: "gray, sorted by class then name, hidden and other files skipped",
			files: map[string][]byte{
				"b/2.png": g(5, 6, 7, 8), "b/10.PNG": g(9, 10, 11, 12), "a/x.png": g(1, 2, 3, 4),
				"a/.hidden.png": []byte("not an image"), ".git/x.png": []byte("nor this"), "a/notes.txt": []byte("skipped"),
				"README.md": []byte("skipped"), "b/nested": nil,
			},
			shape: []int{1, 2, 2}, x: []float32{1, 2, 3, 4, 9, 10, 11, 12, 5, 6, 7, 8},
			labels: []int32{0, 1, 1}, classes: []string{"a", "b"},
		},
		{
			name:  "rgb, channel-major, alpha dropped",
			files: map[string][]byte{"c/1.png": pngOf(t, uniform(1, 2, red, newNRGBA)), "c/2.png": pngOf(t, uniform(1, 2, seeThrough, newNRGBA))},
			shape: []int{3, 1, 2}, x: []float32{200, 200, 10, 10, 20, 20, 100, 100, 50, 50, 25, 25},
			labels: []int32{0, 0}, classes: []string{"c"},
		},
		{
			name:  "rgb read as gray: luma",
			files: map[string][]byte{"c/1.png": pngOf(t, uniform(1, 1, red, newNRGBA))},
			src:   Source{Color: ColorGray},
			// (19595*200 + 38470*10 + 7471*20 + 32768) >> 16 = 68
			shape: []int{1, 1, 1}, x: []float32{68}, labels: []int32{0}, classes: []string{"c"},
		},
		{
			name:  "gray read as rgb: repeated",
			files: map[string][]byte{"c/1.png": g(1, 2, 3, 4)},
			src:   Source{Color: ColorRGB},
			shape: []int{3, 2, 2}, x: []float32{1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4}, labels: []int32{0}, classes: []string{"c"},
		},
		{
			name:  "paletted gray is gray",
			files: map[string][]byte{"c/1.png": pngOf(t, palGray)},
			shape: []int{1, 2, 2}, x: []float32{0, 90, 90, 0}, labels: []int32{0}, classes: []string{"c"},
		},
		{
			name:  "paletted colour is rgb",
			files: map[string][]byte{"c/1.png": pngOf(t, palColour)},
			shape: []int{3, 2, 2}, x: []float32{0, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0}, labels: []int32{0}, classes: []string{"c"},
		},
		{
			name:  "gray with alpha is gray, alpha dropped",
			files: map[string][]byte{"c/1.png": pngGrayAlpha(t, 1, 2, 10, 255, 20, 0)},
			shape: []int{1, 1, 2}, x: []float32{10, 20}, labels: []int32{0}, classes: []string{"c"},
		},
	}
}

// formatCases are the cases of bit depths, JPEG and resizing.
func formatCases(t *testing.T) []imageFolderCase {
	return []imageFolderCase{
		{
			name: "16-bit: the high byte",
			files: map[string][]byte{
				"g/1.png": pngOf(t, uniform(1, 1, color.Gray16{0x1234}, newGray16)),
				"g/2.png": pngOf(t, uniform(1, 1, color.Gray16{0xffff}, newGray16)),
			},
			shape: []int{1, 1, 1}, x: []float32{0x12, 0xff}, labels: []int32{0, 0}, classes: []string{"g"},
		},
		{
			name:  "16-bit rgb",
			files: map[string][]byte{"c/1.png": pngOf(t, uniform(1, 1, color.RGBA64{0x1234, 0xabcd, 0x00ff, 0xffff}, newRGBA64))},
			shape: []int{3, 1, 1}, x: []float32{0x12, 0xab, 0x00}, labels: []int32{0}, classes: []string{"c"},
		},
		{
			name: "jpeg gray and colour, any case of extension",
			files: map[string][]byte{
				"a/1.JPG":  jpegOf(t, uniform(8, 8, color.Gray{77}, newGray)),
				"b/1.jpeg": jpegOf(t, uniform(8, 8, color.NRGBA{200, 100, 50, 255}, newNRGBA)),
			},
			src:   Source{Color: ColorRGB},
			shape: []int{3, 8, 8}, tol: 3, // JPEG is lossy; a uniform block decodes to within a few levels
			x:      cat(repeat(77, 3*64), repeat(200, 64), repeat(100, 64), repeat(50, 64)),
			labels: []int32{0, 1}, classes: []string{"a", "b"},
		},
		{
			name: "mixed sizes resized",
			files: map[string][]byte{
				"a/1.png": pngOf(t, uniform(4, 6, color.Gray{100}, newGray)),
				"a/2.png": pngOf(t, grayImg(2, 3, 1, 2, 3, 4, 5, 6)),
			},
			src:   Source{ImageSize: []int{2, 3}},
			shape: []int{1, 2, 3}, tol: 1, // Catmull-Rom keeps a uniform image uniform, up to rounding
			x:      []float32{100, 100, 100, 100, 100, 100, 1, 2, 3, 4, 5, 6},
			labels: []int32{0, 0}, classes: []string{"a"},
		},
	}
}

func TestOpenImageFolder(t *testing.T) {
	for _, tt := range append(layoutCases(t), formatCases(t)...) {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tt.files)
			src := tt.src
			src.Data = dir
			ds, err := Open(src)
			if err != nil {
				t.Fatal(err)
			}
			if ds.N != len(tt.labels) || ds.DType != "uint8" || ds.Path != dir || ds.DefaultScale() != 255 {
				t.Errorf("N %d, DType %q, Path %q, DefaultScale %v", ds.N, ds.DType, ds.Path, ds.DefaultScale())
			}
			if diff := cmp.Diff(tt.shape, ds.Shape); diff != "" {
				t.Errorf("shape (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.x, ds.X, cmpopts.EquateApprox(0, tt.tol)); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.labels, ds.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.classes, ds.ClassNames); diff != "" {
				t.Errorf("class names (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOpenImageFolderErrors(t *testing.T) {
	ok := pngOf(t, grayImg(2, 2, 1, 2, 3, 4))
	damaged := ok[:len(ok)-20]
	tests := []struct {
		name  string
		files map[string][]byte
		src   Source
		is    error
		want  []string // in the message; "$DIR" is the folder
	}{
		{"empty class", map[string][]byte{"a/1.png": ok, "b/.keep": []byte{}, "b/notes.txt": []byte("x")}, Source{}, ErrBadData,
			[]string{"class folder $DIR/b holds no PNG or JPEG files"}},
		{"neither images nor class folders", map[string][]byte{"notes.txt": ok, "1.gif": ok, ".hidden/1.png": ok}, Source{}, ErrBadData,
			[]string{"open image folder $DIR", "no PNG or JPEG images and no class folders in it"}},
		{"nothing at all", map[string][]byte{".keep": nil}, Source{}, ErrBadData,
			[]string{"open image folder $DIR", "no PNG or JPEG images and no class folders in it"}},
		{"not an image", map[string][]byte{"a/1.png": ok, "a/2.png": []byte("hello, world")}, Source{}, ErrBadData,
			[]string{"read image $DIR/a/2.png", "not a PNG or JPEG file"}},
		{"empty png", map[string][]byte{"a/1.png": ok, "a/2.png": {}}, Source{}, ErrBadData,
			[]string{"read image $DIR/a/2.png: bad data file: an empty file (0 bytes), not a PNG or JPEG image"}},
		{"empty first png", map[string][]byte{"a/1.png": {}, "a/2.png": ok}, Source{}, ErrBadData,
			[]string{"read image $DIR/a/1.png: bad data file: an empty file (0 bytes)"}},
		{"damaged png", map[string][]byte{"a/1.png": ok, "b/1.png": damaged}, Source{}, ErrBadData,
			[]string{"read image $DIR/b/1.png", "png:"}},
		{"damaged first png", map[string][]byte{"a/1.png": damaged, "b/1.png": ok}, Source{}, ErrBadData,
			[]string{"read image $DIR/a/1.png"}},
		{"mixed sizes", map[string][]byte{"a/1.png": ok, "a/2.png": pngOf(t, grayImg(3, 2, 1, 2, 3, 4, 5, 6))}, Source{}, ErrBadData,
			[]string{"read image $DIR/a/2.png", "3x2 pixels (height x width)", "the first image, $DIR/a/1.png, is 2x2", "set an image size"}},
		{"huge header", map[string][]byte{"a/1.png": claimSize(ok, 100000, 100000)}, Source{}, ErrBadData,
			[]string{"read image $DIR/a/1.png", "100000x100000 pixels (height x width), more than the 67108864"}},
		{"labels file", map[string][]byte{"a/1.png": ok}, Source{Labels: "labels.idx"}, ErrBadSource,
			[]string{"labels file (labels.idx) is not allowed with an image folder"}},
		{"csv settings", map[string][]byte{"a/1.png": ok}, Source{LabelColumn: "y"}, ErrBadSource, []string{"for CSV data"}},
		{"unknown color", map[string][]byte{"a/1.png": ok}, Source{Color: "cmyk"}, ErrBadSource, []string{`unknown color "cmyk"`}},
		{"bad image size", map[string][]byte{"a/1.png": ok}, Source{ImageSize: []int{28}}, ErrBadSource, []string{"image size [28]"}},
		{"huge image size", map[string][]byte{"a/1.png": ok}, Source{ImageSize: []int{1 << 20, 1 << 20}}, ErrBadSource, []string{"more than the"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tt.files)
			src := tt.src
			src.Data = dir
			_, err := Open(src)
			if !errors.Is(err, tt.is) {
				t.Fatalf("error %v, want one wrapping %v", err, tt.is)
			}
			for _, w := range tt.want {
				if w = strings.ReplaceAll(w, "$DIR", dir); !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	t.Run("image settings for a file", func(t *testing.T) {
		_, err := Open(Source{Data: "x.npy", ImageSize: []int{2, 2}})
		if !errors.Is(err, ErrBadSource) || !strings.Contains(err.Error(), "are for image folders") {
			t.Errorf("error %v", err)
		}
	})
}

// TestImageFolderFirstError checks that of several bad images, decoded in parallel, the error
// names the first in sample order, every time.
func TestImageFolderFirstError(t *testing.T) {
	dir := t.TempDir()
	ok := pngOf(t, grayImg(2, 2, 1, 2, 3, 4))
	files := map[string][]byte{}
	for i := range 300 {
		files[fmt.Sprintf("%d/%03d.png", i%3, i)] = ok
	}
	files["1/150.png"] = []byte("not an image")
	files["1/030.png"] = ok[:40]
	files["2/002.png"] = ok[:50]
	writeTree(t, dir, files)
	want := filepath.Join(dir, "1", "030.png")
	for range 10 {
		_, err := Open(Source{Data: dir})
		if err == nil || !strings.Contains(err.Error(), want+":") {
			t.Fatalf("error %v, want one naming %s", err, want)
		}
	}
}

func TestImageFolderSHA256(t *testing.T) {
	a, b := pngOf(t, grayImg(1, 1, 7)), pngOf(t, grayImg(1, 1, 8))
	sum := func(files map[string][]byte) string {
		t.Helper()
		dir := t.TempDir()
		writeTree(t, dir, files)
		ds, err := Open(Source{Data: dir})
		if err != nil {
			t.Fatal(err)
		}
		return ds.SHA256
	}
	hexSum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	list := fmt.Sprintf("%s  x/1.png\n%s  y/2.png\n", hexSum(a), hexSum(b))
	base := map[string][]byte{"x/1.png": a, "y/2.png": b}
	if got, want := sum(base), hexSum([]byte(list)); got != want {
		t.Errorf("sha256 %s, want %s, the sha256 of\n%s", got, want, list)
	}
	if sum(base) != sum(map[string][]byte{"x/1.png": a, "y/2.png": b, "y/skipped.txt": []byte("x")}) {
		t.Error("a skipped file changed the sha256")
	}
	for name, files := range map[string]map[string][]byte{
		"content changed": {"x/1.png": a, "y/2.png": a},
		"file renamed":    {"x/1.png": a, "y/3.png": b},
		"class renamed":   {"x/1.png": a, "z/2.png": b},
		"image added":     {"x/1.png": a, "y/2.png": b, "y/4.png": b},
	} {
		if sum(files) == sum(base) {
			t.Errorf("%s: same sha256", name)
		}
	}
}

// pngGrayAlpha builds a PNG of colour type 4 (gray and alpha, 8 bits), which image/png does not
// write: ga holds a gray and an alpha byte per pixel, row-major.
func pngGrayAlpha(tb testing.TB, h, w int, ga ...uint8) []byte {
	tb.Helper()
	chunk := func(out []byte, typ string, data []byte) []byte {
		out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
		body := append([]byte(typ), data...)
		return binary.BigEndian.AppendUint32(append(out, body...), crc32.ChecksumIEEE(body))
	}
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(w)), uint32(h))
	ihdr = append(ihdr, 8, 4, 0, 0, 0) // bit depth, colour type, compression, filter, interlace
	var idat bytes.Buffer
	zw := zlib.NewWriter(&idat)
	for y := range h {
		zw.Write([]byte{0}) // filter type None
		zw.Write(ga[2*w*y : 2*w*(y+1)])
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	out := chunk(chunk(append([]byte(nil), pngMagic...), "IHDR", ihdr), "IDAT", idat.Bytes())
	return chunk(out, "IEND", nil)
}

// claimSize returns the PNG file b with its header saying it is h x w, its checksum fixed.
func claimSize(b []byte, h, w int) []byte {
	b = append([]byte(nil), b...)
	binary.BigEndian.PutUint32(b[16:], uint32(w))
	binary.BigEndian.PutUint32(b[20:], uint32(h))
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29])) // over "IHDR" and its 13 bytes
	return b
}

// TestImageFolderSkippedLog checks that skipped entries are counted in one warning and hidden
// ones are not counted.
func TestImageFolderSkippedLog(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	dir := t.TempDir()
	ok := pngOf(t, grayImg(1, 1, 7))
	writeTree(t, dir, map[string][]byte{"a/1.png": ok, "a/2.gif": ok, "a/.3.txt": ok, "b/1.png": ok, "b/x/1.png": ok, "LICENSE": ok})
	if _, err := Open(Source{Data: dir}); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, "level=WARN") || !strings.Contains(got, "skipped=3 first=LICENSE") {
		t.Errorf("log %q, want one warning of 3 skipped entries, the first LICENSE", got)
	}
}

// TestCheckSourceShape: the sample shape of an image folder is told from its first image and the
// image size and colour given, without decoding the others (here a damaged one), so that a folder
// that cannot fit the model is refused before its images are read; other sources are not peeked.
func TestCheckSourceShape(t *testing.T) {
	ok := pngOf(t, grayImg(2, 2, 1, 2, 3, 4))
	red := pngOf(t, uniform(2, 2, color.RGBA{R: 200, A: 255}, func(r image.Rectangle) drawImage { return image.NewRGBA(r) }))
	for _, tc := range []struct {
		name   string
		files  map[string][]byte
		src    Source
		model  []int
		shape  []int
		errMsg string // "" when the shape fits
	}{
		{"fits", map[string][]byte{"a/1.png": ok, "b/1.png": ok[:30]}, Source{}, []int{4}, []int{1, 2, 2}, ""},
		{"image size too large", map[string][]byte{"a/1.png": ok, "b/1.png": ok[:30]}, Source{ImageSize: []int{2000, 2000}}, []int{784}, []int{1, 2000, 2000},
			"samples of shape [1 2000 2000] hold 4000000 values, but the model's input [784] needs 784"},
		{"rgb given", map[string][]byte{"a/1.png": ok}, Source{Color: ColorRGB}, []int{1, 2, 2}, []int{3, 2, 2}, "[3 2 2]"},
		{"rgb first image", map[string][]byte{"a/1.png": red, "a/2.png": ok[:30]}, Source{}, []int{3, 2, 2}, []int{3, 2, 2}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tc.files)
			src := tc.src
			src.Data = dir
			shape, err := PeekShape(src)
			if err != nil || !slices.Equal(shape, tc.shape) {
				t.Fatalf("PeekShape: %v, %v; want %v", shape, err, tc.shape)
			}
			err = CheckSourceShape(src, Preprocess{Scale: 255}, tc.model)
			switch {
			case tc.errMsg == "" && err != nil:
				t.Fatalf("CheckSourceShape: %v", err)
			case tc.errMsg != "" && (err == nil || !strings.Contains(err.Error(), tc.errMsg)):
				t.Fatalf("CheckSourceShape: %v, want an error containing %q", err, tc.errMsg)
			}
		})
	}
	if shape, err := PeekShape(Source{Data: "x.npy"}); shape != nil || err != nil {
		t.Errorf("PeekShape of a file: %v, %v; want nil, nil", shape, err)
	}
}
