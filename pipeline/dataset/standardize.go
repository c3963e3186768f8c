package dataset

import (
	"errors"
	"fmt"
	"log/slog"
	"math"

	"github.com/distillgo/distill/internal/option"
)

// Standardize returns p with Mean and Std computed on ds, so that ds preprocessed by the result
// has mean 0 and standard deviation 1 on each channel or feature (z-scores, as scikit-learn's
// StandardScaler makes them). The statistics are of the values after dividing by p's scale (a
// zero Scale is first filled in by [Preprocess.ForData], and the result keeps it), in float64,
// with the population standard deviation (divided by the count, not count-1). They are taken:
//
//   - per channel, for samples whose channel-major shape is [C,H,W] (for Layout "nhwc", of the
//     transposed sample; for a [C,H,W] sample fed to a flat input, of the sample): C values;
//   - per feature, for 1-D samples [F] fed to a 1-D input (tabular data): F values;
//   - over all values otherwise (a [H,W] image, or one read flat as [784]): one value.
//
// A channel or feature that is constant over ds has a std of 0; it gets std 1 (it is only
// shifted to 0, as scikit-learn's StandardScaler leaves it), and a slog.Warn names how many.
// p's own Mean and Std are replaced. With Layout "" a 3-D sample that looks channel-last (or
// either way, see [GuessLayout]) is refused with an *[option.Error] on "Layout", as channel
// statistics of the wrong axis would pass unnoticed. The result is stored like any other
// preprocessing, so the same mapping is applied at every later step.
func Standardize(ds *Dataset, p Preprocess) (Preprocess, error) {
	p = p.ForData(ds)
	p.Mean, p.Std = nil, nil
	idx, c, err := p.statChannels(ds)
	if err != nil {
		return p, fmt.Errorf("standardize %s: %w", ds.Path, err)
	}
	if ds.N == 0 {
		return p, fmt.Errorf("standardize %s: no samples", ds.Path)
	}
	scale := p.EffectiveScale()
	size := len(idx)
	sum := make([]float64, c)
	lo, hi := make([]float64, c), make([]float64, c)
	for ch := range c {
		lo[ch], hi[ch] = math.Inf(1), math.Inf(-1)
	}
	for i := range ds.N {
		for j, x := range ds.X[i*size : (i+1)*size] {
			v, ch := float64(x)/scale, idx[j]
			sum[ch] += v
			lo[ch], hi[ch] = min(lo[ch], v), max(hi[ch], v)
		}
	}
	count := float64(ds.N * size / c)
	mean := make([]float64, c)
	for ch := range c {
		mean[ch] = sum[ch] / count
	}
	ss := make([]float64, c)
	for i := range ds.N {
		for j, x := range ds.X[i*size : (i+1)*size] {
			d := float64(x)/scale - mean[idx[j]]
			ss[idx[j]] += d * d
		}
	}
	std := make([]float64, c)
	constant := 0
	for ch := range c {
		std[ch] = math.Sqrt(ss[ch] / count)
		if math.IsNaN(mean[ch]) || math.IsInf(mean[ch], 0) || math.IsInf(std[ch], 0) || math.IsNaN(std[ch]) {
			return p, fmt.Errorf("standardize %s: %s %d: the values are not all finite", ds.Path, statName(c, ds.Shape), ch)
		}
		// A constant column: min == max is exact, where a std computed as ~1e-17 by rounding
		// would not be 0.
		if lo[ch] == hi[ch] {
			std[ch] = 1
			constant++
		}
	}
	if constant > 0 {
		slog.Warn("standardize: constant "+statName(c, ds.Shape)+"s get std 1", "data", ds.Path, "constant", constant, "of", c)
	}
	p.Mean, p.Std = mean, std
	return p, nil
}

// statName names what Standardize takes statistics of: "feature" for 1-D samples with more than
// one statistic, else "channel".
func statName(c int, shape []int) string {
	if len(shape) == 1 && c > 1 {
		return "feature"
	}
	return "channel"
}

// statChannels returns, for each value of a sample of ds as stored, the index of the statistic
// it counts towards, and the number of statistics (see Standardize).
func (p Preprocess) statChannels(ds *Dataset) (idx []int, c int, err error) {
	if err := p.Validate(); err != nil {
		return nil, 0, err
	}
	shape, err := p.OutputShape(ds.Shape)
	if err != nil {
		return nil, 0, err
	}
	if err := p.checkLayout(ds.Shape, shape); err != nil {
		return nil, 0, err
	}
	if p.Layout == "" && len(ds.Shape) == 3 {
		layout, err := GuessLayout(ds.Shape, p.InputShape)
		var oe *option.Error
		switch {
		case errors.As(err, &oe):
			return nil, 0, err
		case err == nil && layout == LayoutNHWC:
			return nil, 0, layoutError("samples of shape %v look channel-last: give the layout (nhwc to take the statistics of the last axis, nchw of the first)", ds.Shape)
		}
	}
	cm, err := p.channelShape(ds.Shape, shape)
	if err != nil {
		return nil, 0, err
	}
	size := NumValues(ds.Shape)
	idx = make([]int, size)
	switch {
	case len(cm) >= 3 && p.Layout == LayoutNHWC:
		c = cm[0]
		for j := range idx {
			idx[j] = j % c // [H,W,C]: the channel varies fastest
		}
	case len(cm) >= 3:
		c = cm[0]
		for j := range idx {
			idx[j] = j / (size / c)
		}
	case len(cm) == 1 && len(ds.Shape) == 1:
		c = size
		for j := range idx {
			idx[j] = j
		}
	default:
		c = 1
	}
	if c == 0 || size == 0 {
		return nil, 0, fmt.Errorf("samples of shape %v hold no values", ds.Shape)
	}
	return idx, c, nil
}
