package command

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
)

// CLIDocCommand is the command that regenerates docs/cli.md from WriteCLIReference, run from the
// repository root; the test that finds the file stale prints it.
const CLIDocCommand = "go run ./scripts/clidoc -o docs/cli.md"

// WriteCLIReference writes the command reference of distill as Markdown to w: a table of
// contents, the global options, then for each command and subcommand its summary, usage line,
// description and a table of its flags (name and placeholder, aliases, default, usage). It is
// made from the same cli.App that runs the commands, so it says what `distill <command> --help`
// says. It does not include the version, so the file only changes when the help does.
//
// urfave/cli's own (*cli.App).ToMarkdown is not used: it drops each command's description, shows
// every flag as `--name=""`, repeats the global flags under each command and has no table of
// contents.
func WriteCLIReference(w io.Writer) error {
	app := newApp(io.Discard, io.Discard)
	bw := bufio.NewWriter(w)
	d := docWriter{w: bw, app: app, global: map[string]string{}}
	for _, f := range app.Flags {
		d.global[f.Names()[0]] = flagUsage(f)
	}
	d.write()
	return bw.Flush()
}

// docWriter writes the reference of one application.
type docWriter struct {
	w      *bufio.Writer
	app    *cli.App
	global map[string]string // usage of each global flag by name, to leave them out of the commands' tables
}

func (d *docWriter) printf(format string, args ...any) { fmt.Fprintf(d.w, format, args...) }

func (d *docWriter) write() {
	app := d.app
	d.printf("# %s command reference\n\n", app.Name)
	d.printf("<!-- Generated from the command line by `%s`; do not edit by hand. -->\n\n", CLIDocCommand)
	d.printf("%s: %s.\n\n", app.Name, markdownText(app.Usage))
	d.printf("```\n%s [global options] <command> [options] [arguments...]\n```\n\n", app.Name)
	d.description(app.Description)

	d.printf("## Contents\n\n")
	d.printf("- [Global options](#global-options)\n")
	for _, c := range app.VisibleCommands() {
		d.toc(c, []string{app.Name}, 0)
	}
	d.printf("\n")

	d.printf("## Global options\n\n")
	d.printf("Every command also takes these, before or after its name (`%s --log-level debug train ...` or `%s train --log-level debug ...`).\n\n", app.Name, app.Name)
	flags := append(append([]cli.Flag{}, app.VisibleFlags()...), cli.HelpFlag, cli.VersionFlag)
	d.flagTable(flags, false)

	for _, c := range app.VisibleCommands() {
		d.command(c, []string{app.Name}, 2)
	}
}

// toc writes the contents entry of c (whose parents' names are path) and its subcommands.
func (d *docWriter) toc(c *cli.Command, path []string, depth int) {
	full := strings.Join(append(path, c.Name), " ")
	d.printf("%s- [%s](#%s): %s\n", strings.Repeat("  ", depth), full, anchor(full), markdownText(c.Usage))
	for _, s := range c.VisibleCommands() {
		d.toc(s, append(path, c.Name), depth+1)
	}
}

// command writes the section of c, a heading of the given level, and those of its subcommands.
func (d *docWriter) command(c *cli.Command, path []string, level int) {
	full := strings.Join(append(path, c.Name), " ")
	d.printf("%s %s\n\n", strings.Repeat("#", level), full)
	d.printf("%s.\n\n", markdownText(strings.TrimSuffix(c.Usage, ".")))
	d.printf("```\n%s\n```\n\n", usageLine(c, full))
	d.description(c.Description)
	if len(c.Subcommands) > 0 {
		var subs []string
		for _, s := range c.VisibleCommands() {
			subs = append(subs, fmt.Sprintf("[%s %s](#%s)", full, s.Name, anchor(full+" "+s.Name)))
		}
		d.printf("Subcommands: %s.\n\n", strings.Join(subs, ", "))
	}
	d.flagTable(c.VisibleFlags(), true)
	for _, s := range c.VisibleCommands() {
		d.command(s, append(path, c.Name), level+1)
	}
}

// usageLine returns c's usage synopsis: its UsageText, one command per line, else one made from
// its name and ArgsUsage.
func usageLine(c *cli.Command, full string) string {
	if c.UsageText == "" {
		return strings.TrimSpace(full + " [options] " + c.ArgsUsage)
	}
	lines := strings.Split(strings.TrimSpace(c.UsageText), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n")
}

// flagTable writes a table of flags. With skipGlobal it leaves out the global options that
// prepareCommand added, and says so.
func (d *docWriter) flagTable(flags []cli.Flag, skipGlobal bool) {
	var rows []cli.Flag
	for _, f := range flags {
		if skipGlobal {
			if u, ok := d.global[f.Names()[0]]; ok && u == flagUsage(f) {
				continue
			}
		}
		rows = append(rows, f)
	}
	if len(rows) > 0 {
		d.printf("| Flag | Aliases | Default | Usage |\n|---|---|---|---|\n")
		for _, f := range rows {
			d.printf("| %s | %s | %s | %s |\n", flagName(f), flagAliases(f), tableCell(flagDefault(f)), tableCell(markdownText(flagUsage(f))))
		}
		d.printf("\n")
	}
	if skipGlobal {
		d.printf("And the [global options](#global-options).\n\n")
	}
}

// flagName returns the flag's long name with its placeholder as code: `--model <file>`.
func flagName(f cli.Flag) string {
	name := f.Names()[0]
	dash := "--"
	if len(name) == 1 {
		dash = "-"
	}
	s := dash + name
	if df, ok := f.(cli.DocGenerationFlag); ok && df.TakesValue() {
		placeholder := placeholderOf(df.GetUsage())
		if placeholder == "" {
			placeholder = "<value>"
		}
		s += " " + placeholder
	}
	return "`" + tableCell(s) + "`"
}

// placeholderOf returns the text of usage's first `quoted` part, the flag's placeholder, as
// urfave/cli's help does.
func placeholderOf(usage string) string {
	i := strings.IndexByte(usage, '`')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(usage[i+1:], '`')
	if j < 0 {
		return ""
	}
	return usage[i+1 : i+1+j]
}

// flagAliases returns the flag's other names, as `-T`.
func flagAliases(f cli.Flag) string {
	var out []string
	for _, n := range f.Names()[1:] {
		dash := "--"
		if len(n) == 1 {
			dash = "-"
		}
		out = append(out, "`"+dash+n+"`")
	}
	return strings.Join(out, ", ")
}

// flagDefault returns the default that `--help` shows for f ("" when it shows none), by the same
// rule: the flag's default text unless it is a bool flag that hides it.
func flagDefault(f cli.Flag) string {
	df, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return ""
	}
	if bf, ok := f.(*cli.BoolFlag); ok && bf.DisableDefaultText {
		return ""
	}
	return df.GetDefaultText()
}

// flagUsage returns f's usage as written, placeholders in backticks.
func flagUsage(f cli.Flag) string {
	if df, ok := f.(cli.DocGenerationFlag); ok {
		return df.GetUsage()
	}
	return ""
}

// description writes a command's description as Markdown: runs of lines that start at the margin
// are joined into paragraphs; indented runs (tables, formulas, examples) are kept as they are in
// a code block.
func (d *docWriter) description(text string) {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i := 0; i < len(lines); {
		switch l := lines[i]; {
		case strings.TrimSpace(l) == "":
			i++
		case l[0] == ' ' || l[0] == '\t':
			j := i
			for j < len(lines) && (strings.HasPrefix(lines[j], " ") || strings.HasPrefix(lines[j], "\t") ||
				strings.TrimSpace(lines[j]) == "" && j+1 < len(lines) && strings.HasPrefix(lines[j+1], " ")) {
				j++
			}
			d.printf("```\n%s\n```\n\n", strings.Join(dedent(lines[i:j]), "\n"))
			i = j
		default:
			j := i
			for j < len(lines) && strings.TrimSpace(lines[j]) != "" && lines[j][0] != ' ' && lines[j][0] != '\t' {
				j++
			}
			d.printf("%s\n\n", paragraphStart(markdownText(strings.Join(lines[i:j], " "))))
			i = j
		}
	}
}

// dedent removes the indentation common to the non-blank lines.
func dedent(lines []string) []string {
	common := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " \t"))
		if common < 0 || n < common {
			common = n
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) >= common {
			out[i] = l[common:]
		}
	}
	return out
}

// paragraphStart escapes a paragraph's first character when Markdown would read it as the start
// of a list, heading or quote.
func paragraphStart(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '#', '>', '+', '*', '=':
		return `\` + s
	case '-':
		if len(s) > 1 && s[1] == ' ' {
			return `\` + s
		}
	}
	return s
}

// markdownText escapes, outside `code spans`, what Markdown would take for HTML (placeholders such
// as <file> stay visible) or for emphasis (a "*" not between spaces); "_" inside words is left as
// it is, which GitHub's Markdown does not read as emphasis.
func markdownText(s string) string {
	parts := strings.Split(s, "`")
	for i := 0; i < len(parts); i += 2 { // even parts are outside code spans
		if i == len(parts)-1 && len(parts)%2 == 0 {
			break // an unmatched backtick: leave the rest alone
		}
		r := strings.NewReplacer(`\`, `\\`, "<", `\<`, ">", `\>`, " * ", " * ", "*", `\*`)
		parts[i] = r.Replace(parts[i])
	}
	return strings.Join(parts, "`")
}

// tableCell escapes the pipes of a table cell's text.
func tableCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// anchor returns the GitHub anchor of a heading: lower case, spaces as hyphens, punctuation
// dropped.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}
