package safetensors

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// removeStaleTemps deletes the temporary files "<path>.tmp-<pid>" that earlier writers of path
// left behind when they were killed (kill -9, power loss) before Commit or Abort. A file is
// stale when no process with its pid is alive; files of live processes are left alone, so two
// writers of one path never remove each other's work. Failures are logged, never fatal: a stale
// file is never read, it only takes disk space.
func removeStaleTemps(path string) {
	matches, err := filepath.Glob(globEscape(path) + ".tmp-*")
	if err != nil {
		return
	}
	for _, m := range matches {
		pid, err := strconv.Atoi(strings.TrimPrefix(m, path+".tmp-"))
		if err != nil || pid <= 0 || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if err := os.Remove(m); err != nil && !errors.Is(err, os.ErrNotExist) {
			slog.Warn("could not remove stale temporary file", "file", m, "err", err)
			continue
		}
		slog.Info("removed stale temporary file of an interrupted write", "file", m, "pid", pid)
	}
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
