package wire

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/x448/float16"
)

// maxElems bounds an initializer's element count and a sample's (2^26 float32s is 256 MiB, far
// above a student or one image), so hostile dims cannot ask for absurd allocations or overflow.
const maxElems = 1 << 26

// Size returns the number of elements of t's dims.
func (t Tensor) Size() (int, error) {
	size := 1
	for _, d := range t.Dims {
		if d < 0 || d > maxElems || int64(size)*d > maxElems {
			return 0, fmt.Errorf("%w: initializer %q has dims %v", ErrMalformed, t.Name, t.Dims)
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
