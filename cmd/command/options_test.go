package command

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/distillgo/distill/internal/option"
)

// TestOptionFlagsDoNotDrift: the flags an option error names are derived from the options' `flag`
// tags (options.go); every tag names flags its command really has, every training option has a
// tag (or is filled by the command from other flags), and the message names the tagged flags. A
// renamed flag, or a new option without its flag, fails here.
func TestOptionFlagsDoNotDrift(t *testing.T) {
	commands := map[string]*cli.Command{"train": trainCommand(), "eval": evalCommand(), "predict": predictCommand(),
		"export": exportCommand(), "sweep": sweepCommand()}
	for scope, ty := range optionTypes {
		cmd := commands[scope]
		if cmd == nil {
			t.Fatalf("scope %s: no command to check its tags against", scope)
		}
		flags := map[string]bool{}
		for _, f := range append(slices.Clone(cmd.Flags), globalFlags()...) {
			for _, n := range f.Names() {
				flags[n] = true
			}
		}
		tagged := 0
		walkTags(ty, "", scope == "sweep", func(path, tag string) {
			tagged++
			for _, name := range strings.Split(tag, ",") {
				if !flags[name] {
					t.Errorf("%s: option %s names --%s, which %s does not have", scope, path, name, cmd.Name)
				}
			}
			got := flagFor(&option.Error{Scope: scope, Option: path}, cmd.Name)
			if !strings.HasPrefix(got, strings.Split(tag, ",")[0]) && scope != "sweep" {
				t.Errorf("%s: an error on %s names --%s, want the tag's %s", scope, path, got, tag)
			}
		})
		if tagged == 0 {
			t.Errorf("%s: no option has a flag tag", scope)
		}
	}
	// Every training option has its flags, but those the command fills in from other flags.
	internal := map[string]bool{"Format": true}
	ty := optionTypes["train"]
	for i := range ty.NumField() {
		emb := ty.Field(i)
		for j := range emb.Type.NumField() {
			f := emb.Type.Field(j)
			if f.Tag.Get("flag") == "" && !internal[f.Name] {
				t.Errorf("train option %s.%s has no flag tag", emb.Name, f.Name)
			}
		}
	}
}

// walkTags calls fn with the path and tag of every field of t (and of the structs it holds) that
// has a `flag` tag; skipTrain leaves out sweep's Train field, checked as train's.
func walkTags(t reflect.Type, prefix string, skipTrain bool, fn func(path, tag string)) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || (skipTrain && prefix == "" && f.Name == "Train") {
			continue
		}
		path := prefix + f.Name
		if f.Anonymous {
			path = prefix
		}
		if tag := f.Tag.Get("flag"); tag != "" {
			fn(path, tag)
			continue
		}
		if f.Anonymous {
			walkTags(f.Type, path, false, fn)
		} else if f.Type.PkgPath() != "" && strings.Contains(f.Type.PkgPath(), "distillgo") {
			walkTags(f.Type, path+".", false, fn)
		}
	}
}
