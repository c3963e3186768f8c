package onnx

import (
	"fmt"

	"github.com/distillgo/distill/internal/nn"
)

// ChainLayer is one layer of a chain built by ChainForTest, in the exporter's terms: Gemm (Weight
// [in, out]), Relu, Conv (Weight [f, c, k, k]), MaxPool, Flatten; a nil Bias means none.
type ChainLayer struct {
	Op                  string
	Weight, Bias        []float32
	WeightShape         []int
	Kernel, Stride, Pad int
}

// ChainForTest returns the ExportGraph of a chain of layers with these weights, written by
// internal/nn's operators; it panics on a chain they refuse.
func ChainForTest(input []int, classes int, layers ...ChainLayer) ExportGraph {
	spec := &nn.Spec{Input: input, Classes: classes}
	tensors := map[string][]float32{}
	no := false
	for i, l := range layers {
		var sl nn.Layer
		switch l.Op {
		case "Gemm":
			sl = nn.Layer{Type: "dense", Units: l.WeightShape[1]}
		case "Relu":
			sl = nn.Layer{Type: "relu"}
		case "Flatten":
			sl = nn.Layer{Type: "flatten"}
		case "Conv":
			sl = nn.Layer{Type: "conv2d", Filters: l.WeightShape[0], Kernel: l.Kernel, Stride: l.Stride, Pad: nn.Pad(l.Pad)}
		case "MaxPool":
			sl = nn.Layer{Type: "maxpool", Kernel: l.Kernel, Stride: l.Stride, Pad: nn.Pad(l.Pad)}
		default:
			panic("ChainForTest: op " + l.Op)
		}
		if l.Weight != nil {
			tensors[nn.TensorName(i, "weight")] = l.Weight
			if l.Bias == nil {
				sl.Bias = &no
			} else {
				tensors[nn.TensorName(i, "bias")] = l.Bias
			}
		}
		spec.Layers = append(spec.Layers, sl)
	}
	og, err := nn.EncodeSpec(spec, tensors, nn.EncodeOptions{})
	if err != nil {
		panic(fmt.Sprintf("ChainForTest: %v", err))
	}
	og.Opset = 0
	return ExportGraph{ONNXGraph: *og}
}
