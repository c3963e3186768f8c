// Package command is the distill command line: the urfave/cli application, its global flags,
// logging set-up and exit codes (root.go), and one file per subcommand.
//
// Rules of the house:
//   - Each subcommand lives in its own file and has a constructor `func xxxCommand() *cli.Command`
//     listed once in root.go's commands slice; an Options struct filled from its flags; and a
//     `run...(ctx, opts, stdout)` function that does the work and can be called from tests without
//     the CLI.
//   - Help text: Usage is a short imperative line, ArgsUsage names arguments as <file>, optional
//     parts in [...]; Description says what the command does and ends with an example.
//   - A flag that several subcommands take is defined once: the preprocessing flags (--scale,
//     --mean, --std, --input-shape and their --teacher- forms) in preprocess_flags.go, so that
//     targets, train and eval parse and describe them alike; requireFlags in root.go.
//   - Exit codes are decided only in Main: 0 success, 1 runtime error, 2 usage error. A flag parse
//     error or an error made with usageErrorf is a usage error and is the only kind that prints
//     the command's usage. Nothing below Main calls os.Exit or log.Fatal.
//   - Logs go through log/slog to stderr (--log-level, --log-format); output meant for people goes
//     to the stdout writer given to Main, so tests can read it.
//   - onnxruntime is loaded lazily, only by commands that run a model, through initRuntime, which
//     logs where it looked for the library.
//   - The context given to commands is cancelled on SIGINT or SIGTERM, so long runs stop cleanly
//     (temporary files are removed, nothing half-written is left under the final name).
package command
