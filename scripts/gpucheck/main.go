package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/pipeline/dataset"
)

func main() {
	cfg := config{Device: "cuda", CPURows: 1024, CUDARows: onnx.DefaultBatchCUDA, Samples: 60000, Reps: 5}
	flag.StringVar(&cfg.Lib, "lib", "", "the CUDA build of onnxruntime `<libonnxruntime.so>` (default: as distill finds it)")
	flag.IntVar(&cfg.GPUID, "gpu-id", 0, "CUDA device ordinal `<n>`")
	flag.IntVar(&cfg.Samples, "samples", cfg.Samples, "samples of each timed pass `<n>`")
	flag.IntVar(&cfg.Reps, "reps", cfg.Reps, "timed passes per device `<n>` (the median is reported)")
	teacher := flag.String("teacher", "models/mnist-teacher.onnx", "the MNIST teacher `<model.onnx>`")
	images := flag.String("images", "data/mnist/t10k-images-idx3-ubyte.gz", "MNIST images `<file>` to compare on")
	flag.Parse()
	rs, err := run(context.Background(), os.Stdout, cfg, *teacher, *images)
	if err != nil {
		fmt.Println("gpucheck: FAIL:", err)
	}
	v := verdict(rs, cfg.Device, err)
	fmt.Println(v)
	if !strings.HasPrefix(v, "VERDICT PASS") {
		os.Exit(1)
	}
}

// run loads onnxruntime and the images and checks the teacher and the CNN, returning the results
// of the models it got through.
func run(ctx context.Context, w io.Writer, cfg config, teacher, images string) ([]result, error) {
	lib := cfg.Lib
	if lib == "" {
		var err error
		if lib, _, err = onnx.FindLibrary("", true); err != nil {
			return nil, err
		}
	}
	if err := onnx.Init(lib); err != nil {
		return nil, err
	}
	x, n, err := teacherInput(teacher, images)
	if err != nil {
		return nil, err
	}
	if cfg.Compare > 0 && cfg.Compare < n {
		n = cfg.Compare
	}
	timed := make([]float32, 0, cfg.Samples*784)
	for len(timed) < cap(timed) {
		timed = append(timed, x[:min(len(x), cap(timed)-len(timed))]...)
	}
	dir, err := os.MkdirTemp("", "gpucheck-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cnn := filepath.Join(dir, "convnet.onnx")
	data, err := convNet(1)
	if err == nil {
		err = os.WriteFile(cnn, data, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("write the conv test model %s: %w", cnn, err)
	}
	fmt.Fprintf(w, "gpucheck: onnxruntime %s, %d images from %s, CNN with %s\n", lib, n, images, strings.Join(convNetOps, ", "))
	var rs []result
	for _, m := range []struct{ name, path string }{{"mlp " + filepath.Base(teacher), teacher}, {"cnn convnet", cnn}} {
		r, err := checkModel(ctx, w, cfg, m.name, m.path, x, n, timed, smiSeen(w))
		if err != nil {
			return rs, fmt.Errorf("%s: %w", m.name, err)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// teacherInput reads the images and preprocesses them as the teacher records (distill.preprocess:
// one scale, mean and std for all pixels), returning the values and the sample count.
func teacherInput(teacher, images string) ([]float32, int, error) {
	info, err := onnx.ReadModelInfo(teacher)
	if err != nil {
		return nil, 0, err
	}
	var pre dataset.Preprocess
	if err := json.Unmarshal([]byte(info.Metadata["distill.preprocess"]), &pre); err != nil {
		return nil, 0, fmt.Errorf("teacher %s: distill.preprocess: %w", teacher, err)
	}
	if len(pre.Mean) > 1 || len(pre.Std) > 1 {
		return nil, 0, fmt.Errorf("teacher %s: per-channel preprocessing %s: want one value for all pixels", teacher, pre)
	}
	ds, err := dataset.Load(images, "")
	if err != nil {
		return nil, 0, err
	}
	if len(ds.X) != ds.N*784 {
		return nil, 0, fmt.Errorf("images %s: samples of shape %v, want 28x28", images, ds.Shape)
	}
	scale, mean, std := max(pre.Scale, 1), 0.0, 1.0
	if len(pre.Mean) == 1 {
		mean = pre.Mean[0]
	}
	if len(pre.Std) == 1 {
		std = pre.Std[0]
	}
	x := make([]float32, len(ds.X))
	for i, v := range ds.X {
		x[i] = float32((float64(v)/scale - mean) / std)
	}
	return x, ds.N, nil
}

// smiSeen returns a function that reports whether nvidia-smi lists this process among those
// using a GPU, or nil when there is no nvidia-smi. It writes what it found to w.
func smiSeen(w io.Writer) func() bool {
	if _, err := exec.LookPath("nvidia-smi"); err != nil {
		fmt.Fprintln(w, "gpucheck: no nvidia-smi; CPU fallback is disabled, so a session on CUDA runs every node there")
		return nil
	}
	return func() bool {
		out, err := exec.Command("nvidia-smi", "--query-compute-apps=pid,process_name,used_memory", "--format=csv,noheader").Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				out = append(out, ee.Stderr...)
			}
			fmt.Fprintf(w, "gpucheck: nvidia-smi: %v: %s\n", err, out)
			return false
		}
		pid := strconv.Itoa(os.Getpid())
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.SplitN(line, ",", 2); strings.TrimSpace(f[0]) == pid {
				fmt.Fprintf(w, "gpucheck: nvidia-smi lists this process: %s\n", strings.TrimSpace(line))
				return true
			}
		}
		fmt.Fprintf(w, "gpucheck: nvidia-smi does not list pid %s (another pid namespace?); its compute apps:\n%s", pid, out)
		return false
	}
}
