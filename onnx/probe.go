package onnx

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"
)

// This file holds the probing run of Open: one batch of zeros that learns the class count (and a
// ZipMap's class labels), checks the features and learns their shapes, and makes sure the device
// works.

// probeShapes returns the rows of the probing run (one sample, two for a session with features,
// or the fixed batch) and the per-sample shape of each input in it: the input's, with size 1 for
// dynamic axes.
func (s *Session) probeShapes() (int, [][]int64) {
	rows := 1
	if len(s.feats) > 0 {
		rows = 2 // see probeFeatures
	}
	if s.fixed > 0 {
		rows = s.fixed
	}
	shapes := make([][]int64, len(s.inputs))
	for i, v := range s.inputs {
		shapes[i] = make([]int64, len(v.SampleShape))
		for j, d := range v.SampleShape {
			shapes[i][j] = max(int64(d), 1)
		}
	}
	return rows, shapes
}

// probe runs a batch of zeros through sess and returns the class count and, for a ZipMap, the
// columns of its class labels; it checks the features and records their shapes (probeFeatures).
func (s *Session) probe(sess *ort.DynamicAdvancedSession) (int, *zipColumns, error) {
	rows, shapes := s.probeShapes()
	var ins []ort.Value
	defer func() {
		for _, v := range ins {
			v.Destroy()
		}
	}()
	for i, v := range s.inputs {
		in, err := newInputTensor(v.DType, append(ort.Shape{int64(rows)}, shapes[i]...))
		if err != nil {
			return 0, nil, fmt.Errorf("input %q: %w", v.Name, err)
		}
		ins = append(ins, in.v)
	}
	outs := make([]ort.Value, 1+len(s.feats)) // the features' are allocated by onnxruntime
	defer func() {
		for _, v := range outs {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	var err error
	if s.outType == scoreFloat16 || s.outType == scoreBFloat16 {
		// A 16-bit output is read into a tensor of its declared shape (see checkModel).
		if outs[0], err = newScoreTensor(s.outType, rows, int(s.out.Shape[1])); err != nil {
			return 0, nil, err
		}
	}
	if err := sess.Run(ins, outs); err != nil {
		return 0, nil, err
	}
	if err := s.probeFeatures(outs[1:], int64(rows)); err != nil {
		return 0, nil, err
	}
	return s.probeClasses(outs[0], int64(rows))
}

// probeClasses reads the class count (and a ZipMap's columns) from out, the output of the
// probing run of rows samples.
func (s *Session) probeClasses(out ort.Value, rows int64) (int, *zipColumns, error) {
	if s.outType.zipMap() {
		z, err := newZipColumns(out, s.outType)
		if err == nil && out.GetShape()[0] != rows {
			err = fmt.Errorf("got %d maps for %d samples", out.GetShape()[0], rows)
		}
		if err != nil {
			return 0, nil, fmt.Errorf("output %q: %w", s.out.Name, err)
		}
		return len(z.labels), z, nil
	}
	want := map[scoreType]ort.TensorElementDataType{scoreFloat32: ort.TensorElementDataTypeFloat,
		scoreFloat16: ort.TensorElementDataTypeFloat16, scoreBFloat16: ort.TensorElementDataTypeBFloat16,
		scoreFloat64: ort.TensorElementDataTypeDouble}[s.outType]
	if out.GetONNXType() != ort.ONNXTypeTensor || ort.TensorElementDataType(out.DataType()) != want {
		return 0, nil, fmt.Errorf("output %q is %s, want a %s tensor", s.out.Name, describeOrt(out), s.out.Type)
	}
	sh := out.GetShape()
	if len(sh) != 2 || sh[0] != rows || sh[1] <= 0 {
		return 0, nil, fmt.Errorf("output %q has shape %v for %d samples, want [%d, classes]", s.out.Name, sh, rows, rows)
	}
	return int(sh[1]), nil, nil
}
