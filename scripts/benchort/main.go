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
	g := onnx.ExportGraph{InputShape: []int{sizes[0]}, Classes: sizes[len(sizes)-1],
		Metadata: map[string]string{"description": "random-weight MLP for scripts/bench-targets.sh", "sizes": *sizesFlag}}
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
		g.Layers = append(g.Layers, onnx.Layer{Op: "Gemm", Weight: w, Bias: b, WeightShape: []int{in, o}})
		if l+2 < len(sizes) {
			g.Layers = append(g.Layers, onnx.Layer{Op: "Relu"})
		}
	}
	return onnx.Export(*out, g)
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

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	model := fs.String("model", "", "ONNX model")
	dataPath := fs.String("data", "", "IDX images")
	batch := fs.Int("batch", 1024, "samples per run")
	threads := fs.Int("threads", 0, "intra-op threads (0: onnxruntime's default)")
	reps := fs.Int("reps", 1, "passes over the data; the best is reported")
	lib := fs.String("ort-lib", "", "onnxruntime library (default: as distill finds it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	start := time.Now()
	n, size, pix, err := readIDXImages(*dataPath)
	if err != nil {
		return err
	}
	x := make([]float32, len(pix))
	for i, p := range pix {
		x[i] = float32(p) / 255
	}
	info, err := onnx.ReadModelInfo(*model)
	if err != nil {
		return err
	}
	path, _, err := onnx.FindLibrary(*lib, false)
	if err != nil {
		return err
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(); err != nil {
		return err
	}
	defer ort.DestroyEnvironment()
	so, err := ort.NewSessionOptions()
	if err != nil {
		return err
	}
	if *threads > 0 {
		if err := so.SetIntraOpNumThreads(*threads); err != nil {
			return err
		}
	}
	sess, err := ort.NewDynamicAdvancedSession(*model, []string{info.Inputs[0].Name}, []string{info.Outputs[0].Name}, so)
	if err != nil {
		return err
	}
	defer sess.Destroy()
	classes := int(info.Outputs[0].Shape[1])
	type pair struct{ in, out *ort.Tensor[float32] }
	pairs := map[int]pair{}
	get := func(r int) (pair, error) {
		if p, ok := pairs[r]; ok {
			return p, nil
		}
		in, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(r), int64(size)))
		if err != nil {
			return pair{}, err
		}
		out, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(r), int64(classes)))
		if err != nil {
			return pair{}, err
		}
		pairs[r] = pair{in, out}
		return pairs[r], nil
	}
	logits := make([]float32, n*classes)
	setup := time.Since(start)
	best := time.Duration(math.MaxInt64)
	for rep := 0; rep < *reps; rep++ {
		t0 := time.Now()
		for s := 0; s < n; s += *batch {
			r := min(*batch, n-s)
			p, err := get(r)
			if err != nil {
				return err
			}
			copy(p.in.GetData(), x[s*size:(s+r)*size])
			if err := sess.Run([]ort.Value{p.in}, []ort.Value{p.out}); err != nil {
				return err
			}
			copy(logits[s*classes:], p.out.GetData())
		}
		best = min(best, time.Since(t0))
	}
	var sum float64
	for _, v := range logits {
		sum += float64(v)
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"n": n, "batch": *batch, "loop_s": best.Seconds(), "setup_s": setup.Seconds(),
		"samples_per_s": float64(n) / best.Seconds(), "logit_sum": sum,
	})
}
