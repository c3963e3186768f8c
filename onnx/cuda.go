package onnx

import (
	"fmt"
	"runtime"
	"strconv"

	ort "github.com/yalue/onnxruntime_go"
)

// This file holds what a session on CUDA needs beyond one on CPU: the provider, appended through
// onnxruntime_go's version-2 CUDA options, and the OS thread every native call of the session runs
// on, with the process's signal handlers kept (keepSignals).

// cudaHint is what an error of the CUDA provider adds: what the provider needs.
const cudaHint = "needs the CUDA build of onnxruntime from scripts/setup.sh --cuda, an NVIDIA driver, " +
	"CUDA 13 (libcudart.so.13, libcublas.so.13, libcublasLt.so.13, libcurand.so.10) and cuDNN 9 on the library path"

// appendCUDA adds the CUDA execution provider for GPU gpuID to so, with onnxruntime's default
// settings otherwise. The provider library (libonnxruntime_providers_cuda.so, beside the core) is
// loaded here, so this is where a missing CUDA library is reported; a core built without CUDA
// answers "CUDA execution provider is not enabled in this build" to the first call.
func appendCUDA(so *ort.SessionOptions, gpuID int) error {
	co, err := ort.NewCUDAProviderOptions()
	if err != nil {
		return fmt.Errorf("%w on cuda:%d (%s): create CUDA provider options: %v", ErrCUDAUnavailable, gpuID, cudaHint, err)
	}
	defer co.Destroy()
	if err := co.Update(map[string]string{"device_id": strconv.Itoa(gpuID)}); err != nil {
		return fmt.Errorf("%w on cuda:%d (%s): set device_id %d: %v", ErrCUDAUnavailable, gpuID, cudaHint, gpuID, err)
	}
	if err := so.AppendExecutionProviderCUDA(co); err != nil {
		return fmt.Errorf("%w on cuda:%d (%s): %v", ErrCUDAUnavailable, gpuID, cudaHint, err)
	}
	return nil
}

// osThread runs functions one at a time on one goroutine locked to its OS thread.
//
// onnxruntime's CUDA provider keeps per-thread state: a thread_local map from provider to a
// PerThreadContext, made on a thread's first run and retired when the thread ends (onnxruntime
// PRs #1149 and #4017); each run first sets the device (cudaSetDevice, PR #3475), so a run from any
// thread is correct. But Go moves a goroutine between OS threads at will, so runs of one session
// would make a context on every thread they land on. A CUDA session therefore makes all its
// native calls, from the provider to Destroy, on one locked thread.
type osThread struct {
	work chan func()
}

// newOSThread starts the locked goroutine; stop ends it.
func newOSThread() *osThread {
	t := &osThread{work: make(chan func())}
	ready := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		close(ready)
		for f := range t.work {
			f()
		}
	}()
	<-ready
	return t
}

// do runs f on t's thread under keepSignals and returns its error. A nil t runs f on the calling
// goroutine, as it is (a session on CPU).
func (t *osThread) do(f func() error) error {
	if t == nil {
		return f()
	}
	done := make(chan error, 1)
	t.work <- func() { done <- keepSignals(f) }
	return <-done
}

// stop ends t's goroutine; t must not be used after it. A nil t is a no-op.
func (t *osThread) stop() {
	if t != nil {
		close(t.work)
	}
}
