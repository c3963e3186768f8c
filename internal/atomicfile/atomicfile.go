package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Perm is the permission of the files Create makes (before the umask): readable by all, as
// os.WriteFile's callers usually ask, rather than os.CreateTemp's 0600.
const Perm = 0o644

// File is a file being written under a temporary name beside its destination. Write to it
// through the embedded *os.File (Write, WriteAt, Seek, Truncate, ReadAt, ...), then call Commit
// to put it in place or Abort to throw it away; do not Close the *os.File directly. A File is
// not safe for concurrent use.
type File struct {
	*os.File
	path string
	tmp  string
	done bool // Commit or Abort has run
}

// Create starts writing path: it creates the temporary file "<path>.tmp-<pid>" (with Perm) in
// path's directory, where pid is this process's id. A second File for the same path open at
// the same time in this process gets "<path>.tmp-<pid>-<n>" instead. Before that, Create removes
// the temporary files of path that writers killed before Commit or Abort left behind, those of
// pids no longer alive (see removeStaleTemps). path itself is not touched until Commit. The
// error, if any, is returned as the os package made it (it names the file); callers wrap it with
// what they were writing.
func Create(path string) (*File, error) {
	removeStaleTemps(path)
	tmp := claimTemp(path)
	// A file already under this name is stale: this process's live Files never share a name, so
	// it was left by an earlier process that had the same pid. Only an existing one is removed,
	// so that a folder where nothing can be written fails on the create below, with its error
	// (a read-only file system refuses even to remove a file that is not there).
	if _, err := os.Lstat(tmp); err == nil {
		if err := os.Remove(tmp); err != nil {
			releaseTemp(tmp)
			return nil, err
		}
	}
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, Perm)
	if err != nil {
		releaseTemp(tmp)
		return nil, err
	}
	return &File{File: f, path: path, tmp: tmp}, nil
}

// Path returns the destination path that Commit renames the file to.
func (f *File) Path() string { return f.path }

// TempPath returns the path of the temporary file, so that the caller can open and check what
// it wrote before it commits.
func (f *File) TempPath() string { return f.tmp }

// Commit syncs the file, closes it and renames it over the destination path; then it syncs the
// directory, where the file system allows it, so that the rename survives a crash (a failure
// there leaves a complete file, so it is not an error). On any error the temporary file is
// removed and the destination is left as it was. Commit after Commit or Abort returns an error
// wrapping os.ErrClosed.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("commit %s: %w", f.path, os.ErrClosed)
	}
	err := f.File.Sync()
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.tmp, f.path)
	}
	f.done = true
	releaseTemp(f.tmp)
	if err != nil {
		os.Remove(f.tmp)
		return err
	}
	syncDir(filepath.Dir(f.path))
	return nil
}

// Abort closes and removes the temporary file, leaving the destination as it was. It is a no-op
// after Commit or Abort, so `defer f.Abort()` is safe.
func (f *File) Abort() error {
	if f.done {
		return nil
	}
	f.done = true
	releaseTemp(f.tmp)
	err := f.File.Close()
	if rerr := os.Remove(f.tmp); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

// WriteFile writes data to path whole or not at all: through Create, Write and Commit. On any
// error the temporary file is removed and path is left as it was. The error is returned as the
// os package made it (it names the file); callers wrap it with what they were writing.
func WriteFile(path string, data []byte) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// syncDir fsyncs directory dir, ignoring errors: some file systems cannot sync a directory.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	d.Close()
}

// tempsInUse holds the temporary paths of this process's Files not yet committed or aborted
// (made absolute, so that two spellings of one path are one key).
var (
	tempsMu    sync.Mutex
	tempsInUse = map[string]bool{}
)

// claimTemp returns a temporary path for path that no live File of this process holds, and
// marks it held.
func claimTemp(path string) string {
	base := path + ".tmp-" + strconv.Itoa(os.Getpid())
	tempsMu.Lock()
	defer tempsMu.Unlock()
	tmp := base
	for n := 2; tempsInUse[tempKey(tmp)]; n++ {
		tmp = base + "-" + strconv.Itoa(n)
	}
	tempsInUse[tempKey(tmp)] = true
	return tmp
}

// releaseTemp gives back a temporary path taken by claimTemp.
func releaseTemp(tmp string) {
	tempsMu.Lock()
	defer tempsMu.Unlock()
	delete(tempsInUse, tempKey(tmp))
}

func tempKey(tmp string) string {
	if abs, err := filepath.Abs(tmp); err == nil {
		return abs
	}
	return tmp
}
