package direct

import (
	"math"

	"gonum.org/v1/gonum/blas/gonum"
)

// sgemm is gonum's pure-Go single-precision BLAS.
var sgemm gonum.Implementation

// workspace holds one buffer per step for up to rows samples, a Conv's im2col buffer and the
// matrix product's job; it is used by one Predict at a time.
type workspace struct {
	rows int
	bufs [][]float32 // bufs[i] is step i's output (nil for an in-place step)
	col  []float32
	job  gemmJob
}

// newWorkspace allocates the buffers of steps for rows samples.
func newWorkspace(steps []step, rows int) *workspace {
	ws := &workspace{rows: rows, bufs: make([][]float32, len(steps))}
	cols := 0
	for i, st := range steps {
		if !st.inPlace {
			ws.bufs[i] = make([]float32, rows*elems(st.out))
		}
		cols = max(cols, st.colElems)
	}
	ws.col = make([]float32, cols)
	return ws
}

// run evaluates the steps on the n samples x (n <= ws.rows) and returns the output values,
// which live in ws (or are x itself, for a chain of in-place steps) until its next run. x is
// not written to: plan gives a first Relu a buffer of its own.
func (ws *workspace) run(steps []step, x []float32, n int) []float32 {
	cur := x
	for i, st := range steps {
		out := ws.bufs[i]
		if st.inPlace {
			if st.op == "Relu" {
				relu(cur[:n*elems(st.out)])
			}
			continue
		}
		out = out[:n*elems(st.out)]
		switch st.op {
		case "Relu": // the first step: the input is the caller's, so it is copied
			copy(out, cur[:len(out)])
			relu(out)
		case "Gemm":
			ws.gemm(st, cur, out, n)
		case "Conv":
			for s := range n {
				ws.conv(st, cur[s*elems(st.in):(s+1)*elems(st.in)], out[s*elems(st.out):(s+1)*elems(st.out)])
			}
		case "MaxPool":
			for s := range n {
				maxPool(st, cur[s*elems(st.in):(s+1)*elems(st.in)], out[s*elems(st.out):(s+1)*elems(st.out)])
			}
		}
		cur = out
	}
	return cur
}

func relu(v []float32) {
	for i, x := range v {
		v[i] = max(x, 0) // max keeps a NaN
	}
}

// gemm computes out = x W + b for n rows.
func (ws *workspace) gemm(st step, x, out []float32, n int) {
	in, o := st.in[0], st.out[0]
	if st.b != nil {
		for r := range n {
			copy(out[r*o:(r+1)*o], st.b)
		}
	} else {
		clear(out[:n*o])
	}
	if n == 1 {
		// One row: y += x[k] W[k,:] for each k, with Saxpy: bound by memory, a row gains
		// nothing from blocks or goroutines.
		for k := range in {
			sgemm.Saxpy(o, x[k], st.w[k*o:(k+1)*o], 1, out[:o], 1)
		}
		return
	}
	ws.job.run(n, o, in, x, st.w, out)
}

// conv computes one sample's convolution: im2col into ws.col [c*k*k, oh*ow], then
// out [f, oh*ow] = W [f, c*k*k] col + b.
func (ws *workspace) conv(st step, x, out []float32) {
	c, h, w := st.in[0], st.in[1], st.in[2]
	f, oh, ow := st.out[0], st.out[1], st.out[2]
	k, s, p := st.k, st.s, st.p
	ckk, hw := c*k*k, oh*ow
	col := ws.col[:ckk*hw]
	for ch := range c {
		for a := range k {
			for b := range k {
				row := col[((ch*k+a)*k+b)*hw:][:hw]
				for i := range oh {
					y := i*s + a - p
					for j := range ow {
						xx := j*s + b - p
						if y >= 0 && y < h && xx >= 0 && xx < w {
							row[i*ow+j] = x[(ch*h+y)*w+xx]
						} else {
							row[i*ow+j] = 0
						}
					}
				}
			}
		}
	}
	if st.b != nil {
		for o := range f {
			v := out[o*hw : (o+1)*hw]
			for i := range v {
				v[i] = st.b[o]
			}
		}
	} else {
		clear(out[:f*hw])
	}
	ws.job.run(f, hw, ckk, st.w, col, out)
}

// maxPool computes one sample's max pooling; padded positions are -Inf, so they never win.
func maxPool(st step, x, out []float32) {
	c, h, w := st.in[0], st.in[1], st.in[2]
	oh, ow := st.out[1], st.out[2]
	for ch := range c {
		for i := range oh {
			for j := range ow {
				m := float32(math.Inf(-1))
				for a := range st.k {
					y := i*st.s + a - st.p
					if y < 0 || y >= h {
						continue
					}
					for b := range st.k {
						xx := j*st.s + b - st.p
						if xx >= 0 && xx < w {
							m = max(m, x[(ch*h+y)*w+xx])
						}
					}
				}
				out[(ch*oh+i)*ow+j] = m
			}
		}
	}
}
