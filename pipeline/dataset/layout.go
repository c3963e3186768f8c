package dataset

import (
	"errors"
	"fmt"
	"slices"

	"github.com/distillgo/distill/internal/option"
)

// The layouts of an image sample as stored, for [Preprocess.Layout]. Models take channel-major
// ([C,H,W]) input, as every distill student does.
const (
	// LayoutNCHW: samples are taken in the order stored, channel-major [C,H,W] (PyTorch's
	// layout, the image folders' and torchvision's). Preprocess.Layout "" means the same, but
	// refuses samples that look channel-last for a channel-major model (see [Preprocess.Apply]).
	LayoutNCHW = "nchw"
	// LayoutNHWC: each sample is stored channel-last [H,W,C] (Keras', TensorFlow's and
	// PIL's/numpy's layout of images) and is transposed to [C,H,W] before scaling.
	LayoutNHWC = "nhwc"
)

// isChannelCount reports whether d is a common count of image channels: 1 (gray), 3 (RGB) or
// 4 (RGBA). Only these mark an axis as a channel axis when shapes alone must decide.
func isChannelCount(d int) bool { return d == 1 || d == 3 || d == 4 }

// layoutError is the error of a layout that the shapes do not fit or cannot tell.
func layoutError(format string, args ...any) error {
	return option.Errorf("dataset", "Layout", format, args...)
}

// GuessLayout decides from the shapes how a sample of sampleShape is laid out for a model whose
// per-sample input is modelShape (without the batch axis):
//
//   - A sample of rank other than 3 has no channel axis of its own: LayoutNCHW (its values are
//     taken in the order stored, as the model's shape reads them).
//   - A 3-D sample [a,b,c] and a 3-D model [C,H,W]: LayoutNCHW when the sample is [C,H,W],
//     LayoutNHWC when it is [H,W,C]. When both hold (a cube, C = H = W) the shapes cannot tell,
//     and the error is an *[option.Error] on "Layout" that asks for it. When neither holds, a
//     plain error names both shapes: no layout makes them fit.
//   - A 3-D sample and a model of another rank (a flat [C*H*W] input, or none known: modelShape
//     empty): the model's shape, when known, must hold as many values as the sample (else a plain
//     error); then the sample alone decides, by which of its end axes is a channel count (1, 3 or
//     4): the first only, LayoutNCHW; the last only, LayoutNHWC ([32,32,3]); both ([3,32,3],
//     [1,28,1], [3,3,3]) an *option.Error as above; neither ([2,5,5], a volume) LayoutNCHW.
func GuessLayout(sampleShape, modelShape []int) (layout string, err error) {
	if len(sampleShape) != 3 {
		return LayoutNCHW, nil
	}
	a, b, c := sampleShape[0], sampleShape[1], sampleShape[2]
	if len(modelShape) == 3 {
		C, H, W := modelShape[0], modelShape[1], modelShape[2]
		nchw := a == C && b == H && c == W
		nhwc := a == H && b == W && c == C
		switch {
		case nchw && nhwc:
			return "", layoutError("samples of shape %v fit the model's input %v as [C,H,W] and as [H,W,C]: the layout cannot be told from the shapes; give it (nchw or nhwc)", sampleShape, modelShape)
		case nchw:
			return LayoutNCHW, nil
		case nhwc:
			return LayoutNHWC, nil
		}
		return "", fmt.Errorf("samples of shape %v fit the model's input %v neither as [C,H,W] nor as [H,W,C]", sampleShape, modelShape)
	}
	if len(modelShape) > 0 && NumValues(modelShape) != NumValues(sampleShape) {
		return "", fmt.Errorf("samples of shape %v hold %d values, but the model's input %v takes %d", sampleShape, NumValues(sampleShape), modelShape, NumValues(modelShape))
	}
	first, last := isChannelCount(a), isChannelCount(c)
	switch {
	case first && last:
		return "", layoutError("samples of shape %v may have their channels first or last (%d or %d channels): the layout cannot be told from the shapes; give it (nchw or nhwc)", sampleShape, a, c)
	case last:
		return LayoutNHWC, nil
	}
	return LayoutNCHW, nil
}

// ForModel returns p with its layout decided from the shapes when nobody gave it (Layout ""),
// for samples of sampleShape fed to a model taking modelShape (nil when unknown): with
// [GuessLayout], LayoutNHWC is set when the samples are channel-last; a guess of LayoutNCHW
// leaves Layout "" (the same meaning, so the artefacts of channel-major data do not change).
// The error is GuessLayout's *option.Error when the shapes cannot tell; shapes that fit in no
// layout leave p as it is, for [Preprocess.CheckInput] and [Preprocess.Apply] to report.
func (p Preprocess) ForModel(sampleShape, modelShape []int) (Preprocess, error) {
	if p.Layout != "" || len(sampleShape) != 3 {
		return p, nil
	}
	if len(p.InputShape) > 0 {
		modelShape = p.InputShape
	}
	layout, err := GuessLayout(sampleShape, modelShape)
	var oe *option.Error
	switch {
	case errors.As(err, &oe):
		return p, err
	case err == nil && layout == LayoutNHWC:
		p.Layout = LayoutNHWC
	}
	return p, nil
}

// hwc returns the height, width and channels of one channel-last sample of sampleShape: [H,W,C];
// [H,W] (one channel); or a sample of any other shape holding as many values as a [C,H,W]
// input shape, which then gives them (a flat sample stored channel-last).
func hwc(sampleShape, inputShape []int) (h, w, c int, err error) {
	switch {
	case len(sampleShape) == 3:
		return sampleShape[0], sampleShape[1], sampleShape[2], nil
	case len(sampleShape) == 2:
		return sampleShape[0], sampleShape[1], 1, nil
	case len(inputShape) == 3 && NumValues(inputShape) == NumValues(sampleShape):
		return inputShape[1], inputShape[2], inputShape[0], nil
	}
	return 0, 0, 0, layoutError("%s needs samples of shape [H,W,C] (or [H,W], or flat with a [C,H,W] input shape); these have shape %v", LayoutNHWC, sampleShape)
}

// checkLayout checks p's layout against samples of sampleShape fed to a model taking modelShape
// (nil when unknown). With LayoutNHWC the samples must have a channel-last shape and a 3-D
// modelShape must be their [C,H,W]. With Layout "" a 3-D sample whose last axis is the 3 or 4
// channels of a 3-D modelShape while its first is not is refused: read as stored it would be
// reshaped, not transposed, mixing the channels. One channel is not refused, as [H,W,1] and
// [1,H,W] hold their values in the same order.
func (p Preprocess) checkLayout(sampleShape, modelShape []int) error {
	switch p.Layout {
	case LayoutNHWC:
		h, w, c, err := hwc(sampleShape, p.InputShape)
		if err != nil {
			return err
		}
		if len(modelShape) == 3 && !slices.Equal(modelShape, []int{c, h, w}) {
			return layoutError("samples of shape %v are [H,W,C] = [%d,%d,%d] for %s, which transposes them to [%d %d %d], but the model's input is %v", sampleShape, h, w, c, LayoutNHWC, c, h, w, modelShape)
		}
	case "":
		if len(sampleShape) == 3 && len(modelShape) == 3 {
			C := modelShape[0]
			if (C == 3 || C == 4) && sampleShape[2] == C && sampleShape[0] != C {
				return layoutError("samples of shape %v look channel-last for the model's input %v: taken as stored they would be reshaped, mixing the channels; give the layout (nhwc to move the channels first, nchw to take the values as stored)", sampleShape, modelShape)
			}
		}
	}
	return nil
}

// channelShape returns the channel-major shape whose channels (or features) Mean and Std follow,
// for samples of sampleShape seen by the model as modelShape: for LayoutNHWC the transposed
// sample [C,H,W]; else modelShape when it has 3 or more dimensions, else a sample shape that has
// (a [C,H,W] sample fed to a flat model), else modelShape.
func (p Preprocess) channelShape(sampleShape, modelShape []int) ([]int, error) {
	if p.Layout == LayoutNHWC {
		h, w, c, err := hwc(sampleShape, p.InputShape)
		if err != nil {
			return nil, err
		}
		return []int{c, h, w}, nil
	}
	if len(modelShape) < 3 && len(sampleShape) >= 3 {
		return sampleShape, nil
	}
	return modelShape, nil
}

// applyNHWC is Apply's loop for LayoutNHWC: each sample of c channels of plane values, stored
// channel-last, is written channel-major, with the same float32 arithmetic as channel-major
// samples. A copy of each sample is read, so that raw and dst may be the same slice.
func applyNHWC(raw []float32, n, c, plane int, scale float32, mean, std, dst []float32) {
	size := c * plane
	buf := make([]float32, size)
	for i := range n {
		copy(buf, raw[i*size:(i+1)*size])
		out := dst[i*size : (i+1)*size]
		for ch := range c {
			m, s := mean[ch], std[ch]
			o := out[ch*plane : (ch+1)*plane]
			for j := range o {
				o[j] = (buf[j*c+ch]/scale - m) / s
			}
		}
	}
}
