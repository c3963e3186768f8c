//go:build linux && (amd64 || arm64)

package onnx

import (
	"errors"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// kernelSigaction is the kernel's struct sigaction of rt_sigaction(2) on linux/amd64 and arm64.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const (
	saOnStack = 0x08000000 // SA_ONSTACK
	sigIgn    = 1          // SIG_IGN
)

// rtSigaction reads sig's disposition into old and, when act is not nil, sets it to act, behind
// the Go runtime's back, as native code does.
func rtSigaction(t *testing.T, sig syscall.Signal, act, old *kernelSigaction) {
	t.Helper()
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig),
		uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), 8, 0, 0)
	if errno != 0 {
		t.Fatalf("rt_sigaction(%v): %v", sig, errno)
	}
}

// TestKeepSignals changes SIGINT's handler as the CUDA libraries do in onnxruntime_go issue #140
// (SA_ONSTACK dropped) and SIGTERM's to SIG_IGN inside keepSignals, then checks that both are
// Go's again afterwards and that both signals reach signal.Notify. Without the restore, SIGINT
// would kill the test binary ("signal handler not on signal stack") and SIGTERM would be lost.
func TestKeepSignals(t *testing.T) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(ch)

	var goINT, goTERM kernelSigaction
	rtSigaction(t, syscall.SIGINT, nil, &goINT)
	rtSigaction(t, syscall.SIGTERM, nil, &goTERM)
	if goINT.flags&saOnStack == 0 || goINT.handler <= sigIgn {
		t.Fatalf("SIGINT before: handler %#x flags %#x, want Go's handler with SA_ONSTACK", goINT.handler, goINT.flags)
	}

	errNative := errors.New("native call failed")
	err := keepSignals(func() error {
		bad := goINT
		bad.flags &^= saOnStack
		rtSigaction(t, syscall.SIGINT, &bad, nil)
		ign := goTERM
		ign.handler = sigIgn
		rtSigaction(t, syscall.SIGTERM, &ign, nil)
		var got kernelSigaction
		if rtSigaction(t, syscall.SIGINT, nil, &got); got.flags&saOnStack != 0 {
			t.Fatal("SIGINT still has SA_ONSTACK after it was dropped")
		}
		return errNative
	})
	if !errors.Is(err, errNative) {
		t.Errorf("keepSignals = %v, want f's error", err)
	}

	for _, c := range []struct {
		sig  syscall.Signal
		want kernelSigaction
	}{{syscall.SIGINT, goINT}, {syscall.SIGTERM, goTERM}} {
		var got kernelSigaction
		rtSigaction(t, c.sig, nil, &got)
		if got.handler != c.want.handler || got.flags != c.want.flags {
			t.Fatalf("%v after keepSignals: handler %#x flags %#x, want %#x %#x", c.sig, got.handler, got.flags, c.want.handler, c.want.flags)
		}
		if err := syscall.Kill(os.Getpid(), c.sig); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-ch:
			if s != c.sig {
				t.Errorf("signal.Notify got %v, want %v", s, c.sig)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%v was not delivered to signal.Notify", c.sig)
		}
	}
}

// TestKeepSignalsLeavesLaterHandlers checks that a handler Go installs after one keepSignals (a
// new signal.Notify) survives the next one: the snapshot is taken per call.
func TestKeepSignalsLeavesLaterHandlers(t *testing.T) {
	if err := keepSignals(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	signal.Ignore(syscall.SIGUSR2)
	defer signal.Reset(syscall.SIGUSR2)
	var before kernelSigaction
	rtSigaction(t, syscall.SIGUSR2, nil, &before)
	if before.handler != sigIgn {
		t.Fatalf("SIGUSR2 after signal.Ignore: handler %#x, want SIG_IGN", before.handler)
	}
	if err := keepSignals(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	var after kernelSigaction
	if rtSigaction(t, syscall.SIGUSR2, nil, &after); after != before {
		t.Errorf("SIGUSR2 changed by keepSignals: %+v, want %+v", after, before)
	}
}
