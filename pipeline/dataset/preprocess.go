package dataset

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Preprocess maps raw sample values (as a [Dataset] holds them) to a model's input:
//
//	y = (x/Scale - Mean[c]) / Std[c]
//
// for channel (or feature) c, then the sample is viewed with shape InputShape. A sample stored
// channel-last (Layout "nhwc") is first transposed to channel-major. It is stored as JSON with
// every artefact (soft-target files, checkpoints, exported models), so that the same mapping is
// applied at every step.
type Preprocess struct {
	// Scale divides the raw values first (255 maps 8-bit pixels to [0,1]); 0 means 1.
	Scale float64 `json:"scale"`
	// Mean is subtracted after scaling: one value for all channels, or one per channel of a
	// [C,H,W] input, or one per feature of a 1-D input [F]. Empty means 0.
	Mean []float64 `json:"mean,omitempty"`
	// Std divides after subtracting the mean: one value, or one per channel or feature as for
	// Mean, each positive. Empty means 1.
	Std []float64 `json:"std,omitempty"`
	// InputShape is the per-sample shape the model takes (e.g. [784] or [1,28,28]); it must
	// hold as many values as a sample. Empty means the sample's own shape (for Layout "nhwc",
	// its transposition [C,H,W]). The values keep their channel-major order: this is a
	// reshape, never a transpose.
	InputShape []int `json:"input_shape,omitempty"`
	// Layout is how a sample is stored: "" or LayoutNCHW ("nchw"), as the model reads it
	// (channel-major [C,H,W], or any shape reshaped to InputShape); LayoutNHWC ("nhwc"),
	// channel-last [H,W,C] (or flat with a [C,H,W] InputShape), transposed to [C,H,W] before
	// scaling so that the per-channel Mean and Std fall on the channel axis. "" refuses what
	// looks channel-last for a channel-major model (see [Preprocess.Apply]); [GuessLayout] and
	// [Preprocess.ForModel] decide it from the shapes. Empty is stored as nothing, so that the
	// artefacts of channel-major data are as before.
	Layout string `json:"layout,omitempty"`
	// ScaleFrom names the model whose recorded preprocessing gave Scale (e.g. "model t.onnx"),
	// empty when the scale was given or is the data's default. [Preprocess.CheckScale] then
	// checks that the data is on the scale the model was recorded for. Not stored.
	ScaleFrom string `json:"-"`
}

// DefaultScale is the scale of a preprocessing built from overrides alone (an ONNX model that
// records none): 255, as for 8-bit images, with mean 0 and std 1.
const DefaultScale = 255

// PreprocessOverride replaces single fields of a Preprocess, as flags given on their own do
// (`distill eval --input-shape 1x28x28` keeps the model's scale, mean and std). A nil field keeps
// the base's value.
type PreprocessOverride struct {
	Scale      *float64
	Mean, Std  []float64
	InputShape []int
	// Layout is the layout given ("nchw" or "nhwc"); "" keeps the base's.
	Layout string
}

// IsZero reports whether o overrides nothing.
func (o PreprocessOverride) IsZero() bool {
	return o.Scale == nil && o.Mean == nil && o.Std == nil && o.InputShape == nil && o.Layout == ""
}

// Over returns base with o's fields in place of its own.
func (o PreprocessOverride) Over(base Preprocess) Preprocess {
	if o.Scale != nil {
		base.Scale, base.ScaleFrom = *o.Scale, ""
	}
	if o.Mean != nil {
		base.Mean = o.Mean
	}
	if o.Std != nil {
		base.Std = o.Std
	}
	if o.InputShape != nil {
		base.InputShape = o.InputShape
	}
	if o.Layout != "" {
		base.Layout = o.Layout
	}
	return base
}

// With returns o with the fields p sets (a scale above 0, a mean, std, input shape or layout
// given) in place of its own: the options of a teacher spec over the flags.
func (o PreprocessOverride) With(p Preprocess) PreprocessOverride {
	if p.Scale != 0 {
		o.Scale = &p.Scale
	}
	if p.Mean != nil {
		o.Mean = p.Mean
	}
	if p.Std != nil {
		o.Std = p.Std
	}
	if p.InputShape != nil {
		o.InputShape = p.InputShape
	}
	if p.Layout != "" {
		o.Layout = p.Layout
	}
	return o
}

// String formats p as the teacher-spec options it corresponds to, e.g.
// "scale=255,mean=0.1307,std=0.3081,shape=1x28x28" (and ",layout=nhwc" when a layout is set).
func (p Preprocess) String() string {
	parts := []string{"scale=" + strconv.FormatFloat(p.EffectiveScale(), 'g', -1, 64)}
	if len(p.Mean) > 0 {
		parts = append(parts, "mean="+joinFloats(p.Mean))
	}
	if len(p.Std) > 0 {
		parts = append(parts, "std="+joinFloats(p.Std))
	}
	if len(p.InputShape) > 0 {
		parts = append(parts, "shape="+FormatShape(p.InputShape))
	}
	if p.Layout != "" {
		parts = append(parts, "layout="+p.Layout)
	}
	return strings.Join(parts, ",")
}

func joinFloats(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'g', -1, 64)
	}
	return strings.Join(s, "/")
}

// EffectiveScale is the scale applied: Scale, or 1 when Scale is 0.
func (p Preprocess) EffectiveScale() float64 {
	if p.Scale == 0 {
		return 1
	}
	return p.Scale
}

// Validate checks the fields on their own: a finite positive (or zero) scale, finite
// means, finite positive stds, positive input dimensions and a known layout (an unknown one is
// an *[option.Error] on "Layout").
func (p Preprocess) Validate() error {
	if p.Scale < 0 || math.IsNaN(p.Scale) || math.IsInf(p.Scale, 0) {
		return fmt.Errorf("preprocess: scale %v must be positive", p.Scale)
	}
	for _, m := range p.Mean {
		if math.IsNaN(m) || math.IsInf(m, 0) {
			return fmt.Errorf("preprocess: mean %v must be finite", p.Mean)
		}
	}
	for _, s := range p.Std {
		if !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("preprocess: std %v: every value must be positive and finite", p.Std)
		}
	}
	for _, d := range p.InputShape {
		if d <= 0 {
			return fmt.Errorf("preprocess: input shape %v: every dimension must be positive", p.InputShape)
		}
	}
	switch p.Layout {
	case "", LayoutNCHW, LayoutNHWC:
	default:
		return layoutError("unknown layout %q (want %s or %s)", p.Layout, LayoutNCHW, LayoutNHWC)
	}
	return nil
}

// OutputShape returns the per-sample shape the model sees for samples of sampleShape:
// InputShape, or sampleShape when InputShape is empty (for Layout "nhwc" and a 3-D sample
// [H,W,C], its transposition [C,H,W]). It fails when the two hold different numbers of values,
// naming both shapes.
func (p Preprocess) OutputShape(sampleShape []int) ([]int, error) {
	if len(p.InputShape) == 0 {
		if p.Layout == LayoutNHWC && len(sampleShape) == 3 {
			return []int{sampleShape[2], sampleShape[0], sampleShape[1]}, nil
		}
		return append([]int(nil), sampleShape...), nil
	}
	if NumValues(p.InputShape) != NumValues(sampleShape) {
		return nil, fmt.Errorf("preprocess: input shape %v holds %d values, but samples of shape %v hold %d", p.InputShape, NumValues(p.InputShape), sampleShape, NumValues(sampleShape))
	}
	return append([]int(nil), p.InputShape...), nil
}

// channels returns the number of channels and the values per channel of one sample of the
// channel-major shape (see channelShape): the first dimension of a shape of 3 or more dimensions
// ([C,H,W]); for a 1-D shape [F] with F means or stds, F (one per feature); else 1. A mean or
// std of more than one value must hold one value per channel (or feature).
func (p Preprocess) channels(shape []int) (c, plane int, err error) {
	size := NumValues(shape)
	c = 1
	switch {
	case len(shape) >= 3:
		c = shape[0]
	case len(shape) == 1 && shape[0] > 1 && (len(p.Mean) == shape[0] || len(p.Std) == shape[0]):
		c = shape[0]
	}
	for _, v := range []struct {
		name string
		vals []float64
	}{{"mean", p.Mean}, {"std", p.Std}} {
		if len(v.vals) <= 1 || len(v.vals) == c {
			continue
		}
		if len(shape) == 1 {
			return 0, 0, fmt.Errorf("preprocess: %d %s values for the %d features of input shape %v (give one value, or %d: one per feature)", len(v.vals), v.name, shape[0], shape, shape[0])
		}
		return 0, 0, fmt.Errorf("preprocess: %d %s values for %d channels of input shape %v (give one value, or one per channel of a [C,H,W] shape)", len(v.vals), v.name, c, shape)
	}
	if c == 0 {
		return 0, 0, fmt.Errorf("preprocess: input shape %v has no channels", shape)
	}
	return c, size / c, nil
}

// Apply writes the preprocessed values of n samples of sampleShape from raw into dst.
// raw and dst each hold at least n*prod(sampleShape) values and may be the same slice.
// Arithmetic is in float32, as torchvision's ToTensor and Normalize do it. With Layout "nhwc"
// each sample is transposed from [H,W,C] to [C,H,W] on the way (see [Preprocess.Layout]). With
// Layout "" a 3-D sample whose last axis is the 3 or 4 channels of a 3-D InputShape while its
// first is not ([32,32,3] for [3,32,32]) is refused with an *[option.Error] on "Layout": it
// looks channel-last, and taken as stored it would be reshaped, not transposed.
func (p Preprocess) Apply(raw []float32, n int, sampleShape []int, dst []float32) error {
	if err := p.Validate(); err != nil {
		return err
	}
	shape, err := p.OutputShape(sampleShape)
	if err != nil {
		return err
	}
	if err := p.checkLayout(sampleShape, shape); err != nil {
		return err
	}
	cm, err := p.channelShape(sampleShape, shape)
	if err != nil {
		return err
	}
	c, plane, err := p.channels(cm)
	if err != nil {
		return err
	}
	size := c * plane
	if n < 0 || len(raw) < n*size || len(dst) < n*size {
		return fmt.Errorf("preprocess: %d samples of shape %v need %d values; raw has %d, dst %d", n, sampleShape, n*size, len(raw), len(dst))
	}
	scale := float32(p.EffectiveScale())
	mean, std := p.perChannel(c)
	if p.Layout == LayoutNHWC {
		applyNHWC(raw, n, c, plane, scale, mean, std, dst)
		return nil
	}
	for i := range n {
		for ch := range c {
			off := i*size + ch*plane
			src, out := raw[off:off+plane], dst[off:off+plane]
			m, s := mean[ch], std[ch]
			for j, x := range src {
				out[j] = (x/scale - m) / s
			}
		}
	}
	return nil
}

// perChannel returns the mean and std of each of c channels, as float32: the one value given
// for all, the channel's own, or 0 and 1 when none is given.
func (p Preprocess) perChannel(c int) (mean, std []float32) {
	mean = make([]float32, c)
	std = make([]float32, c)
	for ch := range c {
		mean[ch], std[ch] = 0, 1
		if len(p.Mean) == 1 {
			mean[ch] = float32(p.Mean[0])
		} else if len(p.Mean) == c {
			mean[ch] = float32(p.Mean[ch])
		}
		if len(p.Std) == 1 {
			std[ch] = float32(p.Std[0])
		} else if len(p.Std) == c {
			std[ch] = float32(p.Std[ch])
		}
	}
	return mean, std
}

// TeacherSpec is one --teacher argument of an ensemble: a model path with its own
// preprocessing and output kind.
type TeacherSpec struct {
	// Path is the ONNX model's path.
	Path string
	// Preprocess is the teacher's preprocessing: the options given in the spec, the rest
	// taken from the plain flags.
	Preprocess Preprocess
	// Output is the teacher's output kind (auto|logits|probs|logprobs) from "output=", or
	// empty when not given (the --output flag applies).
	Output string
}

// ParseTeacherSpec parses a --teacher argument of the form
//
//	PATH[:OPTION,OPTION...]
//
// where each OPTION is one of
//
//	scale=<s>              divide raw values by s
//	mean=<m>[/<m>...]      one mean, or one per channel separated by '/' or ','
//	std=<s>[/<s>...]       one std, or one per channel separated by '/' or ','
//	shape=<d>x<d>[x<d>...] per-sample input shape, e.g. 1x28x28, 1,28,28 or 784
//	layout=<layout>        nchw or nhwc: how the data's samples are stored (Preprocess.Layout)
//	output=<kind>          auto, logits, probs or logprobs
//
// for example "mnist.onnx:scale=255,mean=0.1307,std=0.3081,shape=1x28x28". The values are
// written as for the plain flags ([ParseFloatList], [ParseShape]); a ',' inside a list
// value is told from the ',' between options because what follows it has no '='. The options
// start after the last ':' of the argument, and only when that part contains '='; so a
// spec without options is a plain path (even one with ':' in it). Rules: every field the
// spec does not set is taken from plain, the preprocessing of the plain flags (--scale,
// --mean, --std, --input-shape, --layout); hence a teacher given alone, or given without options,
// uses the plain flags unchanged. The result is validated.
func ParseTeacherSpec(spec string, plain Preprocess) (TeacherSpec, error) {
	ts := TeacherSpec{Path: spec, Preprocess: plain}
	ts.Preprocess.Mean = append([]float64(nil), plain.Mean...)
	ts.Preprocess.Std = append([]float64(nil), plain.Std...)
	ts.Preprocess.InputShape = append([]int(nil), plain.InputShape...)
	i := strings.LastIndexByte(spec, ':')
	if i < 0 || !strings.Contains(spec[i+1:], "=") {
		if spec == "" {
			return TeacherSpec{}, errors.New("teacher spec: empty path")
		}
		return ts, ts.Preprocess.Validate()
	}
	ts.Path = spec[:i]
	if ts.Path == "" {
		return TeacherSpec{}, fmt.Errorf("teacher spec %q: empty path", spec)
	}
	// Split the options at ',', then join back onto a list option (mean, std, shape) the
	// plain numbers that follow it, so "mean=0.485,0.456,0.406" reads like "mean=0.485/0.456/0.406".
	var opts []string
	for opt := range strings.SplitSeq(spec[i+1:], ",") {
		if n := len(opts); n > 0 && !strings.Contains(opt, "=") && isNumber(opt) && isListOption(opts[n-1]) {
			opts[n-1] += "," + opt
			continue
		}
		opts = append(opts, opt)
	}
	seen := map[string]bool{}
	for _, opt := range opts {
		key, val, ok := strings.Cut(strings.TrimSpace(opt), "=")
		if !ok || val == "" {
			return TeacherSpec{}, fmt.Errorf("teacher spec %q: option %q is not key=value", spec, opt)
		}
		if seen[key] {
			return TeacherSpec{}, fmt.Errorf("teacher spec %q: option %q given twice", spec, key)
		}
		seen[key] = true
		var err error
		switch key {
		case "scale":
			// Scale 0 means "unset" inside Preprocess: a scale written here must be positive, as
			// --scale's must, or scale=0 would silently mean the data's default.
			if ts.Preprocess.Scale, err = strconv.ParseFloat(val, 64); err == nil && !(ts.Preprocess.Scale > 0) {
				err = errors.New("must be positive")
			}
			ts.Preprocess.ScaleFrom = ""
		case "mean":
			ts.Preprocess.Mean, err = ParseFloatList(val)
		case "std":
			ts.Preprocess.Std, err = ParseFloatList(val)
		case "shape":
			ts.Preprocess.InputShape, err = ParseShape(val)
		case "layout":
			if val != LayoutNCHW && val != LayoutNHWC {
				err = errors.New("want nchw or nhwc")
			}
			ts.Preprocess.Layout = val
		case "output":
			switch val {
			case "auto", "logits", "probs", "logprobs":
				ts.Output = val
			default:
				err = errors.New("want auto, logits, probs or logprobs")
			}
		default:
			err = errors.New("unknown option (want scale, mean, std, shape, layout or output)")
		}
		if err != nil {
			return TeacherSpec{}, fmt.Errorf("teacher spec %q: option %q: %w", spec, opt, err)
		}
	}
	if err := ts.Preprocess.Validate(); err != nil {
		return TeacherSpec{}, fmt.Errorf("teacher spec %q: %w", spec, err)
	}
	return ts, nil
}

// isListOption reports whether the teacher-spec option opt ("mean=0.5") takes a list of values.
func isListOption(opt string) bool {
	key, _, _ := strings.Cut(strings.TrimSpace(opt), "=")
	return key == "mean" || key == "std" || key == "shape"
}

// isNumber reports whether s is a plain number, as a list option's continuation is.
func isNumber(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return err == nil
}

// ParseFloatList parses one or more numbers separated by '/' or ',' ("0.5", "0.485/0.456/0.406").
func ParseFloatList(s string) ([]float64, error) {
	var out []float64
	for f := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == '/' || r == ',' }) {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no numbers in %q", s)
	}
	return out, nil
}

// ParseShape parses a shape written with 'x' or ',' between positive dimensions
// ("1x28x28", "784", "3,32,32").
func ParseShape(s string) ([]int, error) {
	var out []int
	for f := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == 'x' || r == ',' }) {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("shape %q: dimension %q is not a positive integer", s, f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("shape %q: no dimensions", s)
	}
	return out, nil
}

// FormatShape writes a shape as ParseShape reads it, e.g. "1x28x28".
func FormatShape(shape []int) string {
	s := make([]string, len(shape))
	for i, d := range shape {
		s[i] = strconv.Itoa(d)
	}
	return strings.Join(s, "x")
}

// CheckInput checks that p maps samples of dataShape to a model input of want's size: InputShape
// (when set) must hold as many values as a sample, and the result as many as want. want nil skips
// the second comparison (teachers check their own input). The layout is checked against the
// model's shape (InputShape, else want) as [Preprocess.Apply] checks it: with Layout "" a
// channel-last-looking sample for a [C,H,W] model is refused, and with "nhwc" the transposed
// sample must be a 3-D model's [C,H,W]; both are *[option.Error]s on "Layout".
func (p Preprocess) CheckInput(dataShape, want []int) error {
	got := dataShape
	if len(p.InputShape) > 0 {
		if NumValues(p.InputShape) != NumValues(dataShape) {
			return fmt.Errorf("input shape %v holds %d values, but samples of shape %v hold %d", p.InputShape, NumValues(p.InputShape), dataShape, NumValues(dataShape))
		}
		got = p.InputShape
	}
	if want != nil && NumValues(got) != NumValues(want) {
		return fmt.Errorf("samples of shape %v hold %d values, but the model's input %v needs %d", got, NumValues(got), want, NumValues(want))
	}
	model := p.InputShape
	if len(model) == 0 {
		model = want
	}
	return p.checkLayout(dataShape, model)
}

// Normalized writes the defaults one way, so that two preprocessings that mean the same compare
// equal: scale 0 as 1, a mean of [0] or [] as nil, a std of [1] or [] as nil, an empty input
// shape as nil, layout "nchw" as "".
func (p Preprocess) Normalized() Preprocess {
	p.ScaleFrom = ""
	if p.Scale == 0 {
		p.Scale = 1
	}
	if len(p.Mean) == 0 || (len(p.Mean) == 1 && p.Mean[0] == 0) {
		p.Mean = nil
	}
	if len(p.Std) == 0 || (len(p.Std) == 1 && p.Std[0] == 1) {
		p.Std = nil
	}
	if len(p.InputShape) == 0 {
		p.InputShape = nil
	}
	if p.Layout == LayoutNCHW {
		p.Layout = ""
	}
	return p
}
