package wire

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/x448/float16"

	"github.com/distillgo/distill/internal/nn"
)

// maxElems bounds an initializer's element count and a sample's, so hostile dims cannot ask for
// absurd allocations or overflow: the spec's bound nn.MaxValues (2^26 float32s, 256 MiB), so that
// every student a spec allows loads here.
const maxElems = nn.MaxValues

// Size returns the number of elements of t's dims.
func (t Tensor) Size() (int, error) {
	size := 1
	for _, d := range t.Dims {
		if d < 0 || d > maxElems || int64(size)*d > maxElems {
			return 0, fmt.Errorf("%w: initializer %q has dims %v: negative, or over the limit of %d values per tensor", ErrMalformed, t.Name, t.Dims, maxElems)
		}
		size *= int(d)
	}
	return size, nil
}

// Values returns the values of a float32 or float16 initializer as float32 (float16 widened
// exactly), from raw_data (little-endian), float_data or, for float16, int32_data.
func (t Tensor) Values() ([]float32, error) {
	size, err := t.Size()
	if err != nil {
		return nil, err
	}
	if err := t.check(size); err != nil {
		return nil, err
	}
	out := make([]float32, size)
	switch {
	case t.DType == DTFloat && len(t.Raw) == 4*size:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Raw[4*i:]))
		}
	case t.DType == DTFloat && t.Raw == nil && len(t.FloatData) == size:
		copy(out, t.FloatData)
	case t.DType == DTFloat16 && len(t.Raw) == 2*size:
		for i := range out {
			out[i] = float16.Frombits(binary.LittleEndian.Uint16(t.Raw[2*i:])).Float32()
		}
	case t.DType == DTFloat16 && t.Raw == nil && len(t.Int32s) == size:
		for i, v := range t.Int32s {
			out[i] = float16.Frombits(uint16(v)).Float32()
		}
	}
	return out, nil
}

// Check reports whether a float32 or float16 initializer holds as many values as its dims say,
// without decoding them; other types pass unchecked.
func (t Tensor) Check() error {
	if t.DType != DTFloat && t.DType != DTFloat16 {
		return nil
	}
	size, err := t.Size()
	if err != nil {
		return err
	}
	return t.check(size)
}

// check reports whether t holds size values in one of the forms Values reads.
func (t Tensor) check(size int) error {
	switch {
	case t.External:
		return fmt.Errorf("initializer %q has external data: not supported", t.Name)
	case t.DType == DTFloat && (len(t.Raw) == 4*size || t.Raw == nil && len(t.FloatData) == size),
		t.DType == DTFloat16 && (len(t.Raw) == 2*size || t.Raw == nil && len(t.Int32s) == size):
		return nil
	}
	return fmt.Errorf("%w: initializer %q of type %d holds %d raw bytes, %d floats, %d int32s for %d values",
		ErrMalformed, t.Name, t.DType, len(t.Raw), len(t.FloatData), len(t.Int32s), size)
}

// TensorProto.DataType values of quantized weights.
const (
	DTUint8 = 2
	DTInt8  = 3
)

// ints8 returns the values of an int8 or uint8 tensor, from raw_data or int32_data.
func (t Tensor) ints8() ([]float64, error) {
	size, err := t.Size()
	if err != nil {
		return nil, err
	}
	if t.External || (t.DType != DTInt8 && t.DType != DTUint8) {
		return nil, fmt.Errorf("%w: initializer %q of type %d: want int8 or uint8 in the file", ErrMalformed, t.Name, t.DType)
	}
	out := make([]float64, 0, size)
	switch {
	case len(t.Raw) == size:
		for _, b := range t.Raw {
			out = append(out, int8or(b, t.DType))
		}
	case t.Raw == nil && len(t.Int32s) == size:
		for _, v := range t.Int32s {
			out = append(out, int8or(byte(v), t.DType))
		}
	default:
		return nil, fmt.Errorf("%w: initializer %q holds %d raw bytes, %d int32s for %d values", ErrMalformed, t.Name, len(t.Raw), len(t.Int32s), size)
	}
	return out, nil
}

func int8or(b byte, dtype int64) float64 {
	if dtype == DTInt8 {
		return float64(int8(b))
	}
	return float64(b)
}

// Dequantize returns the float32 values of a DequantizeLinear of initializers (ONNX opset 13):
// y = (x - zeroPoint) * scale, with x int8 or uint8, scale float32 (one value, or one per index of
// x's axis) and zeroPoint (nil: 0) of x's type and scale's shape. axis may be negative.
func Dequantize(x, scale Tensor, zeroPoint *Tensor, axis int64) ([]float32, error) {
	q, err := x.ints8()
	if err != nil {
		return nil, err
	}
	s, err := scale.Values()
	if err != nil {
		return nil, err
	}
	zp := make([]float64, len(s))
	if zeroPoint != nil {
		if zp, err = zeroPoint.ints8(); err != nil {
			return nil, err
		}
	}
	if axis < 0 {
		axis += int64(len(x.Dims))
	}
	inner, channels := 1, 1
	if len(s) != 1 {
		if axis < 0 || axis >= int64(len(x.Dims)) || x.Dims[axis] != int64(len(s)) {
			return nil, fmt.Errorf("%w: %d scales for %q of dims %v on axis %d", ErrMalformed, len(s), x.Name, x.Dims, axis)
		}
		channels = len(s)
		for _, d := range x.Dims[axis+1:] {
			inner *= int(d)
		}
	}
	if len(zp) != len(s) {
		return nil, fmt.Errorf("%w: %d zero points for %d scales of %q", ErrMalformed, len(zp), len(s), x.Name)
	}
	out := make([]float32, len(q))
	for i, v := range q {
		c := (i / inner) % channels
		out[i] = float32((v - zp[c]) * float64(s[c]))
	}
	return out, nil
}
