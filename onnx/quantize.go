package onnx

import (
	"errors"
	"fmt"
	"math"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/distillgo/distill/internal/nn"
)

// This file holds the int8 weight quantiser of ExportGraph.Int8 and its inverse.
//
// Scheme: symmetric per-output-channel int8. Each output channel (a column of a Gemm weight
// [in, out], a filter of a Conv weight [filters, c, k, k]) gets its own float32 scale
// s = max|w| / 127 and stores q = round(w / s) in [-127, 127] (ties to even, as ONNX
// QuantizeLinear rounds; -128 is never used, so the range is symmetric and the zero point is 0).
// DequantizeLinear (opset >= 13 for the per-axis form) computes w' = q × s in float32, which
// onnxruntime feeds to the float32 Gemm or Conv. The rounding error of each weight is at most
// s/2 = max|w|/254 of its channel.

// MinOpsetInt8 is the first opset in which DequantizeLinear takes a scale per channel (its axis
// attribute), which ExportGraph.Int8 needs.
const MinOpsetInt8 = 13

// int8Max is the largest stored magnitude: symmetric int8 leaves -128 unused.
const int8Max = 127

// ErrQuantize is returned (wrapped) when weights cannot be quantised to int8 (a NaN or an
// infinity).
var ErrQuantize = errors.New("cannot quantise to int8")

// QuantizeChannels quantises w, laid out as rows × channels × inner (row-major), with one scale per
// channel: a Gemm weight [in, out] is rows = in, channels = out, inner = 1; a Conv weight
// [f, c, k, k] is rows = 1, channels = f, inner = c·k·k. It returns the int8 values in w's layout
// and the scales. A channel of zeros gets scale 1 (every q is 0).
//
// The scale is m/127 for the channel's largest magnitude m, moved by the fewest float32 ulps
// (almost always none) that make it a fixed point of s -> fl(fl(127·s)/127). Dequantising gives a
// largest magnitude of fl(127·s), so quantising the dequantised weights again yields the same
// scale and the same q: Export(ImportGraph(f)) reproduces an int8 file byte for byte.
func QuantizeChannels(w []float32, rows, channels, inner int) (q []int8, scales []float32, err error) {
	if rows*channels*inner != len(w) {
		return nil, nil, fmt.Errorf("%d weights do not fill %d x %d x %d", len(w), rows, channels, inner)
	}
	scales = make([]float32, channels)
	for c := range scales {
		var m float32
		for r := 0; r < rows; r++ {
			for _, v := range w[(r*channels+c)*inner : (r*channels+c+1)*inner] {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return nil, nil, fmt.Errorf("%w: channel %d holds %v", ErrQuantize, c, v)
				}
				m = max(m, abs32(v))
			}
		}
		scales[c] = channelScale(m)
	}
	q = make([]int8, len(w))
	for i, v := range w {
		s := scales[(i/inner)%channels]
		r := math.RoundToEven(float64(v) / float64(s))
		q[i] = int8(max(-int8Max, min(int8Max, r)))
	}
	return q, scales, nil
}

// DequantizeChannels returns q × scale per channel in float32, the values DequantizeLinear
// computes; the layout is that of QuantizeChannels.
func DequantizeChannels(q []int8, scales []float32, rows, inner int) []float32 {
	channels := len(scales)
	w := make([]float32, len(q))
	for i, v := range q {
		w[i] = float32(v) * scales[(i/inner)%channels]
	}
	return w
}

// channelScale returns the scale of a channel whose largest magnitude is m (finite, >= 0).
func channelScale(m float32) float32 {
	if m == 0 {
		return 1
	}
	s0 := max(m/int8Max, math.SmallestNonzeroFloat32)
	// Try s0, then 1, 2, ... ulps above and below it; 16 is far more than ever needed.
	for k := 0; k <= 16; k++ {
		for _, s := range []float32{ulps(s0, k), ulps(s0, -k)} {
			if s > 0 && fixedScale(s) && roundsTo127(m, s) {
				return s
			}
		}
	}
	return s0
}

// fixedScale says whether s survives a dequantise-quantise round trip: fl(fl(127·s)/127) == s.
func fixedScale(s float32) bool {
	top := int8Max * s
	return !math.IsInf(float64(top), 0) && top/int8Max == s
}

// roundsTo127 says whether the largest magnitude m still quantises to 127 under scale s.
func roundsTo127(m, s float32) bool {
	return math.RoundToEven(float64(m)/float64(s)) == int8Max
}

// ulps returns s moved by k float32 ulps (s > 0).
func ulps(s float32, k int) float32 {
	return math.Float32frombits(uint32(int64(math.Float32bits(s)) + int64(k)))
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// channelLayout returns the QuantizeChannels layout of a tensor of shape dims whose channels lie
// along axis (0 <= axis < len(dims)).
func channelLayout(dims []int, axis int) (rows, channels, inner int) {
	rows, inner = 1, 1
	for _, d := range dims[:axis] {
		rows *= d
	}
	for _, d := range dims[axis+1:] {
		inner *= d
	}
	return rows, dims[axis], inner
}

// int8Param writes an Int8 export's weight in: the int8 initializer in.Name, its float32 scales
// in.Name+".scale" (one per channel along in.ChannelAxis) and a DequantizeLinear node; it returns
// the node's float32 output, which the layer consumes. The zero point is left out: it defaults to
// 0, as a symmetric scheme needs.
func (b *graphBuilder) int8Param(in *nn.ONNXInit) (string, error) {
	if in.ChannelAxis >= len(in.Dims) {
		return "", fmt.Errorf("channel axis %d of a tensor of shape %v", in.ChannelAxis, in.Dims)
	}
	rows, channels, inner := channelLayout(in.Dims, in.ChannelAxis)
	q, scales, err := QuantizeChannels(in.Values, rows, channels, inner)
	if err != nil {
		return "", fmt.Errorf("weight: %w", err)
	}
	raw := make([]byte, len(q))
	for i, v := range q {
		raw[i] = byte(v)
	}
	name, scale := in.Name, in.Name+".scale"
	b.graph.Initializer = append(b.graph.Initializer,
		&pb.TensorProto{Name: name, Dims: toInt64(in.Dims), DataType: int32(pb.TensorProto_INT8), RawData: raw},
		initializerTensor(scale, scales, []int64{int64(channels)}, false))
	f32 := name + ".f32"
	b.graph.Node = append(b.graph.Node, &pb.NodeProto{
		Name: name + ".dequantize", OpType: "DequantizeLinear", Input: []string{name, scale}, Output: []string{f32},
		Attribute: []*pb.AttributeProto{intAttr("axis", int64(in.ChannelAxis))},
	})
	return f32, nil
}
