package atomicfile

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// removeStaleTemps deletes the temporary files "<path>.tmp-<pid>" (and "<path>.tmp-<pid>-<n>")
// that earlier writers of path left behind when they were killed (kill -9, power loss) before
// Commit or Abort. A file is stale when no process with its pid is alive; files of live
// processes, this one included, are left alone, so two writers of one path never remove each
// other's work. Failures are logged, never fatal: a stale file is never read, it only takes disk
// space.
func removeStaleTemps(path string) {
	matches, err := filepath.Glob(globEscape(path) + ".tmp-*")
	if err != nil {
		return
	}
	for _, m := range matches {
		pid, ok := tempPID(strings.TrimPrefix(m, path+".tmp-"))
		if !ok || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if err := os.Remove(m); err != nil && !errors.Is(err, os.ErrNotExist) {
			slog.Warn("could not remove stale temporary file", "file", m, "err", err)
			continue
		}
		slog.Info("removed stale temporary file of an interrupted write", "file", m, "pid", pid)
	}
}

// tempPID parses the suffix of a temporary file's name, "<pid>" or "<pid>-<n>", and returns the
// pid; ok is false for any other suffix.
func tempPID(suffix string) (pid int, ok bool) {
	p, n, two := strings.Cut(suffix, "-")
	if two {
		if k, err := strconv.Atoi(n); err != nil || k < 2 {
			return 0, false
		}
	}
	pid, err := strconv.Atoi(p)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// processAlive reports whether a process with this pid exists (signal 0 probes without sending).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// globEscape quotes the glob metacharacters in a literal path.
func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}
