package onnx

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strconv"
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
	Batch   int    // samples per run for models with a dynamic batch axis; 0 means DefaultBatch on CPU, DefaultBatchCUDA on CUDA. A fixed batch axis wins.
	Output  string // what the model outputs: "auto" (default when empty), "logits", "probs" or "logprobs"
	// OutputName names the output that holds the class scores. Empty (the default) takes the
	// only output that can: a float tensor [N, classes] or a ZipMap (see Open); a model with
	// several such outputs needs it. The other outputs are neither computed nor fetched.
	OutputName string
	// InputShape is the per-sample input shape (without the batch axis) of a model with one
	// float32 input. It is needed only for such models that leave non-batch axes dynamic, and
	// must agree with the model's fixed axes; other models refuse it (LogitsInputs is given the
	// shape of each input).
	InputShape []int
	// NoSpin stops onnxruntime's intra-op threads from spinning while they wait for work. Spinning
	// shortens each run a little when onnxruntime has the cores to itself (distill targets), but
	// a teacher that runs between other work (the online teacher of distill train) would burn the
	// cores that work needs.
	NoSpin bool
	// NoCPUFallback makes Open on CUDA fail when onnxruntime would run any node of the model on
	// the CPU (session.disable_cpu_ep_fallback), so that a check knows the work ran on the GPU.
	// By default (false) onnxruntime runs the nodes the CUDA provider lacks on the CPU.
	NoCPUFallback bool
	// Features names tensors inside the model (outputs of nodes of its graph) that LogitsFeatures
	// returns beside the logits; nil (the default) fetches none. Open adds them to the graph's
	// outputs in a copy of the model in memory (as ExposeTensors does) and runs that copy. They are for a
	// model with one float32 input, and each must be a float tensor (float32, float16, bfloat16 or
	// float64) whose first axis is the batch.
	Features []string
	// Name is what logs and errors call the model; "" (the default) is its path. A model opened
	// from a temporary file (an export being verified) is named by the file it will become.
	Name string
}

// DefaultBatch is the batch size on CPU when Options.Batch is 0: large enough for onnxruntime's
// GEMMs to reach full speed on a 784-1200-1200-10 MLP, small enough to stay in cache-sized memory.
const DefaultBatch = 256

// DefaultBatchCUDA is the batch size on CUDA when Options.Batch is 0. Each run pays a fixed cost
// (launching the kernels, copying the batch in and the scores out, synchronising), which a GPU
// amortises only over thousands of rows; 8192 rows of 784 float32 pixels are 25 MiB.
const DefaultBatchCUDA = 8192

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

// ErrClosed is returned (wrapped) by Logits and LogitsInputs after Close.
var ErrClosed = errors.New("session closed")

// Session runs one ONNX classifier under onnxruntime. It is safe for use by one goroutine at a
// time; calls are serialised by a mutex.
type Session struct {
	path       string
	name       string // what logs and errors call the model: Options.Name, else path
	opts       Options
	info       *ModelInfo
	inputs     []model.InputInfo // the model's inputs as LogitsInputs feeds them
	single     bool              // the model has one float32 input, which Logits feeds
	inShape    []int64           // the (first) input's shape, -1 for dynamic axes
	sample     []int64           // per-sample shape Logits feeds (the first input's, -1 for dynamic axes, when !single)
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
	xfeed      *feed       // the feed of Logits, kept from call to call
	feats      []feature   // the tensors fetched beside the scores (Options.Features), in that order
	data       []byte      // while Open runs: the model with the features added to its outputs (nil without features)

	mu         sync.Mutex
	sess       *ort.DynamicAdvancedSession
	thread     *osThread // the OS thread of every native call of a CUDA session; nil on CPU
	full, tail *batchTensors
}

// Open loads the classifier at modelPath. It checks the model's inputs (each a tensor of
// float32, float16, float64, int64, int32, int8, uint8 or bool with its batch axis first, the
// same for all inputs where fixed) and that it has an output that holds the class scores
// (Options.OutputName, or the only output that can: a float32, float16, bfloat16 or float64
// tensor [N, classes], or a scikit-learn ZipMap seq(map(int64|string, float)) of
// probabilities), opens an onnxruntime session on the requested device that computes only that
// output, and runs one batch of zeros to learn the class count (and a ZipMap's class labels) and
// to make sure the device works; a dynamic non-batch axis of a model that Logits does not feed is
// given size 1 in that run. If Init has not been called, Open finds and loads the library itself.
//
// A model with one float32 input is fed by Logits (and by LogitsInputs); its non-batch axes must
// be fixed by the model or by Options.InputShape. Any other model (several inputs, or one of
// another element type) is fed by name through LogitsInputs, each input with its own per-sample
// shape, dynamic axes included.
//
// With Options.Features the session runs a copy of the model, made in memory, whose graph has
// the features as outputs too (as ExposeTensors adds them; the file is not changed and Describe reports
// the file's sha256), and the probing run, of two samples where the batch is dynamic, also checks
// that each feature is a float tensor with the batch as its first axis and learns its per-sample
// shape (FeatureShapes).
//
// Errors name the file. An OutputName that is not an output, or that is needed because several
// outputs could hold the class scores, is an *option.Error (package internal/option) for
// OutputName, with Scope "onnx", listing the outputs; an InputShape given for a model that is
// not fed by Logits is one for InputShape. A feature that is not a node output (wrapping
// ErrNoTensor, with the nearest names), not a float tensor with a batch axis, named twice, or
// asked of a model that Logits does not feed is one for Features.
func Open(modelPath string, opts Options) (*Session, error) {
	opts = opts.withDefaults()
	name := cmp.Or(opts.Name, modelPath)
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("open model %s: %w", name, err)
	}
	data, info, err := readModel(modelPath)
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	s := &Session{path: modelPath, name: name, opts: opts, info: info, kind: opts.Output}
	if err := s.checkModel(); err != nil {
		return nil, openError(name, err)
	}
	if err := ensureInit(opts.Device); err != nil {
		return nil, fmt.Errorf("open model %s: %w", name, err)
	}
	if s.data, err = s.exposeFeatures(data); err != nil {
		return nil, openError(name, err)
	}
	defer func() { s.data = nil }() // the rewritten model is needed only to create the session

	switch opts.Device {
	case "cpu":
		err = s.start(false)
	case "cuda":
		err = s.start(true)
	case "auto":
		if err = s.start(true); err != nil {
			slog.Warn("device auto: CUDA unavailable, running the model on CPU", "model", name, "reason", err)
			err = s.start(false)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open model %s: %w", name, err)
	}
	attrs := []any{"model", name, "device", s.device, "input", info.Inputs[0].Name,
		"shape", s.inShape, "output", s.out.Name, "classes", s.classes, "rows_per_run", s.rows, "threads", opts.Threads,
		"output_kind", opts.Output}
	if !s.single {
		attrs = append(attrs, "inputs", describeInputs(info.Inputs))
	}
	if len(s.feats) > 0 {
		attrs = append(attrs, "features", s.describeFeatures())
	}
	slog.Info("model session", attrs...)
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
	case o.Threads > MaxThreads():
		return fmt.Errorf("threads %d: at most %d (4 per core on this machine's %d)", o.Threads, MaxThreads(), runtime.NumCPU())
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

// checkModel validates the model's signature and fixes its inputs, the per-sample shape Logits
// feeds, the run size and the output of the class scores.
func (s *Session) checkModel() error {
	if err := s.checkInputs(); err != nil {
		return err
	}
	out := s.info.Outputs
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

// start creates the onnxruntime session on CPU or CUDA and probes it with one run of zeros. A
// CUDA session makes this and every later native call on its own OS thread (see osThread).
func (s *Session) start(cuda bool) error {
	var thread *osThread
	device := "cpu"
	if cuda {
		thread, device = newOSThread(), "cuda:"+strconv.Itoa(s.opts.GPUID)
	}
	var sess *ort.DynamicAdvancedSession
	var classes int
	var zip *zipColumns
	err := thread.do(func() error {
		var err error
		if sess, err = s.newSession(cuda); err != nil {
			return err
		}
		if classes, zip, err = s.probe(sess); err != nil {
			err = fmt.Errorf("run one batch on %s: %w", device, err)
		} else if o := s.out.Shape; len(o) == 2 && o[1] > 0 && o[1] != int64(classes) {
			err = fmt.Errorf("output %q declares %d classes but produced %d", s.out.Name, o[1], classes)
		}
		if err != nil {
			sess.Destroy()
		}
		return err
	})
	if err != nil {
		thread.stop()
		if cuda && !errors.Is(err, ErrCUDAUnavailable) {
			err = fmt.Errorf("%w on %s (%s): %v", ErrCUDAUnavailable, device, cudaHint, err)
		}
		return err
	}
	s.sess, s.thread, s.device, s.classes, s.zip = sess, thread, device, classes, zip
	s.rows = s.runRows(cuda)
	return nil
}

// runRows returns the rows of a run: the fixed batch, else Options.Batch, else the device's default.
func (s *Session) runRows(cuda bool) int {
	switch {
	case s.fixed > 0:
		return s.fixed
	case s.opts.Batch > 0:
		return s.opts.Batch
	case cuda:
		return DefaultBatchCUDA
	}
	return DefaultBatch
}

// newSession creates the onnxruntime session of the model, on CUDA when cuda is set.
func (s *Session) newSession(cuda bool) (*ort.DynamicAdvancedSession, error) {
	so, err := s.sessionOptions(cuda)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	// Naming only the scores' output (and the features) makes onnxruntime compute only what it
	// needs (a label output beside a ZipMap is neither computed nor fetched).
	names := make([]string, len(s.inputs))
	for i, v := range s.inputs {
		names[i] = v.Name
	}
	sess, err := s.newORTSession(names, s.outputNames(), so)
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	return sess, nil
}

// sessionOptions returns the session options of Options, with the CUDA provider when cuda is set.
func (s *Session) sessionOptions(cuda bool) (*ort.SessionOptions, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	entries := map[string]string{}
	if s.opts.NoSpin {
		entries["session.intra_op.allow_spinning"] = "0" // intra-op threads do not spin
	}
	if _, student := s.info.Metadata[SpecKey]; student {
		// A student distill exported quantises its weights only (int8 with DequantizeLinear):
		// folded into float32 weights at load it runs at float speed, where onnxruntime's
		// default fusion into MatMulNBits also rounds the activations and ran 2-4x slower here.
		// A float32 student has no such nodes, so the setting changes nothing for it.
		entries["session.disable_quant_qdq"] = "1"
	}
	if cuda && s.opts.NoCPUFallback {
		entries["session.disable_cpu_ep_fallback"] = "1"
	}
	if s.opts.Threads > 0 {
		if err = so.SetIntraOpNumThreads(s.opts.Threads); err != nil {
			err = fmt.Errorf("set threads %d: %w", s.opts.Threads, err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(entries)) {
		if err == nil {
			if err = so.AddSessionConfigEntry(k, entries[k]); err != nil {
				err = fmt.Errorf("session option %s = %s: %w", k, entries[k], err)
			}
		}
	}
	if err == nil && cuda {
		err = appendCUDA(so, s.opts.GPUID)
	}
	if err != nil {
		so.Destroy()
		return nil, err
	}
	return so, nil
}

// InputShape returns the model's input shape, with -1 for dynamic axes (the batch axis is
// first); for a model of several inputs, the first input's.
func (s *Session) InputShape() []int64 { return append([]int64(nil), s.inShape...) }

// SampleShape returns the per-sample input shape that Logits expects (the input shape without
// its batch axis, with Options.InputShape filled in). For a model that Logits does not feed it is
// the first input's, with -1 for dynamic axes.
func (s *Session) SampleShape() []int64 { return append([]int64(nil), s.sample...) }

// Inputs describes the model's inputs in its order, as LogitsInputs feeds them (it implements
// model.MultiInput): name, element type and per-sample shape (-1 for a dynamic axis; for a model
// with one float32 input, with Options.InputShape filled in).
func (s *Session) Inputs() []model.InputInfo {
	out := make([]model.InputInfo, len(s.inputs))
	for i, v := range s.inputs {
		out[i] = model.InputInfo{Name: v.Name, DType: v.DType, SampleShape: slices.Clone(v.SampleShape)}
	}
	return out
}

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
	sess := s.sess
	err := s.thread.do(sess.Destroy)
	s.thread.stop()
	s.sess, s.thread = nil, nil
	if err != nil {
		return fmt.Errorf("close model %s: %w", s.name, err)
	}
	return nil
}
