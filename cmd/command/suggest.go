package command

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/distillgo/distill/internal/textdist"
)

// suggestion returns "--<flag>" or "<command>" closest to what a usage error says was not
// understood (an undefined flag, an unknown command), or "" when nothing is close: a prefix of a
// name, or within an edit distance of a third of its length (1 for names of up to 3 letters, else
// 2 to 3).
func suggestion(cCtx *cli.Context, err error) string {
	msg := err.Error()
	var typed string
	var names []string
	switch {
	case strings.HasPrefix(msg, "flag provided but not defined: -"):
		typed = strings.TrimLeft(strings.TrimPrefix(msg, "flag provided but not defined: "), "-")
		var flags []cli.Flag
		if cCtx != nil && cCtx.Command != nil && cCtx.Command.Name != "" {
			flags = cCtx.Command.Flags
		} else if cCtx != nil && cCtx.App != nil {
			flags = cCtx.App.Flags
		}
		for _, f := range flags {
			names = append(names, f.Names()...)
		}
	case strings.HasPrefix(msg, "unknown command \""):
		typed = strings.TrimSuffix(strings.TrimPrefix(msg, "unknown command \""), "\"")
		if cCtx != nil && cCtx.App != nil {
			for _, c := range cCtx.App.Commands {
				names = append(names, c.Names()...)
			}
		}
	default:
		return ""
	}
	best, bestD := "", 1<<30
	for _, n := range names {
		d := textdist.Levenshtein(typed, n)
		if strings.HasPrefix(n, typed) && len(typed) >= 3 {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = n, d
		}
	}
	limit := 1
	if len(typed) > 3 {
		limit = min(3, max(2, len(typed)/3))
	}
	if best == "" || bestD > limit {
		return ""
	}
	if strings.HasPrefix(msg, "flag") {
		return "--" + best
	}
	return best
}

// helpCommand is the command line that shows the help of the command in cCtx.
func helpCommand(cCtx *cli.Context) string {
	if cCtx == nil || cCtx.Command == nil || cCtx.Command.Name == "" || (cCtx.App != nil && cCtx.Command.Name == cCtx.App.Name) {
		return "distill --help"
	}
	var path []string
	for _, c := range cCtx.Lineage() {
		if c.Command != nil && c.Command.Name != "" && (c.App == nil || c.Command.Name != c.App.Name) {
			path = append([]string{c.Command.Name}, path...)
		}
	}
	return "distill " + strings.Join(path, " ") + " --help"
}
