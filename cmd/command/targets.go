package command

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/outputs"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/targets"
	"github.com/distillgo/distill/pipeline/teacher"
	"github.com/distillgo/distill/pipeline/train"
)

// TargetsOptions are the settings of `distill targets`.
type TargetsOptions struct {
	Teachers []string // --teacher arguments: PATH[:OPTION,...] (see dataset.ParseTeacherSpec)
	Data     string   // --data: transfer set (IDX, gzip IDX, NPY, NPZ or CSV)
	Labels   string   // --labels: optional; with them the teachers' accuracy is reported
	Out      string   // --out: the soft-target file to write
	// Overwrite is --overwrite: replace Out if it exists (without it an existing Out is refused).
	Overwrite bool
	// Format holds --label-column, --feature-columns, --csv-header (CSV data), --image-size and
	// --color (image folders).
	Format dataset.Format

	Shard, Shards int  // --shard i/n: the i-th (from 0) of n contiguous sample ranges; 0/1 is all
	FP16          bool // --fp16: store the logits as float16 (half the size)

	Batch   int          // --batch: samples per step and teacher run; 0 (the default): per device, see batches
	Runtime modelRuntime // --runtime, --ort-lib, --device, --gpu-id, --threads: how the teachers run
	Output  string       // --output: what the teachers output: auto (default), logits, probs or logprobs
	// OutputName is --teacher-output: the output that holds the class scores (default: the only
	// one that can).
	OutputName string
	// Inputs are the --input arguments: arrays that feed the teacher's named inputs (one teacher).
	Inputs []train.TeacherInput

	// Preprocess holds the plain preprocessing flags given (--scale, --mean, --std,
	// --input-shape). Each teacher's preprocessing is the one its model records (else the
	// defaults) with these in place, and its spec options override both.
	Preprocess dataset.PreprocessOverride
	Progress   io.Writer // where the progress bar goes (a terminal), or nil for periodic log lines
}

// TargetsMergeOptions are the settings of `distill targets merge`.
type TargetsMergeOptions struct {
	Out       string   // --out: the merged file
	Overwrite bool     // --overwrite: replace Out if it exists
	Parts     []string // the shard files, in any order
}

const targetsDescription = `Runs each teacher over the transfer set (or one shard of it) and writes its logits to a
safetensors file: [N,C] for one teacher, [K,N,C] for an ensemble of K. Logits, not
probabilities, are stored: the temperature is applied at training time, so one file serves
any T. A teacher that outputs probabilities is stored as log p (valid logits); --output auto
takes rows whose entries are in [0, 1] and sum to 1 (within 2e-2) as probabilities and stops
at a first batch it cannot tell. A model with several outputs is read from the only one that can
hold class scores ([N,C] floats, or a scikit-learn ZipMap), or from --teacher-output <name>. The header records each
teacher's sha256, tensor names, preprocessing and output kind, the data file's sha256 and
sample count, the sample range and the tool version.

Preprocessing is y = (x/scale - mean)/std, then the sample is reshaped to the model's input
(taken from the ONNX input unless --input-shape). In an ensemble each teacher may have its own:
  --teacher PATH:scale=255,mean=0.485/0.456/0.406,std=0.229/0.224/0.225,shape=3x32x32,layout=nhwc,output=probs
Options not given in a spec come from the plain flags (--scale, --mean, --std, --input-shape,
--output); fields no flag gives come from the preprocessing the model records (distill.preprocess,
as every student distill exports has), else the defaults: scale 255 for 8-bit data and 1 for float
data, mean 0, std 1, the model's input shape. The log says where each value came from.

--shard i/n takes the i-th (from 0) of n contiguous ranges of the samples; 'distill targets
merge' joins the shard files into a file byte-identical to a single run. Writing streams to
a temporary file that is renamed at the end; on an error or an interrupt nothing is left.
An existing --out is refused unless --overwrite is given, as is an --out that names an input;
while the command runs --out is locked (<out>.lock beside it), so a second run writing the same
file is refused, naming this one's pid.

Example:
  distill targets --teacher models/teacher.onnx \
      --data data/mnist/train-images-idx3-ubyte.gz --labels data/mnist/train-labels-idx1-ubyte.gz \
      --out out/teacher-train.safetensors
  distill targets --teacher a.onnx --teacher b.onnx:mean=0.1307,std=0.3081,shape=1x28x28 \
      --data train.npy --out ensemble.safetensors --shard 0/4`

func targetsCommand() *cli.Command {
	return &cli.Command{
		Name:        "targets",
		Usage:       "Run ONNX teachers over a transfer set and write their logits (soft targets)",
		UsageText:   "distill targets --teacher <model.onnx>[:<options>] [--teacher ...] --data <file> [--labels <file>] --out <file.safetensors> [--overwrite] [--shard <i>/<n>] [options]\n   distill targets merge --out <file.safetensors> [--overwrite] <part>...",
		Description: targetsDescription,
		Flags: append([]cli.Flag{
			&cli.GenericFlag{Name: "teacher", Value: &repeatedString{}, Usage: "teacher `<model.onnx>[:opt=v,...]`; repeat for an ensemble (required)"},
			&cli.StringFlag{Name: "data", Usage: "transfer set `<file>` (IDX, gzip IDX, NPY, NPZ, CSV) or image folder (required)", TakesFile: true},
			&cli.StringFlag{Name: "labels", Usage: "labels `<file>`, to report the teachers' accuracy", TakesFile: true},
			&cli.StringFlag{Name: "out", Usage: "soft-target `<file.safetensors>` to write (required)", TakesFile: true},
			overwriteFlag("--out"),
			&cli.StringFlag{Name: "shard", Value: "0/1", Usage: "compute shard `<i>/<n>` (i from 0) of n contiguous ranges"},
			&cli.BoolFlag{Name: "fp16", Usage: "store logits as float16"},
			&cli.IntFlag{Name: "batch", DefaultText: batchDefaultText, Usage: "samples per teacher run `<n>`"},
			enumFlag(&cli.StringFlag{Name: "output", Aliases: []string{"teacher-output-kind"}, Value: "auto", Usage: "teacher output kind: auto, logits, probs or logprobs (--teacher-output-kind, as train and eval call it)"}, choicesOutput...),
			&cli.StringFlag{Name: "teacher-output", Usage: "the teachers' output `<name>` that holds the class scores (default: the only one that can)"},
			&cli.GenericFlag{Name: "input", Value: &repeatedString{}, Usage: "feed the teacher's input from an array: `<name>=<file>` (IDX, NPY, NPZ[:key]) or <file>.npz (every key); repeat for each input"},
		}, append(append(runtimeFlags("the teachers"), csvFlags()...), preprocessFlags("", "the one each teacher records")...)...),
		Subcommands: []*cli.Command{targetsMergeCommand()},
		Action: func(cCtx *cli.Context) error {
			opts, err := targetsOptionsFromFlags(cCtx)
			if err != nil {
				return err
			}
			if f, ok := cCtx.App.ErrWriter.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				opts.Progress = f
			}
			release, err := claimFiles(cCtx, opts.files())
			defer release()
			if err != nil {
				return err
			}
			return runTargets(cCtx.Context, opts, cCtx.App.Writer)
		},
	}
}

func targetsMergeCommand() *cli.Command {
	return &cli.Command{
		Name:      "merge",
		Usage:     "Join soft-target shards into one file",
		ArgsUsage: "<part>...",
		UsageText: "distill targets merge --out <file.safetensors> [--overwrite] <part>...",
		Description: "Joins the shard files written by 'distill targets --shard i/n' in sample order. It refuses\n" +
			"gaps, overlaps, and parts made by other teachers, from other data or with other settings.\n" +
			"The result is byte-identical to a single run over all samples. An existing --out is refused\n" +
			"unless --overwrite is given, as is an --out that is one of the parts.\n\n" +
			"Example:\n" +
			"  distill targets merge --out out/targets.safetensors out/part-*.safetensors",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "merged `<file.safetensors>` (required)", TakesFile: true},
			overwriteFlag("--out"),
		},
		Action: func(cCtx *cli.Context) error {
			opts := TargetsMergeOptions{Out: cCtx.String("out"), Overwrite: cCtx.Bool("overwrite"), Parts: cCtx.Args().Slice()}
			if opts.Out == "" {
				return usageErrorf(cCtx, "--out is required")
			}
			if len(opts.Parts) == 0 {
				return usageErrorf(cCtx, "targets merge: give the shard files to merge")
			}
			plan := outputs.Plan{Outputs: []outputs.Output{outFile("out", opts.Out, false)}, Overwrite: opts.Overwrite}
			for _, p := range opts.Parts {
				plan.Inputs = append(plan.Inputs, outputs.File{Name: "part", Path: p})
			}
			release, err := claimFiles(cCtx, plan)
			defer release()
			if err != nil {
				return err
			}
			return runTargetsMerge(cCtx.Context, opts, cCtx.App.Writer)
		},
	}
}

// targetsOptionsFromFlags reads and checks the flags of `distill targets`.
func targetsOptionsFromFlags(cCtx *cli.Context) (TargetsOptions, error) {
	o := TargetsOptions{
		Teachers: cCtx.Generic("teacher").(*repeatedString).values, Data: cCtx.String("data"), Labels: cCtx.String("labels"),
		Out: cCtx.String("out"), Overwrite: cCtx.Bool("overwrite"), FP16: cCtx.Bool("fp16"), Batch: cCtx.Int("batch"),
		Output: cCtx.String("output"), OutputName: cCtx.String("teacher-output"),
	}
	if cCtx.Args().Present() {
		return o, usageErrorf(cCtx, "targets: unexpected argument %q (did you mean 'distill targets merge'?)", cCtx.Args().First())
	}
	if len(o.Teachers) == 0 {
		return o, usageErrorf(cCtx, "--teacher is required")
	}
	if err := requireFlags(cCtx, "data", "out"); err != nil {
		return o, err
	}
	if cCtx.IsSet("batch") && o.Batch < 1 {
		return o, usageErrorf(cCtx, "--batch %d: must be at least 1", o.Batch)
	}
	var err error
	if o.Runtime, err = runtimeFromFlags(cCtx); err != nil {
		return o, err
	}
	if o.Shard, o.Shards, err = targets.ParseShard(cCtx.String("shard")); err != nil {
		return o, usageErrorf(cCtx, "--shard: %v", err)
	}
	if o.Format, err = formatFromFlags(cCtx, cCtx.String("data")); err != nil {
		return o, err
	}
	if o.Inputs, err = parseInputs("input", cCtx.Generic("input").(*repeatedString).values); err != nil {
		return o, usageErrorf(cCtx, "%v", err)
	}
	if len(o.Inputs) > 0 && len(o.Teachers) != 1 {
		return o, usageErrorf(cCtx, "--input feeds one teacher; %d --teacher given", len(o.Teachers))
	}
	if o.Preprocess, err = overrideFromFlags(cCtx, ""); err != nil {
		return o, err
	}
	for _, t := range o.Teachers {
		if _, err := dataset.ParseTeacherSpec(t, dataset.Preprocess{}); err != nil {
			return o, usageErrorf(cCtx, "--teacher: %v", err)
		}
	}
	return o, nil
}

// files returns what the command reads and writes, for claimFiles.
func (o TargetsOptions) files() outputs.Plan {
	p := outputs.Plan{
		Inputs:    []outputs.File{inFile("data", o.Data), inFile("labels", o.Labels)},
		Outputs:   []outputs.Output{outFile("out", o.Out, false)},
		Overwrite: o.Overwrite,
	}
	for _, t := range o.Teachers {
		if ts, err := dataset.ParseTeacherSpec(t, dataset.Preprocess{}); err == nil {
			p.Inputs = append(p.Inputs, inFile("teacher", ts.Path))
		}
	}
	p.Inputs = append(p.Inputs, arrayInputs("input", o.Inputs)...)
	return p
}

// batchDefaultText is what --help says of the default of --batch (see batches).
const batchDefaultText = "1024 on cpu, 8192 on cuda or auto"

// batches returns the samples per step of Generate and the rows per run of a teacher session:
// --batch for both when given. By default, on cpu 1024 for both (targets.DefaultBatch); on cuda and
// auto steps of onnx.DefaultBatchCUDA (8192), each run in the rows the session picks for the device
// it opened on: 8192 on CUDA, onnx.DefaultBatch (256) on the CPU that auto falls back to, where
// 8192-row runs were 2x slower than 1024-row ones here.
func (o TargetsOptions) batches() (step, rows int) {
	switch {
	case o.Batch > 0:
		return o.Batch, o.Batch
	case o.Runtime.Name == runtimeGo || o.Runtime.ORT.Device == "" || o.Runtime.ORT.Device == "cpu":
		return targets.DefaultBatch, targets.DefaultBatch
	}
	return onnx.DefaultBatchCUDA, 0
}

// repeatedString is a flag value that collects every occurrence of a repeated flag as is.
// (cli.StringSliceFlag would split "a.onnx:mean=0.5,std=0.2" at the comma.)
type repeatedString struct{ values []string }

func (r *repeatedString) Set(v string) error { r.values = append(r.values, v); return nil }
func (r *repeatedString) String() string     { return strings.Join(r.values, " ") }

// runTargets loads the data, opens every teacher and writes the soft-target file, then prints a
// summary (throughput, and with labels each teacher's accuracy) to stdout.
func runTargets(ctx context.Context, o TargetsOptions, stdout io.Writer) error {
	specs := make([]dataset.TeacherSpec, len(o.Teachers))
	for i, t := range o.Teachers {
		ts, err := teacherSpec(t, o.Preprocess)
		if err != nil {
			return err
		}
		if ts.Output == "" {
			ts.Output = o.Output
		}
		specs[i] = ts
	}
	src := o.Format.Source(o.Data, o.Labels)
	for _, ts := range specs {
		if err := checkTeacherInput(src, ts); err != nil {
			return err
		}
	}
	ds, err := dataset.Open(src)
	if err != nil {
		return err
	}
	teachers := make([]targets.Teacher, 0, len(specs))
	defer func() {
		for _, t := range teachers {
			t.Teacher.Close()
		}
	}()
	step, rows := o.batches()
	slog.Debug("targets batches", "samples_per_step", step, "rows_per_run", rows)
	for _, ts := range specs {
		t, err := openTeacher(o, ts, ds, rows)
		if err != nil {
			return err
		}
		teachers = append(teachers, t)
	}
	rep, err := targets.Generate(ctx, targets.Options{
		Out: o.Out, Shard: o.Shard, Shards: o.Shards, FP16: o.FP16, Batch: step, Probe: true,
	}, teachers, ds, o.Progress)
	if err != nil {
		return err
	}
	return rep.WriteText(stdout)
}

// teacherSpec parses one --teacher argument: its preprocessing is the spec's options over the
// plain flags given (flags) over the one its model records, else the defaults (teacher.Arg).
func teacherSpec(arg string, flags dataset.PreprocessOverride) (dataset.TeacherSpec, error) {
	a, err := teacher.Parse(arg, flags)
	if err != nil {
		return dataset.TeacherSpec{}, fmt.Errorf("targets: --teacher: %w", err)
	}
	if a.Recorded, err = teacher.Recorded(a.Path); err != nil {
		return dataset.TeacherSpec{}, err
	}
	ts, from, err := a.Spec(dataset.Preprocess{}, "default")
	if err != nil {
		return ts, fmt.Errorf("targets: --teacher: %w", err)
	}
	slog.Info("teacher preprocessing", "model", ts.Path, "from", from, "spec", arg != ts.Path)
	return ts, nil
}

// openTeacher opens the teacher of one --teacher spec, running rows samples at a time (0: the
// runtime's default for its device), and describes it for the file's header; its input shape,
// when the spec gives none, is the model's.
func openTeacher(o TargetsOptions, ts dataset.TeacherSpec, ds *dataset.Dataset, rows int) (targets.Teacher, error) {
	if len(o.Inputs) > 0 {
		return openInputsTeacher(o, ts, rows)
	}
	s, err := teacher.Open(&o.Runtime, ts.Path, model.Options{Batch: rows, Output: ts.Output, OutputName: o.OutputName, InputShape: ts.Preprocess.InputShape}, true)
	if err != nil {
		return targets.Teacher{}, err
	}
	d := s.Describe()
	pre := ts.Preprocess
	if len(pre.InputShape) == 0 {
		pre.InputShape = d.SampleShape
	}
	if pre, err = pre.ForData(ds).ForModel(ds.Shape, pre.InputShape); err != nil {
		s.Close()
		return targets.Teacher{}, fmt.Errorf("targets: teacher %s: %w", ts.Path, err)
	}
	if err := pre.CheckScale(ds, "--scale"); err != nil {
		s.Close()
		return targets.Teacher{}, fmt.Errorf("targets: teacher %s: %w", ts.Path, err)
	}
	slog.Info("teacher", "model", ts.Path, "device", d.Device, "input", d.Input,
		"shape", d.SampleShape, "classes", s.Classes(), "preprocess", pre.String())
	return targets.Teacher{Teacher: s, TeacherInfo: targets.TeacherInfo{
		Path: ts.Path, SHA256: d.SHA256, Input: d.Input, Output: d.Output, Preprocess: pre, OutputKind: ts.Output,
		ClassLabels: d.ClassLabels,
	}}, nil
}

// runTargetsMerge joins shard files and prints what it wrote.
func runTargetsMerge(ctx context.Context, o TargetsMergeOptions, stdout io.Writer) error {
	if err := targets.Merge(ctx, o.Out, o.Parts); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "merged %d parts into %s\n", len(o.Parts), o.Out)
	return nil
}

// openInputsTeacher opens a teacher fed by the --input arrays; their float inputs get the
// teacher's scale, mean and std.
func openInputsTeacher(o TargetsOptions, ts dataset.TeacherSpec, rows int) (targets.Teacher, error) {
	s, err := teacher.Open(&o.Runtime, ts.Path, model.Options{Batch: rows, Output: ts.Output, OutputName: o.OutputName}, false)
	if err != nil {
		return targets.Teacher{}, err
	}
	inputs, err := readInputs(o.Inputs)
	if err != nil {
		s.Close()
		return targets.Teacher{}, err
	}
	d := s.Describe()
	pre := ts.Preprocess
	pre.InputShape = nil
	slog.Info("teacher", "model", ts.Path, "device", d.Device, "inputs", len(inputs), "classes", s.Classes())
	return targets.Teacher{Teacher: s, Inputs: inputs, TeacherInfo: targets.TeacherInfo{
		Path: ts.Path, SHA256: d.SHA256, Input: d.Input, Output: d.Output, Preprocess: pre, OutputKind: ts.Output,
		ClassLabels: d.ClassLabels,
	}}, nil
}

// checkTeacherInput checks, before the data is read, that its samples will fit the teacher's
// input where both shapes can be told cheaply (an image folder, and a model whose input has fixed
// per-sample axes or an input shape given), so that a mismatch is refused before every image is
// decoded. A model it cannot read is left to opening it, which reports it.
func checkTeacherInput(src dataset.Source, ts dataset.TeacherSpec) error {
	shape := ts.Preprocess.InputShape
	if len(shape) == 0 {
		info, err := onnx.ReadModelInfo(ts.Path)
		if err != nil || len(info.Inputs) != 1 || len(info.Inputs[0].Shape) < 2 {
			return nil
		}
		for _, d := range info.Inputs[0].Shape[1:] {
			if d < 1 {
				return nil
			}
			shape = append(shape, int(d))
		}
	}
	if err := dataset.CheckSourceShape(src, ts.Preprocess, shape); err != nil {
		return fmt.Errorf("targets: teacher %s: %w", ts.Path, err)
	}
	return nil
}
