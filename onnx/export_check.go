package onnx

import (
	"errors"
	"fmt"
)

// This file holds the checks of an ExportGraph that Encode and ImportGraph make before a graph is
// written or handed back.

// normalized returns a copy of g with defaults filled in (names, opset, strides) and checks that the
// graph is one Export can write: every layer's weights match the shapes flowing through the graph,
// the last layer yields [Classes], and the opset is in range and new enough for every op.
func (g *ExportGraph) normalized() (*ExportGraph, error) {
	n := *g
	if n.InputName == "" {
		n.InputName = DefaultInputName
	}
	if n.OutputName == "" {
		n.OutputName = DefaultOutputName
	}
	if n.InputName == n.OutputName {
		return nil, fmt.Errorf("input and output share the name %q", n.InputName)
	}
	if n.Opset == 0 {
		n.Opset = DefaultOpset
	}
	if n.Opset > MaxOpset || n.Opset < 1 {
		return nil, fmt.Errorf("opset %d is outside the supported range %d..%d", n.Opset, MinOpset, MaxOpset)
	}
	if len(n.InputShape) == 0 {
		return nil, errors.New("empty input shape")
	}
	if n.Classes < 1 || n.Classes >= maxDim {
		return nil, fmt.Errorf("classes must be > 0, got %d", n.Classes)
	}
	if len(n.Layers) == 0 {
		return nil, errors.New("no layers")
	}
	cur := append([]int(nil), n.InputShape...)
	if _, err := numel(cur); err != nil {
		return nil, fmt.Errorf("input shape %v: %w", cur, err)
	}
	n.Layers = make([]Layer, len(g.Layers))
	for i, l := range g.Layers {
		if min, ok := opMinOpset[l.Op]; ok && n.Opset < min {
			return nil, fmt.Errorf("layer %d: %w: %s needs opset >= %d, got %d", i, ErrOpsetTooOld, l.Op, min, n.Opset)
		}
		var err error
		if l, cur, err = checkLayer(l, cur, n.Opset); err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", i, l.Op, err)
		}
		n.Layers[i] = l
	}
	if n.FP16 && n.Opset < opMinOpset["Cast"] {
		return nil, fmt.Errorf("%w: Cast (fp16 weights) needs opset >= %d, got %d", ErrOpsetTooOld, opMinOpset["Cast"], n.Opset)
	}
	if n.Int8 && n.FP16 {
		return nil, errors.New("int8 and fp16 weights exclude each other")
	}
	if min := opMinOpset["DequantizeLinear"]; n.Int8 && n.Opset < min {
		return nil, fmt.Errorf("%w: DequantizeLinear with a per-channel scale (int8 weights) needs opset >= %d, got %d", ErrOpsetTooOld, min, n.Opset)
	}
	if n.Opset < MinOpset {
		return nil, fmt.Errorf("%w: onnxruntime needs opset >= %d, got %d", ErrOpsetTooOld, MinOpset, n.Opset)
	}
	if len(cur) != 1 || cur[0] != n.Classes {
		return nil, fmt.Errorf("last layer yields per-sample shape %v, want [%d] (classes)", cur, n.Classes)
	}
	return &n, nil
}

// checkLayer validates l against the per-sample input shape in and returns the layer with defaults
// filled in and its per-sample output shape.
func checkLayer(l Layer, in []int, opset int) (Layer, []int, error) {
	switch l.Op {
	case "Gemm":
		return checkGemm(l, in, opset)
	case "Relu", "Flatten":
		return checkNoParams(l, in)
	case "Conv", "MaxPool":
		return checkWindow(l, in)
	case "":
		return l, nil, errors.New("missing op")
	default:
		return l, nil, fmt.Errorf("unsupported op %q (want Gemm, Relu, Conv, MaxPool or Flatten)", l.Op)
	}
}

// checkGemm checks a Gemm layer: a weight [in, out] and a bias [out] (optional from opset 11).
func checkGemm(l Layer, in []int, opset int) (Layer, []int, error) {
	if len(in) != 1 {
		return l, nil, fmt.Errorf("input has per-sample shape %v; Gemm needs a vector (add a Flatten)", in)
	}
	if len(l.WeightShape) != 2 || l.WeightShape[0] != in[0] || l.WeightShape[1] < 1 {
		return l, nil, fmt.Errorf("weight shape %v, want [%d, out]", l.WeightShape, in[0])
	}
	out := l.WeightShape[1]
	if err := checkData("weight", l.Weight, l.WeightShape); err != nil {
		return l, nil, err
	}
	if l.Bias == nil && opset < 11 {
		return l, nil, fmt.Errorf("%w: Gemm without a bias needs opset >= 11, got %d", ErrOpsetTooOld, opset)
	}
	if l.Bias != nil {
		if err := checkData("bias", l.Bias, []int{out}); err != nil {
			return l, nil, err
		}
	}
	if l.Kernel != 0 || l.Stride != 0 || l.Pad != 0 {
		return l, nil, errors.New("kernel, stride and pad do not apply to Gemm")
	}
	return l, []int{out}, nil
}

// checkNoParams checks a Relu or Flatten layer, which has neither weights nor a window.
func checkNoParams(l Layer, in []int) (Layer, []int, error) {
	if l.Weight != nil || l.Bias != nil || l.WeightShape != nil || l.Kernel != 0 || l.Stride != 0 || l.Pad != 0 {
		return l, nil, fmt.Errorf("%s takes no weights or window", l.Op)
	}
	if l.Op == "Flatten" {
		size, _ := numel(in)
		return l, []int{size}, nil
	}
	return l, in, nil
}

// checkWindow checks a Conv or MaxPool layer over [channels, height, width]: its kernel, stride
// (0 becomes 1 for Conv and Kernel for MaxPool) and pad, and Conv's weight and bias.
func checkWindow(l Layer, in []int) (Layer, []int, error) {
	if len(in) != 3 {
		return l, nil, fmt.Errorf("input has per-sample shape %v; %s needs [channels, height, width]", in, l.Op)
	}
	if l.Kernel < 1 || l.Kernel >= maxDim || l.Stride < 0 || l.Stride >= maxDim || l.Pad < 0 || l.Pad >= maxDim {
		return l, nil, fmt.Errorf("kernel %d, stride %d, pad %d: want kernel > 0, stride >= 0, pad >= 0", l.Kernel, l.Stride, l.Pad)
	}
	if l.Stride == 0 {
		l.Stride = 1
		if l.Op == "MaxPool" {
			l.Stride = l.Kernel
		}
	}
	if l.Pad >= l.Kernel {
		// ONNX requires pads smaller than the kernel (a window of padding only).
		return l, nil, fmt.Errorf("pad %d must be smaller than kernel %d", l.Pad, l.Kernel)
	}
	h, w := in[1]+2*l.Pad-l.Kernel, in[2]+2*l.Pad-l.Kernel
	if h < 0 || w < 0 {
		return l, nil, fmt.Errorf("kernel %d larger than padded input %dx%d", l.Kernel, in[1]+2*l.Pad, in[2]+2*l.Pad)
	}
	h, w = h/l.Stride+1, w/l.Stride+1
	if l.Op == "MaxPool" {
		if l.Weight != nil || l.Bias != nil || l.WeightShape != nil {
			return l, nil, errors.New("MaxPool takes no weights")
		}
		return l, []int{in[0], h, w}, nil
	}
	f, err := checkConvParams(l, in[0])
	if err != nil {
		return l, nil, err
	}
	out := []int{f, h, w}
	if _, err := numel(out); err != nil {
		return l, nil, fmt.Errorf("output shape %v: %w", out, err)
	}
	return l, out, nil
}

// checkConvParams checks a Conv layer's weight [filters, c, Kernel, Kernel] and optional bias
// [filters], and returns the number of filters.
func checkConvParams(l Layer, c int) (int, error) {
	if len(l.WeightShape) != 4 || l.WeightShape[0] < 1 || l.WeightShape[1] != c || l.WeightShape[2] != l.Kernel || l.WeightShape[3] != l.Kernel {
		return 0, fmt.Errorf("weight shape %v, want [filters, %d, %d, %d]", l.WeightShape, c, l.Kernel, l.Kernel)
	}
	if err := checkData("weight", l.Weight, l.WeightShape); err != nil {
		return 0, err
	}
	f := l.WeightShape[0]
	if l.Bias != nil {
		if err := checkData("bias", l.Bias, []int{f}); err != nil {
			return 0, err
		}
	}
	return f, nil
}

// numel returns the product of dims, each of which must be in 1..maxDim-1, as must the product.
func numel(dims []int) (int, error) {
	n := 1
	for _, d := range dims {
		if d < 1 || d >= maxDim {
			return 0, fmt.Errorf("dimension %d out of range 1..%d", d, maxDim-1)
		}
		n *= d
		if n >= maxDim {
			return 0, fmt.Errorf("%v has too many elements", dims)
		}
	}
	return n, nil
}

func checkData(what string, data []float32, shape []int) error {
	n, err := numel(shape)
	if err != nil {
		return fmt.Errorf("%s shape %v: %w", what, shape, err)
	}
	if len(data) != n {
		return fmt.Errorf("%s has %d values, shape %v needs %d", what, len(data), shape, n)
	}
	return nil
}
