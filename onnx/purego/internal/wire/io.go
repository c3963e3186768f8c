package wire

import (
	"errors"
	"fmt"
	"slices"
)

// IO is the one float32 input [N, Sample...] and the output [N, Classes] of a student.
type IO struct {
	// Input and Output are the value names.
	Input, Output string
	// Sample is the per-sample input shape, e.g. [784] or [1 28 28].
	Sample []int
	// Classes is the number of logits per sample.
	Classes int
}

// ErrIO is wrapped by ReadIO's errors: the graph's inputs and outputs are not a student's.
var ErrIO = errors.New("inputs and outputs")

// ReadIO returns the graph's input and output, which must be one float32 input [N, ...] with a
// dynamic batch axis N and fixed sample axes (initializers listed as inputs, as before IR 4, are
// skipped) and one float32 output [N, classes].
func ReadIO(g *Graph) (IO, error) {
	inits := map[string]bool{}
	for _, t := range g.Inits {
		inits[t.Name] = true
	}
	var ins []ValueInfo
	for _, v := range g.Inputs {
		if !inits[v.Name] {
			ins = append(ins, v)
		}
	}
	if len(ins) != 1 || len(g.Outputs) != 1 {
		return IO{}, fmt.Errorf("%w: %d inputs and %d outputs, want one of each", ErrIO, len(ins), len(g.Outputs))
	}
	in, out := ins[0], g.Outputs[0]
	if in.Elem != DTFloat || out.Elem != DTFloat {
		return IO{}, fmt.Errorf("%w: input %q of type %d, output %q of type %d: want float32 (1)", ErrIO, in.Name, in.Elem, out.Name, out.Elem)
	}
	if len(in.Dims) < 2 || in.Dims[0] != -1 || slices.Contains(in.Dims[1:], -1) {
		return IO{}, fmt.Errorf("%w: input %q of shape %v: want [N, fixed axes...] with a dynamic batch axis N", ErrIO, in.Name, in.Dims)
	}
	if len(out.Dims) != 2 || out.Dims[1] < 1 || out.Dims[1] > maxElems {
		return IO{}, fmt.Errorf("%w: output %q of shape %v: want [N, classes]", ErrIO, out.Name, out.Dims)
	}
	io := IO{Input: in.Name, Output: out.Name, Classes: int(out.Dims[1])}
	size := int64(1)
	for _, d := range in.Dims[1:] {
		if d < 1 || d > maxElems || size*d > maxElems {
			return IO{}, fmt.Errorf("%w: input %q of shape %v", ErrMalformed, in.Name, in.Dims)
		}
		size *= d
		io.Sample = append(io.Sample, int(d))
	}
	return io, nil
}
