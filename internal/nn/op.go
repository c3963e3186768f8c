package nn

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/gonum/blas"
)

// Shape is the shape of one sample's values at some point of a network: [features] or
// [channels, height, width].
type Shape []int

// Size is the number of values, the product of the dimensions.
func (s Shape) Size() int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// Operator is one kind of layer. Each is registered once (Register) and holds everything about
// its layers; the methods are called only on layers whose Type is the operator's.
type Operator interface {
	// Type is the word that selects the operator in a spec ("dense").
	Type() string
	// Fields lists the spec fields the operator reads, by JSON name, besides type, name and
	// inputs; any other field set on one of its layers is an error.
	Fields() []string
	// Arity is the least and the most inputs a layer takes (most < 0: no limit).
	Arity() (least, most int)
	// Shape checks the layer's fields against its inputs' per-sample shapes and returns the shape
	// of its output. A problem with a field is a *FieldError.
	Shape(l *Layer, in []Shape) (Shape, error)
	// Tensors lists the layer's parameters and buffers, in a fixed order; nil for none.
	Tensors(l *Layer, in []Shape, out Shape) []TensorSpec
	// Kernel returns the layer's training kernel: forward (in training or evaluation mode) and
	// backward over a batch.
	Kernel(c KernelConfig) Kernel
	// Encode writes the layer as ONNX nodes (see Encoder).
	Encode(e *Encoder, c EncodeConfig) error
	// ONNXOps lists the ONNX operator types whose nodes Decode reads as a layer of this operator.
	ONNXOps() []string
	// Decode reads a node of one of ONNXOps (and any nodes that belong to it) as a layer.
	Decode(d *Decoder, n *ONNXNode) (Decoded, error)
	// Infer returns the layer's inference kernel for batches of at most c.Batch samples.
	Infer(c InferConfig) InferKernel
}

// Optional faces of an operator.
type (
	// Viewer is an operator whose output is its input's values, read in another shape, in the
	// mode given (flatten; dropout when not training): no kernel runs and no ONNX node is written.
	Viewer interface {
		View(l *Layer, train bool) bool
	}
	// ReluFuser is an operator whose kernels can apply a following relu themselves (KernelConfig.Relu,
	// InferConfig.Relu), which saves a pass over the output.
	ReluFuser interface {
		FusesRelu() bool
	}
	// Affine is an operator whose output channels are each a linear function of the weights and a
	// bias (dense, conv2d), into which a following per-channel affine map can be folded
	// (batchnorm at export, Encode's FoldBN).
	Affine interface {
		// Fold returns the weight and bias with out-channel c scaled by scale[c] and shifted by
		// shift[c]: W'·x + b' = scale·(W·x + b) + shift. tensors are the layer's values.
		Fold(l *Layer, tensors [][]float32, scale, shift []float32) [][]float32
	}
	// Scratcher is an operator whose inference kernel needs scratch memory beyond its output: a
	// runtime bounds it (and the memory a hostile model can ask for) before making the kernel.
	Scratcher interface {
		// Scratch is the number of float32s the inference kernel of c allocates.
		Scratch(c InferConfig) int
	}
	// Foldable is an operator that, at inference, is a per-channel affine map which can be folded
	// into the Affine layer that feeds it (batchnorm).
	Foldable interface {
		// ChannelAffine returns the scale and shift per channel of the layer with these values.
		ChannelAffine(l *Layer, tensors [][]float32) (scale, shift []float32)
		// Identity sets the tensors to values for which the layer is exactly the identity at
		// inference and folding it changes nothing: what an importer gives a folded layer.
		Identity(l *Layer, tensors [][]float32)
	}
)

// TensorSpec describes one tensor of a layer.
type TensorSpec struct {
	// Name is the tensor's name within its layer ("weight"); its full name is
	// "layers.<i>.<Name>".
	Name string
	// Shape is its shape.
	Shape []int
	// Buffer marks state that is not a parameter: saved, restored and exported like one, but
	// never given a gradient or touched by the optimiser.
	Buffer bool
	// Init is how a new network fills it.
	Init Init
	// FanIn and FanOut are the fans of an InitWeight tensor.
	FanIn, FanOut int
	// ChannelAxis is the axis of the weight's output channels, along which an int8 export
	// quantises it with one scale per channel; -1 for a tensor never quantised (biases, buffers).
	ChannelAxis int
}

// Size is the number of elements.
func (t TensorSpec) Size() int { return Shape(t.Shape).Size() }

// Init is the initial value of a tensor.
type Init int

const (
	// InitZeros fills the tensor with zeros.
	InitZeros Init = iota
	// InitOnes fills it with ones.
	InitOnes
	// InitWeight draws it at random: He (N(0, 2/FanIn)) when the layer's output goes into a relu,
	// Glorot (U(±sqrt(6/(FanIn+FanOut)))) otherwise.
	InitWeight
)

// Tensor is one named tensor of a network, a parameter or a buffer. Value and Grad alias the
// buffers the kernels use: an optimiser updates Value in place and the next step sees it. Grad is
// nil for a buffer.
type Tensor struct {
	Name   string
	Shape  []int
	Value  []float32
	Grad   []float32
	Buffer bool
}

// KernelConfig is what a training kernel is made for.
type KernelConfig struct {
	// Layer is the spec's layer; In and Out its per-sample input and output shapes.
	Layer *Layer
	In    []Shape
	Out   Shape
	// Batch is the number of samples every call works on.
	Batch int
	// Train selects training mode: batch statistics, dropout, gradients.
	Train bool
	// Tensors are the layer's tensors in the order of Operator.Tensors. The kernel reads
	// parameters' Value, writes their Grad in Backward (overwriting it) and updates buffers in
	// Forward in training mode.
	Tensors []*Tensor
	// NeedGrad says, per input, whether Backward must compute its gradient (false for the sample).
	NeedGrad []bool
	// Relu asks a ReluFuser's kernel to apply relu to its output (and its gradient).
	Relu bool
	// BLAS returns the BLAS to call.
	BLAS func() blas.Float32
}

// Kernel is a layer's training kernel for one batch size. It may keep what Forward computed for
// Backward (a pooling's argmax, batchnorm's statistics), so calls alternate Forward, Backward on
// one goroutine at a time.
type Kernel interface {
	// Forward computes out [batch, Out...] from ins ([batch, In[k]...] each).
	Forward(ins [][]float32, out []float32)
	// Backward computes, from the gradient dout of the output, the gradient of each input k with
	// NeedGrad[k] into dins[k] (overwriting it) and the parameters' gradients into their Grad.
	// out is what Forward returned.
	Backward(ins [][]float32, out, dout []float32, dins [][]float32)
}

// Sampler is a kernel that draws random numbers for each training step (dropout's mask); the
// trainer calls Sample before the step, layer by layer in spec order.
type Sampler interface {
	Sample(rng *rand.Rand)
}

// InferConfig is what an inference kernel is made for.
type InferConfig struct {
	Layer *Layer
	In    []Shape
	Out   Shape
	// Batch is the most samples one call runs.
	Batch int
	// Tensors are the values of the layer's tensors in the order of Operator.Tensors.
	Tensors [][]float32
	// Relu asks a ReluFuser's kernel to apply relu to its output.
	Relu bool
}

// InferKernel is a layer's inference kernel; it runs on one goroutine at a time and allocates
// nothing per call.
type InferKernel interface {
	// Run computes out from ins for n samples (n <= the config's Batch); ins and out hold
	// exactly n samples.
	Run(g Gemmer, ins [][]float32, out []float32, n int)
}

// Gemmer is the matrix product of an inference runtime: c = a·b (+ c when accumulate) for
// row-major a [m, k], b [k, n], c [m, n].
type Gemmer interface {
	Gemm(m, n, k int, a, b, c []float32, accumulate bool)
}

// FieldError is an error about one field of a layer.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %q: %s", e.Field, e.Msg) }

// fieldErr returns a *FieldError.
func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

var registry = map[string]Operator{}

// Register adds an operator; it panics on a second operator of the same type, or a second
// decoder of an ONNX op type.
func Register(op Operator) {
	if _, dup := registry[op.Type()]; dup {
		panic("nn: operator " + op.Type() + " registered twice")
	}
	for _, t := range op.ONNXOps() {
		if other, dup := decoders[t]; dup {
			panic("nn: ONNX op " + t + " decoded by both " + other.Type() + " and " + op.Type())
		}
		decoders[t] = op
	}
	registry[op.Type()] = op
}

// Lookup returns the operator of a layer type.
func Lookup(typ string) (Operator, bool) {
	op, ok := registry[typ]
	return op, ok
}

// Operators returns the registered layer types, sorted.
func Operators() []string {
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// setFields lists the operator-specific fields set on l, by JSON name.
func (l *Layer) setFields() []string {
	var set []string
	add := func(name string, on bool) {
		if on {
			set = append(set, name)
		}
	}
	add("units", l.Units != 0)
	add("p", l.P != 0)
	add("filters", l.Filters != 0)
	add("kernel", l.Kernel != 0)
	add("stride", l.Stride != 0)
	add("pad", l.Pad != 0)
	add("bias", l.Bias != nil)
	add("groups", l.Groups != 0)
	add("momentum", l.Momentum != 0)
	add("eps", l.Eps != 0)
	add("slope", l.Slope != 0)
	return set
}

// checkFields reports the first field set on l that op does not read.
func checkFields(op Operator, l *Layer) error {
	reads := op.Fields()
	for _, f := range l.setFields() {
		if !slices.Contains(reads, f) {
			return fieldErr(f, "not used by a %s layer", l.Type)
		}
	}
	return nil
}

// unknownType is the error of a layer type no operator has.
func unknownType(typ string) error {
	return fieldErr("type", "unknown layer type %q (want one of %s)", typ, strings.Join(Operators(), ", "))
}
