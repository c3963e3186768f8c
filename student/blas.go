package student

import (
	"fmt"
	"log/slog"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	"gorgonia.org/gorgonia"
)

// blasImpl is what the student needs from a BLAS: gonum's interfaces for all four types, as
// gorgonia.Use wants them. Only the level-3 and level-2 routines on the hot path are native.
type blasImpl interface {
	gorgonia.BLAS
}

var (
	blasMu    sync.Mutex
	blasName  string       // backend in use; "" until chosen
	sgemmImpl blas.Float32 // what the dense ops call
	goBLAS    blasImpl     = gonum.Implementation{}
)

// UseBLAS selects the BLAS backend for every network in the process and returns the one chosen:
//
//	"auto":     OpenBLAS if libopenblas can be loaded at run time, else pure Go
//	"openblas": OpenBLAS, or an error if it cannot be loaded
//	"go":       gonum's pure Go implementation
//
// The library is searched as $DISTILL_OPENBLAS (a path), then libopenblas.so.0 and libopenblas.so
// on the dynamic loader's path. The choice is logged with slog and installed in Gorgonia (and
// gorgonia.org/tensor) with gorgonia.Use.
func UseBLAS(name string) (string, error) {
	blasMu.Lock()
	defer blasMu.Unlock()
	var (
		impl blasImpl
		got  string
	)
	switch name {
	case "go":
		impl, got = goBLAS, "go"
	case "openblas", "auto", "":
		ob, path, searched, err := loadOpenBLAS()
		if err != nil {
			if name == "openblas" {
				return "", fmt.Errorf("use blas openblas: %w (searched %v)", err, searched)
			}
			slog.Info("openblas not available, using pure Go BLAS", "searched", searched, "err", err)
			impl, got = goBLAS, "go"
		} else {
			impl, got = ob, "openblas"
			slog.Debug("openblas loaded", "path", path)
		}
	default:
		return "", fmt.Errorf("use blas: unknown backend %q (want auto, openblas or go)", name)
	}
	blasName, sgemmImpl = got, impl
	gorgonia.Use(impl)
	slog.Info("blas backend", "backend", got)
	return got, nil
}

// ensureBLAS picks the "auto" backend if none was chosen yet.
func ensureBLAS() {
	blasMu.Lock()
	chosen := blasName != ""
	blasMu.Unlock()
	if !chosen {
		_, _ = UseBLAS("auto")
	}
}

// currentBLAS returns the float32 BLAS in use.
func currentBLAS() blas.Float32 {
	blasMu.Lock()
	defer blasMu.Unlock()
	if sgemmImpl == nil {
		return goBLAS
	}
	return sgemmImpl
}
