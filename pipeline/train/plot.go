package train

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/distillgo/distill/internal/atomicfile"
)

// PlotCurves draws training curves as a PNG at path: losses (training total, soft, hard, eval) on
// top and eval accuracy (and teacher agreement) below, against the epoch. Written atomically.
func PlotCurves(path string, records []EpochMetrics) error {
	if len(records) == 0 {
		return fmt.Errorf("plot %s: no epochs", path)
	}
	loss := plot.New()
	loss.Title.Text = "Training curves"
	loss.X.Label.Text = "epoch"
	loss.Y.Label.Text = "loss (mean per example)"
	loss.Legend.Top = true
	acc := plot.New()
	acc.X.Label.Text = "epoch"
	acc.Y.Label.Text = "eval accuracy"
	acc.Legend.Top = true
	acc.Legend.Left = true

	if err := addCurves(loss, acc, records); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	if records[0].EvalAccuracy == nil {
		acc.Title.Text = "no eval data"
	}

	img := vgimg.New(8*vg.Inch, 8*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	plots := [][]*plot.Plot{{loss}, {acc}}
	canvases := plot.Align(plots, tiles, dc)
	loss.Draw(canvases[0][0])
	acc.Draw(canvases[1][0])
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, buf.Bytes()); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}

// palette holds the curves' colours (matplotlib's first four).
var palette = []color.Color{
	color.RGBA{R: 31, G: 119, B: 180, A: 255},
	color.RGBA{R: 255, G: 127, B: 14, A: 255},
	color.RGBA{R: 44, G: 160, B: 44, A: 255},
	color.RGBA{R: 214, G: 39, B: 40, A: 255},
}

// addCurves adds the losses to the loss plot and the eval accuracy and agreement to acc.
func addCurves(loss, acc *plot.Plot, records []EpochMetrics) error {
	series := func(get func(EpochMetrics) (float64, bool)) plotter.XYs {
		var xys plotter.XYs
		for _, r := range records {
			if v, ok := get(r); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
				xys = append(xys, plotter.XY{X: float64(r.Epoch), Y: v})
			}
		}
		return xys
	}
	opt := func(p *float64) (float64, bool) {
		if p == nil {
			return 0, false
		}
		return *p, true
	}
	add := func(p *plot.Plot, name string, xys plotter.XYs, ci int) error {
		if len(xys) == 0 {
			return nil
		}
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		l.Color, s.Color = palette[ci], palette[ci]
		p.Add(l, s)
		p.Legend.Add(name, l, s)
		return nil
	}
	for _, err := range []error{
		add(loss, "train", series(func(r EpochMetrics) (float64, bool) { return r.Loss, true }), 0),
		add(loss, "soft", series(func(r EpochMetrics) (float64, bool) { return r.SoftLoss, true }), 1),
		add(loss, "hard", series(func(r EpochMetrics) (float64, bool) { return r.HardLoss, true }), 2),
		add(loss, "eval NLL", series(func(r EpochMetrics) (float64, bool) { return opt(r.EvalLoss) }), 3),
		add(acc, "eval accuracy", series(func(r EpochMetrics) (float64, bool) { return opt(r.EvalAccuracy) }), 0),
		add(acc, "teacher agreement", series(func(r EpochMetrics) (float64, bool) { return opt(r.Agreement) }), 1),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}
