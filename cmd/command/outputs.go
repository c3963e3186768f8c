package command

import (
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/distillgo/distill/internal/outputs"
	"github.com/distillgo/distill/pipeline/train"
)

// overwriteFlag is --overwrite, one rule for every command that writes files: an existing output
// is refused unless it is given. what names the outputs it lets the command replace.
func overwriteFlag(what string) cli.Flag {
	return &cli.BoolFlag{Name: "overwrite", Usage: "replace " + what + " if it exists (without it an existing one is refused)"}
}

// claimFiles checks the files of the command running in cCtx and locks its outputs (see package
// internal/outputs), with --cpuprofile among the outputs, then starts the CPU profile. Every
// command calls it before any work; the caller defers the release it returns, which drops the
// locks when the command ends.
//
// The profile is a diagnostic replaced on every run: it is only checked against the command's
// other files, never locked nor refused for existing.
func claimFiles(cCtx *cli.Context, plan outputs.Plan) (release func(), err error) {
	if prof := globalString(cCtx, flagCPUProf); prof != "" {
		plan.Outputs = append(plan.Outputs, outputs.Output{File: outputs.File{Name: "--" + flagCPUProf, Path: prof}, Covered: true})
	}
	l, err := outputs.Claim(plan)
	if err != nil {
		return func() {}, err
	}
	if err := startProfile(cCtx); err != nil {
		l.Release()
		return func() {}, err
	}
	return l.Release, nil
}

// inFile returns the input named by flag at path, for a plan.
func inFile(flag, path string) outputs.File { return outputs.File{Name: "--" + flag, Path: path} }

// outFile returns the output named by flag at path, for a plan; cont marks an output the command
// continues rather than replaces.
func outFile(flag, path string, cont bool) outputs.Output {
	return outputs.Output{File: inFile(flag, path), Continue: cont}
}

// arrayInputs returns the files of --input or --teacher-input arrays: "<file>.npz:<key>" is the
// archive's file.
func arrayInputs(flag string, ins []train.TeacherInput) []outputs.File {
	var out []outputs.File
	for _, in := range ins {
		p := in.Path
		if _, err := os.Stat(p); err != nil {
			if f, _, ok := strings.Cut(p, ".npz:"); ok {
				p = f + ".npz"
			}
		}
		out = append(out, inFile(flag, p))
	}
	return out
}
