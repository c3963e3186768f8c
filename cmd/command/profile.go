package command

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"sync"

	"github.com/urfave/cli/v2"
)

// The CPU profile of --cpuprofile: started before the command runs, stopped by Main when it returns.
var (
	profMu   sync.Mutex
	profFile *os.File
)

// startProfile starts the CPU profile named by --cpuprofile, once per process.
func startProfile(cCtx *cli.Context) error {
	path := globalString(cCtx, flagCPUProf)
	profMu.Lock()
	defer profMu.Unlock()
	if path == "" || profFile != nil {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--%s: %w", flagCPUProf, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("--%s %s: %w", flagCPUProf, path, err)
	}
	profFile = f
	return nil
}

// stopProfile stops a profile startProfile started and closes its file.
func stopProfile() error {
	profMu.Lock()
	defer profMu.Unlock()
	if profFile == nil {
		return nil
	}
	pprof.StopCPUProfile()
	err := profFile.Close()
	name := profFile.Name()
	profFile = nil
	if err != nil {
		return fmt.Errorf("--%s %s: %w", flagCPUProf, name, err)
	}
	slog.Info("wrote CPU profile", "file", name)
	return nil
}
