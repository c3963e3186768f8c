package command

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/distillgo/distill/internal/meta"
)

// TestCLIReference fails while docs/cli.md is not what WriteCLIReference makes from the command
// line now: a command, flag or help text changed without regenerating the reference.
func TestCLIReference(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "cli.md")
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the command reference: %v (make it with '%s' from the repository root)", err, CLIDocCommand)
	}
	var got bytes.Buffer
	if err := WriteCLIReference(&got); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got.Bytes(), want) {
		return
	}
	gl, wl := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
	line := 0
	for line < len(gl) && line < len(wl) && gl[line] == wl[line] {
		line++
	}
	at := func(l []string) string {
		if line < len(l) {
			return l[line]
		}
		return "(end of file)"
	}
	t.Errorf("docs/cli.md is stale: regenerate it with '%s' from the repository root\nfirst difference, line %d:\n  docs/cli.md: %s\n  the CLI:     %s",
		CLIDocCommand, line+1, at(wl), at(gl))
}

// TestCLIReferenceCoversTheCLI checks that the reference has every visible command and
// subcommand and every flag of each, with its usage.
func TestCLIReferenceCoversTheCLI(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCLIReference(&buf); err != nil {
		t.Fatal(err)
	}
	doc := buf.String()
	app := newApp(nil, nil)
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			full := path + " " + c.Name
			if !strings.Contains(doc, "\n## "+full+"\n") && !strings.Contains(doc, "\n### "+full+"\n") {
				t.Errorf("no section for %q", full)
			}
			for _, f := range c.VisibleFlags() {
				if !strings.Contains(doc, "`--"+f.Names()[0]) {
					t.Errorf("%s: flag --%s missing", full, f.Names()[0])
				}
				if u := markdownText(flagUsage(f)); !strings.Contains(doc, tableCell(u)) {
					t.Errorf("%s --%s: usage %q missing", full, f.Names()[0], u)
				}
			}
			walk(full, c.VisibleCommands())
		}
	}
	walk(app.Name, app.VisibleCommands())
}

// TestCLIReferenceVersionFree checks that the reference does not change with the version, so that
// docs/cli.md is stale only when the help changed.
func TestCLIReferenceVersionFree(t *testing.T) {
	var a, b bytes.Buffer
	if err := WriteCLIReference(&a); err != nil {
		t.Fatal(err)
	}
	defer func(v string) { meta.Version = v }(meta.Version)
	meta.Version = "9.9.9-clidoc"
	if err := WriteCLIReference(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) || strings.Contains(b.String(), meta.Version) {
		t.Error("the reference changes with the version")
	}
}

func TestMarkdownText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"placeholder", "read <file>", `read \<file\>`},
		{"code span kept", "from `<file>` or <dir>", "from `<file>` or \\<dir\\>"},
		{"spaced star kept", "a * b", "a * b"},
		{"glob star escaped", "part-*.st", `part-\*.st`},
		{"unmatched backtick", "a `<b> <c>", "a `<b> <c>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := markdownText(tt.in); got != tt.want {
				t.Errorf("markdownText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDescriptionMarkdown(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"paragraphs joined", "one\ntwo\n\nthree", "one two\n\nthree\n\n"},
		{"indented block fenced", "Example:\n\n  distill a \\\n      --b\n  distill c", "Example:\n\n```\ndistill a \\\n    --b\ndistill c\n```\n\n"},
		{"block right after a line", "both:\n  --teacher a.onnx", "both:\n\n```\n--teacher a.onnx\n```\n\n"},
		{"list-like start escaped", "- not a list", `\- not a list` + "\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			d := docWriter{w: bufio.NewWriter(&buf)}
			d.description(tt.in)
			d.w.Flush()
			if got := buf.String(); got != tt.want {
				t.Errorf("description(%q) =\n%q\nwant\n%q", tt.in, got, tt.want)
			}
		})
	}
}
