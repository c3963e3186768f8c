// Command paperreport writes the report of scripts/paper.sh: report.md in its output folder, with
// one table per experiment beside the numbers of Hinton, Vinyals & Dean (2015), section 3, and
// PNG plots (per-class test errors without and with the bias shifts; test errors against the
// temperature for each student size). It reads what paper.sh left there:
//
//	eval-teacher.json                         the teacher on the test set
//	exp1/s<seed>/eval-{plain,paper,fit}.json  no 3 in the transfer set: unshifted, the paper's
//	exp2/s<seed>/eval-{plain,paper,fit}.json  shift, the fitted shift; only 7s and 8s: the same
//	exp1/s<seed>/student.jsonl, exp2/...      their training metrics
//	exp3/h<units>-s<seed>/hard.jsonl          small students on hard labels
//	exp3/h<units>-s<seed>/sweep/sweep.json    small students distilled at each temperature
//
// An experiment with no results in the folder is left out.
//
//	go run ./scripts/paperreport --dir out/paper --seeds "1 2 3" --units "30 300" --command "make paper"
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/pipeline/provenance"
	"github.com/distillgo/distill/pipeline/sweep"
	"github.com/distillgo/distill/pipeline/train"
	"github.com/distillgo/distill/student"
)

func main() {
	dir := flag.String("dir", "out/paper", "paper.sh's output `folder`")
	seeds := flag.String("seeds", "1 2 3", "the `seeds` run, space-separated")
	units := flag.String("units", "30 300", "the hidden `units` of experiment 3's students, space-separated")
	teacher := flag.String("teacher", "models/mnist-teacher.onnx", "the teacher `model`, named in the report")
	command := flag.String("command", "make paper", "the `command` that produced the run, quoted in the report")
	flag.Parse()
	r, err := read(*dir, strings.Fields(*seeds), strings.Fields(*units))
	if err == nil {
		err = r.write(*dir, *teacher, *command)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "paperreport:", err)
		os.Exit(1)
	}
}

// seedRun is one seed of experiment 1 or 2.
type seedRun struct {
	Seed              string
	Plain, Paper, Fit *eval.Result
	Epochs            int
	Seconds           float64 // training wall time, summed over the epochs
	TrainedN          int     // the samples the class filter kept (the checkpoint's provenance)
}

// sizeRuns are experiment 3's runs of one student size: per seed, the hard-label errors and the
// distilled errors at each temperature.
type sizeRuns struct {
	Units   string
	Seeds   []string
	Hard    []int
	Temps   []float64
	ByTemp  [][]int // [temperature][seed]
	Seconds float64
	Epochs  int
}

// results are all of paper.sh's results found in the folder.
type results struct {
	Teacher    *eval.Result
	Exp1, Exp2 []seedRun
	Exp3       []sizeRuns
}

func read(dir string, seeds, units []string) (*results, error) {
	r := &results{}
	var err error
	if r.Teacher, err = readEval(filepath.Join(dir, "eval-teacher.json")); err != nil {
		return nil, err
	}
	if r.Exp1, err = readFiltered(filepath.Join(dir, "exp1"), seeds); err != nil {
		return nil, err
	}
	if r.Exp2, err = readFiltered(filepath.Join(dir, "exp2"), seeds); err != nil {
		return nil, err
	}
	for _, u := range units {
		s, err := readSize(filepath.Join(dir, "exp3"), u, seeds)
		if err != nil {
			return nil, err
		}
		if s != nil {
			r.Exp3 = append(r.Exp3, *s)
		}
	}
	return r, nil
}

// readFiltered reads the seeds of experiment 1 or 2 whose three evaluations are all there.
func readFiltered(dir string, seeds []string) ([]seedRun, error) {
	var out []seedRun
	for _, s := range seeds {
		d := filepath.Join(dir, "s"+s)
		run := seedRun{Seed: s}
		var err error
		for _, f := range []struct {
			name string
			dst  **eval.Result
		}{{"plain", &run.Plain}, {"paper", &run.Paper}, {"fit", &run.Fit}} {
			if *f.dst, err = readEval(filepath.Join(d, "eval-"+f.name+".json")); err != nil {
				break
			}
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		epochs, err := readMetrics(filepath.Join(d, "student.jsonl"))
		if err != nil {
			return nil, err
		}
		run.Epochs, run.Seconds = len(epochs), seconds(epochs)
		ck, err := student.LoadCheckpoint(filepath.Join(d, "student.ckpt"))
		if err != nil {
			return nil, err
		}
		_, prov, err := provenance.Read(ck.Meta)
		if err != nil || prov == nil {
			return nil, fmt.Errorf("%s: no provenance (%v)", filepath.Join(d, "student.ckpt"), err)
		}
		run.TrainedN = prov.DataKept
		out = append(out, run)
	}
	return out, nil
}

// readSize reads experiment 3's runs of one student size, nil when none is complete.
func readSize(dir, units string, seeds []string) (*sizeRuns, error) {
	s := &sizeRuns{Units: units}
	for _, seed := range seeds {
		d := filepath.Join(dir, "h"+units+"-s"+seed)
		hard, err := readMetrics(filepath.Join(d, "hard.jsonl"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(filepath.Join(d, "sweep", "sweep.json"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var sw []sweep.Result
		if err := json.Unmarshal(b, &sw); err != nil {
			return nil, fmt.Errorf("read %s: %w", filepath.Join(d, "sweep", "sweep.json"), err)
		}
		if len(hard) == 0 || hard[len(hard)-1].EvalErrors == nil || len(sw) == 0 {
			continue
		}
		if s.Temps == nil {
			for _, r := range sw {
				s.Temps = append(s.Temps, r.Temperature)
			}
			s.ByTemp = make([][]int, len(sw))
			s.Epochs = sw[0].Epochs
		}
		if len(sw) != len(s.Temps) {
			return nil, fmt.Errorf("%s: %d runs, seed %s had %d", d, len(sw), s.Seeds[0], len(s.Temps))
		}
		s.Seeds = append(s.Seeds, seed)
		s.Hard = append(s.Hard, *hard[len(hard)-1].EvalErrors)
		s.Seconds += seconds(hard)
		for i, r := range sw {
			s.ByTemp[i] = append(s.ByTemp[i], r.Errors)
			s.Seconds += r.Seconds
		}
	}
	if len(s.Seeds) == 0 {
		return nil, nil
	}
	return s, nil
}

func readEval(path string) (*eval.Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read eval %s: %w", path, err)
	}
	var r eval.Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read eval %s: %w", path, err)
	}
	if r.Metrics == nil || len(r.Metrics.PerClass) == 0 {
		return nil, fmt.Errorf("read eval %s: no per-class metrics", path)
	}
	return &r, nil
}

func readMetrics(path string) ([]train.EpochMetrics, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := train.ReadMetrics(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return m, nil
}

func seconds(epochs []train.EpochMetrics) float64 {
	var s float64
	for _, e := range epochs {
		s += e.Seconds
	}
	return s
}

// stat is the mean and range of some runs' figures.
type stat struct{ Mean, Min, Max float64 }

func statOf(vs []float64) stat {
	s := stat{Min: vs[0], Max: vs[0]}
	for _, v := range vs {
		s.Mean += v / float64(len(vs))
		s.Min, s.Max = min(s.Min, v), max(s.Max, v)
	}
	return s
}

// format writes a statistic with the given decimals and unit: "205.3 (198.0–214.0)", or the
// value alone for one run or runs that agree.
func (s stat) format(decimals int, unit string, runs int) string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', decimals, 64) + unit }
	if runs == 1 || s.Min == s.Max {
		if unit == "" && s.Mean == math.Trunc(s.Mean) {
			return strconv.FormatFloat(s.Mean, 'f', 0, 64) // a count of one run
		}
		return f(s.Mean)
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.Mean), f(s.Min), f(s.Max))
}

// over returns f of every seed's run.
func over(runs []seedRun, f func(seedRun) float64) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		out[i] = f(r)
	}
	return out
}

func intsToFloats(vs []int) []float64 {
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i] = float64(v)
	}
	return out
}
