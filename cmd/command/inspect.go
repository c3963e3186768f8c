package command

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/distillgo/distill/internal/outputs"
	"github.com/distillgo/distill/onnx"
)

// InspectOptions are the settings of `distill inspect`.
type InspectOptions struct {
	Model string // path of the ONNX model
	JSON  bool   // print one JSON object instead of the table (default false)
}

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "Print the inputs, outputs, opset, producer and metadata of an ONNX model",
		ArgsUsage: "<model.onnx>",
		Description: "Reads the model's protobuf directly (onnxruntime is not loaded) and prints each input and\n" +
			"output with its element type and shape, dynamic axes by name (or ? when unnamed), the\n" +
			"opset, the producer and the metadata properties sorted by key.\n\n" +
			"Example:\n" +
			"  distill inspect models/teacher.onnx\n" +
			"  distill inspect --json models/teacher.onnx",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of a table"},
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
			return runInspect(cCtx.Context, InspectOptions{Model: args[0], JSON: cCtx.Bool("json")}, cCtx.App.Writer)
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
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
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
