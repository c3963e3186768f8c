package outputs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockSuffix is appended to a file output's path to name its lock file.
const LockSuffix = ".lock"

// FolderLock is the name of a folder output's lock file, inside the folder.
const FolderLock = ".distill.lock"

// Lock holds the locks Claim took. Release gives them back.
type Lock struct {
	held []*os.File // the open lock files, each flock'ed
}

// lock creates (or opens) the lock file of output o, whose resolved path is real, and takes an
// exclusive flock on it without waiting; then it writes this process's pid in it. Creating the
// file is also the check that o's folder can be written.
func (l *Lock) lock(o Output, real string) error {
	path := real + LockSuffix
	if o.Folder {
		if err := os.MkdirAll(real, 0o755); err != nil {
			return fmt.Errorf("%s %s: cannot create the folder: %w", o.Name, o.Path, err)
		}
		path = filepath.Join(real, FolderLock)
	}
	// A previous owner removes its lock file on release: if it did so between our open and our
	// flock, we hold a lock on a file nobody else will open, so check that the file is still
	// the one under the name, and start again if not (a few times: each retry means another run
	// just finished).
	for range 8 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if errors.Is(err, fs.ErrPermission) {
			// A lock file we may not write (left by another user's run): if its owner still
			// holds it, that run is writing; if not, it is a dead run's, to be replaced.
			if err := takeOver(o, path); err != nil {
				return err
			}
			f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		}
		if err != nil {
			where := filepath.Dir(o.Path)
			if o.Folder {
				where = o.Path
			}
			return fmt.Errorf("%s %s: cannot write in folder %s: %w", o.Name, o.Path, where, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			pid := readPID(f)
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return &LockedError{Output: o.File, PID: pid, Lock: path}
			}
			return fmt.Errorf("%s %s: lock %s: %w", o.Name, o.Path, path, err)
		}
		held, err1 := f.Stat()
		named, err2 := os.Stat(path)
		if err1 != nil || err2 != nil || !os.SameFile(held, named) {
			f.Close()
			continue
		}
		// Left by a run that was killed, the file may hold its pid: replace it with ours.
		if err := f.Truncate(0); err == nil {
			_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		}
		if err != nil {
			f.Close()
			os.Remove(path)
			return fmt.Errorf("%s %s: cannot write in folder %s: %w", o.Name, o.Path, filepath.Dir(path), err)
		}
		l.held = append(l.held, f)
		return nil
	}
	return fmt.Errorf("%s %s: lock %s: other runs keep taking it: %w", o.Name, o.Path, path, ErrLocked)
}

// takeOver removes the lock file at path that this process may not open for writing, when no
// process holds its lock; it returns a *LockedError when one does. A file it cannot read or
// remove is left for the caller's open to report.
func takeOver(o Output, path string) error {
	r, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer r.Close()
	err = syscall.Flock(int(r.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return &LockedError{Output: o.File, PID: readPID(r), Lock: path}
	}
	if err == nil {
		os.Remove(path) // removed while held, as Release does
	}
	return nil
}

// probe returns a *LockedError for output o when another process holds the lock file at path
// (which it neither creates nor keeps: only an existing one is tried, for a moment).
func probe(o Output, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // no lock file: nobody holds it
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); errors.Is(err, syscall.EWOULDBLOCK) {
		return &LockedError{Output: o.File, PID: readPID(f), Lock: path}
	}
	return nil // closing f drops the shared lock taken
}

// readPID reads the pid an owner wrote in its lock file; 0 when there is none yet.
func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// Release removes every lock file and drops its lock (removed first, while still held, so that
// no other run can lock the file in between and then see it vanish). It is safe to call more than
// once and on a nil Lock. Errors removing a file are ignored: a lock file left behind blocks
// nobody, since its lock died with its owner.
func (l *Lock) Release() {
	if l == nil {
		return
	}
	for _, f := range l.held {
		os.Remove(f.Name())
		f.Close()
	}
	l.held = nil
}
