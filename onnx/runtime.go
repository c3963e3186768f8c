package onnx

import (
	"errors"
	"log/slog"
	"runtime"
	"slices"

	"github.com/distillgo/distill/internal/model"
)

// Runtime opens models under onnxruntime for the pipeline (it implements model.Runtime). The
// library is loaded on the first Open, from Lib (the --ort-lib flag), else $ONNXRUNTIME_LIB,
// else the copy scripts/setup.sh fetched (see FindLibrary); commands that never open a model
// never load native code.
type Runtime struct {
	// Lib is the onnxruntime library to load; empty searches as FindLibrary does.
	Lib string
	// Device is "cpu" (default when empty), "cuda", or "auto" (CUDA when it loads, else CPU).
	Device string
	// GPUID is the CUDA device ordinal (default 0).
	GPUID int
	// Threads is onnxruntime's intra-op thread count (0: onnxruntime's default, one per core).
	Threads int
}

var _ model.Runtime = (*Runtime)(nil)

// Open loads onnxruntime if needed and opens the model at path as a Session. The model it
// returns is also a model.MultiInput, fed by named inputs of any element type a Session takes,
// and a model.FeatureModel, whose features are those of o.Features.
func (r *Runtime) Open(path string, o model.Options) (model.Model, error) {
	if err := r.Init(); err != nil {
		return nil, err
	}
	s, err := Open(path, Options{Device: r.Device, GPUID: r.GPUID, Threads: r.Threads, Batch: o.Batch,
		Output: o.Output, OutputName: o.OutputName, InputShape: o.InputShape, NoSpin: o.NoSpin, Features: o.Features, Name: o.Name})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Init finds and loads the onnxruntime library once per process: the CUDA build for device cuda;
// for auto the CUDA build when there is one, else the CPU build (logging why).
func (r *Runtime) Init() error {
	if p, ok := Initialized(); ok {
		slog.Debug("onnxruntime already loaded", "path", p)
		return nil
	}
	path, searched, err := FindLibrary(r.Lib, r.Device == "cuda" || r.Device == "auto")
	if err != nil && r.Device == "auto" && errors.Is(err, ErrLibraryNotFound) {
		slog.Info("device auto: no CUDA build of onnxruntime found, using the CPU build")
		path, searched, err = FindLibrary(r.Lib, false)
	}
	slog.Debug("onnxruntime library search", "searched", searched)
	if err != nil {
		return err
	}
	return Init(path)
}

var (
	_ model.Model      = (*Session)(nil)
	_ model.MultiInput = (*Session)(nil)
)

// Describe returns what the pipeline records about the model (it implements model.Model): its
// Output is the output read for the class scores, and ClassLabels the class labels of a ZipMap
// output (nil for a tensor).
func (s *Session) Describe() model.Description {
	d := model.Description{Path: s.path, OutputKind: s.OutputKind(), Device: s.device}
	if s.info != nil {
		d.SHA256 = s.info.SHA256
		if len(s.info.Inputs) > 0 {
			d.Input = s.info.Inputs[0].Name
		}
	}
	d.Output = s.out.Name
	for _, f := range s.feats {
		d.Features = append(d.Features, f.name)
	}
	if s.zip != nil {
		d.ClassLabels = slices.Clone(s.zip.labels)
	}
	for _, v := range s.sample {
		d.SampleShape = append(d.SampleShape, int(v))
	}
	return d
}

// MaxThreads is the most intra-op threads a session may ask for: 4 per core. More threads than
// cores only contend, and onnxruntime builds a pool of whatever count it is given (100000 threads
// grow its memory for minutes before the first run).
func MaxThreads() int { return 4 * runtime.NumCPU() }
