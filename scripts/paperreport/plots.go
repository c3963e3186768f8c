package main

import (
	"fmt"
	"image/color"
	"os"
	"strconv"

	"github.com/distillgo/distill/pipeline/eval"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// plotPerClass draws each class's test errors (mean over the seeds) without a shift, with the
// paper's shift (named paperShift) and with the fitted one, as grouped bars.
func plotPerClass(path, title string, runs []seedRun, paperShift string) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "test errors (mean over seeds)"
	p.X.Label.Text = "true class"
	classes := len(runs[0].Plain.Metrics.PerClass)
	w := vg.Points(12)
	groups := []struct {
		name string
		res  func(seedRun) []float64
	}{
		{"no shift", func(s seedRun) []float64 { return perClassErrors(s.Plain.Metrics.PerClass) }},
		{"paper's shift (" + paperShift + ")", func(s seedRun) []float64 { return perClassErrors(s.Paper.Metrics.PerClass) }},
		{"fitted on held-out images", func(s seedRun) []float64 { return perClassErrors(s.Fit.Metrics.PerClass) }},
	}
	var top float64
	for g, grp := range groups {
		mean := make(plotter.Values, classes)
		for _, s := range runs {
			for k, v := range grp.res(s) {
				mean[k] += v / float64(len(runs))
			}
		}
		for _, v := range mean {
			top = max(top, v)
		}
		b, err := plotter.NewBarChart(mean, w)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		b.Color = plotutil.Color(g)
		b.Offset = vg.Length(g-1) * w
		p.Add(b)
		p.Legend.Add(grp.name, b)
	}
	names := make([]string, classes)
	for k := range names {
		names[k] = strconv.Itoa(k)
	}
	p.NominalX(names...)
	p.Legend.Top = true
	p.X.Min, p.X.Max = -0.7, float64(classes)-0.3
	p.Y.Min, p.Y.Max = 0, 1.35*top // room for the legend
	if err := p.Save(8*vg.Inch, 4.5*vg.Inch, path); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}

func perClassErrors(pc []eval.ClassErrors) []float64 {
	out := make([]float64, len(pc))
	for k, c := range pc {
		out[k] = float64(c.Errors)
	}
	return out
}

// plotTemperature draws each student size's test errors against T (mean over seeds, the range
// as error bars) in a panel of its own, with the hard-label students' mean as a dashed line. The
// temperatures are evenly spaced on the axis, labelled by value.
func plotTemperature(path string, sizes []sizeRuns) error {
	row := make([]*plot.Plot, len(sizes))
	for i, s := range sizes {
		p, err := temperaturePanel(s, i)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		row[i] = p
	}
	img := vgimg.New(vg.Length(len(sizes))*5*vg.Inch, 4.5*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(sizes), PadX: 6 * vg.Millimeter, PadY: vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	canvases := plot.Align([][]*plot.Plot{row}, tiles, dc)
	for i, p := range row {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return f.Close()
}

// temperaturePanel is one size's panel of plotTemperature, in colour i.
func temperaturePanel(s sizeRuns, i int) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("784-%s-%s-10: test errors against T", s.Units, s.Units)
	p.X.Label.Text = "temperature T"
	p.Y.Label.Text = "test errors (of 10,000)"
	p.Legend.Top = true
	pts := make(plotter.XYs, len(s.Temps))
	bars := make(plotterErrs, len(s.Temps))
	lo, hi := statOf(intsToFloats(s.Hard)).Min, statOf(intsToFloats(s.Hard)).Max
	for j := range s.Temps {
		st := statOf(intsToFloats(s.ByTemp[j]))
		pts[j] = plotter.XY{X: float64(j), Y: st.Mean}
		bars[j] = plotter.XY{X: st.Mean - st.Min, Y: st.Max - st.Mean}
		lo, hi = min(lo, st.Min), max(hi, st.Max)
	}
	line, scatter, err := plotter.NewLinePoints(pts)
	if err != nil {
		return nil, err
	}
	line.Color, scatter.Color, scatter.Shape = plotutil.Color(i), plotutil.Color(i), plotutil.Shape(i)
	eb, err := plotter.NewYErrorBars(errPoints{pts, bars})
	if err != nil {
		return nil, err
	}
	eb.Color = plotutil.Color(i)
	hard := statOf(intsToFloats(s.Hard)).Mean
	h, err := plotter.NewLine(plotter.XYs{{X: -0.3, Y: hard}, {X: float64(len(s.Temps)) - 0.7, Y: hard}})
	if err != nil {
		return nil, err
	}
	h.Color, h.Dashes = color.Gray{Y: 90}, []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(plotter.NewGrid(), line, scatter, eb, h)
	p.Legend.Add("distilled (mean, range over seeds)", line, scatter)
	p.Legend.Add("hard labels (mean)", h)
	labels := make([]string, len(s.Temps))
	for j, t := range s.Temps {
		labels[j] = strconv.FormatFloat(t, 'g', -1, 64)
	}
	p.NominalX(labels...)
	p.Y.Min, p.Y.Max = lo-0.05*(hi-lo+1), hi+0.35*(hi-lo+1) // room for the legend
	return p, nil
}

// plotterErrs holds each point's distance to the low and the high end of its range (X: low,
// Y: high).
type plotterErrs []plotter.XY

// errPoints gives plotter.NewYErrorBars the means and their ranges.
type errPoints struct {
	plotter.XYs
	errs plotterErrs
}

// YError returns the distances from point i's mean down to its smallest and up to its largest
// value.
func (e errPoints) YError(i int) (float64, float64) { return e.errs[i].X, e.errs[i].Y }
