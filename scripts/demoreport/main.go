// Command demoreport writes the results of scripts/demo.sh: a table on stdout and, in the demo's
// output folder, report.md with two PNG plots (the students' test errors per epoch, and the test
// errors of each model beside the paper's). It reads what the demo left there: each student's
// per-epoch metrics (baseline.jsonl, distilled.jsonl and, when the demo trained the jittered
// baseline, baseline-jitter.jsonl) and the eval JSON of each model (eval-teacher.json,
// eval-baseline.json, eval-distilled.json, eval-distilled-onnx.json, eval-baseline-jitter.json);
// and the teacher's metrics beside its model (models/mnist-teacher.jsonl).
//
//	go run ./scripts/demoreport --dir out/demo --teacher models/mnist-teacher.onnx --command "make demo"
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/pipeline/train"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Paper figures: Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network", §3:
// test errors of the big net, the small net trained alone and the distilled small net on MNIST.
const (
	paperTeacher   = 67
	paperBaseline  = 146
	paperDistilled = 74
)

// row is one model's line of the results table.
type row struct {
	Name      string
	Short     string // the name in plots' legends and axes
	Eval      *eval.Result
	Epochs    []train.EpochMetrics // nil when the training run is not in the folder
	PaperErrs int
}

func main() {
	dir := flag.String("dir", "out/demo", "the demo's output `folder`")
	teacher := flag.String("teacher", "models/mnist-teacher.onnx", "the teacher `model` (for its sha256)")
	teacherMetrics := flag.String("teacher-metrics", "", "the teacher's training metrics `file` (default: the teacher's path with .jsonl for .onnx)")
	command := flag.String("command", "make demo", "the `command` that produced the run, quoted in the report")
	var s settings
	flag.Float64Var(&s.T, "T", 20, "the distilled student's `temperature`")
	flag.Float64Var(&s.Alpha, "alpha", 0.7, "the distilled student's `alpha`")
	flag.IntVar(&s.Jitter, "jitter", 2, "the `pixels` of jitter of the distilled student and the jittered baseline")
	flag.IntVar(&s.BaselineJitter, "baseline-jitter", 0, "the `pixels` of jitter of the baseline student")
	flag.StringVar(&s.Dataset, "dataset", "MNIST", "the data set's `name` in titles (any but MNIST has no paper figures)")
	flag.StringVar(&s.Teacher, "teacher-name", "784-1200-1200-10", "the teacher's architecture, `words` for its row")
	flag.StringVar(&s.Student, "student-name", "784-800-800-10", "the students' architecture, `words` for their rows")
	flag.Parse()
	s.Paper = s.Dataset == "MNIST"
	if err := run(*dir, *teacher, *teacherMetrics, *command, s, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demoreport:", err)
		os.Exit(1)
	}
}

// settings are the demo's settings that name the rows of the report.
type settings struct {
	T, Alpha               float64
	Jitter, BaselineJitter int
	Dataset                string // in titles: MNIST or Fashion-MNIST
	Teacher, Student       string // the architectures, in the rows' names
	Paper                  bool   // show Hinton et al.'s MNIST figures
}

// jitterName describes k pixels of jitter for a row's name.
func jitterName(k int) string {
	if k == 0 {
		return "no jitter"
	}
	return fmt.Sprintf("jitter %d", k)
}

// run reads the demo's results from dir, draws the plots, prints the table to stdout and writes
// report.md.
func run(dir, teacher, teacherMetrics, command string, s settings, stdout io.Writer) error {
	rows, err := readRows(dir, teacher, teacherMetrics, s)
	if err != nil {
		return err
	}
	onnxEval, err := readEval(filepath.Join(dir, "eval-distilled-onnx.json"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	sum, err := dataset.FileSHA256(teacher)
	if err != nil {
		return err
	}

	if err := plotCurves(filepath.Join(dir, "curves.png"), s.Dataset, rows[1:], rows[0].Eval.Metrics.Errors); err != nil {
		return err
	}
	if err := plotErrors(filepath.Join(dir, "errors.png"), s.Dataset, rows); err != nil {
		return err
	}

	table := formatTable(rows)
	fmt.Fprint(stdout, table)
	md := reportMarkdown(dir, command, teacher, sum, table, s, rows[len(rows)-1], onnxEval)
	path := filepath.Join(dir, "report.md")
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	return nil
}

// readRows returns the rows of the report: teacher, baseline, jittered baseline (left out when
// the demo did not train it) and distilled student, each with its eval result and, where the
// folder (or, for the teacher, teacherMetrics or the file beside the teacher) has them, its
// per-epoch metrics.
func readRows(dir, teacher, teacherMetrics string, s settings) ([]*row, error) {
	rows := []*row{
		{Name: "teacher " + s.Teacher, Short: "teacher", PaperErrs: paperTeacher},
		{Name: fmt.Sprintf("baseline student %s (hard labels, %s)", s.Student, jitterName(s.BaselineJitter)),
			Short: "baseline, " + jitterName(s.BaselineJitter)},
		{Name: fmt.Sprintf("baseline student %s (hard labels, %s)", s.Student, jitterName(s.Jitter)),
			Short: "baseline, " + jitterName(s.Jitter)},
		{Name: fmt.Sprintf("distilled student %s (T=%g, alpha=%g, %s)", s.Student, s.T, s.Alpha, jitterName(s.Jitter)),
			Short: "distilled", PaperErrs: paperDistilled},
	}
	if s.BaselineJitter == 0 {
		rows[1].PaperErrs = paperBaseline // the paper's small net alone had no regularisation
	}
	if !s.Paper {
		for _, r := range rows {
			r.PaperErrs = 0
		}
	}
	files := []string{"teacher", "baseline", "baseline-jitter", "distilled"}
	var err error
	for i, name := range files {
		if rows[i].Eval, err = readEval(filepath.Join(dir, "eval-"+name+".json")); err != nil {
			if name == "baseline-jitter" && errors.Is(err, os.ErrNotExist) {
				continue // the demo ran without the second baseline
			}
			return nil, err
		}
		if i > 0 {
			if rows[i].Epochs, err = readMetrics(filepath.Join(dir, name+".jsonl")); err != nil {
				return nil, err
			}
		}
	}
	if teacherMetrics == "" {
		teacherMetrics = strings.TrimSuffix(teacher, ".onnx") + ".jsonl"
	}
	if rows[0].Epochs, err = readMetrics(teacherMetrics); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if rows[2].Eval == nil {
		rows = append(rows[:2], rows[3])
	}
	return rows, nil
}

// reportMarkdown returns report.md: the table, the exported student's errors beside its
// checkpoint's (when onnxEval is not nil), and the plots that are in dir.
func reportMarkdown(dir, command, teacher, teacherSum, table string, s settings, distilled *row, onnxEval *eval.Result) string {
	var md strings.Builder
	fmt.Fprintf(&md, "# %s distillation: results\n\n", s.Dataset)
	fmt.Fprintf(&md, "Produced by `%s` (scripts/demo.sh). Test set: the 10,000 %s test images. Preprocessing\n", command, s.Dataset)
	fmt.Fprintf(&md, "x/255, mean 0.5, std 0.5; \"jitter k\": training images shifted by up to k pixels. Teacher: %s (sha256 %s).\n\n", teacher, teacherSum)
	md.WriteString(table)
	md.WriteString("\nTraining time is the sum of the epochs' wall times on this machine (the distilled student's\n")
	md.WriteString("includes running the online teacher on every batch). Agreement is top-1 agreement with the teacher\n")
	if s.Paper {
		md.WriteString("on the test set. Paper: Hinton, Vinyals & Dean (2015), section 3 (their runs were far longer).\n\n")
	} else {
		md.WriteString("on the test set.\n\n")
	}
	if onnxEval != nil {
		d := distilled.Eval.Metrics
		o := onnxEval.Metrics
		fmt.Fprintf(&md, "The exported distilled student (distilled.onnx, run by onnxruntime) makes %d errors (%.2f%%);\n", o.Errors, 100*o.Accuracy)
		fmt.Fprintf(&md, "its checkpoint under the Go student makes %d.\n\n", d.Errors)
	}
	md.WriteString("## Test errors per epoch\n\n![test errors of the students per epoch](curves.png)\n\n")
	md.WriteString("## Test errors per model\n\n![test errors per model, this run and the paper](errors.png)\n\n")
	md.WriteString("## Per-epoch curves of each run\n\n")
	for _, name := range []string{"baseline", "baseline-jitter", "distilled", "teacher"} {
		if _, err := os.Stat(filepath.Join(dir, name+".png")); err == nil {
			fmt.Fprintf(&md, "![%s](%s.png)\n\n", name, name)
		}
	}
	return md.String()
}

// formatTable returns the results as a Markdown table (readable in a terminal too). The paper's
// column is there only when a row has a figure of the paper (the MNIST demo, not Fashion-MNIST).
func formatTable(rows []*row) string {
	paperCol := false
	for _, r := range rows {
		paperCol = paperCol || r.PaperErrs > 0
	}
	var b strings.Builder
	if paperCol {
		b.WriteString("| model | test accuracy | test errors | paper's errors | agreement with teacher | mean NLL | ECE | epochs | training time |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	} else {
		b.WriteString("| model | test accuracy | test errors | agreement with teacher | mean NLL | ECE | epochs | training time |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	}
	for _, r := range rows {
		m := r.Eval.Metrics
		agree := "—"
		if r.Eval.Agreement != nil {
			agree = fmt.Sprintf("%.2f%%", 100**r.Eval.Agreement)
		}
		epochs, secs := "—", "—"
		if len(r.Epochs) > 0 {
			var s float64
			for _, e := range r.Epochs {
				s += e.Seconds
			}
			epochs = fmt.Sprint(len(r.Epochs))
			secs = fmt.Sprintf("%.0f s", s)
		}
		paper := ""
		if paperCol {
			paper = " — |"
			if r.PaperErrs > 0 {
				paper = fmt.Sprintf(" %d |", r.PaperErrs)
			}
		}
		fmt.Fprintf(&b, "| %s | %.2f%% | %d |%s %s | %.4f | %.4f | %s | %s |\n",
			r.Name, 100*m.Accuracy, m.Errors, paper, agree, m.MeanNLL, m.ECE, epochs, secs)
	}
	return b.String()
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
	if r.Metrics == nil {
		return nil, fmt.Errorf("read eval %s: no metrics", path)
	}
	return &r, nil
}

func readMetrics(path string) ([]train.EpochMetrics, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read metrics %s: %w", path, err)
	}
	defer f.Close()
	recs, err := train.ReadMetrics(f)
	if err != nil {
		return nil, fmt.Errorf("read metrics %s: %w", path, err)
	}
	return recs, nil
}

// plotCurves draws the students' test errors per epoch, with the teacher's as a line.
func plotCurves(path, dataset string, students []*row, teacherErrs int) error {
	p := plot.New()
	p.Title.Text = dataset + " test errors per epoch (10,000 images)"
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "test errors"
	p.Legend.Top = true
	maxEpoch := 1
	for i, r := range students {
		var xys plotter.XYs
		for _, e := range r.Epochs {
			if e.EvalErrors != nil {
				xys = append(xys, plotter.XY{X: float64(e.Epoch), Y: float64(*e.EvalErrors)})
				maxEpoch = max(maxEpoch, e.Epoch)
			}
		}
		if len(xys) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		l.Color, s.Color = plotutil.Color(i), plotutil.Color(i)
		s.Shape = plotutil.Shape(i)
		p.Add(l, s)
		p.Legend.Add(r.Short, l, s)
	}
	t, err := plotter.NewLine(plotter.XYs{{X: 1, Y: float64(teacherErrs)}, {X: float64(maxEpoch), Y: float64(teacherErrs)}})
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	t.Color = color.Gray{Y: 96}
	t.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(t)
	p.Legend.Add("teacher", t)
	p.Y.Min = 0
	// The first epochs' errors dwarf the last ones; clip the axis so the end stays readable.
	var last float64
	for _, r := range students {
		if n := len(r.Epochs); n > 0 && r.Epochs[n-1].EvalErrors != nil {
			last = max(last, float64(*r.Epochs[n-1].EvalErrors))
		}
	}
	if last > 0 {
		p.Y.Max = 3 * last
	}
	p.Add(plotter.NewGrid())
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}

// plotErrors draws each model's test errors beside the paper's as grouped bars.
func plotErrors(path, dataset string, rows []*row) error {
	p := plot.New()
	p.Title.Text = dataset + " test errors per model"
	p.Y.Label.Text = "test errors (of 10,000)"
	ours := make(plotter.Values, len(rows))
	paper := make(plotter.Values, len(rows))
	names := make([]string, len(rows))
	for i, r := range rows {
		ours[i] = float64(r.Eval.Metrics.Errors)
		paper[i] = float64(r.PaperErrs)
		names[i] = r.Short
	}
	w := vg.Points(28)
	a, err := plotter.NewBarChart(ours, w)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	a.Color = plotutil.Color(0)
	a.Offset = -w / 2
	b, err := plotter.NewBarChart(paper, w)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	b.Color = color.Gray{Y: 170}
	b.Offset = w / 2
	p.Add(a, b)
	p.Legend.Add("this run", a)
	p.Legend.Add("Hinton et al. 2015", b)
	p.Legend.Top = true
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.6, float64(len(rows))-0.4 // room for the outer bars
	p.Y.Min = 0
	p.Y.Max = 1.3 * max(plotutilMax(ours), plotutilMax(paper)) // room for the legend
	if err := p.Save(7*vg.Inch, 4.5*vg.Inch, path); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}

// plotutilMax returns the largest of vs (0 when empty).
func plotutilMax(vs plotter.Values) float64 {
	var m float64
	for _, v := range vs {
		m = max(m, v)
	}
	return m
}
