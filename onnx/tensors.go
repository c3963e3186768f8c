package onnx

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/x448/float16"
	ort "github.com/yalue/onnxruntime_go"
)

// This file holds the tensors a Session runs on: one per model input and one for the scores, for
// runs of a given number of rows and per-sample input shapes, reused from run to run.

// batchTensors are the input and output tensors for runs of rows samples whose inputs have the
// per-sample shapes shapes.
type batchTensors struct {
	rows   int
	shapes [][]int64
	ins    []inputTensor
	vals   []ort.Value // the values of ins, as Run takes them
	out    ort.Value   // nil for a ZipMap output, which onnxruntime allocates on each run
	feats  []ort.Value // the output tensors of the features (Options.Features), in their order
}

func (b *batchTensors) destroy() {
	if b == nil {
		return
	}
	for _, in := range b.ins {
		in.v.Destroy()
	}
	if b.out != nil {
		b.out.Destroy()
	}
	destroyAll(b.feats)
}

// fits says whether b holds runs of rows samples of the per-sample shapes shapes.
func (b *batchTensors) fits(rows int, shapes [][]int64) bool {
	return b != nil && b.rows == rows && slices.EqualFunc(b.shapes, shapes, slices.Equal[[]int64])
}

// values returns the input values of a run of samples start to start+r of f. A float32 input
// given as []float32 in a run of b's full rows is a tensor over the caller's samples (a view,
// which the caller destroys after the run): onnxruntime then reads the batch where it is and
// copies it once (to the GPU, on CUDA), where a copy into b's tensor would come first. Any other
// input is copied into b's tensor, with a fixed batch padded with zeros.
func (b *batchTensors) values(f *feed, start, r int) (vals, views []ort.Value, err error) {
	vals = slices.Clone(b.vals)
	for i, in := range b.ins {
		lo, hi := start*f.sizes[i], (start+r)*f.sizes[i]
		x, ok := f.values[i].([]float32)
		if _, own := in.data.([]float32); !ok || !own || r != b.rows {
			in.fill(f.values[i], lo, hi)
			continue
		}
		v, err := ort.NewTensor(append(ort.Shape{int64(r)}, f.shapes[i]...), x[lo:hi])
		if err != nil {
			destroyAll(views)
			return nil, nil, fmt.Errorf("tensor over samples %d-%d: %w", start, start+r, err)
		}
		vals[i], views = v, append(views, v)
	}
	return vals, views, nil
}

// destroyAll destroys the values vs.
func destroyAll(vs []ort.Value) {
	for _, v := range vs {
		v.Destroy()
	}
}

// tensors returns tensors for a run of r rows of f: the full-batch set or, for the last partial
// batch of a dynamic-batch model, a tail set; each is kept until a run needs another number of
// rows or other per-sample shapes (an input with a dynamic axis given another size).
func (s *Session) tensors(r int, f *feed) (*batchTensors, error) {
	slot := &s.tail
	if s.fixed > 0 || r == s.rows {
		slot, r = &s.full, s.rows
	}
	if !(*slot).fits(r, f.shapes) {
		(*slot).destroy()
		*slot = nil
		b, err := s.newTensors(r, f.shapes)
		if err != nil {
			return nil, err
		}
		*slot = b
	}
	return *slot, nil
}

// newTensors allocates the tensors of runs of rows samples whose inputs have the per-sample
// shapes shapes.
func (s *Session) newTensors(rows int, shapes [][]int64) (*batchTensors, error) {
	b := &batchTensors{rows: rows, shapes: slices.Clone(shapes)}
	for i, v := range s.inputs {
		in, err := newInputTensor(v.DType, append(ort.Shape{int64(rows)}, shapes[i]...))
		if err != nil {
			b.destroy()
			return nil, fmt.Errorf("allocate tensor of input %q for %d samples: %w", v.Name, rows, err)
		}
		b.ins, b.vals = append(b.ins, in), append(b.vals, in.v)
	}
	out, err := newScoreTensor(s.outType, rows, s.classes)
	if err != nil {
		b.destroy()
		return nil, fmt.Errorf("allocate output tensor for %d samples: %w", rows, err)
	}
	b.out = out
	if b.feats, err = s.newFeatureTensors(rows); err != nil {
		b.destroy()
		return nil, err
	}
	return b, nil
}

// inputTensor is the tensor of one model input.
type inputTensor struct {
	v ort.Value
	// data is the tensor's memory: a []float32, []float64, []int64, []int32, []int8, []uint8 or
	// []bool, or for float16 a halfBits (onnxruntime_go v1.27.0 has no float16 Go type: the
	// tensor is a CustomDataTensor of element type FLOAT16 over these bytes).
	data any
}

// halfBits is the memory of a float16 tensor: little-endian IEEE 754 half-precision floats.
type halfBits []byte

// newInputTensor allocates a tensor of zeros of element type dtype (one of inputValues) and
// the given shape.
func newInputTensor(dtype string, shape ort.Shape) (inputTensor, error) {
	switch dtype {
	case "float32":
		return typedInput[float32](shape)
	case "float64":
		return typedInput[float64](shape)
	case "int64":
		return typedInput[int64](shape)
	case "int32":
		return typedInput[int32](shape)
	case "int8":
		return typedInput[int8](shape)
	case "uint8":
		return typedInput[uint8](shape)
	case "bool":
		return typedInput[bool](shape)
	case "float16":
		data := make([]byte, 2*shape.FlattenedSize())
		t, err := ort.NewCustomDataTensor(shape, data, ort.TensorElementDataTypeFloat16)
		if err != nil {
			return inputTensor{}, err
		}
		return inputTensor{v: t, data: halfBits(data)}, nil
	}
	return inputTensor{}, fmt.Errorf("element type %s: want %s", dtype, inputTypesWanted)
}

func typedInput[T ort.TensorData](shape ort.Shape) (inputTensor, error) {
	t, err := ort.NewEmptyTensor[T](shape)
	if err != nil {
		return inputTensor{}, err
	}
	return inputTensor{v: t, data: t.GetData()}, nil
}

// fill copies src[lo:hi] into the tensor and zeroes the rest of it (the padding of a fixed
// batch). src is of a type that the input takes (checked by checkInput): the tensor's own, or a
// []float32 for a float16 input (rounded to the nearest float16, ties to even) or a float64 one.
func (t inputTensor) fill(src any, lo, hi int) {
	switch d := t.data.(type) {
	case []float32:
		copyPad(d, src.([]float32)[lo:hi])
	case []float64:
		if x, ok := src.([]float32); ok {
			for i, v := range x[lo:hi] {
				d[i] = float64(v)
			}
			clear(d[hi-lo:])
		} else {
			copyPad(d, src.([]float64)[lo:hi])
		}
	case halfBits:
		if x, ok := src.([]float32); ok {
			for i, v := range x[lo:hi] {
				binary.LittleEndian.PutUint16(d[2*i:], float16.Fromfloat32(v).Bits())
			}
		} else {
			for i, v := range src.([]uint16)[lo:hi] {
				binary.LittleEndian.PutUint16(d[2*i:], v)
			}
		}
		clear(d[2*(hi-lo):])
	case []int64:
		copyPad(d, src.([]int64)[lo:hi])
	case []int32:
		copyPad(d, src.([]int32)[lo:hi])
	case []int8:
		copyPad(d, src.([]int8)[lo:hi])
	case []uint8:
		copyPad(d, src.([]uint8)[lo:hi])
	case []bool:
		copyPad(d, src.([]bool)[lo:hi])
	}
}

// copyPad copies src into dst and zeroes the rest of dst.
func copyPad[T any](dst, src []T) {
	m := copy(dst, src)
	clear(dst[m:])
}
