package direct

import (
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
)

// tile is the side of the blocks C, A and B are cut into: gonum's own block size, below which
// its Sgemm runs serially, allocating nothing.
const tile = 64

// gemmJob is one C += A B, A [m, k], B [k, n], C [m, n] (all row-major and dense), cut into
// tile×tile blocks of C that the calling goroutine and the pool's workers take in turn. A
// workspace holds one and reuses it for every layer, so a run allocates nothing.
type gemmJob struct {
	m, n, k int
	a, b, c []float32
	cols    int // blocks per block row of C
	blocks  int // blocks of C
	next    atomic.Int64
	wg      sync.WaitGroup
}

// work computes blocks of C until none is left. Each block of C sums its k/tile products of
// blocks of A and B, so no two goroutines ever write the same values.
func (j *gemmJob) work() {
	for {
		t := int(j.next.Add(1)) - 1
		if t >= j.blocks {
			return
		}
		i, l := t/j.cols*tile, t%j.cols*tile
		rows, cols := min(tile, j.m-i), min(tile, j.n-l)
		for p := 0; p < j.k; p += tile {
			depth := min(tile, j.k-p)
			sgemm.Sgemm(blas.NoTrans, blas.NoTrans, rows, cols, depth, 1,
				j.a[i*j.k+p:], j.k, j.b[p*j.n+l:], j.n, 1, j.c[i*j.n+l:], j.n)
		}
	}
}

// pool is the process's gemm workers: goroutines started on first need, one fewer than the
// largest GOMAXPROCS a run has seen (the caller is the last worker), kept for the process's
// life; idle, they wait on a channel and cost nothing.
var pool struct {
	mu      sync.Mutex
	workers int
	jobs    chan *gemmJob
}

// helpers makes sure the pool has at least n workers.
func helpers(n int) {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if pool.jobs == nil {
		pool.jobs = make(chan *gemmJob, 64)
	}
	for ; pool.workers < n; pool.workers++ {
		go func(jobs <-chan *gemmJob) {
			for j := range jobs {
				j.work()
				j.wg.Done()
			}
		}(pool.jobs)
	}
}

// run computes c += a b for a [m, k], b [k, n], c [m, n] on up to GOMAXPROCS goroutines. It is
// what gonum's Sgemm does in parallel, with the same blocks, without a goroutine, a channel and
// a WaitGroup allocated per call.
func (j *gemmJob) run(m, n, k int, a, b, c []float32) {
	j.m, j.n, j.k, j.a, j.b, j.c = m, n, k, a, b, c
	j.cols = (n + tile - 1) / tile
	j.blocks = (m + tile - 1) / tile * j.cols
	j.next.Store(0)
	h := min(runtime.GOMAXPROCS(0), j.blocks) - 1
	if h > 0 {
		helpers(h)
		j.wg.Add(h)
		for range h {
			pool.jobs <- j
		}
	}
	j.work()
	j.wg.Wait()
	j.a, j.b, j.c = nil, nil, nil
}
