package command

import (
	"strings"
	"sync"

	"github.com/urfave/cli/v2"
)

// enumFlag makes f accept only one of choices: a value outside them is a usage error naming the
// flag and the choices (checkChoice) as soon as the command line is read. The choices are declared
// with the flag, once, rather than checked where each command reads its value; enumChoices keeps
// them by flag name for the help's test. An empty value is left to the command, which takes it
// as the flag's default.
func enumFlag(f *cli.StringFlag, choices ...string) *cli.StringFlag {
	return enum(f, choices, false)
}

// enumFlagFold is enumFlag for a flag whose words are read without regard to case.
func enumFlagFold(f *cli.StringFlag, choices ...string) *cli.StringFlag {
	return enum(f, choices, true)
}

func enum(f *cli.StringFlag, choices []string, fold bool) *cli.StringFlag {
	f.Action = func(cCtx *cli.Context, v string) error {
		if v == "" {
			return nil
		}
		if fold {
			v = strings.ToLower(v)
		}
		return checkChoice(cCtx, f.Name, v, choices)
	}
	enumMu.Lock()
	enumChoices[f.Name] = choices
	enumMu.Unlock()
	return f
}

// enumChoices holds the choices of every enum flag made, by name (for the help's test); enumMu
// guards it, since every Main builds its flags anew and Main may run concurrently.
var (
	enumMu      sync.Mutex
	enumChoices = map[string][]string{}
)
