package student

import "github.com/distillgo/distill/internal/nn"

// Spec describes a student network: the per-sample input shape, the number of classes and its
// layers, a graph of operators (see internal/nn, and docs/guide/training.md, "Student specs", for each operator's
// fields). It is read from JSON (see models/mnist-student.json):
//
//	{"name": "mnist-student", "input": [784], "classes": 10,
//	 "layers": [{"type": "dense", "units": 800}, {"type": "relu"}, ...]}
//
// A layer reads the previous layer's output unless it names its "inputs"; the last layer must
// produce exactly Classes values per sample (the logits).
type Spec = nn.Spec

// LayerSpec is one layer of a Spec: its type (the operator), optional name and inputs, and the
// operator's fields.
type LayerSpec = nn.Layer

// Pad is a conv2d or pooling padding: pixels, or PadSame ("same" in JSON).
type Pad = nn.Pad

// PadSame pads an odd kernel k by k/2 on every side.
const PadSame = nn.PadSame

// LoadSpec reads and validates a JSON spec file.
func LoadSpec(path string) (*Spec, error) { return nn.LoadSpec(path) }

// ParseSpec decodes and validates a JSON spec; name (usually the file name) labels errors. Unknown
// fields are errors, so a misspelt "unit" does not silently become 0.
func ParseSpec(data []byte, name string) (*Spec, error) { return nn.ParseSpec(data, name) }
