package dataset

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"codeberg.org/sbinet/npyio"
	"github.com/x448/float16"
)

// readNPY decodes a NumPy .npy file (format versions 1 and 2). The header is parsed by
// codeberg.org/sbinet/npyio after its length has been checked against the file; the
// data, whose size is checked against the shape first, is decoded here in one pass
// (npyio reads element by element through an io.Reader, which is several times slower
// on MNIST-sized arrays). Supported element types: uint8, int8, int16, int32, int64,
// float16 (decoded to float32), float32 and float64, either byte order, C order (or Fortran
// order for 1-D arrays).
func readNPY(b []byte) (array, error) {
	hdrEnd, err := npyHeaderEnd(b)
	if err != nil {
		return array{}, err
	}
	kind, size, order, shape, err := npyType(b[:hdrEnd])
	if err != nil {
		return array{}, err
	}
	data := b[hdrEnd:]
	need, err := checkedCount(shape, size, len(data))
	if err != nil {
		return array{}, fmt.Errorf("%w: npy: %v", ErrBadData, err)
	}
	if len(data) < need {
		return array{}, fmt.Errorf("%w: npy: truncated: shape %v of %s needs %d bytes of data, file has %d", ErrBadData, shape, kind, need, len(data))
	}
	if len(data) > need {
		return array{}, fmt.Errorf("%w: npy: %d trailing bytes after the %d bytes of shape %v", ErrBadData, len(data)-need, need, shape)
	}
	return array{shape: shape, values: decodeNPYData(kind, order, data[:need], need/size), dtype: npyDTypes[kind]}, nil
}

// npyHeaderEnd checks the preamble of version 1 or 2 and returns where the header ends.
func npyHeaderEnd(b []byte) (int, error) {
	const magicLen = 6
	if len(b) < magicLen+4 {
		return 0, fmt.Errorf("%w: npy: %d bytes, shorter than the preamble (file cut short?)", ErrBadData, len(b))
	}
	var hdrEnd int
	switch major := b[magicLen]; major {
	case 1:
		hdrEnd = magicLen + 4 + int(binary.LittleEndian.Uint16(b[magicLen+2:]))
	case 2:
		if len(b) < magicLen+6 {
			return 0, fmt.Errorf("%w: npy: %d bytes, shorter than the preamble (file cut short?)", ErrBadData, len(b))
		}
		hdrEnd = magicLen + 6 + int(binary.LittleEndian.Uint32(b[magicLen+2:]))
	default:
		return 0, fmt.Errorf("%w: npy: unsupported format version %d", ErrBadData, major)
	}
	if hdrEnd > len(b) || hdrEnd < 0 {
		return 0, fmt.Errorf("%w: npy: truncated header: needs %d bytes, file has %d", ErrBadData, hdrEnd, len(b))
	}
	return hdrEnd, nil
}

// npyType parses the header dictionary: the element kind ("u1", "f4", ...) and size, the byte
// order and the shape.
func npyType(hdr []byte) (kind string, size int, order binary.ByteOrder, shape []int, err error) {
	if !bytes.Contains(hdr, []byte("\n")) || !bytes.Contains(hdr, []byte("}")) {
		return "", 0, nil, nil, fmt.Errorf("%w: npy: header is not a dictionary ending in a newline", ErrBadData)
	}
	h, err := parseNPYHeader(hdr)
	if err != nil {
		return "", 0, nil, nil, fmt.Errorf("%w: npy: header: %v", ErrBadData, err)
	}
	descr := strings.Trim(h.Descr.Type, "'\"")
	if len(descr) < 3 {
		return "", 0, nil, nil, fmt.Errorf("%w: npy: unsupported dtype %q", ErrBadData, descr)
	}
	order = binary.LittleEndian
	switch descr[0] {
	case '<', '|', '=':
	case '>':
		order = binary.BigEndian
	default:
		return "", 0, nil, nil, fmt.Errorf("%w: npy: unsupported dtype %q", ErrBadData, descr)
	}
	kind = descr[1:]
	size, ok := npySizes[kind]
	if !ok {
		return "", 0, nil, nil, fmt.Errorf("%w: npy: unsupported dtype %q: want uint8, int8/16/32/64, float16, float32 or float64", ErrBadData, descr)
	}
	shape = append([]int(nil), h.Descr.Shape...)
	if h.Descr.Fortran && len(shape) > 1 {
		return "", 0, nil, nil, fmt.Errorf("%w: npy: Fortran-order array of shape %v: save it with numpy.ascontiguousarray", ErrBadData, shape)
	}
	return kind, size, order, shape, nil
}

// npySizes are the element sizes of the supported NPY kinds.
var npySizes = map[string]int{"u1": 1, "i1": 1, "i2": 2, "i4": 4, "i8": 8, "f2": 2, "f4": 4, "f8": 8}

// npyDTypes name the supported NPY kinds as [Dataset.DType] does.
var npyDTypes = map[string]string{"u1": "uint8", "i1": "int8", "i2": "int16", "i4": "int32", "i8": "int64",
	"f2": "float16", "f4": "float32", "f8": "float64"}

// decodeNPYData decodes n elements of kind in the given byte order.
func decodeNPYData(kind string, order binary.ByteOrder, data []byte, n int) any {
	switch kind {
	case "u1":
		return data // a view: callers convert and drop it
	case "i1":
		v := make([]int8, n)
		for i := range v {
			v[i] = int8(data[i])
		}
		return v
	case "i2":
		v := make([]int16, n)
		for i := range v {
			v[i] = int16(order.Uint16(data[2*i:]))
		}
		return v
	case "i4":
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(order.Uint32(data[4*i:]))
		}
		return v
	case "i8":
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(order.Uint64(data[8*i:]))
		}
		return v
	case "f2":
		v := make([]float32, n)
		for i := range v {
			v[i] = float16.Frombits(order.Uint16(data[2*i:])).Float32()
		}
		return v
	case "f4":
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(order.Uint32(data[4*i:]))
		}
		return v
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Float64frombits(order.Uint64(data[8*i:]))
	}
	return v
}

// parseNPYHeader runs npyio's header parser on the preamble and header only, turning a
// panic of its slicing on malformed dictionaries into an error.
func parseNPYHeader(hdr []byte) (h npyio.Header, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("malformed dictionary")
		}
	}()
	r, err := npyio.NewReader(bytes.NewReader(hdr))
	if err != nil {
		return npyio.Header{}, err
	}
	return r.Header, nil
}
