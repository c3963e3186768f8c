package dataset

import (
	"archive/zip"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Array is one array file read as it is stored, for a model input that is fed without
// preprocessing (token ids, masks, float16 features): its values keep their element type.
type Array struct {
	// Path is the file as given ("f.npz:<key>" for an NPZ member); SHA256 the hex sha256 of the
	// file's bytes (of the whole archive for NPZ).
	Path, SHA256 string
	// N is the number of samples (the first axis); SampleShape the shape of one sample.
	N           int
	SampleShape []int
	// DType is the element type as stored ("uint8", "int64", "float16", ...).
	DType string
	// Values holds N*prod(SampleShape) values, sample-major: []uint8, []int8, []int16, []int32,
	// []int64, []float32 (float16 and float32 files) or []float64.
	Values any
}

// ReadArray reads an IDX, NPY or NPZ file ("f.npz:<key>" for one member of several) whose first
// axis is the sample.
func ReadArray(path string) (*Array, error) {
	a, sum, err := readArrayFile(path)
	if err != nil {
		return nil, err
	}
	if len(a.shape) < 1 || a.shape[0] == 0 {
		return nil, fmt.Errorf("read array %s: %w: shape %v has no samples", path, ErrBadData, a.shape)
	}
	return &Array{Path: path, SHA256: sum, N: a.shape[0], SampleShape: append([]int(nil), a.shape[1:]...),
		DType: a.dtype, Values: a.values}, nil
}

// SampleSize is the number of values in one sample.
func (a *Array) SampleSize() int { return NumValues(a.SampleShape) }

// Rows returns the values of samples [start, end), a view of Values of its type.
func (a *Array) Rows(start, end int) any {
	d := a.SampleSize()
	switch v := a.Values.(type) {
	case []uint8:
		return v[start*d : end*d]
	case []int8:
		return v[start*d : end*d]
	case []int16:
		return v[start*d : end*d]
	case []int32:
		return v[start*d : end*d]
	case []int64:
		return v[start*d : end*d]
	case []float32:
		return v[start*d : end*d]
	case []float64:
		return v[start*d : end*d]
	}
	panic(fmt.Sprintf("dataset: array of %T", a.Values))
}

// Gather returns the values of the samples idx, in that order, in a new slice of Values' type.
func (a *Array) Gather(idx []int) any {
	switch v := a.Values.(type) {
	case []uint8:
		return gather(v, idx, a.SampleSize())
	case []int8:
		return gather(v, idx, a.SampleSize())
	case []int16:
		return gather(v, idx, a.SampleSize())
	case []int32:
		return gather(v, idx, a.SampleSize())
	case []int64:
		return gather(v, idx, a.SampleSize())
	case []float32:
		return gather(v, idx, a.SampleSize())
	case []float64:
		return gather(v, idx, a.SampleSize())
	}
	panic(fmt.Sprintf("dataset: array of %T", a.Values))
}

func gather[T any](v []T, idx []int, d int) []T {
	out := make([]T, 0, len(idx)*d)
	for _, i := range idx {
		out = append(out, v[i*d:(i+1)*d]...)
	}
	return out
}

// ConvertValues returns values (one of Array's Values types) as the element type dtype that a
// model input takes, when that loses nothing: integers widen to int32/int64 (int64 to int32 only
// when every value fits), any integer or float becomes float32/float64 (float16 models take
// float32 values, which the runtime converts), 0 and 1 become bool. Anything else is an error
// naming both types.
func ConvertValues(values any, dtype string) (any, error) {
	switch dtype {
	case "int64":
		return convertInts[int64](values, dtype, math.MinInt64, math.MaxInt64)
	case "int32":
		return convertInts[int32](values, dtype, math.MinInt32, math.MaxInt32)
	case "float32", "float16":
		return convertFloats[float32](values)
	case "float64":
		return convertFloats[float64](values)
	case "bool":
		ints, err := convertInts[int64](values, dtype, 0, 1)
		if err != nil {
			return nil, err
		}
		out := make([]bool, len(ints.([]int64)))
		for i, x := range ints.([]int64) {
			if x != 0 && x != 1 {
				return nil, fmt.Errorf("value %d at %d does not fit an input of type bool", x, i)
			}
			out[i] = x == 1
		}
		return out, nil
	}
	if t := typeName(values); t == dtype {
		return values, nil
	}
	return nil, fmt.Errorf("values of type %s for an input of type %s", typeName(values), dtype)
}

func convertInts[T int32 | int64](values any, dtype string, lo, hi int64) (any, error) {
	var in []int64
	switch v := values.(type) {
	case []T:
		return v, nil
	case []uint8:
		in = widen(v)
	case []int8:
		in = widen(v)
	case []int16:
		in = widen(v)
	case []int32:
		in = widen(v)
	case []int64:
		in = v
	default:
		return nil, fmt.Errorf("values of type %s for an input of type %s: want integers", typeName(values), dtype)
	}
	out := make([]T, len(in))
	for i, x := range in {
		if x < lo || x > hi {
			return nil, fmt.Errorf("value %d at %d does not fit an input of type %s", x, i, dtype)
		}
		out[i] = T(x)
	}
	return out, nil
}

func widen[T uint8 | int8 | int16 | int32](v []T) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

func convertFloats[T float32 | float64](values any) (any, error) {
	switch v := values.(type) {
	case []T:
		return v, nil
	case []float32:
		return conv[float32, T](v), nil
	case []float64:
		return conv[float64, T](v), nil
	case []uint8:
		return conv[uint8, T](v), nil
	case []int8:
		return conv[int8, T](v), nil
	case []int16:
		return conv[int16, T](v), nil
	case []int32:
		return conv[int32, T](v), nil
	case []int64:
		return conv[int64, T](v), nil
	}
	return nil, fmt.Errorf("values of type %T for a float input", values)
}

func conv[S uint8 | int8 | int16 | int32 | int64 | float32 | float64, T float32 | float64](v []S) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = T(x)
	}
	return out
}

// typeName names the element type of values as Array.DType does.
func typeName(values any) string {
	switch values.(type) {
	case []uint8:
		return "uint8"
	case []int8:
		return "int8"
	case []int16:
		return "int16"
	case []int32:
		return "int32"
	case []int64:
		return "int64"
	case []float32:
		return "float32"
	case []float64:
		return "float64"
	case []bool:
		return "bool"
	}
	return fmt.Sprintf("%T", values)
}

// NPZKeys lists the keys of the arrays of an NPZ archive (its member names without ".npy"), in
// archive order, so that each can be read as "<path>:<key>".
func NPZKeys(path string) ([]string, error) {
	zr, err := zip.OpenReader(path)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("read npz %s: %w: %v", path, ErrBadData, err)
	}
	defer zr.Close()
	keys := make([]string, len(zr.File))
	for i, f := range zr.File {
		keys[i] = strings.TrimSuffix(f.Name, ".npy")
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("read npz %s: %w: the archive holds no arrays", path, ErrBadData)
	}
	return keys, nil
}
