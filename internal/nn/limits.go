package nn

import "fmt"

// Size limits of a spec, checked when it is validated (Spec.Graph), so that a network that
// validates can be trained, exported and run by every runtime here, and a mistaken spec ("units":
// 1000000000) is refused at once with its figure instead of failing in an allocation.
const (
	// MaxValues bounds the values of any one tensor (a weight, a buffer) and of a sample at any
	// layer (the input included): 2^26 float32s, 256 MiB, far above a student. It is also the
	// bound of the pure-Go runtime's reader (onnx/purego/internal/wire) and workspace
	// (onnx/purego/direct), which use this constant, so that an exported student always loads.
	MaxValues = 1 << 26
	// MaxParams bounds the parameters and buffers of a network in all: 2^28 float32s, 1 GiB. An
	// ONNX model is one protobuf message, which cannot exceed 2 GiB; the bound leaves room for a
	// second copy of the weights (a float16 or quantized export keeps none, a folded one fewer).
	MaxParams = 1 << 28
)

// numValues returns the product of dims and whether every dimension is positive and the product
// at most MaxValues; the product is computed without overflow (it saturates just above the
// limit, which is all an error message then needs).
func numValues(dims []int) (int, bool) {
	n := 1
	for _, d := range dims {
		if d <= 0 {
			return 0, false
		}
		if d > MaxValues/n {
			return MaxValues + 1, false
		}
		n *= d
	}
	return n, true
}

// checkValues returns an error when dims hold more than MaxValues values (or a dimension is not
// positive); what names the tensor ("its weight of shape") and per says what the limit is per.
func checkValues(what string, dims []int, per string) error {
	n, ok := numValues(dims)
	switch {
	case ok:
		return nil
	case n == 0:
		return fmt.Errorf("%s %v: dimensions must be > 0", what, dims)
	case n > MaxValues:
		return fmt.Errorf("%s %v holds %s values, over the limit of %d (2^26) values %s", what, dims, product(dims), MaxValues, per)
	}
	return nil
}

// product writes the exact product of dims (positive) for a message, even past int64.
func product(dims []int) string {
	f := 1.0
	for _, d := range dims {
		f *= float64(d)
	}
	if f < 1<<53 {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.3g", f)
}

// NumParams returns the number of values of the network's parameters and buffers.
func (g *Graph) NumParams() int {
	n := 0
	for _, nd := range g.Nodes {
		for _, t := range nd.Tensors {
			n += t.Size()
		}
	}
	return n
}

// ActivationValues returns the values one sample holds at every layer's output together (the
// input not counted): what a forward pass keeps per sample for the backward pass.
func (g *Graph) ActivationValues() int {
	n := 0
	for _, nd := range g.Nodes {
		n += nd.Out.Size()
	}
	return n
}
