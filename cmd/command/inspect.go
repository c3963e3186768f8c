package command

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/distillgo/distill/internal/outputs"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/pipeline/dataset"
)

// InspectOptions are the settings of `distill inspect`.
type InspectOptions struct {
	Model string // path of the ONNX model
	JSON  bool   // print one JSON object instead of the table (default false)
	// Nodes lists the tensors inside the model that a hint can use (default false: the model's
	// inputs, outputs and metadata), found by running it once under onnxruntime.
	Nodes bool
	// InputShape is the per-sample input shape of the run of Nodes, for a model whose input has
	// dynamic axes besides the batch (nil: the model's).
	InputShape []int
	// ORTLib is the onnxruntime library for Nodes (--ort-lib; empty: found as FindLibrary does).
	ORTLib string
}

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "Print the inputs, outputs, opset, producer and metadata of an ONNX model, or its inner tensors",
		ArgsUsage: "<model.onnx>",
		Description: "Reads the model's protobuf directly (onnxruntime is not loaded) and prints each input and\n" +
			"output with its element type and shape, dynamic axes by name (or ? when unnamed), the\n" +
			"opset, the producer and the metadata properties sorted by key.\n\n" +
			"With --nodes it lists instead the tensors inside the model that a feature hint can use: each\n" +
			"output of a node of the graph that is a float tensor with the batch as its first axis, in\n" +
			"graph order, with its node's operator, its element type and its shape for one sample. The\n" +
			"shapes are found by running the model once under onnxruntime, on the CPU, on two samples of\n" +
			"zeros with every such tensor added to its outputs; a model whose input has dynamic axes\n" +
			"besides the batch needs --input-shape.\n\n" +
			"Example:\n" +
			"  distill inspect models/teacher.onnx\n" +
			"  distill inspect --json models/teacher.onnx\n" +
			"  distill inspect --nodes models/teacher.onnx",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of a table"},
			&cli.BoolFlag{Name: "nodes", Usage: "list the tensors inside the model that a hint can use, with their shapes for one sample (runs the model once)"},
			&cli.StringFlag{Name: "input-shape", Usage: "with --nodes, the " + usageInputShape, DefaultText: "the model's"},
		},
		Action: func(cCtx *cli.Context) error {
			args, err := wantArgs(cCtx, 1, "<model.onnx>")
			if err != nil {
				return err
			}
			// inspect writes nothing but --cpuprofile, which must not name the model.
			release, err := claimFiles(cCtx, outputs.Plan{Inputs: []outputs.File{{Name: "argument", Path: args[0]}}})
			defer release()
			if err != nil {
				return err
			}
			opts := InspectOptions{Model: args[0], JSON: cCtx.Bool("json"), Nodes: cCtx.Bool("nodes"), ORTLib: globalString(cCtx, flagORTLib)}
			if s := cCtx.String("input-shape"); s != "" {
				if !opts.Nodes {
					return usageErrorf(cCtx, "--input-shape is for --nodes: the model's own description needs no run")
				}
				if opts.InputShape, err = dataset.ParseShape(s); err != nil {
					return usageErrorf(cCtx, "--input-shape: %v", err)
				}
			}
			if opts.Nodes {
				return runInspectNodes(cCtx.Context, opts, cCtx.App.Writer)
			}
			return runInspect(cCtx.Context, opts, cCtx.App.Writer)
		},
	}
}

// inspectValue is one input or output as `distill inspect --json` prints it.
type inspectValue struct {
	Name     string   `json:"name"`
	ElemType string   `json:"elem_type"`
	Shape    []int64  `json:"shape"` // -1 for a dynamic axis
	Dims     []string `json:"dims"`  // each axis as printed: its size, its name, or "?"
}

// inspectReport is what `distill inspect --json` prints.
type inspectReport struct {
	Path            string            `json:"path"`
	SHA256          string            `json:"sha256"`
	Producer        string            `json:"producer"`
	ProducerVersion string            `json:"producer_version"`
	Opset           int64             `json:"opset"`
	Inputs          []inspectValue    `json:"inputs"`
	Outputs         []inspectValue    `json:"outputs"`
	Metadata        map[string]string `json:"metadata"`
}

// runInspect reads opts.Model and prints its description to w.
func runInspect(_ context.Context, opts InspectOptions, w io.Writer) error {
	info, err := onnx.ReadModelInfo(opts.Model)
	if err != nil {
		return err
	}
	rep := inspectReport{
		Path: opts.Model, SHA256: info.SHA256, Producer: info.Producer, ProducerVersion: info.ProducerVersion,
		Opset: info.Opset, Inputs: inspectValues(info.Inputs), Outputs: inspectValues(info.Outputs),
		Metadata: info.Metadata,
	}
	if rep.Metadata == nil {
		rep.Metadata = map[string]string{}
	}
	if opts.JSON {
		return writeJSON(w, rep)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s\n", rep.Path)
	fmt.Fprintf(tw, "sha256\t%s\n", rep.SHA256)
	producer := strings.TrimSpace(rep.Producer + " " + rep.ProducerVersion)
	if producer == "" {
		producer = "(none)"
	}
	fmt.Fprintf(tw, "producer\t%s\n", producer)
	fmt.Fprintf(tw, "opset\t%d\n", rep.Opset)
	for _, sec := range []struct {
		title string
		vals  []inspectValue
	}{{"inputs", rep.Inputs}, {"outputs", rep.Outputs}} {
		fmt.Fprintf(tw, "%s\t%d\n", sec.title, len(sec.vals))
		for _, v := range sec.vals {
			fmt.Fprintf(tw, "  %s\t%s\t[%s]\n", v.Name, v.ElemType, strings.Join(v.Dims, ", "))
		}
	}
	keys := make([]string, 0, len(rep.Metadata))
	for k := range rep.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(tw, "metadata\t%d\n", len(keys))
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s\t%s\n", k, rep.Metadata[k])
	}
	return tw.Flush()
}

func inspectValues(vs []onnx.ValueInfo) []inspectValue {
	out := make([]inspectValue, 0, len(vs))
	for _, v := range vs {
		iv := inspectValue{Name: v.Name, ElemType: v.ElemType, Shape: append([]int64{}, v.Shape...), Dims: make([]string, len(v.Shape))}
		for i, d := range v.Shape {
			switch {
			case d >= 0:
				iv.Dims[i] = strconv.FormatInt(d, 10)
			case i < len(v.DimNames) && v.DimNames[i] != "":
				iv.Dims[i] = v.DimNames[i]
			default:
				iv.Dims[i] = "?"
			}
		}
		out = append(out, iv)
	}
	return out
}

// inspectNode is one tensor inside a model as `distill inspect --nodes --json` prints it.
type inspectNode struct {
	Name     string `json:"name"`
	Node     string `json:"node"`      // the node's name ("" when it has none)
	Op       string `json:"op"`        // the node's operator, with its domain when not the default
	ElemType string `json:"elem_type"` // float32, float16, bfloat16 or float64
	Shape    []int  `json:"shape"`     // per sample, without the batch axis
}

// inspectNodesReport is what `distill inspect --nodes --json` prints.
type inspectNodesReport struct {
	Path    string        `json:"path"`
	Rows    int           `json:"rows"`    // samples of the run that found the shapes
	Tensors []inspectNode `json:"tensors"` // in graph order
	Others  int           `json:"others"`  // node outputs left out: not float, or no batch axis
}

// runInspectNodes runs opts.Model once and prints to w the tensors inside it that a hint can use.
func runInspectNodes(_ context.Context, opts InspectOptions, w io.Writer) error {
	if err := (&onnx.Runtime{Lib: opts.ORTLib}).Init(); err != nil {
		return err
	}
	res, err := onnx.NodeShapes(opts.Model, onnx.NodeShapesOptions{InputShape: opts.InputShape})
	if err != nil {
		return err
	}
	rep := inspectNodesReport{Path: opts.Model, Rows: res.Rows, Others: res.Others, Tensors: []inspectNode{}}
	for _, t := range res.Tensors {
		rep.Tensors = append(rep.Tensors, inspectNode{Name: t.Name, Node: t.Node, Op: t.Op, ElemType: t.ElemType, Shape: t.Shape})
	}
	if opts.JSON {
		return writeJSON(w, rep)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s\n", rep.Path)
	fmt.Fprintf(tw, "tensors\t%d, shapes for one sample (%d other node outputs left out: not float, or no batch axis)\n", len(rep.Tensors), rep.Others)
	for _, t := range rep.Tensors {
		dims := make([]string, len(t.Shape))
		for i, d := range t.Shape {
			dims[i] = strconv.Itoa(d)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t[%s]\n", t.Name, t.Op, t.ElemType, strings.Join(dims, ", "))
	}
	return tw.Flush()
}
