package command

import (
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/distillgo/distill/internal/option"
	"github.com/distillgo/distill/pipeline/train"
)

// TestOptionFlagsDoNotDrift: every training option an error can name maps to a flag that train
// (and sweep, for the options it shares) really has, so that the hand-kept map in options.go
// cannot drift from the flags: a renamed flag or a new option without its flag fails here.
func TestOptionFlagsDoNotDrift(t *testing.T) {
	// Options the command fills in from other flags (each --teacher spec; the data format's
	// flags, which name their own fields as Format.<field>).
	internal := map[string]bool{"OnlineTeachers": true, "Format": true}
	for _, tc := range []struct {
		command string
		cmd     *cli.Command
	}{{"train", trainCommand()}} {
		flags := map[string]bool{}
		for _, f := range append(tc.cmd.Flags, globalFlags()...) {
			for _, n := range f.Names() {
				flags[n] = true
			}
		}
		var fields []string
		for _, v := range []any{train.Inputs{}, train.Settings{}, train.Output{}} {
			ty := reflect.TypeOf(v)
			for i := range ty.NumField() {
				fields = append(fields, ty.Field(i).Name)
			}
		}
		for _, f := range fields {
			if internal[f] {
				continue
			}
			got := flagFor(&option.Error{Scope: tc.command, Option: f}, tc.command)
			// A field may name several flags: "scale, --mean, --std or --input-shape".
			for _, name := range strings.FieldsFunc(strings.NewReplacer(", --", "|", " or --", "|").Replace(got), func(r rune) bool { return r == '|' }) {
				if !flags[name] {
					t.Errorf("%s: option %s maps to --%s, which the command does not have", tc.command, f, name)
				}
			}
		}
	}
}
