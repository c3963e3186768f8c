package onnx

import (
	"errors"
	"fmt"
)

// This file holds the checks of an ExportGraph that Encode makes before a graph is written; the
// shapes flowing through its nodes are internal/nn's to check (nn.Decode, which ImportGraph runs).

// normalized returns a copy of g with defaults filled in (names, opset) and checks what Export
// needs: the opset is in range and new enough for the weights' form, the input shape and classes
// are positive.
func (g *ExportGraph) normalized() (*ExportGraph, error) {
	n := *g
	if n.Input == "" {
		n.Input = DefaultInputName
	}
	if n.Output == "" {
		n.Output = DefaultOutputName
	}
	if n.Input == n.Output {
		return nil, fmt.Errorf("input and output share the name %q", n.Input)
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
	if _, err := numel(n.InputShape); err != nil {
		return nil, fmt.Errorf("input shape %v: %w", n.InputShape, err)
	}
	if n.Classes < 1 || n.Classes >= maxDim {
		return nil, fmt.Errorf("classes must be > 0, got %d", n.Classes)
	}
	if len(n.Nodes) == 0 {
		return nil, errors.New("no nodes")
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
	return &n, nil
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
