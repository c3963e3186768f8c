package command

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/distillgo/distill/pipeline/dataset"
)

// csvFlags returns the flags that say how CSV data is read, shared by targets, train (for --data
// and --eval-data), eval and sweep.
func csvFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "label-column", Usage: "CSV data: the label `<column>` (default: \"label\" when the header has it, else no labels)"},
		&cli.StringFlag{Name: "feature-columns", Usage: "CSV data: the feature `<columns>`, comma-separated, in this order (default: every other column)"},
		&cli.StringFlag{Name: "csv-header", Value: dataset.HeaderNames, Usage: "CSV data: the first line is column `<names>`, \"sklearn\" (n_samples,n_features,class names; the label is the last column) or \"none\" (columns are 0, 1, ...)"},
	}
}

// columnsFromFlags reads the flags of csvFlags.
func columnsFromFlags(cCtx *cli.Context) (dataset.Columns, error) {
	c := dataset.Columns{Label: cCtx.String("label-column"), Header: cCtx.String("csv-header")}
	if c.Header == "" {
		c.Header = dataset.HeaderNames
	}
	if err := checkChoice(cCtx, "csv-header", c.Header, []string{dataset.HeaderNames, dataset.HeaderSklearn, dataset.HeaderNone}); err != nil {
		return c, err
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
