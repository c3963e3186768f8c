// Command mkimagefolder writes an IDX data set of gray images (MNIST's format) as an image folder
// for scripts/bench-imagefolder.sh: <out>/<label>/<index>.png, the index zero-padded to five
// digits so that the files of a class sort in the IDX order; with -labels "" a flat folder,
// <out>/<index>.png, such as `distill predict` takes. It writes into <out>.tmp and renames
// it to <out> when every file is written, so an interrupted run leaves no half folder behind.
//
//	mkimagefolder -data <images.idx[.gz]> -labels <labels.idx[.gz]|""> [-n <n>] -out <folder>
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/distillgo/distill/pipeline/dataset"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mkimagefolder:", err)
		os.Exit(1)
	}
}

func run() error {
	data := flag.String("data", "data/mnist/train-images-idx3-ubyte.gz", "IDX images `file` of shape [N, h, w], values 0..255")
	labels := flag.String("labels", "data/mnist/train-labels-idx1-ubyte.gz", "IDX labels `file`; empty: a flat folder, <out>/<index>.png, without class folders")
	out := flag.String("out", "out/bench-imagefolder/mnist-png", "image `folder` to write; must not exist")
	n := flag.Int("n", 0, "write the first `n` images only (0: all)")
	flag.Parse()
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("%s exists", *out)
	}
	ds, err := dataset.Load(*data, *labels)
	if err != nil {
		return err
	}
	if len(ds.Shape) != 2 {
		return fmt.Errorf("%s: samples of shape %v, want [h, w]", *data, ds.Shape)
	}
	if *n > 0 {
		ds.N = min(ds.N, *n)
	}
	tmp := *out + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := write(ds, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	fmt.Printf("mkimagefolder: wrote %d %dx%d PNG files to %s\n", ds.N, ds.Shape[0], ds.Shape[1], *out)
	return nil
}

// write writes the first ds.N samples of ds as PNG files under dir, in their class folders (in
// dir itself when ds has no labels), on all cores.
func write(ds *dataset.Dataset, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// folder returns the folder of sample i.
	folder := func(i int) string {
		if ds.Labels == nil {
			return dir
		}
		return filepath.Join(dir, fmt.Sprint(ds.Labels[i]))
	}
	for i := range ds.N {
		if err := os.MkdirAll(folder(i), 0o755); err != nil {
			return err
		}
	}
	h, w := ds.Shape[0], ds.Shape[1]
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	workers := runtime.GOMAXPROCS(0)
	for k := range workers {
		wg.Go(func() {
			var buf bytes.Buffer
			img := image.NewGray(image.Rect(0, 0, w, h))
			for i := k; i < ds.N; i += workers {
				for j, v := range ds.Sample(i) {
					img.Pix[j] = uint8(v)
				}
				buf.Reset()
				err := png.Encode(&buf, img)
				if err == nil {
					err = os.WriteFile(filepath.Join(folder(i), fmt.Sprintf("%05d.png", i)), buf.Bytes(), 0o644)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
