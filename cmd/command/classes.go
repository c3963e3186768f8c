package command

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/distillgo/distill/pipeline/eval"
)

// parseClasses reads a comma-separated list of class indices ("3" or "7,8") given to flag; a
// class given twice or a negative one is an error naming the flag. An empty string is no list.
func parseClasses(flag, s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	seen := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || k < 0 {
			return nil, fmt.Errorf("--%s %q: %q is not a class index (0, 1, ...)", flag, s, part)
		}
		if seen[k] {
			return nil, fmt.Errorf("--%s %q: class %d given twice", flag, s, k)
		}
		seen[k] = true
		out = append(out, k)
	}
	return out, nil
}

// biasShiftsFromFlags reads every --bias-shift given (each CLASS=DELTA[,CLASS=DELTA...]) into one
// list; a class shifted twice is an error.
func biasShiftsFromFlags(cCtx *cli.Context) ([]eval.BiasShift, error) {
	g, ok := cCtx.Generic("bias-shift").(*repeatedString)
	if !ok {
		return nil, nil
	}
	var out []eval.BiasShift
	seen := map[int]bool{}
	for _, v := range g.values {
		shifts, err := eval.ParseBiasShifts(v)
		if err != nil {
			return nil, usageErrorf(cCtx, "--bias-shift: %v", err)
		}
		for _, s := range shifts {
			if seen[s.Class] {
				return nil, usageErrorf(cCtx, "--bias-shift: class %d shifted twice", s.Class)
			}
			seen[s.Class] = true
		}
		out = append(out, shifts...)
	}
	return out, nil
}

// biasShiftFlag is --bias-shift, which eval and export share.
func biasShiftFlag(what string) cli.Flag {
	return &cli.GenericFlag{Name: "bias-shift", Value: &repeatedString{},
		Usage: "add `<class>=<delta>`[,...] to the student's output bias " + what + " (e.g. 3=+3.5 or 7=-7.6,8=-7.6); repeatable"}
}
