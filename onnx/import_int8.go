package onnx

import (
	"errors"
	"fmt"
	"math"
	"slices"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// This file reads back the int8 weights of an Int8 export: an INT8 initializer and its float32
// per-channel scales, widened by a DequantizeLinear node (see quantize.go for the scheme).

// dequantized is what a DequantizeLinear node made of an int8 initializer: its values, scales and
// channel axis, kept so that the layer consuming it can check the form Export writes.
type dequantized struct {
	q      []int8
	scales []float32
	axis   int
}

// dequantize records a DequantizeLinear node of an int8 initializer (inputs: the int8 values, the
// float32 scales along axis, and an optional zero point, which must be all zeros) as the
// dequantised float32 weight it yields, taken from c.casts by the layer that consumes it.
func (c *chain) dequantize(n *pb.NodeProto, a attrs, cur string) error {
	if len(n.GetInput()) < 2 || len(n.GetInput()) > 3 {
		return fmt.Errorf("has %d inputs, want 2 or 3", len(n.GetInput()))
	}
	axis, err := a.int("axis", 1)
	if err != nil {
		return err
	}
	if err := a.leftover(); err != nil {
		return err
	}
	in := n.GetInput()
	q, ok := c.inits[in[0]]
	if !ok || !q.int8 || q.used {
		return fmt.Errorf("input %q is not an unused int8 initializer", in[0])
	}
	if axis < 0 || axis >= int64(len(q.dims)) {
		return fmt.Errorf("axis %d out of range for shape %v", axis, q.dims)
	}
	scale, ok := c.inits[in[1]]
	if !ok || scale.int8 || scale.fp16 || scale.used || !slices.Equal(scale.dims, []int{q.dims[axis]}) {
		return fmt.Errorf("scale %q is not an unused float32 initializer of shape [%d]", in[1], q.dims[axis])
	}
	if len(in) == 3 {
		zp, ok := c.inits[in[2]]
		if !ok || !zp.int8 || zp.used || !slices.Equal(zp.dims, scale.dims) || slices.ContainsFunc(zp.values, func(v float32) bool { return v != 0 }) {
			return fmt.Errorf("zero point %q is not an unused int8 initializer of zeros shaped like the scale", in[2])
		}
		zp.used = true
	}
	out := n.GetOutput()[0]
	if _, dup := c.casts[out]; dup || out == cur {
		return fmt.Errorf("output %q is defined twice", out)
	}
	q.used, scale.used = true, true
	d := &dequantized{q: make([]int8, len(q.values)), scales: scale.values, axis: int(axis)}
	for i, v := range q.values {
		d.q[i] = int8(v)
	}
	_, _, inner := channelLayout(q.dims, d.axis)
	c.casts[out] = &initializer{dims: q.dims, values: DequantizeChannels(d.q, d.scales, 0, inner), deq: d}
	return nil
}

// checkInt8Weight checks that the weight w of a layer of op, in an Int8 graph, came from a
// DequantizeLinear along the output-channel axis Export uses, with exactly the values and scales
// QuantizeChannels gives for the dequantised weights, so that a re-export reproduces the file.
func checkInt8Weight(op string, w *initializer) error {
	if w.deq == nil {
		return errors.New("a float32 weight in a graph of int8 weights is not supported")
	}
	if want := channelAxis(op); w.deq.axis != want {
		return fmt.Errorf("weight dequantised along axis %d, want the output channels' axis %d", w.deq.axis, want)
	}
	rows, channels, inner, _ := weightChannels(op, w.dims)
	q, scales, err := QuantizeChannels(w.values, rows, channels, inner)
	if err != nil {
		return fmt.Errorf("weight: %w", err)
	}
	for c, s := range scales {
		if math.Float32bits(s) != math.Float32bits(w.deq.scales[c]) {
			return fmt.Errorf("channel %d has scale %v, not the %v distill's quantiser gives", c, w.deq.scales[c], s)
		}
	}
	if !slices.Equal(q, w.deq.q) {
		return errors.New("int8 values are not those distill's quantiser gives for their scales")
	}
	return nil
}
