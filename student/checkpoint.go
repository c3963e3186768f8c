package student

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/distillgo/distill/internal/filekind"
	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/internal/nn"
	"github.com/distillgo/distill/internal/safetensors"
)

// CheckpointFormat is the value of the "format" metadata key of every checkpoint.
const CheckpointFormat = meta.CheckpointFormat

// Metadata keys of a checkpoint file, besides the safetensors checksums.
const (
	ckFormat    = meta.FormatKey    // CheckpointFormat
	ckSpec      = "spec"            // the Spec as JSON
	ckEpoch     = "epoch"           // decimal
	ckRNG       = "rng"             // standard base64
	ckOptimizer = "optimizer"       // optimiser name
	ckHyper     = "optimizer_hyper" // JSON object of hyper-parameters
	ckMetaPre   = "meta."           // prefix of Checkpoint.Meta entries
	ckOptimPre  = "optim."          // prefix of optimiser state tensor names
)

// ErrSpecMismatch is wrapped by errors that report a checkpoint or parameter set made for another
// spec than the one at hand.
var ErrSpecMismatch = errors.New("spec mismatch")

// Checkpoint is everything needed to evaluate a student or resume its training exactly. On disk it
// is a safetensors file (see internal/safetensors: atomic writes, sha256 of header and data):
//
//   - each parameter as an F32 tensor under its Param name ("layers.<i>.weight", shaped as the
//     Param);
//   - each optimiser state entry as an F32 tensor named "optim.<key>" (shaped as its parameter
//     where it has one value per parameter element, e.g. "optim.layers.0.weight.exp_avg");
//   - in "__metadata__": "format" = CheckpointFormat, "spec" (JSON), "epoch", "rng" (base64),
//     "optimizer" and "optimizer_hyper" (JSON), and each Meta entry under "meta.<key>".
type Checkpoint struct {
	// Spec is the student's architecture; required.
	Spec *Spec
	// Params holds every parameter of Spec by name, flattened row-major; required.
	Params map[string][]float32
	// Aux holds tensors trained with the student that are not part of its network (the
	// projections of hints, see Hint), each named with AuxPrefix; saved under their names, they
	// let a resumed run continue them. Their values are copied; Grad is not saved.
	Aux []*Param
	// Optimizer is the optimiser's State (nil or empty when there is none, e.g. a final model);
	// it may hold state of the Aux tensors.
	Optimizer map[string][]float32
	// OptimizerName and OptimizerHyper identify the optimiser (Optimizer.Name and Hyper), so a
	// resumed run can rebuild it with NewOptimizer.
	OptimizerName  string
	OptimizerHyper map[string]float64
	// Epoch is the number of epochs completed.
	Epoch int
	// RNG is the serialised state of the training random generator (opaque here).
	RNG []byte
	// Meta holds the caller's string entries (preprocessing, provenance, ...), opaque to student.
	Meta map[string]string
	// Path is the file a checkpoint was loaded from; it is not saved.
	Path string
}

// AuxPrefix starts the name of every auxiliary tensor of a checkpoint (Checkpoint.Aux).
const AuxPrefix = "aux."

// ParamShape names one tensor of a spec and its shape.
type ParamShape struct {
	Name   string // "layers.<i>.weight", as Param.Name
	Shape  []int  // as Param.Shape
	Buffer bool   // a buffer (running statistics), not a trainable parameter
}

// Size is the number of elements, the product of Shape.
func (p ParamShape) Size() int {
	n := 1
	for _, d := range p.Shape {
		n *= d
	}
	return n
}

// SpecParams lists the tensors a Net built from spec has, parameters and buffers, in the order
// of Net.Tensors: layer by layer, each layer's in its operator's order (for a dense layer i
// "layers.<i>.weight" [in, units] and "layers.<i>.bias" [units]; for a conv2d layer
// [filters, inChannels/groups, kernel, kernel] and [filters]; for batchnorm weight, bias,
// running_mean and running_var [channels]).
func SpecParams(spec *Spec) ([]ParamShape, error) {
	g, err := spec.Graph()
	if err != nil {
		return nil, err
	}
	var out []ParamShape
	for _, t := range g.Params() {
		out = append(out, ParamShape{Name: t.Name, Shape: t.Spec.Shape, Buffer: t.Spec.Buffer})
	}
	return out, nil
}

// DescribeSpec renders a spec in one line for messages, e.g.
// "mnist-student (input [784]: dense 800, relu, dense 800, relu, dense 10)".
func DescribeSpec(s *Spec) string { return nn.Describe(s) }

// SameArchitecture reports whether a and b describe the same network: equal input shape, classes
// and layers (the same operators reading the same layers, with unset fields read as their
// defaults). The names are not compared.
func SameArchitecture(a, b *Spec) bool { return nn.SameArchitecture(a, b) }

// SaveCheckpoint writes c to path atomically (a temporary file in the same directory, fsynced and
// renamed), so path always holds either the previous checkpoint or this one. It first checks that
// c.Params holds exactly the parameters of c.Spec with the right sizes.
func SaveCheckpoint(path string, c *Checkpoint) error {
	wrap := func(err error) error { return fmt.Errorf("save checkpoint %s: %w", path, err) }
	if c == nil || c.Spec == nil {
		return wrap(errors.New("no spec"))
	}
	params, err := SpecParams(c.Spec)
	if err != nil {
		return wrap(fmt.Errorf("spec: %w", err))
	}
	if err := checkParamSet(c.Params, params); err != nil {
		return wrap(err)
	}
	if c.Epoch < 0 {
		return wrap(fmt.Errorf("negative epoch %d", c.Epoch))
	}
	specJSON, err := json.Marshal(c.Spec)
	if err != nil {
		return wrap(err)
	}
	meta := map[string]string{
		ckFormat: CheckpointFormat,
		ckSpec:   string(specJSON),
		ckEpoch:  strconv.Itoa(c.Epoch),
		ckRNG:    base64.StdEncoding.EncodeToString(c.RNG),
	}
	if c.OptimizerName != "" {
		meta[ckOptimizer] = c.OptimizerName
	}
	if c.OptimizerHyper != nil {
		h, err := json.Marshal(c.OptimizerHyper)
		if err != nil {
			return wrap(fmt.Errorf("optimizer hyper-parameters: %w", err))
		}
		meta[ckHyper] = string(h)
	}
	for k, v := range c.Meta {
		meta[ckMetaPre+k] = v
	}

	shapeOf := make(map[string][]int, len(params))
	var infos []safetensors.TensorInfo
	var data [][]float32
	for _, p := range params {
		shapeOf[p.Name] = p.Shape
		infos = append(infos, safetensors.TensorInfo{Name: p.Name, DType: "F32", Shape: p.Shape})
		data = append(data, c.Params[p.Name])
	}
	for _, a := range c.Aux {
		if !strings.HasPrefix(a.Name, AuxPrefix) || (ParamShape{Shape: a.Shape}).Size() != len(a.Value) {
			return wrap(fmt.Errorf("auxiliary tensor %q %v: want a name starting %q and as many values as its shape", a.Name, a.Shape, AuxPrefix))
		}
		if _, dup := shapeOf[a.Name]; dup {
			return wrap(fmt.Errorf("auxiliary tensor %q given twice", a.Name))
		}
		shapeOf[a.Name] = a.Shape
		infos = append(infos, safetensors.TensorInfo{Name: a.Name, DType: "F32", Shape: a.Shape})
		data = append(data, a.Value)
	}
	for _, key := range slices.Sorted(maps.Keys(c.Optimizer)) {
		v := c.Optimizer[key]
		shape := []int{len(v)}
		if dot := strings.LastIndexByte(key, '.'); dot > 0 {
			if s, ok := shapeOf[key[:dot]]; ok && (ParamShape{Shape: s}).Size() == len(v) {
				shape = s
			}
		}
		infos = append(infos, safetensors.TensorInfo{Name: ckOptimPre + key, DType: "F32", Shape: shape})
		data = append(data, v)
	}

	w, err := safetensors.Create(path, infos, meta)
	if err != nil {
		return wrap(err)
	}
	defer w.Abort()
	for i, info := range infos {
		raw, err := safetensors.EncodeFloat32(data[i], "F32")
		if err != nil {
			return wrap(err)
		}
		if err := w.WriteAt(info.Name, 0, raw); err != nil {
			return wrap(err)
		}
	}
	if err := w.Commit(); err != nil {
		return wrap(err)
	}
	return nil
}

// checkParamSet checks that got holds exactly the parameters want, each with its size.
func checkParamSet(got map[string][]float32, want []ParamShape) error {
	names := make(map[string]bool, len(want))
	for _, p := range want {
		names[p.Name] = true
		v, ok := got[p.Name]
		if !ok {
			return fmt.Errorf("no values for parameter %s %v: %w", p.Name, p.Shape, ErrSpecMismatch)
		}
		if len(v) != p.Size() {
			return fmt.Errorf("parameter %s has %d values, want %d for shape %v: %w", p.Name, len(v), p.Size(), p.Shape, ErrSpecMismatch)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if !names[name] {
			return fmt.Errorf("parameter %s is not in the spec: %w", name, ErrSpecMismatch)
		}
	}
	return nil
}

// LoadCheckpoint reads and validates a checkpoint: the safetensors checksums, the "format" key,
// that the spec parses and validates, that every parameter of the spec is there as an F32 tensor
// of the right shape and nothing else is, that each optimiser tensor belonging to a parameter has
// its size, and the epoch, RNG and hyper-parameter entries. Errors name the file and, for
// tensors, the tensor and both shapes.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		if kerr := filekind.Mismatch(path, filekind.Checkpoint); kerr != nil {
			return nil, fmt.Errorf("load checkpoint: %w", kerr)
		}
		return nil, fmt.Errorf("load checkpoint: %w", err)
	}
	defer f.Close()
	r := &checkpointReader{path: path, f: f}
	if err := r.checkFormat(); err != nil {
		if kerr := filekind.Mismatch(path, filekind.Checkpoint); kerr != nil {
			return nil, fmt.Errorf("load checkpoint: %w", kerr)
		}
		return nil, err
	}
	spec, err := ParseSpec([]byte(f.Meta[ckSpec]), "in checkpoint")
	if err != nil {
		return nil, r.errorf("%w", err)
	}
	params, err := SpecParams(spec)
	if err != nil {
		return nil, r.errorf("spec: %w", err)
	}
	c := &Checkpoint{Spec: spec, Params: make(map[string][]float32, len(params)), Path: path}
	size, err := r.readParams(c, params)
	if err != nil {
		return nil, err
	}
	if err := r.readAux(c, size); err != nil {
		return nil, err
	}
	if err := r.readOptimizer(c, size); err != nil {
		return nil, err
	}
	if err := r.readMeta(c); err != nil {
		return nil, err
	}
	return c, nil
}

// checkpointReader reads the parts of one open checkpoint file for LoadCheckpoint.
type checkpointReader struct {
	path string
	f    *safetensors.File
}

// errorf returns an error about the checkpoint, naming its file.
func (r *checkpointReader) errorf(format string, args ...any) error {
	return fmt.Errorf("load checkpoint %s: %w", r.path, fmt.Errorf(format, args...))
}

// float32 reads tensor name; the safetensors error names the file itself.
func (r *checkpointReader) float32(name string) ([]float32, error) {
	v, err := r.f.Float32(name)
	if err != nil {
		return nil, fmt.Errorf("load checkpoint: %w", err)
	}
	return v, nil
}

// checkFormat checks the checksum keys and the "format" key.
func (r *checkpointReader) checkFormat() error {
	// Checkpoints are always written with both checksums; a file without them was not made by
	// SaveCheckpoint, or had a checksum key damaged.
	for _, k := range []string{safetensors.ChecksumKey, safetensors.HeaderChecksumKey} {
		if _, ok := r.f.Meta[k]; !ok {
			return r.errorf("%w: no %q metadata key", safetensors.ErrCorrupt, k)
		}
	}
	if got := r.f.Meta[ckFormat]; got != CheckpointFormat {
		if got == "" {
			return r.errorf("not a distill checkpoint (no %q metadata key)", ckFormat)
		}
		return r.errorf("format %q, want %q", got, CheckpointFormat)
	}
	return nil
}

// readParams reads every parameter of c.Spec (params) into c.Params and returns the size of each
// by name.
func (r *checkpointReader) readParams(c *Checkpoint, params []ParamShape) (map[string]int, error) {
	size := make(map[string]int, len(params))
	for _, p := range params {
		size[p.Name] = p.Size()
		t, ok := r.f.Tensor(p.Name)
		if !ok {
			return nil, r.errorf("missing tensor %q (shape %v) of spec %s: %w", p.Name, p.Shape, DescribeSpec(c.Spec), ErrSpecMismatch)
		}
		if t.DType != "F32" {
			return nil, r.errorf("tensor %q has dtype %s, want F32", p.Name, t.DType)
		}
		if !slices.Equal(t.Shape, p.Shape) {
			return nil, r.errorf("tensor %q has shape %v, spec wants %v: %w", p.Name, t.Shape, p.Shape, ErrSpecMismatch)
		}
		v, err := r.float32(p.Name)
		if err != nil {
			return nil, err
		}
		c.Params[p.Name] = v
	}
	return size, nil
}

// readAux reads the auxiliary tensors (named with AuxPrefix) into c.Aux, in the file's order,
// adding their sizes to size.
func (r *checkpointReader) readAux(c *Checkpoint, size map[string]int) error {
	for _, t := range r.f.Tensors {
		if !strings.HasPrefix(t.Name, AuxPrefix) {
			continue
		}
		if t.DType != "F32" {
			return r.errorf("tensor %q has dtype %s, want F32", t.Name, t.DType)
		}
		v, err := r.float32(t.Name)
		if err != nil {
			return err
		}
		c.Aux = append(c.Aux, &Param{Name: t.Name, Shape: slices.Clone(t.Shape), Value: v})
		size[t.Name] = len(v)
	}
	return nil
}

// readOptimizer reads every tensor that is not a parameter (size holds the parameters' sizes)
// as optimiser state "optim.<key>" into c.Optimizer. A key other than StepKey must be
// "<parameter>.<name>" with the parameter's number of values.
func (r *checkpointReader) readOptimizer(c *Checkpoint, size map[string]int) error {
	for _, t := range r.f.Tensors {
		if _, ok := size[t.Name]; ok {
			continue
		}
		key, ok := strings.CutPrefix(t.Name, ckOptimPre)
		if !ok {
			return r.errorf("unexpected tensor %q: not a parameter of spec %s: %w", t.Name, DescribeSpec(c.Spec), ErrSpecMismatch)
		}
		if t.DType != "F32" {
			return r.errorf("tensor %q has dtype %s, want F32", t.Name, t.DType)
		}
		if key != StepKey {
			dot := strings.LastIndexByte(key, '.')
			n, ok := 0, false
			if dot > 0 {
				n, ok = size[key[:dot]]
			}
			if !ok {
				return r.errorf("optimizer tensor %q belongs to no parameter of spec %s: %w", t.Name, DescribeSpec(c.Spec), ErrSpecMismatch)
			}
			if t.Elems() != int64(n) {
				return r.errorf("optimizer tensor %q has shape %v, its parameter %d values: %w", t.Name, t.Shape, n, ErrSpecMismatch)
			}
		}
		if c.Optimizer == nil {
			c.Optimizer = map[string][]float32{}
		}
		v, err := r.float32(t.Name)
		if err != nil {
			return err
		}
		c.Optimizer[key] = v
	}
	return nil
}

// readMeta reads the epoch, RNG state, optimiser name and hyper-parameters, and the caller's
// "meta." entries into c.
func (r *checkpointReader) readMeta(c *Checkpoint) error {
	meta := r.f.Meta
	var err error
	if c.Epoch, err = strconv.Atoi(meta[ckEpoch]); err != nil || c.Epoch < 0 {
		return r.errorf("bad %q metadata %q", ckEpoch, meta[ckEpoch])
	}
	if c.RNG, err = base64.StdEncoding.DecodeString(meta[ckRNG]); err != nil {
		return r.errorf("bad %q metadata: %w", ckRNG, err)
	}
	if len(c.RNG) == 0 {
		c.RNG = nil
	}
	c.OptimizerName = meta[ckOptimizer]
	if h, ok := meta[ckHyper]; ok {
		if err := json.Unmarshal([]byte(h), &c.OptimizerHyper); err != nil {
			return r.errorf("bad %q metadata: %w", ckHyper, err)
		}
	}
	for k, v := range meta {
		if mk, ok := strings.CutPrefix(k, ckMetaPre); ok {
			if c.Meta == nil {
				c.Meta = map[string]string{}
			}
			c.Meta[mk] = v
		}
	}
	return nil
}

// Apply copies the checkpoint's weights into net after checking that net was built from the same
// architecture (SameArchitecture); otherwise the error, wrapping ErrSpecMismatch, names both specs.
func (c *Checkpoint) Apply(net *Net) error {
	if !SameArchitecture(c.Spec, net.Spec()) {
		where := ""
		if c.Path != "" {
			where = " " + c.Path
		}
		return fmt.Errorf("checkpoint%s was made for spec %s, not %s: %w", where, DescribeSpec(c.Spec), DescribeSpec(net.Spec()), ErrSpecMismatch)
	}
	return net.LoadParams(c.Params)
}

// LoadParams copies values into the network's tensors (parameters and buffers). params must hold exactly the
// network's parameters, by name, each with its number of values; otherwise nothing is copied and
// the error wraps ErrSpecMismatch.
func (n *Net) LoadParams(params map[string][]float32) error {
	want := make([]ParamShape, 0, len(n.Tensors()))
	for _, p := range n.Tensors() {
		want = append(want, ParamShape{Name: p.Name, Shape: p.Shape, Buffer: p.Buffer})
	}
	if err := checkParamSet(params, want); err != nil {
		return fmt.Errorf("load params into %s: %w", DescribeSpec(n.Spec()), err)
	}
	for _, p := range n.Tensors() {
		copy(p.Value, params[p.Name])
	}
	return nil
}

// ParamValues returns a copy of the values of the network's tensors (parameters and buffers) by
// name, for a Checkpoint.
func (n *Net) ParamValues() map[string][]float32 {
	out := make(map[string][]float32, len(n.Tensors()))
	for _, p := range n.Tensors() {
		out[p.Name] = append([]float32(nil), p.Value...)
	}
	return out
}
