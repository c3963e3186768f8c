package teachertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// bug is a defect that a fake teacher can be given, each one a mistake a real teacher could make.
type bug int

const (
	bugNone              bug = iota
	bugClasses               // Classes reports one class too many
	bugShortOutput           // the result is one value short
	bugTailDropped           // the partial last run of a batch is left as zeros
	bugMixRows               // a row's logits pick up a little of the next sample
	bugNondeterministic      // every other call adds noise well inside Tol
	bugReusesOutput          // the result is the teacher's own buffer, overwritten by the next call
	bugModifiesInput         // the input is scaled in place (and the weights to match)
	bugIgnoresCtx            // the context is never looked at
	bugBrokenAfterCancel     // a cancelled call leaves the teacher failing every later call
	bugNoLengthCheck         // x is indexed without checking its length (panics when short)
	bugAcceptsLong           // x longer than n*Dim is accepted, its tail ignored
	bugPanicsOnEmpty         // n = 0 panics
	bugEmptyNotEmpty         // n = 0 returns one row
	bugCloseErr              // Close returns an error
	bugUsableAfterClose      // Logits after Close still runs
)

// errFakeClosed is what a fake teacher's Logits returns after Close.
var errFakeClosed = errors.New("fake teacher closed")

// fake is a linear teacher y = x W + b over fakeDim inputs and fakeClasses classes that runs its
// "model" in chunks of rows samples, as onnx.Session does, with an optional bug.
type fake struct {
	W      [][]float64
	b      []float64
	rows   int
	bug    bug
	calls  int
	buf    []float32
	closed bool
	broken bool
}

const (
	fakeDim     = 5
	fakeClasses = 3
	fakeRows    = 4
	fakeTol     = 1e-5
)

var _ Teacher = (*fake)(nil)

func newFake(bg bug) *fake {
	rng := rand.New(rand.NewPCG(42, 43))
	f := &fake{rows: fakeRows, bug: bg, b: make([]float64, fakeClasses)}
	for range fakeDim {
		row := make([]float64, fakeClasses)
		for j := range row {
			row[j] = rng.Float64()*2 - 1
		}
		f.W = append(f.W, row)
	}
	for j := range f.b {
		f.b[j] = rng.Float64()*2 - 1
	}
	return f
}

// forward computes x W + b for n samples in float64, the fake's reference.
func (f *fake) forward(x []float32, n int) []float32 {
	y := make([]float32, n*fakeClasses)
	for r := range n {
		for j := range fakeClasses {
			s := f.b[j]
			for i := range fakeDim {
				s += float64(x[r*fakeDim+i]) * f.W[i][j]
			}
			y[r*fakeClasses+j] = float32(s)
		}
	}
	return y
}

func (f *fake) Classes() int {
	if f.bug == bugClasses {
		return fakeClasses + 1
	}
	return fakeClasses
}

func (f *fake) Close() error {
	f.closed = true
	if f.bug == bugCloseErr {
		return errors.New("fake close failed")
	}
	return nil
}

func (f *fake) Logits(ctx context.Context, x []float32, n int) ([]float32, error) {
	f.calls++
	if f.closed && f.bug != bugUsableAfterClose {
		return nil, errFakeClosed
	}
	if f.broken {
		return nil, errors.New("fake teacher broken by an earlier cancellation")
	}
	switch {
	case f.bug == bugNoLengthCheck:
		if n < 0 {
			n = len(x) / fakeDim
		}
	case f.bug == bugAcceptsLong:
		if n < 0 || len(x) < n*fakeDim {
			return nil, fmt.Errorf("fake: %d values for %d samples", len(x), n)
		}
	case n < 0 || len(x) != n*fakeDim:
		return nil, fmt.Errorf("fake: %d values for %d samples", len(x), n)
	}
	switch {
	case n == 0 && f.bug == bugPanicsOnEmpty:
		_ = x[:fakeDim][0]
	case n == 0 && f.bug == bugEmptyNotEmpty:
		return make([]float32, fakeClasses), nil
	}
	if f.bug == bugModifiesInput {
		for i := range x[:n*fakeDim] {
			x[i] *= 0.5
		}
	}
	out := make([]float32, n*fakeClasses)
	if f.bug == bugReusesOutput {
		if len(f.buf) != len(out) {
			f.buf = out
		}
		out = f.buf
	}
	for start := 0; start < n; start += f.rows {
		if err := ctx.Err(); err != nil && f.bug != bugIgnoresCtx {
			if f.bug == bugBrokenAfterCancel {
				f.broken = true
			}
			return nil, fmt.Errorf("fake: %w", err)
		}
		r := min(f.rows, n-start)
		if f.bug == bugTailDropped && r < f.rows {
			break
		}
		// Index x the way a teacher that copies it into a tensor would, so that a short x
		// panics in bugNoLengthCheck.
		chunk := make([]float32, r*fakeDim)
		for i := range chunk {
			chunk[i] = x[start*fakeDim+i]
		}
		y := f.forward(chunk, r)
		for i := range r {
			for j := range fakeClasses {
				v := y[i*fakeClasses+j]
				switch f.bug {
				case bugMixRows:
					v += 1e-3 * x[((start+i+1)%n)*fakeDim]
				case bugModifiesInput:
					v = float32(2*float64(v) - f.b[j]) // undo the halving: x W = 2 (x/2) W
				case bugNondeterministic:
					v += float32(f.calls%2) * fakeTol / 4
				}
				out[(start+i)*fakeClasses+j] = v
			}
		}
	}
	if f.bug == bugShortOutput {
		out = out[:len(out)-1]
	}
	return out, nil
}

// fakeCase describes a fake teacher with bug bg.
func fakeCase(bg bug) Case {
	ref := newFake(bugNone)
	return Case{
		Open:      func(testing.TB) Teacher { return newFake(bg) },
		Dim:       fakeDim,
		Classes:   fakeClasses,
		Reference: ref.forward,
		Tol:       fakeTol,
		MaxBatch:  fakeRows,
		ErrClosed: errFakeClosed,
	}
}

// fakeTB is a testing.TB that records failures instead of reporting them, so that a check can be
// run and seen to fail without failing the test that runs it. It embeds the real test for the
// methods it does not override (Name, TempDir, Helper, ...). FailNow and SkipNow end the calling
// goroutine with runtime.Goexit, as testing does, so runCheck runs each check in a goroutine.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	failed   bool
	skipped  bool
	logs     []string
	cleanups []func()
}

func (f *fakeTB) Fail()                             { f.mu.Lock(); f.failed = true; f.mu.Unlock() }
func (f *fakeTB) FailNow()                          { f.Fail(); runtime.Goexit() }
func (f *fakeTB) Error(args ...any)                 { f.Log(args...); f.Fail() }
func (f *fakeTB) Errorf(format string, args ...any) { f.Logf(format, args...); f.Fail() }
func (f *fakeTB) Fatal(args ...any)                 { f.Log(args...); f.FailNow() }
func (f *fakeTB) Fatalf(format string, args ...any) { f.Logf(format, args...); f.FailNow() }
func (f *fakeTB) Skip(args ...any)                  { f.Log(args...); f.SkipNow() }
func (f *fakeTB) Skipf(format string, args ...any)  { f.Logf(format, args...); f.SkipNow() }
func (f *fakeTB) SkipNow()                          { f.mu.Lock(); f.skipped = true; f.mu.Unlock(); runtime.Goexit() }
func (f *fakeTB) Log(args ...any)                   { f.addLog(fmt.Sprint(args...)) }
func (f *fakeTB) Logf(format string, args ...any)   { f.addLog(fmt.Sprintf(format, args...)) }
func (f *fakeTB) Cleanup(fn func())                 { f.mu.Lock(); f.cleanups = append(f.cleanups, fn); f.mu.Unlock() }

func (f *fakeTB) Failed() bool  { f.mu.Lock(); defer f.mu.Unlock(); return f.failed }
func (f *fakeTB) Skipped() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.skipped }

func (f *fakeTB) addLog(s string) { f.mu.Lock(); f.logs = append(f.logs, s); f.mu.Unlock() }

// runCheck runs ck on c under a fakeTB in its own goroutine and returns the fakeTB once the check
// and its cleanups have finished.
func runCheck(t *testing.T, ck check, c Case) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			for _, fn := range slices.Backward(f.cleanups) {
				fn()
			}
		}()
		ck.run(f, c)
	}()
	<-done
	return f
}

// TestRunCorrectTeacher runs the suite, as a real test, on the fake without bugs.
func TestRunCorrectTeacher(t *testing.T) {
	Run(t, fakeCase(bugNone))
}

// TestChecksCatchBugs runs every check on a fake teacher with each bug and wants at least the
// named checks to fail; the fake without bugs must fail none.
func TestChecksCatchBugs(t *testing.T) {
	names := make(map[string]bool)
	for _, ck := range checks {
		names[ck.name] = true
	}
	for _, tc := range []struct {
		bug  bug
		name string
		want []string // checks that must fail
	}{
		{bugNone, "no bug", nil},
		{bugClasses, "wrong class count", []string{"classes"}},
		{bugShortOutput, "short output", []string{"length", "reference"}},
		{bugTailDropped, "partial last run dropped", []string{"reference", "batch independence"}},
		{bugMixRows, "rows mixed", []string{"reference", "batch independence"}},
		{bugNondeterministic, "noise inside Tol", []string{"deterministic"}},
		{bugReusesOutput, "output buffer handed out", []string{"output not reused"}},
		{bugModifiesInput, "input scaled in place", []string{"input unchanged"}},
		{bugIgnoresCtx, "context ignored", []string{"cancelled context"}},
		{bugBrokenAfterCancel, "broken after a cancelled call", []string{"cancelled context"}},
		{bugNoLengthCheck, "no length check", []string{"bad input length"}},
		{bugAcceptsLong, "long input accepted", []string{"bad input length"}},
		{bugPanicsOnEmpty, "panics on n = 0", []string{"empty batch"}},
		{bugEmptyNotEmpty, "a row for n = 0", []string{"empty batch"}},
		{bugCloseErr, "Close fails", []string{"close"}},
		{bugUsableAfterClose, "usable after Close", []string{"close"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeCase(tc.bug)
			var failed []string
			for _, ck := range checks {
				f := runCheck(t, ck, c)
				if f.Skipped() {
					t.Errorf("check %q skipped: %s", ck.name, strings.Join(f.logs, "; "))
				}
				if f.Failed() {
					failed = append(failed, ck.name)
					t.Logf("check %q failed as it should:\n%s", ck.name, strings.Join(f.logs, "\n"))
				}
			}
			if tc.want == nil && len(failed) > 0 {
				t.Errorf("checks %q failed on a correct teacher", failed)
			}
			for _, w := range tc.want {
				if !names[w] {
					t.Fatalf("no check named %q", w)
				}
				if !slices.Contains(failed, w) {
					t.Errorf("check %q passed; want it to fail (failed: %q)", w, failed)
				}
			}
		})
	}
}

func TestCaseValidate(t *testing.T) {
	good := fakeCase(bugNone)
	if err := good.validate(); err != nil {
		t.Fatalf("validate() on a good case = %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Case)
		want string
	}{
		{"no Open", func(c *Case) { c.Open = nil }, "Open"},
		{"no Reference", func(c *Case) { c.Reference = nil }, "Reference"},
		{"zero Dim", func(c *Case) { c.Dim = 0 }, "Dim"},
		{"zero Classes", func(c *Case) { c.Classes = 0 }, "Classes"},
		{"negative Tol", func(c *Case) { c.Tol = -1 }, "Tol"},
		{"negative MaxBatch", func(c *Case) { c.MaxBatch = -1 }, "MaxBatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			if err := c.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("validate() = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestSizes(t *testing.T) {
	for _, tc := range []struct {
		max  int
		want []int
	}{
		{0, []int{1, 3, 67}},
		{1, []int{1, 2, 3}},
		{2, []int{1, 2, 3, 5}},
		{4, []int{1, 3, 4, 5, 9}},
		{256, []int{1, 3, 256, 257, 513}},
	} {
		if got := (Case{MaxBatch: tc.max}).sizes(); !slices.Equal(got, tc.want) {
			t.Errorf("MaxBatch %d: sizes() = %v, want %v", tc.max, got, tc.want)
		}
	}
}

// BenchmarkFake times the fake teacher through Bench, so that Bench itself is exercised.
func BenchmarkFake(b *testing.B) {
	Bench(b, fakeCase(bugNone), 64)
}
