package pipeline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/distillgo/distill/internal/atomicfile"
)

// ECEBins is the number of equal-width confidence bins used for the expected calibration error.
// 15 is the usual choice since Guo et al. 2017 ("On Calibration of Modern Neural Networks").
const ECEBins = 15

// Classification holds the metrics of a classifier's logits against true labels.
type Classification struct {
	N         int     `json:"n"`         // number of samples
	Classes   int     `json:"classes"`   // number of classes
	Correct   int     `json:"correct"`   // samples whose arg-max logit is the label
	Errors    int     `json:"errors"`    // N - Correct
	Accuracy  float64 `json:"accuracy"`  // Correct / N
	MeanNLL   float64 `json:"mean_nll"`  // mean of -log softmax(z)[label], natural log
	ECE       float64 `json:"ece"`       // expected calibration error over ECEBins confidence bins
	Confusion [][]int `json:"confusion"` // Confusion[t][p] counts samples of true class t predicted as p
}

// Argmax returns the index of the largest value in row; the first one on ties. NaN is never the
// largest unless every value is NaN (then 0).
func Argmax(row []float32) int {
	best := 0
	for j := 1; j < len(row); j++ {
		if row[j] > row[best] || (row[best] != row[best] && row[j] == row[j]) {
			best = j
		}
	}
	return best
}

// logSoftmaxAt returns log softmax(row)[k] in float64, computed stably with log-sum-exp.
func logSoftmaxAt(row []float32, k int) float64 {
	m, s := softmaxParts(row)
	return float64(row[k]) - m - math.Log(s)
}

// softmaxParts returns m = max(row) and s = Σ_j exp(row[j] - m) in float64, from which
// softmax(row)[j] = exp(row[j] - m)/s and its log are computed without overflow.
func softmaxParts(row []float32) (m, s float64) {
	m = math.Inf(-1)
	for _, v := range row {
		m = math.Max(m, float64(v))
	}
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return m, s
}

// Classify computes accuracy, error count, mean negative log-likelihood, expected calibration error
// and the confusion matrix of logits [n, c] (row-major) against labels. Labels outside [0, c) and
// non-finite logits are errors naming the sample.
func Classify(logits []float32, n, c int, labels []int32) (*Classification, error) {
	if n <= 0 {
		return nil, errors.New("classify: no samples")
	}
	if c <= 0 || len(logits) != n*c {
		return nil, fmt.Errorf("classify: %d logits for %d samples of %d classes", len(logits), n, c)
	}
	if len(labels) != n {
		return nil, fmt.Errorf("classify: %d labels for %d samples", len(labels), n)
	}
	m := &Classification{N: n, Classes: c, Confusion: make([][]int, c)}
	for i := range m.Confusion {
		m.Confusion[i] = make([]int, c)
	}
	var binCount [ECEBins]int
	var binConf, binCorrect [ECEBins]float64
	var nll float64
	for i := range n {
		row := logits[i*c : (i+1)*c]
		for j, v := range row {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("classify: sample %d: logit %d is %v", i, j, v)
			}
		}
		y := int(labels[i])
		if y < 0 || y >= c {
			return nil, fmt.Errorf("classify: sample %d: label %d outside [0, %d)", i, y, c)
		}
		p := Argmax(row)
		m.Confusion[y][p]++
		ok := 0.0
		if p == y {
			m.Correct++
			ok = 1
		}
		nll -= logSoftmaxAt(row, y)
		conf := math.Exp(logSoftmaxAt(row, p))
		b := eceBin(conf)
		binCount[b]++
		binConf[b] += conf
		binCorrect[b] += ok
	}
	m.Errors = n - m.Correct
	m.Accuracy = float64(m.Correct) / float64(n)
	m.MeanNLL = nll / float64(n)
	for b := range ECEBins {
		if binCount[b] > 0 {
			m.ECE += math.Abs(binCorrect[b]-binConf[b]) / float64(n)
		}
	}
	return m, nil
}

// eceBin maps a confidence in [0, 1] to its bin: bin b holds (b/ECEBins, (b+1)/ECEBins], and bin 0
// also holds 0.
func eceBin(conf float64) int {
	b := int(math.Ceil(conf*ECEBins)) - 1
	return max(0, min(ECEBins-1, b))
}

// Agreement returns the fraction of the n samples on which two sets of logits [n, c] have the same
// arg-max (top-1 agreement, e.g. between student and teacher).
func Agreement(a, b []float32, n, c int) (float64, error) {
	if n <= 0 || c <= 0 || len(a) != n*c || len(b) != n*c {
		return 0, fmt.Errorf("agreement: %d and %d logits for %d samples of %d classes", len(a), len(b), n, c)
	}
	same := 0
	for i := range n {
		if Argmax(a[i*c:(i+1)*c]) == Argmax(b[i*c:(i+1)*c]) {
			same++
		}
	}
	return float64(same) / float64(n), nil
}

// EpochMetrics is one epoch of training, one JSON line of a --metrics file. Eval fields are absent
// (nil) when training has no eval data; Agreement only with an eval set and an online teacher.
type EpochMetrics struct {
	Epoch         int      `json:"epoch"`                    // 1-based
	Loss          float64  `json:"loss"`                     // mean training loss per example
	SoftLoss      float64  `json:"soft_loss"`                // mean T^2*KL (or MSE) part, before alpha weighting
	HardLoss      float64  `json:"hard_loss"`                // mean cross-entropy part, before (1-alpha) weighting
	EvalLoss      *float64 `json:"eval_loss,omitempty"`      // mean NLL on the eval set
	EvalAccuracy  *float64 `json:"eval_accuracy,omitempty"`  // top-1 accuracy on the eval set
	EvalErrors    *int     `json:"eval_errors,omitempty"`    // misclassified eval samples
	Agreement     *float64 `json:"eval_agreement,omitempty"` // student-teacher top-1 agreement on the eval set
	SamplesPerSec float64  `json:"samples_per_sec"`          // training samples per second, teacher included
	Seconds       float64  `json:"seconds"`                  // wall time of the epoch
}

// ReadMetrics reads a JSON-lines metrics file written by training. Blank lines are skipped.
func ReadMetrics(r io.Reader) ([]EpochMetrics, error) {
	var out []EpochMetrics
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var m EpochMetrics
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// WriteMetricsFile writes records as JSON lines to path atomically (temp file, fsync, rename).
func WriteMetricsFile(path string, records []EpochMetrics) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range records {
		if err := enc.Encode(&records[i]); err != nil {
			return fmt.Errorf("write metrics %s: %w", path, err)
		}
	}
	if err := writeFileAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("write metrics %s: %w", path, err)
	}
	return nil
}

// writeFileAtomic writes a file built in memory whole or not at all (see internal/atomicfile).
var writeFileAtomic = atomicfile.WriteFile

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
	palette := []color.Color{
		color.RGBA{R: 31, G: 119, B: 180, A: 255},
		color.RGBA{R: 255, G: 127, B: 14, A: 255},
		color.RGBA{R: 44, G: 160, B: 44, A: 255},
		color.RGBA{R: 214, G: 39, B: 40, A: 255},
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
	for _, e := range []error{
		add(loss, "train", series(func(r EpochMetrics) (float64, bool) { return r.Loss, true }), 0),
		add(loss, "soft", series(func(r EpochMetrics) (float64, bool) { return r.SoftLoss, true }), 1),
		add(loss, "hard", series(func(r EpochMetrics) (float64, bool) { return r.HardLoss, true }), 2),
		add(loss, "eval NLL", series(func(r EpochMetrics) (float64, bool) { return opt(r.EvalLoss) }), 3),
		add(acc, "eval accuracy", series(func(r EpochMetrics) (float64, bool) { return opt(r.EvalAccuracy) }), 0),
		add(acc, "teacher agreement", series(func(r EpochMetrics) (float64, bool) { return opt(r.Agreement) }), 1),
	} {
		if e != nil {
			return fmt.Errorf("plot %s: %w", path, e)
		}
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
	if err := writeFileAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}
