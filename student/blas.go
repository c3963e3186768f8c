package student

import (
	"fmt"
	"log/slog"
	"os"
	"sync"

	"golang.org/x/sys/cpu"
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

	openBLASCore string // OpenBLAS's kernel set (openblas_get_corename) once loaded, "" if unknown
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
	if got == "openblas" {
		slog.Info("blas backend", "backend", got, "core", openBLASCore)
	} else {
		slog.Info("blas backend", "backend", got)
	}
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

// coreTypeEnv is the variable a DYNAMIC_ARCH build of OpenBLAS reads, when it loads, to choose its
// kernels instead of detecting the CPU.
const coreTypeEnv = "OPENBLAS_CORETYPE"

// cpuFeatures are the x86 features that decide OpenBLAS's kernel set.
type cpuFeatures struct {
	AVX2, FMA                   bool
	AVX512F, AVX512CD, AVX512BW bool
	AVX512DQ, AVX512VL          bool
}

// hostFeatures returns this CPU's features as golang.org/x/sys/cpu reports them (AVX and AVX-512
// only when the OS saves their registers; all false off x86).
func hostFeatures() cpuFeatures {
	x := cpu.X86
	return cpuFeatures{AVX2: x.HasAVX2, FMA: x.HasFMA, AVX512F: x.HasAVX512F, AVX512CD: x.HasAVX512CD,
		AVX512BW: x.HasAVX512BW, AVX512DQ: x.HasAVX512DQ, AVX512VL: x.HasAVX512VL}
}

// coreTypeFor returns the OpenBLAS kernel set for a CPU with the given features: "SkylakeX" with
// AVX-512 (F, CD, BW, DQ and VL), "Haswell" with AVX2 and FMA, and "" (leave it to OpenBLAS)
// otherwise. These are the kernels OpenBLAS itself picks for the CPUs it knows; naming them
// matters for the CPUs it does not know, for which its detection falls back to a generic SSE3 core
// ("Prescott") several times slower at sgemm (docs/design.md has the measurement).
func coreTypeFor(f cpuFeatures) string {
	switch {
	case f.AVX512F && f.AVX512CD && f.AVX512BW && f.AVX512DQ && f.AVX512VL:
		return "SkylakeX"
	case f.AVX2 && f.FMA:
		return "Haswell"
	}
	return ""
}

// setCoreType sets OPENBLAS_CORETYPE from the CPU's features before OpenBLAS is loaded, unless the
// user set it. With cgo, os.Setenv also sets the C environment that OpenBLAS's constructor reads.
func setCoreType() {
	if _, ok := os.LookupEnv(coreTypeEnv); ok {
		return
	}
	if ct := coreTypeFor(hostFeatures()); ct != "" {
		_ = os.Setenv(coreTypeEnv, ct) // on failure OpenBLAS detects the CPU itself, as before
	}
}
