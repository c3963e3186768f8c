package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

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
	left, err := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestWriteFileError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "absent-dir", "f.txt")
	if err := WriteFile(path, []byte("x")); err == nil {
		t.Fatal("no error writing into a missing directory")
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
	left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
