package student

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Optimizer updates parameters in place from their gradients. Its state (moment estimates, step
// counter) round-trips exactly through State and SetState, so a resumed run makes bit-for-bit the
// same updates as one never interrupted.
type Optimizer interface {
	// Step applies one update to every param from its Grad. State for a param is created on the
	// first step that sees it (zeros) and keyed by the param's Name.
	Step(params []*Param)
	// State returns a copy of the state as named float32 vectors: "step" (the step counter, see
	// StepKey) and "<param name>.<buffer>" for each per-parameter buffer.
	State() map[string][]float32
	// SetState replaces the state with a copy of one returned by State (of an optimiser of the
	// same kind); it validates names, lengths and values.
	SetState(map[string][]float32) error
	// Name is "adam" or "sgd".
	Name() string
	// Hyper returns the hyper-parameters by name, as NewOptimizer takes them.
	Hyper() map[string]float64
	// SetLR sets the learning rate of the following steps (a schedule's change of rate); the
	// state is kept, so a run that changes its rate between epochs makes the same updates as
	// one resumed with the new rate.
	SetLR(lr float64)
}

// StepKey is the state entry holding the step counter t as two float32 values [lo, hi] with
// t = hi·2²⁴ + lo, both exact integers in float32 (whose 24-bit significand holds integers up to
// 2²⁴ exactly), so counts up to 2⁴⁸ round-trip exactly.
const StepKey = "step"

// Buffer names, as in PyTorch's optimiser state dicts.
const (
	adamM  = "exp_avg"
	adamV  = "exp_avg_sq"
	sgdBuf = "momentum_buffer"
)

// NewOptimizer makes an optimiser by name ("adam" or "sgd") from hyper-parameters; missing ones
// take the defaults: adam lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-8 (Kingma & Ba 2015, and
// PyTorch's); sgd lr 1e-2, momentum 0.9. It errors on an unknown name or key or an invalid value.
func NewOptimizer(name string, hyper map[string]float64) (Optimizer, error) {
	get := func(defaults map[string]float64) (map[string]float64, error) {
		out := make(map[string]float64, len(defaults))
		for k, v := range defaults {
			out[k] = v
		}
		for k, v := range hyper {
			if _, ok := defaults[k]; !ok {
				return nil, fmt.Errorf("optimizer %s: unknown hyper-parameter %q", name, k)
			}
			out[k] = v
		}
		return out, nil
	}
	switch name {
	case "adam":
		h, err := get(map[string]float64{"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8})
		if err != nil {
			return nil, err
		}
		if err := checkAdam(h["lr"], h["beta1"], h["beta2"], h["eps"]); err != nil {
			return nil, err
		}
		return NewAdam(h["lr"], h["beta1"], h["beta2"], h["eps"]), nil
	case "sgd":
		h, err := get(map[string]float64{"lr": 1e-2, "momentum": 0.9})
		if err != nil {
			return nil, err
		}
		if err := checkSGD(h["lr"], h["momentum"]); err != nil {
			return nil, err
		}
		return NewSGD(h["lr"], h["momentum"]), nil
	}
	return nil, fmt.Errorf("optimizer: unknown name %q (want adam or sgd)", name)
}

func checkLR(name string, lr float64) error {
	if !(lr > 0) || math.IsInf(lr, 1) {
		return fmt.Errorf("optimizer %s: learning rate %v must be a positive finite number", name, lr)
	}
	return nil
}

func checkAdam(lr, beta1, beta2, eps float64) error {
	if err := checkLR("adam", lr); err != nil {
		return err
	}
	if !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) {
		return fmt.Errorf("optimizer adam: betas %v, %v must be in [0, 1)", beta1, beta2)
	}
	if !(eps >= 0) || math.IsInf(eps, 1) {
		return fmt.Errorf("optimizer adam: eps %v must be a non-negative finite number", eps)
	}
	return nil
}

func checkSGD(lr, momentum float64) error {
	if err := checkLR("sgd", lr); err != nil {
		return err
	}
	if !(momentum >= 0 && momentum < 1) {
		return fmt.Errorf("optimizer sgd: momentum %v must be in [0, 1)", momentum)
	}
	return nil
}

// minNormal32 is the smallest positive normal float32, 2^-126.
const minNormal32 = 0x1p-126

// flushSubnormal returns x, or zero when x is subnormal. Optimiser state that decays geometrically
// (momentum, Adam's moments) for a parameter whose gradient stays zero would otherwise become
// subnormal, and arithmetic on subnormals is some hundred times slower on x86 (microcode assists).
func flushSubnormal(x float32) float32 {
	if x > -minNormal32 && x < minNormal32 {
		return 0
	}
	return x
}

// Adam is the optimiser of Kingma & Ba (2015) with PyTorch's torch.optim.Adam semantics (no weight
// decay, no amsgrad): at step t,
//
//	m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//	p ← p − (lr / (1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + eps)
//
// with eps outside the square root. State is float32, like the parameters.
//
// Moments that decay below the smallest normal float32 are flushed to zero (see flushSubnormal):
// weights whose gradient stays zero (dead units, constant inputs) would otherwise keep subnormal
// moments, which x86 CPUs process about a hundred times slower; on the MNIST teacher that halved
// training speed within four epochs. The flushed values change an update by under 1e-30.
type Adam struct {
	lr, beta1, beta2, eps float64
	step                  int64
	m, v                  map[string][]float32
}

// NewAdam returns an Adam optimiser (PyTorch's defaults: lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-8).
// It panics on values NewOptimizer would refuse; use NewOptimizer for values from users.
func NewAdam(lr, beta1, beta2, eps float64) *Adam {
	if err := checkAdam(lr, beta1, beta2, eps); err != nil {
		panic(err)
	}
	return &Adam{lr: lr, beta1: beta1, beta2: beta2, eps: eps, m: map[string][]float32{}, v: map[string][]float32{}}
}

// Name returns "adam".
func (a *Adam) Name() string { return "adam" }

// Hyper returns lr, beta1, beta2 and eps.
func (a *Adam) Hyper() map[string]float64 {
	return map[string]float64{"lr": a.lr, "beta1": a.beta1, "beta2": a.beta2, "eps": a.eps}
}

// SetLR sets the learning rate; it panics on a rate that is not positive and finite.
func (a *Adam) SetLR(lr float64) {
	if err := checkLR("adam", lr); err != nil {
		panic(err)
	}
	a.lr = lr
}

// Steps returns the number of steps taken (restored by SetState).
func (a *Adam) Steps() int64 { return a.step }

// Step applies one Adam update to every param.
func (a *Adam) Step(params []*Param) {
	a.step++
	t := float64(a.step)
	bc1 := 1 - math.Pow(a.beta1, t)
	bc2 := 1 - math.Pow(a.beta2, t)
	k := adamCoeffs{
		b1: float32(a.beta1), b2: float32(a.beta2), c1: float32(1 - a.beta1), c2: float32(1 - a.beta2),
		stepSize: float32(a.lr / bc1), invBc2Sqrt: float32(1 / math.Sqrt(bc2)), eps: float32(a.eps),
	}
	jobs := make([]updateJob, 0, len(params))
	for _, p := range params {
		checkParam(p)
		m, v := a.m[p.Name], a.v[p.Name]
		if m == nil {
			m = make([]float32, len(p.Value))
			v = make([]float32, len(p.Value))
			a.m[p.Name], a.v[p.Name] = m, v
		}
		if len(m) != len(p.Value) || len(v) != len(p.Value) {
			panic(fmt.Sprintf("adam: state of %s has %d values, param has %d", p.Name, len(m), len(p.Value)))
		}
		jobs = append(jobs, updateJob{n: len(p.Value), fn: func(lo, hi int) {
			adamUpdate(p.Value[lo:hi], p.Grad[lo:hi], m[lo:hi], v[lo:hi], k)
		}})
	}
	runUpdates(jobs)
}

// State returns a copy of the step counter and, per param, "<name>.exp_avg" and "<name>.exp_avg_sq".
func (a *Adam) State() map[string][]float32 {
	st := map[string][]float32{StepKey: encodeStep(a.step)}
	for name, m := range a.m {
		st[name+"."+adamM] = append([]float32(nil), m...)
		st[name+"."+adamV] = append([]float32(nil), a.v[name]...)
	}
	return st
}

// SetState restores a state returned by (*Adam).State.
func (a *Adam) SetState(st map[string][]float32) error {
	step, bufs, err := parseState("adam", st, []string{adamM, adamV})
	if err != nil {
		return err
	}
	a.step, a.m, a.v = step, bufs[adamM], bufs[adamV]
	return nil
}

// SGD is stochastic gradient descent with momentum, with PyTorch's torch.optim.SGD semantics (no
// dampening, no Nesterov, no weight decay): buf ← g on a param's first step, else
// buf ← momentum·buf + g; then p ← p − lr·buf. With momentum 0 it is p ← p − lr·g and keeps no buffer.
// Like Adam's moments, a buffer value that decays below the smallest normal float32 becomes zero.
type SGD struct {
	lr, momentum float64
	step         int64
	buf          map[string][]float32
}

// NewSGD returns an SGD optimiser. It panics on values NewOptimizer would refuse.
func NewSGD(lr, momentum float64) *SGD {
	if err := checkSGD(lr, momentum); err != nil {
		panic(err)
	}
	return &SGD{lr: lr, momentum: momentum, buf: map[string][]float32{}}
}

// Name returns "sgd".
func (s *SGD) Name() string { return "sgd" }

// Hyper returns lr and momentum.
func (s *SGD) Hyper() map[string]float64 {
	return map[string]float64{"lr": s.lr, "momentum": s.momentum}
}

// SetLR sets the learning rate; it panics on a rate that is not positive and finite.
func (s *SGD) SetLR(lr float64) {
	if err := checkLR("sgd", lr); err != nil {
		panic(err)
	}
	s.lr = lr
}

// Steps returns the number of steps taken (restored by SetState).
func (s *SGD) Steps() int64 { return s.step }

// Step applies one SGD update to every param.
func (s *SGD) Step(params []*Param) {
	s.step++
	lr, mu := float32(s.lr), float32(s.momentum)
	jobs := make([]updateJob, 0, len(params))
	for _, p := range params {
		checkParam(p)
		if s.momentum == 0 {
			jobs = append(jobs, updateJob{n: len(p.Value), fn: func(lo, hi int) {
				x, g := p.Value[lo:hi], p.Grad[lo:hi]
				for i := range x {
					x[i] -= lr * g[i]
				}
			}})
			continue
		}
		buf, ok := s.buf[p.Name]
		if !ok {
			buf = make([]float32, len(p.Value))
			s.buf[p.Name] = buf
		}
		if len(buf) != len(p.Value) {
			panic(fmt.Sprintf("sgd: state of %s has %d values, param has %d", p.Name, len(buf), len(p.Value)))
		}
		first := !ok
		jobs = append(jobs, updateJob{n: len(p.Value), fn: func(lo, hi int) {
			x, g, b := p.Value[lo:hi], p.Grad[lo:hi], buf[lo:hi]
			if first {
				copy(b, g)
			} else {
				for i := range b {
					b[i] = flushSubnormal(mu*b[i] + g[i])
				}
			}
			for i := range x {
				x[i] -= lr * b[i]
			}
		}})
	}
	runUpdates(jobs)
}

// State returns a copy of the step counter and, with momentum, "<name>.momentum_buffer" per param.
func (s *SGD) State() map[string][]float32 {
	st := map[string][]float32{StepKey: encodeStep(s.step)}
	for name, b := range s.buf {
		st[name+"."+sgdBuf] = append([]float32(nil), b...)
	}
	return st
}

// SetState restores a state returned by (*SGD).State.
func (s *SGD) SetState(st map[string][]float32) error {
	step, bufs, err := parseState("sgd", st, []string{sgdBuf})
	if err != nil {
		return err
	}
	s.step, s.buf = step, bufs[sgdBuf]
	return nil
}

func checkParam(p *Param) {
	if len(p.Grad) != len(p.Value) {
		panic(fmt.Sprintf("optimizer: param %s has %d values and %d gradients", p.Name, len(p.Value), len(p.Grad)))
	}
}

func encodeStep(t int64) []float32 {
	return []float32{float32(t % (1 << 24)), float32(t / (1 << 24))}
}

// parseState validates st and splits it into the step counter and, per buffer kind, the buffers
// by param name. Every param must have all kinds, of one length, with finite values.
func parseState(opt string, st map[string][]float32, kinds []string) (int64, map[string]map[string][]float32, error) {
	sv, ok := st[StepKey]
	if !ok {
		return 0, nil, fmt.Errorf("optimizer %s state: no %q entry", opt, StepKey)
	}
	if len(sv) != 2 {
		return 0, nil, fmt.Errorf("optimizer %s state: %q has %d values, want 2", opt, StepKey, len(sv))
	}
	for _, x := range sv {
		if !(x >= 0 && x < 1<<24) || x != float32(math.Trunc(float64(x))) {
			return 0, nil, fmt.Errorf("optimizer %s state: %q holds %v, not a step count", opt, StepKey, sv)
		}
	}
	step := int64(sv[1])<<24 + int64(sv[0])
	bufs := make(map[string]map[string][]float32, len(kinds))
	for _, k := range kinds {
		bufs[k] = map[string][]float32{}
	}
	keys := make([]string, 0, len(st))
	for key := range st {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if key == StepKey {
			continue
		}
		dot := strings.LastIndexByte(key, '.')
		if dot <= 0 {
			return 0, nil, fmt.Errorf("optimizer %s state: unexpected entry %q", opt, key)
		}
		name, kind := key[:dot], key[dot+1:]
		m, ok := bufs[kind]
		if !ok {
			return 0, nil, fmt.Errorf("optimizer %s state: unexpected entry %q (buffers: %s)", opt, key, strings.Join(kinds, ", "))
		}
		for i, x := range st[key] {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return 0, nil, fmt.Errorf("optimizer %s state: %s[%d] is %v", opt, key, i, x)
			}
		}
		m[name] = append([]float32(nil), st[key]...)
	}
	// Every param with one buffer has all, of the same length.
	for name, b := range bufs[kinds[0]] {
		for _, k := range kinds[1:] {
			o, ok := bufs[k][name]
			if !ok {
				return 0, nil, fmt.Errorf("optimizer %s state: %s.%s without %s.%s", opt, name, kinds[0], name, k)
			}
			if len(o) != len(b) {
				return 0, nil, fmt.Errorf("optimizer %s state: %s.%s has %d values, %s.%s %d", opt, name, kinds[0], len(b), name, k, len(o))
			}
		}
	}
	for _, k := range kinds[1:] {
		for name := range bufs[k] {
			if _, ok := bufs[kinds[0]][name]; !ok {
				return 0, nil, fmt.Errorf("optimizer %s state: %s.%s without %s.%s", opt, name, k, name, kinds[0])
			}
		}
	}
	return step, bufs, nil
}

// updateJob is an element-wise update of n values; fn(lo, hi) updates [lo, hi). Elements are
// independent, so any split gives the same bits.
type updateJob struct {
	n  int
	fn func(lo, hi int)
}

// parallelMin is the total element count below which updates run on the calling goroutine, and
// chunkSize the span one worker takes at a time: 64 Ki float32 values per buffer (256 KiB) keep
// a chunk's three or four streams within L2 while making goroutine overhead negligible.
const (
	parallelMin = 1 << 17
	chunkSize   = 1 << 16
)

// runUpdates runs jobs, splitting large ones into chunks spread over GOMAXPROCS goroutines.
func runUpdates(jobs []updateJob) {
	total := 0
	for _, j := range jobs {
		total += j.n
	}
	workers := min(runtime.GOMAXPROCS(0), (total+chunkSize-1)/chunkSize)
	if total < parallelMin || workers < 2 {
		for _, j := range jobs {
			j.fn(0, j.n)
		}
		return
	}
	type chunk struct{ job, lo, hi int }
	var chunks []chunk
	for ji, j := range jobs {
		for lo := 0; lo < j.n; lo += chunkSize {
			chunks = append(chunks, chunk{ji, lo, min(lo+chunkSize, j.n)})
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(chunks) {
					return
				}
				c := chunks[i]
				jobs[c.job].fn(c.lo, c.hi)
			}
		})
	}
	wg.Wait()
}
