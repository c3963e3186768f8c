package outputs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestTakeOver: a lock file this process may not write (another user's) is replaced when its
// lock is dead, and refused naming the pid when it is held.
func TestTakeOver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.onnx.lock")
	if err := os.WriteFile(path, []byte("4242\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	holder, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(holder.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	var le *LockedError
	if err := takeOver(out("--out", "x.onnx"), path); !errors.As(err, &le) || le.PID != 4242 {
		t.Errorf("held lock file: %v, want a LockedError naming pid 4242", err)
	}
	holder.Close() // drops the lock: a dead run's file
	if err := takeOver(out("--out", "x.onnx"), path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dead run's lock file still there: %v", err)
	}
}
