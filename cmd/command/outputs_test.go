package command

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/distillgo/distill/internal/outputs"
)

// snapshot returns the sha256 of every file under dir (symlinks as their targets' names), so a
// test can check that a refused command wrote, removed and changed nothing.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if d.Type()&os.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			files[p] = "-> " + target
			return err
		}
		b, err := os.ReadFile(p)
		files[p] = fmt.Sprintf("%x", sha256.Sum256(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// sameSnapshot reports the files added, removed or changed between two snapshots.
func sameSnapshot(t *testing.T, before, after map[string]string) {
	t.Helper()
	for p, h := range after {
		if b, ok := before[p]; !ok {
			t.Errorf("new file %s", p)
		} else if b != h {
			t.Errorf("%s changed", p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s removed", p)
		}
	}
}

// TestOutputsRefused: every command that writes refuses, before any work and with exit status 1,
// an output that names an input or another output (also through ./, .., a symlink), an existing
// output without --overwrite, a directory and a missing folder; the message names the flags, and
// nothing in the folder is written, changed or removed.
func TestOutputsRefused(t *testing.T) {
	f := newTrainFixture(t)
	ckpt := trainedCheckpoint(t, f)
	onnxModel := exportUnverified(t, f, ckpt)
	teacher := filepath.Join(f.dir, "teacher.onnx")
	rowTeacherModel(t, teacher)
	link := filepath.Join(f.dir, "alias.idx")
	if err := os.Symlink(f.data, link); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(f.dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	inSub := func(name string) string { return filepath.Join(f.dir, "sub", "..", name) }
	fresh := filepath.Join(f.dir, "fresh.ckpt")
	trainArgs := func(extra ...string) []string {
		return append([]string{"train", "--model", f.spec, "--data", f.data, "--labels", f.labels, "--epochs", "1",
			"--blas", "go", "--scale", "255"}, extra...)
	}
	targetsArgs := func(out string, extra ...string) []string {
		return append([]string{"targets", "--teacher", teacher, "--data", f.data, "--labels", f.labels, "--out", out}, extra...)
	}
	// A file named as a sweep run's checkpoint, given as the sweep's soft targets.
	runFile := filepath.Join(f.dir, "T1-a0.5.ckpt")
	if err := os.WriteFile(runFile, []byte("not soft targets"), 0o644); err != nil {
		t.Fatal(err)
	}
	sweepArgs := func(soft string, extra ...string) []string {
		return append([]string{"sweep", "--model", f.spec, "--data", f.data, "--labels", f.labels, "--soft-targets", soft,
			"--eval-data", f.evalData, "--eval-labels", f.evalLabels, "--temperatures", "1", "--alphas", "0.5", "--epochs", "1"}, extra...)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"targets --out is --data", targetsArgs(f.data), []string{"--out " + f.data + " and --data " + f.data + " name the same file"}},
		{"targets --out is --data through ..", targetsArgs(inSub("train-images.idx")), []string{"--out", "and --data", "same file"}},
		{"targets --out is a symlink to --data", targetsArgs(link, "--overwrite"), []string{"--out " + link + " and --data", "an output may not replace an input"}},
		{"targets --out is --teacher", targetsArgs(teacher, "--overwrite"), []string{"--out", "--teacher", "same file"}},
		{"targets --out exists", targetsArgs(onnxModel), []string{"--out " + onnxModel + " exists: pass --overwrite"}},
		{"targets --out is a directory", targetsArgs(sub, "--overwrite"), []string{"--out " + sub + " is a directory"}},
		{"targets --out in a missing folder", targetsArgs(filepath.Join(f.dir, "none", "t.st")), []string{"folder " + filepath.Join(f.dir, "none") + " does not exist"}},
		{"targets --out under a file", targetsArgs(filepath.Join(f.data, "t.st")), []string{"--out", "does not exist"}},
		{"merge --out is a part", []string{"targets", "merge", "--out", ckpt, "--overwrite", ckpt}, []string{"--out " + ckpt + " and part " + ckpt}},
		{"export --out is --model", []string{"export", "--model", ckpt, "--out", ckpt, "--verify", "0"}, []string{"--out", "--model", "same file"}},
		{"export --out is --model through ./", []string{"export", "--model", ckpt, "--out", filepath.Join(f.dir, ".", "student.ckpt"), "--overwrite", "--verify", "0"}, []string{"same file"}},
		{"export --out exists", []string{"export", "--model", ckpt, "--out", onnxModel, "--verify", "0"}, []string{"--out " + onnxModel + " exists: pass --overwrite"}},
		{"train --metrics is --data", trainArgs("--out", fresh, "--metrics", f.data), []string{"--metrics " + f.data + " and --data"}},
		{"train --plot is --out", trainArgs("--out", fresh, "--plot", fresh), []string{"--plot " + fresh + " and --out " + fresh + " name the same file: give each output its own path"}},
		{"train --plot is --metrics", trainArgs("--out", fresh, "--metrics", inSub("m.jsonl"), "--plot", filepath.Join(f.dir, "m.jsonl")), []string{"--plot", "--metrics", "same file"}},
		{"train --out is --eval-labels", trainArgs("--out", f.evalLabels, "--eval-data", f.evalData, "--eval-labels", f.evalLabels, "--overwrite"), []string{"--out", "--eval-labels"}},
		{"train --out exists", trainArgs("--out", ckpt), []string{"--out " + ckpt, "--resume", "--overwrite"}},
		{"train --metrics exists", trainArgs("--out", fresh, "--metrics", onnxModel), []string{"--metrics " + onnxModel + " exists"}},
		{"train --plot in a missing folder", trainArgs("--out", fresh, "--plot", filepath.Join(f.dir, "none", "p.png")), []string{"--plot", "does not exist"}},
		{"--cpuprofile is --data", trainArgs("--out", fresh, "--cpuprofile", f.data), []string{"--cpuprofile " + f.data + " and --data"}},
		{"predict --out is --data", []string{"predict", "--model", ckpt, "--data", f.data, "--out", f.data, "--overwrite"}, []string{"--out " + f.data + " and --data " + f.data + " name the same file"}},
		{"predict --out is --model", []string{"predict", "--model", onnxModel, "--data", f.data, "--out", onnxModel, "--overwrite"}, []string{"--out", "--model", "same file"}},
		{"predict --out is --labels through ..", []string{"predict", "--model", ckpt, "--data", f.data, "--labels", f.labels, "--out", inSub("train-labels.idx"), "--overwrite"}, []string{"--out", "--labels", "same file"}},
		{"predict --out exists", []string{"predict", "--model", ckpt, "--data", f.data, "--out", onnxModel}, []string{"--out " + onnxModel + " exists: pass --overwrite"}},
		{"predict --out is a directory", []string{"predict", "--model", ckpt, "--data", f.data, "--out", sub, "--overwrite"}, []string{"--out " + sub + " is a directory"}},
		{"sweep --out-dir is a file", sweepArgs(ckpt, "--out-dir", f.data), []string{"--out-dir " + f.data + " is a file, not a folder"}},
		{"sweep input among its outputs", sweepArgs(runFile, "--out-dir", f.dir), []string{"--out-dir " + runFile + " and --soft-targets " + runFile}},
	}
	before := snapshot(t, f.dir)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runMain(t, tt.args...)
			if code != ExitRuntime {
				t.Errorf("exit %d, want %d\n%s", code, ExitRuntime, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, "epoch") || strings.Contains(stderr, "USAGE") {
				t.Errorf("refused after some work, or with usage:\n%s", stderr)
			}
			sameSnapshot(t, before, snapshot(t, f.dir))
		})
	}
}

// TestOverwriteEverywhere: targets, targets merge, export and train replace an existing output
// with --overwrite, and train --resume continues its own checkpoint, metrics and plot.
func TestOverwriteEverywhere(t *testing.T) {
	f := newTrainFixture(t)
	ckpt := trainedCheckpoint(t, f)
	out := filepath.Join(f.dir, "s.onnx")
	for i, extra := range [][]string{nil, {"--overwrite"}} {
		args := append([]string{"export", "--model", ckpt, "--out", out, "--verify", "0"}, extra...)
		if code, _, stderr := runMain(t, args...); code != ExitOK {
			t.Fatalf("export %d %v: exit %d\n%s", i, extra, code, stderr)
		}
	}
	train := []string{"train", "--model", f.spec, "--data", f.data, "--labels", f.labels, "--blas", "go", "--scale", "255",
		"--out", ckpt, "--metrics", filepath.Join(f.dir, "m.jsonl"), "--plot", filepath.Join(f.dir, "p.png")}
	for _, extra := range [][]string{{"--epochs", "1", "--overwrite"}, {"--epochs", "2", "--resume"}} {
		if code, _, stderr := runMain(t, append(train, extra...)...); code != ExitOK {
			t.Fatalf("train %v: exit %d\n%s", extra, code, stderr)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(f.dir, "*"+outputs.LockSuffix)); len(left) > 0 {
		t.Errorf("lock files left after the commands ended: %v", left)
	}
}

// TestOutputLocked: an output another run holds (here a claim of this process: flock locks
// belong to open files, so they conflict within a process too) is refused at once, naming the
// flag and the holder's pid, for a file (train, export) and for a sweep's folder.
func TestOutputLocked(t *testing.T) {
	f := newTrainFixture(t)
	ckpt := trainedCheckpoint(t, f)
	busy := filepath.Join(f.dir, "busy.ckpt")
	sweepDir := filepath.Join(f.dir, "sweep")
	hold, err := outputs.Claim(outputs.Plan{Outputs: []outputs.Output{
		{File: outputs.File{Name: "--out", Path: busy}},
		{File: outputs.File{Name: "--out", Path: filepath.Join(f.dir, "busy.onnx")}},
		{File: outputs.File{Name: "--out-dir", Path: sweepDir}, Folder: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Release()
	pid := "pid " + strconv.Itoa(os.Getpid())
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"train", []string{"train", "--model", f.spec, "--data", f.data, "--labels", f.labels, "--blas", "go", "--out", busy, "--overwrite"}, "--out " + busy},
		{"export", []string{"export", "--model", ckpt, "--out", filepath.Join(f.dir, "busy.onnx"), "--verify", "0"}, "--out"},
		{"sweep", []string{"sweep", "--model", f.spec, "--data", f.data, "--labels", f.labels, "--soft-targets", ckpt,
			"--eval-data", f.evalData, "--eval-labels", f.evalLabels, "--temperatures", "1", "--alphas", "0.5", "--out-dir", sweepDir + "/"}, "--out-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runMain(t, tt.args...)
			if code != ExitRuntime || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "being written by another distill run ("+pid+")") {
				t.Errorf("exit %d, stderr %q: want %d naming %q and the %s", code, stderr, ExitRuntime, tt.want, pid)
			}
		})
	}
	if _, err := os.Stat(busy); err == nil {
		t.Errorf("a refused train wrote %s", busy)
	}
}

// TestUnwritableOutputFolder: an output whose folder cannot be written is refused before the
// first epoch, with the error of creating a file there (not of a cleanup), naming the flag.
func TestUnwritableOutputFolder(t *testing.T) {
	f := newTrainFixture(t)
	ro := filepath.Join(f.dir, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(ro, 0o755) })
	if probe, err := os.Create(filepath.Join(ro, "probe")); err == nil {
		// Root writes in a read-only folder; /sys refuses new files even to root.
		probe.Close()
		ro = "/sys"
		if probe, err := os.Create("/sys/distill-probe"); err == nil || !dirExists(ro) {
			if probe != nil {
				probe.Close()
				os.Remove(probe.Name())
			}
			t.Skip("no folder here refuses to be written")
		}
	}
	ckpt := filepath.Join(f.dir, "s.ckpt")
	for _, flag := range []string{"metrics", "plot", "out"} {
		t.Run(flag, func(t *testing.T) {
			args := []string{"train", "--model", f.spec, "--data", f.data, "--labels", f.labels, "--epochs", "1", "--blas", "go",
				"--scale", "255", "--overwrite", "--" + flag, filepath.Join(ro, "x")}
			if flag != "out" {
				args = append(args, "--out", ckpt)
			}
			code, _, stderr := runMain(t, args...)
			if code != ExitRuntime || !strings.Contains(stderr, "--"+flag+" "+filepath.Join(ro, "x")+": cannot write in folder "+ro) ||
				strings.Contains(stderr, "remove") || strings.Contains(stderr, "epoch") {
				t.Errorf("exit %d, stderr:\n%s", code, stderr)
			}
			if _, err := os.Stat(ckpt); err == nil {
				t.Errorf("training ran: %s written", ckpt)
			}
		})
	}
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
