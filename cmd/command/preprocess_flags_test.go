package command

import (
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/urfave/cli/v2"
)

// parsePreprocessFlags runs args through a command with the shared preprocessing flags of the
// model and the teacher, and returns what preprocessFromFlags made of them.
func parsePreprocessFlags(t *testing.T, args ...string) (model, teacher dataset.Preprocess, err error) {
	t.Helper()
	cmd := &cli.Command{
		Name:  "pp",
		Flags: append(preprocessFlags("", ""), preprocessFlags("teacher-", "the student's")...),
		Action: func(cCtx *cli.Context) error {
			var err error
			if model, _, err = preprocessFromFlags(cCtx, "", dataset.Preprocess{}); err != nil {
				return err
			}
			teacher, _, err = preprocessFromFlags(cCtx, "teacher-", model)
			return err
		},
	}
	app := &cli.App{Name: "t", Writer: io.Discard, ErrWriter: io.Discard, Commands: []*cli.Command{cmd},
		ExitErrHandler: func(*cli.Context, error) {}}
	err = app.Run(append([]string{"t", "pp"}, args...))
	return model, teacher, err
}

func TestPreprocessFlags(t *testing.T) {
	def := dataset.Preprocess{Mean: []float64{0}, Std: []float64{1}} // scale: the data's
	tests := []struct {
		name           string
		args           []string
		model, teacher dataset.Preprocess
	}{
		{"defaults", nil, def, def},
		{"shape with x", []string{"--input-shape", "1x28x28"},
			dataset.Preprocess{Mean: []float64{0}, Std: []float64{1}, InputShape: []int{1, 28, 28}}, def},
		{"shape with commas", []string{"--input-shape", "1,28,28"},
			dataset.Preprocess{Mean: []float64{0}, Std: []float64{1}, InputShape: []int{1, 28, 28}}, def},
		{"channels with slashes and commas", []string{"--scale", "1", "--mean", "0.485/0.456/0.406", "--std", "0.229,0.224,0.225"},
			dataset.Preprocess{Scale: 1, Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.229, 0.224, 0.225}},
			dataset.Preprocess{Scale: 1, Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.229, 0.224, 0.225}}},
		{"teacher overrides", []string{"--mean", "0.5", "--teacher-mean", "0.1307", "--teacher-std", "0.3081", "--teacher-input-shape", "784"},
			dataset.Preprocess{Mean: []float64{0.5}, Std: []float64{1}},
			dataset.Preprocess{Mean: []float64{0.1307}, Std: []float64{0.3081}, InputShape: []int{784}}},
		{"teacher scale", []string{"--teacher-scale", "2"},
			def, dataset.Preprocess{Scale: 2, Mean: []float64{0}, Std: []float64{1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model, teacher, err := parsePreprocessFlags(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.model, model, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("model (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.teacher, teacher, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("teacher (-want +got):\n%s", diff)
			}
		})
	}
	bad := []struct {
		name string
		args []string
		want string
	}{
		{"zero scale", []string{"--scale", "0"}, "--scale 0"},
		{"mean not a number", []string{"--mean", "a/b"}, "--mean"},
		{"zero std", []string{"--std", "1/0"}, "--std"},
		{"shape dimension", []string{"--input-shape", "1x0x28"}, "--input-shape"},
		{"teacher std", []string{"--teacher-std", "-1"}, "--teacher-std"},
		{"teacher shape", []string{"--teacher-input-shape", "28,a"}, "--teacher-input-shape"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parsePreprocessFlags(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one naming %q", err, tt.want)
			}
		})
	}
}

// TestPreprocessHelpSame checks that targets, train and eval describe the preprocessing flags in
// the same words (their defaults aside: eval's come from the model first).
func TestPreprocessHelpSame(t *testing.T) {
	line := regexp.MustCompile(`(?m)^\s*(--(?:scale|mean|std|input-shape) .*)$`)
	var first []string
	for _, name := range []string{"targets", "train", "eval"} {
		code, out, _ := runMain(t, name, "--help")
		if code != ExitOK {
			t.Fatalf("%s --help: exit %d", name, code)
		}
		var got []string
		for _, m := range line.FindAllStringSubmatch(out, -1) {
			text, _, _ := strings.Cut(m[1], " (default:")
			got = append(got, strings.Join(strings.Fields(text), " "))
		}
		if len(got) != 4 {
			t.Fatalf("%s --help: %d preprocessing flag lines, want 4:\n%s", name, len(got), out)
		}
		if first == nil {
			first = got
			continue
		}
		if diff := cmp.Diff(first, got); diff != "" {
			t.Errorf("%s --help differs from targets --help (-targets +%s):\n%s", name, name, diff)
		}
	}
}
