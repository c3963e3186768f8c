package nn

import (
	"runtime"
	"sync"
)

// This file holds the loops the training kernels share: splitting work over GOMAXPROCS
// goroutines in a way that never changes a result, and the gradient helpers of more than one
// operator. The inference kernels run on one goroutine: the runtime parallelises their products.

// elemParallelMin is the smallest element count worth splitting across goroutines.
const elemParallelMin = 1 << 15

// parallelFor runs fn over [0,n) split into GOMAXPROCS contiguous chunks when n is large.
func parallelFor(n int, fn func(lo, hi int)) { parallelRows(n, 1, fn) }

// parallelRows runs fn over rows [0,n) of rowLen elements each, split into GOMAXPROCS contiguous
// chunks when there are enough elements to be worth it.
func parallelRows(n, rowLen int, fn func(lo, hi int)) {
	parallelRowsPart(n, rowLen, func(_, lo, hi int) { fn(lo, hi) })
}

// parallelRowsPart is parallelRows passing each chunk's index too (below GOMAXPROCS), for its
// scratch buffer.
func parallelRowsPart(n, rowLen int, fn func(part, lo, hi int)) {
	p := runtime.GOMAXPROCS(0)
	if p < 2 || n < 2 || n*rowLen < elemParallelMin {
		fn(0, 0, n)
		return
	}
	p = min(p, n, n*rowLen/(elemParallelMin/2))
	var wg sync.WaitGroup
	chunk := (n + p - 1) / p
	for part, lo := 1, chunk; lo < n; part, lo = part+1, lo+chunk {
		wg.Go(func() { fn(part, lo, min(lo+chunk, n)) })
	}
	fn(0, 0, min(chunk, n))
	wg.Wait()
}

// parallelParts runs fn(part, lo, hi) over [0, n) in at most GOMAXPROCS contiguous chunks; part is
// the chunk's index (for its scratch buffer), below GOMAXPROCS.
func parallelParts(n int, fn func(part, lo, hi int)) {
	p := min(runtime.GOMAXPROCS(0), n)
	if p < 2 {
		fn(0, 0, n)
		return
	}
	chunk := (n + p - 1) / p
	var wg sync.WaitGroup
	for part, lo := 1, chunk; lo < n; part, lo = part+1, lo+chunk {
		wg.Go(func() { fn(part, lo, min(lo+chunk, n)) })
	}
	fn(0, 0, min(chunk, n))
	wg.Wait()
}

// scratch is one buffer per goroutine of a parallel kernel, grown to GOMAXPROCS on demand.
type scratch struct {
	size int
	bufs [][]float32
}

func (s *scratch) get(parts int) [][]float32 {
	for len(s.bufs) < parts {
		s.bufs = append(s.bufs, make([]float32, s.size))
	}
	return s.bufs
}

// sumBlocks sets dst to the sum of the first blocks blocks of len(dst) elements of part, added in
// block order, so a blocked reduction does not depend on how many goroutines filled part.
func sumBlocks(dst, part []float32, blocks int) {
	size := len(dst)
	copy(dst, part[:size])
	for b := 1; b < blocks; b++ {
		for j, v := range part[b*size : (b+1)*size] {
			dst[j] += v
		}
	}
}

// reluGrad sets dst to g where the relu output y is > 0 and to 0 elsewhere.
func reluGrad(dst, g, y []float32) {
	parallelFor(len(dst), func(lo, hi int) { vec.ReluGrad(g[lo:hi], y[lo:hi], dst[lo:hi]) })
}

// biasBlockRows is the number of rows summed per block by rowSums.
const biasBlockRows = 256

// rowSums sums g [batch, out] over the batch into dst [out]. Rows are summed in fixed blocks of
// biasBlockRows whose partial sums (part, one row per block) are then added in block order, so
// the result does not depend on how many goroutines ran (a resumed run on another machine
// matches).
func rowSums(dst, part, g []float32, batch int) {
	out := len(dst)
	blocks := (batch + biasBlockRows - 1) / biasBlockRows
	sumBlock := func(b int) {
		d := part[b*out : (b+1)*out]
		clear(d)
		for r := b * biasBlockRows; r < min((b+1)*biasBlockRows, batch); r++ {
			for j, v := range g[r*out : r*out+out] {
				d[j] += v
			}
		}
	}
	if p := runtime.GOMAXPROCS(0); p > 1 && blocks > 1 && batch*out >= elemParallelMin {
		// Worker w sums blocks w, w+p, w+2p, ...
		var wg sync.WaitGroup
		for w := range min(p, blocks) {
			wg.Go(func() {
				for b := w; b < blocks; b += p {
					sumBlock(b)
				}
			})
		}
		wg.Wait()
	} else {
		for b := range blocks {
			sumBlock(b)
		}
	}
	sumBlocks(dst, part, blocks)
}

// rowSumsPart is the size of rowSums' part buffer for batch rows of out values.
func rowSumsPart(batch, out int) int { return (batch + biasBlockRows - 1) / biasBlockRows * out }
