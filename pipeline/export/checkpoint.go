package export

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/distillgo/distill/internal/atomicfile"
	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/option"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/pipeline/provenance"
	"github.com/distillgo/distill/student"
)

// DefaultVerifySamples is the number of samples `distill export` checks the exported model on
// unless told otherwise: enough to exercise every logit of a small classifier in a fraction of a
// second.
const DefaultVerifySamples = 64

// MaxRandomVerify is the most random samples Options.Verify may ask for without VerifyData (which
// bounds it by its size instead): random inputs beyond a few thousand exercise nothing more, and
// each takes the input's values twice in memory, so that --verify 1000000000 would not fit.
const MaxRandomVerify = 4096

// Options configures Checkpoint (`distill export`).
type Options struct {
	// Checkpoint is the student checkpoint to export (required).
	Checkpoint string `flag:"model"`
	// Spec, when not nil, is the architecture the checkpoint must have been trained for.
	Spec *student.Spec
	// Out is the ONNX file to write (required). It appears only once written and verified.
	Out string `flag:"out"`
	// Opset is the ai.onnx opset (0: onnx.DefaultOpset, 13).
	Opset int `flag:"opset"`
	// FP16 stores the weights as float16 (default false).
	FP16 bool `flag:"fp16"`
	// Int8 stores the dense and conv2d weights as per-output-channel symmetric int8 with float32
	// scales (onnx.ExportGraph.Int8; default false). It excludes FP16 and needs opset >= 13.
	Int8 bool `flag:"int8"`
	// KeepBN writes every batchnorm as a BatchNormalization node; by default (false) each one whose
	// input is a dense or conv2d layer read by it alone is folded into that layer's weights and
	// bias (GraphOptions.FoldBN).
	KeepBN bool
	// Verify is the number of samples the exported model is checked on, run by a model runtime,
	// against the student's own forward pass; 0 skips the check (and no runtime is needed).
	Verify int `flag:"verify"`
	// VerifyData is a data file (any dataset.Open reads: IDX, gzip IDX, NPY, NPZ, CSV or an image
	// folder, with their default options) whose first Verify samples, preprocessed as
	// the checkpoint records, are used for the check; empty means deterministic random raw values
	// in [0, scale] drawn from Seed, preprocessed the same way.
	VerifyData string `flag:"verify-data"`
	// Seed seeds the random verification inputs (default 0 is a valid seed).
	Seed uint64 `flag:"seed"`
	// BiasShifts, when set, are added to the student's output bias before it is written
	// (ShiftOutputBias), recorded as meta.BiasShift; the verification then compares the shifted
	// student with the file.
	BiasShifts []eval.BiasShift `flag:"bias-shift"`
	// AlsoVerify, when set, is a second runtime the export is checked under with the same samples
	// and bound (the pure-Go one beside onnxruntime), before the file is moved into place.
	AlsoVerify model.Runtime
}

// Result is what Checkpoint did.
type Result struct {
	// Out is the exported model's path.
	Out string
	// Spec is the student's architecture.
	Spec *student.Spec
	// Epoch is the checkpoint's number of completed epochs.
	Epoch int
	// Metadata is the model's metadata_props.
	Metadata map[string]string
	// Verify is the verification report, nil when Verify was 0.
	Verify *VerifyReport
	// VerifyAlso is the report of Options.AlsoVerify, nil without it.
	VerifyAlso *VerifyReport
	// VerifyInputs says what the model was verified on: the data file or "random".
	VerifyInputs string
	// BiasParam names the bias the shifts were added to (empty without Options.BiasShifts).
	BiasParam string
}

// Validate checks the options on their own; errors are *OptionError.
func (o Options) Validate() error {
	switch {
	case o.Checkpoint == "":
		return &OptionError{Scope: "export", Option: "Checkpoint", Err: errors.New("no checkpoint to export")}
	case o.Out == "":
		return &OptionError{Scope: "export", Option: "Out", Err: errors.New("no output file")}
	case o.Verify < 0:
		return &OptionError{Scope: "export", Option: "Verify", Err: fmt.Errorf("%d samples: must not be negative", o.Verify)}
	case o.Int8 && o.FP16:
		return &OptionError{Scope: "export", Option: "Int8", Err: errors.New("int8 and fp16 weights exclude each other")}
	case o.Opset < 0:
		return &OptionError{Scope: "export", Option: "Opset", Err: fmt.Errorf("%d must be positive", o.Opset)}
	case o.Int8 && o.Opset != 0 && o.Opset < onnx.MinOpsetInt8:
		return &OptionError{Scope: "export", Option: "Opset", Err: fmt.Errorf("%d: int8 weights need opset >= %d", o.Opset, onnx.MinOpsetInt8)}
	case o.VerifyData == "" && o.Verify > MaxRandomVerify:
		return &OptionError{Scope: "export", Option: "Verify", Err: fmt.Errorf("%d random samples: at most %d (verification data allows up to its size)", o.Verify, MaxRandomVerify)}
	case o.VerifyData != "" && o.Verify == 0:
		return &OptionError{Scope: "export", Option: "VerifyData", Err: errors.New("verification data with no samples to verify: nothing would be verified")}
	}
	return nil
}

// OptionError reports an option of Options that is wrong; the command line maps Option (a field
// name) to its flag.
type OptionError = option.Error

// Checkpoint loads a student checkpoint, exports it to ONNX with its preprocessing, class count and
// provenance in metadata_props, and (opts.Verify > 0) runs the file with rt against the student's
// forward pass (Verify); rt may be nil when Verify is 0. The model is written to a temporary file
// beside opts.Out and moved there only once verified: on any error, opts.Out is left as it was. A
// verification failure returns the result with the report and an error wrapping ErrVerify. A
// done ctx stops it between steps and within the verification, and always before the file is
// moved into place: an interrupted export returns an error wrapping ctx.Err() and leaves opts.Out
// as it was.
func Checkpoint(ctx context.Context, opts Options, rt model.Runtime) (*Result, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Verify > 0 && rt == nil {
		return nil, errors.New("export: verification needs a model runtime")
	}
	ck, err := student.LoadCheckpoint(opts.Checkpoint)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	net, err := student.NewNet(ck.Spec, 0)
	if err != nil {
		return nil, fmt.Errorf("export: %s: %w", opts.Checkpoint, err)
	}
	defer net.Close()
	if opts.Spec != nil {
		if !student.SameArchitecture(ck.Spec, opts.Spec) {
			return nil, fmt.Errorf("export: checkpoint %s was made for spec %s, not %s: %w",
				opts.Checkpoint, student.DescribeSpec(ck.Spec), student.DescribeSpec(opts.Spec), student.ErrSpecMismatch)
		}
	}
	if err := ck.Apply(net); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := interrupted(ctx, opts.Out); err != nil {
		return nil, err
	}
	pre, md, err := exportMetadata(ck)
	if err != nil {
		return nil, fmt.Errorf("export: %s: %w", opts.Checkpoint, err)
	}

	res := &Result{Out: opts.Out, Spec: ck.Spec, Epoch: ck.Epoch}
	if res.BiasParam, err = bakeBiasShifts(net, opts, md); err != nil {
		return nil, err
	}
	var x []float32
	n := opts.Verify
	if n > 0 {
		if x, n, res.VerifyInputs, err = verifyInputs(opts, ck.Spec, pre); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
	}

	if err := interrupted(ctx, opts.Out); err != nil {
		return nil, err
	}
	f, err := writeModel(net, opts, md)
	if err != nil {
		return nil, err
	}
	defer f.Abort() // a no-op after Commit; removes the file after any failure
	tmp := f.TempPath()
	info, err := onnx.ReadModelInfo(tmp)
	if err != nil {
		return nil, fmt.Errorf("export %s: read back: %w", opts.Out, err)
	}
	res.Metadata = info.Metadata
	if n > 0 {
		rep, err := VerifyAs(ctx, rt, net, tmp, opts.Out, x, n)
		if ierr := interrupted(ctx, opts.Out); ierr != nil {
			return nil, ierr
		}
		if err != nil {
			if errors.Is(err, ErrVerify) {
				res.Verify = &rep
				return res, fmt.Errorf("export %s: %w: max abs logit difference %.3g > %.3g (argmax agreement %.2f%% on %d samples); nothing written",
					opts.Out, ErrVerify, rep.MaxAbsDiff, rep.Tolerance, 100*rep.Agreement, rep.N)
			}
			return nil, fmt.Errorf("export %s: %w", opts.Out, err)
		}
		res.Verify = &rep
		if err := interrupted(ctx, opts.Out); err != nil {
			return nil, err
		}
		if opts.AlsoVerify != nil {
			also, err := VerifyAs(ctx, opts.AlsoVerify, net, tmp, opts.Out, x, n)
			if ierr := interrupted(ctx, opts.Out); ierr != nil {
				return nil, ierr
			}
			if err != nil && !errors.Is(err, ErrVerify) {
				return nil, fmt.Errorf("export %s: second runtime: %w", opts.Out, err)
			}
			res.VerifyAlso = &also
			if err != nil {
				return res, fmt.Errorf("export %s: second runtime: %w; nothing written", opts.Out, err)
			}
		}
	}
	// The last look before the rename: a signal that came during the work leaves Out as it was.
	if err := interrupted(ctx, opts.Out); err != nil {
		return nil, err
	}
	if err := f.Commit(); err != nil {
		return nil, fmt.Errorf("export %s: %w", opts.Out, err)
	}
	return res, nil
}

// interrupted returns an error wrapping ctx.Err() once ctx is done (SIGINT or SIGTERM), nil before.
func interrupted(ctx context.Context, out string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("export %s: %w; nothing written", out, err)
	}
	return nil
}

// writeModel writes net as ONNX with metadata md to a temporary file beside opts.Out.
func writeModel(net *student.Net, opts Options, md map[string]string) (*atomicfile.File, error) {
	g, err := Graph(net, GraphOptions{Opset: opts.Opset, FP16: opts.FP16, Int8: opts.Int8, Metadata: md, FoldBN: !opts.KeepBN})
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", opts.Out, err)
	}
	data, err := onnx.Encode(*g)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", opts.Out, err)
	}
	f, err := atomicfile.Create(opts.Out)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", opts.Out, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return nil, fmt.Errorf("export %s: %w", opts.Out, err)
	}
	if err := f.Sync(); err != nil {
		f.Abort()
		return nil, fmt.Errorf("export %s: %w", opts.Out, err)
	}
	return f, nil
}

// exportMetadata returns the checkpoint's preprocessing (the zero value when it records none) and
// the metadata to export: its preprocessing and provenance JSON as stored, the flat provenance
// keys, the checkpoint's sha256 and the tool.
func exportMetadata(ck *student.Checkpoint) (dataset.Preprocess, map[string]string, error) {
	var pre dataset.Preprocess
	md := map[string]string{meta.Tool: meta.ToolVersion}
	if ck.Path != "" {
		sum, err := dataset.FileSHA256(ck.Path)
		if err != nil {
			return pre, nil, err
		}
		md[meta.CheckpointSHA256] = sum
	}
	stored, prov, err := provenance.Read(ck.Meta)
	if err != nil {
		return pre, nil, err
	}
	if stored != nil {
		pre = *stored
		md[meta.Preprocess] = ck.Meta[meta.Preprocess]
		// The exported model's input is the spec's; a sample the student saw in another shape
		// (a dense student told its flat input is [1 28 28], for jitter) holds the same values
		// in the same order, so the model's metadata names the shape the model takes.
		if len(pre.InputShape) > 0 && !slices.Equal(pre.InputShape, ck.Spec.Input) {
			pre.InputShape = append([]int(nil), ck.Spec.Input...)
			md[meta.Preprocess] = provenance.MustJSON(pre)
		}
	}
	md[meta.Epochs] = strconv.Itoa(ck.Epoch)
	if prov == nil {
		return pre, md, nil
	}
	md[meta.Provenance] = ck.Meta[meta.Provenance]
	if teachers := prov.TeacherSHA256s(); len(teachers) > 0 {
		md[meta.TeacherSHA256] = strings.Join(teachers, ",")
	}
	if prov.Mode != provenance.ModeHard {
		md[meta.Temperature] = strconv.FormatFloat(prov.Temperature, 'g', -1, 64)
		md[meta.Alpha] = strconv.FormatFloat(prov.Alpha, 'g', -1, 64)
	}
	if prov.EvalAccuracy != nil {
		md[meta.EvalAccuracy] = strconv.FormatFloat(*prov.EvalAccuracy, 'g', -1, 64)
	}
	if len(prov.ClassNames) > 0 {
		md[meta.ClassNames] = provenance.MustJSON(prov.ClassNames)
	}
	return pre, md, nil
}

// verifyInputs returns up to opts.Verify preprocessed samples for the student's input: the first
// ones of opts.VerifyData (all of them when it holds fewer), or random raw values in [0, scale] preprocessed by pre.
func verifyInputs(opts Options, spec *student.Spec, pre dataset.Preprocess) (x []float32, n int, what string, err error) {
	dim := dataset.NumValues(spec.Input)
	if opts.VerifyData == "" {
		n = opts.Verify
		rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed))
		raw := make([]float32, n*dim)
		scale := float32(pre.EffectiveScale())
		for i := range raw {
			raw[i] = rng.Float32() * scale
		}
		x = make([]float32, n*dim)
		q := pre
		q.Layout = "" // random values are drawn in the model's layout already
		if err := q.Apply(raw, n, spec.Input, x); err != nil {
			return nil, 0, "", fmt.Errorf("random verification inputs: %w", err)
		}
		return x, n, "random", nil
	}
	ds, err := dataset.Load(opts.VerifyData, "")
	if err != nil {
		return nil, 0, "", err
	}
	if err := pre.CheckInput(ds.Shape, spec.Input); err != nil {
		return nil, 0, "", fmt.Errorf("verify data %s: %w", opts.VerifyData, err)
	}
	n = min(opts.Verify, ds.N)
	x = make([]float32, n*dim)
	if err := pre.Apply(ds.X[:n*dim], n, ds.Shape, x); err != nil {
		return nil, 0, "", fmt.Errorf("verify data %s: %w", opts.VerifyData, err)
	}
	return x, n, opts.VerifyData, nil
}
