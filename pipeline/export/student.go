package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/x448/float16"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/nn"
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
// A deeper network compounds more roundings: the bound is then VerifyToleranceInt8PerLayer per
// int8 weight, when that is more.
const VerifyToleranceInt8 = 5e-2

// VerifyToleranceInt8PerLayer is the relative tolerance of an int8 export per int8 weight it
// holds: twice the 2/254 a layer's rounding can move its output by. Three layers give 4.7e-2,
// under VerifyToleranceInt8; the MobileNet-like student (models/fashion-mobilenet.json, ten int8
// weights, 0.157) measured a max abs logit difference of 1.1 over 256 Fashion-MNIST test images
// against a bound of 2.88 (where 5e-2 gives 0.915), and 90.10% test accuracy against 90.19% in
// float32.
const VerifyToleranceInt8PerLayer = 4.0 / 254

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
	// FoldBN folds each batchnorm whose input is a dense or conv2d layer read by it alone into that
	// layer's weights and bias (nn.EncodeOptions.FoldBN); other batchnorms are written as
	// BatchNormalization nodes.
	FoldBN bool
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

// Graph converts net into the onnx.ExportGraph that Student writes: each layer's operator writes
// its nodes (internal/nn's Encode: dense a Gemm with weight [in, out], conv2d a Conv, relu a Relu,
// ...; dropout nothing, as it is the identity at inference). The returned graph aliases net's
// weights, except those a folded batchnorm changed.
func Graph(net *student.Net, opts GraphOptions) (*onnx.ExportGraph, error) {
	spec := net.Spec()
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encode spec: %w", err)
	}
	og, err := encode(net, opts.Opset, opts.FoldBN)
	if err != nil {
		return nil, err
	}
	g := &onnx.ExportGraph{
		ONNXGraph: *og,
		FP16:      opts.FP16,
		Int8:      opts.Int8,
		Metadata:  map[string]string{},
		// ONNX has no checksum of its own: record one, so that a damaged file is refused on load.
		Checksum: true,
	}
	for k, v := range opts.Metadata {
		g.Metadata[k] = v
	}
	g.Metadata[meta.Spec] = string(specJSON)
	g.Metadata[meta.Classes] = strconv.Itoa(spec.Classes)
	return g, nil
}

// encode returns the ONNX nodes of net (nn.Encode).
func encode(net *student.Net, opset int, foldBN bool) (*nn.ONNXGraph, error) {
	g, err := net.Spec().Graph()
	if err != nil {
		return nil, err
	}
	values := map[string][]float32{}
	for _, t := range net.Tensors() {
		values[t.Name] = t.Value
	}
	if opset == 0 {
		opset = onnx.DefaultOpset
	}
	return nn.Encode(g, values, nn.EncodeOptions{Opset: opset, InputName: onnx.DefaultInputName, OutputName: onnx.DefaultOutputName, FoldBN: foldBN})
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
// VerifyToleranceInt8 (or VerifyToleranceInt8PerLayer) bound for float16 or int8 exports). Agreement, the fraction of samples whose
// argmax both give, is reported but not held to a bound.
func Verify(ctx context.Context, rt model.Runtime, net *student.Net, path string, x []float32, n int) (VerifyReport, error) {
	return VerifyAs(ctx, rt, net, path, path, x, n)
}

// VerifyAs is Verify of the model at path under the name logs and errors give it: an export
// verified in its temporary file is named by the file it becomes.
func VerifyAs(ctx context.Context, rt model.Runtime, net *student.Net, path, name string, x []float32, n int) (VerifyReport, error) {
	rep := VerifyReport{N: n, Tolerance: VerifyTolerance}
	if n < 1 {
		return rep, fmt.Errorf("verify export %s: no samples", name)
	}
	g, err := onnx.ImportGraph(path)
	if err != nil {
		return rep, fmt.Errorf("verify export %s: %w", name, err)
	}
	rep.FP16, rep.Int8 = g.FP16, g.Int8
	want, err := eval.Forward(ctx, net, x, n, forwardRows)
	if err != nil {
		return rep, fmt.Errorf("verify export %s: student: %w", name, err)
	}
	s, err := rt.Open(path, model.Options{Output: model.OutputLogits, Name: name})
	if err != nil {
		return rep, fmt.Errorf("verify export %s: %w", name, err)
	}
	defer s.Close()
	got, err := s.Logits(ctx, x, n)
	if err != nil {
		return rep, fmt.Errorf("verify export %s: %w", name, err)
	}
	c := net.Spec().Classes
	if len(got) != n*c || len(want) != n*c {
		return rep, fmt.Errorf("verify export %s: got %d logits from onnxruntime and %d from the student, want %d", name, len(got), len(want), n*c)
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
		layers := 0
		for _, in := range g.Inits {
			if in.ChannelAxis >= 0 {
				layers++
			}
		}
		rep.Tolerance = max(VerifyToleranceInt8, float64(layers)*VerifyToleranceInt8PerLayer) * (1 + largest)
	}
	if !(rep.MaxAbsDiff <= rep.Tolerance) {
		return rep, fmt.Errorf("verify export %s: %w: max abs logit difference %.3g > %.3g (argmax agreement %.4f on %d samples)",
			name, ErrVerify, rep.MaxAbsDiff, rep.Tolerance, rep.Agreement, n)
	}
	return rep, nil
}

// Import rebuilds a student from a model Student wrote: the spec from the meta.Spec metadata, the
// weights from the initializers (float16 weights are widened to float32, int8 ones dequantised:
// scale × value, as onnxruntime's DequantizeLinear computes them). The file's nodes must be what
// Graph writes for that spec, with or without folded batchnorms; a folded batchnorm comes back as
// the identity (scale 1, shift 0, running mean 0 and a running variance v with v + eps = 1 in
// float32), its layer's weights holding the folded values, so that exporting the net again
// reproduces the file.
func Import(path string) (*student.Net, error) {
	net, _, err := importNet(path)
	return net, err
}

// importNet is Import; folded reports that the file's batchnorms were folded (and so came back as
// identities).
func importNet(path string) (net *student.Net, folded bool, err error) {
	g, err := onnx.ImportGraph(path)
	if err != nil {
		return nil, false, fmt.Errorf("import student %s: %w", path, err)
	}
	raw, ok := g.Metadata[meta.Spec]
	if !ok {
		return nil, false, fmt.Errorf("import student %s: no %q metadata (not exported by distill export)", path, meta.Spec)
	}
	spec, err := student.ParseSpec([]byte(raw), path+" metadata "+meta.Spec)
	if err != nil {
		return nil, false, fmt.Errorf("import student %s: %w", path, err)
	}
	if !slices.Equal(spec.Input, g.InputShape) || spec.Classes != g.Classes {
		return nil, false, fmt.Errorf("import student %s: spec input %v with %d classes, graph input %v with %d classes",
			path, spec.Input, spec.Classes, g.InputShape, g.Classes)
	}
	net, err = student.NewNet(spec, 0)
	if err != nil {
		return nil, false, fmt.Errorf("import student %s: %w", path, err)
	}
	// The graph must be exactly what Graph makes of the spec, weights aside, folded or not.
	var mismatch error
	for _, fold := range []bool{false, true} {
		want, err := encode(net, g.Opset, fold)
		if err != nil {
			return nil, false, fmt.Errorf("import student %s: %w", path, err)
		}
		if mismatch = sameNodes(&g.ONNXGraph, want, g.FP16); mismatch != nil {
			continue
		}
		tensors := map[string]*student.Param{}
		for _, t := range net.Tensors() {
			tensors[t.Name] = t
		}
		if fold {
			folded = unfold(net)
		}
		for i, in := range want.Inits {
			if t := tensors[in.Source]; t != nil {
				copy(t.Value, g.Inits[i].Values)
			}
		}
		return net, folded, nil
	}
	return nil, false, fmt.Errorf("import student %s: the graph does not match the spec %s in its metadata: %w", path, student.DescribeSpec(spec), mismatch)
}

// sameNodes reports how got differs from the nodes and initializers want, weights' values aside;
// fp16 says that got's values were stored as float16 (its constants rounded so).
func sameNodes(got, want *nn.ONNXGraph, fp16 bool) error {
	if len(got.Nodes) != len(want.Nodes) {
		return fmt.Errorf("%d nodes, the spec gives %d", len(got.Nodes), len(want.Nodes))
	}
	for i, w := range want.Nodes {
		n := got.Nodes[i]
		if n.Op != w.Op || n.Name != w.Name || !slices.Equal(n.Inputs, w.Inputs) || !slices.Equal(n.Outputs, w.Outputs) ||
			!slices.EqualFunc(n.Attrs, w.Attrs, func(a, b nn.ONNXAttr) bool {
				return a.Name == b.Name && a.Kind == b.Kind && a.Int == b.Int && slices.Equal(a.Ints, b.Ints) && a.F == b.F && a.S == b.S
			}) {
			return fmt.Errorf("node %d %q (%s %v -> %v) is not the spec's %q (%s %v -> %v)", i, n.Name, n.Op, n.Inputs, n.Outputs, w.Name, w.Op, w.Inputs, w.Outputs)
		}
	}
	if len(got.Inits) != len(want.Inits) {
		return fmt.Errorf("%d initializers, the spec gives %d", len(got.Inits), len(want.Inits))
	}
	for i, w := range want.Inits {
		in := got.Inits[i]
		if in.Name != w.Name || !slices.Equal(in.Dims, w.Dims) {
			return fmt.Errorf("initializer %q %v is not the spec's %q %v", in.Name, in.Dims, w.Name, w.Dims)
		}
		if w.Source == "" && !slices.EqualFunc(in.Values, w.Values, func(a, b float32) bool {
			return a == b || (fp16 && a == float16.Fromfloat32(b).Float32())
		}) {
			return fmt.Errorf("constant %q does not hold the spec's values", in.Name)
		}
	}
	return nil
}

// unfold sets every batchnorm that a folded export folds to the identity and reports whether
// there was one.
func unfold(net *student.Net) bool {
	g, err := net.Spec().Graph()
	if err != nil {
		return false
	}
	found := false
	tensors := map[string]*student.Param{}
	for _, t := range net.Tensors() {
		tensors[t.Name] = t
	}
	for _, n := range g.Nodes {
		if !nn.Folded(g, n.Index) {
			continue
		}
		var vals [][]float32
		for _, s := range n.Tensors {
			vals = append(vals, tensors[nn.TensorName(n.Index, s.Name)].Value)
		}
		nn.IdentityAffine(n, vals)
		found = true
	}
	return found
}

// ImportParams reads the weights of a model Student wrote (with its batchnorms not folded), for a network built from
// spec (`distill train --init-from`): every parameter of student.NewNet(spec) must be present in the
// model with the same shape. The model's own spec may differ in what carries no weights (dropout
// rates, the name). It returns the values by parameter name ("layers.<i>.weight", ...), ready for
// (*student.Net).LoadParams.
func ImportParams(path string, spec *student.Spec) (map[string][]float32, error) {
	src, folded, err := importNet(path)
	if err != nil {
		return nil, err
	}
	if folded {
		src.Close()
		// The batchnorms' scales, shifts and statistics are in the weights before them: training
		// mode would normalise those afresh, which is not the network that was exported.
		return nil, fmt.Errorf("import student %s: its batchnorms were folded into the layers before them at export, so their own parameters and statistics are lost: export the checkpoint again with 'distill export --fold-bn=false' to start training from it", path)
	}
	defer src.Close()
	dst, err := student.NewNet(spec, 0)
	if err != nil {
		return nil, fmt.Errorf("import student %s: %w", path, err)
	}
	defer dst.Close()
	have := map[string]*student.Param{}
	for _, p := range src.Tensors() {
		have[p.Name] = p
	}
	out := make(map[string][]float32, len(dst.Tensors()))
	for _, p := range dst.Tensors() {
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

// forwardRows is the number of samples of each student forward pass of Verify: the pass cannot be
// stopped inside, so a done ctx is seen at least every forwardRows samples (a fraction of a
// second even for the ResNet students), and its graph stays small.
const forwardRows = 256
