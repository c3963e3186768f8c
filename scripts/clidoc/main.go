// Command clidoc writes docs/cli.md, the command reference of distill, from the command line
// itself (command.WriteCLIReference). Run it from the repository root after changing a command,
// a flag or a help text; cmd/command's TestCLIReference fails while docs/cli.md is stale.
//
//	go run ./scripts/clidoc -o docs/cli.md
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/distillgo/distill/cmd/command"
	"github.com/distillgo/distill/internal/atomicfile"
)

func main() {
	out := flag.String("o", "", "write the reference to `file` (default: standard output)")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "clidoc:", err)
		os.Exit(1)
	}
}

// run writes the reference to path, or to standard output when path is empty. The file is
// replaced only once the whole reference is written.
func run(path string) error {
	var buf bytes.Buffer
	if err := command.WriteCLIReference(&buf); err != nil {
		return fmt.Errorf("make the reference: %w", err)
	}
	if path == "" {
		_, err := os.Stdout.Write(buf.Bytes())
		return err
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
