package command

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/distillgo/distill/internal/option"
)

// TestChoiceErrors checks that a bad value of a flag with fixed choices is a usage error that
// lists the choices, and that the shared onnxruntime flags are checked alike, in the same words
// for every command.
func TestChoiceErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"targets device", []string{"targets", "--teacher", "t.onnx", "--data", "d", "--out", "o", "--device", "tpu"}, `--device "tpu": want cpu, cuda or auto`},
		{"targets output", []string{"targets", "--teacher", "t.onnx", "--data", "d", "--out", "o", "--output", "soft"}, `--output "soft": want auto, logits, probs or logprobs`},
		{"train device", []string{"train", "--model", "m", "--data", "d", "--out", "o", "--device", "tpu"}, `--device "tpu": want cpu, cuda or auto`},
		{"train blas", []string{"train", "--model", "m", "--data", "d", "--out", "o", "--blas", "mkl"}, `--blas "mkl": want auto, openblas or go`},
		{"train loss", []string{"train", "--model", "m", "--data", "d", "--out", "o", "--loss", "l1"}, `--loss "l1": want kl, mse or dkd`},
		{"train optimizer", []string{"train", "--model", "m", "--data", "d", "--out", "o", "--optimizer", "adamw"}, `--optimizer "adamw": want adam or sgd`},
		{"train ensemble", []string{"train", "--model", "m", "--data", "d", "--out", "o", "--ensemble", "mean"}, `--ensemble "mean": want probs or logits`},
		{"train layout", []string{"train", "--model", "m", "--data", "d", "--out", "o", "--layout", "chw"}, `--layout "chw": want nchw or nhwc`},
		{"train teacher layout", []string{"train", "--model", "m", "--data", "d", "--out", "o", "--teacher-layout", "hwc"}, `--teacher-layout "hwc": want nchw or nhwc`},
		{"targets csv header", []string{"targets", "--teacher", "t.onnx", "--data", "d.csv", "--out", "o", "--csv-header", "yes"}, `--csv-header "yes": want names, sklearn or none`},
		{"predict format", []string{"predict", "--model", "m", "--data", "d", "--format", "json"}, `--format "json": want csv or jsonl`},
		{"log format", []string{"--log-format", "xml", "eval", "--model", "m", "--data", "d", "--labels", "l"}, `--log-format "xml": want text or json`},
		{"train dkd beta", []string{"train", "--model", "m", "--data", "d", "--out", "o", "--loss", "dkd", "--dkd-beta", "-1"}, `--dkd-beta: -1 must be a non-negative number`},
		{"train dkd warmup", []string{"train", "--model", "m", "--data", "d", "--out", "o", "--loss", "dkd", "--dkd-warmup", "-2"}, `--dkd-warmup: -2 must not be negative`},
		{"train standardize mse", []string{"train", "--model", "m", "--data", "d", "--out", "o", "--loss", "mse", "--standardize-logits"}, `--standardize-logits: goes with loss kl or dkd, not mse`},
		{"sweep losses and loss", []string{"sweep", "--model", "m", "--data", "d", "--soft-targets", "s", "--eval-data", "e", "--eval-labels", "l", "--out-dir", "o", "--losses", "kl,dkd", "--loss", "dkd"}, `--losses with --loss or --standardize-logits`},
		{"sweep bad losses", []string{"sweep", "--model", "m", "--data", "d", "--soft-targets", "s", "--eval-data", "e", "--eval-labels", "l", "--out-dir", "o", "--losses", "kl,+std"}, `--losses: loss "+std": want a kind`},
		{"sweep unknown loss", []string{"sweep", "--model", "m", "--data", "d", "--soft-targets", "s", "--eval-data", "e", "--eval-labels", "l", "--out-dir", "o", "--losses", "kl,l2"}, `--losses: l2: "l2": want kl, mse or dkd`},
		{"eval device", []string{"eval", "--model", "m", "--data", "d", "--labels", "l", "--device", "tpu"}, `--device "tpu": want cpu, cuda or auto`},
		{"train gpu id", []string{"train", "--model", "m", "--data", "d", "--out", "o", "--gpu-id", "-1"}, `--gpu-id -1: must not be negative`},
		{"train image size on a file", []string{"train", "--model", "m", "--data", "d.npy", "--out", "o", "--image-size", "28x28"}, `--image-size: for an image folder (a directory of images, or of class folders of images), and d.npy is not one`},
		{"eval class names on csv", []string{"eval", "--model", "m", "--data", "d.csv", "--class-names", "a,b"}, `--class-names: for labels in an array file (IDX, NPY, NPZ); d.csv is not one`},
		{"train class names neither file nor list", []string{"train", "--model", "m", "--data", "d.npy", "--labels", "l.npy", "--out", "o", "--class-names", "nosuchfile"}, `--class-names: "nosuchfile" is neither a file nor a list of names a,b,c`},
		{"targets color on a file", []string{"targets", "--teacher", "t.onnx", "--data", "d.idx", "--out", "o", "--color", "rgb"}, `--color: for an image folder`},
		{"eval label column on a file", []string{"eval", "--model", "m", "--data", "d.npy", "--labels", "l", "--fit-data", "f.npy", "--label-column", "3"}, `--label-column: for CSV data (a file named *.csv or *.csv.gz), and d.npy and f.npy are not`},
		{"sweep feature columns on a file", []string{"sweep", "--model", "m", "--data", "d.npy", "--soft-targets", "s", "--eval-data", "e", "--eval-labels", "l", "--out-dir", "o", "--feature-columns", "a,b"}, `--feature-columns: for CSV data`},
		{"targets threads", []string{"targets", "--teacher", "t.onnx", "--data", "d", "--out", "o", "--threads", "100000"}, fmt.Sprintf(`--threads 100000: at most %d (4 per core on this machine's %d)`, 4*runtime.NumCPU(), runtime.NumCPU())},
		{"eval threads", []string{"eval", "--model", "m", "--data", "d", "--labels", "l", "--threads", "-2"}, `--threads -2: must not be negative`},
		{"targets gpu id", []string{"targets", "--teacher", "t.onnx", "--data", "d", "--out", "o", "--gpu-id", "-1"}, `--gpu-id -1: must not be negative`},
		{"eval blas", []string{"eval", "--model", "m", "--data", "d", "--labels", "l", "--blas", "mkl"}, `--blas "mkl": want auto, openblas or go`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runMain(t, tt.args...)
			if code != ExitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q: want %d and %q", code, stderr, ExitUsage, tt.want)
			}
		})
	}
}

// TestCPUProfile checks that --cpuprofile writes a profile, also when the command fails, and that
// a profile that cannot be created is an error naming the flag.
func TestCPUProfile(t *testing.T) {
	dir := t.TempDir()
	prof := filepath.Join(dir, "cpu.prof")
	code, _, stderr := runMain(t, "--cpuprofile", prof, "inspect", filepath.Join(dir, "missing.onnx"))
	if code != ExitRuntime {
		t.Fatalf("inspect of a missing model: exit %d, want %d\n%s", code, ExitRuntime, stderr)
	}
	if st, err := os.Stat(prof); err != nil || st.Size() == 0 {
		t.Errorf("profile %s: %v (size %d), want a non-empty file", prof, err, sizeOf(st))
	}
	bad := filepath.Join(dir, "no-such-dir", "cpu.prof")
	code, _, stderr = runMain(t, "inspect", "--cpuprofile", bad, filepath.Join(dir, "missing.onnx"))
	if code != ExitRuntime || !strings.Contains(stderr, "--cpuprofile") {
		t.Errorf("unwritable profile: exit %d, stderr %q; want %d and an error naming --cpuprofile", code, stderr, ExitRuntime)
	}
}

func sizeOf(st os.FileInfo) int64 {
	if st == nil {
		return 0
	}
	return st.Size()
}

// TestOptionErrorsNameFlags: an option that does not fit the files, found below the command line,
// is reported by its flag (exit 1, no usage).
func TestOptionErrorsNameFlags(t *testing.T) {
	f := newTrainFixture(t)
	model := filepath.Join(f.dir, "teacher.onnx")
	rowTeacherModel(t, model)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no labels for hard training", []string{"train", "--model", f.spec, "--data", f.data,
			"--out", filepath.Join(f.dir, "x.ckpt")}, "train: --labels: no labels for "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runMain(t, tt.args...)
			if code != ExitRuntime || !strings.Contains(stderr, tt.want) || strings.Contains(stderr, "USAGE") {
				t.Errorf("exit %d, stderr %q: want %d and %q without usage", code, stderr, ExitRuntime, tt.want)
			}
		})
	}
}

func TestFlagFor(t *testing.T) {
	tests := []struct {
		scope, option, want string
	}{
		{"train", "Epochs", "epochs"},
		{"train", "Checkpoint", "out"},
		{"export", "Checkpoint", "model"},
		{"eval", "Model", "model"},
		{"sweep", "Train.Temperature", "temperatures"},
		{"sweep", "Train.Batch", "batch"},
		{"sweep", "Dir", "out-dir"},
		{"onnx", "Runtime.Lib", "ort-lib"},
		{"onnx", "Teacher.OutputName", "teacher-output"},
	}
	for _, tt := range tests {
		if got := flagFor(&option.Error{Scope: tt.scope, Option: tt.option}, "train"); got != tt.want {
			t.Errorf("flagFor(%s %s) = %q, want %q", tt.scope, tt.option, got, tt.want)
		}
	}
	for _, tt := range []struct{ command, option, want string }{
		{"targets", "Output", "output"}, {"targets", "Teacher.Output", "output"}, {"train", "Output", "teacher-output-kind"},
		{"eval", "OutputName", "model-output"}, {"eval", "Teacher.OutputName", "teacher-output"},
	} {
		if got := flagFor(&option.Error{Scope: "onnx", Option: tt.option}, tt.command); got != tt.want {
			t.Errorf("distill %s: flagFor(onnx %s) = %q, want %q", tt.command, tt.option, got, tt.want)
		}
	}
}

// TestUsageErrorSuggests: a mistyped flag or command is one short message with the closest name.
func TestUsageErrorSuggests(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--epoch", "3"}, "did you mean --epochs?\nrun 'distill train --help' for the flags\n"},
		{[]string{"trian"}, "did you mean train?\nrun 'distill --help' for the commands\n"},
		{[]string{"targets", "merge", "--outt", "x"}, "did you mean --out?\nrun 'distill targets merge --help' for the flags\n"},
		{[]string{"train", "--zzzzzz"}, "distill: flag provided but not defined: -zzzzzz\nrun 'distill train --help' for the flags\n"},
	} {
		code, _, stderr := runMain(t, tt.args...)
		if code != ExitUsage || !strings.HasSuffix(stderr, tt.want) || strings.Count(stderr, "\n") > 3 {
			t.Errorf("%v: exit %d, stderr %q, want it to end %q", tt.args, code, stderr, tt.want)
		}
	}
}

// TestEchoLogs: an epoch is one line for people; its every field goes to the JSON log for
// machines (as INFO), and to the text log only at --log-level debug.
func TestEchoLogs(t *testing.T) {
	f := newTrainFixture(t)
	args := func(out string, extra ...string) []string {
		return append([]string{"train", "--model", f.spec, "--data", f.data, "--labels", f.labels, "--epochs", "2",
			"--batch", "32", "--scale", "255", "--blas", "go", "--out", filepath.Join(f.dir, out)}, extra...)
	}
	code, out, stderr := runMain(t, args("a.ckpt")...)
	if code != ExitOK || !strings.Contains(out, "epoch 2/2") || strings.Contains(stderr, "msg=epoch") {
		t.Errorf("text log: exit %d, the epochs repeated on stderr:\n%s", code, stderr)
	}
	code, _, stderr = runMain(t, args("b.ckpt", "--log-format", "json")...)
	if code != ExitOK || strings.Count(stderr, `"msg":"epoch"`) != 2 || !strings.Contains(stderr, `"level":"INFO","msg":"epoch"`) {
		t.Errorf("json log: exit %d, want two INFO epoch records:\n%s", code, stderr)
	}
	code, _, stderr = runMain(t, args("c.ckpt", "--log-level", "debug")...)
	if code != ExitOK || strings.Count(stderr, "msg=epoch") != 2 {
		t.Errorf("text log at debug: exit %d, want the epoch records:\n%s", code, stderr)
	}
}
