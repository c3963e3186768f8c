package dataset

import (
	"fmt"
	"strconv"
	"strings"
)

// ForData returns p with the defaults that depend on the data filled in: a zero Scale becomes
// ds.DefaultScale() (255 for 8-bit data, 1 for data already in floats). Every step that feeds a
// model calls it once it has loaded the data, so that a scale nobody gave is never guessed
// before the data is known, and the artefacts it writes record the scale used.
func (p Preprocess) ForData(ds *Dataset) Preprocess {
	if p.Scale == 0 {
		p.Scale = ds.DefaultScale()
	}
	return p
}

// Resolve returns the preprocessing of a model, field by field: a field o gives wins; then the
// model's stored preprocessing (nil when the model records none), then base (whose zero Scale is
// left for ForData). It also describes where each field came from, for the log, e.g.
// "scale 255 (model), mean 0.5 (flag), std 0.5 (model), input shape (the model's)", followed by
// ", layout nhwc (flag)" when a layout is set.
func (o PreprocessOverride) Resolve(stored *Preprocess, base Preprocess, baseName string) (Preprocess, string) {
	p := base
	src := [5]string{baseName, baseName, baseName, baseName, baseName}
	if stored != nil {
		p = *stored
		src = [5]string{"model", "model", "model", "model", "model"}
	}
	if o.Scale != nil {
		p.Scale, p.ScaleFrom, src[0] = *o.Scale, "", "flag"
	}
	if o.Mean != nil {
		p.Mean, src[1] = o.Mean, "flag"
	}
	if o.Std != nil {
		p.Std, src[2] = o.Std, "flag"
	}
	if o.InputShape != nil {
		p.InputShape, src[3] = o.InputShape, "flag"
	}
	if o.Layout != "" {
		p.Layout, src[4] = o.Layout, "flag"
	}
	parts := []string{
		"scale by the data's type", // nobody gave one: ForData decides
		fmt.Sprintf("mean %s (%s)", listOr(p.Mean, "0"), src[1]),
		fmt.Sprintf("std %s (%s)", listOr(p.Std, "1"), src[2]),
		"input shape the model's",
	}
	if p.Scale != 0 {
		parts[0] = fmt.Sprintf("scale %s (%s)", strconv.FormatFloat(p.Scale, 'g', -1, 64), src[0])
	}
	if len(p.InputShape) > 0 {
		parts[3] = fmt.Sprintf("input shape %s (%s)", FormatShape(p.InputShape), src[3])
	}
	if p.Layout != "" {
		parts = append(parts, fmt.Sprintf("layout %s (%s)", p.Layout, src[4]))
	}
	return p, strings.Join(parts, ", ")
}

func listOr(v []float64, def string) string {
	if len(v) == 0 {
		return def
	}
	return joinFloats(v)
}

// Format says how the data files of a step are read beyond what their bytes tell: the columns of
// a CSV file and the images of an image folder. The steps that load several files the same way
// (training data and eval data) share one.
type Format struct {
	// Label is a CSV's label column ("" means "label" when the header has it, else no labels).
	Label string `flag:"label-column"`
	// Features are a CSV's feature columns in this order (nil: every other column).
	Features []string `flag:"feature-columns"`
	// Header is the form of a CSV's first line (HeaderNames when empty, HeaderSklearn, HeaderNone).
	Header string `flag:"csv-header"`
	// ImageSize is the [height, width] an image folder's images are resized to (nil: the size of
	// the first image, which every image must have).
	ImageSize []int `flag:"image-size"`
	// Color is ColorGray or ColorRGB for an image folder ("": as the first image is).
	Color string `flag:"color"`
	// ClassNames names the classes of array labels (IDX, NPY, NPZ): Source.ClassNames, for the
	// arrays with a labels file.
	ClassNames []string `flag:"class-names"`
}

// Source returns the source of data and labels read in this format; the CSV fields apply to CSV
// files and the image fields to folders, so a Format left zero reads any file as Load does.
func (f Format) Source(data, labels string) Source {
	src := Source{Data: data, Labels: labels}
	switch {
	case IsCSV(data):
		src.LabelColumn, src.FeatureColumns, src.Header = f.Label, f.Features, f.Header
	case isDir(data):
		src.ImageSize, src.Color = f.ImageSize, f.Color
	case labels != "":
		src.ClassNames = f.ClassNames // they name labels: none for an unlabelled array
	}
	return src
}

// HasOwnLabels reports whether the data at path carries its labels itself (a CSV file's label
// column, an image folder's class folders), so that it takes no labels file. A flat image folder
// (images without class folders) takes none either, and has no labels.
func HasOwnLabels(path string) bool { return IsCSV(path) || isDir(path) }
