// Command benchdeploy is the measuring half of scripts/bench-deploy.sh. It runs an exported
// student, as a float32 file and as an int8 one, under onnxruntime (package onnx, intra-op
// Threads 1 and 0) and under the pure-Go runtime onnx/purego/direct (runtime.GOMAXPROCS 1 and
// all cores: gonum's Sgemm splits its work over GOMAXPROCS goroutines), at batch 1 and batch
// 256, and prints images/s side by side, the Go allocations per call and the file sizes:
//
//	benchdeploy -f32 student.onnx -int8 student-int8.onnx -data t10k-images-idx3-ubyte.gz \
//	    [-labels t10k-labels-idx1-ubyte.gz] [-round 1s] [-rounds 3]
//
// The images are preprocessed once per file as the file records (metadata distill.preprocess,
// read with onnx.ReadModelInfo). A first pass over all of them at batch 256 warms every runtime
// up and gives its accuracy (with -labels) and its largest logit difference from onnxruntime
// on the float32 file. Then each cell is timed in -rounds rounds, interleaved over the cells so
// that load from other work on the machine falls on all of them alike; a round is a short
// warm-up and then calls for at least -round, cycling through the images, and the best round
// is kept. Calls at batch 1 are one image each; at batch 256, 256 images each.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/purego/direct"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/provenance"
)

// options are the command's flags.
type options struct {
	f32, int8, data, labels, lib string
	round                        time.Duration
	rounds                       int
}

var (
	batches = []int{1, 256}
	cores   = []int{1, 0} // 0: all cores
)

func main() {
	var o options
	flag.StringVar(&o.f32, "f32", "", "float32 ONNX student (distill export)")
	flag.StringVar(&o.int8, "int8", "", "int8 ONNX student (distill export --int8)")
	flag.StringVar(&o.data, "data", "", "raw images (IDX, gzip IDX or NPY), e.g. MNIST's t10k images")
	flag.StringVar(&o.labels, "labels", "", "their labels, for the accuracy of the warm-up pass (optional)")
	flag.StringVar(&o.lib, "ort-lib", "", "onnxruntime library (default: as distill finds it)")
	flag.DurationVar(&o.round, "round", time.Second, "least time of one timed round of a cell")
	flag.IntVar(&o.rounds, "rounds", 3, "timed rounds per cell; the best is kept")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchdeploy:", err)
		os.Exit(1)
	}
}

// file is one exported student and its preprocessed inputs.
type file struct {
	kind, path string
	size       int64
	x          []float32 // the images, preprocessed as the file records
}

// engine is one runtime on one file: call runs n images of x at batch b with c cores (0: all).
type engine struct {
	runtime string
	file    *file
	call    func(x []float32, n, b, c int) ([]float32, error)
	close   func()
}

// result is what one cell measured in its best round: images/s, the Go allocations per call and
// the process's CPU time over wall time (the cores it kept busy).
type result struct {
	perSec, allocs, bytes, busy float64
}

func run(o options, w io.Writer) error {
	if o.f32 == "" || o.int8 == "" || o.data == "" {
		return fmt.Errorf("-f32, -int8 and -data are required")
	}
	ds, err := dataset.Load(o.data, o.labels)
	if err != nil {
		return err
	}
	if ds.N < slices.Max(batches) {
		return fmt.Errorf("%s: %d images, need at least %d", o.data, ds.N, slices.Max(batches))
	}
	files := []*file{{kind: "float32", path: o.f32}, {kind: "int8", path: o.int8}}
	for _, f := range files {
		if err := f.load(ds); err != nil {
			return err
		}
	}
	engines, err := openEngines(o.lib, files)
	if err != nil {
		return err
	}
	defer func() {
		for _, e := range engines {
			e.close()
		}
	}()
	dim := ds.SampleSize()
	if err := warmUp(w, engines, ds); err != nil {
		return err
	}
	res, err := measureAll(engines, dim, ds.N, o)
	if err != nil {
		return err
	}
	report(w, engines, res, files, ds.N, o)
	return nil
}

// load reads the size and the recorded preprocessing of f and preprocesses the images of ds.
func (f *file) load(ds *dataset.Dataset) error {
	st, err := os.Stat(f.path)
	if err != nil {
		return err
	}
	f.size = st.Size()
	info, err := onnx.ReadModelInfo(f.path)
	if err != nil {
		return err
	}
	pre, _, err := provenance.Read(info.Metadata)
	if err != nil {
		return fmt.Errorf("model %s: %w", f.path, err)
	}
	if pre == nil {
		return fmt.Errorf("model %s records no preprocessing (distill.preprocess)", f.path)
	}
	f.x = make([]float32, len(ds.X))
	return pre.Apply(ds.X, ds.N, ds.Shape, f.x)
}

// openEngines opens onnxruntime and direct on each file: onnxruntime as one session per thread
// count and batch size, direct as one Model (its workspaces hold up to 256 rows).
func openEngines(lib string, files []*file) ([]*engine, error) {
	var out []*engine
	for _, f := range files {
		e, err := openORT(lib, f)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	for _, f := range files {
		m, err := direct.Load(f.path)
		if err != nil {
			return nil, err
		}
		// PredictInto reusing one output, as a server would: the steady state allocates nothing.
		var dst []float32
		call := func(x []float32, n, _, _ int) ([]float32, error) {
			y, err := m.PredictInto(dst, x, n)
			dst = y
			return y, err
		}
		out = append(out, &engine{runtime: "direct", file: f, call: call, close: func() { m.Close() }})
	}
	return out, nil
}

// setCores sets GOMAXPROCS for a run of e on c cores (0: all): c for direct, whose blocked
// products split their work over GOMAXPROCS goroutines; all cores for onnxruntime, whose threads are its own.
func (e *engine) setCores(c int) {
	if c == 0 || e.runtime != "direct" {
		c = runtime.NumCPU()
	}
	runtime.GOMAXPROCS(c)
}

// openORT opens the sessions of onnxruntime on f, keyed by threads and batch.
func openORT(lib string, f *file) (*engine, error) {
	type key struct{ threads, batch int }
	sess := map[key]model.Model{}
	closeAll := func() {
		for _, s := range sess {
			s.Close()
		}
	}
	for _, c := range cores {
		for _, b := range batches {
			s, err := (&onnx.Runtime{Lib: lib, Threads: c}).Open(f.path, model.Options{Batch: b, Output: model.OutputLogits})
			if err != nil {
				closeAll()
				return nil, err
			}
			sess[key{c, b}] = s
		}
	}
	call := func(x []float32, n, b, c int) ([]float32, error) {
		return sess[key{c, b}].Logits(context.Background(), x, n)
	}
	return &engine{runtime: "onnxruntime", file: f, call: call, close: closeAll}, nil
}

// warmUp runs every engine once over all the images at batch 256 on all cores and prints its
// accuracy (when ds has labels) and its largest logit difference from onnxruntime float32.
func warmUp(w io.Writer, engines []*engine, ds *dataset.Dataset) error {
	fmt.Fprintf(w, "warm-up: one pass over %d images at batch 256, all cores\n", ds.N)
	var ref []float32
	for _, e := range engines {
		e.setCores(0)
		y, err := e.call(e.file.x, ds.N, 256, 0)
		if err != nil {
			return fmt.Errorf("%s on %s: %w", e.runtime, e.file.path, err)
		}
		if ref == nil {
			ref = y
		}
		fmt.Fprintf(w, "  %-11s %-7s max |logit - onnxruntime float32| %.3g", e.runtime, e.file.kind, maxDiff(y, ref))
		if ds.Labels != nil {
			fmt.Fprintf(w, ", accuracy %.2f%%", 100*accuracy(y, ds.Labels))
		}
		fmt.Fprintln(w)
	}
	return nil
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// accuracy is the fraction of rows of logits y whose argmax is the label.
func accuracy(y []float32, labels []int32) float64 {
	c := len(y) / len(labels)
	right := 0
	for i, l := range labels {
		row := y[i*c : (i+1)*c]
		if int32(slices.Index(row, slices.Max(row))) == l {
			right++
		}
	}
	return float64(right) / float64(len(labels))
}

// cellKey names a column of the table: a batch size and a core count (0: all).
type cellKey struct{ batch, cores int }

func columns() []cellKey {
	var out []cellKey
	for _, b := range batches {
		for _, c := range cores {
			out = append(out, cellKey{b, c})
		}
	}
	return out
}

// measureAll times every engine in every column, o.rounds times interleaved, keeping the best.
func measureAll(engines []*engine, dim, n int, o options) ([][]result, error) {
	res := make([][]result, len(engines))
	for i := range res {
		res[i] = make([]result, len(columns()))
	}
	for range o.rounds {
		for i, e := range engines {
			for j, k := range columns() {
				r, err := measure(e, k, dim, n, o.round)
				if err != nil {
					return nil, fmt.Errorf("%s on %s: %w", e.runtime, e.file.path, err)
				}
				if r.perSec > res[i][j].perSec {
					res[i][j] = r
				}
			}
		}
	}
	runtime.GOMAXPROCS(runtime.NumCPU())
	return res, nil
}

// measure runs e at k's batch and cores for a short warm-up, then for at least d, cycling
// through the n images; it returns images/s and the Go allocations per call of the timed calls.
func measure(e *engine, k cellKey, dim, n int, d time.Duration) (result, error) {
	chunks := n / k.batch
	next := func(i int) []float32 {
		off := (i % chunks) * k.batch * dim
		return e.file.x[off : off+k.batch*dim]
	}
	e.setCores(k.cores)
	for i := range 3 + 300/k.batch {
		if _, err := e.call(next(i), k.batch, k.batch, k.cores); err != nil {
			return result{}, err
		}
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime()
	calls, start := 0, time.Now()
	for ; calls == 0 || time.Since(start) < d; calls++ {
		if _, err := e.call(next(calls), k.batch, k.batch, k.cores); err != nil {
			return result{}, err
		}
	}
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&after)
	return result{
		perSec: float64(calls*k.batch) / elapsed.Seconds(),
		allocs: float64(after.Mallocs-before.Mallocs) / float64(calls),
		bytes:  float64(after.TotalAlloc-before.TotalAlloc) / float64(calls),
		busy:   cpu.Seconds() / elapsed.Seconds(),
	}, nil
}

// cpuTime is the user and system CPU time of the process so far, all threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report prints the images/s table, the allocations per call and the file sizes.
func report(w io.Writer, engines []*engine, res [][]result, files []*file, n int, o options) {
	all := runtime.NumCPU()
	fmt.Fprintf(w, "\nimages/s, best of %d rounds of >= %v per cell (%d test images cycled; %d cores; onnxruntime Threads 1 / 0, direct GOMAXPROCS 1 / %d)\n\n",
		o.rounds, o.round, n, all, all)
	head := func(f func(k cellKey) string) {
		fmt.Fprintf(w, "%-12s %-8s", "", "")
		for _, k := range columns() {
			fmt.Fprintf(w, " %15s", f(k))
		}
		fmt.Fprintln(w)
	}
	head(func(k cellKey) string { return fmt.Sprintf("batch %d", k.batch) })
	head(func(k cellKey) string {
		if k.cores == 0 {
			return fmt.Sprintf("%d cores", all)
		}
		return "1 core"
	})
	rows(w, engines, res, func(r result) string { return fmt.Sprintf("%.0f", r.perSec) })
	fmt.Fprintf(w, "\nGo allocations per call, allocs (bytes) (onnxruntime: the Go side only)\n\n")
	rows(w, engines, res, func(r result) string { return fmt.Sprintf("%.1f (%.0f B)", r.allocs, r.bytes) })
	fmt.Fprintf(w, "\ncores kept busy (process CPU time / wall time of the best round)\n\n")
	rows(w, engines, res, func(r result) string { return fmt.Sprintf("%.2f", r.busy) })
	fmt.Fprintln(w)
	for _, f := range files {
		fmt.Fprintf(w, "%-8s %s: %d bytes (%.1f%% of float32)\n", f.kind, f.path, f.size, 100*float64(f.size)/float64(files[0].size))
	}
	if p, ok := onnx.Initialized(); ok {
		fmt.Fprintf(w, "onnxruntime: %s\n", p)
	}
}

// rows prints one line per engine, the cells of res formatted by f.
func rows(w io.Writer, engines []*engine, res [][]result, f func(result) string) {
	for i, e := range engines {
		fmt.Fprintf(w, "%-12s %-8s", e.runtime, e.file.kind)
		for j := range columns() {
			fmt.Fprintf(w, " %15s", f(res[i][j]))
		}
		fmt.Fprintln(w)
	}
}
