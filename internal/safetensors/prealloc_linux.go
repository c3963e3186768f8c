package safetensors

import (
	"errors"
	"os"
	"syscall"
)

// preallocate reserves size bytes of disk for f, so that a full disk is reported when a
// long job starts rather than hours into it. File systems that cannot preallocate
// (EOPNOTSUPP, e.g. some network file systems) are not an error.
func preallocate(f *os.File, size int64) error {
	if size == 0 {
		return nil
	}
	err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EINVAL) {
		return nil
	}
	return err
}
