package purego

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file reads the parts of an ONNX ModelProto (onnx/onnx.proto) that Load needs, with
// protowire rather than generated types: onnx-go's generated types must not be the only reader
// (they drop dim_param), and package onnx's register the same names (see doc.go).

// Field numbers of onnx.proto used here.
const (
	modelGraph    = 7  // ModelProto.graph
	modelMetadata = 14 // ModelProto.metadata_props

	graphNode        = 1  // GraphProto.node
	graphInitializer = 5  // GraphProto.initializer
	graphInput       = 11 // GraphProto.input
	graphOutput      = 12 // GraphProto.output

	nodeInput     = 1 // NodeProto.input
	nodeOutput    = 2 // NodeProto.output
	nodeName      = 3 // NodeProto.name
	nodeOpType    = 4 // NodeProto.op_type
	nodeAttribute = 5 // NodeProto.attribute
	nodeDomain    = 7 // NodeProto.domain

	attrName = 1 // AttributeProto.name
	attrI    = 3 // AttributeProto.i
	attrInts = 8 // AttributeProto.ints

	tensorDims      = 1  // TensorProto.dims
	tensorDataType  = 2  // TensorProto.data_type
	tensorFloatData = 4  // TensorProto.float_data
	tensorInt32Data = 5  // TensorProto.int32_data (float16 bits may be stored here)
	tensorName      = 8  // TensorProto.name
	tensorRawData   = 9  // TensorProto.raw_data
	tensorLocation  = 14 // TensorProto.data_location (1: external)

	// TensorProto.DataType values.
	dtFloat   = 1
	dtFloat16 = 10
)

// errMalformed is wrapped by every error about bytes that are not a valid ModelProto.
var errMalformed = errors.New("malformed ONNX model")

// field is one field of a protobuf message: its number and wire type, its value (u for varint
// and fixed types, b for length-delimited ones) and raw, the field's whole encoding.
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64
	b   []byte
	raw []byte
}

// eachField calls fn on every field of msg in order.
func eachField(msg []byte, fn func(f field) error) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return fmt.Errorf("%w: %v", errMalformed, protowire.ParseError(n))
		}
		f := field{num: num, typ: typ}
		m := protowire.ConsumeFieldValue(num, typ, msg[n:])
		if m < 0 {
			return fmt.Errorf("%w: field %d: %v", errMalformed, num, protowire.ParseError(m))
		}
		v := msg[n : n+m]
		switch typ {
		case protowire.VarintType:
			f.u, _ = protowire.ConsumeVarint(v)
		case protowire.Fixed32Type:
			u, _ := protowire.ConsumeFixed32(v)
			f.u = uint64(u)
		case protowire.Fixed64Type:
			f.u, _ = protowire.ConsumeFixed64(v)
		case protowire.BytesType:
			f.b, _ = protowire.ConsumeBytes(v)
		}
		f.raw = msg[:n+m]
		if err := fn(f); err != nil {
			return err
		}
		msg = msg[n+m:]
	}
	return nil
}

// int64s appends to dst the int64 values of a repeated int64 field, packed or not.
func int64s(dst []int64, f field) ([]int64, error) {
	if f.typ == protowire.VarintType {
		return append(dst, int64(f.u)), nil
	}
	if f.typ != protowire.BytesType {
		return dst, fmt.Errorf("%w: field %d has wire type %d", errMalformed, f.num, f.typ)
	}
	for b := f.b; len(b) > 0; {
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return dst, fmt.Errorf("%w: packed field %d: %v", errMalformed, f.num, protowire.ParseError(n))
		}
		dst = append(dst, int64(v))
		b = b[n:]
	}
	return dst, nil
}

// modelProto is what Load reads of a ModelProto.
type modelProto struct {
	metadata map[string]string
	graph    graphProto
}

// graphProto is what Load reads of a GraphProto.
type graphProto struct {
	nodes   []nodeProto
	inits   []tensorProto
	inputs  []valueInfo
	outputs []valueInfo
}

// nodeProto is one NodeProto; ints holds its int and ints attributes by name.
type nodeProto struct {
	name, op, domain string
	inputs, outputs  []string
	ints             map[string][]int64
}

// tensorProto is one initializer.
type tensorProto struct {
	name     string
	dtype    int64
	dims     []int64
	raw      []byte
	floats   []float32
	int32s   []int64
	external bool
}

// valueInfo is a graph input or output: its name, element type and shape; a dimension is -1
// when it is symbolic (dim_param) or unknown.
type valueInfo struct {
	name string
	elem int64
	dims []int64
}

// parseModel reads data as a ModelProto.
func parseModel(data []byte) (*modelProto, error) {
	m := &modelProto{metadata: map[string]string{}}
	err := eachField(data, func(f field) error {
		switch {
		case f.num == modelGraph && f.typ == protowire.BytesType:
			return parseGraph(f.b, &m.graph)
		case f.num == modelMetadata && f.typ == protowire.BytesType:
			var k, v string
			err := eachField(f.b, func(e field) error {
				switch e.num {
				case 1:
					k = string(e.b)
				case 2:
					v = string(e.b)
				}
				return nil
			})
			m.metadata[k] = v
			return err
		}
		return nil
	})
	return m, err
}

// parseGraph reads data as a GraphProto into g.
func parseGraph(data []byte, g *graphProto) error {
	return eachField(data, func(f field) error {
		if f.typ != protowire.BytesType {
			return nil
		}
		switch f.num {
		case graphNode:
			n, err := parseNode(f.b)
			g.nodes = append(g.nodes, n)
			return err
		case graphInitializer:
			t, err := parseTensor(f.b)
			g.inits = append(g.inits, t)
			return err
		case graphInput, graphOutput:
			v, err := parseValueInfo(f.b)
			if f.num == graphInput {
				g.inputs = append(g.inputs, v)
			} else {
				g.outputs = append(g.outputs, v)
			}
			return err
		}
		return nil
	})
}

// parseNode reads data as a NodeProto.
func parseNode(data []byte) (nodeProto, error) {
	n := nodeProto{ints: map[string][]int64{}}
	err := eachField(data, func(f field) error {
		switch f.num {
		case nodeInput:
			n.inputs = append(n.inputs, string(f.b))
		case nodeOutput:
			n.outputs = append(n.outputs, string(f.b))
		case nodeName:
			n.name = string(f.b)
		case nodeOpType:
			n.op = string(f.b)
		case nodeDomain:
			n.domain = string(f.b)
		case nodeAttribute:
			return parseAttribute(f.b, n.ints)
		}
		return nil
	})
	return n, err
}

// parseAttribute reads data as an AttributeProto and records its int or ints value in ints.
func parseAttribute(data []byte, ints map[string][]int64) error {
	var name string
	var vals []int64
	err := eachField(data, func(f field) error {
		var err error
		switch f.num {
		case attrName:
			name = string(f.b)
		case attrI:
			vals = append(vals, int64(f.u))
		case attrInts:
			vals, err = int64s(vals, f)
		}
		return err
	})
	if vals != nil {
		ints[name] = vals
	}
	return err
}

// parseTensor reads data as a TensorProto.
func parseTensor(data []byte) (tensorProto, error) {
	var t tensorProto
	err := eachField(data, func(f field) error {
		var err error
		switch f.num {
		case tensorDims:
			t.dims, err = int64s(t.dims, f)
		case tensorDataType:
			t.dtype = int64(f.u)
		case tensorName:
			t.name = string(f.b)
		case tensorRawData:
			t.raw = f.b
		case tensorInt32Data:
			t.int32s, err = int64s(t.int32s, f)
		case tensorFloatData:
			t.floats, err = float32s(t.floats, f)
		case tensorLocation:
			t.external = f.u == 1
		}
		return err
	})
	return t, err
}

// float32s appends to dst the values of a repeated float field, packed or not.
func float32s(dst []float32, f field) ([]float32, error) {
	switch f.typ {
	case protowire.Fixed32Type:
		return append(dst, math.Float32frombits(uint32(f.u))), nil
	case protowire.BytesType:
		if len(f.b)%4 != 0 {
			return dst, fmt.Errorf("%w: packed float field of %d bytes", errMalformed, len(f.b))
		}
		for i := 0; i < len(f.b); i += 4 {
			dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(f.b[i:])))
		}
		return dst, nil
	}
	return dst, fmt.Errorf("%w: float field has wire type %d", errMalformed, f.typ)
}

// parseValueInfo reads data as a ValueInfoProto of a tensor type.
func parseValueInfo(data []byte) (valueInfo, error) {
	var v valueInfo
	err := eachField(data, func(f field) error {
		switch f.num {
		case 1:
			v.name = string(f.b)
		case 2: // type: TypeProto, whose field 1 is tensor_type
			return eachField(f.b, func(t field) error {
				if t.num != 1 {
					return nil
				}
				return parseTensorType(t.b, &v)
			})
		}
		return nil
	})
	return v, err
}

// parseTensorType reads data as a TypeProto.Tensor (elem_type 1, shape 2) into v.
func parseTensorType(data []byte, v *valueInfo) error {
	return eachField(data, func(f field) error {
		switch f.num {
		case 1:
			v.elem = int64(f.u)
		case 2: // TensorShapeProto: dim 1, each a Dimension (dim_value 1 | dim_param 2)
			return eachField(f.b, func(d field) error {
				if d.num != 1 {
					return nil
				}
				size := int64(-1)
				err := eachField(d.b, func(x field) error {
					if x.num == 1 && x.typ == protowire.VarintType {
						size = int64(x.u)
					}
					return nil
				})
				v.dims = append(v.dims, size)
				return err
			})
		}
		return nil
	})
}
