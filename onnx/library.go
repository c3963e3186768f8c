package onnx

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/distillgo/distill/internal/option"
	ort "github.com/yalue/onnxruntime_go"
)

// LibraryEnv is the environment variable naming the onnxruntime shared library; it is consulted
// after the --ort-lib flag and before the copy fetched by scripts/setup.sh.
const LibraryEnv = "ONNXRUNTIME_LIB"

// ErrLibraryNotFound is returned (wrapped) by FindLibrary when no onnxruntime library is found.
var ErrLibraryNotFound = errors.New("onnxruntime library not found")

// FindLibrary locates the onnxruntime shared library. It tries, in order: flagPath (Runtime.Lib,
// which the command line sets from its --ort-lib flag), $ONNXRUNTIME_LIB, then third_party/onnxruntime/cpu/libonnxruntime.so* (cuda/ when cuda is
// true) in the working directory and each of its parents, then likewise from the directory of the
// running executable. A path given by flag or environment must exist; it is not silently skipped.
// It returns the path found and every candidate it looked at, in order. When nothing is found the
// error is one line naming the command that fetches the library.
func FindLibrary(flagPath string, cuda bool) (path string, searched []string, err error) {
	for _, c := range []struct{ from, path string }{{"", flagPath}, {"$" + LibraryEnv, os.Getenv(LibraryEnv)}} {
		if c.path == "" {
			continue
		}
		searched = append(searched, c.path)
		slog.Debug("onnxruntime library: trying", "from", cmp.Or(c.from, "Runtime.Lib"), "path", c.path)
		st, err := os.Stat(c.path)
		if err == nil && st.IsDir() {
			err = fmt.Errorf("%s is a directory", c.path)
		}
		if err != nil && c.from == "" {
			return "", searched, option.Errorf("onnx", "Runtime.Lib", "onnxruntime library: %w", err)
		}
		if err != nil {
			return "", searched, fmt.Errorf("onnxruntime library from %s: %w", c.from, err)
		}
		slog.Debug("onnxruntime library found", "from", cmp.Or(c.from, "Runtime.Lib"), "path", c.path)
		return c.path, searched, nil
	}

	flavour := "cpu"
	if cuda {
		flavour = "cuda"
	}
	rel := filepath.Join("third_party", "onnxruntime", flavour)
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err := filepath.EvalSymlinks(exe); err == nil {
			starts = append(starts, filepath.Dir(exe))
		}
	}
	seen := map[string]bool{}
	for _, start := range starts {
		for dir := start; ; dir = filepath.Dir(dir) {
			cand := filepath.Join(dir, rel)
			if !seen[cand] {
				seen[cand] = true
				searched = append(searched, filepath.Join(cand, "libonnxruntime.so*"))
				slog.Debug("onnxruntime library: trying", "dir", cand)
				if p := libraryIn(cand); p != "" {
					slog.Debug("onnxruntime library found", "from", "default location", "path", p)
					return p, searched, nil
				}
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	setup := "scripts/setup.sh"
	if cuda {
		setup = "scripts/setup.sh --cuda"
	}
	return "", searched, fmt.Errorf("%w (no library path given, no $%s, no %s/libonnxruntime.so* above %s): run %s to fetch it",
		ErrLibraryNotFound, LibraryEnv, rel, strings.Join(starts, " or "), setup)
}

// libraryIn returns the onnxruntime library in dir, preferring libonnxruntime.so, then the
// shortest versioned name (libonnxruntime.so.1 before libonnxruntime.so.1.30.0), or "".
func libraryIn(dir string) string {
	matches, _ := filepath.Glob(filepath.Join(dir, "libonnxruntime.so*"))
	var files []string
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() {
			files = append(files, m)
		}
	}
	sort.Slice(files, func(i, j int) bool {
		if len(files[i]) != len(files[j]) {
			return len(files[i]) < len(files[j])
		}
		return files[i] < files[j]
	})
	if len(files) == 0 {
		return ""
	}
	return files[0]
}

var (
	initMu   sync.Mutex
	initOnce sync.Once
	initPath string
	initErr  error
)

// Init loads the onnxruntime library at libPath and creates the process-wide environment. It runs
// once per process: later calls with the same path return the first call's result, and calls with
// another path fail.
func Init(libPath string) error {
	initMu.Lock()
	defer initMu.Unlock()
	if initPath != "" && initPath != libPath {
		if initErr != nil {
			return fmt.Errorf("init onnxruntime %s: an earlier attempt with %s failed and onnxruntime loads once per process: %w", libPath, initPath, initErr)
		}
		return fmt.Errorf("init onnxruntime %s: already initialised with %s", libPath, initPath)
	}
	initPath = libPath
	initOnce.Do(func() {
		if _, err := os.Stat(libPath); err != nil {
			initErr = fmt.Errorf("init onnxruntime %s: %w", libPath, err)
			return
		}
		ort.SetSharedLibraryPath(libPath)
		if err := ort.InitializeEnvironment(); err != nil {
			initErr = fmt.Errorf("init onnxruntime %s: %w", libPath, err)
			return
		}
		slog.Info("onnxruntime initialised", "path", libPath, "version", ort.GetVersion())
	})
	return initErr
}

// Initialized reports whether Init has succeeded, and with which library.
func Initialized() (libPath string, ok bool) {
	initMu.Lock()
	defer initMu.Unlock()
	return initPath, initPath != "" && initErr == nil && ort.IsInitialized()
}
