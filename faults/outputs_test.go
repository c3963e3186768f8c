package faults

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distillgo/distill/student"
)

// hasEntry reports whether one of names contains part.
func hasEntry(names []string, part string) bool {
	for _, n := range names {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// interruptExport signals `distill export --overwrite` of a 64-2048-2048-3 student over an
// earlier float16 export of it, at two moments: SIGINT as soon as it holds its output's lock
// (before it loads the checkpoint; --verify 0), and SIGTERM once its temporary file is written
// (during the verification on 4000 samples, a few seconds of work here). Each time it must exit
// with status 1 within a few seconds, saying it was interrupted, and leave the previous model byte
// for byte, with no temporary or lock file. (Before, export without --verify never looked at the
// signal: it went on and replaced the model, exit 0; with it, the student's pass over all the
// samples ran to its end first.)
func interruptExport(t *testing.T, e *env, data string) {
	spec := e.spec("wide", 2048, 2048)
	few, fewLabels := e.images("few", 200, 4)
	ckpt := e.path("wide.ckpt")
	e.mustRun("train", "--model", spec, "--data", few, "--labels", fewLabels, "--epochs", "1", "--batch", "100", "--blas", "go", "--out", ckpt)
	model := e.path("wide.onnx")
	e.mustRun("export", "--model", ckpt, "--out", model, "--verify", "0", "--fp16")
	prev := readFile(t, model)
	for _, tc := range []struct {
		sig    syscall.Signal
		when   string // the new entry whose appearance triggers the signal
		verify []string
	}{
		{syscall.SIGINT, ".lock", []string{"--verify", "0"}},
		{syscall.SIGTERM, ".tmp-", []string{"--verify", "4000", "--verify-data", data}},
	} {
		before := e.entries()
		p := e.start(append([]string{"export", "--model", ckpt, "--out", model, "--overwrite"}, tc.verify...)...)
		if !waitFor(p.done, cmdTimeout, func() bool { return hasEntry(e.newEntries(before), tc.when) }) {
			t.Fatalf("export: no %s file appeared: %s", tc.when, p.stderr.String())
		}
		sent := time.Now()
		running, code := p.interrupt(tc.sig)
		took := time.Since(sent)
		if !running {
			t.Fatalf("export finished before the %v (make it longer): %s", tc.sig, p.stderr.String())
		}
		t.Logf("export after %v at its first %s file: exit %d in %v: %s", tc.sig, tc.when, code, took.Round(time.Millisecond), lastLine(p.stderr.String()))
		if code != 1 || !strings.Contains(p.stderr.String(), "interrupted") {
			t.Errorf("export after %v: exit %d, stderr:\n%s", tc.sig, code, p.stderr.String())
		}
		if took > 3*time.Second {
			t.Errorf("export took %v to stop after %v", took, tc.sig)
		}
		if got := readFile(t, model); !bytes.Equal(got, prev) {
			t.Errorf("export interrupted by %v replaced %s", tc.sig, model)
		}
		if left := e.newEntries(before); len(left) > 0 {
			t.Errorf("export interrupted by %v left %v", tc.sig, left)
		}
	}
}

// TestConcurrentRuns starts a second `distill train` on the --out of a running one (by another
// spelling of the path, and as its --metrics): each is refused at once (exit 1), naming the first
// run's pid, and writes nothing; the first one, stopped with SIGTERM, keeps its checkpoint and
// removes its lock file. (Before, both ran and one run's result silently vanished.)
func TestConcurrentRuns(t *testing.T) {
	e := newEnv(t, false)
	spec := e.spec("student", 128, 128)
	data, labels := e.images("train", 4000, 1)
	out := e.path("s.ckpt")
	// 200 epochs: far longer than the test, which stops it.
	common := []string{"train", "--model", spec, "--data", data, "--labels", labels, "--epochs", "200", "--batch", "16", "--blas", "go"}
	args := append(common[:len(common):len(common)], "--out", out, "--overwrite")
	first := e.start(args...)
	if !waitFor(first.done, cmdTimeout, func() bool { _, err := os.Stat(out + ".lock"); return err == nil }) {
		t.Fatalf("no lock file appeared: %s", first.stderr.String())
	}
	// The same output through another spelling of its path, and through --metrics.
	for _, second := range [][]string{append(common[:len(common):len(common)], "--out", "./s.ckpt", "--overwrite"),
		append(common[:len(common):len(common)], "--out", e.path("other.ckpt"), "--metrics", out, "--overwrite")} {
		begin := time.Now()
		r := e.run(second...)
		pid := "pid " + strconv.Itoa(first.cmd.Process.Pid)
		wantRefused(t, r, "s.ckpt", "being written by another distill run ("+pid+")")
		if took := time.Since(begin); took > 10*time.Second {
			t.Errorf("the second run took %v to be refused", took)
		}
		t.Logf("second run: %s", lastLine(r.stderr))
	}
	if !waitFor(first.done, cmdTimeout, func() bool { _, err := os.Stat(out); return err == nil }) {
		t.Fatalf("the first run wrote no checkpoint: %s", first.stderr.String())
	}
	if running, code := first.interrupt(syscall.SIGTERM); !running || code != 1 {
		t.Fatalf("the first run: running %v, exit %d\n%s", running, code, first.stderr.String())
	}
	if ck, err := student.LoadCheckpoint(out); err != nil || ck.Epoch < 1 {
		t.Errorf("the first run's checkpoint: %v", err)
	}
	for _, n := range e.entries() {
		if strings.HasSuffix(n, ".lock") || n == "other.ckpt" {
			t.Errorf("left behind: %s", n)
		}
	}
}
