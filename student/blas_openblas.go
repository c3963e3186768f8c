//go:build cgo

package student

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// CBLAS enums (cblas.h): row-major order and transpose flags.
enum { RowMajor = 101, NoTrans = 111, Trans = 112 };

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
typedef void (*dgemm_fn)(int, int, int, int, int, int, double, const double*, int, const double*, int, double, double*, int);
typedef void (*sgemv_fn)(int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
typedef void (*set_threads_fn)(int);
typedef char *(*corename_fn)(void);
typedef void (*dgemv_fn)(int, int, int, int, double, const double*, int, const double*, int, double, double*, int);

static void call_sgemm(void *f, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
		const float *b, int ldb, float beta, float *c, int ldc) {
	((sgemm_fn)f)(RowMajor, ta ? Trans : NoTrans, tb ? Trans : NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
static void call_set_threads(void *f, int n) { ((set_threads_fn)f)(n); }
static char *call_corename(void *f) { return ((corename_fn)f)(); }

static void call_dgemm(void *f, int ta, int tb, int m, int n, int k, double alpha, const double *a, int lda,
		const double *b, int ldb, double beta, double *c, int ldc) {
	((dgemm_fn)f)(RowMajor, ta ? Trans : NoTrans, tb ? Trans : NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
static void call_sgemv(void *f, int ta, int m, int n, float alpha, const float *a, int lda, const float *x, int incx,
		float beta, float *y, int incy) {
	((sgemv_fn)f)(RowMajor, ta ? Trans : NoTrans, m, n, alpha, a, lda, x, incx, beta, y, incy);
}
static void call_dgemv(void *f, int ta, int m, int n, double alpha, const double *a, int lda, const double *x, int incx,
		double beta, double *y, int incy) {
	((dgemv_fn)f)(RowMajor, ta ? Trans : NoTrans, m, n, alpha, a, lda, x, incx, beta, y, incy);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// openBLAS is gonum's pure Go BLAS with the hot routines (sgemm, dgemm, sgemv, dgemv) replaced by
// OpenBLAS's CBLAS functions, called through pointers from dlopen so that the binary has no link
// time dependency on the library.
//
// OpenBLAS runs single-threaded (openblas_set_num_threads(1)); a large sgemm is instead split into
// GOMAXPROCS row (or column) blocks of C computed by goroutines, one cgo call each. Go then owns
// all parallelism: no OpenBLAS worker threads spin between calls and compete with the Go code of the
// element-wise ops, which matters most on a small, busy machine. Each element of C is computed by
// the same single-threaded kernel whatever the split, so results do not depend on the split.
type openBLAS struct {
	gonum.Implementation
	sgemm, dgemm, sgemv, dgemv unsafe.Pointer
	split                      bool // OpenBLAS is single-threaded; split large sgemms across goroutines
}

// splitMinFlops is the smallest m*n*k for which an sgemm is split across goroutines (about 8
// MFLOP: a goroutine hand-off costs microseconds, such a product a millisecond).
const splitMinFlops = 1 << 22

var (
	openBLASOnce     sync.Once
	openBLASImpl     *openBLAS
	openBLASPath     string
	openBLASSearched []string
	openBLASErr      error
)

// loadOpenBLAS dlopens OpenBLAS once per process.
func loadOpenBLAS() (blasImpl, string, []string, error) {
	openBLASOnce.Do(func() {
		setCoreType()
		var cands []string
		if p := os.Getenv("DISTILL_OPENBLAS"); p != "" {
			cands = append(cands, p)
		}
		cands = append(cands, "libopenblas.so.0", "libopenblas.so")
		var errs []error
		for _, path := range cands {
			openBLASSearched = append(openBLASSearched, path)
			cpath := C.CString(path)
			h := C.dlopen(cpath, C.RTLD_NOW|C.RTLD_LOCAL)
			C.free(unsafe.Pointer(cpath))
			if h == nil {
				errs = append(errs, fmt.Errorf("dlopen %s: %s", path, C.GoString(C.dlerror())))
				continue
			}
			ob := &openBLAS{}
			var missing error
			for _, s := range []struct {
				name string
				dst  *unsafe.Pointer
			}{{"cblas_sgemm", &ob.sgemm}, {"cblas_dgemm", &ob.dgemm}, {"cblas_sgemv", &ob.sgemv}, {"cblas_dgemv", &ob.dgemv}} {
				if *s.dst = dlsym(h, s.name); *s.dst == nil {
					missing = fmt.Errorf("dlsym %s in %s: not found", s.name, path)
					break
				}
			}
			if missing != nil {
				errs = append(errs, missing)
				C.dlclose(h)
				continue
			}
			if f := dlsym(h, "openblas_set_num_threads"); f != nil {
				C.call_set_threads(f, 1)
				ob.split = true
			}
			if f := dlsym(h, "openblas_get_corename"); f != nil {
				if name := C.call_corename(f); name != nil {
					openBLASCore = strings.TrimSpace(C.GoString(name))
				}
			}
			openBLASImpl, openBLASPath = ob, path
			return
		}
		openBLASErr = errors.Join(errs...)
	})
	if openBLASErr != nil {
		return nil, "", openBLASSearched, openBLASErr
	}
	return openBLASImpl, openBLASPath, openBLASSearched, nil
}

// dlsym returns the address of symbol name in the library h, or nil when it has none.
func dlsym(h unsafe.Pointer, name string) unsafe.Pointer {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return C.dlsym(h, cs)
}

func transFlag(t blas.Transpose) C.int {
	if t == blas.NoTrans {
		return 0
	}
	return 1
}

// gemmOK reports whether a gemm call is well formed and non-empty; malformed calls are left to
// gonum, which panics with its usual messages.
func gemmOK(tA, tB blas.Transpose, m, n, k, lda, ldb, ldc, la, lb, lc int) bool {
	if m <= 0 || n <= 0 || k <= 0 {
		return false
	}
	rowsA, colsA := m, k
	if tA != blas.NoTrans {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if tB != blas.NoTrans {
		rowsB, colsB = n, k
	}
	return lda >= max(1, colsA) && ldb >= max(1, colsB) && ldc >= max(1, n) &&
		la >= lda*(rowsA-1)+colsA && lb >= ldb*(rowsB-1)+colsB && lc >= ldc*(m-1)+n
}

// Sgemm computes C = alpha * op(A) * op(B) + beta * C with OpenBLAS (row-major).
func (o *openBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !gemmOK(tA, tB, m, n, k, lda, ldb, ldc, len(a), len(b), len(c)) {
		o.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	p := 1
	if o.split && m*n*k >= splitMinFlops {
		p = runtime.GOMAXPROCS(0)
	}
	if p < 2 {
		o.sgemm1(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	var wg sync.WaitGroup
	if m >= n {
		// Rows [lo,hi) of C need rows [lo,hi) of op(A): row lo of A, or column lo of A^T.
		chunk := (m + p - 1) / p
		chunk = (chunk + 15) &^ 15 // whole micro-kernel panels
		for lo := 0; lo < m; lo += chunk {
			hi := min(lo+chunk, m)
			off := lo * lda
			if tA != blas.NoTrans {
				off = lo
			}
			wg.Go(func() {
				o.sgemm1(tA, tB, hi-lo, n, k, alpha, a[off:], lda, b, ldb, beta, c[lo*ldc:], ldc)
			})
		}
	} else {
		// Columns [lo,hi) of C need columns [lo,hi) of op(B).
		chunk := (n + p - 1) / p
		chunk = (chunk + 15) &^ 15
		for lo := 0; lo < n; lo += chunk {
			hi := min(lo+chunk, n)
			off := lo
			if tB != blas.NoTrans {
				off = lo * ldb
			}
			wg.Go(func() {
				o.sgemm1(tA, tB, m, hi-lo, k, alpha, a, lda, b[off:], ldb, beta, c[lo:], ldc)
			})
		}
	}
	wg.Wait()
}

// sgemm1 is one cgo call of cblas_sgemm on a well-formed, non-empty problem.
func (o *openBLAS) sgemm1(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	C.call_sgemm(o.sgemm, transFlag(tA), transFlag(tB), C.int(m), C.int(n), C.int(k), C.float(alpha),
		(*C.float)(unsafe.Pointer(&a[0])), C.int(lda), (*C.float)(unsafe.Pointer(&b[0])), C.int(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.int(ldc))
}

// Dgemm computes C = alpha * op(A) * op(B) + beta * C with OpenBLAS (row-major).
func (o *openBLAS) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if !gemmOK(tA, tB, m, n, k, lda, ldb, ldc, len(a), len(b), len(c)) {
		o.Implementation.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	C.call_dgemm(o.dgemm, transFlag(tA), transFlag(tB), C.int(m), C.int(n), C.int(k), C.double(alpha),
		(*C.double)(unsafe.Pointer(&a[0])), C.int(lda), (*C.double)(unsafe.Pointer(&b[0])), C.int(ldb),
		C.double(beta), (*C.double)(unsafe.Pointer(&c[0])), C.int(ldc))
}

// gemvOK reports whether a gemv call is well formed with positive increments and non-empty.
func gemvOK(tA blas.Transpose, m, n, lda, incX, incY, la, lx, ly int) bool {
	if m <= 0 || n <= 0 || incX <= 0 || incY <= 0 || lda < max(1, n) || la < lda*(m-1)+n {
		return false
	}
	lenX, lenY := n, m
	if tA != blas.NoTrans {
		lenX, lenY = m, n
	}
	return lx >= 1+(lenX-1)*incX && ly >= 1+(lenY-1)*incY
}

// Sgemv computes y = alpha * op(A) * x + beta * y with OpenBLAS (row-major).
func (o *openBLAS) Sgemv(tA blas.Transpose, m, n int, alpha float32, a []float32, lda int, x []float32, incX int, beta float32, y []float32, incY int) {
	if !gemvOK(tA, m, n, lda, incX, incY, len(a), len(x), len(y)) {
		o.Implementation.Sgemv(tA, m, n, alpha, a, lda, x, incX, beta, y, incY)
		return
	}
	C.call_sgemv(o.sgemv, transFlag(tA), C.int(m), C.int(n), C.float(alpha), (*C.float)(unsafe.Pointer(&a[0])), C.int(lda),
		(*C.float)(unsafe.Pointer(&x[0])), C.int(incX), C.float(beta), (*C.float)(unsafe.Pointer(&y[0])), C.int(incY))
}

// Dgemv computes y = alpha * op(A) * x + beta * y with OpenBLAS (row-major).
func (o *openBLAS) Dgemv(tA blas.Transpose, m, n int, alpha float64, a []float64, lda int, x []float64, incX int, beta float64, y []float64, incY int) {
	if !gemvOK(tA, m, n, lda, incX, incY, len(a), len(x), len(y)) {
		o.Implementation.Dgemv(tA, m, n, alpha, a, lda, x, incX, beta, y, incY)
		return
	}
	C.call_dgemv(o.dgemv, transFlag(tA), C.int(m), C.int(n), C.double(alpha), (*C.double)(unsafe.Pointer(&a[0])), C.int(lda),
		(*C.double)(unsafe.Pointer(&x[0])), C.int(incX), C.double(beta), (*C.double)(unsafe.Pointer(&y[0])), C.int(incY))
}
