package command

import (
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestEnumFlagsListTheirChoices checks that every flag with declared choices (enumFlag), in every
// command, checks them when set and names each of them in its help.
func TestEnumFlagsListTheirChoices(t *testing.T) {
	app := newApp(nil, nil)
	seen := map[string]bool{}
	check := func(where string, flags []cli.Flag) {
		for _, f := range flags {
			sf, ok := f.(*cli.StringFlag)
			if !ok {
				continue
			}
			enumMu.Lock()
			choices, ok := enumChoices[sf.Name]
			enumMu.Unlock()
			if !ok {
				continue
			}
			seen[sf.Name] = true
			if sf.Action == nil {
				t.Errorf("%s --%s: declared with choices but does not check them", where, sf.Name)
			}
			for _, c := range choices {
				if !strings.Contains(sf.Usage, c) {
					t.Errorf("%s --%s: the help %q does not name the choice %q", where, sf.Name, sf.Usage, c)
				}
			}
		}
	}
	check("distill", app.Flags)
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			check(path+" "+c.Name, c.Flags)
			walk(path+" "+c.Name, c.Subcommands)
		}
	}
	walk("distill", app.Commands)
	enumMu.Lock()
	defer enumMu.Unlock()
	for name := range enumChoices {
		if !seen[name] {
			t.Errorf("--%s has declared choices but no command has it", name)
		}
	}
	if len(seen) < 10 {
		names := []string{}
		for n := range seen {
			names = append(names, n)
		}
		slices.Sort(names)
		t.Errorf("only %d enum flags found (%v): the walk missed commands", len(seen), names)
	}
}

// TestEnumFlagsTakeEmptyAndFoldedValues: an empty value is left to the command's default, and
// --log-format takes its words in any case, as it did before its choices moved onto the flag.
func TestEnumFlagsTakeEmptyAndFoldedValues(t *testing.T) {
	for _, f := range append(trainCommand().Flags, globalFlags()...) {
		if sf, ok := f.(*cli.StringFlag); ok && sf.Action != nil {
			if err := sf.Action(nil, ""); err != nil {
				t.Errorf("--%s \"\": %v", sf.Name, err)
			}
		}
	}
	if code, _, stderr := runMain(t, "--log-format", "JSON", "inspect", "../../models/mnist-teacher.onnx"); code != ExitOK {
		t.Errorf("--log-format JSON: exit %d\n%s", code, stderr)
	}
}
