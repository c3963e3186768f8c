// Package logs holds what the commands and the pipeline agree on about logging.
package logs

import "log/slog"

// Echo is the level of a record that repeats, with every field and unrounded, what a command
// prints for people on stdout (an epoch's line, the summary of a written file): for machines.
// `--log-format json` keeps these records (as INFO); the text format shows them only at
// `--log-level debug`, so that a person reading the terminal sees each fact once.
const Echo = slog.LevelInfo - 1
