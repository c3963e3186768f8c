package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/student"
)

// VerifyTolerance is the largest max-abs logit difference Verify accepts between onnxruntime and
// the Gorgonia forward pass of a float32 export: both compute in float32, so only summation order
// differs (about 1e-6 for MNIST-sized layers).
const VerifyTolerance = 1e-4

// VerifyToleranceFP16 is the relative tolerance for float16 exports: the weights are rounded to an
// 11-bit significand (relative error up to 2^-11 ≈ 4.9e-4 each), so the logits may move by about
// that fraction of their size summed over layers. The bound applied is VerifyToleranceFP16 × (1 +
// largest |logit|).
const VerifyToleranceFP16 = 1e-2

// VerifyToleranceInt8 is the relative tolerance for int8 exports; the bound applied is
// VerifyToleranceInt8 × (1 + largest |logit|). Per-channel symmetric int8 moves each weight by at
// most half a step, max|w|/254 ≈ 3.9e-3 of its channel's largest weight; and onnxruntime's default
// graph optimisation runs a dequantised dense weight as MatMulNBits (8 bits, accuracy level 4),
// which also rounds each activation to int8 per block of 32, by up to max|a|/254 of its block. A
// layer's output thus moves by at most about 2/254 ≈ 7.9e-3 of the largest |w|·Σ|a| it sums, and
// three layers compound to about 2.4e-2 when every rounding points the same way; 5e-2 gives that
// worst case a factor of two. Measured on the MNIST demo student (784-800-800-10) over the 10,000
// test images: max abs logit difference 0.199 against a bound of 2.68 (largest |logit| 52.6).
const VerifyToleranceInt8 = 5e-2

// ErrVerify is returned (wrapped) by Verify when the exported model disagrees with the student
// beyond the tolerance. The report is returned with it.
var ErrVerify = errors.New("exported model does not match the student")

// GraphOptions configures Graph and Student.
type GraphOptions struct {
	// Opset is the ai.onnx opset to target; 0 means onnx.DefaultOpset (13).
	Opset int
	// FP16 stores the weights as float16 (input, output and arithmetic stay float32).
	FP16 bool
	// Int8 stores the dense and conv2d weights as per-output-channel symmetric int8 with float32
	// scales, dequantised in the graph (onnx.ExportGraph.Int8); biases stay float32. It excludes
	// FP16.
	Int8 bool
	// Metadata is written into the model's metadata_props (preprocessing, provenance, ...). The keys
	// meta.Spec and meta.Classes are set by Graph and override entries given here.
	Metadata map[string]string
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	// MaxAbsDiff is the largest absolute difference between onnxruntime's and the student's logits.
	MaxAbsDiff float64
	// Agreement is the fraction of samples on which both pick the same class (argmax).
	Agreement float64
	// N is the number of samples compared.
	N int
	// Tolerance is the bound MaxAbsDiff was held to.
	Tolerance float64
	// FP16 reports whether the exported weights are float16.
	FP16 bool
	// Int8 reports whether the exported weights are int8.
	Int8 bool
}

// Graph converts net into the onnx.ExportGraph that Student writes: dense layers become
// Gemm (weight [in, out]), conv2d Conv, maxpool MaxPool, flatten Flatten, relu Relu; dropout is left
// out (it is the identity at inference). The returned graph aliases net's weights.
func Graph(net *student.Net, opts GraphOptions) (*onnx.ExportGraph, error) {
	spec := net.Spec()
	params := map[string]*student.Param{}
	for _, p := range net.Params() {
		params[p.Name] = p
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encode spec: %w", err)
	}
	g := &onnx.ExportGraph{
		InputShape: append([]int(nil), spec.Input...),
		Classes:    spec.Classes,
		Opset:      opts.Opset,
		FP16:       opts.FP16,
		Int8:       opts.Int8,
		Metadata:   map[string]string{},
		// ONNX has no checksum of its own: record one, so that a damaged file is refused on load.
		Checksum: true,
	}
	for k, v := range opts.Metadata {
		g.Metadata[k] = v
	}
	g.Metadata[meta.Spec] = string(specJSON)
	g.Metadata[meta.Classes] = strconv.Itoa(spec.Classes)
	for i, l := range spec.Layers {
		var ol onnx.Layer
		switch l.Type {
		case "dropout":
			continue
		case "relu":
			ol = onnx.Layer{Op: "Relu"}
		case "flatten":
			ol = onnx.Layer{Op: "Flatten"}
		case "maxpool":
			ol = onnx.Layer{Op: "MaxPool", Kernel: l.Kernel, Stride: l.Stride}
		case "dense", "conv2d":
			w, b := params[fmt.Sprintf("layers.%d.weight", i)], params[fmt.Sprintf("layers.%d.bias", i)]
			if w == nil || b == nil {
				return nil, fmt.Errorf("layer %d (%s): the net has no weight or bias parameter", i, l.Type)
			}
			ol = onnx.Layer{Op: "Gemm", Weight: w.Value, WeightShape: w.Shape, Bias: b.Value}
			if l.Type == "conv2d" {
				ol.Op, ol.Kernel, ol.Stride, ol.Pad = "Conv", l.Kernel, l.Stride, l.Pad
			}
		default:
			return nil, fmt.Errorf("layer %d: type %q cannot be exported", i, l.Type)
		}
		g.Layers = append(g.Layers, ol)
	}
	return g, nil
}

// Student writes net to path as an ONNX model (see Graph and onnx.Export). The spec is stored as
// JSON under meta.Spec so that Import can rebuild the network.
func Student(net *student.Net, path string, opts GraphOptions) error {
	g, err := Graph(net, opts)
	if err != nil {
		return fmt.Errorf("export student %s: %w", path, err)
	}
	return onnx.Export(path, *g)
}

// Verify runs the exported model at path with rt on n samples x (preprocessed, [n, input...]) and
// compares its logits with net.Forward. It returns the report, wrapping ErrVerify when MaxAbsDiff
// exceeds the tolerance (VerifyTolerance, or the relative VerifyToleranceFP16 or
// VerifyToleranceInt8 bound for float16 or int8 exports). Agreement, the fraction of samples whose
// argmax both give, is reported but not held to a bound.
func Verify(ctx context.Context, rt model.Runtime, net *student.Net, path string, x []float32, n int) (VerifyReport, error) {
	rep := VerifyReport{N: n, Tolerance: VerifyTolerance}
	if n < 1 {
		return rep, fmt.Errorf("verify export %s: no samples", path)
	}
	g, err := onnx.ImportGraph(path)
	if err != nil {
		return rep, fmt.Errorf("verify export %s: %w", path, err)
	}
	rep.FP16, rep.Int8 = g.FP16, g.Int8
	want, err := net.Forward(x, n)
	if err != nil {
		return rep, fmt.Errorf("verify export %s: student: %w", path, err)
	}
	s, err := rt.Open(path, model.Options{Output: model.OutputLogits})
	if err != nil {
		return rep, fmt.Errorf("verify export %s: %w", path, err)
	}
	defer s.Close()
	got, err := s.Logits(ctx, x, n)
	if err != nil {
		return rep, fmt.Errorf("verify export %s: %w", path, err)
	}
	c := net.Spec().Classes
	if len(got) != n*c || len(want) != n*c {
		return rep, fmt.Errorf("verify export %s: got %d logits from onnxruntime and %d from the student, want %d", path, len(got), len(want), n*c)
	}
	largest, agree := 0.0, 0
	for i := 0; i < n; i++ {
		a, b := got[i*c:(i+1)*c], want[i*c:(i+1)*c]
		for j := range a {
			d := math.Abs(float64(a[j]) - float64(b[j]))
			if d > rep.MaxAbsDiff || d != d {
				rep.MaxAbsDiff = d
			}
			largest = math.Max(largest, math.Abs(float64(b[j])))
		}
		if eval.Argmax(a) == eval.Argmax(b) {
			agree++
		}
	}
	rep.Agreement = float64(agree) / float64(n)
	switch {
	case rep.FP16:
		rep.Tolerance = VerifyToleranceFP16 * (1 + largest)
	case rep.Int8:
		rep.Tolerance = VerifyToleranceInt8 * (1 + largest)
	}
	if !(rep.MaxAbsDiff <= rep.Tolerance) {
		return rep, fmt.Errorf("verify export %s: %w: max abs logit difference %.3g > %.3g (argmax agreement %.4f on %d samples)",
			path, ErrVerify, rep.MaxAbsDiff, rep.Tolerance, rep.Agreement, n)
	}
	return rep, nil
}

// Import rebuilds a student from a model Student wrote: the spec from the meta.Spec
// metadata, the weights from the initializers (float16 weights are widened to float32, int8 ones
// dequantised: scale × value, as onnxruntime's DequantizeLinear computes them). Each spec
// layer except dropout must match the next layer of the graph.
func Import(path string) (*student.Net, error) {
	g, err := onnx.ImportGraph(path)
	if err != nil {
		return nil, fmt.Errorf("import student %s: %w", path, err)
	}
	raw, ok := g.Metadata[meta.Spec]
	if !ok {
		return nil, fmt.Errorf("import student %s: no %q metadata (not exported by distill export)", path, meta.Spec)
	}
	spec, err := student.ParseSpec([]byte(raw), path+" metadata "+meta.Spec)
	if err != nil {
		return nil, fmt.Errorf("import student %s: %w", path, err)
	}
	if !slices.Equal(spec.Input, g.InputShape) || spec.Classes != g.Classes {
		return nil, fmt.Errorf("import student %s: spec input %v with %d classes, graph input %v with %d classes",
			path, spec.Input, spec.Classes, g.InputShape, g.Classes)
	}
	net, err := student.NewNet(spec, 0)
	if err != nil {
		return nil, fmt.Errorf("import student %s: %w", path, err)
	}
	// The graph must be exactly what Graph makes of the spec, weights aside.
	want, err := Graph(net, GraphOptions{})
	if err != nil {
		return nil, fmt.Errorf("import student %s: %w", path, err)
	}
	if len(want.Layers) != len(g.Layers) {
		return nil, fmt.Errorf("import student %s: graph has %d layers, spec %q gives %d", path, len(g.Layers), spec.Name, len(want.Layers))
	}
	for j, w := range want.Layers {
		l := g.Layers[j]
		wantStride := w.Stride
		switch {
		case wantStride != 0:
		case w.Op == "Conv":
			wantStride = 1
		case w.Op == "MaxPool":
			wantStride = w.Kernel
		}
		if l.Op != w.Op || l.Kernel != w.Kernel || l.Stride != wantStride || l.Pad != w.Pad || !slices.Equal(l.WeightShape, w.WeightShape) ||
			len(l.Bias) != len(w.Bias) {
			return nil, fmt.Errorf("import student %s: graph layer %d (%s k%d s%d p%d weight %v) does not match the spec's (%s k%d s%d p%d weight %v)",
				path, j, l.Op, l.Kernel, l.Stride, l.Pad, l.WeightShape, w.Op, w.Kernel, wantStride, w.Pad, w.WeightShape)
		}
		// w's slices alias the fresh net's parameters: fill them in place.
		copy(w.Weight, l.Weight)
		copy(w.Bias, l.Bias)
	}
	return net, nil
}

// ImportParams reads the weights of a model Student wrote, for a network built from
// spec (`distill train --init-from`): every parameter of student.NewNet(spec) must be present in the
// model with the same shape. The model's own spec may differ in what carries no weights (dropout
// rates, the name). It returns the values by parameter name ("layers.<i>.weight", ...), ready for
// (*student.Net).LoadParams.
func ImportParams(path string, spec *student.Spec) (map[string][]float32, error) {
	src, err := Import(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst, err := student.NewNet(spec, 0)
	if err != nil {
		return nil, fmt.Errorf("import student %s: %w", path, err)
	}
	defer dst.Close()
	have := map[string]*student.Param{}
	for _, p := range src.Params() {
		have[p.Name] = p
	}
	out := make(map[string][]float32, len(dst.Params()))
	for _, p := range dst.Params() {
		q, ok := have[p.Name]
		if !ok || !slices.Equal(p.Shape, q.Shape) {
			var got any = "nothing"
			if ok {
				got = q.Shape
			}
			return nil, fmt.Errorf("import student %s: spec %q needs %s shaped %v, the model has %v",
				path, spec.Name, p.Name, p.Shape, got)
		}
		out[p.Name] = append([]float32(nil), q.Value...)
		delete(have, p.Name)
	}
	for name := range have {
		return nil, fmt.Errorf("import student %s: the model's %s has no place in spec %q", path, name, spec.Name)
	}
	return out, nil
}
