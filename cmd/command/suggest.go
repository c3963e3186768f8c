package command

import (
	"strings"

	"github.com/urfave/cli/v2"
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
		d := editDistance(typed, n)
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

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
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
