package dataset

// ImageDimsLayout is [ImageDims] for images stored in layout (a [Preprocess.Layout]): for
// LayoutNHWC [h w c], [h w] (c = 1) or a flat sample laid out as a [c h w] modelShape says,
// for the augmentations; any other layout is ImageDims's channel-major reading.
func ImageDimsLayout(shape, modelShape []int, layout string) (h, w, c int, ok bool) {
	if layout != LayoutNHWC {
		return ImageDims(shape, modelShape)
	}
	h, w, c, err := hwc(shape, modelShape)
	return h, w, c, err == nil
}

// ImageDims reads image height, width and channels from a per-sample shape, channel-major as
// the augmentations want it: [h w], [c h w], or a flat [h*w] sample laid out as the model's input shape
// modelShape ([c h w] or [h w]) says. A flat sample with a flat model shape is a vector of
// features (a CSV's row, say) as far as anything here can tell, not an image, even when its length
// is a square: ok is false.
func ImageDims(shape, modelShape []int) (h, w, c int, ok bool) {
	switch len(shape) {
	case 2:
		return shape[0], shape[1], 1, true
	case 3:
		return shape[1], shape[2], shape[0], true
	case 1:
		if NumValues(modelShape) == shape[0] && (len(modelShape) == 2 || len(modelShape) == 3) {
			return ImageDims(modelShape, nil)
		}
	}
	return 0, 0, 0, false
}
