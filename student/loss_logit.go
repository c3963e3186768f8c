package student

import "math"

// This file holds the soft parts that go beyond Hinton et al.'s: decoupled knowledge distillation
// (Kind "dkd") and logit standardisation (Standardize), documented on Loss.

// standardizeEps is the constant added to the standard deviation in Z(x) = (x − mean) / (std +
// eps): Sun et al.'s code uses 1e-7.
const standardizeEps = 1e-7

// softRow adds w·∇ of the soft part of example i for Kind "dkd" or with Standardize to dz (when
// not nil) and returns its value.
func (l Loss) softRow(zi, teacher []float32, k, n, c, i int, labels []int32, sc *lossScratch, dz []float32, w float64) float64 {
	z, v, vn, vi, gz := zi, teacher, n, i, dz
	if l.Standardize {
		z, v, vn, vi = sc.zs, sc.vs, 1, 0
		standardizeRow(z, zi)
		for t := range k {
			standardizeRow(v[t*c:(t+1)*c], teacher[(t*n+i)*c:(t*n+i+1)*c])
		}
		if dz != nil {
			gz = sc.gz
			clear(gz)
		}
	}
	byLogits := l.Ensemble == "logits"
	var val float64
	if l.Kind == "dkd" {
		val = dkdRow(z, v, k, vn, c, vi, int(labels[i]), l, byLogits, sc, gz, w)
	} else {
		val = klRow(z, v, k, vn, c, vi, l.T, byLogits, sc, gz, w)
	}
	if l.Standardize && dz != nil {
		standardizeGrad(dz, zi, gz)
	}
	return val
}

// zscore returns the mean of x, its standard deviation over the classes with Bessel's correction
// (0 for a single class) and the divisor std + standardizeEps.
func zscore(x []float32) (mean, std, div float64) {
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	if len(x) > 1 {
		var ss float64
		for _, v := range x {
			d := float64(v) - mean
			ss += d * d
		}
		std = math.Sqrt(ss / float64(len(x)-1))
	}
	return mean, std, std + standardizeEps
}

// standardizeRow writes Z(x) = (x − mean(x)) / (std(x) + 1e-7) into dst.
func standardizeRow(dst, x []float32) {
	m, _, div := zscore(x)
	for j, v := range x {
		dst[j] = float32((float64(v) - m) / div)
	}
}

// standardizeGrad adds to dz the gradient with respect to x of a loss whose gradient with
// respect to u = Z(x) is gu. With d = x − mean(x), s = std(x) and s' = s + 1e-7:
//
//	∂L/∂x_k = (gu_k − mean(gu)) / s' − (Σ_j gu_j d_j) · d_k / ((C − 1) · s · s'²)
//
// (the second term is left out when s = 0, where std is not differentiable).
func standardizeGrad(dz, x, gu []float32) {
	m, s, div := zscore(x)
	c := len(x)
	var gm, sgd float64
	for j, g := range gu {
		gm += float64(g)
		sgd += float64(g) * (float64(x[j]) - m)
	}
	gm /= float64(c)
	second := 0.0
	if s > 0 {
		second = sgd / (float64(c-1) * s * div * div)
	}
	for j, g := range gu {
		dz[j] += float32((float64(g)-gm)/div - second*(float64(x[j])-m))
	}
}

// logSumExpExcept returns log Σ_{j≠t} exp(x_j), −Inf when x has no other element.
func logSumExpExcept(x []float64, t int) float64 {
	m := math.Inf(-1)
	for j, v := range x {
		if j != t {
			m = max(m, v)
		}
	}
	if math.IsInf(m, -1) {
		return m
	}
	var sum float64
	for j, v := range x {
		if j != t {
			sum += math.Exp(v - m)
		}
	}
	return m + math.Log(sum)
}

// dkdRow adds w·∇ of T²·(DKDAlpha·TCKD + DKDBeta·NCKD) for example i with label y to dz (when
// not nil) and returns the value (formulas on Loss.Kind). Everything is computed from log
// probabilities: log(1 − p_t) = log Σ_{j≠t} p_j and log p̂_j = log p_j − log(1 − p_t), so a
// teacher certain of the label (1 − p_t below float64's range) still has a defined p̂.
func dkdRow(zi, teacher []float32, k, n, c, i, y int, l Loss, byLogits bool, sc *lossScratch, dz []float32, w float64) float64 {
	logp, logq := sc.logp, sc.logq
	T := l.T
	invT := 1 / T
	teacherLogProbs(logp, teacher, k, n, c, i, invT, byLogits, sc)
	logSoftmax(logq, zi, invT)
	if c < 2 {
		return 0 // one class: nothing to distil
	}
	lnp, lnq := logSumExpExcept(logp, y), logSumExpExcept(logq, y) // log(1 − p_t), log(1 − q_t)
	pt, qt := math.Exp(logp[y]), math.Exp(logq[y])
	tckd := pt*(logp[y]-logq[y]) + math.Exp(lnp)*(lnp-lnq)
	var nckd float64
	g := w * T
	for j := range c {
		if j == y {
			continue
		}
		lph, lqh := logp[j]-lnp, logq[j]-lnq
		ph, qh := math.Exp(lph), math.Exp(lqh)
		if ph > 0 {
			nckd += ph * (lph - lqh)
		}
		if dz != nil {
			dz[j] += float32(g * (l.DKDBeta*(qh-ph) - l.DKDAlpha*qh*(qt-pt)))
		}
	}
	if dz != nil {
		dz[y] += float32(g * l.DKDAlpha * (qt - pt))
	}
	return T * T * (l.DKDAlpha*tckd + l.DKDBeta*nckd)
}
