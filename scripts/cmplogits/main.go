package main

import (
	"flag"
	"fmt"
	"math"
	"os"

	"github.com/distillgo/distill/internal/safetensors"
)

func main() {
	// 1e-2 of the logit scale: TF32 matrix products on recent GPUs keep about 3 decimal digits.
	tol := flag.Float64("tol", 1e-2, "largest allowed |a-b|, relative to max(1, max |logit|)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: cmplogits [-tol <x>] <a.safetensors> <b.safetensors>")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Arg(1), *tol); err != nil {
		fmt.Fprintln(os.Stderr, "cmplogits:", err)
		os.Exit(1)
	}
}

func load(path string) ([]float32, []int, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	info, ok := f.Tensor("logits")
	if !ok {
		return nil, nil, fmt.Errorf("read %s: no tensor \"logits\"", path)
	}
	v, err := f.Float32("logits")
	if err != nil {
		return nil, nil, err
	}
	return v, info.Shape, nil
}

func run(pa, pb string, tol float64) error {
	a, sa, err := load(pa)
	if err != nil {
		return err
	}
	b, sb, err := load(pb)
	if err != nil {
		return err
	}
	if fmt.Sprint(sa) != fmt.Sprint(sb) || len(sa) < 2 {
		return fmt.Errorf("shapes differ or are not [..., N, C]: %s %v, %s %v", pa, sa, pb, sb)
	}
	c := sa[len(sa)-1]
	var maxDiff, sumDiff, maxAbs float64
	rows, agree := len(a)/c, 0
	for r := 0; r < rows; r++ {
		ia, ib := 0, 0
		for j := 0; j < c; j++ {
			i := r*c + j
			d := math.Abs(float64(a[i]) - float64(b[i]))
			maxDiff = math.Max(maxDiff, d)
			sumDiff += d
			maxAbs = math.Max(maxAbs, math.Abs(float64(a[i])))
			if a[i] > a[r*c+ia] {
				ia = j
			}
			if b[i] > b[r*c+ib] {
				ib = j
			}
		}
		if ia == ib {
			agree++
		}
	}
	fmt.Printf("logits %v: max |a-b| = %.3g, mean |a-b| = %.3g, max |logit| = %.3g, argmax agreement %d/%d\n",
		sa, maxDiff, sumDiff/float64(len(a)), maxAbs, agree, rows)
	if limit := tol * math.Max(1, maxAbs); maxDiff > limit {
		return fmt.Errorf("max |a-b| %.3g exceeds %.3g", maxDiff, limit)
	}
	return nil
}
