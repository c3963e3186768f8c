package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// The colour modes of an image folder, for [Source.Color].
const (
	// ColorGray: samples of shape [1, h, w], colour images mapped to their luma.
	ColorGray = "gray"
	// ColorRGB: samples of shape [3, h, w], channel-major (CHW), gray images repeated in each
	// channel.
	ColorRGB = "rgb"
)

// maxImagePixels bounds the pixels of one image, as its header states them, and of
// Source.ImageSize: 1<<26 (8192x8192) is far above what vision models are trained on, and
// keeps a damaged or hostile header from making the reader allocate gigabytes.
const maxImagePixels = 1 << 26

// folderImage is one image of an image folder.
type folderImage struct {
	class int // the index of its class folder; -1 in a flat folder
	// rel is the path in the folder, "<class folder>/<file>" ("<file>" in a flat folder), with
	// '/' on every system.
	rel string
}

// folderListing is what an image folder holds, in sample order.
type folderListing struct {
	classes []string // nil for a flat folder
	images  []folderImage
	// flat is set for a folder of images without class folders: its samples have no labels.
	flat bool
	// skipped counts the entries that are neither hidden nor a PNG or JPEG file (other files,
	// folders inside class folders, files beside the class folders); firstSkipped names one.
	skipped      int
	firstSkipped string
}

// isDir reports whether path is a directory (following symbolic links).
func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// isImageFile reports whether name ends in .png, .jpg or .jpeg, in any case.
func isImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// entryIsDir reports whether the entry e of folder dir is a directory, following a symbolic
// link (as torchvision's ImageFolder does); a link that leads nowhere is not.
func entryIsDir(dir string, e fs.DirEntry) bool {
	if e.Type()&fs.ModeSymlink == 0 {
		return e.IsDir()
	}
	return isDir(filepath.Join(dir, e.Name()))
}

// entryIsFile is entryIsDir for regular files.
func entryIsFile(dir string, e fs.DirEntry) bool {
	if e.Type()&fs.ModeSymlink == 0 {
		return e.Type().IsRegular()
	}
	fi, err := os.Stat(filepath.Join(dir, e.Name()))
	return err == nil && fi.Mode().IsRegular()
}

// listImageFolder lists the classes and images of the image folder dir: its folders are the
// classes, sorted by name, and their PNG and JPEG files the images, sorted by name. A folder
// with no folders in it but PNG or JPEG files is flat: those files are the images, sorted by
// name, without classes. Names starting with '.' are skipped without a word; other entries are
// counted as skipped.
func listImageFolder(dir string) (*folderListing, error) {
	top, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("open image folder %s: %w", dir, err)
	}
	ls := &folderListing{}
	skip := func(rel string) {
		if ls.skipped == 0 {
			ls.firstSkipped = rel
		}
		ls.skipped++
	}
	if isFlatFolder(dir, top) {
		ls.flat = true
		for _, e := range top {
			switch name := e.Name(); {
			case strings.HasPrefix(name, "."):
			case isImageFile(name) && entryIsFile(dir, e):
				ls.images = append(ls.images, folderImage{class: -1, rel: name})
			default:
				skip(name)
			}
		}
		return ls, nil
	}
	for _, e := range top {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if !entryIsDir(dir, e) {
			skip(name)
			continue
		}
		classDir := filepath.Join(dir, name)
		files, err := os.ReadDir(classDir)
		if err != nil {
			return nil, fmt.Errorf("open image folder %s: %w", dir, err)
		}
		class, n := len(ls.classes), len(ls.images)
		for _, f := range files {
			fname := f.Name()
			switch {
			case strings.HasPrefix(fname, "."):
			case isImageFile(fname) && entryIsFile(classDir, f):
				ls.images = append(ls.images, folderImage{class: class, rel: name + "/" + fname})
			default:
				skip(name + "/" + fname)
			}
		}
		if len(ls.images) == n {
			return nil, fmt.Errorf("open image folder %s: %w: class folder %s holds no PNG or JPEG files (.png, .jpg, .jpeg)", dir, ErrBadData, classDir)
		}
		ls.classes = append(ls.classes, name)
	}
	if len(ls.classes) == 0 {
		return nil, fmt.Errorf("open image folder %s: %w: no PNG or JPEG images and no class folders in it (an image folder holds PNG or JPEG images, or one folder of them per class)", dir, ErrBadData)
	}
	return ls, nil
}

// isFlatFolder reports whether the entries top of folder dir make a flat image folder: no
// folders (hidden ones aside) and at least one PNG or JPEG file. A folder that holds class
// folders is read by its class folders, as before, even with images beside them.
func isFlatFolder(dir string, top []fs.DirEntry) bool {
	images := false
	for _, e := range top {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "."):
		case entryIsDir(dir, e):
			return false
		case isImageFile(name) && entryIsFile(dir, e):
			images = true
		}
	}
	return images
}

// checkImageFolder checks the fields of src, whose Data is an image folder, fit together.
func (src Source) checkImageFolder(maxPixels int) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("open image folder %s: %w: %s", src.Data, ErrBadSource, fmt.Sprintf(format, a...))
	}
	switch {
	case src.Labels != "":
		return bad("a labels file (%s) is not allowed with an image folder, whose labels are its class folders (a flat folder of images has none)", src.Labels)
	case src.LabelColumn != "" || src.FeatureColumns != nil || src.Header != "":
		return bad("label column, feature columns and header form are for CSV data (a file named *.csv or *.csv.gz)")
	case src.Color != "" && src.Color != ColorGray && src.Color != ColorRGB:
		return bad("unknown color %q: want %s or %s", src.Color, ColorGray, ColorRGB)
	case src.ImageSize == nil:
		return nil
	case len(src.ImageSize) != 2 || src.ImageSize[0] <= 0 || src.ImageSize[1] <= 0:
		return bad("image size %v: want [height, width], both positive", src.ImageSize)
	case int64(src.ImageSize[0])*int64(src.ImageSize[1]) > int64(maxPixels):
		return bad("image size %v: more than the %d pixels an image may have", src.ImageSize, maxPixels)
	}
	return nil
}

// bigFolder is the number of images from which reading a folder is logged before it starts.
const bigFolder = 5000

// openImageFolder reads the image folder src.Data, each image having at most maxPixels
// pixels: the first image (in sample order) fixes the size, unless src.ImageSize does, and the
// colour mode, unless src.Color does; then every image is decoded, in parallel, into its place.
func openImageFolder(src Source, maxPixels int) (*Dataset, error) {
	if err := src.checkImageFolder(maxPixels); err != nil {
		return nil, err
	}
	dir := src.Data
	ls, err := listImageFolder(dir)
	if err != nil {
		return nil, err
	}
	if ls.skipped > 0 {
		slog.Warn("image folder: skipped entries that are not PNG or JPEG files", "folder", dir, "skipped", ls.skipped, "first", ls.firstSkipped)
	}
	first := filepath.Join(dir, filepath.FromSlash(ls.images[0].rel))
	raw, err := os.ReadFile(first)
	if err != nil {
		return nil, fmt.Errorf("read image %s: %w", first, err)
	}
	img, err := decodeImage(raw, maxPixels)
	if err != nil {
		return nil, fmt.Errorf("read image %s: %w", first, err)
	}
	sw := sampleWriter{first: first, firstH: img.Bounds().Dy(), firstW: img.Bounds().Dx(), gray: src.Color == ColorGray}
	sw.h, sw.w = sw.firstH, sw.firstW
	if src.ImageSize != nil {
		sw.h, sw.w, sw.resize = src.ImageSize[0], src.ImageSize[1], true
	}
	if src.Color == "" {
		sw.gray = isGrayImage(img, raw)
	}
	c := 3
	if sw.gray {
		c = 1
	}
	n := len(ls.images)
	ds := &Dataset{Path: dir, N: n, Shape: []int{c, sw.h, sw.w}, ClassNames: ls.classes, DType: "uint8"}
	size := ds.SampleSize()
	if n >= bigFolder {
		// Decoding takes seconds here (about 74,000 28x28 PNGs a second on two cores): say so.
		slog.Info("reading image folder", "folder", dir, "images", n, "classes", len(ls.classes), "size", fmt.Sprintf("%dx%dx%d", c, sw.h, sw.w))
	}
	ds.X = make([]float32, n*size)
	sums := make([][sha256.Size]byte, n)
	sums[0] = sha256.Sum256(raw)
	sw.write(ds.X[:size], img)
	err = parallelFirstError(n-1, func(k int) error {
		i := k + 1
		path := filepath.Join(dir, filepath.FromSlash(ls.images[i].rel))
		raw, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read image %s: %w", path, err)
		}
		sums[i] = sha256.Sum256(raw)
		if err := sw.decode(ds.X[i*size:(i+1)*size], raw, maxPixels); err != nil {
			return fmt.Errorf("read image %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ds.SampleNames = make([]string, n)
	if !ls.flat {
		ds.Labels = make([]int32, n)
	}
	for i, im := range ls.images {
		ds.SampleNames[i] = im.rel
		if !ls.flat {
			ds.Labels[i] = int32(im.class)
		}
	}
	ds.SHA256 = folderSHA256(ls.images, sums)
	return ds, nil
}

// folderSHA256 is the hex sha256 of an image folder: of the lines
// "<hex sha256 of the file>  <class folder>/<file>\n" ("...  <file>\n" in a flat folder) of its
// images in sample order, which is what sha256sum prints when given them in that order.
func folderSHA256(images []folderImage, sums [][sha256.Size]byte) string {
	h := sha256.New()
	line := make([]byte, 0, 2*sha256.Size+64)
	for i, im := range images {
		line = hex.AppendEncode(line[:0], sums[i][:])
		line = append(append(append(line, "  "...), im.rel...), '\n')
		h.Write(line)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// parallelFirstError calls do(i) for i in [0, n) on runtime.GOMAXPROCS(0) goroutines and
// returns the error of the smallest i that failed, nil if none did. The indices are handed out
// in increasing order and no index past a failed one is started, so the error returned is the
// same whatever the scheduling.
func parallelFirstError(n int, do func(i int) error) error {
	var (
		next   atomic.Int64
		failed atomic.Int64 // the smallest index that failed so far, n when none
		mu     sync.Mutex
		errs   = map[int]error{}
		wg     sync.WaitGroup
	)
	failed.Store(int64(n))
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= failed.Load() {
					return
				}
				if err := do(int(i)); err != nil {
					mu.Lock()
					errs[int(i)] = err
					mu.Unlock()
					for f := failed.Load(); i < f && !failed.CompareAndSwap(f, i); f = failed.Load() {
					}
				}
			}
		})
	}
	wg.Wait()
	if f := int(failed.Load()); f < n {
		return errs[f]
	}
	return nil
}

// PeekShape returns the sample shape Open(src) will give when it can tell without reading the
// samples, so that a caller can check it against a model first: for an image folder [channels,
// height, width] from its listing and its first image (ImageSize and Color when given, else
// the first image's size and colour), decoding one image instead of all of them; nil for other
// sources, whose samples Open reads anyway.
func PeekShape(src Source) ([]int, error) {
	if !isDir(src.Data) {
		return nil, nil
	}
	if err := src.checkImageFolder(maxImagePixels); err != nil {
		return nil, err
	}
	ls, err := listImageFolder(src.Data)
	if err != nil {
		return nil, err
	}
	first := filepath.Join(src.Data, filepath.FromSlash(ls.images[0].rel))
	raw, err := os.ReadFile(first)
	if err != nil {
		return nil, fmt.Errorf("read image %s: %w", first, err)
	}
	cfg, _, err := imageHeader(raw, maxImagePixels)
	if err != nil {
		return nil, fmt.Errorf("read image %s: %w", first, err)
	}
	h, w := cfg.Height, cfg.Width
	if src.ImageSize != nil {
		h, w = src.ImageSize[0], src.ImageSize[1]
	}
	gray := src.Color == ColorGray
	if src.Color == "" {
		img, err := decodeImage(raw, maxImagePixels)
		if err != nil {
			return nil, fmt.Errorf("read image %s: %w", first, err)
		}
		gray = isGrayImage(img, raw)
	}
	if gray {
		return []int{1, h, w}, nil
	}
	return []int{3, h, w}, nil
}

// CheckSourceShape checks, before Open reads the samples of src, that they will fit a model
// taking modelShape with preprocessing p, as [Preprocess.ForModel] and [Preprocess.CheckInput]
// check them once the data is loaded (the same errors), where PeekShape can tell the sample
// shape: an image folder of 2000x2000 images for a 784-input model is refused before its images
// are decoded. Other sources pass.
func CheckSourceShape(src Source, p Preprocess, modelShape []int) error {
	shape, err := PeekShape(src)
	if err != nil || shape == nil {
		return err
	}
	if p, err = p.ForModel(shape, modelShape); err != nil {
		return err
	}
	return p.CheckInput(shape, modelShape)
}
