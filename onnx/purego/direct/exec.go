package direct

import (
	"gonum.org/v1/gonum/blas/gonum"
)

// sgemm is gonum's pure-Go single-precision BLAS.
var sgemm gonum.Implementation

// workspace holds one buffer per step for up to rows samples, the inputs each step reads and the
// matrix product's job; it is used by one Predict at a time.
type workspace struct {
	rows int
	bufs [][]float32   // bufs[i] is step i's output (a view's is its input's)
	ins  [][][]float32 // ins[i] is step i's inputs, cut to the samples of a run
	job  gemmJob
}

// newWorkspace allocates the buffers of steps for rows samples.
func newWorkspace(steps []step, rows int) *workspace {
	ws := &workspace{rows: rows, bufs: make([][]float32, len(steps)), ins: make([][][]float32, len(steps))}
	for i, st := range steps {
		ws.ins[i] = make([][]float32, len(st.inputs))
		if st.k != nil {
			ws.bufs[i] = make([]float32, rows*st.outSize)
		}
	}
	return ws
}

// run evaluates the steps on the n samples x (n <= ws.rows) and returns the output values,
// which live in ws (or are x itself, for a network of views) until its next run. x is not
// written to.
func (ws *workspace) run(steps []step, x []float32, n int) []float32 {
	for i, st := range steps {
		for k, j := range st.inputs {
			src := x
			if j >= 0 {
				src = ws.bufs[j]
			}
			ws.ins[i][k] = src[:n*st.inSize[k]]
		}
		if st.k == nil {
			ws.bufs[i] = ws.ins[i][0]
			continue
		}
		st.k.Run(ws, ws.ins[i], ws.bufs[i][:n*st.outSize], n)
	}
	return ws.bufs[len(steps)-1][:n*steps[len(steps)-1].outSize]
}

// Gemm computes c = a b (+ c when accumulate) for a [m, k], b [k, n], c [m, n] (nn.Gemmer): a
// single row on Saxpy, which is bound by memory and gains nothing from blocks or goroutines;
// more in the blocked product on the pool.
func (ws *workspace) Gemm(m, n, k int, a, b, c []float32, accumulate bool) {
	if !accumulate {
		clear(c[:m*n])
	}
	if m == 1 {
		for p := range k {
			sgemm.Saxpy(n, a[p], b[p*n:(p+1)*n], 1, c[:n], 1)
		}
		return
	}
	ws.job.run(m, n, k, a, b, c)
}
