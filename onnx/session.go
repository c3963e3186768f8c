package onnx

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/option"
	ort "github.com/yalue/onnxruntime_go"
)

// Options configures a Session. The zero value runs on CPU with onnxruntime's default thread
// count, batches of DefaultBatch and output kind "auto".
type Options struct {
	Device  string // "cpu" (default when empty), "cuda" (fail if the CUDA provider cannot load) or "auto" (CUDA, else CPU)
	GPUID   int    // CUDA device ordinal; default 0
	Threads int    // onnxruntime intra-op threads; 0 lets onnxruntime choose (one per physical core)
	Batch   int    // samples per run for models with a dynamic batch axis; 0 means DefaultBatch. A fixed batch axis wins.
	Output  string // what the model outputs: "auto" (default when empty), "logits", "probs" or "logprobs"
	// OutputName names the output that holds the class scores. Empty (the default) takes the
	// only output that can: a float tensor [N, classes] or a ZipMap (see Open); a model with
	// several such outputs needs it. The other outputs are neither computed nor fetched.
	OutputName string
	// InputShape is the per-sample input shape (without the batch axis). It is needed only for
	// models that leave non-batch axes dynamic, and must agree with the model's fixed axes.
	InputShape []int
	// NoSpin stops onnxruntime's intra-op threads from spinning while they wait for work. Spinning
	// shortens each run a little when onnxruntime has the cores to itself (distill targets), but
	// a teacher that runs between other work (the online teacher of distill train) would burn the
	// cores that work needs.
	NoSpin bool
}

// DefaultBatch is the batch size used when Options.Batch is 0: large enough for onnxruntime's
// GEMMs to reach full speed on a 784-1200-1200-10 MLP, small enough to stay in cache-sized memory.
const DefaultBatch = 256

// Output kinds reported by Session.OutputKind.
const (
	OutputLogits   = model.OutputLogits
	OutputProbs    = model.OutputProbs
	OutputLogProbs = model.OutputLogProbs
	OutputAuto     = model.OutputAuto
)

// ErrCUDAUnavailable is returned (wrapped) by Open with device "cuda" when the CUDA execution
// provider cannot be loaded or run.
var ErrCUDAUnavailable = errors.New("CUDA execution provider unavailable")

// ErrClosed is returned by Logits after Close.
var ErrClosed = errors.New("session closed")

// Session runs one ONNX classifier under onnxruntime. It is safe for use by one goroutine at a
// time; calls are serialised by a mutex.
type Session struct {
	path       string
	opts       Options
	info       *ModelInfo
	inShape    []int64 // the model's input shape, -1 for dynamic axes
	sample     []int64 // per-sample shape used
	sampleSize int
	fixed      int // the model's fixed batch size, 0 when dynamic
	rows       int // rows per run
	classes    int
	device     string
	kind       string      // output kind in use; "auto" until the first batch is seen
	out        ValueInfo   // the output that holds the class scores
	outType    scoreType   // how out is read
	zip        *zipColumns // the class labels of a ZipMap output; nil for tensors
	buf        []float32   // scores converted from a type other than float32
	saturated  bool        // the warning of saturated probabilities was logged

	mu         sync.Mutex
	sess       *ort.DynamicAdvancedSession
	full, tail *batchTensors
}

// Open loads the classifier at modelPath. It checks that the model has exactly one float32
// input (batch axis first) and an output that holds the class scores (Options.OutputName, or the
// only output that can: a float32, float16, bfloat16 or float64 tensor [N, classes], or a
// scikit-learn ZipMap seq(map(int64|string, float)) of probabilities), opens an onnxruntime
// session on the requested device that computes only that output, and runs one batch of zeros to
// learn the class count (and a ZipMap's class labels) and to make sure the device works. If Init
// has not been called, Open finds and loads the library itself.
//
// Errors name the file. An OutputName that is not an output, or that is needed because several
// outputs could hold the class scores, is an *option.Error (package internal/option) for
// OutputName, with Scope "onnx", listing the outputs.
func Open(modelPath string, opts Options) (*Session, error) {
	opts = opts.withDefaults()
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("open model %s: %w", modelPath, err)
	}
	info, err := ReadModelInfo(modelPath)
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	s := &Session{path: modelPath, opts: opts, info: info, kind: opts.Output}
	if err := s.checkModel(); err != nil {
		return nil, openError(modelPath, err)
	}
	if err := ensureInit(opts.Device); err != nil {
		return nil, fmt.Errorf("open model %s: %w", modelPath, err)
	}

	switch opts.Device {
	case "cpu":
		err = s.start(false)
	case "cuda":
		err = s.start(true)
	case "auto":
		if err = s.start(true); err != nil {
			slog.Warn("CUDA unavailable, running the model on CPU", "model", modelPath, "reason", err)
			err = s.start(false)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open model %s: %w", modelPath, err)
	}
	slog.Info("model session", "model", modelPath, "device", s.device, "input", info.Inputs[0].Name,
		"shape", s.inShape, "output", s.out.Name, "classes", s.classes, "rows_per_run", s.rows, "threads", opts.Threads,
		"output_kind", opts.Output)
	return s, nil
}

// withDefaults returns o with its zero fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.Device == "" {
		o.Device = "cpu"
	}
	if o.Output == "" {
		o.Output = OutputAuto
	}
	if o.Batch == 0 {
		o.Batch = DefaultBatch
	}
	return o
}

// check reports a field of o (with its defaults set) that is out of range.
func (o Options) check() error {
	switch {
	case o.Device != "cpu" && o.Device != "cuda" && o.Device != "auto":
		return fmt.Errorf("device %q: want cpu, cuda or auto", o.Device)
	case o.Output != OutputAuto && o.Output != OutputLogits && o.Output != OutputProbs && o.Output != OutputLogProbs:
		return fmt.Errorf("output %q: want auto, logits, probs or logprobs", o.Output)
	case o.Batch < 0:
		return fmt.Errorf("batch %d: must be positive", o.Batch)
	case o.Threads < 0:
		return fmt.Errorf("threads %d: must be >= 0", o.Threads)
	case o.GPUID < 0:
		return fmt.Errorf("gpu id %d: must be >= 0", o.GPUID)
	}
	return nil
}

// openError names the model in err, an error of opening it; an *option.Error stays one, with the
// model named in its Err, so that the command line can name the option's flag.
func openError(path string, err error) error {
	var oe *option.Error
	if errors.As(err, &oe) {
		return &option.Error{Scope: oe.Scope, Option: oe.Option, Err: fmt.Errorf("open model %s: %w", path, oe.Err)}
	}
	return fmt.Errorf("open model %s: %w", path, err)
}

// ensureInit loads the library if Init has not been called, preferring the CUDA build for
// devices cuda and auto.
func ensureInit(device string) error {
	if _, ok := Initialized(); ok {
		return nil
	}
	path, _, err := FindLibrary("", device != "cpu")
	if err != nil && device == "auto" {
		path, _, err = FindLibrary("", false)
	}
	if err != nil {
		return err
	}
	return Init(path)
}

// checkModel validates the model's signature and fixes the per-sample shape and run size.
func (s *Session) checkModel() error {
	in, out := s.info.Inputs, s.info.Outputs
	if len(in) != 1 {
		names := make([]string, len(in))
		for i, v := range in {
			names[i] = v.Name
		}
		return fmt.Errorf("model has %d inputs [%s]; a teacher needs exactly one float32 input", len(in), strings.Join(names, ", "))
	}
	if in[0].ElemType != "float32" {
		return fmt.Errorf("input %q is %s; a teacher needs a float32 input", in[0].Name, orUnknown(in[0].ElemType))
	}
	i, err := chooseOutput(out, s.opts.OutputName)
	if err != nil {
		return err
	}
	s.out = out[i]
	s.outType, _ = scoreTypeOf(s.out)
	// onnxruntime_go v1.27.0 cannot return a 16-bit float output that onnxruntime allocated (it
	// copies one byte per value), so such an output is read into a tensor of the declared shape.
	if sh := s.out.Shape; (s.outType == scoreFloat16 || s.outType == scoreBFloat16) && (len(sh) != 2 || sh[1] <= 0) {
		return fmt.Errorf("output %s: a %s output must declare its class count (shape [N, classes] with a fixed number of classes)",
			describeValue(s.out), s.out.Type)
	}
	shape := in[0].Shape
	if len(shape) < 2 {
		if len(shape) == 0 && len(s.opts.InputShape) > 0 {
			shape = append([]int64{-1}, toInt64(s.opts.InputShape)...)
		} else {
			return fmt.Errorf("input %q has shape %v; a teacher needs a batch axis and at least one more", in[0].Name, shape)
		}
	}
	s.inShape = append([]int64(nil), shape...)
	s.sample = append([]int64(nil), shape[1:]...)
	if want := s.opts.InputShape; len(want) > 0 {
		if len(want) != len(s.sample) {
			return fmt.Errorf("input shape %v given for input %q of shape %v: want %d per-sample axes", want, in[0].Name, shape, len(s.sample))
		}
		for i, d := range want {
			if d <= 0 || (s.sample[i] > 0 && s.sample[i] != int64(d)) {
				return fmt.Errorf("input shape %v given does not fit input %q of shape %v", want, in[0].Name, shape)
			}
			s.sample[i] = int64(d)
		}
	}
	s.sampleSize = 1
	for _, d := range s.sample {
		if d <= 0 {
			return fmt.Errorf("input %q has shape %v with a dynamic non-batch axis; give the per-sample input shape", in[0].Name, shape)
		}
		s.sampleSize *= int(d)
	}
	if shape[0] > 0 {
		s.fixed = int(shape[0])
		s.rows = s.fixed
	} else {
		s.rows = s.opts.Batch
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "of unknown type"
	}
	return s
}

func toInt64(v []int) []int64 {
	out := make([]int64, len(v))
	for i, d := range v {
		out[i] = int64(d)
	}
	return out
}

// start creates the onnxruntime session on CPU or CUDA and probes it with one run of zeros.
func (s *Session) start(cuda bool) error {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return fmt.Errorf("session options: %w", err)
	}
	defer so.Destroy()
	if s.opts.Threads > 0 {
		if err := so.SetIntraOpNumThreads(s.opts.Threads); err != nil {
			return fmt.Errorf("set threads %d: %w", s.opts.Threads, err)
		}
	}
	if s.opts.NoSpin {
		if err := so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
			return fmt.Errorf("turn off spinning: %w", err)
		}
	}
	device := "cpu"
	if cuda {
		device = "cuda:" + strconv.Itoa(s.opts.GPUID)
		if err := appendCUDA(so, s.opts.GPUID); err != nil {
			return err
		}
	}
	// Naming only the scores' output makes onnxruntime compute only what it needs (a label
	// output beside a ZipMap is neither computed nor fetched).
	sess, err := ort.NewDynamicAdvancedSession(s.path, []string{s.info.Inputs[0].Name}, []string{s.out.Name}, so)
	if err != nil {
		if cuda {
			return fmt.Errorf("%w: create session on %s (needs the CUDA build of onnxruntime from scripts/setup.sh --cuda, CUDA 13 and cuDNN 9): %v", ErrCUDAUnavailable, device, err)
		}
		return fmt.Errorf("create session: %w", err)
	}
	classes, zip, err := s.probe(sess)
	if err != nil {
		sess.Destroy()
		if cuda {
			return fmt.Errorf("%w: run one batch on %s: %v", ErrCUDAUnavailable, device, err)
		}
		return fmt.Errorf("run one batch on %s: %w", device, err)
	}
	if o := s.out.Shape; len(o) == 2 && o[1] > 0 && o[1] != int64(classes) {
		sess.Destroy()
		return fmt.Errorf("output %q declares %d classes but produced %d", s.out.Name, o[1], classes)
	}
	s.sess, s.device, s.classes, s.zip = sess, device, classes, zip
	return nil
}

// appendCUDA adds the CUDA execution provider for GPU gpuID to so: through the version-2 options
// where the library supports them (onnxruntime's own GPU builds), else through the version-1 call
// (CPU builds that load the CUDA provider from their directory).
func appendCUDA(so *ort.SessionOptions, gpuID int) error {
	co, err := ort.NewCUDAProviderOptions()
	if err == nil {
		defer co.Destroy()
		if err = co.Update(map[string]string{"device_id": strconv.Itoa(gpuID)}); err == nil {
			err = so.AppendExecutionProviderCUDA(co)
		}
	} else {
		slog.Debug("CUDA provider options v2 unavailable, trying v1", "reason", err)
		lib, _ := Initialized()
		if err = appendCUDAv1(lib, so, gpuID); err != nil {
			if why := cudaProviderLoadError(lib); why != "" {
				err = fmt.Errorf("%v: %s", err, why)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%w on cuda:%d (needs the CUDA build of onnxruntime from scripts/setup.sh --cuda, CUDA 13 and cuDNN 9 on the library path): %v", ErrCUDAUnavailable, gpuID, err)
	}
	return nil
}

// probeShape is the input shape of the probing run: one sample, or the fixed batch.
func (s *Session) probeShape() ort.Shape {
	n := int64(1)
	if s.fixed > 0 {
		n = int64(s.fixed)
	}
	return append(ort.Shape{n}, s.sample...)
}

// probe runs a batch of zeros through sess and returns the class count and, for a ZipMap, the
// columns of its class labels.
func (s *Session) probe(sess *ort.DynamicAdvancedSession) (int, *zipColumns, error) {
	shape := s.probeShape()
	in, err := ort.NewTensor(shape, make([]float32, shape.FlattenedSize()))
	if err != nil {
		return 0, nil, err
	}
	defer in.Destroy()
	outs := []ort.Value{nil}
	if s.outType == scoreFloat16 || s.outType == scoreBFloat16 {
		// A 16-bit output is read into a tensor of its declared shape (see checkModel).
		if outs[0], err = newScoreTensor(s.outType, int(shape[0]), int(s.out.Shape[1])); err != nil {
			return 0, nil, err
		}
	}
	if err := sess.Run([]ort.Value{in}, outs); err != nil {
		if outs[0] != nil {
			outs[0].Destroy()
		}
		return 0, nil, err
	}
	defer outs[0].Destroy()
	if s.outType.zipMap() {
		z, err := newZipColumns(outs[0], s.outType)
		if err == nil && outs[0].GetShape()[0] != shape[0] {
			err = fmt.Errorf("got %d maps for %d samples", outs[0].GetShape()[0], shape[0])
		}
		if err != nil {
			return 0, nil, fmt.Errorf("output %q: %w", s.out.Name, err)
		}
		return len(z.labels), z, nil
	}
	want := map[scoreType]ort.TensorElementDataType{scoreFloat32: ort.TensorElementDataTypeFloat,
		scoreFloat16: ort.TensorElementDataTypeFloat16, scoreBFloat16: ort.TensorElementDataTypeBFloat16,
		scoreFloat64: ort.TensorElementDataTypeDouble}[s.outType]
	if outs[0].GetONNXType() != ort.ONNXTypeTensor || ort.TensorElementDataType(outs[0].DataType()) != want {
		return 0, nil, fmt.Errorf("output %q is %s, want a %s tensor", s.out.Name, describeOrt(outs[0]), s.out.Type)
	}
	sh := outs[0].GetShape()
	if len(sh) != 2 || sh[0] != shape[0] || sh[1] <= 0 {
		return 0, nil, fmt.Errorf("output %q has shape %v for %d samples, want [%d, classes]", s.out.Name, sh, shape[0], shape[0])
	}
	return int(sh[1]), nil, nil
}

// InputShape returns the model's input shape, with -1 for dynamic axes (the batch axis is first).
func (s *Session) InputShape() []int64 { return append([]int64(nil), s.inShape...) }

// SampleShape returns the per-sample input shape that Logits expects (the input shape without
// its batch axis, with Options.InputShape filled in).
func (s *Session) SampleShape() []int64 { return append([]int64(nil), s.sample...) }

// Classes returns the number of classes: the second axis of a tensor output, or the keys of a ZipMap.
func (s *Session) Classes() int { return s.classes }

// Device returns where the session runs: "cpu" or "cuda:<id>".
func (s *Session) Device() string { return s.device }

// Info returns the model's description as read by ReadModelInfo.
func (s *Session) Info() *ModelInfo { return s.info }

// Path returns the model file's path.
func (s *Session) Path() string { return s.path }

// OutputKind returns what the model's output is taken to be: "logits", "probs" or "logprobs",
// as set in Options.Output or, for "auto", as detected on the first batch (before that, "auto").
func (s *Session) OutputKind() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kind
}

// Close releases the session and its tensors. It is safe to call more than once.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.full.destroy()
	s.tail.destroy()
	s.full, s.tail = nil, nil
	if s.sess == nil {
		return nil
	}
	err := s.sess.Destroy()
	s.sess = nil
	if err != nil {
		return fmt.Errorf("close model %s: %w", s.path, err)
	}
	return nil
}
