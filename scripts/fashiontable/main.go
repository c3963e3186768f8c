// Command fashiontable prints the Fashion-MNIST table of docs/results.md from the runs that
// scripts/fashion-table.sh left in a folder: for each student and training (alone, or distilled
// with a loss), the test accuracy after the last epoch as the mean and the range over the seeds,
// the errors of each seed, and the wall time of a run; then, for each student, the best
// distilled training's margin over the student alone. It reads <student>-<run>-s<seed>.jsonl
// (distill train --metrics), <name>.seconds (the run's wall time) and eval-teacher.json.
//
//	go run ./scripts/fashiontable --dir out/fashion-table --students "mlp cnn" --runs "alone kl dkd kl+std" --seeds "1 2 3"
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/pipeline/train"
)

func main() {
	dir := flag.String("dir", "out/fashion-table", "the runs' `folder`")
	students := flag.String("students", "mlp cnn", "the `students`, space-separated")
	runs := flag.String("runs", "alone kl dkd kl+std", "the `trainings`, space-separated")
	seeds := flag.String("seeds", "1 2 3", "the `seeds`, space-separated")
	flag.Parse()
	if err := run(*dir, strings.Fields(*students), strings.Fields(*runs), strings.Fields(*seeds), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fashiontable:", err)
		os.Exit(1)
	}
}

// cell is one (student, training) row: one result per seed.
type cell struct {
	student, run string
	acc          []float64
	errs         []int
	secs         []float64
}

func (c *cell) mean() float64 {
	var s float64
	for _, a := range c.acc {
		s += a
	}
	return s / float64(len(c.acc))
}

func (c *cell) span() (lo, hi float64) {
	lo, hi = c.acc[0], c.acc[0]
	for _, a := range c.acc {
		lo, hi = min(lo, a), max(hi, a)
	}
	return lo, hi
}

// readRun returns the last epoch's eval accuracy and errors of a run and its wall time.
func readRun(dir, name string) (acc float64, errs int, secs float64, err error) {
	f, err := os.Open(filepath.Join(dir, name+".jsonl"))
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	ms, err := train.ReadMetrics(f)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%s: %w", name, err)
	}
	if len(ms) == 0 || ms[len(ms)-1].EvalAccuracy == nil || ms[len(ms)-1].EvalErrors == nil {
		return 0, 0, 0, fmt.Errorf("%s: no eval metrics", name)
	}
	last := ms[len(ms)-1]
	b, err := os.ReadFile(filepath.Join(dir, name+".seconds"))
	if err != nil {
		return 0, 0, 0, err
	}
	if secs, err = strconv.ParseFloat(strings.TrimSpace(string(b)), 64); err != nil {
		return 0, 0, 0, fmt.Errorf("%s.seconds: %w", name, err)
	}
	return *last.EvalAccuracy, *last.EvalErrors, secs, nil
}

// run reads the runs and writes the table.
func run(dir string, students, runs, seeds []string, w io.Writer) error {
	var cells []*cell
	for _, s := range students {
		for _, r := range runs {
			c := &cell{student: s, run: r}
			for _, seed := range seeds {
				acc, errs, secs, err := readRun(dir, fmt.Sprintf("%s-%s-s%s", s, r, seed))
				if errors.Is(err, os.ErrNotExist) {
					continue // not run (yet)
				}
				if err != nil {
					return err
				}
				c.acc, c.errs, c.secs = append(c.acc, acc), append(c.errs, errs), append(c.secs, secs)
			}
			if len(c.acc) > 0 {
				cells = append(cells, c)
			}
		}
	}
	if err := teacherRow(dir, w); err != nil {
		return err
	}
	for _, c := range cells {
		lo, hi := c.span()
		var secs float64
		for _, s := range c.secs {
			secs += s
		}
		errs := make([]string, len(c.errs))
		for i, e := range c.errs {
			errs[i] = strconv.Itoa(e)
		}
		fmt.Fprintf(w, "| %s | %s | %.2f%% | %.2f–%.2f%% | %s | %d | %.0f s |\n", c.student, c.run, 100*c.mean(),
			100*lo, 100*hi, strings.Join(errs, ", "), len(c.acc), secs/float64(len(c.secs)))
	}
	fmt.Fprintln(w)
	margins(cells, w)
	return nil
}

// teacherRow writes the table's header and the teacher's row from eval-teacher.json, if there.
func teacherRow(dir string, w io.Writer) error {
	fmt.Fprintln(w, "| student | training | test accuracy (mean) | range over seeds | errors per seed | seeds | wall time per run |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|")
	b, err := os.ReadFile(filepath.Join(dir, "eval-teacher.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var r eval.Result
	if err := json.Unmarshal(b, &r); err != nil || r.Metrics == nil {
		return fmt.Errorf("eval-teacher.json: %v", err)
	}
	fmt.Fprintf(w, "| teacher | %s | %.2f%% | — | %d | — | — |\n", r.Model, 100*r.Metrics.Accuracy, r.Metrics.Errors)
	return nil
}

// margins writes, per student, the best distilled training's mean margin over the student alone
// and whether the two seed ranges overlap.
func margins(cells []*cell, w io.Writer) {
	alone := map[string]*cell{}
	best := map[string]*cell{}
	var order []string
	for _, c := range cells {
		if c.run == "alone" {
			alone[c.student] = c
			order = append(order, c.student)
		} else if b := best[c.student]; b == nil || c.mean() > b.mean() {
			best[c.student] = c
		}
	}
	for _, s := range order {
		a, b := alone[s], best[s]
		if b == nil {
			continue
		}
		alo, ahi := a.span()
		blo, bhi := b.span()
		apart := "the seed ranges overlap"
		if blo > ahi {
			apart = fmt.Sprintf("above the alone range by %.2f points", 100*(blo-ahi))
		} else if bhi < alo {
			apart = fmt.Sprintf("below the alone range by %.2f points", 100*(alo-bhi))
		}
		fmt.Fprintf(w, "%s: best distilled %s, %+.2f points against alone (means %.2f%% and %.2f%%; %s)\n",
			s, b.run, 100*(b.mean()-a.mean()), 100*b.mean(), 100*a.mean(), apart)
	}
}
