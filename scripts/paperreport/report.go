package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/distillgo/distill/pipeline/eval"
)

// The paper's figures: Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural
// Network", section 3.
const (
	paperTeacher      = 67   // the teacher's test errors
	paperNo3Errors    = 206  // no 3 in the transfer set: test errors
	paperNo3Threes    = 133  // of them on the 1,010 threes
	paperNo3Shifted   = 109  // with the bias of 3 raised by 3.5
	paperNo3ShiftedOf = 14   // of them on threes
	paper78Error      = 47.3 // only 7s and 8s: test error, %
	paper78Shifted    = 13.2 // with the biases of 7 and 8 lowered by 7.6, %
)

// write writes report.md and its plots to dir.
func (r *results) write(dir, teacher, command string) error {
	var md strings.Builder
	md.WriteString("# Hinton et al. 2015, section 3, on MNIST: the experiments beyond the headline\n\n")
	fmt.Fprintf(&md, "Produced by `%s` (scripts/paper.sh). Teacher: %s, %d test errors (the paper's: %d).\n", command, teacher, r.Teacher.Metrics.Errors, paperTeacher)
	md.WriteString("Transfer set: the first 55,000 MNIST training images, with the teacher's soft targets\n")
	md.WriteString("(offline, no jitter); the other 5,000 are held out, and only the fitted bias shifts see them.\n")
	md.WriteString("Every figure is on the 10,000 test images; with several seeds it is the mean, with the range in\n")
	md.WriteString("brackets. Preprocessing x/255, mean 0.5, std 0.5. Training times are the sums of the epochs'\n")
	md.WriteString("wall times on this machine.\n\n")
	if len(r.Exp1) > 0 {
		if err := r.writeExp1(&md, dir); err != nil {
			return err
		}
	}
	if len(r.Exp2) > 0 {
		if err := r.writeExp2(&md, dir); err != nil {
			return err
		}
	}
	if len(r.Exp3) > 0 {
		if err := r.writeExp3(&md, dir); err != nil {
			return err
		}
	}
	path := filepath.Join(dir, "report.md")
	if err := os.WriteFile(path, []byte(md.String()), 0o644); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	fmt.Print(md.String())
	return nil
}

func classErrors(r *eval.Result, k int) float64 { return float64(r.Metrics.PerClass[k].Errors) }

func shiftOf(r *eval.Result, k int) float64 {
	for _, s := range r.BiasShifts {
		if s.Class == k {
			return s.Delta
		}
	}
	return 0
}

// rowFunc writes one row of an experiment's table: its name, the runs' figure f as the mean and
// range with the given decimals and unit, and the paper's figure.
type rowFunc func(name string, f func(seedRun) float64, decimals int, unit, paper string)

// writeIntro writes an experiment's heading, the paragraph on its students (distilled with the
// class filter, the images it kept, the epochs, the seeds, the training time per seed; shift
// ends the paragraph) and the header of its table. It returns the writer of the table's rows.
func writeIntro(md *strings.Builder, runs []seedRun, heading, filter, shift string) rowFunc {
	n := len(runs)
	st := func(f func(seedRun) float64) stat { return statOf(over(runs, f)) }
	fmt.Fprintf(md, "## %s\n\n", heading)
	fmt.Fprintf(md, "784-800-800-10 students distilled with `%s` (%s of 55,000 images kept), %d epochs each,\n",
		filter, st(func(s seedRun) float64 { return float64(s.TrainedN) }).format(0, "", n), runs[0].Epochs)
	fmt.Fprintf(md, "seeds %s, %s s of training per seed. %s",
		seedList(runs), st(func(s seedRun) float64 { return s.Seconds }).format(0, "", n), shift)
	md.WriteString("| | ours | paper |\n|---|---:|---:|\n")
	return func(name string, f func(seedRun) float64, decimals int, unit, paper string) {
		fmt.Fprintf(md, "| %s | %s | %s |\n", name, st(f).format(decimals, unit, n), paper)
	}
}

// writeExp1 writes experiment 1 (no 3 in the transfer set): its table, the seeds and the plot.
func (r *results) writeExp1(md *strings.Builder, dir string) error {
	runs := r.Exp1
	threes := runs[0].Plain.Metrics.PerClass[3].N
	row := writeIntro(md, runs, "1. The digit 3 left out of the transfer set", "--exclude-classes 3",
		"The paper's shift is the bias of class 3 raised by 3.5; the fitted one\n"+
			"is `distill eval --fit-bias 3` on the 5,000 held-out training images.\n\n")
	row("test errors", func(s seedRun) float64 { return float64(s.Plain.Metrics.Errors) }, 1, "", strconv.Itoa(paperNo3Errors))
	row(fmt.Sprintf("of them on the %d threes", threes), func(s seedRun) float64 { return classErrors(s.Plain, 3) }, 1, "", strconv.Itoa(paperNo3Threes))
	row("test errors, bias of 3 + 3.5", func(s seedRun) float64 { return float64(s.Paper.Metrics.Errors) }, 1, "", strconv.Itoa(paperNo3Shifted))
	row("of them on threes", func(s seedRun) float64 { return classErrors(s.Paper, 3) }, 1, "", strconv.Itoa(paperNo3ShiftedOf))
	row("threes right, + 3.5", func(s seedRun) float64 { return 100 * s.Paper.Metrics.PerClass[3].Accuracy }, 1, "%", "98.6%")
	row("fitted shift of class 3", func(s seedRun) float64 { return shiftOf(s.Fit, 3) }, 2, "", "—")
	row("test errors, fitted shift", func(s seedRun) float64 { return float64(s.Fit.Metrics.Errors) }, 1, "", "—")
	row("of them on threes", func(s seedRun) float64 { return classErrors(s.Fit, 3) }, 1, "", "—")
	md.WriteString("\n")
	writeSeeds(md, runs, 3)
	if err := plotPerClass(filepath.Join(dir, "exp1-per-class.png"), "No 3 in the transfer set: test errors per class", runs, "+3.5 on 3"); err != nil {
		return err
	}
	md.WriteString("![per-class test errors without and with the bias shift](exp1-per-class.png)\n\n")
	return nil
}

// writeExp2 writes experiment 2 (only 7s and 8s): its table, the seeds and the plot.
func (r *results) writeExp2(md *strings.Builder, dir string) error {
	runs := r.Exp2
	pct := func(e *eval.Result) float64 { return 100 * float64(e.Metrics.Errors) / float64(e.Metrics.N) }
	row := writeIntro(md, runs, "2. Only 7s and 8s in the transfer set", "--only-classes 7,8",
		"The paper's shift lowers the biases of 7 and 8 by 7.6; the fitted\n"+
			"ones are `distill eval --fit-bias 7,8` on the held-out images (one 1-D search per class).\n\n")
	row("test error", func(s seedRun) float64 { return pct(s.Plain) }, 1, "%", fmt.Sprintf("%.1f%%", paper78Error))
	row("test error, biases of 7 and 8 − 7.6", func(s seedRun) float64 { return pct(s.Paper) }, 1, "%", fmt.Sprintf("%.1f%%", paper78Shifted))
	row("fitted shift of class 7", func(s seedRun) float64 { return shiftOf(s.Fit, 7) }, 2, "", "—")
	row("fitted shift of class 8", func(s seedRun) float64 { return shiftOf(s.Fit, 8) }, 2, "", "—")
	row("test error, fitted shifts", func(s seedRun) float64 { return pct(s.Fit) }, 1, "%", "—")
	md.WriteString("\n")
	writeSeeds(md, runs, -1)
	if err := plotPerClass(filepath.Join(dir, "exp2-per-class.png"), "Only 7s and 8s in the transfer set: test errors per class", runs, "−7.6 on 7, 8"); err != nil {
		return err
	}
	md.WriteString("![per-class test errors without and with the bias shifts](exp2-per-class.png)\n\n")
	return nil
}

// writeSeeds writes one line per seed: errors unshifted, with the paper's and the fitted
// shifts, and (class >= 0) the errors on that class.
func writeSeeds(md *strings.Builder, runs []seedRun, class int) {
	md.WriteString("Per seed (test errors; ")
	if class >= 0 {
		fmt.Fprintf(md, "in brackets, on class %d; ", class)
	}
	md.WriteString("the fitted shifts; their errors on the held-out set before and after):\n\n")
	md.WriteString("| seed | unshifted | paper's shift | fitted shift | fitted: test errors | held-out errors |\n|---|---:|---:|---|---:|---:|\n")
	cell := func(e *eval.Result) string {
		if class < 0 {
			return strconv.Itoa(e.Metrics.Errors)
		}
		return fmt.Sprintf("%d (%d)", e.Metrics.Errors, e.Metrics.PerClass[class].Errors)
	}
	for _, s := range runs {
		fit := "—"
		if s.Fit.BiasFit != nil {
			fit = fmt.Sprintf("%d → %d", s.Fit.BiasFit.ErrorsBefore, s.Fit.BiasFit.ErrorsAfter)
		}
		fmt.Fprintf(md, "| %s | %s | %s | %s | %s | %s |\n", s.Seed, cell(s.Plain), cell(s.Paper),
			formatShifts(s.Fit.BiasShifts), cell(s.Fit), fit)
	}
	md.WriteString("\n")
}

// formatShifts writes shifts as "7=-5.30,8=-7.70": the fitted ones lie on a grid of 0.05.
func formatShifts(shifts []eval.BiasShift) string {
	parts := make([]string, len(shifts))
	for i, s := range shifts {
		parts[i] = fmt.Sprintf("%d=%+.2f", s.Class, s.Delta)
	}
	return strings.Join(parts, ",")
}

func seedList(runs []seedRun) string {
	s := make([]string, len(runs))
	for i, r := range runs {
		s[i] = r.Seed
	}
	return strings.Join(s, ", ")
}

func (r *results) writeExp3(md *strings.Builder, dir string) error {
	md.WriteString("## 3. Small students and the temperature\n\n")
	names := make([]string, len(r.Exp3))
	for i, s := range r.Exp3 {
		names[i] = fmt.Sprintf("784-%s-%s-10 (seeds %s, %d epochs, %.0f s of training in all)", s.Units, s.Units, strings.Join(s.Seeds, ", "), s.Epochs, s.Seconds)
	}
	fmt.Fprintf(md, "Students %s, distilled offline at each T (`distill sweep`), beside each\n", strings.Join(names, "; "))
	md.WriteString("trained on hard labels alone. Test errors:\n\n")
	md.WriteString("| T |")
	for _, s := range r.Exp3 {
		fmt.Fprintf(md, " %s units |", s.Units)
	}
	md.WriteString("\n|---|")
	for range r.Exp3 {
		md.WriteString("---:|")
	}
	md.WriteString("\n| hard labels |")
	for _, s := range r.Exp3 {
		fmt.Fprintf(md, " %s |", statOf(intsToFloats(s.Hard)).format(1, "", len(s.Seeds)))
	}
	md.WriteString("\n")
	for i, t := range r.Exp3[0].Temps {
		fmt.Fprintf(md, "| %g |", t)
		for _, s := range r.Exp3 {
			cell := "—"
			if i < len(s.Temps) && s.Temps[i] == t {
				cell = statOf(intsToFloats(s.ByTemp[i])).format(1, "", len(s.Seeds))
				if best := bestTemp(s); best == i {
					cell = "**" + cell + "**"
				}
			}
			fmt.Fprintf(md, " %s |", cell)
		}
		md.WriteString("\n")
	}
	md.WriteString("\nThe lowest mean of each size is in bold. The paper: at 30 units, T between 2.5 and 4 worked\n")
	md.WriteString("clearly better than lower or higher; at 300 units or more, every T above 8 gave about the same.\n\n")
	if err := plotTemperature(filepath.Join(dir, "exp3-temperature.png"), r.Exp3); err != nil {
		return err
	}
	md.WriteString("![test errors against the temperature for each student size](exp3-temperature.png)\n\n")
	return nil
}

// bestTemp returns the index of the temperature with the lowest mean errors.
func bestTemp(s sizeRuns) int {
	best := 0
	for i := range s.ByTemp {
		if statOf(intsToFloats(s.ByTemp[i])).Mean < statOf(intsToFloats(s.ByTemp[best])).Mean {
			best = i
		}
	}
	return best
}
