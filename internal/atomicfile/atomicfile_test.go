package atomicfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// noTemps fails t if any temporary file is left in dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	left, err := filepath.Glob(filepath.Join(dir, "*.tmp-*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// deadPID returns a pid that belongs to no live process: that of a child that has exited and
// been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run a child process: %v", err)
	}
	return cmd.Process.Pid
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		old  []byte // nil: no file before
		data []byte
	}{
		{"new file", nil, []byte("hello\n")},
		{"replaces", []byte("old contents, longer than the new"), []byte("new")},
		{"empty", []byte("x"), []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".txt")
			if tt.old != nil {
				if err := os.WriteFile(path, tt.old, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFile(path, tt.data); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(tt.data) {
				t.Errorf("contents %q, want %q", got, tt.data)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			// Perm less the umask: never more than Perm, always readable and writable by the owner.
			if p := st.Mode().Perm(); p&^Perm != 0 || p&0o600 != 0o600 {
				t.Errorf("mode %v, want %v less the umask", p, os.FileMode(Perm))
			}
		})
	}
	noTemps(t, dir)
}

func TestWriteFileError(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "absent-dir", "f.txt")
	err := WriteFile(missing, []byte("x"))
	if err == nil {
		t.Fatal("no error writing into a missing directory")
	}
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("error %q: want one wrapping os.ErrNotExist and naming %s", err, missing)
	}
	// A directory in the way of the rename: the old entry stays and no temporary file is left.
	blocked := filepath.Join(dir, "blocked")
	if err := os.Mkdir(blocked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(blocked, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(blocked, []byte("x")); err == nil {
		t.Fatal("no error renaming over a non-empty directory")
	}
	if st, err := os.Stat(blocked); err != nil || !st.IsDir() {
		t.Errorf("the directory in the way was replaced: %v, %v", st, err)
	}
	noTemps(t, dir)
}

// TestFile drives a File through each way of ending it and checks the destination and the
// temporary file afterwards.
func TestFile(t *testing.T) {
	const old = "old contents"
	tests := []struct {
		name string
		end  func(f *File) error // what is done once "new data" is written
		want string              // the destination's contents afterwards
		err  error               // what end returns (errors.Is), nil for no error
	}{
		{"commit", func(f *File) error { return f.Commit() }, "new data", nil},
		{"abort", func(f *File) error { return f.Abort() }, old, nil},
		{"abort twice", func(f *File) error {
			if err := f.Abort(); err != nil {
				return err
			}
			return f.Abort()
		}, old, nil},
		{"abort after commit", func(f *File) error {
			if err := f.Commit(); err != nil {
				return err
			}
			return f.Abort()
		}, "new data", nil},
		{"commit after abort", func(f *File) error {
			f.Abort()
			return f.Commit()
		}, old, os.ErrClosed},
		{"commit twice", func(f *File) error {
			if err := f.Commit(); err != nil {
				return err
			}
			return f.Commit()
		}, "new data", os.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.bin")
			if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := path + ".tmp-" + strconv.Itoa(os.Getpid()); f.TempPath() != want || f.Path() != path {
				t.Errorf("TempPath %q, Path %q; want %q, %q", f.TempPath(), f.Path(), want, path)
			}
			// Written out of order through the embedded *os.File: WriteAt, Seek, Write.
			if _, err := f.WriteAt([]byte("data"), 4); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Seek(0, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("new ")); err != nil {
				t.Fatal(err)
			}
			// Before the end the data is readable under TempPath and path is untouched.
			if got, err := os.ReadFile(f.TempPath()); err != nil || string(got) != "new data" {
				t.Errorf("temporary file holds %q (%v), want %q", got, err, "new data")
			}
			if got, _ := os.ReadFile(path); string(got) != old {
				t.Errorf("%s changed before the end: %q", path, got)
			}
			if err := tt.end(f); !errors.Is(err, tt.err) {
				t.Errorf("got error %v, want %v", err, tt.err)
			}
			if got, err := os.ReadFile(path); err != nil || string(got) != tt.want {
				t.Errorf("%s holds %q (%v), want %q", path, got, err, tt.want)
			}
			noTemps(t, dir)
		})
	}
}

func TestCreateError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "absent-dir", "f.txt")
	f, err := Create(path)
	if err == nil {
		f.Abort()
		t.Fatal("no error creating in a missing directory")
	}
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q: want one wrapping os.ErrNotExist and naming %s", err, path)
	}
	// The failed Create holds no name: the next one gets the plain temporary path.
	if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err = Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	if want := path + ".tmp-" + strconv.Itoa(os.Getpid()); f.TempPath() != want {
		t.Errorf("TempPath %q after a failed Create, want %q", f.TempPath(), want)
	}
}

func TestCreateRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "soft[1].safetensors") // glob metacharacters are taken literally
	dead := strconv.Itoa(deadPID(t))
	self := strconv.Itoa(os.Getpid())
	files := []struct {
		name string
		file string
		want bool // still there after Create and Commit
	}{
		{"dead writer's temp removed", path + ".tmp-" + dead, false},
		{"dead writer's second temp removed", path + ".tmp-" + dead + "-2", false},
		{"live writer's temp kept", path + ".tmp-1", true}, // pid 1 is always alive
		{"another path's temp kept", filepath.Join(dir, "other.safetensors.tmp-"+dead), true},
		{"unknown suffix kept", path + ".tmp-" + dead + "-x", true},
		{"temp of an earlier process with this pid replaced", path + ".tmp-" + self, false},
	}
	for _, f := range files {
		if err := os.WriteFile(f.file, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteFile(path, []byte("whole")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range files {
		t.Run(tt.name, func(t *testing.T) {
			_, err := os.Stat(tt.file)
			if got := err == nil; got != tt.want {
				t.Errorf("%s exists = %v, want %v", tt.file, got, tt.want)
			}
		})
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "whole" {
		t.Errorf("%s holds %q (%v), want %q", path, got, err, "whole")
	}
}

// TestCreateSamePathTwice opens two Files for one path at once: they get distinct temporary
// paths, and the one committed last wins.
func TestCreateSamePathTwice(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	a, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Abort()
	// Another spelling of the same path is the same destination.
	b, err := Create(dir + string(filepath.Separator) + "." + string(filepath.Separator) + "out.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Abort()
	if a.TempPath() == filepath.Clean(b.TempPath()) {
		t.Fatalf("both Files write %s", a.TempPath())
	}
	if want := path + ".tmp-" + strconv.Itoa(os.Getpid()) + "-2"; filepath.Clean(b.TempPath()) != want {
		t.Errorf("second TempPath %q, want %q", b.TempPath(), want)
	}
	for _, w := range []struct {
		f    *File
		data string
	}{{b, "b"}, {a, "a"}} {
		if _, err := w.f.Write([]byte(w.data)); err != nil {
			t.Fatal(err)
		}
		if err := w.f.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "a" {
		t.Errorf("%s holds %q (%v), want %q", path, got, err, "a")
	}
	noTemps(t, dir)
}
