package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/student"
)

// Flat provenance keys that ExportCheckpoint writes beside MetaPreprocess and MetaProvenance (which
// hold the checkpoint's JSON as it is), so that a deployer reading `distill inspect` sees the
// essentials without parsing JSON. A key is left out when the checkpoint does not record it.
const (
	// MetaTeacherSHA256 is the sha256 of the teacher model, or a comma-separated list for an
	// ensemble of soft-target teachers.
	MetaTeacherSHA256 = "distill.teacher_sha256"
	// MetaTemperature is the softmax temperature T of the distillation loss.
	MetaTemperature = "distill.temperature"
	// MetaAlpha is the weight of the soft loss.
	MetaAlpha = "distill.alpha"
	// MetaEpochs is the number of epochs the student was trained.
	MetaEpochs = "distill.epochs"
	// MetaEvalAccuracy is the accuracy on the evaluation data after the last epoch.
	MetaEvalAccuracy = "distill.eval_accuracy"
	// MetaCheckpointSHA256 is the sha256 of the checkpoint file the model was exported from.
	MetaCheckpointSHA256 = "distill.checkpoint_sha256"
	// MetaTool is the tool version that exported the model (ToolVersion).
	MetaTool = "distill.tool"
)

// DefaultVerifySamples is the number of samples `distill export` checks the exported model on
// unless told otherwise: enough to exercise every logit of a small classifier in a fraction of a
// second.
const DefaultVerifySamples = 64

// ExportCheckpointOptions configures ExportCheckpoint (`distill export`).
type ExportCheckpointOptions struct {
	// Checkpoint is the student checkpoint to export (required).
	Checkpoint string
	// Spec, when not nil, is the architecture the checkpoint must have been trained for.
	Spec *student.Spec
	// Out is the ONNX file to write (required). It appears only once written and verified.
	Out string
	// Opset is the ai.onnx opset (0: onnx.DefaultOpset, 13).
	Opset int
	// FP16 stores the weights as float16 (default false).
	FP16 bool
	// Verify is the number of samples the exported model is checked on under onnxruntime against
	// the Gorgonia forward pass; 0 skips the check (and onnxruntime is not needed).
	Verify int
	// VerifyData is a data file (IDX, gzip IDX or NPY) whose first Verify samples, preprocessed as
	// the checkpoint records, are used for the check; empty means deterministic random raw values
	// in [0, scale] drawn from Seed, preprocessed the same way.
	VerifyData string
	// Seed seeds the random verification inputs (default 0 is a valid seed).
	Seed uint64
}

// ExportResult is what ExportCheckpoint did.
type ExportResult struct {
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
	// VerifyInputs says what the model was verified on: the data file or "random".
	VerifyInputs string
}

// ExportCheckpoint loads a student checkpoint, exports it to ONNX with its preprocessing, class
// count and provenance in metadata_props, and (opts.Verify > 0) runs the file under onnxruntime
// against the student's forward pass (VerifyExport), which needs onnx.Init to have been called.
// The model is written to a temporary file in the directory of opts.Out and renamed there only
// once verified: on any error, opts.Out is left as it was. A verification failure returns the
// report together with an error wrapping ErrVerify.
func ExportCheckpoint(ctx context.Context, opts ExportCheckpointOptions) (*ExportResult, error) {
	if opts.Checkpoint == "" || opts.Out == "" {
		return nil, errors.New("export: a checkpoint and an output file are required")
	}
	if opts.Verify < 0 {
		return nil, fmt.Errorf("export: verify %d samples: must not be negative", opts.Verify)
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
	pre, meta, err := exportMetadata(ck)
	if err != nil {
		return nil, fmt.Errorf("export: %s: %w", opts.Checkpoint, err)
	}

	res := &ExportResult{Out: opts.Out, Spec: ck.Spec, Epoch: ck.Epoch}
	var x []float32
	n := opts.Verify
	if n > 0 {
		if x, n, res.VerifyInputs, err = verifyInputs(opts, ck.Spec, pre); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
	}

	tmp := filepath.Join(filepath.Dir(opts.Out), "."+filepath.Base(opts.Out)+".export-"+strconv.Itoa(os.Getpid()))
	defer os.Remove(tmp) // gone after the rename; removes the file after any failure
	if err := ExportStudent(net, tmp, ExportOptions{Opset: opts.Opset, FP16: opts.FP16, Metadata: meta}); err != nil {
		return nil, fmt.Errorf("export %s: %w", opts.Out, err)
	}
	info, err := onnx.ReadModelInfo(tmp)
	if err != nil {
		return nil, fmt.Errorf("export %s: read back: %w", opts.Out, err)
	}
	res.Metadata = info.Metadata
	if n > 0 {
		rep, err := VerifyExport(ctx, net, tmp, x, n)
		if err != nil {
			if errors.Is(err, ErrVerify) {
				res.Verify = &rep
				return res, fmt.Errorf("export %s: %w: max abs logit difference %.3g > %.3g (argmax agreement %.2f%% on %d samples); nothing written",
					opts.Out, ErrVerify, rep.MaxAbsDiff, rep.Tolerance, 100*rep.Agreement, rep.N)
			}
			return nil, fmt.Errorf("export %s: %w", opts.Out, err)
		}
		res.Verify = &rep
	}
	if err := os.Rename(tmp, opts.Out); err != nil {
		return nil, fmt.Errorf("export %s: %w", opts.Out, err)
	}
	if d, err := os.Open(filepath.Dir(opts.Out)); err == nil {
		_ = d.Sync() // make the rename durable where the file system allows
		d.Close()
	}
	return res, nil
}

// exportMetadata returns the checkpoint's preprocessing (the zero value when it records none) and
// the metadata to export: its preprocessing and provenance JSON as stored, the flat provenance
// keys, the checkpoint's sha256 and the tool.
func exportMetadata(ck *student.Checkpoint) (Preprocess, map[string]string, error) {
	var pre Preprocess
	meta := map[string]string{MetaTool: ToolVersion}
	if ck.Path != "" {
		sum, err := FileSHA256(ck.Path)
		if err != nil {
			return pre, nil, err
		}
		meta[MetaCheckpointSHA256] = sum
	}
	if raw, ok := ck.Meta[MetaPreprocess]; ok {
		if err := json.Unmarshal([]byte(raw), &pre); err != nil {
			return pre, nil, fmt.Errorf("preprocessing metadata %q: %w", raw, err)
		}
		if err := pre.Validate(); err != nil {
			return pre, nil, fmt.Errorf("preprocessing metadata %q: %w", raw, err)
		}
		meta[MetaPreprocess] = raw
	}
	meta[MetaEpochs] = strconv.Itoa(ck.Epoch)
	raw, ok := ck.Meta[MetaProvenance]
	if !ok {
		return pre, meta, nil
	}
	var prov Provenance
	if err := json.Unmarshal([]byte(raw), &prov); err != nil {
		return pre, nil, fmt.Errorf("provenance metadata %q: %w", raw, err)
	}
	meta[MetaProvenance] = raw
	teachers := teacherSHAs(prov)
	if len(teachers) > 0 {
		meta[MetaTeacherSHA256] = strings.Join(teachers, ",")
	}
	if prov.Mode != ModeHard {
		meta[MetaTemperature] = strconv.FormatFloat(prov.Temperature, 'g', -1, 64)
		meta[MetaAlpha] = strconv.FormatFloat(prov.Alpha, 'g', -1, 64)
	}
	if prov.EvalAccuracy != nil {
		meta[MetaEvalAccuracy] = strconv.FormatFloat(*prov.EvalAccuracy, 'g', -1, 64)
	}
	return pre, meta, nil
}

// verifyInputs returns up to opts.Verify preprocessed samples for the student's input: the first
// ones of opts.VerifyData, or random raw values in [0, scale] preprocessed by pre.
func verifyInputs(opts ExportCheckpointOptions, spec *student.Spec, pre Preprocess) (x []float32, n int, what string, err error) {
	dim := prod(spec.Input)
	if opts.VerifyData == "" {
		n = opts.Verify
		rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed))
		raw := make([]float32, n*dim)
		scale := float32(pre.scaleOr1())
		for i := range raw {
			raw[i] = rng.Float32() * scale
		}
		x = make([]float32, n*dim)
		if err := pre.Apply(raw, n, spec.Input, x); err != nil {
			return nil, 0, "", fmt.Errorf("random verification inputs: %w", err)
		}
		return x, n, "random", nil
	}
	ds, err := LoadDataset(opts.VerifyData, "")
	if err != nil {
		return nil, 0, "", err
	}
	if err := checkInput(pre, ds.Shape, spec.Input); err != nil {
		return nil, 0, "", fmt.Errorf("verify data %s: %w", opts.VerifyData, err)
	}
	n = min(opts.Verify, ds.N)
	x = make([]float32, n*dim)
	if err := pre.Apply(ds.X[:n*dim], n, ds.Shape, x); err != nil {
		return nil, 0, "", fmt.Errorf("verify data %s: %w", opts.VerifyData, err)
	}
	return x, n, opts.VerifyData, nil
}
