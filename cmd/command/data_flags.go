package command

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/targets"
	"github.com/distillgo/distill/pipeline/train"
)

// csvFlags returns the flags that say how CSV data and image folders are read and how array
// labels are named, shared by targets, train (for --data and --eval-data), eval, predict and sweep.
func csvFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "class-names", Usage: "IDX, NPY or NPZ labels: the classes' `<names>`, class 0 first, as a file of one name a line or a,b,c; recorded as an image folder's are (default: the labels are class numbers)"},
		&cli.StringFlag{Name: "label-column", Usage: "CSV data: the label `<column>` (default: \"label\" when the header has it, else no labels)"},
		&cli.StringFlag{Name: "feature-columns", Usage: "CSV data: the feature `<columns>`, comma-separated, in this order (default: every other column)"},
		&cli.StringFlag{Name: "image-size", Usage: "image folder: resize every image to `<h>x<w>` (default: every image the size of the first)"},
		enumFlag(&cli.StringFlag{Name: "color", Usage: "image folder: read images as `<color>`, gray or rgb (default: as the first image is)"}, dataset.ColorGray, dataset.ColorRGB),
		enumFlag(&cli.StringFlag{Name: "csv-header", Value: dataset.HeaderNames, Usage: "CSV data: the first line is column `<names>`, \"sklearn\" (n_samples,n_features,class names; the label is the last column) or \"none\" (columns are 0, 1, ...)"}, dataset.HeaderNames, dataset.HeaderSklearn, dataset.HeaderNone),
	}
}

// formatFromFlags reads the flags of csvFlags, for the data files paths (those of the command's
// flags, "" when not given): a flag that applies to none of them is refused instead of ignored.
func formatFromFlags(cCtx *cli.Context, paths ...string) (dataset.Format, error) {
	if err := checkFormatApplies(cCtx, paths); err != nil {
		return dataset.Format{}, err
	}
	c := dataset.Format{Label: cCtx.String("label-column"), Header: cCtx.String("csv-header")}
	if c.Header == "" {
		c.Header = dataset.HeaderNames
	}
	if s := cCtx.String("image-size"); s != "" {
		size, err := dataset.ParseShape(s)
		if err != nil || len(size) != 2 {
			return c, usageErrorf(cCtx, "--image-size %q: want <height>x<width>, e.g. 28x28", s)
		}
		c.ImageSize = size
	}
	c.Color = cCtx.String("color")
	if s := cCtx.String("class-names"); s != "" {
		if !cCtx.IsSet("labels") && !cCtx.IsSet("eval-labels") && !cCtx.IsSet("fit-labels") {
			return c, usageErrorf(cCtx, "--class-names: names the classes of array labels, and no labels file (--labels) is given")
		}
		names, err := readClassNames(s)
		if err != nil {
			return c, usageErrorf(cCtx, "--class-names: %v", err)
		}
		c.ClassNames = names
	}
	if s := cCtx.String("feature-columns"); s != "" {
		for f := range strings.SplitSeq(s, ",") {
			if f = strings.TrimSpace(f); f == "" {
				return c, usageErrorf(cCtx, "--feature-columns %q: an empty column name", s)
			}
			c.Features = append(c.Features, f)
		}
	}
	return c, nil
}

// checkFormatApplies refuses a flag of csvFlags given for data that holds no CSV file (the CSV
// flags) or no image folder (the image flags) among paths: Format.Source drops the fields that
// do not apply to a file, so the flag would be silently ignored.
func checkFormatApplies(cCtx *cli.Context, paths []string) error {
	var given []string
	csv, folder, array := false, false, 0
	for _, p := range paths {
		if p == "" {
			continue
		}
		given = append(given, p)
		csv = csv || dataset.IsCSV(p)
		folder = folder || (dataset.HasOwnLabels(p) && !dataset.IsCSV(p))
		if !dataset.HasOwnLabels(p) {
			array++
		}
	}
	if len(given) == 0 {
		return nil
	}
	what, isNot, notOne := given[0], "is not", "is not one"
	if len(given) > 1 {
		what, isNot, notOne = strings.Join(given, " and "), "are not", "are not"
	}
	for _, f := range []string{"image-size", "color"} {
		if !folder && cCtx.IsSet(f) {
			return usageErrorf(cCtx, "--%s: for an image folder (a directory of images, or of class folders of images), and %s %s", f, what, notOne)
		}
	}
	if cCtx.IsSet("class-names") && array == 0 {
		return usageErrorf(cCtx, "--class-names: for labels in an array file (IDX, NPY, NPZ); %s %s (CSV data and image folders name their own classes)", what, notArray(len(given)))
	}
	for _, f := range []string{"label-column", "feature-columns", "csv-header"} {
		if !csv && cCtx.IsSet(f) {
			return usageErrorf(cCtx, "--%s: for CSV data (a file named *.csv or *.csv.gz), and %s %s", f, what, isNot)
		}
	}
	return nil
}

// notArray says that the n data paths hold no array file.
func notArray(n int) string {
	if n == 1 {
		return "is not one"
	}
	return "are not"
}

// readClassNames reads --class-names: a file of one name a line (blank lines skipped), or the
// names separated by commas.
func readClassNames(arg string) ([]string, error) {
	var names []string
	if st, err := os.Stat(arg); err == nil && st.Mode().IsRegular() {
		b, err := os.ReadFile(arg)
		if err != nil {
			return nil, err
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				names = append(names, line)
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%s holds no names", arg)
		}
		return names, nil
	}
	for n := range strings.SplitSeq(arg, ",") {
		names = append(names, strings.TrimSpace(n))
	}
	if len(names) < 2 && !strings.Contains(arg, ",") {
		return nil, fmt.Errorf("%q is neither a file nor a list of names a,b,c", arg)
	}
	return names, nil
}

// parseInputs reads --input (or --teacher-input) arguments: "<name>=<file>" feeds the model input
// name from an array file (IDX, NPY or NPZ[:key]); "<file>.npz" feeds every input from the
// array of the same key.
func parseInputs(flag string, args []string) ([]train.TeacherInput, error) {
	var out []train.TeacherInput
	seen := map[string]bool{}
	add := func(name, path string) error {
		if seen[name] {
			return fmt.Errorf("--%s: input %q given twice", flag, name)
		}
		seen[name] = true
		out = append(out, train.TeacherInput{Name: name, Path: path})
		return nil
	}
	for _, a := range args {
		if name, path, ok := strings.Cut(a, "="); ok {
			if name == "" || path == "" {
				return nil, fmt.Errorf("--%s %q: want <name>=<file> or <file>.npz", flag, a)
			}
			if err := add(name, path); err != nil {
				return nil, err
			}
			continue
		}
		keys, err := dataset.NPZKeys(a)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: want <name>=<file>, or an NPZ archive whose keys are the input names: %w", flag, a, err)
		}
		for _, k := range keys {
			if err := add(k, a+":"+k); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// readInputs reads the arrays of parsed --input arguments.
func readInputs(inputs []train.TeacherInput) ([]targets.Input, error) {
	out := make([]targets.Input, 0, len(inputs))
	for _, in := range inputs {
		a, err := dataset.ReadArray(in.Path)
		if err != nil {
			return nil, err
		}
		out = append(out, targets.Input{Name: in.Name, Array: a})
	}
	return out, nil
}

// blasFlag is --blas, which every command that runs the Go student takes; what says when it
// applies ("for checkpoints"), or "".
func blasFlag(what string) cli.Flag {
	usage := "student BLAS `<backend>`"
	if what != "" {
		usage += " " + what
	}
	return enumFlag(&cli.StringFlag{Name: "blas", Value: "auto", Usage: usage + ": auto, openblas or go"}, choicesBLAS...)
}
