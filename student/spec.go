package student

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// Spec describes a student network: the per-sample input shape, the number of classes and the layers
// in order. It is read from JSON (see models/mnist-student.json):
//
//	{"name": "mnist-student", "input": [784], "classes": 10,
//	 "layers": [{"type": "dense", "units": 800}, {"type": "relu"}, ...]}
//
// The last layer must produce exactly Classes values per sample (the logits).
type Spec struct {
	// Name labels the network in logs and checkpoints; it may be empty.
	Name string `json:"name,omitempty"`
	// Input is the shape of one sample: [features] for dense nets or [channels, height, width] for
	// convolutional ones.
	Input []int `json:"input"`
	// Classes is the number of logits the network produces per sample.
	Classes int `json:"classes"`
	// Layers are applied in order.
	Layers []LayerSpec `json:"layers"`
}

// LayerSpec is one layer of a Spec. Which fields apply depends on Type:
//
//	dense:   Units (> 0)
//	relu:    none
//	dropout: P in [0, 1)
//	conv2d:  Filters (> 0), Kernel (> 0), Stride (default 1), Pad (default 0)
//	maxpool: Kernel (> 0), Stride (default Kernel)
//	flatten: none
type LayerSpec struct {
	// Type is one of dense, relu, dropout, conv2d, maxpool, flatten.
	Type string `json:"type"`
	// Units is the output width of a dense layer.
	Units int `json:"units,omitempty"`
	// P is the drop probability of a dropout layer.
	P float64 `json:"p,omitempty"`
	// Filters is the number of output channels of a conv2d layer.
	Filters int `json:"filters,omitempty"`
	// Kernel is the square kernel size of a conv2d or maxpool layer.
	Kernel int `json:"kernel,omitempty"`
	// Stride is the step of a conv2d (default 1) or maxpool (default Kernel) layer.
	Stride int `json:"stride,omitempty"`
	// Pad is the zero padding on each side of a conv2d layer (default 0).
	Pad int `json:"pad,omitempty"`
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

// layerShape is the per-sample shape flowing between layers: len 1 for vectors, len 3 for [c,h,w].
type layerShape []int

func (s layerShape) size() int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// Validate checks the spec and the shapes flowing through it. Errors name the layer index, its type
// and the offending field, e.g. `layer 2 (conv2d): field "kernel": must be > 0, got 0`.
func (s *Spec) Validate() error {
	_, err := s.shapes()
	return err
}

// shapes returns the per-sample output shape of every layer (index i is the output of layer i).
func (s *Spec) shapes() ([]layerShape, error) {
	if err := s.checkTop(); err != nil {
		return nil, err
	}
	cur := append(layerShape(nil), s.Input...)
	out := make([]layerShape, len(s.Layers))
	for i, l := range s.Layers {
		var err error
		if cur, err = (layerCheck{i, l}).output(cur); err != nil {
			return nil, err
		}
		out[i] = append(layerShape(nil), cur...)
	}
	trainable := false
	for _, l := range s.Layers {
		trainable = trainable || l.Type == "dense" || l.Type == "conv2d"
	}
	if !trainable {
		return nil, fmt.Errorf("field \"layers\": no trainable layer (dense or conv2d)")
	}
	if len(cur) != 1 || cur[0] != s.Classes {
		last := len(s.Layers) - 1
		return nil, fmt.Errorf("layer %d (%s): output shape %v does not match field \"classes\" = %d", last, s.Layers[last].Type, []int(cur), s.Classes)
	}
	return out, nil
}

// checkTop checks the fields of the spec itself: the input shape, the class count and that
// there are layers.
func (s *Spec) checkTop() error {
	if len(s.Input) != 1 && len(s.Input) != 3 {
		return fmt.Errorf("field \"input\": want [features] or [channels, height, width], got %v", s.Input)
	}
	for _, d := range s.Input {
		if d <= 0 {
			return fmt.Errorf("field \"input\": dimensions must be > 0, got %v", s.Input)
		}
	}
	if s.Classes < 1 {
		return fmt.Errorf("field \"classes\": must be > 0, got %d", s.Classes)
	}
	if len(s.Layers) == 0 {
		return fmt.Errorf("field \"layers\": no layers")
	}
	return nil
}

// layerCheck validates layer l, index i of its spec.
type layerCheck struct {
	i int
	l LayerSpec
}

// bad returns an error about one field of the layer.
func (c layerCheck) bad(field, format string, args ...any) error {
	return fmt.Errorf("layer %d (%s): field %q: %s", c.i, c.l.Type, field, fmt.Sprintf(format, args...))
}

// unused reports the first of fields that is set although it has no meaning for this layer type.
func (c layerCheck) unused(fields ...string) error {
	l := c.l
	for _, f := range fields {
		var set bool
		switch f {
		case "units":
			set = l.Units != 0
		case "p":
			set = l.P != 0
		case "filters":
			set = l.Filters != 0
		case "kernel":
			set = l.Kernel != 0
		case "stride":
			set = l.Stride != 0
		case "pad":
			set = l.Pad != 0
		}
		if set {
			return c.bad(f, "not used by a %s layer", l.Type)
		}
	}
	return nil
}

// output checks the layer's fields against its per-sample input shape in and returns its
// per-sample output shape.
func (c layerCheck) output(in layerShape) (layerShape, error) {
	l := c.l
	switch l.Type {
	case "dense":
		return c.dense(in)
	case "relu", "flatten":
		if err := c.unused("units", "p", "filters", "kernel", "stride", "pad"); err != nil {
			return nil, err
		}
		if l.Type == "flatten" {
			return layerShape{in.size()}, nil
		}
		return in, nil
	case "dropout":
		if l.P < 0 || l.P >= 1 || l.P != l.P {
			return nil, c.bad("p", "must be in [0, 1), got %v", l.P)
		}
		if err := c.unused("units", "filters", "kernel", "stride", "pad"); err != nil {
			return nil, err
		}
		return in, nil
	case "conv2d":
		return c.conv2d(in)
	case "maxpool":
		return c.maxpool(in)
	case "":
		return nil, c.bad("type", "missing")
	default:
		return nil, c.bad("type", "unknown layer type %q (want dense, relu, dropout, conv2d, maxpool or flatten)", l.Type)
	}
}

func (c layerCheck) dense(in layerShape) (layerShape, error) {
	if c.l.Units <= 0 {
		return nil, c.bad("units", "must be > 0, got %d", c.l.Units)
	}
	if err := c.unused("p", "filters", "kernel", "stride", "pad"); err != nil {
		return nil, err
	}
	if len(in) != 1 {
		return nil, c.bad("type", "input has shape %v; add a flatten layer before dense", []int(in))
	}
	return layerShape{c.l.Units}, nil
}

func (c layerCheck) conv2d(in layerShape) (layerShape, error) {
	l := c.l
	if l.Filters <= 0 {
		return nil, c.bad("filters", "must be > 0, got %d", l.Filters)
	}
	if l.Kernel <= 0 {
		return nil, c.bad("kernel", "must be > 0, got %d", l.Kernel)
	}
	if l.Stride < 0 {
		return nil, c.bad("stride", "must be >= 0 (0 means 1), got %d", l.Stride)
	}
	if l.Pad < 0 {
		return nil, c.bad("pad", "must be >= 0, got %d", l.Pad)
	}
	if err := c.unused("units", "p"); err != nil {
		return nil, err
	}
	if len(in) != 3 {
		return nil, c.bad("type", "needs a [channels, height, width] input, got %v", []int(in))
	}
	st := l.stride(1)
	h := (in[1]+2*l.Pad-l.Kernel)/st + 1
	w := (in[2]+2*l.Pad-l.Kernel)/st + 1
	if in[1]+2*l.Pad < l.Kernel || in[2]+2*l.Pad < l.Kernel || h <= 0 || w <= 0 {
		return nil, c.bad("kernel", "kernel %d larger than padded input %dx%d", l.Kernel, in[1]+2*l.Pad, in[2]+2*l.Pad)
	}
	return layerShape{l.Filters, h, w}, nil
}

func (c layerCheck) maxpool(in layerShape) (layerShape, error) {
	l := c.l
	if l.Kernel <= 0 {
		return nil, c.bad("kernel", "must be > 0, got %d", l.Kernel)
	}
	if l.Stride < 0 {
		return nil, c.bad("stride", "must be >= 0 (0 means kernel), got %d", l.Stride)
	}
	if err := c.unused("units", "p", "filters", "pad"); err != nil {
		return nil, err
	}
	if len(in) != 3 {
		return nil, c.bad("type", "needs a [channels, height, width] input, got %v", []int(in))
	}
	if in[1] < l.Kernel || in[2] < l.Kernel {
		return nil, c.bad("kernel", "kernel %d larger than input %dx%d", l.Kernel, in[1], in[2])
	}
	st := l.stride(l.Kernel)
	return layerShape{in[0], (in[1]-l.Kernel)/st + 1, (in[2]-l.Kernel)/st + 1}, nil
}

// stride returns the layer's stride, or def when it is unset (0).
func (l LayerSpec) stride(def int) int {
	if l.Stride == 0 {
		return def
	}
	return l.Stride
}

// Clone returns a deep copy of the spec.
func (s *Spec) Clone() *Spec {
	c := *s
	c.Input = append([]int(nil), s.Input...)
	c.Layers = append([]LayerSpec(nil), s.Layers...)
	return &c
}
