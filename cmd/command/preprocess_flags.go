package command

import (
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/urfave/cli/v2"
)

// The preprocessing flags, y = (x/scale - mean)/std per channel then a reshape to the model's
// input, are defined here once and shared by `distill targets`, `train` and `eval`, so that they
// read and parse the same everywhere. Shapes are written 1x28x28 or 1,28,28; per-channel values
// 0.485/0.456/0.406 or 0.485,0.456,0.406 (dataset.ParseShape and dataset.ParseFloatList).
const (
	usageScale      = "divide raw values by `<s>`"
	usageMean       = "subtract `<m>` after scaling: one value, or one per channel as 0.485/0.456/0.406 or 0.485,0.456,0.406"
	usageStd        = "then divide by `<s>`: one value, or one per channel as for --mean"
	usageInputShape = "`<shape>` of one sample as the model takes it, e.g. 1x28x28 or 1,28,28"
	usageLayout     = "how image samples are stored, `<layout>`: nchw (channel first) or nhwc (channel last, transposed for the model)"
)

// preprocessFlags returns the preprocessing flags --scale, --mean, --std, --input-shape and
// --layout of the model (prefix "") or, with prefix "teacher-", of the teacher. The teacher's
// fields default to the preprocessing its model records (distill.preprocess), else: scale, mean
// and std to those of whose (whoseStudent in train, "the evaluated model's" in eval), the input
// shape to the teacher model's, the layout to the student's in train (the same data) and to what
// the shapes say in eval. For the model (prefix ""), a non-empty whose names a preprocessing whose
// fields apply where the flag is not given (eval: "the stored one", targets: the one the teacher
// records; the defaults 255, 0, 1, the model's input shape and the layout the shapes say when
// there is none).
func preprocessFlags(prefix, whose string) []cli.Flag {
	if prefix == "" {
		def := func(v string) string {
			if whose == "" {
				return ""
			}
			return whose + ", else " + v
		}
		shape, layout := "the model's", "from the shapes; an error when they cannot tell"
		if whose != "" {
			shape, layout = def(shape), def(layout)
		}
		return []cli.Flag{
			&cli.Float64Flag{Name: "scale", Usage: usageScale, DefaultText: scaleDefault(whose)},
			&cli.StringFlag{Name: "mean", Value: "0", Usage: usageMean, DefaultText: def("0")},
			&cli.StringFlag{Name: "std", Value: "1", Usage: usageStd, DefaultText: def("1")},
			&cli.StringFlag{Name: "input-shape", Usage: usageInputShape, DefaultText: shape},
			enumFlag(&cli.StringFlag{Name: "layout", Usage: usageLayout, DefaultText: layout}, dataset.LayoutNCHW, dataset.LayoutNHWC),
		}
	}
	const recorded = "the one the teacher records, else "
	layout := "from the shapes"
	if whose == whoseStudent {
		layout = whose
	}
	return []cli.Flag{
		&cli.Float64Flag{Name: prefix + "scale", Usage: "the teacher's --scale: " + usageScale, DefaultText: recorded + whose},
		&cli.StringFlag{Name: prefix + "mean", Usage: "the teacher's --mean: " + usageMean, DefaultText: recorded + whose},
		&cli.StringFlag{Name: prefix + "std", Usage: "the teacher's --std: " + usageStd, DefaultText: recorded + whose},
		&cli.StringFlag{Name: prefix + "input-shape", Usage: "the teacher's --input-shape: " + usageInputShape, DefaultText: recorded + "its ONNX input's"},
		enumFlag(&cli.StringFlag{Name: prefix + "layout", Usage: "the teacher's --layout: " + usageLayout, DefaultText: recorded + layout}, dataset.LayoutNCHW, dataset.LayoutNHWC),
	}
}

// whoseStudent is train's fallback for the teacher's preprocessing: the student's, which reads
// the same data.
const whoseStudent = "the student's"

// preprocessFromFlags reads and validates the preprocessing flags with the given prefix ("" or
// "teacher-"). For the teacher, the scale, mean and std not given are def's. A scale not given is
// 0: the pipeline takes the data's (255 for 8-bit data, 1 for floats) once it has read it. set reports whether
// any of the four flags was given on the command line. Errors are usage errors naming the flag.
func preprocessFromFlags(cCtx *cli.Context, prefix string, def dataset.Preprocess) (p dataset.Preprocess, set bool, err error) {
	if prefix != "" {
		p.Scale, p.Mean, p.Std = def.Scale, def.Mean, def.Std
	}
	if prefix != "" {
		p.Layout = def.Layout // the same data
	}
	for _, name := range []string{"scale", "mean", "std", "input-shape", "layout"} {
		if cCtx.IsSet(prefix + name) {
			set = true
		}
	}
	// check validates one field on its own, so that the error names its flag.
	check := func(flag string, q dataset.Preprocess) error {
		if err := q.Validate(); err != nil {
			return usageErrorf(cCtx, "--%s%s: %v", prefix, flag, err)
		}
		return nil
	}
	if cCtx.IsSet(prefix + "scale") {
		p.Scale = cCtx.Float64(prefix + "scale")
		if !(p.Scale > 0) {
			return p, set, usageErrorf(cCtx, "--%sscale %v: must be positive", prefix, p.Scale)
		}
		if err := check("scale", dataset.Preprocess{Scale: p.Scale}); err != nil {
			return p, set, err
		}
	}
	if prefix == "" || cCtx.IsSet(prefix+"mean") {
		if p.Mean, err = dataset.ParseFloatList(cCtx.String(prefix + "mean")); err != nil {
			return p, set, usageErrorf(cCtx, "--%smean: %v", prefix, err)
		}
		if err := check("mean", dataset.Preprocess{Mean: p.Mean}); err != nil {
			return p, set, err
		}
	}
	if prefix == "" || cCtx.IsSet(prefix+"std") {
		if p.Std, err = dataset.ParseFloatList(cCtx.String(prefix + "std")); err != nil {
			return p, set, usageErrorf(cCtx, "--%sstd: %v", prefix, err)
		}
		if err := check("std", dataset.Preprocess{Std: p.Std}); err != nil {
			return p, set, err
		}
	}
	if cCtx.IsSet(prefix + "layout") {
		p.Layout = cCtx.String(prefix + "layout")
	}
	if s := cCtx.String(prefix + "input-shape"); s != "" {
		if p.InputShape, err = dataset.ParseShape(s); err != nil {
			return p, set, usageErrorf(cCtx, "--%sinput-shape: %v", prefix, err)
		}
	}
	return p, set, nil
}

// overrideFromFlags reads and validates the preprocessing flags with the given prefix, like
// preprocessFromFlags, and keeps only those given on the command line: the fields not given keep
// the model's stored values (eval).
func overrideFromFlags(cCtx *cli.Context, prefix string) (dataset.PreprocessOverride, error) {
	var o dataset.PreprocessOverride
	p, _, err := preprocessFromFlags(cCtx, prefix, dataset.Preprocess{})
	if err != nil {
		return o, err
	}
	if cCtx.IsSet(prefix + "scale") {
		o.Scale = &p.Scale
	}
	if cCtx.IsSet(prefix + "mean") {
		o.Mean = p.Mean
	}
	if cCtx.IsSet(prefix + "std") {
		o.Std = p.Std
	}
	if cCtx.IsSet(prefix + "input-shape") {
		o.InputShape = p.InputShape
	}
	if cCtx.IsSet(prefix + "layout") {
		o.Layout = p.Layout
	}
	return o, nil
}

// scaleDefault is the --scale flag's default text: the data's, after whose when it is given.
func scaleDefault(whose string) string {
	const byType = "255 for 8-bit data, 1 for float data"
	if whose == "" {
		return byType
	}
	return whose + ", else " + byType
}
