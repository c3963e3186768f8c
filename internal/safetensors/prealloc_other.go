//go:build !linux

package safetensors

import "os"

// preallocate is a no-op where fallocate is not available; a full disk is then reported
// by the write that meets it.
func preallocate(f *os.File, size int64) error { return nil }
