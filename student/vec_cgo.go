//go:build cgo && amd64

package student

/*
// No fused multiply-add: every product is rounded, as in internal/nn's Go loops (vec.go). Where
// the target has FMA, the compiler would otherwise fuse the intrinsics' multiplies and adds: the
// first pragma for GCC, the second for clang, which ignores the first.
#pragma GCC optimize("fp-contract=off")
#pragma STDC FP_CONTRACT OFF

#include <immintrin.h>

// The loops below are internal/nn's Go vector loops on 8 floats at a time (AVX2), operation for
// operation, each plane's last hw mod 8 values in scalar code. A sum keeps lane i mod 8 of its
// eight float64 partial sums in two registers of four while a plane runs.

__attribute__((target("avx2")))
static void vec_moments(const float *x, long n, long hw, long stride, float x0, double *s, double *ss) {
	const double c = x0;
	const __m256d vc = _mm256_set1_pd(c);
	for (long j = 0; j < n; j++) {
		const float *p = x + j * stride;
		__m256d s0 = _mm256_loadu_pd(s), s1 = _mm256_loadu_pd(s + 4);
		__m256d q0 = _mm256_loadu_pd(ss), q1 = _mm256_loadu_pd(ss + 4);
		long i = 0;
		for (; i + 8 <= hw; i += 8) {
			__m256 v = _mm256_loadu_ps(p + i);
			__m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), vc);
			__m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), vc);
			s0 = _mm256_add_pd(s0, d0);
			s1 = _mm256_add_pd(s1, d1);
			q0 = _mm256_add_pd(q0, _mm256_mul_pd(d0, d0));
			q1 = _mm256_add_pd(q1, _mm256_mul_pd(d1, d1));
		}
		_mm256_storeu_pd(s, s0);
		_mm256_storeu_pd(s + 4, s1);
		_mm256_storeu_pd(ss, q0);
		_mm256_storeu_pd(ss + 4, q1);
		for (; i < hw; i++) {
			double d = (double)p[i] - c;
			s[i % 8] += d;
			ss[i % 8] += d * d;
		}
	}
}

__attribute__((target("avx2")))
static void vec_sums(const float *x, long n, long hw, long stride, double *s) {
	for (long j = 0; j < n; j++) {
		const float *p = x + j * stride;
		__m256d s0 = _mm256_loadu_pd(s), s1 = _mm256_loadu_pd(s + 4);
		long i = 0;
		for (; i + 8 <= hw; i += 8) {
			__m256 v = _mm256_loadu_ps(p + i);
			s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
			s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
		}
		_mm256_storeu_pd(s, s0);
		_mm256_storeu_pd(s + 4, s1);
		for (; i < hw; i++) s[i % 8] += (double)p[i];
	}
}

// relu_cut is max(o, 0) as Go computes it: o where o > 0 or o is NaN, else +0.
__attribute__((target("avx2")))
static inline __m256 relu_cut(__m256 o) {
	return _mm256_and_ps(o, _mm256_cmp_ps(o, _mm256_setzero_ps(), _CMP_NLE_UQ));
}

static inline float relu_cut1(float o) { return (o > 0 || o != o) ? o : 0.0f; }

__attribute__((target("avx2")))
static void vec_normalize(const float *x, float *y, long n, long hw, long stride,
		float mu, float inv, float g, float b, int relu) {
	const __m256 vmu = _mm256_set1_ps(mu), vinv = _mm256_set1_ps(inv), vg = _mm256_set1_ps(g), vb = _mm256_set1_ps(b);
	for (long j = 0; j < n; j++) {
		const float *p = x + j * stride;
		float *q = y + j * stride;
		long i = 0;
		for (; i + 8 <= hw; i += 8) {
			__m256 o = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(p + i), vmu), vinv), vg), vb);
			if (relu) o = relu_cut(o);
			_mm256_storeu_ps(q + i, o);
		}
		for (; i < hw; i++) {
			float o = (p[i] - mu) * inv * g + b;
			q[i] = relu ? relu_cut1(o) : o;
		}
	}
}

// kept is 1 where a fused relu let the gradient through: y is not 0 or -0.
static inline int kept(float y) { return y != 0 || y != y; }

__attribute__((target("avx2")))
static void vec_grad_sums(const float *g, const float *x, const float *y, long n, long hw, long stride,
		float mu, float inv, double *sb, double *sg) {
	const __m256 vmu = _mm256_set1_ps(mu), vinv = _mm256_set1_ps(inv), zero = _mm256_setzero_ps();
	for (long j = 0; j < n; j++) {
		const float *pg = g + j * stride, *px = x + j * stride, *py = y ? y + j * stride : 0;
		__m256d b0 = _mm256_loadu_pd(sb), b1 = _mm256_loadu_pd(sb + 4);
		__m256d g0 = _mm256_loadu_pd(sg), g1 = _mm256_loadu_pd(sg + 4);
		long i = 0;
		for (; i + 8 <= hw; i += 8) {
			__m256 d = _mm256_loadu_ps(pg + i);
			if (py) d = _mm256_and_ps(d, _mm256_cmp_ps(_mm256_loadu_ps(py + i), zero, _CMP_NEQ_UQ));
			__m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(px + i), vmu), vinv);
			__m256d d0 = _mm256_cvtps_pd(_mm256_castps256_ps128(d)), d1 = _mm256_cvtps_pd(_mm256_extractf128_ps(d, 1));
			__m256d h0 = _mm256_cvtps_pd(_mm256_castps256_ps128(xh)), h1 = _mm256_cvtps_pd(_mm256_extractf128_ps(xh, 1));
			b0 = _mm256_add_pd(b0, d0);
			b1 = _mm256_add_pd(b1, d1);
			g0 = _mm256_add_pd(g0, _mm256_mul_pd(d0, h0));
			g1 = _mm256_add_pd(g1, _mm256_mul_pd(d1, h1));
		}
		_mm256_storeu_pd(sb, b0);
		_mm256_storeu_pd(sb + 4, b1);
		_mm256_storeu_pd(sg, g0);
		_mm256_storeu_pd(sg + 4, g1);
		for (; i < hw; i++) {
			float d = (py && !kept(py[i])) ? 0.0f : pg[i];
			float xh = (px[i] - mu) * inv;
			sb[i % 8] += (double)d;
			sg[i % 8] += (double)d * (double)xh;
		}
	}
}

__attribute__((target("avx2")))
static void vec_grad_input(const float *g, const float *x, const float *y, float *dx, long n, long hw, long stride,
		float f, float m, float db, float mu, float inv, float dg) {
	const __m256 vf = _mm256_set1_ps(f), vm = _mm256_set1_ps(m), vdb = _mm256_set1_ps(db), vmu = _mm256_set1_ps(mu),
		vinv = _mm256_set1_ps(inv), vdg = _mm256_set1_ps(dg), zero = _mm256_setzero_ps();
	for (long j = 0; j < n; j++) {
		const float *pg = g + j * stride, *px = x + j * stride, *py = y ? y + j * stride : 0;
		float *pd = dx + j * stride;
		long i = 0;
		for (; i + 8 <= hw; i += 8) {
			__m256 d = _mm256_loadu_ps(pg + i);
			if (py) d = _mm256_and_ps(d, _mm256_cmp_ps(_mm256_loadu_ps(py + i), zero, _CMP_NEQ_UQ));
			__m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(px + i), vmu), vinv);
			__m256 r = _mm256_sub_ps(_mm256_sub_ps(_mm256_mul_ps(vm, d), vdb), _mm256_mul_ps(xh, vdg));
			_mm256_storeu_ps(pd + i, _mm256_mul_ps(r, vf));
		}
		for (; i < hw; i++) {
			float d = (py && !kept(py[i])) ? 0.0f : pg[i];
			float xh = (px[i] - mu) * inv;
			pd[i] = ((m * d - db) - xh * dg) * f;
		}
	}
}

__attribute__((target("avx2")))
static void vec_hardswish(const float *x, float *y, long n) {
	const __m256 zero = _mm256_setzero_ps(), three = _mm256_set1_ps(3), six = _mm256_set1_ps(6);
	long i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 v = _mm256_loadu_ps(x + i);
		// max(0, t) and min(6, t) return t when it is NaN, as Go's max and min.
		__m256 c = _mm256_min_ps(six, _mm256_max_ps(zero, _mm256_add_ps(v, three)));
		_mm256_storeu_ps(y + i, _mm256_div_ps(_mm256_mul_ps(v, c), six));
	}
	for (; i < n; i++) {
		float v = x[i], t = v + 3;
		float c = (t != t) ? t : (t < 0 ? 0.0f : (t > 6 ? 6.0f : t));
		y[i] = v * c / 6;
	}
}

__attribute__((target("avx2")))
static void vec_hardswish_grad(const float *x, const float *g, float *dx, long n) {
	const __m256 two = _mm256_set1_ps(2), three = _mm256_set1_ps(3), mthree = _mm256_set1_ps(-3), six = _mm256_set1_ps(6);
	long i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 v = _mm256_loadu_ps(x + i), gi = _mm256_loadu_ps(g + i);
		__m256 mid = _mm256_div_ps(_mm256_mul_ps(gi, _mm256_add_ps(_mm256_mul_ps(two, v), three)), six);
		__m256 r = _mm256_blendv_ps(mid, gi, _mm256_cmp_ps(v, three, _CMP_GT_OQ));
		_mm256_storeu_ps(dx + i, _mm256_andnot_ps(_mm256_cmp_ps(v, mthree, _CMP_LT_OQ), r));
	}
	for (; i < n; i++) {
		float v = x[i];
		dx[i] = v < -3 ? 0.0f : (v > 3 ? g[i] : g[i] * (2 * v + 3) / 6);
	}
}
__attribute__((target("avx2")))
static void vec_relu(const float *x, float *y, long n) {
	long i = 0;
	for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, relu_cut(_mm256_loadu_ps(x + i)));
	for (; i < n; i++) y[i] = relu_cut1(x[i]);
}

__attribute__((target("avx2")))
static void vec_relu_grad(const float *g, const float *y, float *dx, long n) {
	const __m256 zero = _mm256_setzero_ps();
	long i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(dx + i, _mm256_and_ps(_mm256_loadu_ps(g + i), _mm256_cmp_ps(_mm256_loadu_ps(y + i), zero, _CMP_NEQ_UQ)));
	for (; i < n; i++) dx[i] = kept(y[i]) ? g[i] : 0.0f;
}

// load8 returns p[0], p[st], ..., p[7*st]; at stride 2 from two loads of p[0..16).
__attribute__((target("avx2")))
static inline __m256 load8(const float *p, long st) {
	if (st == 1) return _mm256_loadu_ps(p);
	if (st == 2) {
		__m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
		__m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)); // a0 a2 b0 b2 | a4 a6 b4 b6
		return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
	}
	return _mm256_set_ps(p[7 * st], p[6 * st], p[5 * st], p[4 * st], p[3 * st], p[2 * st], p[st], p[0]);
}

// tail_mask has its first n lanes (0 < n < 8) set.
__attribute__((target("avx2")))
static inline __m256i tail_mask(long n) {
	return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// evens and odds split p[0..16) into its even and odd elements.
__attribute__((target("avx2")))
static inline void evens_odds(const float *p, __m256 *e, __m256 *o) {
	__m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
	__m256 se = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), so = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
	*e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(se), _MM_SHUFFLE(3, 1, 2, 0)));
	*o = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(so), _MM_SHUFFLE(3, 1, 2, 0)));
}

__attribute__((target("avx2")))
static void vec_maxpool2(const float *x, long n, long h, long w, float *y, int *a) {
	const long oh = h / 2, ow = w / 2;
	const __m256i lanes = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14), one = _mm256_set1_epi32(1),
		vw = _mm256_set1_epi32((int)w);
	for (long pl = 0; pl < n; pl++) {
		const float *xp = x + pl * h * w;
		float *yp = y + pl * oh * ow;
		int *ap = a + pl * oh * ow;
		for (long oy = 0; oy < oh; oy++) {
			const long r0 = 2 * oy * w;
			long ox = 0;
			for (; ox + 8 <= ow; ox += 8) {
				long i = r0 + 2 * ox;
				__m256 e0, o0, e1, o1;
				evens_odds(xp + i, &e0, &o0);
				evens_odds(xp + i + w, &e1, &o1);
				__m256i idx = _mm256_add_epi32(_mm256_set1_epi32((int)i), lanes), best = idx;
				__m256 m = e0, c;
				c = _mm256_cmp_ps(o0, m, _CMP_GT_OQ);
				m = _mm256_blendv_ps(m, o0, c);
				best = _mm256_blendv_epi8(best, _mm256_add_epi32(idx, one), _mm256_castps_si256(c));
				c = _mm256_cmp_ps(e1, m, _CMP_GT_OQ);
				m = _mm256_blendv_ps(m, e1, c);
				best = _mm256_blendv_epi8(best, _mm256_add_epi32(idx, vw), _mm256_castps_si256(c));
				c = _mm256_cmp_ps(o1, m, _CMP_GT_OQ);
				m = _mm256_blendv_ps(m, o1, c);
				best = _mm256_blendv_epi8(best, _mm256_add_epi32(_mm256_add_epi32(idx, vw), one), _mm256_castps_si256(c));
				_mm256_storeu_ps(yp + oy * ow + ox, m);
				_mm256_storeu_si256((__m256i *)(ap + oy * ow + ox), best);
			}
			for (; ox < ow; ox++) {
				long i = r0 + 2 * ox, best = i;
				float m = xp[i];
				if (xp[i + 1] > m) { m = xp[i + 1]; best = i + 1; }
				if (xp[i + w] > m) { m = xp[i + w]; best = i + w; }
				if (xp[i + w + 1] > m) { m = xp[i + w + 1]; best = i + w + 1; }
				yp[oy * ow + ox] = m;
				ap[oy * ow + ox] = (int)best;
			}
		}
	}
}

__attribute__((target("avx2")))
static void vec_dw_corr(const float *xp, long wp, const float *w, long k, long st, float *y, long oh, long ow) {
	for (long oy = 0; oy < oh; oy++) {
		for (long ox = 0; ox < ow; ox += 8) {
			__m256 acc = _mm256_setzero_ps();
			for (long ki = 0; ki < k; ki++) {
				const float *row = xp + (oy * st + ki) * wp + ox * st;
				for (long kj = 0; kj < k; kj++)
					acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_set1_ps(w[ki * k + kj]), load8(row + kj, st)));
			}
			if (ox + 8 <= ow) {
				_mm256_storeu_ps(y + oy * ow + ox, acc);
			} else {
				_mm256_maskstore_ps(y + oy * ow + ox, tail_mask(ow - ox), acc);
			}
		}
	}
}

__attribute__((target("avx2")))
static void vec_dw_dots(const float *xp, long wp, const float *dy, long oh, long ow, long k, long st, float *acc) {
	for (long t = 0; t < k * k; t++) {
		long ki = t / k, kj = t % k;
		__m256 a = _mm256_loadu_ps(acc + 8 * t);
		for (long oy = 0; oy < oh; oy++) {
			const float *src = xp + (oy * st + ki) * wp + kj, *d = dy + oy * ow;
			long ox = 0;
			for (; ox + 8 <= ow; ox += 8)
				a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_loadu_ps(d + ox), load8(src + ox * st, st)));
			if (ox < ow) {
				// The lanes past ow add 0·0 = +0, as in the Go loop.
				__m256i m = tail_mask(ow - ox);
				__m256 dv = _mm256_maskload_ps(d + ox, m);
				__m256 xv = _mm256_and_ps(load8(src + ox * st, st), _mm256_castsi256_ps(m));
				a = _mm256_add_ps(a, _mm256_mul_ps(dv, xv));
			}
		}
		_mm256_storeu_ps(acc + 8 * t, a);
	}
}
*/
import "C"

import (
	"unsafe"

	"github.com/distillgo/distill/internal/nn"
)

// With AVX2, the kernels' vector loops (batchnorm's sums and passes, hardswish, depthwise
// convolutions) run as the C
// above: bit for bit internal/nn's Go loops (TestVecMatchesGo), several times faster.
func init() {
	if hostFeatures().AVX2 {
		nn.UseVec(avx2Vec())
	}
}

func fp(x []float32) *C.float {
	if len(x) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&x[0]))
}

// planes checks that each non-nil x holds the planes p, as nn's loops do, before C reads them.
func planes(p nn.Planes, xs ...[]float32) bool {
	if p.N <= 0 || p.HW <= 0 {
		return false
	}
	for _, x := range xs {
		if x != nil && len(x) < (p.N-1)*p.Stride+p.HW {
			panic("student: planes past the end of a slice")
		}
	}
	return true
}

// avx2Vec returns the C loops.
func avx2Vec() nn.Vec {
	return nn.Vec{
		Moments: func(x []float32, p nn.Planes, x0 float32, s, ss *[8]float64) {
			if planes(p, x) {
				C.vec_moments(fp(x), C.long(p.N), C.long(p.HW), C.long(p.Stride), C.float(x0),
					(*C.double)(&s[0]), (*C.double)(&ss[0]))
			}
		},
		Sums: func(x []float32, p nn.Planes, s *[8]float64) {
			if planes(p, x) {
				C.vec_sums(fp(x), C.long(p.N), C.long(p.HW), C.long(p.Stride), (*C.double)(&s[0]))
			}
		},
		Normalize: func(x, y []float32, p nn.Planes, mu, inv, g, b float32, relu bool) {
			if planes(p, x, y) {
				r := 0
				if relu {
					r = 1
				}
				C.vec_normalize(fp(x), fp(y), C.long(p.N), C.long(p.HW), C.long(p.Stride),
					C.float(mu), C.float(inv), C.float(g), C.float(b), C.int(r))
			}
		},
		GradSums: func(g, x, y []float32, p nn.Planes, mu, inv float32, sb, sg *[8]float64) {
			if planes(p, g, x, y) {
				C.vec_grad_sums(fp(g), fp(x), fp(y), C.long(p.N), C.long(p.HW), C.long(p.Stride),
					C.float(mu), C.float(inv), (*C.double)(&sb[0]), (*C.double)(&sg[0]))
			}
		},
		GradInput: func(g, x, y, dx []float32, p nn.Planes, f, m, db, mu, inv, dg float32) {
			if planes(p, g, x, y, dx) {
				C.vec_grad_input(fp(g), fp(x), fp(y), fp(dx), C.long(p.N), C.long(p.HW), C.long(p.Stride),
					C.float(f), C.float(m), C.float(db), C.float(mu), C.float(inv), C.float(dg))
			}
		},
		Hardswish: func(x, y []float32) {
			if len(x) > 0 {
				_ = y[len(x)-1]
				C.vec_hardswish(fp(x), fp(y), C.long(len(x)))
			}
		},
		HardswishGrad: func(x, g, dx []float32) {
			if len(x) > 0 {
				_, _ = g[len(x)-1], dx[len(x)-1]
				C.vec_hardswish_grad(fp(x), fp(g), fp(dx), C.long(len(x)))
			}
		},
		Relu: func(x, y []float32) {
			if len(x) > 0 {
				_ = y[len(x)-1]
				C.vec_relu(fp(x), fp(y), C.long(len(x)))
			}
		},
		ReluGrad: func(g, y, dx []float32) {
			if len(g) > 0 {
				_, _ = y[len(g)-1], dx[len(g)-1]
				C.vec_relu_grad(fp(g), fp(y), fp(dx), C.long(len(g)))
			}
		},
		MaxPool2: func(x []float32, n, h, w int, y []float32, a []int32) {
			if oh, ow := h/2, w/2; n > 0 && oh > 0 && ow > 0 {
				_, _, _ = x[n*h*w-1], y[n*oh*ow-1], a[n*oh*ow-1]
				C.vec_maxpool2(fp(x), C.long(n), C.long(h), C.long(w), fp(y), (*C.int)(unsafe.Pointer(&a[0])))
			}
		},
		DWCorr: func(xp []float32, wp int, w []float32, k, st int, y []float32, oh, ow int) {
			if oh > 0 && ow > 0 {
				_, _, _ = xp[nn.DWNeed(wp, k, st, oh)-1], w[k*k-1], y[oh*ow-1]
				C.vec_dw_corr(fp(xp), C.long(wp), fp(w), C.long(k), C.long(st), fp(y), C.long(oh), C.long(ow))
			}
		},
		DWDots: func(xp []float32, wp int, dy []float32, oh, ow, k, st int, acc []float32) {
			if oh > 0 && ow > 0 {
				_, _, _ = xp[nn.DWNeed(wp, k, st, oh)-1], dy[oh*ow-1], acc[8*k*k-1]
				C.vec_dw_dots(fp(xp), C.long(wp), fp(dy), C.long(oh), C.long(ow), C.long(k), C.long(st), fp(acc))
			}
		},
	}
}
