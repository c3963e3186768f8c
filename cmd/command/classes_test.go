package command

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/distillgo/distill/onnx/onnxtest"
	"github.com/distillgo/distill/pipeline/eval"
)

func TestEvalExportHelp(t *testing.T) {
	for cmd, wants := range map[string][]string{
		"eval":   {"--bias-shift", "--fit-bias", "--fit-data", "--fit-on-data", "1-D search", "per_class"},
		"export": {"--bias-shift", "distill.bias_shift"},
	} {
		code, out, _ := runMain(t, cmd, "--help")
		for _, want := range wants {
			if code != ExitOK || !strings.Contains(out, want) {
				t.Errorf("%s --help lacks %q (exit %d)", cmd, want, code)
			}
		}
	}
}

func TestParseClasses(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr string
	}{
		{"", nil, ""},
		{"3", []int{3}, ""},
		{"7, 8", []int{7, 8}, ""},
		{"7,7", nil, "class 7 given twice"},
		{"x", nil, `"x" is not a class index`},
		{"-1", nil, "not a class index"},
	}
	for _, tt := range tests {
		got, err := parseClasses("only-classes", tt.in)
		if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) || !cmp.Equal(got, tt.want) {
			t.Errorf("parseClasses(%q) = %v, %v; want %v, error %q", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "--only-classes") {
			t.Errorf("error %v does not name the flag", err)
		}
	}
}

// TestClassFlagErrors: the class filters and the bias shifts are checked with errors that name
// their flags.
func TestClassFlagErrors(t *testing.T) {
	f := newTrainFixture(t)
	train := []string{"train", "--model", f.spec, "--data", f.data, "--labels", f.labels, "--out", filepath.Join(f.dir, "x.ckpt"), "--blas", "go"}
	evalArgs := []string{"eval", "--model", "m.ckpt", "--data", f.evalData, "--labels", f.evalLabels}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"both filters", append(train, "--exclude-classes", "1", "--only-classes", "2"), ExitUsage, "--only-classes: with classes to exclude: choose one"},
		{"bad class list", append(train, "--exclude-classes", "a"), ExitUsage, "--exclude-classes"},
		{"class out of range", append(train, "--exclude-classes", "5"), ExitRuntime, "--exclude-classes: class 5 outside [0, 3)"},
		{"only out of range", append(train, "--only-classes", "0,3"), ExitRuntime, "--only-classes: class 3 outside"},
		{"fit without a held-out set", append(evalArgs, "--fit-bias", "1"), ExitUsage, "--fit-data: fitting bias shifts needs a held-out set"},
		{"fit set without classes", append(evalArgs, "--fit-data", f.data, "--fit-labels", f.labels), ExitUsage, "--fit-bias"},
		{"shifted and fitted", append(evalArgs, "--bias-shift", "1=2", "--fit-bias", "1", "--fit-on-data"), ExitUsage, "--fit-bias: class 1 is both shifted and fitted"},
		{"bad shift", append(evalArgs, "--bias-shift", "1"), ExitUsage, "--bias-shift: bias shift \"1\": want CLASS=DELTA"},
		{"shift twice", append(evalArgs, "--bias-shift", "1=2", "--bias-shift", "1=3"), ExitUsage, "--bias-shift: class 1 shifted twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runMain(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q: want %d and %q", code, stderr, tt.code, tt.want)
			}
		})
	}
}

// TestClassFiltersAndBiasShiftCLI trains without class 1, evaluates per class, fits the shift
// of class 1 on a held-out set, and exports the shift baked into the model, which then scores as
// eval's shift of the checkpoint does.
func TestClassFiltersAndBiasShiftCLI(t *testing.T) {
	f := newTrainFixture(t)
	ckpt := filepath.Join(f.dir, "no1.ckpt")
	code, out, stderr := runMain(t, "train", "--model", f.spec, "--data", f.data, "--labels", f.labels, "--out", ckpt,
		"--epochs", "2", "--batch", "32", "--lr", "0.01", "--scale", "255", "--blas", "go", "--exclude-classes", "1",
		"--eval-data", f.evalData, "--eval-labels", f.evalLabels)
	if code != ExitOK || !strings.Contains(out, "class filter: training on") {
		t.Fatalf("train --exclude-classes: exit %d\n%s\n%s", code, out, stderr)
	}
	evalJSON := func(args ...string) eval.Result {
		t.Helper()
		code, out, stderr := runMain(t, append([]string{"eval", "--data", f.evalData, "--labels", f.evalLabels, "--json", "--blas", "go"}, args...)...)
		if code != ExitOK {
			t.Fatalf("eval %v: exit %d\n%s", args, code, stderr)
		}
		var r eval.Result
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	plain := evalJSON("--model", ckpt)
	if len(plain.Metrics.PerClass) != 3 || plain.Metrics.PerClass[1].N == 0 {
		t.Fatalf("per-class figures %+v", plain.Metrics.PerClass)
	}
	// A student that never saw class 1 gets most of them wrong.
	if pc := plain.Metrics.PerClass[1]; pc.Errors < pc.N/2 {
		t.Errorf("class 1, never trained on: %d errors of %d", pc.Errors, pc.N)
	}
	heldOut, heldOutLabels := rowImages(t, f.dir, "heldout", 150, 9)
	fitted := evalJSON("--model", ckpt, "--fit-bias", "1", "--fit-data", heldOut, "--fit-labels", heldOutLabels)
	if fitted.BiasFit == nil || fitted.BiasFit.ErrorsAfter > fitted.BiasFit.ErrorsBefore || fitted.BiasFit.Data != heldOut {
		t.Fatalf("bias fit %+v", fitted.BiasFit)
	}
	if fitted.Unshifted.Errors != plain.Metrics.Errors || fitted.Metrics.Errors >= plain.Metrics.Errors {
		t.Errorf("fitted shift %v: %d errors, unshifted %d (plain eval %d): want fewer", fitted.BiasShifts, fitted.Metrics.Errors, fitted.Unshifted.Errors, plain.Metrics.Errors)
	}
	code, out, _ = runMain(t, "eval", "--model", ckpt, "--data", f.evalData, "--labels", f.evalLabels, "--blas", "go", "--bias-shift", "1=+2")
	for _, want := range []string{"bias shift 1=+2", "per class", "unshifted accuracy"} {
		if code != ExitOK || !strings.Contains(out, want) {
			t.Errorf("eval --bias-shift text lacks %q (exit %d):\n%s", want, code, out)
		}
	}

	onnxtest.RequireLibrary(t)
	shift := eval.FormatBiasShifts(fitted.BiasShifts)
	model := filepath.Join(f.dir, "no1.onnx")
	code, out, stderr = runMain(t, "export", "--model", ckpt, "--out", model, "--verify", "32", "--bias-shift", shift)
	if code != ExitOK || !strings.Contains(out, "bias shift "+shift+" added to layers.2.bias") || !strings.Contains(out, "distill.bias_shift = "+shift) {
		t.Fatalf("export --bias-shift %s: exit %d\n%s\n%s", shift, code, out, stderr)
	}
	baked := evalJSON("--model", model, "--model-output-kind", "logits")
	if baked.Metrics.Errors != fitted.Metrics.Errors || !cmp.Equal(baked.Metrics.Confusion, fitted.Metrics.Confusion) {
		t.Errorf("baked model: %d errors %v; eval's shift: %d %v", baked.Metrics.Errors, baked.Metrics.Confusion, fitted.Metrics.Errors, fitted.Metrics.Confusion)
	}
}
