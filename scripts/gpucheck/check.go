package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/pipeline/eval"
)

// minAgree is the least fraction of samples on which the two devices must agree on the class.
const minAgree = 0.999

// relTol bounds max |cpu - cuda| relative to max(1, max |logit|): TF32 matrix products on Ampere
// and later GPUs keep about 3 decimal digits, and 1e-2 of the logit scale is well above that and
// far below a wrong result (cmplogits uses the same bound).
const relTol = 1e-2

// config is how the check runs.
type config struct {
	Lib      string // the CUDA build of onnxruntime
	Device   string // the device under test: cuda (tests of the check itself use cpu)
	GPUID    int
	CPURows  int // rows per run on CPU (distill targets' default there)
	CUDARows int // rows per run on the device under test (onnx.DefaultBatchCUDA)
	Samples  int // samples of each timed pass (60,000: MNIST's training set size)
	Reps     int // timed passes per device; the median is reported
	Compare  int // images compared between the devices; 0: all
}

// result is what the check measured on one model.
type result struct {
	Name      string
	Device    string  // where the session under test ran: cuda:<id>
	MaxDiff   float64 // max |cpu - device| over the logits of the compared samples
	Tol       float64 // the bound on MaxDiff: relTol × max(1, max |logit|)
	Agree     float64 // fraction of the compared samples with the same argmax
	CPU, Dev  float64 // samples per second, median of Reps passes of Samples samples
	Compared  int
	Classes   int
	Published bool // the process was listed by nvidia-smi while the session was open
}

// ok says whether r passes: agreement, difference and the device.
func (r result) ok(device string) bool {
	return r.Agree >= minAgree && r.MaxDiff <= r.Tol && len(r.Device) >= len(device) && r.Device[:len(device)] == device
}

// checkModel opens the model at path on CPU and on the device under test (with CPU fallback
// disabled, so that Open fails if a node would not run there), compares their logits on the n
// samples x and times Reps passes of cfg.Samples samples of timed on each, after a warm-up on
// every batch shape of a pass (a full run and the tail). seen reports whether nvidia-smi lists
// the process while the sessions are open (nil: not asked).
func checkModel(ctx context.Context, w io.Writer, cfg config, name, path string, x []float32, n int, timed []float32, seen func() bool) (result, error) {
	r := result{Name: name, Compared: n}
	cpu, err := onnx.Open(path, onnx.Options{Device: "cpu", Batch: cfg.CPURows, Output: onnx.OutputLogits})
	if err != nil {
		return r, err
	}
	defer cpu.Close()
	dev, err := onnx.Open(path, onnx.Options{Device: cfg.Device, GPUID: cfg.GPUID, Batch: cfg.CUDARows,
		Output: onnx.OutputLogits, NoCPUFallback: true})
	if err != nil {
		return r, err
	}
	defer dev.Close()
	r.Device, r.Classes = dev.Device(), dev.Classes()
	if seen != nil {
		r.Published = seen()
	}
	zc, err := cpu.Logits(ctx, x, n)
	if err != nil {
		return r, err
	}
	zd, err := dev.Logits(ctx, x, n)
	if err != nil {
		return r, err
	}
	r.MaxDiff, r.Tol, r.Agree = compare(zc, zd, r.Classes)
	if r.CPU, err = throughput(ctx, cpu, timed, cfg); err != nil {
		return r, err
	}
	if r.Dev, err = throughput(ctx, dev, timed, cfg); err != nil {
		return r, err
	}
	fmt.Fprintf(w, "gpucheck: %s: %d samples compared, max |cpu - %s| = %.3g (bound %.3g), argmax agreement %.4f%%\n",
		name, n, r.Device, r.MaxDiff, r.Tol, 100*r.Agree)
	fmt.Fprintf(w, "gpucheck: %s: %d samples a pass, median of %d: cpu %.0f/s (batch %d), %s %.0f/s (batch %d), ratio %.2f\n",
		name, cfg.Samples, cfg.Reps, r.CPU, cfg.CPURows, r.Device, r.Dev, cfg.CUDARows, r.Dev/r.CPU)
	return r, nil
}

// compare returns max |a - b|, its bound relTol × max(1, max |a|) and the fraction of rows of c
// classes on which the argmax agrees.
func compare(a, b []float32, c int) (maxDiff, tol, agree float64) {
	var maxAbs float64
	for i := range a {
		maxDiff = math.Max(maxDiff, math.Abs(float64(a[i])-float64(b[i])))
		maxAbs = math.Max(maxAbs, math.Abs(float64(a[i])))
	}
	if math.IsNaN(maxDiff) {
		maxDiff = math.Inf(1)
	}
	rows, same := len(a)/c, 0
	for i := 0; i < rows; i++ {
		if eval.Argmax(a[i*c:(i+1)*c]) == eval.Argmax(b[i*c:(i+1)*c]) {
			same++
		}
	}
	return maxDiff, relTol * math.Max(1, maxAbs), float64(same) / float64(max(1, rows))
}

// throughput runs one warm-up over every batch shape of a pass (a full run of the session's
// rows, and the tail Samples mod rows), then Reps passes of cfg.Samples samples of timed, and
// returns the median samples per second.
func throughput(ctx context.Context, s *onnx.Session, timed []float32, cfg config) (float64, error) {
	rows := cfg.CPURows
	if s.Device() != "cpu" {
		rows = cfg.CUDARows
	}
	size := len(timed) / cfg.Samples
	warm := min(cfg.Samples, rows) + cfg.Samples%rows
	if _, err := s.Logits(ctx, timed[:warm*size], warm); err != nil {
		return 0, fmt.Errorf("warm-up on %s: %w", s.Device(), err)
	}
	secs := make([]float64, cfg.Reps)
	for i := range secs {
		start := time.Now()
		if _, err := s.Logits(ctx, timed, cfg.Samples); err != nil {
			return 0, fmt.Errorf("pass %d on %s: %w", i+1, s.Device(), err)
		}
		secs[i] = time.Since(start).Seconds()
	}
	slices.Sort(secs)
	return float64(cfg.Samples) / secs[len(secs)/2], nil
}

// verdict returns the check's last line for the results rs, of which the first is the MLP
// teacher, whose throughputs it reports; err is why the check stopped early, if it did.
func verdict(rs []result, device string, err error) string {
	if err != nil || len(rs) == 0 {
		return "VERDICT FAIL maxdiff=- agree=- cpu=-/s cuda=-/s ratio=-"
	}
	pass := true
	maxDiff, agree := 0.0, 1.0
	for _, r := range rs {
		pass = pass && r.ok(device)
		maxDiff, agree = math.Max(maxDiff, r.MaxDiff), math.Min(agree, r.Agree)
	}
	word := "FAIL"
	if pass {
		word = "PASS"
	}
	t := rs[0]
	return fmt.Sprintf("VERDICT %s maxdiff=%.3g agree=%.4f%% cpu=%.0f/s cuda=%.0f/s ratio=%.2f", word, maxDiff, 100*agree, t.CPU, t.Dev, t.Dev/t.CPU)
}
