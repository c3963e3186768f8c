package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/distillgo/distill/internal/logs"
	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/purego/direct"
)

// Exit codes returned by Main.
const (
	ExitOK      = 0 // success
	ExitRuntime = 1 // the command ran and failed: bad input file, teacher error, I/O error, interrupted
	ExitUsage   = 2 // the command line was wrong: unknown flag, missing argument, bad flag value
)

// commands lists the constructors of every subcommand, in the order `distill --help` shows them.
// A new subcommand adds one line here.
var commands = []func() *cli.Command{
	inspectCommand,
	targetsCommand,
	trainCommand,
	evalCommand,
	exportCommand,
	predictCommand,
	sweepCommand,
}

// Global flag names. They are accepted both before the subcommand (`distill --log-level debug
// inspect m.onnx`) and among its own flags (`distill inspect --log-level debug m.onnx`).
const (
	flagORTLib    = "ort-lib"
	flagLogLevel  = "log-level"
	flagLogFormat = "log-format"
	flagCPUProf   = "cpuprofile"
)

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:      flagORTLib,
			Usage:     "load onnxruntime from `<file>` (default: $" + onnx.LibraryEnv + ", else the copy scripts/setup.sh fetched into third_party/onnxruntime/)",
			TakesFile: true,
		},
		&cli.StringFlag{Name: flagLogLevel, Value: "info", Usage: "log level: debug, info, warn or error"},
		enumFlagFold(&cli.StringFlag{Name: flagLogFormat, Value: "text", Usage: "log format on stderr: text or json"}, "text", "json"),
		&cli.StringFlag{Name: flagCPUProf, Usage: "write a Go CPU profile of the run to `<file>` (read it with 'go tool pprof')", TakesFile: true},
	}
}

// usageError marks an error as the user's command-line mistake: Main prints it with the usage of
// the command it happened in and exits with ExitUsage.
type usageError struct {
	err error
	ctx *cli.Context // the command whose usage to print; nil for the application's
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf returns a usage error for the command running in cCtx.
func usageErrorf(cCtx *cli.Context, format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...), ctx: cCtx}
}

// wantArgs checks that the command got exactly n positional arguments, described by what (e.g.
// "<model.onnx>"), and returns them.
func wantArgs(cCtx *cli.Context, n int, what string) ([]string, error) {
	args := cCtx.Args().Slice()
	if len(args) != n {
		return nil, usageErrorf(cCtx, "%s: want %d argument%s %s, got %d", cCtx.Command.Name, n, plural(n), what, len(args))
	}
	return args, nil
}

// requireFlags returns a usage error naming the first of the flags that was not given. (urfave/cli's
// own Required check is not a usage error, so the commands check here.)
func requireFlags(cCtx *cli.Context, names ...string) error {
	for _, n := range names {
		if cCtx.String(n) == "" {
			return usageErrorf(cCtx, "--%s is required", n)
		}
	}
	return nil
}

// Choices of the flags that several commands take.
var (
	choicesDevice = []string{"cpu", "cuda", "auto"}
	choicesBLAS   = []string{"auto", "openblas", "go"}
	choicesOutput = []string{"auto", "logits", "probs", "logprobs"}
)

// writeJSON writes v to w as indented JSON, the form of every command's --json.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// checkChoice returns a usage error when the value val of --flag is not one of ok, listing them.
func checkChoice(cCtx *cli.Context, flag, val string, ok []string) error {
	if slices.Contains(ok, val) {
		return nil
	}
	list := strings.Join(ok[:len(ok)-1], ", ") + " or " + ok[len(ok)-1]
	return usageErrorf(cCtx, "--%s %q: want %s", flag, val, list)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Version is the version printed by `distill --version`, the one every file distill writes
// records: meta.Version, stamped at build from the VERSION file.
func Version() string { return meta.Version }

// newApp builds the application writing people's output to stdout and help for errors to stderr.
func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:  "distill",
		Usage: "distil an ONNX teacher into a small student network",
		Description: "distill runs an ONNX teacher under onnxruntime to make soft targets, trains a small student\n" +
			"on them (Hinton et al. 2015, \"Distilling the Knowledge in a Neural Network\"), evaluates it\n" +
			"and exports it to ONNX. Run `distill <command> --help` for each command.",
		Version:         Version(),
		Flags:           globalFlags(),
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: false, // `distill help <command>` prints the command's help
		// Never let urfave/cli call os.Exit: Main decides exit codes.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(cCtx *cli.Context, err error, _ bool) error {
			return &usageError{err: err, ctx: cCtx}
		},
		Before: setupLogging,
		Action: func(cCtx *cli.Context) error {
			if cCtx.Args().Present() {
				return usageErrorf(cCtx, "unknown command %q", cCtx.Args().First())
			}
			return usageErrorf(cCtx, "no command given")
		},
	}
	for _, mk := range commands {
		c := mk()
		prepareCommand(c)
		app.Commands = append(app.Commands, c)
	}
	return app
}

// prepareCommand gives c and its subcommands the global flags (unless a command already defines
// a flag of that name), logging set-up before the action, and usage errors for bad flags.
func prepareCommand(c *cli.Command) {
	have := map[string]bool{}
	for _, f := range c.Flags {
		for _, n := range f.Names() {
			have[n] = true
		}
	}
	for _, f := range globalFlags() {
		if !have[f.Names()[0]] {
			c.Flags = append(c.Flags, f)
		}
	}
	if act := c.Action; act != nil {
		// Errors below the command line name options by field: name their flags.
		c.Action = func(cCtx *cli.Context) error { return optionError(cCtx, act(cCtx), false) }
	}
	before := c.Before
	c.Before = func(cCtx *cli.Context) error {
		if err := setupLogging(cCtx); err != nil {
			return err
		}
		if before != nil {
			return before(cCtx)
		}
		return nil
	}
	c.HideHelpCommand = true
	c.OnUsageError = func(cCtx *cli.Context, err error, _ bool) error {
		return &usageError{err: err, ctx: cCtx}
	}
	for _, s := range c.Subcommands {
		prepareCommand(s)
	}
}

// globalString returns the value of a global flag, preferring the innermost command where it was
// set explicitly, then the application default.
func globalString(cCtx *cli.Context, name string) string {
	for _, c := range cCtx.Lineage() {
		if c.Command != nil && c.IsSet(name) {
			return c.String(name)
		}
	}
	return cCtx.String(name)
}

// setupLogging installs the slog default logger on the application's error writer according to
// --log-level and --log-format.
func setupLogging(cCtx *cli.Context) error {
	var level slog.Level
	switch l := strings.ToLower(globalString(cCtx, flagLogLevel)); l {
	case "debug":
		level = slog.LevelDebug
	case "info", "":
		level = slog.LevelInfo
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return usageErrorf(cCtx, "--%s %q: want debug, info, warn or error", flagLogLevel, l)
	}
	w := cCtx.App.ErrWriter
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if f := strings.ToLower(globalString(cCtx, flagLogFormat)); f == "json" && level == slog.LevelInfo {
		// Machines get the records that repeat people's lines, with every field, as INFO.
		opts.Level = logs.Echo
		opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.LevelKey && a.Value.Any() == logs.Echo {
				return slog.String(slog.LevelKey, slog.LevelInfo.String())
			}
			return a
		}
	}
	switch f := strings.ToLower(globalString(cCtx, flagLogFormat)); f {
	case "text", "":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return usageErrorf(cCtx, "--%s %q: want text or json", flagLogFormat, f)
	}
	slog.SetDefault(slog.New(h))
	return nil
}

// runtimeFlags returns the onnxruntime flags --device, --gpu-id and --threads that targets, train
// and eval share; what names the models they apply to ("the teachers", "the online teacher", ...).
func runtimeFlags(what string) []cli.Flag {
	return []cli.Flag{
		enumFlag(&cli.StringFlag{Name: "runtime", Value: runtimeORT, Usage: "run " + what + " with `<runtime>`: ort (onnxruntime) or go (pure Go, CPU: every operator distill exports, see docs/guide/training.md, Student specs)"}, runtimeORT, runtimeGo),
		enumFlag(&cli.StringFlag{Name: "device", Value: "cpu", Usage: "run " + what + " on `<device>`: cpu, cuda or auto (CUDA if it loads, else CPU)"}, choicesDevice...),
		&cli.IntFlag{Name: "gpu-id", Usage: "CUDA device ordinal `<n>` for --device cuda or auto"},
		&cli.IntFlag{Name: "threads", Usage: "onnxruntime intra-op `<threads>` for " + what + " (0: onnxruntime's default, one per core; at most 4 per core)"},
	}
}

// Runtime names of --runtime.
const (
	runtimeORT = "ort" // onnxruntime, through package onnx
	runtimeGo  = "go"  // the pure-Go runtime onnx/purego/direct
)

// modelRuntime is how the command runs models: onnxruntime with its settings, or pure Go. It
// implements model.Runtime.
type modelRuntime struct {
	Name string       // runtimeORT (default when empty) or runtimeGo
	ORT  onnx.Runtime // onnxruntime's library, device and threads
}

// Open opens the model at path with the chosen runtime.
func (r *modelRuntime) Open(path string, o model.Options) (model.Model, error) {
	if r.Name == runtimeGo {
		m, err := direct.Runtime{}.Open(path, o)
		if err != nil {
			return nil, fmt.Errorf("--runtime go: %w", err)
		}
		return m, nil
	}
	return r.ORT.Open(path, o)
}

// runtimeFromFlags reads and checks the flags of runtimeFlags and --ort-lib: how models are run.
func runtimeFromFlags(cCtx *cli.Context) (modelRuntime, error) {
	rt := modelRuntime{Name: cCtx.String("runtime"), ORT: onnx.Runtime{Lib: globalString(cCtx, flagORTLib), Device: cCtx.String("device"),
		GPUID: cCtx.Int("gpu-id"), Threads: cCtx.Int("threads")}}
	if rt.Name == "" {
		rt.Name = runtimeORT // a command without the runtime flags (sweep) never runs a model
	}
	if rt.ORT.Device == "" {
		rt.ORT.Device = "cpu"
	}
	if rt.Name == runtimeGo && rt.ORT.Device != "cpu" {
		return rt, usageErrorf(cCtx, "--runtime go with --device %s: the pure-Go runtime runs on the CPU", rt.ORT.Device)
	}
	if rt.ORT.GPUID < 0 {
		return rt, usageErrorf(cCtx, "--gpu-id %d: must not be negative", rt.ORT.GPUID)
	}
	if rt.ORT.Threads < 0 {
		return rt, usageErrorf(cCtx, "--threads %d: must not be negative", rt.ORT.Threads)
	}
	if rt.ORT.Threads > onnx.MaxThreads() {
		return rt, usageErrorf(cCtx, "--threads %d: at most %d (4 per core on this machine's %d)", rt.ORT.Threads, onnx.MaxThreads(), runtime.NumCPU())
	}
	return rt, nil
}

// Main runs the distill command line with args (args[0] is the program name) and returns the
// process exit code. It is the only place that decides exit codes.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Until a command sets up logging, log plainly to stderr.
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))

	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, args)
	if perr := stopProfile(); perr != nil && err == nil {
		err = perr
	}
	if err == nil {
		return ExitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		// One short message: the error, the closest flag or command when one is close, and where
		// the flags are described (not the whole usage, which buries the error).
		fmt.Fprintf(stderr, "distill: %v\n", ue.err)
		if strings.HasPrefix(ue.err.Error(), "no command given") {
			// Nothing was asked: the commands are the answer.
			fmt.Fprintln(stderr)
			printUsage(app, ue.ctx, stderr)
			return ExitUsage
		}
		if s := suggestion(ue.ctx, ue.err); s != "" {
			fmt.Fprintf(stderr, "did you mean %s?\n", s)
		}
		what := "the flags"
		if strings.HasPrefix(ue.err.Error(), "unknown command") || strings.HasPrefix(ue.err.Error(), "no command") {
			what = "the commands"
		}
		fmt.Fprintf(stderr, "run '%s' for %s\n", helpCommand(ue.ctx), what)
		return ExitUsage
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// The signal is the cause: say so, not "context canceled".
		msg := err.Error()
		if stripped := strings.ReplaceAll(msg, ": "+context.Canceled.Error(), ""); strings.Contains(stripped, "interrupted") {
			msg = stripped
		} else {
			msg = strings.ReplaceAll(msg, context.Canceled.Error(), "interrupted")
		}
		fmt.Fprintf(stderr, "distill: %s\n", msg)
		return ExitRuntime
	}
	fmt.Fprintf(stderr, "distill: %v\n", err)
	return ExitRuntime
}

// printUsage writes the help of the command running in cCtx (the application's when cCtx is nil or
// the root) to w.
func printUsage(app *cli.App, cCtx *cli.Context, w io.Writer) {
	app.Writer = w
	if cCtx == nil || cCtx.Command == nil || cCtx.Command.Name == "" || cCtx.Command.Name == app.Name {
		if cCtx == nil {
			cCtx = cli.NewContext(app, nil, nil)
		}
		_ = cli.ShowAppHelp(cCtx)
		return
	}
	tmpl := cli.CommandHelpTemplate
	if len(cCtx.Command.Subcommands) > 0 {
		tmpl = cli.SubcommandHelpTemplate
	}
	if cCtx.Command.CustomHelpTemplate != "" {
		tmpl = cCtx.Command.CustomHelpTemplate
	}
	cli.HelpPrinter(w, tmpl, cCtx.Command)
}
