package student

import (
	"errors"
	"fmt"
	"math"
)

// Loss configures the distillation objective of Hinton, Vinyals and Dean, "Distilling the Knowledge
// in a Neural Network" (2015), §2:
//
//	L = Alpha · T² · KL(p ‖ q) + (1 − Alpha) · CE(y, softmax(z))
//
// where z are the student's logits, p = softmax(v/T) the teacher's tempered probabilities, q =
// softmax(z/T) the student's, and y the hard label. KL is summed over classes and averaged over
// the examples of the batch (PyTorch's reduction 'batchmean', not 'mean', which would also divide
// by the class count); CE is averaged over the examples. The factor T² keeps the soft gradient's
// magnitude independent of T (§2: "it is important to multiply them by T²"): the gradient of
// T²·KL(p ‖ softmax(z/T)) with respect to z is T·(q − p), which tends to (z − v)/C for large T and
// zero-mean logits (§2.1).
//
// Which parts apply:
//   - teacher and labels: both parts, weighted by Alpha and 1 − Alpha;
//   - teacher, no labels: the soft part alone with weight 1 (Alpha is ignored);
//   - labels, no teacher: the hard part alone with weight 1 (Alpha is ignored; standalone training).
//
// Only the student receives gradients; the teacher's logits are constants.
type Loss struct {
	// T is the softmax temperature of the soft part (Kind "kl"); it must be > 0. The reference
	// MNIST run of the paper uses 20. Kind "mse" does not use it.
	T float64
	// Alpha weighs the soft part against the hard part, in [0, 1]; 1 trains on soft targets alone.
	Alpha float64
	// Kind is "kl" (default when empty): tempered KL divergence as above; "mse": logit matching,
	// the paper's high-temperature limit (§2.1), where the soft part for one example is
	//
	//	½ · Σ_j ((z_j − mean(z)) − (v_j − mean(v)))²
	//
	// on logits zero-meaned per example, averaged over the batch, with gradient
	// (z − mean(z)) − (v − mean(v)) per example divided by the batch size. It has no T and no T²;
	// or "dkd": decoupled knowledge distillation (Zhao et al., "Decoupled Knowledge
	// Distillation", CVPR 2022), which needs labels. With t the example's label, p the tempered
	// teacher target (as for "kl", ensembles included) and q = softmax(z/T), the soft part is
	//
	//	T² · (DKDAlpha · TCKD + DKDBeta · NCKD)
	//	TCKD = KL([p_t, 1 − p_t] ‖ [q_t, 1 − q_t])         (target vs the rest)
	//	NCKD = KL(p̂ ‖ q̂),  p̂_j = p_j / (1 − p_t), j ≠ t   (among the non-target classes)
	//
	// (KL(p ‖ q) = TCKD + (1 − p_t) · NCKD, so DKDAlpha = 1 and DKDBeta = 1 − p_t give "kl").
	// Its gradient is T · DKDAlpha · (q_t − p_t) for z_t and T · (DKDBeta · (q̂_j − p̂_j) −
	// DKDAlpha · q̂_j · (q_t − p_t)) for z_j, j ≠ t. The paper minimises CE + DKD, which is
	// Alpha = 0.5 here up to a factor 2 (Adam's steps do not depend on it).
	Kind string
	// DKDAlpha and DKDBeta weigh TCKD and NCKD for Kind "dkd" (the paper's defaults: 1 and 8);
	// both ≥ 0. Other kinds ignore them.
	DKDAlpha, DKDBeta float64
	// Standardize z-scores the student's and each teacher's logits per example before the
	// tempered softmax of "kl" or "dkd" (Sun et al., "Logit Standardization in Knowledge
	// Distillation", CVPR 2024): Z(x) = (x − mean(x)) / (std(x) + 1e-7), with std over the
	// classes with Bessel's correction (÷ (C − 1)) and 1e-7 as in their code. The soft part is
	// then computed on Z(z) and Z(v_k) as above (T² included; an ensemble combines the teachers'
	// standardised logits), and the gradient is carried back through Z; the hard part keeps
	// the raw logits. Kind "mse" refuses it.
	Standardize bool
	// Ensemble says how several teachers' logits v_1..v_K combine into one target: "probs"
	// (default when empty) takes p = mean_k softmax(v_k/T), the paper's choice; "logits" takes
	// p = softmax(mean_k(v_k)/T). With one teacher both are the same. Kind "mse" always matches
	// the mean of the teachers' logits.
	Ensemble string
}

// LossParts is one evaluation of a Loss over a batch, for logging. Soft and Hard are the
// unweighted parts (Soft = T²·mean KL for "kl", the mean squared logit distance above for "mse";
// Hard = mean cross-entropy with the labels, computed whenever labels are given even if Alpha = 1);
// Total is the weighted objective actually minimised. A part that cannot be computed (no teacher,
// no labels) is 0.
type LossParts struct {
	Total, Soft, Hard float64
}

// Validate reports a configuration that Func would refuse: T ≤ 0 (or NaN), Alpha outside [0, 1],
// an unknown Kind or Ensemble, negative or non-finite DKD weights for "dkd", Standardize with
// "mse".
func (l Loss) Validate() error {
	switch l.Kind {
	case "", "kl", "mse":
	case "dkd":
		for _, w := range []float64{l.DKDAlpha, l.DKDBeta} {
			if !(w >= 0) || math.IsInf(w, 1) {
				return fmt.Errorf("loss: dkd weight %v must be a non-negative finite number", w)
			}
		}
	default:
		return fmt.Errorf("loss: unknown kind %q (want kl, mse or dkd)", l.Kind)
	}
	if l.Standardize && l.Kind == "mse" {
		return errors.New("loss: logit standardisation goes with kl or dkd, not mse")
	}
	switch l.Ensemble {
	case "", "probs", "logits":
	default:
		return fmt.Errorf("loss: unknown ensemble %q (want probs or logits)", l.Ensemble)
	}
	if !(l.T > 0) || math.IsInf(l.T, 1) {
		return fmt.Errorf("loss: temperature %v must be a positive finite number", l.T)
	}
	if !(l.Alpha >= 0 && l.Alpha <= 1) {
		return fmt.Errorf("loss: alpha %v must be in [0, 1]", l.Alpha)
	}
	return nil
}

// Func returns the LossFunc for one batch. teacher holds the logits of k teachers for the same n
// examples as the student batch, laid out [k][n][c] and flattened, or is nil (then k is ignored);
// labels holds the n hard labels or is nil. At least one of them must be given. The returned
// function writes dL/dz into dz (overwriting it) and returns the Total of Parts as float32. It
// reuses scratch buffers between calls, so it must not be called concurrently with itself.
//
// The configuration must pass Validate, labels must pass CheckLabels and teacher must pass
// CheckTeacher: Func and the function it returns panic on a misconfiguration or on a batch whose
// size does not match teacher or labels, since these are programming errors the caller checks
// beforehand.
func (l Loss) Func(teacher []float32, k int, labels []int32) LossFunc {
	if err := l.Validate(); err != nil {
		panic(err)
	}
	if teacher == nil && labels == nil {
		panic("loss: neither teacher logits nor labels given")
	}
	var sc lossScratch
	return func(z []float32, n, c int, dz []float32) float32 {
		return float32(l.parts(z, n, c, dz, teacher, k, labels, nil, &sc).Total)
	}
}

// Parts evaluates the loss of the student logits z [n][c] against teacher ([k][n][c] or nil) and
// labels (or nil) as Func does and returns its parts. If dz is not nil the gradient dTotal/dz is
// written into it. The same preconditions as for Func apply.
func (l Loss) Parts(z []float32, n, c int, dz []float32, teacher []float32, k int, labels []int32) LossParts {
	if err := l.Validate(); err != nil {
		panic(err)
	}
	if teacher == nil && labels == nil {
		panic("loss: neither teacher logits nor labels given")
	}
	var sc lossScratch
	return l.parts(z, n, c, dz, teacher, k, labels, nil, &sc)
}

// Mixed describes a batch whose images were mixed in pairs (mixup, cutmix): example i is Lam
// parts of the image labelled labels[i] and 1−Lam parts of one labelled Labels[i].
type Mixed struct {
	Labels []int32
	Lam    float64
}

// PartsMixed is Parts for a mixed batch: the hard term is the cross-entropy against the mixed
// target Lam·e(labels[i]) + (1−Lam)·e(mix.Labels[i]), that is Lam·CE(labels[i]) +
// (1−Lam)·CE(mix.Labels[i]); the soft term is unchanged (the teacher saw the mixed image). A nil
// mix is Parts. Mixing is for the KL and MSE losses; dkd, which splits the target class from the
// others, panics.
func (l Loss) PartsMixed(z []float32, n, c int, dz []float32, teacher []float32, k int, labels []int32, mix *Mixed) LossParts {
	if mix == nil {
		return l.Parts(z, n, c, dz, teacher, k, labels)
	}
	if err := l.Validate(); err != nil {
		panic(err)
	}
	switch {
	case labels == nil || len(mix.Labels) != len(labels):
		panic(fmt.Sprintf("loss: %d mixed labels for %d labels", len(mix.Labels), len(labels)))
	case l.Kind == "dkd" && teacher != nil:
		panic("loss: dkd cannot take mixed labels")
	case !(mix.Lam >= 0 && mix.Lam <= 1):
		panic(fmt.Sprintf("loss: mixing weight %v outside [0, 1]", mix.Lam))
	}
	var sc lossScratch
	return l.parts(z, n, c, dz, teacher, k, labels, mix, &sc)
}

// lossScratch holds per-call buffers reused across calls of one LossFunc.
type lossScratch struct {
	logp, logq, ls, vbar []float64
	zs, gz, vs           []float32 // standardised student row, its gradient, teacher rows [k][c]
}

func (s *lossScratch) grow(k, c int) {
	if cap(s.logp) < c {
		s.logp = make([]float64, c)
		s.logq = make([]float64, c)
		s.vbar = make([]float64, c)
		s.zs = make([]float32, c)
		s.gz = make([]float32, c)
	}
	s.logp, s.logq, s.vbar, s.zs, s.gz = s.logp[:c], s.logq[:c], s.vbar[:c], s.zs[:c], s.gz[:c]
	if cap(s.ls) < k*c {
		s.ls = make([]float64, k*c)
		s.vs = make([]float32, k*c)
	}
	s.ls, s.vs = s.ls[:k*c], s.vs[:k*c]
}

func (l Loss) parts(z []float32, n, c int, dz []float32, teacher []float32, k int, labels []int32, mix *Mixed, sc *lossScratch) LossParts {
	if n <= 0 || c <= 0 || len(z) != n*c {
		panic(fmt.Sprintf("loss: %d logits for a batch of %d × %d classes", len(z), n, c))
	}
	if dz != nil && len(dz) < n*c {
		panic(fmt.Sprintf("loss: gradient buffer of %d for a batch of %d × %d classes", len(dz), n, c))
	}
	if teacher != nil {
		if k <= 0 || len(teacher) != k*n*c {
			panic(fmt.Sprintf("loss: %d teacher logits for %d teachers × %d examples × %d classes", len(teacher), k, n, c))
		}
	} else {
		k = 0
	}
	if labels != nil && len(labels) != n {
		panic(fmt.Sprintf("loss: %d labels for a batch of %d", len(labels), n))
	}
	if l.Kind == "dkd" && teacher != nil && labels == nil {
		panic("loss: dkd needs labels")
	}

	// Weights of the two parts (see the Loss doc for the cases).
	wSoft, wHard := 0.0, 0.0
	switch {
	case teacher != nil && labels != nil:
		wSoft, wHard = l.Alpha, 1-l.Alpha
	case teacher != nil:
		wSoft = 1
	default:
		wHard = 1
	}
	T := l.T
	mse := l.Kind == "mse"
	byLogits := l.Ensemble == "logits"
	sc.grow(max(k, 1), c)
	invN := 1 / float64(n)

	var soft, hard float64
	for i := range n {
		zi := z[i*c : (i+1)*c]
		var dzi []float32
		if dz != nil {
			dzi = dz[i*c : (i+1)*c]
			clear(dzi)
		}
		if k > 0 {
			switch {
			case mse:
				soft += mseRow(zi, teacher, k, n, c, i, sc, dzi, wSoft*invN)
			case l.Kind == "dkd" || l.Standardize:
				soft += l.softRow(zi, teacher, k, n, c, i, labels, sc, dzi, wSoft*invN)
			default:
				soft += klRow(zi, teacher, k, n, c, i, T, byLogits, sc, dzi, wSoft*invN)
			}
		}
		switch {
		case mix != nil:
			lam := mix.Lam
			hard += lam*ceRow(zi, int(labels[i]), sc.logq, dzi, lam*wHard*invN) +
				(1-lam)*ceRow(zi, int(mix.Labels[i]), sc.logq, dzi, (1-lam)*wHard*invN)
		case labels != nil:
			hard += ceRow(zi, int(labels[i]), sc.logq, dzi, wHard*invN)
		}
	}
	soft *= invN
	hard *= invN
	return LossParts{Total: wSoft*soft + wHard*hard, Soft: soft, Hard: hard}
}

// logSoftmax writes log softmax(x·s) into dst in float64, stably: max subtraction then
// log-sum-exp, so logits of ±1e4 stay finite.
func logSoftmax(dst []float64, x []float32, s float64) {
	m := math.Inf(-1)
	for j, v := range x {
		dst[j] = float64(v) * s
		m = max(m, dst[j])
	}
	subtractLogSumExp(dst, m)
}

// subtractLogSumExp subtracts log Σ_j exp(dst_j) from every element of dst, m being the largest
// element (subtracted inside the exponentials, so that none overflows).
func subtractLogSumExp(dst []float64, m float64) {
	var sum float64
	for _, v := range dst {
		sum += math.Exp(v - m)
	}
	lse := m + math.Log(sum)
	for j := range dst {
		dst[j] -= lse
	}
}

// sumTeacherLogits writes the sum over the k teachers of their logits for example i into vbar;
// teacher is [k][n][c].
func sumTeacherLogits(vbar []float64, teacher []float32, k, n, c, i int) {
	clear(vbar)
	for t := range k {
		for j, v := range teacher[(t*n+i)*c : (t*n+i+1)*c] {
			vbar[j] += float64(v)
		}
	}
}

// klRow adds w·∇ of T²·KL(p‖q) for example i to dz and returns T²·KL for it.
func klRow(zi []float32, teacher []float32, k, n, c, i int, T float64, byLogits bool, sc *lossScratch, dz []float32, w float64) float64 {
	logp, logq := sc.logp, sc.logq
	invT := 1 / T
	teacherLogProbs(logp, teacher, k, n, c, i, invT, byLogits, sc)
	logSoftmax(logq, zi, invT)
	var kl float64
	g := w * T // d/dz [T² KL(p ‖ softmax(z/T))] = T (q − p)
	for j := range c {
		p := math.Exp(logp[j])
		q := math.Exp(logq[j])
		if p > 0 { // p log p → 0 as p → 0
			kl += p * (logp[j] - logq[j])
		}
		if dz != nil {
			dz[j] += float32(g * (q - p))
		}
	}
	return T * T * kl
}

// teacherLogProbs writes log p for example i into logp: the tempered target of the k teachers'
// logits ([k][n][c]), combined as Loss.Ensemble says.
func teacherLogProbs(logp []float64, teacher []float32, k, n, c, i int, invT float64, byLogits bool, sc *lossScratch) {
	switch {
	case k == 1:
		logSoftmax(logp, teacher[i*c:(i+1)*c], invT)
	case byLogits:
		// p = softmax(mean_k v_k / T).
		vbar := sc.vbar
		sumTeacherLogits(vbar, teacher, k, n, c, i)
		m := math.Inf(-1)
		for j := range vbar {
			logp[j] = vbar[j] / float64(k) * invT
			m = max(m, logp[j])
		}
		subtractLogSumExp(logp, m)
	default:
		// p = mean_k softmax(v_k / T); log p_j = logsumexp_k(log p_kj) − log k, in log space so an
		// underflowing probability of one teacher does not lose the others'.
		ls := sc.ls
		for t := range k {
			logSoftmax(ls[t*c:(t+1)*c], teacher[(t*n+i)*c:(t*n+i+1)*c], invT)
		}
		logK := math.Log(float64(k))
		for j := range c {
			m := math.Inf(-1)
			for t := range k {
				m = max(m, ls[t*c+j])
			}
			var sum float64
			for t := range k {
				sum += math.Exp(ls[t*c+j] - m)
			}
			logp[j] = m + math.Log(sum) - logK
		}
	}
}

// mseRow adds w·∇ of ½‖(z − mean z) − (v̄ − mean v̄)‖² for example i to dz and returns the value,
// where v̄ is the mean of the teachers' logits.
func mseRow(zi []float32, teacher []float32, k, n, c, i int, sc *lossScratch, dz []float32, w float64) float64 {
	vbar := sc.vbar
	sumTeacherLogits(vbar, teacher, k, n, c, i)
	var zm, vm float64
	for j := range c {
		vbar[j] /= float64(k)
		zm += float64(zi[j])
		vm += vbar[j]
	}
	zm /= float64(c)
	vm /= float64(c)
	var s float64
	for j := range c {
		d := (float64(zi[j]) - zm) - (vbar[j] - vm)
		s += d * d
		if dz != nil {
			dz[j] += float32(w * d)
		}
	}
	return 0.5 * s
}

// ceRow adds w·∇ of −log softmax(z)_y to dz and returns the cross-entropy; scratch has length c.
func ceRow(zi []float32, y int, scratch []float64, dz []float32, w float64) float64 {
	logSoftmax(scratch, zi, 1)
	if dz != nil {
		for j := range zi {
			d := math.Exp(scratch[j])
			if j == y {
				d--
			}
			dz[j] += float32(w * d)
		}
	}
	return -scratch[y]
}

// ErrBadLabel is wrapped by CheckLabels' error.
var ErrBadLabel = errors.New("label out of range")

// CheckLabels reports the first label outside [0, c), naming its index; run it on a dataset before
// training so a bad label is an error, not a panic.
func CheckLabels(labels []int32, c int) error {
	for i, y := range labels {
		if y < 0 || int(y) >= c {
			return fmt.Errorf("check labels: sample %d has label %d, want 0..%d: %w", i, y, c-1, ErrBadLabel)
		}
	}
	return nil
}

// ErrBadTeacher is wrapped by CheckTeacher's error.
var ErrBadTeacher = errors.New("teacher output is not finite")

// CheckTeacher reports the first NaN or ±Inf among the logits v of k teachers for n examples of c
// classes ([k][n][c] flattened), naming the example as offset+i (offset is the index of the batch's
// first example in the dataset) and, with several teachers, the teacher. It also checks the length.
func CheckTeacher(v []float32, k, n, c, offset int) error {
	if len(v) != k*n*c {
		return fmt.Errorf("check teacher logits: %d values for %d teachers × %d samples × %d classes", len(v), k, n, c)
	}
	for idx, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			t, rest := idx/(n*c), idx%(n*c)
			who := ""
			if k > 1 {
				who = fmt.Sprintf(" of teacher %d", t)
			}
			return fmt.Errorf("check teacher logits: sample %d%s has %v for class %d: %w", offset+rest/c, who, x, rest%c, ErrBadTeacher)
		}
	}
	return nil
}
