package eval

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/pipeline/dataset"
)

// probeSamples is how many labelled samples PreprocessHint scores each preprocessing on.
const probeSamples = 256

// PreprocessFlags names the flags that set a model's mean and std on the command at hand, for
// the warning of [PreprocessHint]: "--mean" and "--std", or "--teacher-mean" and "--teacher-std".
type PreprocessFlags struct{ Mean, Std string }

// PreprocessHint scores model m, run with pre, on a probe of up to 256 labelled samples of data
// spread over the whole set. When it is near chance (below twice chance, and below 50%) it tries
// the usual preprocessings a model may have been trained with — the data's own mean and std,
// 0.5/0.5, and ImageNet's mean and std for three channels — and when one scores far higher (by 30
// points or more) it returns a warning naming the flags and the better figure. It returns ""
// otherwise, and always without labels, or when the model fails on the probe: the run itself
// then reports the failure, where it happens. A teacher exported without its normalisation, run with
// the defaults, otherwise scores 36% and distils into a poor student with only an INFO line.
func PreprocessHint(ctx context.Context, m model.Teacher, name string, pre dataset.Preprocess, data *dataset.Dataset, flags PreprocessFlags) string {
	if data.Labels == nil || data.N == 0 || m.Classes() < 2 {
		return ""
	}
	probe := probeOf(data)
	acc, err := probeAccuracy(ctx, m, pre, probe)
	if err != nil {
		return ""
	}
	chance := 1 / float64(m.Classes())
	if acc >= 2*chance || acc >= 0.5 {
		return ""
	}
	type alt struct {
		what string
		pre  dataset.Preprocess
	}
	var alts []alt
	base := pre
	base.Mean, base.Std = nil, nil
	if own, err := dataset.Standardize(probe, base); err == nil {
		alts = append(alts, alt{"the data's own mean and std", own})
	}
	half := base
	half.Mean, half.Std = []float64{0.5}, []float64{0.5}
	alts = append(alts, alt{"0.5 and 0.5", half})
	if c := channels(pre, data); c == 3 {
		in := base
		in.Mean, in.Std = []float64{0.485, 0.456, 0.406}, []float64{0.229, 0.224, 0.225}
		alts = append(alts, alt{"ImageNet's", in})
	}
	best, bestAcc := -1, acc
	for i, a := range alts {
		if a.pre.Normalized().String() == pre.Normalized().String() {
			continue
		}
		got, err := probeAccuracy(ctx, m, a.pre, probe)
		if err != nil {
			continue // an alternative that does not fit the model is no hint
		}
		if got > bestAcc {
			best, bestAcc = i, got
		}
	}
	if best < 0 || bestAcc < acc+0.3 {
		return ""
	}
	a := alts[best]
	return fmt.Sprintf("%s scores %.1f%% on %d labelled samples of %s with preprocessing %s (chance is %.1f%%), but %.1f%% with mean %s and std %s (%s): if it was trained so, give %s %s %s %s",
		name, 100*acc, probe.N, data.Path, pre.String(), 100*chance, 100*bestAcc, floats(a.pre.Mean), floats(a.pre.Std), a.what,
		flags.Mean, floats(a.pre.Mean), flags.Std, floats(a.pre.Std))
}

// probeOf returns up to probeSamples labelled samples of data, evenly spread (a data set sorted
// by class would give one class from its start).
func probeOf(data *dataset.Dataset) *dataset.Dataset {
	n := min(data.N, probeSamples)
	D := data.SampleSize()
	p := *data
	p.N, p.X, p.Labels = n, make([]float32, 0, n*D), make([]int32, 0, n)
	for i := range n {
		j := i * data.N / n
		p.X = append(p.X, data.X[j*D:(j+1)*D]...)
		p.Labels = append(p.Labels, data.Labels[j])
	}
	return &p
}

// probeAccuracy is m's top-1 accuracy on probe run with pre.
func probeAccuracy(ctx context.Context, m model.Teacher, pre dataset.Preprocess, probe *dataset.Dataset) (float64, error) {
	z, err := runModel(ctx, m, pre, probe, probe.N)
	if err != nil {
		return 0, err
	}
	c, err := Classify(z, probe.N, m.Classes(), probe.Labels)
	if err != nil {
		return 0, err
	}
	return c.Accuracy, nil
}

// channels is the number of channels of the model's input, 0 when it is not an image.
func channels(pre dataset.Preprocess, data *dataset.Dataset) int {
	shape := pre.InputShape
	if len(shape) == 0 {
		shape = data.Shape
	}
	if _, _, c, ok := dataset.ImageDimsLayout(data.Shape, shape, pre.Layout); ok {
		return c
	}
	return 0
}

// floats formats values as a flag takes them, "0.5" or "0.485/0.456/0.406", to 4 digits.
func floats(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'g', 4, 64)
	}
	return strings.Join(s, "/")
}
