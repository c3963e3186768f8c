package outputs

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// write makes a file with content s under dir and returns its path.
func write(t *testing.T, dir, name, s string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func in(name, path string) File { return File{Name: name, Path: path} }

func out(name, path string) Output { return Output{File: File{Name: name, Path: path}} }

// TestClaimRefuses covers every way a plan is refused, each with the error it must wrap and the
// words the message must hold (both flags of a collision).
func TestClaimRefuses(t *testing.T) {
	dir := t.TempDir()
	data := write(t, dir, "data.idx", "data")
	existing := write(t, dir, "old.onnx", "old")
	notDir := write(t, dir, "plain", "x")
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.idx")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	linkDir := filepath.Join(dir, "linkdir")
	if err := os.Symlink(sub, linkDir); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.idx")
	if err := os.Link(data, hard); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)

	tests := []struct {
		name string
		plan Plan
		want error
		msg  []string
	}{
		{"output is an input", Plan{Inputs: []File{in("--data", data)}, Outputs: []Output{out("--out", data)}},
			ErrSameFile, []string{"--out", "--data", "an output may not replace an input"}},
		{"./ alias", Plan{Inputs: []File{in("--data", "data.idx")}, Outputs: []Output{out("--out", "./data.idx")}},
			ErrSameFile, []string{"--out ./data.idx and --data data.idx"}},
		{"dir/.. alias", Plan{Inputs: []File{in("--data", data)}, Outputs: []Output{out("--out", "sub/../data.idx")}},
			ErrSameFile, []string{"--out"}},
		{"symlink to the input", Plan{Inputs: []File{in("--data", data)}, Outputs: []Output{out("--out", link)}},
			ErrSameFile, []string{"--out", "--data"}},
		{"input through a symlink", Plan{Inputs: []File{in("--model", link)}, Outputs: []Output{out("--out", data)}},
			ErrSameFile, []string{"--out", "--model"}},
		{"hard link", Plan{Inputs: []File{in("--data", hard)}, Outputs: []Output{out("--metrics", data)}},
			ErrSameFile, []string{"--metrics", "--data"}},
		{"two outputs", Plan{Outputs: []Output{out("--out", "s.ckpt"), out("--plot", "./s.ckpt")}},
			ErrSameFile, []string{"--plot ./s.ckpt and --out s.ckpt", "its own path"}},
		{"two new outputs through a symlinked folder", Plan{Outputs: []Output{out("--metrics", "sub/m.jsonl"), out("--plot", "linkdir/m.jsonl")}},
			ErrSameFile, []string{"--plot", "--metrics"}},
		{"covered file is an input", Plan{Inputs: []File{in("--soft-targets", filepath.Join(sub, "T1-a0.5.ckpt"))},
			Outputs: []Output{{File: in("--out-dir", sub), Folder: true}, {File: in("--out-dir", filepath.Join(sub, "T1-a0.5.ckpt")), Covered: true}}},
			ErrSameFile, []string{"--out-dir", "--soft-targets"}},
		{"exists", Plan{Outputs: []Output{out("--out", existing)}},
			ErrExists, []string{"--out", "exists", "--overwrite"}},
		{"a directory", Plan{Outputs: []Output{out("--out", sub)}, Overwrite: true},
			ErrIsDir, []string{"--out", "is a directory"}},
		{"folder missing", Plan{Outputs: []Output{out("--out", "nope/x.onnx")}},
			ErrNotFolder, []string{"--out nope/x.onnx: folder nope does not exist"}},
		{"folder is a file", Plan{Outputs: []Output{out("--plot", "plain/x.png")}},
			ErrNotFolder, []string{"--plot", "does not exist"}},
		{"folder output is a file", Plan{Outputs: []Output{{File: in("--out-dir", notDir), Folder: true}}},
			ErrNotFolder, []string{"--out-dir", "is a file, not a folder"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Claim(tt.plan)
			if err == nil {
				l.Release()
				t.Fatalf("Claim succeeded, want %v", tt.want)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %q does not wrap %q", err, tt.want)
			}
			for _, m := range tt.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not say %q", err, m)
				}
			}
		})
	}
	// Nothing refused left a file behind or changed one.
	if b, _ := os.ReadFile(data); string(b) != "data" {
		t.Errorf("the input now holds %q", b)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*"+LockSuffix)); len(m) > 0 {
		t.Errorf("refused claims left %v", m)
	}
}

// TestClaimAllows covers the plans that must pass: a new output, an existing one with Overwrite
// or Continue, a folder output that exists (created when missing), and an output beside its
// input.
func TestClaimAllows(t *testing.T) {
	dir := t.TempDir()
	data := write(t, dir, "data.idx", "data")
	ckpt := write(t, dir, "s.ckpt", "ckpt")
	tests := []struct {
		name string
		plan Plan
	}{
		{"new output", Plan{Inputs: []File{in("--data", data)}, Outputs: []Output{out("--out", filepath.Join(dir, "t.safetensors"))}}},
		{"overwrite", Plan{Outputs: []Output{out("--out", ckpt)}, Overwrite: true}},
		{"continue", Plan{Outputs: []Output{{File: in("--out", ckpt), Continue: true}}}},
		{"folder exists", Plan{Outputs: []Output{{File: in("--out-dir", dir), Folder: true}}}},
		{"folder created", Plan{Outputs: []Output{{File: in("--out-dir", filepath.Join(dir, "new", "sweep")), Folder: true}}}},
		{"empty paths skipped", Plan{Inputs: []File{in("--labels", "")}, Outputs: []Output{out("--plot", ""), out("--out", filepath.Join(dir, "x"))}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Claim(tt.plan)
			if err != nil {
				t.Fatal(err)
			}
			l.Release()
		})
	}
	if st, err := os.Stat(filepath.Join(dir, "new", "sweep")); err != nil || !st.IsDir() {
		t.Errorf("the folder output was not created: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"+LockSuffix))
	if more, _ := filepath.Glob(filepath.Join(dir, "*", FolderLock)); len(more) > 0 {
		left = append(left, more...)
	}
	if len(left) > 0 {
		t.Errorf("released claims left %v", left)
	}
}

// TestLock: a second claim of an output is refused while the first holds it, naming the holder's
// pid (this process: flock locks belong to the open file, so a second open conflicts even here);
// after Release it succeeds; a lock file left by a dead process does not block.
func TestLock(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "s.ckpt")
	first, err := Claim(Plan{Outputs: []Output{out("--out", target)}})
	if err != nil {
		t.Fatal(err)
	}
	// The same file by another spelling is the same lock.
	t.Chdir(dir)
	_, err = Claim(Plan{Outputs: []Output{out("--out", "./s.ckpt")}})
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("second claim: %v, want a LockedError naming pid %d", err, os.Getpid())
	}
	if !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) || !strings.Contains(err.Error(), "--out ./s.ckpt") {
		t.Errorf("message %q does not name the flag and the pid", err)
	}
	// A folder output's lock.
	sweep := filepath.Join(dir, "sweep")
	f1, err := Claim(Plan{Outputs: []Output{{File: in("--out-dir", sweep), Folder: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Claim(Plan{Outputs: []Output{{File: in("--out-dir", sweep+"/"), Folder: true}}}); !errors.Is(err, ErrLocked) {
		t.Errorf("second claim of the folder: %v, want ErrLocked", err)
	}
	f1.Release()
	first.Release()
	first.Release() // twice is safe
	if _, err := os.Stat(target + LockSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file after Release: %v", err)
	}

	// A stale lock file (its owner killed: the kernel dropped its lock) is taken over.
	write(t, dir, "s.ckpt"+LockSuffix, "999999999\n")
	again, err := Claim(Plan{Outputs: []Output{out("--out", target)}})
	if err != nil {
		t.Fatalf("claim over a stale lock file: %v", err)
	}
	b, _ := os.ReadFile(target + LockSuffix)
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q, want this pid", b)
	}
	again.Release()
}

// TestUnwritableFolder: an output in a folder that cannot be written is refused before any
// work, naming the flag and the folder, with the create's error (not a cleanup's). Root writes
// anywhere, so the test needs another user.
func TestUnwritableFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can write in a read-only folder")
	}
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(ro, 0o755) })
	_, err := Claim(Plan{Outputs: []Output{out("--metrics", filepath.Join(ro, "m.jsonl"))}})
	if err == nil || !strings.Contains(err.Error(), "--metrics") || !strings.Contains(err.Error(), "cannot write in folder") ||
		!errors.Is(err, os.ErrPermission) {
		t.Errorf("claim in a read-only folder: %v", err)
	}
}

// TestFolderAndFileLocks: a file written in a folder a sweep holds is refused, and a sweep whose
// run file another run holds is refused, both naming the holder.
func TestFolderAndFileLocks(t *testing.T) {
	dir := t.TempDir()
	sweep := filepath.Join(dir, "sweep")
	run := filepath.Join(sweep, "T1-a0.5.ckpt")
	folderPlan := Plan{Outputs: []Output{{File: in("--out-dir", sweep), Folder: true}, {File: in("--out-dir", run), Covered: true}}}
	held, err := Claim(folderPlan)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Claim(Plan{Outputs: []Output{out("--out", run)}, Overwrite: true})
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() || le.Lock != filepath.Join(sweep, FolderLock) {
		t.Errorf("a file in a held folder: %v, want a LockedError on the folder's lock", err)
	}
	held.Release()

	held, err = Claim(Plan{Outputs: []Output{out("--out", run)}})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	if _, err := Claim(folderPlan); !errors.As(err, &le) || le.Lock != run+LockSuffix || !strings.Contains(err.Error(), "--out-dir "+run) {
		t.Errorf("a folder whose run file is held: %v, want a LockedError on %s", err, run+LockSuffix)
	}
	if _, err := os.Stat(filepath.Join(sweep, FolderLock)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused folder claim left its lock file: %v", err)
	}
}
