package outputs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// File is one path a command reads or writes and how its command line names it.
type File struct {
	// Name is what the user typed to give the path: a flag such as "--out", or "argument" for a
	// positional one. Every error names it.
	Name string
	// Path is the path as given.
	Path string
}

// Output is a file or folder a command writes.
type Output struct {
	File
	// Folder marks an output that is a folder the command writes files in (sweep --out-dir). It
	// may exist (what is in it is continued, not replaced), must be a folder, is created when
	// missing, and is locked as a whole.
	Folder bool
	// Continue marks a file the command continues rather than replaces (train --resume's
	// checkpoint, metrics and plot): it may exist without Plan.Overwrite.
	Continue bool
	// Covered marks a file written inside a Folder output of the same plan (a sweep run's
	// checkpoint): the folder's lock covers it, so it is only checked against the inputs.
	Covered bool
}

// Plan is what one command reads and writes.
type Plan struct {
	Inputs  []File   // files (or folders) the command reads; empty paths are skipped
	Outputs []Output // what it writes; empty paths are skipped
	// Overwrite lets an existing output be replaced (--overwrite). Without it an existing output
	// that is not Continue or Folder is refused.
	Overwrite bool
}

// Sentinel errors, for callers that branch on why a plan was refused (errors.Is).
var (
	// ErrSameFile: an output names an input or another output.
	ErrSameFile = errors.New("same file")
	// ErrExists: an output exists and Plan.Overwrite is not set (see *ExistsError).
	ErrExists = errors.New("exists")
	// ErrLocked: another process holds an output's lock (see *LockedError).
	ErrLocked = errors.New("in use by another run")
	// ErrNotFolder: an output's folder is missing or not a folder, or a folder output is a file.
	ErrNotFolder = errors.New("not a folder")
	// ErrIsDir: a file output is a directory.
	ErrIsDir = errors.New("is a directory")
)

// ExistsError reports an output that exists without Plan.Overwrite.
type ExistsError struct{ Output File }

// Error says which output exists and how to replace it.
func (e *ExistsError) Error() string {
	return fmt.Sprintf("%s %s exists: pass --overwrite to replace it, or remove it", e.Output.Name, e.Output.Path)
}

// Is makes errors.Is(err, ErrExists) hold.
func (e *ExistsError) Is(target error) bool { return target == ErrExists }

// LockedError reports an output locked by another process.
type LockedError struct {
	Output File
	PID    int // the owner's pid, 0 when it could not be read
	Lock   string
}

// Error names the output, the other run's pid and the lock file.
func (e *LockedError) Error() string {
	who := "another distill run"
	if e.PID > 0 {
		who = fmt.Sprintf("another distill run (pid %d)", e.PID)
	}
	return fmt.Sprintf("%s %s is being written by %s: wait for it to finish or choose another path (lock %s)",
		e.Output.Name, e.Output.Path, who, e.Lock)
}

// Is makes errors.Is(err, ErrLocked) hold.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// resolved is a path made absolute with its symlinks followed, and the file's identity when it
// exists.
type resolved struct {
	File
	real string      // absolute, symlinks resolved (of its folder when the path does not exist)
	info fs.FileInfo // os.Stat of the path (symlinks followed); nil when it does not exist
}

// resolve makes f's path absolute and follows its symlinks; a path that does not exist (or a
// dangling symlink) is resolved through its folder.
func resolve(f File) resolved {
	r := resolved{File: f}
	abs, err := filepath.Abs(f.Path)
	if err != nil {
		abs = filepath.Clean(f.Path)
	}
	r.real = abs
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		r.real = real
	} else if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		r.real = filepath.Join(dir, filepath.Base(abs))
	}
	if st, err := os.Stat(abs); err == nil {
		r.info = st
	}
	return r
}

// same reports whether a and b name one file: the same resolved path, or the same file by
// identity (a hard link, a bind mount).
func same(a, b resolved) bool {
	if a.real == b.real {
		return true
	}
	return a.info != nil && b.info != nil && os.SameFile(a.info, b.info)
}

// SamePath reports whether paths a and b name one file, as Claim compares them: resolved
// (absolute, symlinks followed, through the folder of a path not there yet), or the same file by
// identity (a hard link, a bind mount).
func SamePath(a, b string) bool {
	return a == b || same(resolve(File{Path: a}), resolve(File{Path: b}))
}

// Claim checks p as the package documentation says and locks its outputs. On success the caller
// must Release the returned Lock when the command ends (defer it); on error nothing is held and
// nothing was written, apart from a missing Folder output created empty.
func Claim(p Plan) (*Lock, error) {
	var ins []resolved
	for _, f := range p.Inputs {
		if f.Path != "" {
			ins = append(ins, resolve(f))
		}
	}
	type out struct {
		Output
		r resolved
	}
	var outs []out
	for _, o := range p.Outputs {
		if o.Path == "" {
			continue
		}
		r := resolve(o.File)
		if err := checkKind(o, r); err != nil {
			return nil, err
		}
		for _, in := range ins {
			if same(r, in) {
				return nil, refusef(ErrSameFile, "%s %s and %s %s name the same file: an output may not replace an input",
					o.Name, o.Path, in.Name, in.Path)
			}
		}
		for _, prev := range outs {
			if same(r, prev.r) {
				return nil, refusef(ErrSameFile, "%s %s and %s %s name the same file: give each output its own path",
					o.Name, o.Path, prev.Name, prev.Path)
			}
		}
		outs = append(outs, out{o, r})
	}
	l := &Lock{}
	for _, o := range outs {
		if o.Covered {
			// Its folder's lock is ours; but a run that holds the file's own lock (a train into
			// a sweep's folder) writes it now.
			if err := probe(o.Output, o.r.real+LockSuffix); err != nil {
				l.Release()
				return nil, err
			}
			continue
		}
		if err := l.lock(o.Output, o.r.real); err != nil {
			l.Release()
			return nil, err
		}
		// A file in a folder a sweep holds is one of its runs' files, or beside them.
		if !o.Folder {
			if err := probe(o.Output, filepath.Join(filepath.Dir(o.r.real), FolderLock)); err != nil {
				l.Release()
				return nil, err
			}
		}
		// Checked under the lock, so that a second run on an output the first one is writing
		// is told who holds it rather than that it exists.
		if o.r.info != nil && !o.Folder && !o.Continue && !p.Overwrite {
			l.Release()
			return nil, &ExistsError{Output: o.File}
		}
	}
	return l, nil
}

// checkKind refuses a file output that is a directory, a folder output that is not a folder, and
// a file output whose folder does not exist.
func checkKind(o Output, r resolved) error {
	if o.Folder {
		if r.info != nil && !r.info.IsDir() {
			return refusef(ErrNotFolder, "%s %s is a file, not a folder", o.Name, o.Path)
		}
		return nil
	}
	if r.info != nil && r.info.IsDir() {
		return refusef(ErrIsDir, "%s %s is a directory: give the path of a file to write", o.Name, o.Path)
	}
	if o.Covered {
		return nil // its folder is the Folder output, made by the lock
	}
	dir := filepath.Dir(r.real)
	st, err := os.Stat(dir)
	switch {
	case err == nil && st.IsDir():
		return nil
	case err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return refusef(ErrNotFolder, "%s %s: folder %s does not exist", o.Name, o.Path, filepath.Dir(o.Path))
	default:
		return fmt.Errorf("%s %s: %w", o.Name, o.Path, err)
	}
}

// refusal is an error with its own message that wraps a sentinel (errors.Is), without the
// sentinel's words in the message.
type refusal struct {
	msg string
	err error
}

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return r.err }

func refusef(sentinel error, format string, args ...any) error {
	return &refusal{msg: fmt.Sprintf(format, args...), err: sentinel}
}
