package dataset

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/draw"
)

// pngMagic is the signature every PNG file starts with (PNG specification, section 5.2).
var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// imageHeader tells a PNG file (by its signature) from a JPEG file (by its SOI marker, ff d8)
// and returns the image's size, as its header states it, and its decoder. An image of no
// pixels, or of more than maxPixels, is an error.
func imageHeader(raw []byte, maxPixels int) (image.Config, func(io.Reader) (image.Image, error), error) {
	var (
		config func(io.Reader) (image.Config, error)
		decode func(io.Reader) (image.Image, error)
	)
	switch {
	case len(raw) == 0:
		return image.Config{}, nil, fmt.Errorf("%w: an empty file (0 bytes), not a PNG or JPEG image", ErrBadData)
	case bytes.HasPrefix(raw, pngMagic):
		config, decode = png.DecodeConfig, png.Decode
	case bytes.HasPrefix(raw, []byte{0xff, 0xd8}):
		config, decode = jpeg.DecodeConfig, jpeg.Decode
	default:
		return image.Config{}, nil, fmt.Errorf("%w: not a PNG or JPEG file (first bytes % x)", ErrBadData, raw[:min(len(raw), 8)])
	}
	cfg, err := config(bytes.NewReader(raw))
	if err != nil {
		return image.Config{}, nil, fmt.Errorf("%w: %v", ErrBadData, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return image.Config{}, nil, fmt.Errorf("%w: an image of %dx%d pixels (height x width)", ErrBadData, cfg.Height, cfg.Width)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return image.Config{}, nil, fmt.Errorf("%w: %dx%d pixels (height x width), more than the %d an image may have", ErrBadData, cfg.Height, cfg.Width, maxPixels)
	}
	return cfg, decode, nil
}

// decodeImage decodes a PNG or JPEG file of at most maxPixels pixels.
func decodeImage(raw []byte, maxPixels int) (image.Image, error) {
	_, decode, err := imageHeader(raw, maxPixels)
	if err != nil {
		return nil, err
	}
	img, err := decode(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadData, err)
	}
	return img, nil
}

// isGrayImage reports whether img, decoded from raw, is a grayscale image: gray (8 or 16 bits,
// PNG or JPEG), paletted with gray colours only, or a PNG whose header says gray (colour type
// 0, or 4 with alpha; the decoder gives those with transparency as NRGBA images).
func isGrayImage(img image.Image, raw []byte) bool {
	switch m := img.(type) {
	case *image.Gray, *image.Gray16:
		return true
	case *image.Paletted:
		for _, c := range m.Palette {
			if n := color.NRGBAModel.Convert(c).(color.NRGBA); n.R != n.G || n.G != n.B {
				return false
			}
		}
		return true
	}
	// The colour type is byte 25: the signature (8), IHDR's length and type (8), width and
	// height (8), bit depth (1); image/png has checked IHDR comes first.
	return bytes.HasPrefix(raw, pngMagic) && len(raw) > 25 && (raw[25] == 0 || raw[25] == 4)
}

// sampleWriter turns images into samples of shape [c, h, w], c being 1 when gray, else 3.
type sampleWriter struct {
	h, w int
	gray bool
	// resize says images of another size are resized to h x w; without it they are an error
	// that names first, the image of size firstH x firstW that fixed the size.
	resize         bool
	first          string
	firstH, firstW int
}

// decode decodes the PNG or JPEG file raw, of at most maxPixels pixels, into the sample dst.
func (sw *sampleWriter) decode(dst []float32, raw []byte, maxPixels int) error {
	cfg, decode, err := imageHeader(raw, maxPixels)
	if err != nil {
		return err
	}
	if !sw.resize && (cfg.Height != sw.firstH || cfg.Width != sw.firstW) {
		return fmt.Errorf("%w: %dx%d pixels (height x width), but the first image, %s, is %dx%d: set an image size to resize every image to one size",
			ErrBadData, cfg.Height, cfg.Width, sw.first, sw.firstH, sw.firstW)
	}
	img, err := decode(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadData, err)
	}
	sw.write(dst, img)
	return nil
}

// write writes img into the sample dst, of h*w values when gray, else 3*h*w (CHW): its luma or
// its straight (alpha-dropped) red, green and blue, 0..255, resized with Catmull-Rom when img
// is not h x w.
func (sw *sampleWriter) write(dst []float32, img image.Image) {
	h, w := sw.h, sw.w
	if sw.gray {
		g := grayOf(img)
		if g.Rect.Dx() != w || g.Rect.Dy() != h {
			r := image.NewGray(image.Rect(0, 0, w, h))
			draw.CatmullRom.Scale(r, r.Rect, g, g.Rect, draw.Src, nil)
			g = r
		}
		for y := range h {
			row := g.Pix[g.PixOffset(g.Rect.Min.X, g.Rect.Min.Y+y):][:w]
			out := dst[y*w : (y+1)*w]
			for x, v := range row {
				out[x] = float32(v)
			}
		}
		return
	}
	m := rgbOf(img)
	if m.Rect.Dx() != w || m.Rect.Dy() != h {
		r := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.CatmullRom.Scale(r, r.Rect, m, m.Rect, draw.Src, nil)
		m = r
	}
	plane := h * w
	red, green, blue := dst[:plane], dst[plane:2*plane], dst[2*plane:3*plane]
	for y := range h {
		row := m.Pix[m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y+y):][:4*w]
		for x := range w {
			i := y*w + x
			red[i], green[i], blue[i] = float32(row[4*x]), float32(row[4*x+1]), float32(row[4*x+2])
		}
	}
}

// luma is the gray of straight 8-bit red, green and blue: ITU-R BT.601's weights 0.299, 0.587
// and 0.114 in 16-bit fixed point, rounded; the formula of Go's color.GrayModel and of
// Pillow's convert("L"), which torchvision uses.
func luma(r, g, b uint8) uint8 {
	return uint8((19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16)
}

// straight returns the straight (not alpha-premultiplied) 8-bit red, green and blue of c,
// dropping alpha, as Pillow's convert("RGB") does.
func straight(c color.Color) (r, g, b uint8) {
	n := color.NRGBA64Model.Convert(c).(color.NRGBA64)
	return uint8(n.R >> 8), uint8(n.G >> 8), uint8(n.B >> 8)
}

// grayOf returns img as an 8-bit gray image: img itself when it is one, the high byte of 16-bit
// gray, else the luma of its straight colours.
func grayOf(img image.Image) *image.Gray {
	if m, ok := img.(*image.Gray); ok {
		return m
	}
	b := img.Bounds()
	out := image.NewGray(b)
	w := b.Dx()
	switch m := img.(type) {
	case *image.Gray16:
		for y := range b.Dy() {
			src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:2*w]
			for x := range w {
				out.Pix[y*out.Stride+x] = src[2*x] // big-endian: the high byte first
			}
		}
	case *image.Paletted:
		var lut [256]uint8 // an index past the palette is black
		for k, c := range m.Palette {
			lut[k] = luma(straight(c))
		}
		for y := range b.Dy() {
			src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:w]
			for x, k := range src {
				out.Pix[y*out.Stride+x] = lut[k]
			}
		}
	default:
		rgb := rgbOf(img)
		for y := range b.Dy() {
			src := rgb.Pix[y*rgb.Stride:][:4*w]
			for x := range w {
				out.Pix[y*out.Stride+x] = luma(src[4*x], src[4*x+1], src[4*x+2])
			}
		}
	}
	return out
}

// rgbOf returns img as an opaque RGBA image of its straight colours (alpha dropped, not
// composited: Pillow's convert("RGB")), 16-bit channels cut to their high byte.
func rgbOf(img image.Image) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(b)
	w := b.Dx()
	var lut [256][3]uint8 // of a paletted image; an index past the palette is black
	if m, ok := img.(*image.Paletted); ok {
		for k, c := range m.Palette {
			lut[k][0], lut[k][1], lut[k][2] = straight(c)
		}
	}
	for y := range b.Dy() {
		dst := out.Pix[y*out.Stride:][:4*w]
		switch m := img.(type) {
		case *image.Paletted:
			for x, k := range m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:w] {
				copy(dst[4*x:4*x+3], lut[k][:])
			}
		case *image.Gray:
			for x, v := range m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:w] {
				dst[4*x], dst[4*x+1], dst[4*x+2] = v, v, v
			}
		case *image.NRGBA:
			copy(dst, m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:4*w])
		case *image.RGBA:
			src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
			for x := range w {
				p := src[4*x : 4*x+4]
				r, g, bl := unpremultiply(p[0], p[3]), unpremultiply(p[1], p[3]), unpremultiply(p[2], p[3])
				dst[4*x], dst[4*x+1], dst[4*x+2] = r, g, bl
			}
		case *image.YCbCr:
			for x := range w {
				yi, ci := m.YOffset(b.Min.X+x, b.Min.Y+y), m.COffset(b.Min.X+x, b.Min.Y+y)
				dst[4*x], dst[4*x+1], dst[4*x+2] = color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			}
		default:
			for x := range w {
				dst[4*x], dst[4*x+1], dst[4*x+2] = straight(img.At(b.Min.X+x, b.Min.Y+y))
			}
		}
		for x := range w {
			dst[4*x+3] = 0xff
		}
	}
	return out
}

// unpremultiply returns the straight value of the alpha-premultiplied channel v of alpha a.
func unpremultiply(v, a uint8) uint8 {
	switch a {
	case 0xff:
		return v
	case 0:
		return 0
	}
	return uint8(min(255, (uint32(v)*255+uint32(a)/2)/uint32(a)))
}
