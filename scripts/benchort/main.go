package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/distillgo/distill/internal/nn"
	"github.com/distillgo/distill/onnx"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchort make-teacher|run [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "make-teacher":
		err = makeTeacher(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchort:", err)
		os.Exit(1)
	}
}

func makeTeacher(args []string) error {
	fs := flag.NewFlagSet("make-teacher", flag.ContinueOnError)
	out := fs.String("out", "", "output ONNX file")
	sizesFlag := fs.String("sizes", "784,1200,1200,10", "layer sizes")
	seed := fs.Uint64("seed", 1, "PCG seed of the weights")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("make-teacher: -out is required")
	}
	var sizes []int
	for _, s := range strings.Split(*sizesFlag, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v <= 0 {
			return fmt.Errorf("make-teacher: bad size %q", s)
		}
		sizes = append(sizes, v)
	}
	rng := rand.New(rand.NewPCG(*seed, 0x6d6c70))
	spec := &nn.Spec{Input: []int{sizes[0]}, Classes: sizes[len(sizes)-1]}
	tensors := map[string][]float32{}
	for l := 0; l+1 < len(sizes); l++ {
		in, o := sizes[l], sizes[l+1]
		std := math.Sqrt(2 / float64(in)) // He-normal, so activations keep their scale through ReLUs
		w := make([]float32, in*o)
		for i := range w {
			w[i] = float32(rng.NormFloat64() * std)
		}
		b := make([]float32, o)
		for i := range b {
			b[i] = float32(rng.Float64()*0.2 - 0.1)
		}
		i := len(spec.Layers)
		spec.Layers = append(spec.Layers, nn.Layer{Type: "dense", Units: o})
		tensors[nn.TensorName(i, "weight")], tensors[nn.TensorName(i, "bias")] = w, b
		if l+2 < len(sizes) {
			spec.Layers = append(spec.Layers, nn.Layer{Type: "relu"})
		}
	}
	og, err := nn.EncodeSpec(spec, tensors, nn.EncodeOptions{})
	if err != nil {
		return fmt.Errorf("make-teacher: %w", err)
	}
	return onnx.Export(*out, onnx.ExportGraph{ONNXGraph: *og,
		Metadata: map[string]string{"description": "random-weight MLP for scripts/bench-targets.sh", "sizes": *sizesFlag}})
}

// readIDXImages reads an IDX uint8 file (raw or gzip) and returns n, the per-sample size and the
// values.
func readIDXImages(path string) (int, int, []uint8, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, nil, err
	}
	if len(raw) > 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return 0, 0, nil, fmt.Errorf("read idx %s: %w", path, err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			return 0, 0, nil, fmt.Errorf("read idx %s: %w", path, err)
		}
	}
	if len(raw) < 4 || raw[2] != 0x08 {
		return 0, 0, nil, fmt.Errorf("read idx %s: not a uint8 IDX file", path)
	}
	nd := int(raw[3])
	if len(raw) < 4+4*nd {
		return 0, 0, nil, fmt.Errorf("read idx %s: truncated header", path)
	}
	n, size := int(binary.BigEndian.Uint32(raw[4:])), 1
	for i := 1; i < nd; i++ {
		size *= int(binary.BigEndian.Uint32(raw[4+4*i:]))
	}
	data := raw[4+4*nd:]
	if len(data) != n*size {
		return 0, 0, nil, fmt.Errorf("read idx %s: %d bytes of data, want %d", path, len(data), n*size)
	}
	return n, size, data, nil
}

// runOptions are the flags of the run subcommand.
type runOptions struct {
	model, data, lib     string
	batch, threads, reps int
}

func parseRun(args []string) (runOptions, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var o runOptions
	fs.StringVar(&o.model, "model", "", "ONNX model")
	fs.StringVar(&o.data, "data", "", "IDX images")
	fs.IntVar(&o.batch, "batch", 1024, "samples per run")
	fs.IntVar(&o.threads, "threads", 0, "intra-op threads (0: onnxruntime's default)")
	fs.IntVar(&o.reps, "reps", 1, "passes over the data; the best is reported")
	fs.StringVar(&o.lib, "ort-lib", "", "onnxruntime library (default: as distill finds it)")
	err := fs.Parse(args)
	return o, err
}

// run times passes of the images through one bare onnxruntime session and prints the best as
// JSON, with the set-up time and a checksum of the logits.
func run(args []string) error {
	o, err := parseRun(args)
	if err != nil {
		return err
	}
	start := time.Now()
	n, size, pix, err := readIDXImages(o.data)
	if err != nil {
		return err
	}
	x := make([]float32, len(pix))
	for i, p := range pix {
		x[i] = float32(p) / 255
	}
	info, err := onnx.ReadModelInfo(o.model)
	if err != nil {
		return err
	}
	path, _, err := onnx.FindLibrary(o.lib, false)
	if err != nil {
		return err
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(); err != nil {
		return err
	}
	defer ort.DestroyEnvironment()
	sess, err := newSession(o.model, info, o.threads)
	if err != nil {
		return err
	}
	defer sess.Destroy()
	loop := &batchLoop{sess: sess, size: size, classes: int(info.Outputs[0].Shape[1]), pairs: map[int]tensorPair{}}
	logits := make([]float32, n*loop.classes)
	setup := time.Since(start)
	best := time.Duration(math.MaxInt64)
	for rep := 0; rep < o.reps; rep++ {
		t0 := time.Now()
		if err := loop.pass(x, n, o.batch, logits); err != nil {
			return err
		}
		best = min(best, time.Since(t0))
	}
	var sum float64
	for _, v := range logits {
		sum += float64(v)
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"n": n, "batch": o.batch, "loop_s": best.Seconds(), "setup_s": setup.Seconds(),
		"samples_per_s": float64(n) / best.Seconds(), "logit_sum": sum,
	})
}

// newSession opens an onnxruntime session on model's first input and output, with threads
// intra-op threads when it is > 0.
func newSession(model string, info *onnx.ModelInfo, threads int) (*ort.DynamicAdvancedSession, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	if threads > 0 {
		if err := so.SetIntraOpNumThreads(threads); err != nil {
			return nil, err
		}
	}
	return ort.NewDynamicAdvancedSession(model, []string{info.Inputs[0].Name}, []string{info.Outputs[0].Name}, so)
}

// tensorPair is the input and output tensor of runs of one batch size.
type tensorPair struct{ in, out *ort.Tensor[float32] }

// batchLoop feeds samples of size values through sess, keeping one tensorPair per batch size.
type batchLoop struct {
	sess          *ort.DynamicAdvancedSession
	size, classes int
	pairs         map[int]tensorPair
}

// tensors returns the pair for runs of r rows, allocated on first use.
func (b *batchLoop) tensors(r int) (tensorPair, error) {
	if p, ok := b.pairs[r]; ok {
		return p, nil
	}
	in, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(r), int64(b.size)))
	if err != nil {
		return tensorPair{}, err
	}
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(r), int64(b.classes)))
	if err != nil {
		return tensorPair{}, err
	}
	b.pairs[r] = tensorPair{in, out}
	return b.pairs[r], nil
}

// pass runs the n samples of x through the session in batches of batch and writes their logits.
func (b *batchLoop) pass(x []float32, n, batch int, logits []float32) error {
	for s := 0; s < n; s += batch {
		r := min(batch, n-s)
		p, err := b.tensors(r)
		if err != nil {
			return err
		}
		copy(p.in.GetData(), x[s*b.size:(s+r)*b.size])
		if err := b.sess.Run([]ort.Value{p.in}, []ort.Value{p.out}); err != nil {
			return err
		}
		copy(logits[s*b.classes:], p.out.GetData())
	}
	return nil
}
