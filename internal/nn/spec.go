package nn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
)

// Spec describes a network: the per-sample input shape, the number of classes and its layers. It
// is read from JSON (see models/mnist-student.json):
//
//	{"name": "mnist-student", "input": [784], "classes": 10,
//	 "layers": [{"type": "dense", "units": 800}, {"type": "relu"}, ...]}
//
// A layer reads the previous layer's output unless it lists "inputs"; the last layer must produce
// exactly Classes values per sample (the logits).
type Spec struct {
	// Name labels the network in logs and checkpoints; it may be empty.
	Name string `json:"name,omitempty"`
	// Input is the shape of one sample: [features] for dense nets or [channels, height, width] for
	// convolutional ones.
	Input []int `json:"input"`
	// Classes is the number of logits the network produces per sample.
	Classes int `json:"classes"`
	// Layers are the network's layers, each after every layer it reads.
	Layers []Layer `json:"layers"`
}

// InputName is the name by which a layer's "inputs" refer to the sample.
const InputName = "input"

// Layer is one layer of a Spec. Type selects its operator (see Operators for the list and each
// operator's doc for the fields it reads); a field the operator does not read must be left unset.
type Layer struct {
	// Type is the operator: dense, relu, conv2d, batchnorm, add, ... (Operators lists them).
	Type string `json:"type"`
	// Name lets later layers read this one's output; it may be empty for a layer only the next
	// one reads.
	Name string `json:"name,omitempty"`
	// Inputs names the layers whose outputs this one reads ("input" is the sample). Empty means
	// the previous layer's output (the sample, for the first layer).
	Inputs []string `json:"inputs,omitempty"`
	// Units is the output width of a dense layer.
	Units int `json:"units,omitempty"`
	// P is the drop probability of a dropout layer.
	P float64 `json:"p,omitempty"`
	// Filters is the number of output channels of a conv2d layer.
	Filters int `json:"filters,omitempty"`
	// Kernel is the square window of a conv2d or pooling layer.
	Kernel int `json:"kernel,omitempty"`
	// Stride is the step of a conv2d (default 1) or pooling (default Kernel) layer.
	Stride int `json:"stride,omitempty"`
	// Pad is the zero padding on each side of a conv2d or pooling layer (default 0), or "same".
	Pad Pad `json:"pad,omitempty"`
	// Bias says whether a dense or conv2d layer adds a bias (default true; false, as PyTorch's
	// bias=False, for a layer a batchnorm follows).
	Bias *bool `json:"bias,omitempty"`
	// Groups splits a conv2d's channels into groups (default 1; the input channels: depthwise).
	Groups int `json:"groups,omitempty"`
	// Momentum is batchnorm's running-statistics momentum (default 0.1, PyTorch's meaning:
	// running = (1 - momentum)·running + momentum·batch).
	Momentum float64 `json:"momentum,omitempty"`
	// Eps is batchnorm's variance offset (default 1e-5).
	Eps float64 `json:"eps,omitempty"`
	// Slope is leakyrelu's slope for negative inputs (default 0.01).
	Slope float64 `json:"slope,omitempty"`
}

// Pad is a padding in a spec: a number of pixels, or PadSame, written "same" in JSON.
type Pad int

// PadSame pads an odd kernel k by k/2 on every side, so that a stride-1 window keeps the input's
// height and width (PyTorch's padding=k//2, and its padding="same" at stride 1).
const PadSame Pad = math.MinInt32

// MarshalJSON writes PadSame as "same" and any other pad as its number.
func (p Pad) MarshalJSON() ([]byte, error) {
	if p == PadSame {
		return []byte(`"same"`), nil
	}
	return []byte(strconv.Itoa(int(p))), nil
}

// UnmarshalJSON reads a number or "same".
func (p *Pad) UnmarshalJSON(b []byte) error {
	if string(b) == `"same"` {
		*p = PadSame
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil || n <= math.MinInt32 || n > math.MaxInt32 {
		return fmt.Errorf(`field "pad": want a whole number of pixels or "same", got %s`, b)
	}
	*p = Pad(n)
	return nil
}

// String returns "same" or the number.
func (p Pad) String() string {
	if p == PadSame {
		return "same"
	}
	return strconv.Itoa(int(p))
}

// LoadSpec reads and validates a JSON spec file.
func LoadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read spec %s: %w", path, err)
	}
	return ParseSpec(data, path)
}

// ParseSpec decodes and validates a JSON spec; name (usually the file name) labels errors. Unknown
// fields are errors, so a misspelt "unit" does not silently become 0.
func ParseSpec(data []byte, name string) (*Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("read spec %s: %w", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("read spec %s: trailing data after the JSON object", name)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("read spec %s: %w", name, err)
	}
	return &s, nil
}

// Validate checks the spec: its fields, the graph of its layers and the shapes flowing through
// it. Errors name the layer and the offending field, e.g.
// `layer 2 (conv2d): field "kernel": must be > 0, got 0`.
func (s *Spec) Validate() error {
	_, err := s.Graph()
	return err
}

// Clone returns a deep copy of the spec.
func (s *Spec) Clone() *Spec {
	c := *s
	c.Input = slices.Clone(s.Input)
	c.Layers = slices.Clone(s.Layers)
	for i := range c.Layers {
		c.Layers[i].Inputs = slices.Clone(s.Layers[i].Inputs)
		if b := s.Layers[i].Bias; b != nil {
			v := *b
			c.Layers[i].Bias = &v
		}
	}
	return &c
}

// label names layer i in messages: `layer 3 (add)`, or `layer 3 "b1" (add)` when it has a name.
func (s *Spec) label(i int) string {
	l := s.Layers[i]
	if l.Name != "" {
		return fmt.Sprintf("layer %d %q (%s)", i, l.Name, l.Type)
	}
	return fmt.Sprintf("layer %d (%s)", i, l.Type)
}
