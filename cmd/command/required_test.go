package command

import (
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// usageRequired returns the flags that a command's usage line shows outside brackets, that is as
// required: "--model" in "distill eval --model <m> [--json]". Only the first line counts (the
// others are the subcommands').
func usageRequired(usageText string) []string {
	line, _, _ := strings.Cut(usageText, "\n")
	var out []string
	depth := 0
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '[':
			depth++
		case c == ']':
			depth--
		case depth == 0 && strings.HasPrefix(line[i:], "--") && (i == 0 || line[i-1] == ' '):
			j := i + 2
			for j < len(line) && line[j] != ' ' && line[j] != '=' && line[j] != '[' {
				j++
			}
			if name := line[i+2 : j]; name != "" && !slices.Contains(out, name) {
				out = append(out, name)
			}
			i = j - 1
		}
	}
	sort.Strings(out)
	return out
}

// TestRequiredFlags checks, for every command with a usage line, that the flags its usage line
// shows as required are those whose help says "(required", and that these are exactly what the
// command demands: left out one at a time, each gives "--<flag> is required"; all given (with
// paths that do not exist), none is reported missing.
func TestRequiredFlags(t *testing.T) {
	app := newApp(nil, nil)
	var walk func(path []string, cmds []*cli.Command)
	walk = func(path []string, cmds []*cli.Command) {
		for _, c := range cmds {
			full := append(slices.Clone(path), c.Name)
			if c.UsageText != "" {
				t.Run(strings.Join(full, " "), func(t *testing.T) { checkRequired(t, full, c) })
			}
			walk(full, c.Subcommands)
		}
	}
	walk(nil, app.Commands)
}

func checkRequired(t *testing.T, path []string, c *cli.Command) {
	var marked []string
	for _, f := range c.Flags {
		if strings.Contains(flagUsage(f), "(required") {
			marked = append(marked, f.Names()[0])
		}
	}
	sort.Strings(marked)
	if shown := usageRequired(c.UsageText); !slices.Equal(shown, marked) {
		t.Errorf("the usage line shows %v as required, the flags' help %v", shown, marked)
	}
	dir := t.TempDir()
	args := func(skip string) []string {
		a := slices.Clone(path)
		for _, n := range marked {
			if n != skip {
				a = append(a, "--"+n, filepath.Join(dir, "missing-"+n))
			}
		}
		if c.ArgsUsage != "" {
			a = append(a, filepath.Join(dir, "part")) // targets merge's <part>...
		}
		return a
	}
	for _, n := range marked {
		_, _, stderr := runMain(t, args(n)...)
		if !strings.Contains(stderr, "--"+n+" is required") {
			t.Errorf("without --%s: want %q, got\n%s", n, "--"+n+" is required", stderr)
		}
	}
	if _, _, stderr := runMain(t, args("")...); strings.Contains(stderr, " is required") {
		t.Errorf("with %v: a flag not marked required is demanded:\n%s", marked, stderr)
	}
}
