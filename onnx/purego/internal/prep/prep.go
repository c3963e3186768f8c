// Package prep is the preprocessing distill records with a student (metadata distill.preprocess),
// shared by the pure-Go runtimes onnx/purego and onnx/purego/direct so that neither depends on the
// other (purego links onnx-go, which direct must not).
package prep

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/distillgo/distill/onnx/purego/internal/wire"
)

// Key is the metadata key of the preprocessing.
const Key = wire.PreprocessKey

// Preprocess is the preprocessing distill recorded with a student (metadata distill.preprocess),
// which maps a raw sample to the model's input:
//
//	y = (x/Scale - Mean[c]) / Std[c]
//
// for channel (or feature) c. It is the JSON form of pipeline/dataset.Preprocess, read here
// without importing that package.
type Preprocess struct {
	// Scale divides the raw values first (255 maps 8-bit pixels to [0,1]); 0 means 1.
	Scale float64 `json:"scale"`
	// Mean is subtracted after scaling: one value, or one per channel or feature. Empty: 0.
	Mean []float64 `json:"mean,omitempty"`
	// Std divides after subtracting the mean: one value, or one per channel or feature.
	// Empty: 1.
	Std []float64 `json:"std,omitempty"`
	// InputShape is the per-sample shape the model takes, e.g. [784] or [1 28 28].
	InputShape []int `json:"input_shape,omitempty"`
	// Layout is how raw samples were stored: "" or "nchw" (channel-major, as the model reads
	// them) or "nhwc" (channel-last, transposed to channel-major before scaling).
	Layout string `json:"layout,omitempty"`
}

// Parse reads the distill.preprocess JSON value raw.
func Parse(raw string) (*Preprocess, error) {
	var p Preprocess
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return nil, fmt.Errorf("metadata %s %q: %w", Key, raw, err)
	}
	for _, s := range p.Std {
		if !(s > 0) {
			return nil, fmt.Errorf("metadata %s %q: std %g is not positive", Key, raw, s)
		}
	}
	return &p, nil
}

// Apply returns raw (one sample of Dim values, channel-major as the model reads it, or a
// channel-last sample for Layout "nhwc") mapped to the model's input. The channel of value i is
// i / (len(raw)/C) for C per-channel values (one per feature when C equals len(raw)).
func (p *Preprocess) Apply(raw []float32) ([]float32, error) {
	src := raw
	if p.Layout == "nhwc" {
		if len(p.InputShape) != 3 {
			return nil, fmt.Errorf("preprocess: layout nhwc needs a [C H W] input shape, have %v", p.InputShape)
		}
		c, h, w := p.InputShape[0], p.InputShape[1], p.InputShape[2]
		if len(raw) != c*h*w {
			return nil, fmt.Errorf("preprocess: sample of %d values for input shape %v", len(raw), p.InputShape)
		}
		src = make([]float32, len(raw))
		for y := range h {
			for x := range w {
				for k := range c {
					src[(k*h+y)*w+x] = raw[(y*w+x)*c+k]
				}
			}
		}
	}
	scale := p.Scale
	if scale == 0 {
		scale = 1
	}
	mean, err := perChannel(p.Mean, 0, len(src))
	if err != nil {
		return nil, fmt.Errorf("preprocess mean: %w", err)
	}
	std, err := perChannel(p.Std, 1, len(src))
	if err != nil {
		return nil, fmt.Errorf("preprocess std: %w", err)
	}
	out := make([]float32, len(src))
	for i, v := range src {
		out[i] = float32((float64(v)/scale - mean(i)) / std(i))
	}
	return out, nil
}

// perChannel returns the value of vals for element i of an n-element sample: def when vals is
// empty, the one value, or vals[i/(n/len(vals))].
func perChannel(vals []float64, def float64, n int) (func(int) float64, error) {
	switch {
	case len(vals) == 0:
		return func(int) float64 { return def }, nil
	case len(vals) == 1:
		return func(int) float64 { return vals[0] }, nil
	case n%len(vals) != 0:
		return nil, fmt.Errorf("%d values for a sample of %d", len(vals), n)
	}
	per := n / len(vals)
	return func(i int) float64 { return vals[i/per] }, nil
}

// Clone returns a copy of p that shares no slice with it, or nil for a nil p.
func (p *Preprocess) Clone() *Preprocess {
	if p == nil {
		return nil
	}
	q := *p
	q.Mean, q.Std, q.InputShape = slices.Clone(p.Mean), slices.Clone(p.Std), slices.Clone(p.InputShape)
	return &q
}
