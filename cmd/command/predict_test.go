package command

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/onnx/onnxtest"
)

// flatImages writes the images of the IDX file data (4x4 uint8) as PNG files img-000.png, ...
// in a new folder without class folders, and returns it.
func flatImages(t *testing.T, data string, n int) string {
	t.Helper()
	raw, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	pix := raw[len(raw)-n*16:] // the IDX header is 4+4*3 bytes; the pixels end the file
	dir := filepath.Join(t.TempDir(), "photos")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, 4, 4))
		copy(img.Pix, pix[i*16:(i+1)*16])
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("img-%03d.png", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// csvTable writes the first 4 samples of the fixture's eval set as a CSV file, 16 feature
// columns and, when labelled, a "label" column, and returns its path.
func csvTable(t *testing.T, f *trainFixture, labelled bool) string {
	t.Helper()
	raw, err := os.ReadFile(f.evalData)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(f.evalLabels)
	if err != nil {
		t.Fatal(err)
	}
	pix, y := raw[16:], y[8:] // past the IDX headers: 4+4*3 bytes of images, 4+4 of labels
	var b strings.Builder
	for p := range 16 {
		fmt.Fprintf(&b, "p%d,", p)
	}
	b.WriteString("label\n")
	for i := range 4 {
		for p := range 16 {
			fmt.Fprintf(&b, "%d,", pix[i*16+p])
		}
		fmt.Fprintf(&b, "%d\n", y[i])
	}
	text, name := b.String(), "labelled.csv"
	if !labelled { // drop the last column
		text, name = strings.NewReplacer(",label\n", "\n").Replace(text), "unlabelled.csv"
		lines := strings.Split(text, "\n")
		for i := 1; i < len(lines)-1; i++ {
			lines[i] = lines[i][:strings.LastIndexByte(lines[i], ',')]
		}
		text = strings.Join(lines, "\n")
	}
	path := filepath.Join(f.dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPredictHelp(t *testing.T) {
	code, out, _ := runMain(t, "predict", "--help")
	if code != ExitOK {
		t.Fatalf("predict --help: exit %d", code)
	}
	for _, want := range []string{"distill predict --model", "--top-k", "--logits", "--format", "jsonl", "flat folder", "Example:"} {
		if !strings.Contains(out, want) {
			t.Errorf("predict --help lacks %q", want)
		}
	}
	if code, out, _ := runMain(t, "--help"); code != ExitOK || !strings.Contains(out, "predict") {
		t.Errorf("distill --help does not list predict:\n%s", out)
	}
}

// TestPredictCLI runs `distill predict` as a user would: a checkpoint on an unlabelled IDX file
// to standard output; with labels, the accuracy on standard error; an exported student and an
// ONNX model that names its classes on a flat folder of images, to a CSV and a JSON Lines file.
func TestPredictCLI(t *testing.T) {
	f := newTrainFixture(t)
	ckpt := trainedCheckpoint(t, f)
	student := exportUnverified(t, f, ckpt)
	named := filepath.Join(f.dir, "named.onnx")
	onnxtest.GemmClassifier(t, named, rowWeights(), []float32{0, 0, 0},
		onnxtest.Metadata(map[string]string{meta.ClassNames: `["top","middle","bottom"]`, meta.Preprocess: `{"scale":255}`}))
	photos := flatImages(t, f.evalData, 5)
	csvOut, jsonOut := filepath.Join(f.dir, "preds.csv"), filepath.Join(f.dir, "preds.jsonl")
	labelled, unlabelled := csvTable(t, f, true), csvTable(t, f, false)

	tests := []struct {
		name     string
		args     []string
		out      string   // the file written, "" for standard output
		lines    int      // lines of predictions (the header aside)
		head     string   // the first line written
		contains []string // in what is written
		stderr   []string // in standard error
		noStderr string   // not in standard error
	}{
		{name: "checkpoint, unlabelled, stdout", args: []string{"--model", ckpt, "--data", f.evalData, "--blas", "go"},
			lines: 150, head: "index,class,name,probability", contains: []string{"\n0,", "\n149,"}, noStderr: "accuracy"},
		{name: "checkpoint, labelled", args: []string{"--model", ckpt, "--data", f.evalData, "--labels", f.evalLabels, "--blas", "go"},
			lines: 150, head: "index,class,name,probability,label", stderr: []string{"accuracy ", "errors in 150 samples; labels from " + f.evalLabels}},
		{name: "checkpoint, jsonl to stdout", args: []string{"--model", ckpt, "--data", f.evalData, "--labels", f.evalLabels, "--format", "jsonl", "--blas", "go"},
			lines: 150, head: `{"index":0,"class":`, contains: []string{`"label":`, "\n" + `{"index":149,`}},
		{name: "csv rows, labelled", args: []string{"--model", ckpt, "--data", labelled, "--blas", "go"},
			lines: 4, head: "index,class,name,probability,label", contains: []string{"\n0,", "\n3,"}, stderr: []string{"accuracy ", "in 4 samples; labels from " + labelled}},
		{name: "csv rows, no label column", args: []string{"--model", ckpt, "--data", unlabelled, "--blas", "go"},
			lines: 4, head: "index,class,name,probability\n", noStderr: "accuracy"},
		{name: "exported student, flat folder, top 2 and logits, csv", out: csvOut,
			args:  []string{"--model", student, "--runtime", "go", "--data", photos, "--layout", "nchw", "--out", csvOut, "--top-k", "2", "--logits"},
			lines: 5, head: "file,class,name,probability,class_2,name_2,probability_2,logit_0,logit_1,logit_2",
			contains: []string{"\nimg-000.png,", "\nimg-004.png,"}, stderr: []string{"predictions of 5 samples written to " + csvOut + " (csv)"}, noStderr: "accuracy"},
		{name: "class names, flat folder, jsonl from the name", out: jsonOut,
			args:  []string{"--model", named, "--runtime", "go", "--data", photos, "--layout", "nchw", "--out", jsonOut},
			lines: 5, head: `{"file":"img-000.png","class":`, contains: []string{`"name":"top"`, `"name":"middle"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runMain(t, append([]string{"predict"}, tt.args...)...)
			if code != ExitOK {
				t.Fatalf("exit %d\nstderr:\n%s", code, stderr)
			}
			written := stdout
			if tt.out != "" {
				b, err := os.ReadFile(tt.out)
				if err != nil {
					t.Fatal(err)
				}
				if written = string(b); stdout != "" {
					t.Errorf("stdout with --out: %q", stdout)
				}
			}
			lines := strings.Split(strings.TrimSuffix(written, "\n"), "\n")
			header := 1
			if strings.HasPrefix(tt.head, "{") {
				header = 0
				for _, l := range lines {
					var v map[string]any
					if err := json.Unmarshal([]byte(l), &v); err != nil {
						t.Errorf("line %q: %v", l, err)
					}
				}
			}
			if len(lines) != tt.lines+header || !strings.HasPrefix(written, tt.head) {
				t.Errorf("%d lines, the first %q; want %d, starting %q", len(lines), lines[0], tt.lines+header, tt.head)
			}
			for _, w := range tt.contains {
				if !strings.Contains(written, w) {
					t.Errorf("output lacks %q:\n%s", w, written)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if tt.noStderr != "" && strings.Contains(stderr, tt.noStderr) {
				t.Errorf("stderr has %q:\n%s", tt.noStderr, stderr)
			}
		})
	}
	// The flat folder's predictions are those of the same pixels in the IDX file.
	_, fromIDX, _ := runMain(t, "predict", "--model", named, "--runtime", "go", "--data", f.evalData)
	got, _ := os.ReadFile(jsonOut)
	var first struct{ Class int }
	if err := json.Unmarshal([]byte(strings.SplitN(string(got), "\n", 2)[0]), &first); err != nil {
		t.Fatal(err)
	}
	if row := strings.Split(fromIDX, "\n")[1]; !strings.HasPrefix(row, fmt.Sprintf("0,%d,", first.Class)) {
		t.Errorf("sample 0 of the IDX file: %q; of the folder, class %d", row, first.Class)
	}
}

// TestPredictRefused: usage errors are refused before any work, and an --out that exists is
// replaced only with --overwrite, whole.
func TestPredictRefused(t *testing.T) {
	f := newTrainFixture(t)
	ckpt := trainedCheckpoint(t, f)
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no data", []string{"--model", ckpt}, ExitUsage, "--data is required"},
		{"top-k 0", []string{"--model", ckpt, "--data", f.evalData, "--top-k", "0"}, ExitUsage, "--top-k 0: must be at least 1"},
		{"top-k above the classes", []string{"--model", ckpt, "--data", f.evalData, "--top-k", "4"}, ExitRuntime, "--top-k: 4 classes asked for, but model " + ckpt + " has 3"},
		{"unknown format", []string{"--model", ckpt, "--data", f.evalData, "--format", "xml"}, ExitUsage, `--format "xml": want csv or jsonl`},
		{"image flags on a file", []string{"--model", ckpt, "--data", f.evalData, "--color", "rgb"}, ExitUsage, "--color: for an image folder"},
		{"an argument", []string{"--model", ckpt, "--data", f.evalData, "extra"}, ExitUsage, `unexpected argument "extra"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runMain(t, append([]string{"predict"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.want) || stdout != "" {
				t.Errorf("exit %d (want %d), stdout %q, stderr:\n%s\nwant %q", code, tt.code, stdout, stderr, tt.want)
			}
		})
	}
	out := filepath.Join(f.dir, "preds.csv")
	if err := os.WriteFile(out, []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"predict", "--model", ckpt, "--data", f.evalData, "--out", out, "--blas", "go"}
	if code, _, stderr := runMain(t, args...); code != ExitRuntime || !strings.Contains(stderr, "--out "+out+" exists: pass --overwrite") {
		t.Errorf("existing --out: exit %d\n%s", code, stderr)
	}
	if b, _ := os.ReadFile(out); string(b) != "kept\n" {
		t.Errorf("refused --out changed: %q", b)
	}
	if code, _, stderr := runMain(t, append(args, "--overwrite")...); code != ExitOK {
		t.Fatalf("--overwrite: exit %d\n%s", code, stderr)
	}
	if b, _ := os.ReadFile(out); !strings.HasPrefix(string(b), "index,class,name,probability\n") || strings.Count(string(b), "\n") != 151 {
		t.Errorf("replaced --out: %q...", b[:min(len(b), 80)])
	}
	if left, _ := filepath.Glob(out + ".tmp-*"); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestFlatFolderNeedsLabels: eval, and train's --eval-data, refuse a flat folder of images,
// which has no labels, naming the flag and saying why, instead of asking for a label column.
func TestFlatFolderNeedsLabels(t *testing.T) {
	f := newTrainFixture(t)
	ckpt := trainedCheckpoint(t, f)
	photos := flatImages(t, f.evalData, 3)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"eval", []string{"eval", "--model", ckpt, "--data", photos, "--layout", "nchw"},
			"eval: --data: " + photos + " is a folder of images without class folders, so it has no labels"},
		{"train --eval-data", []string{"train", "--model", f.spec, "--data", f.data, "--labels", f.labels, "--eval-data", photos,
			"--epochs", "1", "--blas", "go", "--out", filepath.Join(f.dir, "x.ckpt")},
			"train: --eval-data: eval data " + photos + " is a folder of images without class folders, so it has no labels"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runMain(t, tt.args...)
			if code != ExitRuntime || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant %q", code, stderr, tt.want)
			}
		})
	}
}
