package main

import (
	"os"

	"github.com/distillgo/distill/cmd/command"
)

func main() { os.Exit(command.Main(os.Args, os.Stdout, os.Stderr)) }
