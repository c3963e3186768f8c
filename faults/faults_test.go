package faults

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
	"github.com/distillgo/distill/student"
)

// distillBin is the `distill` binary TestMain builds for the whole suite.
var distillBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "distill-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	distillBin = filepath.Join(dir, "distill")
	ldflags, err := makefileLDFLAGS(stampedVersion)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	// Built as `make build` builds it, with the version stamped (TestVersionStamped).
	build := exec.Command("go", "build", "-ldflags", ldflags, "-o", distillBin, "github.com/distillgo/distill/cmd/distill")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build distill: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cmdTimeout bounds every child process, so a hang fails the test instead of stalling the suite.
const cmdTimeout = 90 * time.Second

// env is one test's working directory with its fixtures.
type env struct {
	t   *testing.T
	dir string
	lib string // onnxruntime library passed to the children ("" when the test needs none)
}

func newEnv(t *testing.T, needORT bool) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	if needORT {
		e.lib = onnxtest.RequireLibrary(t)
	}
	return e
}

func (e *env) path(name string) string { return filepath.Join(e.dir, name) }

// command returns the distill command with args, run in the test directory, optionally through
// bash with a file-size limit of limitKiB KiB (0: none) and SIGXFSZ ignored, so that a write past
// the limit fails with EFBIG, as on a full disk.
func (e *env) command(ctx context.Context, limitKiB int, args ...string) *exec.Cmd {
	var c *exec.Cmd
	if limitKiB > 0 {
		script := fmt.Sprintf(`trap "" XFSZ; ulimit -f %d; exec "$0" "$@"`, limitKiB)
		c = exec.CommandContext(ctx, "bash", append([]string{"-c", script, distillBin}, args...)...)
	} else {
		c = exec.CommandContext(ctx, distillBin, args...)
	}
	c.Dir = e.dir
	c.Env = append(os.Environ(), "DISTILL_FAULTS=1")
	if e.lib != "" {
		c.Env = append(c.Env, onnx.LibraryEnv+"="+e.lib)
	}
	return c
}

// result is how a distill run ended.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs distill to completion.
func (e *env) run(args ...string) result { return e.runLimited(0, args...) }

func (e *env) runLimited(limitKiB int, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	c := e.command(ctx, limitKiB, args...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		e.t.Fatalf("distill %s: %v\n%s", strings.Join(args, " "), err, r)
	}
	return r
}

// mustRun runs distill and fails the test unless it exits 0.
func (e *env) mustRun(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("distill %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// wantRefused checks that a run failed cleanly: exit code 1, a one-line "distill: ..." error that
// names what (a file), says why (one of the words in why), and no panic or usage text.
func wantRefused(t *testing.T, r result, what string, why ...string) {
	t.Helper()
	if r.code != 1 {
		t.Errorf("want exit 1, got %s", r)
		return
	}
	last := lastLine(r.stderr)
	if !strings.HasPrefix(last, "distill: ") || !strings.Contains(last, what) {
		t.Errorf("last stderr line %q: want a distill error naming %s\n%s", last, what, r)
	}
	if len(why) > 0 && !containsAny(strings.ToLower(last), why) {
		t.Errorf("error %q says none of %q", last, why)
	}
	for _, bad := range []string{"panic", "goroutine ", "USAGE", "Usage:"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("stderr holds %q:\n%s", bad, r.stderr)
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// writeIDX writes uint8 data as an IDX file with the given dimensions.
func writeIDX(t *testing.T, path string, dims []int, data []uint8) {
	t.Helper()
	b := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	if err := os.WriteFile(path, append(b, data...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// images writes n 8x8 images in 3 classes (class c lights rows 2c and 2c+1) and their labels.
func (e *env) images(name string, n int, seed uint64) (data, labels string) {
	e.t.Helper()
	rng := rand.New(rand.NewPCG(seed, 11))
	x := make([]uint8, n*64)
	y := make([]uint8, n)
	for i := range n {
		c := rng.IntN(3)
		y[i] = uint8(c)
		for p := range 64 {
			v := rng.IntN(80)
			if p/16 == c {
				v += 120 + rng.IntN(50)
			}
			x[i*64+p] = uint8(v)
		}
	}
	data, labels = e.path(name+"-images.idx"), e.path(name+"-labels.idx")
	writeIDX(e.t, data, []int{n, 8, 8}, x)
	writeIDX(e.t, labels, []int{n}, y)
	return data, labels
}

// spec writes a student spec with the given hidden layer widths for the 8x8 task.
func (e *env) spec(name string, hidden ...int) string {
	e.t.Helper()
	var layers []string
	for _, h := range hidden {
		layers = append(layers, fmt.Sprintf(`{"type":"dense","units":%d},{"type":"relu"}`, h))
	}
	layers = append(layers, `{"type":"dense","units":3}`)
	p := e.path(name + ".json")
	js := fmt.Sprintf(`{"name":%q,"input":[64],"classes":3,"layers":[%s]}`, name, strings.Join(layers, ","))
	if err := os.WriteFile(p, []byte(js), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// teacher writes a random MLP teacher 64-h-3 for the 8x8 task.
func (e *env) teacher(name string, h int, seed uint64) string {
	e.t.Helper()
	p := e.path(name + ".onnx")
	onnxtest.MLP(e.t, p, []int{64, h, 3}, seed)
	return p
}

// entries lists the names in the test directory.
func (e *env) entries() []string {
	e.t.Helper()
	ents, err := os.ReadDir(e.dir)
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, d := range ents {
		names = append(names, d.Name())
	}
	return names
}

// newEntries returns the names in the test directory that are not in before.
func (e *env) newEntries(before []string) []string {
	old := map[string]bool{}
	for _, n := range before {
		old[n] = true
	}
	var out []string
	for _, n := range e.entries() {
		if !old[n] {
			out = append(out, n)
		}
	}
	return out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor polls cond every few milliseconds until it holds, the process exits (done closed) or
// the timeout passes; it reports whether cond held.
func waitFor(done <-chan struct{}, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		select {
		case <-done:
			return cond()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return false
}

// started is a distill process running in the background.
type started struct {
	cmd    *exec.Cmd
	done   chan struct{}
	stderr bytes.Buffer
}

func (e *env) start(args ...string) *started {
	e.t.Helper()
	s := &started{cmd: e.command(context.Background(), 0, args...), done: make(chan struct{})}
	s.cmd.Stderr = &s.stderr
	if err := s.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	e.t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
	})
	return s
}

// kill sends SIGKILL and waits for the process; it reports whether the process was still running.
func (s *started) kill() bool {
	select {
	case <-s.done:
		return false
	default:
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// interrupt sends sig (SIGINT or SIGTERM) and waits for the process to exit; it reports whether
// the process was still running when the signal was sent, and the exit code.
func (s *started) interrupt(sig syscall.Signal) (bool, int) {
	select {
	case <-s.done:
		return false, s.cmd.ProcessState.ExitCode()
	default:
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(cmdTimeout):
		s.cmd.Process.Kill()
		<-s.done
	}
	return true, s.cmd.ProcessState.ExitCode()
}

// checkpointPoller loads the checkpoint at path in a loop until stopped and records every
// failure other than the file not existing yet: the checkpoint on disk must be loadable at every
// moment.
type checkpointPoller struct {
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	loads int
	errs  []error
}

func pollCheckpoint(path string) *checkpointPoller {
	p := &checkpointPoller{stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			_, err := student.LoadCheckpoint(path)
			p.mu.Lock()
			switch {
			case err == nil:
				p.loads++
			case errors.Is(err, fs.ErrNotExist):
			default:
				p.errs = append(p.errs, err)
			}
			p.mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()
	return p
}

// finish stops the poller and returns the number of successful loads and the failures.
func (p *checkpointPoller) finish() (int, []error) {
	close(p.stop)
	p.wg.Wait()
	return p.loads, p.errs
}

// sameCheckpoints fails the test unless a and b hold bit-identical parameters and optimiser
// state at the same epoch.
func sameCheckpoints(t *testing.T, a, b string) {
	t.Helper()
	ca, err := student.LoadCheckpoint(a)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := student.LoadCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	if ca.Epoch != cb.Epoch {
		t.Fatalf("epoch %d in %s, %d in %s", ca.Epoch, a, cb.Epoch, b)
	}
	for what, m := range map[string][2]map[string][]float32{"parameter": {ca.Params, cb.Params}, "optimizer state": {ca.Optimizer, cb.Optimizer}} {
		if len(m[0]) != len(m[1]) {
			t.Fatalf("%d %s tensors in %s, %d in %s", len(m[0]), what, a, len(m[1]), b)
		}
		for name, va := range m[0] {
			vb := m[1][name]
			if len(va) != len(vb) {
				t.Fatalf("%s %s: %d values vs %d", what, name, len(va), len(vb))
			}
			for i := range va {
				if va[i] != vb[i] {
					t.Fatalf("%s %s[%d]: %v after kill and resume, %v uninterrupted", what, name, i, vb[i], va[i])
				}
			}
		}
	}
	if !bytes.Equal(ca.RNG, cb.RNG) {
		t.Errorf("RNG state differs between %s and %s", a, b)
	}
}

// TestKillTrainResume kills `distill train` with SIGKILL in the middle of an epoch after its first
// checkpoint, resumes it to the same total of epochs, and compares the result with a run never
// killed (same seed): the weights and optimiser state are bit-identical. Meanwhile a poller loads
// the checkpoint file in a loop: it never sees a damaged one.
func TestKillTrainResume(t *testing.T) {
	e := newEnv(t, false)
	data, labels := e.images("train", 4000, 1)
	spec := e.spec("student", 128, 128)
	const epochs = 6
	args := func(out string, extra ...string) []string {
		return append([]string{"train", "--model", spec, "--data", data, "--labels", labels, "--epochs", strconv.Itoa(epochs),
			"--batch", "16", "--lr", "0.001", "--seed", "7", "--blas", "go", "--out", out}, extra...)
	}
	ref := e.path("ref.ckpt")
	begin := time.Now()
	e.mustRun(args(ref)...)
	perEpoch := time.Since(begin) / epochs
	t.Logf("uninterrupted run: %v per epoch", perEpoch)

	out := e.path("killed.ckpt")
	poll := pollCheckpoint(out)
	p := e.start(args(out)...)
	if !waitFor(p.done, cmdTimeout, func() bool { _, err := os.Stat(out); return err == nil }) {
		t.Fatalf("no checkpoint appeared: %s", p.stderr.String())
	}
	time.Sleep(perEpoch / 2) // into the middle of the next epoch
	if !p.kill() {
		t.Fatalf("training finished before it could be killed (make it longer): %s", p.stderr.String())
	}
	ck, err := student.LoadCheckpoint(out)
	if err != nil {
		t.Fatalf("checkpoint after SIGKILL: %v", err)
	}
	if ck.Epoch >= epochs {
		t.Fatalf("killed at epoch %d of %d: not mid-run", ck.Epoch, epochs)
	}
	t.Logf("killed after epoch %d of %d", ck.Epoch, epochs)
	r := e.mustRun(args(out, "--resume")...)
	if !strings.Contains(r.stdout, fmt.Sprintf("epoch %d/%d", epochs, epochs)) {
		t.Errorf("resumed run did not reach epoch %d:\n%s", epochs, r.stdout)
	}
	loads, errs := poll.finish()
	for _, err := range errs {
		t.Errorf("checkpoint not loadable while training ran: %v", err)
	}
	if loads == 0 {
		t.Errorf("the poller never loaded the checkpoint")
	}
	t.Logf("poller loaded the checkpoint %d times", loads)
	sameCheckpoints(t, ref, out)
	// No temporary checkpoint is left, unless the kill hit the killed run's own save (named by
	// its pid, and never read by anything).
	killed := strconv.Itoa(p.cmd.Process.Pid)
	for _, n := range e.entries() {
		if strings.Contains(n, ".tmp") && !strings.Contains(n, killed) {
			t.Errorf("left behind: %s", n)
		}
	}
}

// TestKillTargets kills `distill targets` with SIGKILL while it streams logits into the output:
// the previous output stays byte-identical (or, without one, none appears), a leftover temporary
// file is refused by `distill train`, and a rerun completes with the same bytes as before.
func TestKillTargets(t *testing.T) {
	e := newEnv(t, true)
	// About 2 s of teacher work at one thread: 20000 samples through 64-1536-1536-3.
	data, labels := e.images("transfer", 20000, 3)
	teacher := e.path("teacher.onnx")
	onnxtest.MLP(t, teacher, []int{64, 1536, 1536, 3}, 5)
	out := e.path("targets.safetensors")
	// --overwrite: the killed runs and the rerun replace the output on purpose.
	args := []string{"targets", "--teacher", teacher, "--data", data, "--out", out, "--overwrite", "--scale", "255", "--batch", "64", "--threads", "1"}

	begin := time.Now()
	e.mustRun(args...)
	t.Logf("uninterrupted run: %v", time.Since(begin))
	first := readFile(t, out)

	killMidWrite := func() []string {
		t.Helper()
		before := e.entries()
		p := e.start(args...)
		var tmp string
		if !waitFor(p.done, cmdTimeout, func() bool {
			for _, n := range e.newEntries(before) {
				if st, err := os.Stat(e.path(n)); err == nil && st.Size() > 0 && strings.Contains(n, ".tmp-") {
					tmp = n
					return true
				}
			}
			return false
		}) {
			t.Fatalf("no temporary output appeared: %s", p.stderr.String())
		}
		time.Sleep(100 * time.Millisecond) // let it write some logits
		if !p.kill() {
			t.Fatalf("targets finished before it could be killed (make it longer): %s", p.stderr.String())
		}
		t.Logf("killed while writing %s", tmp)
		return e.newEntries(before)
	}

	// Killed while replacing an existing output: the old one is intact.
	left := killMidWrite()
	if got := readFile(t, out); !bytes.Equal(got, first) {
		t.Errorf("%s changed by the killed run", out)
	}
	// Killed with no previous output: none appears.
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	left = append(left, killMidWrite()...)
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a killed run left %s: %v", out, err)
	}
	// Whatever the killed runs left behind is no soft-target file anyone trusts.
	spec := e.spec("student", 16)
	for _, n := range left {
		if n == filepath.Base(out) || strings.HasSuffix(n, ".lock") {
			continue // the lock file: its lock died with the killed run (checked below)
		}
		if _, err := os.Stat(e.path(n)); errors.Is(err, fs.ErrNotExist) {
			continue // removed by the next run's write: its writer's pid was dead
		}
		r := e.run("train", "--model", spec, "--data", data, "--labels", labels, "--soft-targets", n, "--epochs", "1",
			"--out", e.path("from-leftover.ckpt"))
		wantRefused(t, r, n, "corrupt", "checksum", "sha256", "damaged", "incomplete", "cut short")
		t.Logf("leftover %s: %s", n, lastLine(r.stderr))
	}
	// A rerun completes and writes the same bytes.
	e.mustRun(args...)
	if got := readFile(t, out); !bytes.Equal(got, first) {
		t.Errorf("the rerun wrote other bytes than the first run")
	}
	// The rerun removed the temporary files of the killed (now dead) writers, and took over the
	// lock file they left (the kernel dropped their locks) and removed it at its end.
	for _, n := range e.entries() {
		if strings.Contains(n, ".tmp-") || strings.HasSuffix(n, ".lock") {
			t.Errorf("file of a killed run still there after a rerun: %s", n)
		}
	}
}

// TestFullDisk runs each writing command under a file-size limit (RLIMIT_FSIZE with SIGXFSZ
// ignored, so a write past it fails with EFBIG as on a full disk): each fails with exit code 1
// and an error naming its output, and leaves no partial file; an existing checkpoint that a
// resumed run fails to replace stays as it was.
func TestFullDisk(t *testing.T) {
	e := newEnv(t, true)
	data, labels := e.images("train", 2000, 1)
	teacher := e.teacher("teacher", 64, 5)
	spec := e.spec("student", 128, 128) // about 300 KB of checkpoint with Adam's state
	full := []string{"file too large", "no space"}

	small := e.path("small.ckpt")
	e.mustRun("train", "--model", e.spec("small", 8), "--data", data, "--labels", labels, "--epochs", "1", "--blas", "go", "--out", small)

	for _, tc := range []struct {
		name     string
		limitKiB int
		out      string
		args     []string
	}{
		{"targets", 8, "t.safetensors", []string{"targets", "--teacher", teacher, "--data", data, "--out", "t.safetensors", "--scale", "255"}},
		{"train", 64, "s.ckpt", []string{"train", "--model", spec, "--data", data, "--labels", labels, "--epochs", "1", "--blas", "go", "--out", "s.ckpt"}},
		{"export", 1, "s.onnx", []string{"export", "--model", small, "--out", "s.onnx"}},
		{"export unverified", 1, "s.onnx", []string{"export", "--model", small, "--out", "s.onnx", "--verify", "0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.entries()
			r := e.runLimited(tc.limitKiB, tc.args...)
			wantRefused(t, r, tc.out, full...)
			t.Logf("%s", lastLine(r.stderr))
			if left := e.newEntries(before); len(left) > 0 {
				t.Errorf("left behind after the failed write: %v", left)
			}
		})
	}

	// A resumed run that cannot write its next checkpoint keeps the previous one.
	t.Run("resume", func(t *testing.T) {
		out := e.path("resume.ckpt")
		args := []string{"train", "--model", spec, "--data", data, "--labels", labels, "--blas", "go", "--out", out}
		e.mustRun(append(args, "--epochs", "1")...)
		prev := readFile(t, out)
		before := e.entries()
		r := e.runLimited(64, append(args, "--epochs", "2", "--resume")...)
		wantRefused(t, r, "resume.ckpt", full...)
		if got := readFile(t, out); !bytes.Equal(got, prev) {
			t.Errorf("the failed resume changed %s", out)
		}
		if left := e.newEntries(before); len(left) > 0 {
			t.Errorf("left behind after the failed write: %v", left)
		}
	})
}

// damage is one way of spoiling a file's bytes.
type damage struct {
	name string
	fn   func([]byte) []byte
}

// flipAt flips the low bit of the byte at i (negative: from the end).
func flipAt(i int) func([]byte) []byte {
	return func(b []byte) []byte {
		b = bytes.Clone(b)
		if i < 0 {
			i += len(b)
		}
		b[i] ^= 0x01
		return b
	}
}

func cutTo(frac float64) func([]byte) []byte {
	return func(b []byte) []byte { return bytes.Clone(b[:int(float64(len(b))*frac)]) }
}

// weightOffset returns the offset in file of the bytes of the first weight of the checkpoint's
// first layer (float32 little-endian), so that a flip there damages a weight, not a header.
func weightOffset(t *testing.T, ckpt string, file []byte) int {
	t.Helper()
	ck, err := student.LoadCheckpoint(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	w := ck.Params["layers.0.weight"]
	for j := range w {
		b := binary.LittleEndian.AppendUint32(nil, math.Float32bits(w[j]))
		if i := bytes.Index(file, b); i >= 0 && bytes.LastIndex(file, b) == i {
			return i + 2
		}
	}
	t.Fatalf("no weight of %s found in the file", ckpt)
	return 0
}

// damageWords are what an error about a damaged file says (lower case).
var damageWords = []string{"corrupt", "checksum", "sha256", "damaged", "cut short", "truncated", "not an onnx", "unexpected eof", "empty", "no graph"}

// TestDamagedArtefacts spoils every artefact distill writes (soft targets, checkpoint, exported
// model) by flipping a byte in its header and in its data or by cutting it short, and runs each
// command that reads it: every one refuses the file with exit code 1 and an error naming it, and
// writes nothing.
func TestDamagedArtefacts(t *testing.T) {
	e := newEnv(t, true)
	data, labels := e.images("train", 600, 1)
	teacher := e.teacher("teacher", 32, 5)
	spec := e.spec("student", 16)
	targets := e.path("targets.safetensors")
	e.mustRun("targets", "--teacher", teacher, "--data", data, "--out", targets, "--scale", "255")
	ckpt := e.path("student.ckpt")
	e.mustRun("train", "--model", spec, "--data", data, "--labels", labels, "--soft-targets", targets, "--epochs", "1", "--blas", "go", "--out", ckpt)
	model := e.path("student.onnx")
	e.mustRun("export", "--model", ckpt, "--out", model)

	ckBytes, modelBytes := readFile(t, ckpt), readFile(t, model)
	common := []damage{
		{"cut to half", cutTo(0.5)},
		{"last byte cut", cutTo(1 - 1e-9)},
		{"empty", cutTo(0)},
	}
	artefacts := []struct {
		name    string
		file    string
		damages []damage
		readers [][]string // commands reading the damaged file, which is named BAD
	}{
		{"soft targets", targets, append([]damage{
			{"length byte", flipAt(2)},
			{"header byte", flipAt(40)},
			{"data byte", flipAt(-7)},
		}, common...), [][]string{
			{"train", "--model", spec, "--data", data, "--labels", labels, "--soft-targets", "BAD", "--epochs", "1", "--out", "out.ckpt"},
		}},
		{"checkpoint", ckpt, append([]damage{
			{"length byte", flipAt(1)},
			{"header byte", flipAt(60)},
			{"weight byte", flipAt(weightOffset(t, ckpt, ckBytes))},
			{"data byte", flipAt(-3)},
		}, common...), [][]string{
			{"eval", "--model", "BAD", "--data", data, "--labels", labels},
			{"export", "--model", "BAD", "--out", "out.onnx"},
			{"train", "--model", spec, "--data", data, "--labels", labels, "--soft-targets", targets, "--epochs", "2", "--resume", "--out", "BAD"},
		}},
		{"exported model", model, append([]damage{
			{"header byte", flipAt(3)},
			{"weight byte", flipAt(weightOffset(t, ckpt, modelBytes))},
			{"metadata byte", flipAt(-20)},
		}, common...), [][]string{
			{"eval", "--model", "BAD", "--data", data, "--labels", labels},
			{"targets", "--teacher", "BAD", "--data", data, "--out", "out.safetensors", "--scale", "255"},
			{"train", "--model", spec, "--data", data, "--labels", labels, "--init-from", "BAD", "--epochs", "1", "--out", "out.ckpt"},
		}},
	}
	for _, a := range artefacts {
		orig := readFile(t, a.file)
		for _, d := range a.damages {
			bad := d.fn(orig)
			for _, reader := range a.readers {
				t.Run(a.name+"/"+d.name+"/"+reader[0], func(t *testing.T) {
					name := "bad" + filepath.Ext(a.file)
					if err := os.WriteFile(e.path(name), bad, 0o644); err != nil {
						t.Fatal(err)
					}
					args := make([]string, len(reader))
					for i, s := range reader {
						args[i] = strings.ReplaceAll(s, "BAD", name)
					}
					before := e.entries()
					r := e.run(args...)
					wantRefused(t, r, name, damageWords...)
					t.Logf("%s", lastLine(r.stderr))
					if left := e.newEntries(before); len(left) > 0 {
						t.Errorf("wrote %v", left)
					}
					if got := readFile(t, e.path(name)); !bytes.Equal(got, bad) {
						t.Errorf("the damaged file was changed")
					}
				})
			}
		}
	}
}

// TestForeignSoftTargets gives `distill train` soft targets that do not belong to the run: made
// from another data file, or, when resuming, from another teacher than the checkpoint was trained
// on. Both are refused before any training, and the checkpoint is left as it was.
func TestForeignSoftTargets(t *testing.T) {
	e := newEnv(t, true)
	data, labels := e.images("train", 600, 1)
	other, otherLabels := e.images("other", 600, 2)
	teacherA, teacherB := e.teacher("teacher-a", 32, 5), e.teacher("teacher-b", 32, 6)
	spec := e.spec("student", 16)
	targetsA, targetsB := e.path("a.safetensors"), e.path("b.safetensors")
	e.mustRun("targets", "--teacher", teacherA, "--data", data, "--out", targetsA, "--scale", "255")
	e.mustRun("targets", "--teacher", teacherB, "--data", data, "--out", targetsB, "--scale", "255")

	r := e.run("train", "--model", spec, "--data", other, "--labels", otherLabels, "--soft-targets", targetsA, "--epochs", "1",
		"--blas", "go", "--out", e.path("other.ckpt"))
	wantRefused(t, r, "a.safetensors", "data", "sha256")
	t.Logf("other data: %s", lastLine(r.stderr))
	if _, err := os.Stat(e.path("other.ckpt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused run wrote a checkpoint: %v", err)
	}

	ckpt := e.path("student.ckpt")
	args := []string{"train", "--model", spec, "--data", data, "--labels", labels, "--blas", "go", "--out", ckpt}
	e.mustRun(append(args, "--soft-targets", targetsA, "--epochs", "1")...)
	prev := readFile(t, ckpt)
	r = e.run(append(args, "--soft-targets", targetsB, "--epochs", "2", "--resume")...)
	wantRefused(t, r, "b.safetensors", "teacher")
	t.Logf("other teacher: %s", lastLine(r.stderr))
	if got := readFile(t, ckpt); !bytes.Equal(got, prev) {
		t.Errorf("the refused resume changed the checkpoint")
	}
	// The same teacher's file resumes.
	e.mustRun(append(args, "--soft-targets", targetsA, "--epochs", "2", "--resume")...)
}

// TestInterrupt stops `distill targets` with SIGINT while it writes, `distill train` with
// SIGTERM mid-epoch and `distill export` with each while it works: all exit with status 1 saying
// they were interrupted; targets leaves no file at all, train leaves the checkpoint of its last
// completed epoch and no temporary file, and a resumed run still ends with the weights of an
// uninterrupted one; export stops at once and leaves the model it was replacing as it was.
func TestInterrupt(t *testing.T) {
	e := newEnv(t, true)
	data, _ := e.images("transfer", 20000, 3)
	teacher := e.path("teacher.onnx")
	onnxtest.MLP(t, teacher, []int{64, 1536, 1536, 3}, 5)

	before := e.entries()
	p := e.start("targets", "--teacher", teacher, "--data", data, "--out", e.path("t.safetensors"), "--scale", "255", "--batch", "64", "--threads", "1")
	if !waitFor(p.done, cmdTimeout, func() bool { return hasEntry(e.newEntries(before), ".tmp-") }) {
		t.Fatalf("no temporary output appeared: %s", p.stderr.String())
	}
	time.Sleep(100 * time.Millisecond)
	running, code := p.interrupt(syscall.SIGINT)
	if !running {
		t.Fatalf("targets finished before the signal (make it longer)")
	}
	if code != 1 || !strings.Contains(p.stderr.String(), "interrupted") {
		t.Errorf("targets after SIGINT: exit %d, stderr:\n%s", code, p.stderr.String())
	}
	t.Logf("targets: %s", lastLine(p.stderr.String()))
	if left := e.newEntries(before); len(left) > 0 {
		t.Errorf("an interrupted targets run left %v", left)
	}

	spec := e.spec("student", 128, 128)
	trainData, labels := e.images("train", 4000, 1)
	train := func(out string, extra ...string) []string {
		return append([]string{"train", "--model", spec, "--data", trainData, "--labels", labels, "--epochs", "4",
			"--batch", "16", "--lr", "0.001", "--seed", "3", "--blas", "go", "--out", out}, extra...)
	}
	ref := e.path("ref.ckpt")
	e.mustRun(train(ref)...)
	out := e.path("stopped.ckpt")
	p = e.start(train(out)...)
	if !waitFor(p.done, cmdTimeout, func() bool { _, err := os.Stat(out); return err == nil }) {
		t.Fatalf("no checkpoint appeared: %s", p.stderr.String())
	}
	time.Sleep(50 * time.Millisecond)
	running, code = p.interrupt(syscall.SIGTERM)
	if !running {
		t.Fatalf("training finished before the signal (make it longer)")
	}
	if code != 1 || !strings.Contains(p.stderr.String(), "interrupted") {
		t.Errorf("train after SIGTERM: exit %d, stderr:\n%s", code, p.stderr.String())
	}
	t.Logf("train: %s", lastLine(p.stderr.String()))
	ck, err := student.LoadCheckpoint(out)
	if err != nil {
		t.Fatalf("checkpoint after SIGTERM: %v", err)
	}
	if ck.Epoch < 1 || ck.Epoch >= 4 {
		t.Fatalf("checkpoint after SIGTERM holds epoch %d of 4", ck.Epoch)
	}
	for _, n := range e.entries() {
		if strings.Contains(n, ".tmp") || strings.HasSuffix(n, ".lock") {
			t.Errorf("left behind: %s", n)
		}
	}
	e.mustRun(train(out, "--resume")...)
	sameCheckpoints(t, ref, out)

	interruptExport(t, e, trainData)
}
