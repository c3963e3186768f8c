package onnx

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/distillgo/distill/internal/filekind"
)

// ModelInfo describes an ONNX model as read from its protobuf, without onnxruntime.
type ModelInfo struct {
	Inputs, Outputs []ValueInfo       // graph inputs (initializers excluded) and outputs, in order
	Opset           int64             // opset of the default ("" or "ai.onnx") domain, 0 if not imported
	Producer        string            // producer_name
	ProducerVersion string            // producer_version
	IRVersion       int64             // ir_version
	Metadata        map[string]string // metadata_props by key (empty, not nil, when the model has none)
	SHA256          string            // hex sha256 of the file's bytes
}

// ValueInfo describes one graph input or output.
type ValueInfo struct {
	Name     string   // the input or output name, as onnxruntime is given it
	ElemType string   // "float32", "float16", "int64", ...; "sequence", "map", ... for non-tensors; "" if unknown
	Shape    []int64  // -1 for dynamic or unknown axes; nil when the model gives no shape
	DimNames []string // the dim_param of each axis ("" for fixed axes), same length as Shape
	// Type is the whole type: ElemType for a tensor; for other values the type with its parts,
	// e.g. "seq(map(int64,float32))" for the probabilities of a scikit-learn classifier (a
	// ZipMap), "map(string,float32)", "optional(float32)"; "" if unknown.
	Type string
}

// ErrNotONNX is returned (wrapped) when a file does not parse as an ONNX model.
var ErrNotONNX = errors.New("not an ONNX model")

// ErrLFSPointer is returned (wrapped, together with ErrNotONNX) when a model file is a Git LFS
// pointer: the small text file that a checkout holds in place of a file kept in Git LFS until
// `git lfs pull` fetches it.
var ErrLFSPointer = errors.New("the file is a Git LFS pointer, not the model itself (fetch it with git lfs pull)")

// notONNX is a file of another kind that distill reads (filekind), which says so itself; it is
// ErrNotONNX for errors.Is.
type notONNX struct{ err error }

func (e notONNX) Error() string        { return e.err.Error() }
func (e notONNX) Unwrap() error        { return e.err }
func (e notONNX) Is(target error) bool { return target == ErrNotONNX }

// lfsPointerPrefix starts every Git LFS pointer file (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md).
const lfsPointerPrefix = "version https://git-lfs.github.com/spec/v1"

// checkNotLFSPointer returns an error wrapping ErrNotONNX and ErrLFSPointer when data is a Git LFS
// pointer. A pointer is under 200 bytes of text; 1024 leaves room for extension lines.
func checkNotLFSPointer(data []byte) error {
	if len(data) < 1024 && bytes.HasPrefix(data, []byte(lfsPointerPrefix)) {
		return fmt.Errorf("%w: %w", ErrNotONNX, ErrLFSPointer)
	}
	return nil
}

// ReadModelInfo reads the ONNX model at path and describes its inputs, outputs, opset, producer
// and metadata. Errors name the file; a file that is not a model wraps ErrNotONNX, and a Git LFS
// pointer also ErrLFSPointer.
func ReadModelInfo(path string) (*ModelInfo, error) {
	_, info, err := readModel(path)
	return info, err
}

// readModel does the work of ReadModelInfo and also returns the file's bytes.
func readModel(path string) ([]byte, *ModelInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read onnx model %s: %w", path, err)
	}
	info, err := parseModelInfo(data)
	if err != nil {
		if kerr := filekind.MismatchBytes(path, data, filekind.ONNX); kerr != nil {
			return nil, nil, fmt.Errorf("read onnx model: %w", notONNX{kerr})
		}
		return nil, nil, fmt.Errorf("read onnx model %s: %w", path, err)
	}
	return data, info, nil
}

// parseModelInfo does the work of ReadModelInfo on the file's bytes.
func parseModelInfo(data []byte) (*ModelInfo, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty file", ErrNotONNX)
	}
	if err := checkNotLFSPointer(data); err != nil {
		return nil, err
	}
	var m pb.ModelProto
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotONNX, err)
	}
	// Protobuf decodes many byte strings without error; a model must at least say its IR
	// version and have a graph with an output.
	if m.IrVersion <= 0 || m.Graph == nil || len(m.Graph.Output) == 0 {
		return nil, fmt.Errorf("%w: no ir_version or graph outputs", ErrNotONNX)
	}
	sum := sha256.Sum256(data)
	info := &ModelInfo{
		Producer:        m.ProducerName,
		ProducerVersion: m.ProducerVersion,
		IRVersion:       m.IrVersion,
		Metadata:        map[string]string{},
		SHA256:          hex.EncodeToString(sum[:]),
	}
	for _, op := range m.OpsetImport {
		if op.GetDomain() == "" || op.GetDomain() == "ai.onnx" {
			info.Opset = op.GetVersion()
		}
	}
	for _, kv := range m.MetadataProps {
		info.Metadata[kv.GetKey()] = kv.GetValue()
	}
	if err := checkModelChecksum(data, info.Metadata); err != nil {
		return nil, err
	}
	inits := map[string]bool{}
	for _, t := range m.Graph.Initializer {
		inits[t.GetName()] = true
	}
	for _, t := range m.Graph.SparseInitializer {
		inits[t.GetValues().GetName()] = true
	}
	for _, vi := range m.Graph.Input {
		if !inits[vi.GetName()] {
			info.Inputs = append(info.Inputs, readValueInfo(vi))
		}
	}
	for _, vi := range m.Graph.Output {
		info.Outputs = append(info.Outputs, readValueInfo(vi))
	}
	return info, nil
}

func readValueInfo(vi *pb.ValueInfoProto) ValueInfo {
	v := ValueInfo{Name: vi.GetName(), Type: typeName(vi.GetType())}
	t := vi.GetType()
	switch {
	case t == nil:
	case t.GetTensorType() != nil:
		tt := t.GetTensorType()
		v.ElemType = ElemTypeName(tt.GetElemType())
		if sh := tt.GetShape(); sh != nil {
			v.Shape = make([]int64, len(sh.GetDim()))
			v.DimNames = make([]string, len(sh.GetDim()))
			for i, d := range sh.GetDim() {
				v.Shape[i] = -1
				switch d.GetValue().(type) {
				case *pb.TensorShapeProto_Dimension_DimValue:
					if d.GetDimValue() > 0 {
						v.Shape[i] = d.GetDimValue()
					}
				case *pb.TensorShapeProto_Dimension_DimParam:
					v.DimNames[i] = d.GetDimParam()
				}
			}
		}
	case t.GetSequenceType() != nil:
		v.ElemType = "sequence"
	case t.GetMapType() != nil:
		v.ElemType = "map"
	case t.GetOptionalType() != nil:
		v.ElemType = "optional"
	case t.GetSparseTensorType() != nil:
		v.ElemType = "sparse_tensor"
	}
	return v
}

// typeName returns the whole type t in the notation of ValueInfo.Type.
func typeName(t *pb.TypeProto) string {
	switch {
	case t == nil:
		return ""
	case t.GetTensorType() != nil:
		return ElemTypeName(t.GetTensorType().GetElemType())
	case t.GetSequenceType() != nil:
		return "seq(" + typeName(t.GetSequenceType().GetElemType()) + ")"
	case t.GetMapType() != nil:
		m := t.GetMapType()
		return "map(" + ElemTypeName(m.GetKeyType()) + "," + typeName(m.GetValueType()) + ")"
	case t.GetOptionalType() != nil:
		return "optional(" + typeName(t.GetOptionalType().GetElemType()) + ")"
	case t.GetSparseTensorType() != nil:
		return "sparse_tensor(" + ElemTypeName(t.GetSparseTensorType().GetElemType()) + ")"
	}
	return ""
}

// infoElemNames maps ONNX TensorProto.DataType values to Go-style names.
var infoElemNames = map[pb.TensorProto_DataType]string{
	pb.TensorProto_FLOAT:      "float32",
	pb.TensorProto_DOUBLE:     "float64",
	pb.TensorProto_FLOAT16:    "float16",
	pb.TensorProto_BFLOAT16:   "bfloat16",
	pb.TensorProto_INT8:       "int8",
	pb.TensorProto_INT16:      "int16",
	pb.TensorProto_INT32:      "int32",
	pb.TensorProto_INT64:      "int64",
	pb.TensorProto_UINT8:      "uint8",
	pb.TensorProto_UINT16:     "uint16",
	pb.TensorProto_UINT32:     "uint32",
	pb.TensorProto_UINT64:     "uint64",
	pb.TensorProto_BOOL:       "bool",
	pb.TensorProto_STRING:     "string",
	pb.TensorProto_COMPLEX64:  "complex64",
	pb.TensorProto_COMPLEX128: "complex128",
}

// ElemTypeName returns the name ReadModelInfo uses for an ONNX TensorProto.DataType value
// ("float32" for FLOAT, "int64" for INT64, ...), the lower-cased ONNX name for other known
// values, and "type(<n>)" for unknown ones.
func ElemTypeName(t int32) string {
	if s, ok := infoElemNames[pb.TensorProto_DataType(t)]; ok {
		return s
	}
	if s, ok := pb.TensorProto_DataType_name[t]; ok {
		return strings.ToLower(s)
	}
	return fmt.Sprintf("type(%d)", t)
}
