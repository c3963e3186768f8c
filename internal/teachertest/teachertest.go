package teachertest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"testing"
	"time"
)

// Teacher has the method set of pipeline's Teacher interface, so that this package can test
// every implementation without importing pipeline.
type Teacher interface {
	// Logits returns n*Classes() logits, row-major [n, classes], for n preprocessed samples x
	// (x holds n*Dim values). A teacher whose model outputs probabilities returns
	// log-probabilities.
	Logits(ctx context.Context, x []float32, n int) ([]float32, error)
	// Classes is the number of classes the teacher predicts.
	Classes() int
	// Close releases the teacher's resources.
	Close() error
}

// Case describes one teacher under test.
type Case struct {
	// Open returns a fresh teacher; the suite closes it. Open reports its own failures through
	// tb (tb.Fatalf) and may use tb.TempDir and tb.Cleanup.
	Open func(tb testing.TB) Teacher
	// Dim is the number of float32 values in one preprocessed sample (the product of the
	// per-sample input shape).
	Dim int
	// Classes is the class count the teacher must report and the width of each output row.
	Classes int
	// Reference returns the logits expected for the n samples x, row-major [n, Classes], for
	// example computed in float64 from the model's known weights. It is given its own copy of x.
	// For a teacher whose model outputs probabilities it returns log-probabilities.
	Reference func(x []float32, n int) []float32
	// Tol is the largest absolute difference allowed between a teacher's logit and Reference's,
	// and between a sample's logits computed in a batch and alone. It must be >= 0.
	Tol float64
	// MaxBatch is the most samples the teacher runs its model on at once (onnx.Options.Batch,
	// or a model's fixed batch size); 0 means it runs any n at once. Logits must still accept
	// larger n (it splits them into runs), so the suite tries n = MaxBatch, MaxBatch+1 (a partial
	// last run) and 2*MaxBatch+1 (more than one full run) besides 1 and 3; with 0 it tries 1, 3
	// and 67.
	MaxBatch int
	// ErrClosed, when not nil, is the error that Logits after Close must wrap (onnx.ErrClosed);
	// when nil, Logits after Close is not tried, since the Teacher interface allows Close once
	// and says nothing of later calls.
	ErrClosed error
}

// validate reports what makes c unusable by the suite.
func (c Case) validate() error {
	switch {
	case c.Open == nil:
		return errors.New("Open is nil")
	case c.Reference == nil:
		return errors.New("Reference is nil")
	case c.Dim < 1:
		return fmt.Errorf("Dim %d: must be >= 1", c.Dim)
	case c.Classes < 1:
		return fmt.Errorf("Classes %d: must be >= 1", c.Classes)
	case !(c.Tol >= 0):
		return fmt.Errorf("Tol %g: must be >= 0", c.Tol)
	case c.MaxBatch < 0:
		return fmt.Errorf("MaxBatch %d: must be >= 0", c.MaxBatch)
	}
	return nil
}

// sizes returns the batch sizes that the length and reference checks try, in increasing order.
func (c Case) sizes() []int {
	// 3 is a small odd size, which catches code that assumes an even or power-of-two batch.
	ns := []int{1, 3}
	if m := c.MaxBatch; m > 0 {
		ns = append(ns, m, m+1, 2*m+1)
	} else {
		// 67 is a prime larger than the widest SIMD block (16 float32s), so that a kernel's
		// remainder loop runs.
		ns = append(ns, 67)
	}
	slices.Sort(ns)
	return slices.Compact(ns)
}

// check is one named conformance check.
type check struct {
	name string
	run  func(tb testing.TB, c Case)
}

// checks are the conformance checks, in the order Run runs them; Run names its subtests by them.
var checks = []check{
	{"classes", checkClasses},
	{"length", checkLength},
	{"reference", checkReference},
	{"batch independence", checkIndependence},
	{"deterministic", checkDeterministic},
	{"output not reused", checkOutputOwned},
	{"input unchanged", checkInputUnchanged},
	{"cancelled context", checkCancelled},
	{"bad input length", checkBadLength},
	{"empty batch", checkEmpty},
	{"close", checkClose},
}

// Run runs every conformance check on the teacher that c describes, each as a subtest of t
// named after it ("classes", "length", "reference", "batch independence", "deterministic",
// "output not reused", "input unchanged", "cancelled context", "bad input length",
// "empty batch", "close"). Each check opens its own teacher with c.Open and closes it.
func Run(t *testing.T, c Case) {
	t.Helper()
	if err := c.validate(); err != nil {
		t.Fatalf("teachertest: bad Case: %v", err)
	}
	for _, ck := range checks {
		t.Run(ck.name, func(t *testing.T) { ck.run(t, c) })
	}
}

// Bench opens the teacher c describes and times Logits on batches of n seeded random samples,
// reporting samples/s beside the time per call. c.Reference and c.Tol are not used.
func Bench(b *testing.B, c Case, n int) {
	b.Helper()
	if err := c.validate(); err != nil {
		b.Fatalf("teachertest: bad Case: %v", err)
	}
	if n < 1 {
		b.Fatalf("teachertest: Bench on %d samples: need at least 1", n)
	}
	tch := c.Open(b)
	defer closeTeacher(b, tch)
	x := inputs(0xbe, n, c.Dim)
	ctx := context.Background()
	// One call before timing: it sizes the teacher's buffers and checks that the case works.
	if out := mustLogits(b, tch, ctx, x, n); len(out) != n*c.Classes {
		b.Fatalf("Logits(n=%d) returned %d values, want %d", n, len(out), n*c.Classes)
	}
	b.ReportAllocs()
	calls := 0
	for b.Loop() {
		if _, err := tch.Logits(ctx, x, n); err != nil {
			b.Fatalf("Logits(n=%d): %v", n, err)
		}
		calls++
	}
	b.ReportMetric(float64(calls*n)/b.Elapsed().Seconds(), "samples/s")
}

// checkClasses: Classes reports c.Classes.
func checkClasses(tb testing.TB, c Case) {
	tch := open(tb, c)
	defer closeTeacher(tb, tch)
	if got := tch.Classes(); got != c.Classes {
		tb.Errorf("Classes() = %d, want %d", got, c.Classes)
	}
}

// checkLength: Logits returns n*Classes values for every size in c.sizes.
func checkLength(tb testing.TB, c Case) {
	tch := open(tb, c)
	defer closeTeacher(tb, tch)
	for _, n := range c.sizes() {
		out := mustLogits(tb, tch, context.Background(), inputs(uint64(n), n, c.Dim), n)
		if len(out) != n*c.Classes {
			tb.Errorf("Logits(n=%d) returned %d values, want %d = %d×%d", n, len(out), n*c.Classes, n, c.Classes)
		}
	}
}

// checkReference: Logits agrees with c.Reference within c.Tol for every size in c.sizes.
func checkReference(tb testing.TB, c Case) {
	tch := open(tb, c)
	defer closeTeacher(tb, tch)
	for _, n := range c.sizes() {
		x := inputs(uint64(n), n, c.Dim)
		got := mustLogits(tb, tch, context.Background(), x, n)
		within(tb, fmt.Sprintf("Logits(n=%d) against Reference", n), got, reference(tb, c, x, n), c.Classes, c.Tol)
	}
}

// checkIndependence: each row of the largest batch in c.sizes equals, within c.Tol, that sample's
// logits computed alone; and the batch reversed gives the rows reversed.
func checkIndependence(tb testing.TB, c Case) {
	tch := open(tb, c)
	defer closeTeacher(tb, tch)
	ctx := context.Background()
	ns := c.sizes()
	n, d, k := ns[len(ns)-1], c.Dim, c.Classes
	x := inputs(0x1d, n, d)
	batch := mustLogits(tb, tch, ctx, x, n)
	if len(batch) != n*k {
		tb.Fatalf("Logits(n=%d) returned %d values, want %d", n, len(batch), n*k)
	}
	alone := make([]float32, 0, n*k)
	for i := range n {
		row := mustLogits(tb, tch, ctx, slices.Clone(x[i*d:(i+1)*d]), 1)
		if len(row) != k {
			tb.Fatalf("Logits(n=1) on sample %d returned %d values, want %d", i, len(row), k)
		}
		alone = append(alone, row...)
	}
	within(tb, fmt.Sprintf("Logits(n=%d) against each sample alone (n=1)", n), batch, alone, k, c.Tol)

	rx := make([]float32, 0, n*d)
	for i := n - 1; i >= 0; i-- {
		rx = append(rx, x[i*d:(i+1)*d]...)
	}
	rev := mustLogits(tb, tch, ctx, rx, n)
	if len(rev) != n*k {
		tb.Fatalf("Logits(n=%d) on the reversed batch returned %d values, want %d", n, len(rev), n*k)
	}
	unrev := make([]float32, 0, n*k)
	for i := n - 1; i >= 0; i-- {
		unrev = append(unrev, rev[i*k:(i+1)*k]...)
	}
	within(tb, fmt.Sprintf("Logits(n=%d) on the reversed batch, rows put back", n), unrev, batch, k, c.Tol)
}

// checkDeterministic: the same input gives bit-identical output, also after a call on other
// input in between, at a small size and at the largest size in c.sizes.
func checkDeterministic(tb testing.TB, c Case) {
	tch := open(tb, c)
	defer closeTeacher(tb, tch)
	ctx := context.Background()
	ns := c.sizes()
	for _, n := range []int{3, ns[len(ns)-1]} {
		x, y := inputs(0xd1, n, c.Dim), inputs(0xd2, n, c.Dim)
		first := slices.Clone(mustLogits(tb, tch, ctx, x, n))
		second := mustLogits(tb, tch, ctx, x, n)
		identical(tb, fmt.Sprintf("Logits(n=%d) called twice on the same input", n), second, first, c.Classes)
		mustLogits(tb, tch, ctx, y, n)
		third := mustLogits(tb, tch, ctx, x, n)
		identical(tb, fmt.Sprintf("Logits(n=%d) on the same input after a call on other input", n), third, first, c.Classes)
	}
}

// checkOutputOwned: a returned slice is not overwritten by the next call, nor shared with its
// result (a teacher that hands out its output buffer fails this).
func checkOutputOwned(tb testing.TB, c Case) {
	tch := open(tb, c)
	defer closeTeacher(tb, tch)
	ctx := context.Background()
	for _, n := range c.sizes() {
		first := mustLogits(tb, tch, ctx, inputs(0x0a, n, c.Dim), n)
		kept := slices.Clone(first)
		second := mustLogits(tb, tch, ctx, inputs(0x0b, n, c.Dim), n)
		identical(tb, fmt.Sprintf("result of Logits(n=%d) after the next call", n), first, kept, c.Classes)
		if len(first) > 0 && len(second) > 0 && &first[0] == &second[0] {
			tb.Errorf("two calls of Logits(n=%d) returned the same backing array", n)
		}
	}
}

// checkInputUnchanged: Logits leaves x as it was, for every size in c.sizes.
func checkInputUnchanged(tb testing.TB, c Case) {
	tch := open(tb, c)
	defer closeTeacher(tb, tch)
	for _, n := range c.sizes() {
		x := inputs(0x1a, n, c.Dim)
		kept := slices.Clone(x)
		mustLogits(tb, tch, context.Background(), x, n)
		identical(tb, fmt.Sprintf("input of Logits(n=%d)", n), x, kept, c.Dim)
	}
}

// checkCancelled: a context already cancelled, or past its deadline, makes Logits return an error
// wrapping context.Canceled (context.DeadlineExceeded), for n = 1 and the largest size in
// c.sizes; afterwards the teacher still gives the reference logits.
func checkCancelled(tb testing.TB, c Case) {
	tch := open(tb, c)
	defer closeTeacher(tb, tch)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()
	ns := c.sizes()
	for _, n := range []int{1, ns[len(ns)-1]} {
		x := inputs(0xcc, n, c.Dim)
		for _, tc := range []struct {
			ctx  context.Context
			want error
		}{{cancelled, context.Canceled}, {expired, context.DeadlineExceeded}} {
			out, err := tryLogits(tb, tch, tc.ctx, x, n)
			if !errors.Is(err, tc.want) {
				tb.Errorf("Logits(n=%d) with a context whose Err is %v: got %d values and error %v, want an error wrapping %v",
					n, tc.want, len(out), err, tc.want)
			}
		}
		got := mustLogits(tb, tch, context.Background(), x, n)
		within(tb, fmt.Sprintf("Logits(n=%d) after the cancelled calls, against Reference", n), got, reference(tb, c, x, n), c.Classes, c.Tol)
	}
}

// checkBadLength: x shorter or longer than n*Dim, or n < 0, gives an error and no panic, and the
// teacher then still gives the reference logits.
func checkBadLength(tb testing.TB, c Case) {
	tch := open(tb, c)
	defer closeTeacher(tb, tch)
	d := c.Dim
	x := inputs(0xba, 3, d)
	for _, tc := range []struct {
		name string
		x    []float32
		n    int
	}{
		{"one value short", x[:3*d-1], 3},
		{"one sample short", x[:2*d], 3},
		{"nil input", nil, 2},
		{"one value over", append(slices.Clone(x), 0), 3},
		{"n = -1", nil, -1},
		{"n = -1 with one sample", x[:d], -1},
	} {
		xs := slices.Clone(tc.x)
		out, err := tryLogits(tb, tch, context.Background(), xs, tc.n)
		if err == nil {
			tb.Errorf("%s: Logits(%d values, n=%d) returned %d values and no error, want an error", tc.name, len(tc.x), tc.n, len(out))
		}
	}
	got := mustLogits(tb, tch, context.Background(), x, 3)
	within(tb, "Logits(n=3) after the bad calls, against Reference", got, reference(tb, c, x, 3), c.Classes, c.Tol)
}

// checkEmpty: n = 0, with nil or empty x, returns an error or an empty result with a nil error,
// without panicking.
func checkEmpty(tb testing.TB, c Case) {
	tch := open(tb, c)
	defer closeTeacher(tb, tch)
	for _, x := range [][]float32{nil, {}} {
		out, err := tryLogits(tb, tch, context.Background(), x, 0)
		if err == nil && len(out) != 0 {
			tb.Errorf("Logits(n=0) returned %d values and no error, want no values or an error", len(out))
		}
	}
}

// checkClose: Close, after a call of Logits, returns nil; with c.ErrClosed set, Logits after
// Close returns an error wrapping it and does not panic.
func checkClose(tb testing.TB, c Case) {
	tch := open(tb, c)
	x := inputs(0xc1, 3, c.Dim)
	mustLogits(tb, tch, context.Background(), x, 3)
	if err := tch.Close(); err != nil {
		tb.Errorf("Close() = %v, want nil", err)
	}
	if c.ErrClosed == nil {
		return
	}
	out, err := tryLogits(tb, tch, context.Background(), x, 3)
	if !errors.Is(err, c.ErrClosed) {
		tb.Errorf("Logits after Close: got %d values and error %v, want an error wrapping %v", len(out), err, c.ErrClosed)
	}
}

// open returns a fresh teacher from c.Open, failing tb if it returns nil.
func open(tb testing.TB, c Case) Teacher {
	tb.Helper()
	tch := c.Open(tb)
	if tch == nil {
		tb.Fatal("Case.Open returned a nil teacher")
	}
	return tch
}

// closeTeacher closes tch, reporting an error from Close on tb.
func closeTeacher(tb testing.TB, tch Teacher) {
	tb.Helper()
	if err := tch.Close(); err != nil {
		tb.Errorf("Close() = %v, want nil", err)
	}
}

// tryLogits calls tch.Logits and fails tb (and stops the check) if it panics.
func tryLogits(tb testing.TB, tch Teacher, ctx context.Context, x []float32, n int) (out []float32, err error) {
	tb.Helper()
	defer func() {
		if p := recover(); p != nil {
			tb.Fatalf("Logits(%d values, n=%d) panicked: %v\n%s", len(x), n, p, debug.Stack())
		}
	}()
	return tch.Logits(ctx, x, n)
}

// mustLogits calls tch.Logits and fails tb (and stops the check) if it returns an error or
// panics.
func mustLogits(tb testing.TB, tch Teacher, ctx context.Context, x []float32, n int) []float32 {
	tb.Helper()
	out, err := tryLogits(tb, tch, ctx, x, n)
	if err != nil {
		tb.Fatalf("Logits(%d values, n=%d): %v", len(x), n, err)
	}
	return out
}

// reference returns c.Reference on a copy of x, failing tb if its length is not n*Classes.
func reference(tb testing.TB, c Case, x []float32, n int) []float32 {
	tb.Helper()
	want := c.Reference(slices.Clone(x), n)
	if len(want) != n*c.Classes {
		tb.Fatalf("teachertest: bad Case: Reference(n=%d) returned %d values, want %d", n, len(want), n*c.Classes)
	}
	return want
}

// inputs returns n samples of dim values drawn uniformly from [-1, 1) by a PCG generator seeded
// with seed, so that every run of a check sees the same samples.
func inputs(seed uint64, n, dim int) []float32 {
	rng := rand.New(rand.NewPCG(seed, 0x7465616368)) // "teach"
	x := make([]float32, n*dim)
	for i := range x {
		x[i] = float32(rng.Float64()*2 - 1)
	}
	return x
}

// maxReported is how many differing values within and identical list before summarising.
const maxReported = 5

// within fails tb unless got and want have the same length and every |got-want| <= tol (a NaN on
// either side fails); what names the comparison and width is the row length used to report
// positions as [row, column].
func within(tb testing.TB, what string, got, want []float32, width int, tol float64) {
	tb.Helper()
	compare(tb, what, got, want, width, func(g, w float32) bool {
		return math.Abs(float64(g)-float64(w)) <= tol
	}, fmt.Sprintf("|diff| > %g", tol))
}

// identical fails tb unless got and want hold the same bits, value by value.
func identical(tb testing.TB, what string, got, want []float32, width int) {
	tb.Helper()
	compare(tb, what, got, want, width, func(g, w float32) bool {
		return math.Float32bits(g) == math.Float32bits(w)
	}, "not bit-identical")
}

func compare(tb testing.TB, what string, got, want []float32, width int, ok func(g, w float32) bool, why string) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Errorf("%s: got %d values, want %d", what, len(got), len(want))
		return
	}
	bad, worst, worstAt := 0, 0.0, -1
	var msg []byte
	for i := range got {
		if ok(got[i], want[i]) {
			continue
		}
		bad++
		if d := math.Abs(float64(got[i]) - float64(want[i])); worstAt < 0 || d > worst || d != d {
			worst, worstAt = d, i
		}
		if bad <= maxReported {
			msg = fmt.Appendf(msg, "\n\t[%d, %d]: got %v, want %v", i/width, i%width, got[i], want[i])
		}
	}
	if bad > 0 {
		tb.Errorf("%s: %d of %d values %s (largest |diff| %g at [%d, %d]):%s",
			what, bad, len(got), why, worst, worstAt/width, worstAt%width, msg)
	}
}
