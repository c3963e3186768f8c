package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file reads the parts of an ONNX ModelProto (onnx/onnx.proto) that the runtimes need, with
// protowire rather than generated types: onnx-go's generated types drop dim_param, and they and
// package onnx's register the same protobuf names, so neither may be linked here (see doc.go).

// Field numbers of onnx.proto used here.
const (
	ModelGraph    = 7  // ModelProto.graph
	modelMetadata = 14 // ModelProto.metadata_props

	GraphNode        = 1  // GraphProto.node
	GraphInitializer = 5  // GraphProto.initializer
	graphInput       = 11 // GraphProto.input
	graphOutput      = 12 // GraphProto.output

	nodeInput     = 1 // NodeProto.input
	nodeOutput    = 2 // NodeProto.output
	nodeName      = 3 // NodeProto.name
	nodeOpType    = 4 // NodeProto.op_type
	nodeAttribute = 5 // NodeProto.attribute
	nodeDomain    = 7 // NodeProto.domain

	attrName = 1  // AttributeProto.name
	attrF    = 2  // AttributeProto.f
	attrI    = 3  // AttributeProto.i
	attrS    = 4  // AttributeProto.s
	attrInts = 8  // AttributeProto.ints
	attrType = 20 // AttributeProto.type

	// AttributeProto.AttributeType values.
	AttrTypeFloat  = 1
	AttrTypeInt    = 2
	AttrTypeString = 3
	AttrTypeInts   = 7

	TensorDims      = 1  // TensorProto.dims
	TensorDataType  = 2  // TensorProto.data_type
	tensorFloatData = 4  // TensorProto.float_data
	tensorInt32Data = 5  // TensorProto.int32_data (float16 bits may be stored here)
	TensorName      = 8  // TensorProto.name
	TensorRawData   = 9  // TensorProto.raw_data
	tensorLocation  = 14 // TensorProto.data_location (1: external)

	// TensorProto.data_type values.
	DTFloat   = 1
	DTFloat16 = 10
)

// ErrMalformed is wrapped by every error about bytes that are not a valid ModelProto.
var ErrMalformed = errors.New("malformed ONNX model")

// Field is one field of a protobuf message: its number and wire type, its value (U for varint
// and fixed types, B for length-delimited ones) and Raw, the field's whole encoding.
type Field struct {
	Num  protowire.Number
	Type protowire.Type
	U    uint64
	B    []byte
	Raw  []byte
}

// EachField calls fn on every field of msg in order.
func EachField(msg []byte, fn func(f Field) error) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(n))
		}
		f := Field{Num: num, Type: typ}
		m := protowire.ConsumeFieldValue(num, typ, msg[n:])
		if m < 0 {
			return fmt.Errorf("%w: field %d: %v", ErrMalformed, num, protowire.ParseError(m))
		}
		v := msg[n : n+m]
		switch typ {
		case protowire.VarintType:
			f.U, _ = protowire.ConsumeVarint(v)
		case protowire.Fixed32Type:
			u, _ := protowire.ConsumeFixed32(v)
			f.U = uint64(u)
		case protowire.Fixed64Type:
			f.U, _ = protowire.ConsumeFixed64(v)
		case protowire.BytesType:
			f.B, _ = protowire.ConsumeBytes(v)
		}
		f.Raw = msg[:n+m]
		if err := fn(f); err != nil {
			return err
		}
		msg = msg[n+m:]
	}
	return nil
}

// int64s appends to dst the int64 values of a repeated int64 field, packed or not.
func int64s(dst []int64, f Field) ([]int64, error) {
	if f.Type == protowire.VarintType {
		return append(dst, int64(f.U)), nil
	}
	if f.Type != protowire.BytesType {
		return dst, fmt.Errorf("%w: field %d has wire type %d", ErrMalformed, f.Num, f.Type)
	}
	for b := f.B; len(b) > 0; {
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return dst, fmt.Errorf("%w: packed field %d: %v", ErrMalformed, f.Num, protowire.ParseError(n))
		}
		dst = append(dst, int64(v))
		b = b[n:]
	}
	return dst, nil
}

// Model is what the runtimes read of a ModelProto.
type Model struct {
	Metadata map[string]string
	Graph    Graph
}

// Graph is what the runtimes read of a GraphProto.
type Graph struct {
	Nodes   []Node
	Inits   []Tensor
	Inputs  []ValueInfo
	Outputs []ValueInfo
}

// Node is one NodeProto; Ints holds its int and ints attributes by name, Attrs every attribute
// in file order.
type Node struct {
	Name, Op, Domain string
	Inputs, Outputs  []string
	Ints             map[string][]int64
	Attrs            []Attr
}

// Attr is one AttributeProto: its name, type (AttrType*; 0 when the file does not say) and value.
type Attr struct {
	Name string
	Type uint64
	Ints []int64 // the int, or the ints
	F    float32
	S    string
}

// Tensor is one initializer.
type Tensor struct {
	Name      string
	DType     int64
	Dims      []int64
	Raw       []byte
	FloatData []float32
	Int32s    []int64
	External  bool
}

// ValueInfo is a graph input or output: its name, element type and shape; a dimension is -1
// when it is symbolic (dim_param) or unknown.
type ValueInfo struct {
	Name string
	Elem int64
	Dims []int64
}

// ParseModel reads data as a ModelProto.
func ParseModel(data []byte) (*Model, error) {
	m := &Model{Metadata: map[string]string{}}
	err := EachField(data, func(f Field) error {
		switch {
		case f.Num == ModelGraph && f.Type == protowire.BytesType:
			return parseGraph(f.B, &m.Graph)
		case f.Num == modelMetadata && f.Type == protowire.BytesType:
			var k, v string
			err := EachField(f.B, func(e Field) error {
				switch e.Num {
				case 1:
					k = string(e.B)
				case 2:
					v = string(e.B)
				}
				return nil
			})
			m.Metadata[k] = v
			return err
		}
		return nil
	})
	return m, err
}

// parseGraph reads data as a GraphProto into g.
func parseGraph(data []byte, g *Graph) error {
	return EachField(data, func(f Field) error {
		if f.Type != protowire.BytesType {
			return nil
		}
		switch f.Num {
		case GraphNode:
			n, err := ParseNode(f.B)
			g.Nodes = append(g.Nodes, n)
			return err
		case GraphInitializer:
			t, err := ParseTensor(f.B)
			g.Inits = append(g.Inits, t)
			return err
		case graphInput, graphOutput:
			v, err := parseValueInfo(f.B)
			if f.Num == graphInput {
				g.Inputs = append(g.Inputs, v)
			} else {
				g.Outputs = append(g.Outputs, v)
			}
			return err
		}
		return nil
	})
}

// ParseNode reads data as a NodeProto.
func ParseNode(data []byte) (Node, error) {
	n := Node{Ints: map[string][]int64{}}
	err := EachField(data, func(f Field) error {
		switch f.Num {
		case nodeInput:
			n.Inputs = append(n.Inputs, string(f.B))
		case nodeOutput:
			n.Outputs = append(n.Outputs, string(f.B))
		case nodeName:
			n.Name = string(f.B)
		case nodeOpType:
			n.Op = string(f.B)
		case nodeDomain:
			n.Domain = string(f.B)
		case nodeAttribute:
			a, err := parseAttribute(f.B, n.Ints)
			n.Attrs = append(n.Attrs, a)
			return err
		}
		return nil
	})
	return n, err
}

// parseAttribute reads data as an AttributeProto, records its int or ints value in ints and
// returns it. An INT attribute of value 0 has no field i in a proto3 encoding (gonnx's, which
// package onnx writes with), so its type (field 20, INT = 2) says that it is there; likewise a
// FLOAT of 0.
func parseAttribute(data []byte, ints map[string][]int64) (Attr, error) {
	var a Attr
	var vals []int64
	err := EachField(data, func(f Field) error {
		var err error
		switch f.Num {
		case attrName:
			a.Name = string(f.B)
		case attrF:
			if f.Type != protowire.Fixed32Type {
				return fmt.Errorf("%w: attribute f of wire type %d", ErrMalformed, f.Type)
			}
			a.F = math.Float32frombits(uint32(f.U))
			if a.Type == 0 {
				a.Type = AttrTypeFloat
			}
		case attrI:
			vals = append(vals, int64(f.U))
		case attrS:
			a.S = string(f.B)
		case attrInts:
			vals, err = int64s(vals, f)
		case attrType:
			a.Type = f.U
		}
		return err
	})
	if vals == nil && a.Type == AttrTypeInt {
		vals = []int64{0}
	}
	if vals != nil {
		ints[a.Name] = vals
	}
	a.Ints = vals
	return a, err
}

// ParseTensor reads data as a TensorProto.
func ParseTensor(data []byte) (Tensor, error) {
	var t Tensor
	err := EachField(data, func(f Field) error {
		var err error
		switch f.Num {
		case TensorDims:
			t.Dims, err = int64s(t.Dims, f)
		case TensorDataType:
			t.DType = int64(f.U)
		case TensorName:
			t.Name = string(f.B)
		case TensorRawData:
			t.Raw = f.B
		case tensorInt32Data:
			t.Int32s, err = int64s(t.Int32s, f)
		case tensorFloatData:
			t.FloatData, err = float32s(t.FloatData, f)
		case tensorLocation:
			t.External = f.U == 1
		}
		return err
	})
	return t, err
}

// float32s appends to dst the values of a repeated float field, packed or not.
func float32s(dst []float32, f Field) ([]float32, error) {
	switch f.Type {
	case protowire.Fixed32Type:
		return append(dst, math.Float32frombits(uint32(f.U))), nil
	case protowire.BytesType:
		if len(f.B)%4 != 0 {
			return dst, fmt.Errorf("%w: packed float Field of %d bytes", ErrMalformed, len(f.B))
		}
		for i := 0; i < len(f.B); i += 4 {
			dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(f.B[i:])))
		}
		return dst, nil
	}
	return dst, fmt.Errorf("%w: float Field has wire type %d", ErrMalformed, f.Type)
}

// parseValueInfo reads data as a ValueInfoProto of a tensor type.
func parseValueInfo(data []byte) (ValueInfo, error) {
	var v ValueInfo
	err := EachField(data, func(f Field) error {
		switch f.Num {
		case 1:
			v.Name = string(f.B)
		case 2: // type: TypeProto, whose field 1 is tensor_type
			return EachField(f.B, func(t Field) error {
				if t.Num != 1 {
					return nil
				}
				return parseTensorType(t.B, &v)
			})
		}
		return nil
	})
	return v, err
}

// parseTensorType reads data as a TypeProto.Tensor (elem_type 1, shape 2) into v.
func parseTensorType(data []byte, v *ValueInfo) error {
	return EachField(data, func(f Field) error {
		switch f.Num {
		case 1:
			v.Elem = int64(f.U)
		case 2: // TensorShapeProto: dim 1, each a Dimension (dim_value 1 | dim_param 2)
			return EachField(f.B, func(d Field) error {
				if d.Num != 1 {
					return nil
				}
				size := int64(-1)
				err := EachField(d.B, func(x Field) error {
					if x.Num == 1 && x.Type == protowire.VarintType {
						size = int64(x.U)
					}
					return nil
				})
				v.Dims = append(v.Dims, size)
				return err
			})
		}
		return nil
	})
}
