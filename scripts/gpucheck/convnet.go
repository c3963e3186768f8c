package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// convNetOps are the operators of the model convNet builds: those the CUDA provider reaches
// through the core's provider bridge (Concat, Slice, Pad) beside the ones an MLP uses.
var convNetOps = []string{"Pad", "Conv", "Relu", "Slice", "Concat", "Flatten", "Gemm"}

// convNet returns the bytes of a CNN over MNIST-shaped input [N, 1, 28, 28] with random weights
// (seeded, He-scaled), marshalled deterministically: the same seed gives the same bytes.
//
//	Pad 1 -> Conv 16 3x3 -> Relu -> Slice channels 0:8 and 8:16
//	0:8 -> Conv 16 3x3 pad 1 -> Relu; Concat with 8:16 -> 24 channels
//	Conv 32 3x3 stride 2 pad 1 -> Relu [32, 14, 14] -> Slice 1:13 in height and width -> Pad 1
//	Flatten -> Gemm 6272 -> 10 (logits)
//
// About 4.9 MFLOP a sample, as much as the 784-1200-1200-10 MLP teacher.
func convNet(seed uint64) ([]byte, error) {
	rng := rand.New(rand.NewPCG(seed, 0x6770756368656b)) // "gpuchek"
	var inits []*pb.TensorProto
	weight := func(name string, fanIn int, dims ...int64) string {
		n := int64(1)
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		scale := math.Sqrt(2 / float64(fanIn))
		for i := range v {
			v[i] = float32(rng.NormFloat64() * scale)
		}
		inits = append(inits, floats(name, v, dims...))
		return name
	}
	ints := func(name string, v ...int64) string {
		inits = append(inits, &pb.TensorProto{Name: name, DataType: int32(pb.TensorProto_INT64), Dims: []int64{int64(len(v))}, Int64Data: v})
		return name
	}
	bias := func(name string, n int64) string {
		inits = append(inits, floats(name, make([]float32, n), n))
		return name
	}
	pads := ints("pads", 0, 0, 1, 1, 0, 0, 1, 1)
	nodes := []*pb.NodeProto{
		op("Pad", []string{"input", pads}, "x0"),
		op("Conv", []string{"x0", weight("w1", 9, 16, 1, 3, 3), bias("b1", 16)}, "c1", ints64("kernel_shape", 3, 3)),
		op("Relu", []string{"c1"}, "r1"),
		op("Slice", []string{"r1", ints("lo_start", 0), ints("lo_end", 8), ints("ch_axis", 1)}, "lo"),
		op("Slice", []string{"r1", ints("hi_start", 8), ints("hi_end", 16), "ch_axis"}, "hi"),
		op("Conv", []string{"lo", weight("w2", 72, 16, 8, 3, 3), bias("b2", 16)}, "c2", ints64("kernel_shape", 3, 3), ints64("pads", 1, 1, 1, 1)),
		op("Relu", []string{"c2"}, "r2"),
		op("Concat", []string{"r2", "hi"}, "cat", &pb.AttributeProto{Name: "axis", Type: pb.AttributeProto_INT, I: 1}),
		op("Conv", []string{"cat", weight("w3", 216, 32, 24, 3, 3), bias("b3", 32)}, "c3",
			ints64("kernel_shape", 3, 3), ints64("pads", 1, 1, 1, 1), ints64("strides", 2, 2)),
		op("Relu", []string{"c3"}, "r3"),
		op("Slice", []string{"r3", ints("hw_start", 1, 1), ints("hw_end", 13, 13), ints("hw_axes", 2, 3)}, "crop"),
		op("Pad", []string{"crop", pads}, "x4"),
		op("Flatten", []string{"x4"}, "flat"),
		op("Gemm", []string{"flat", weight("w4", 6272, 6272, 10), bias("b4", 10)}, "logits"),
	}
	dim := func(v int64) *pb.TensorShapeProto_Dimension {
		if v == 0 {
			return &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}
		}
		return &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
	}
	info := func(name string, dims ...int64) *pb.ValueInfoProto {
		shape := &pb.TensorShapeProto{}
		for _, d := range dims {
			shape.Dim = append(shape.Dim, dim(d))
		}
		return &pb.ValueInfoProto{Name: name, Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{
			TensorType: &pb.TypeProto_Tensor{ElemType: int32(pb.TensorProto_FLOAT), Shape: shape}}}}
	}
	m := &pb.ModelProto{
		IrVersion:    8,
		OpsetImport:  []*pb.OperatorSetIdProto{{Domain: "", Version: 13}},
		ProducerName: "distill-gpucheck",
		Graph: &pb.GraphProto{Name: "convnet", Node: nodes, Initializer: inits,
			Input: []*pb.ValueInfoProto{info("input", 0, 1, 28, 28)}, Output: []*pb.ValueInfoProto{info("logits", 0, 10)}},
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshal the conv test model: %w", err)
	}
	return data, nil
}

func op(typ string, inputs []string, output string, attrs ...*pb.AttributeProto) *pb.NodeProto {
	return &pb.NodeProto{OpType: typ, Name: output, Input: inputs, Output: []string{output}, Attribute: attrs}
}

func ints64(name string, v ...int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_INTS, Ints: v}
}

func floats(name string, v []float32, dims ...int64) *pb.TensorProto {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return &pb.TensorProto{Name: name, DataType: int32(pb.TensorProto_FLOAT), Dims: dims, RawData: raw}
}
