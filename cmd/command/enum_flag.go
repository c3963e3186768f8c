package command

import (
	"github.com/urfave/cli/v2"
)

// enumFlag makes f accept only one of choices: a value outside them is a usage error naming the
// flag and the choices (checkChoice) as soon as the command line is read. The choices are declared
// with the flag, once, rather than checked where each command reads its value; enumChoices keeps
// them by flag name for the help's test.
func enumFlag(f *cli.StringFlag, choices ...string) *cli.StringFlag {
	f.Action = func(cCtx *cli.Context, v string) error { return checkChoice(cCtx, f.Name, v, choices) }
	enumChoices[f.Name] = choices
	return f
}

// enumChoices holds the choices of every enum flag made, by name.
var enumChoices = map[string][]string{}
