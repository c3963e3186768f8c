package dataset

import (
	"encoding/binary"
	"fmt"
	"math"
)

// IDX element type codes, from the format's description on Yann LeCun's MNIST page: the
// magic number is two zero bytes, the type code, then the number of dimensions; each
// dimension follows as a big-endian uint32, then the big-endian data.
const (
	idxUint8   = 0x08
	idxInt8    = 0x09
	idxInt16   = 0x0B
	idxInt32   = 0x0C
	idxFloat32 = 0x0D
	idxFloat64 = 0x0E
)

var idxSizes = map[byte]int{idxUint8: 1, idxInt8: 1, idxInt16: 2, idxInt32: 4, idxFloat32: 4, idxFloat64: 8}

// idxDTypes name the IDX element types as [Dataset.DType] does.
var idxDTypes = map[byte]string{idxUint8: "uint8", idxInt8: "int8", idxInt16: "int16", idxInt32: "int32",
	idxFloat32: "float32", idxFloat64: "float64"}

// readIDX decodes an uncompressed IDX file (e.g. magic 0x00000803 for MNIST's ubyte
// images [N,28,28], 0x00000801 for its labels [N]).
func readIDX(b []byte) (array, error) {
	if len(b) < 4 {
		return array{}, fmt.Errorf("%w: idx: %d bytes, shorter than the 4-byte magic", ErrBadData, len(b))
	}
	if b[0] != 0 || b[1] != 0 {
		return array{}, fmt.Errorf("%w: idx: bad magic 0x%08x: want 0x0000TTDD", ErrBadData, binary.BigEndian.Uint32(b))
	}
	typ, ndim := b[2], int(b[3])
	size, ok := idxSizes[typ]
	if !ok {
		return array{}, fmt.Errorf("%w: idx: bad magic 0x%08x: unknown element type 0x%02x", ErrBadData, binary.BigEndian.Uint32(b), typ)
	}
	if ndim == 0 {
		return array{}, fmt.Errorf("%w: idx: bad magic 0x%08x: zero dimensions", ErrBadData, binary.BigEndian.Uint32(b))
	}
	hdr := 4 + 4*ndim
	if len(b) < hdr {
		return array{}, fmt.Errorf("%w: idx: truncated header: %d bytes, %d dimensions need %d", ErrBadData, len(b), ndim, hdr)
	}
	shape := make([]int, ndim)
	for i := range shape {
		d := binary.BigEndian.Uint32(b[4+4*i:])
		if d > math.MaxInt32 {
			return array{}, fmt.Errorf("%w: idx: dimension %d of %d is too large", ErrBadData, i, d)
		}
		shape[i] = int(d)
	}
	data := b[hdr:]
	need, err := checkedCount(shape, size, len(data))
	if err != nil {
		return array{}, fmt.Errorf("%w: idx: %v", ErrBadData, err)
	}
	if len(data) < need {
		return array{}, fmt.Errorf("%w: idx: truncated: shape %v needs %d bytes of data, file has %d", ErrBadData, shape, need, len(data))
	}
	if len(data) > need {
		return array{}, fmt.Errorf("%w: idx: %d trailing bytes after the %d bytes of shape %v", ErrBadData, len(data)-need, need, shape)
	}
	n := need / size
	a := array{shape: shape, dtype: idxDTypes[typ]}
	be := binary.BigEndian
	switch typ {
	case idxUint8:
		a.values = data // a view: callers convert and drop it
	case idxInt8:
		v := make([]int8, n)
		for i := range v {
			v[i] = int8(data[i])
		}
		a.values = v
	case idxInt16:
		v := make([]int16, n)
		for i := range v {
			v[i] = int16(be.Uint16(data[2*i:]))
		}
		a.values = v
	case idxInt32:
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(be.Uint32(data[4*i:]))
		}
		a.values = v
	case idxFloat32:
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(be.Uint32(data[4*i:]))
		}
		a.values = v
	case idxFloat64:
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Float64frombits(be.Uint64(data[8*i:]))
		}
		a.values = v
	}
	return a, nil
}
