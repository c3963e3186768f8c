// Package option is the error type the pipeline's Validate methods return for an option that is
// wrong: it names the option by its field, and the command line maps the field to its flag, so
// that errors below the command line never name flags.
package option

import "fmt"

// Error reports an option that is wrong on its own or with another.
type Error struct {
	Scope  string // what was being configured: "train", "eval", "export", "sweep"
	Option string // the option's field name, e.g. "Epochs"
	Err    error  // what is wrong with it
}

func (e *Error) Error() string { return e.Scope + ": " + e.Option + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error for option of scope with a formatted message.
func Errorf(scope, option, format string, args ...any) error {
	return &Error{Scope: scope, Option: option, Err: fmt.Errorf(format, args...)}
}
