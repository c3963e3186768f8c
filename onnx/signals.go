package onnx

/*
#include <signal.h>
#include <stdlib.h>
#include <string.h>

// distill_signals holds one snapshot of the process's signal dispositions, signal by signal.
typedef struct {
	struct sigaction act[NSIG];
	unsigned char ok[NSIG]; // sigaction could read the signal (not SIGKILL, SIGSTOP, glibc's own)
} distill_signals;

static distill_signals* distill_signals_save(void) {
	distill_signals* s = calloc(1, sizeof(distill_signals));
	if (s == NULL) {
		return NULL;
	}
	for (int sig = 1; sig < NSIG; sig++) {
		s->ok[sig] = sigaction(sig, NULL, &s->act[sig]) == 0;
	}
	return s;
}

static int distill_same_action(const struct sigaction* a, const struct sigaction* b) {
	if (a->sa_flags != b->sa_flags) {
		return 0;
	}
	if (a->sa_flags & SA_SIGINFO) {
		return a->sa_sigaction == b->sa_sigaction;
	}
	return a->sa_handler == b->sa_handler;
}

// distill_signals_restore puts back every disposition that differs from the snapshot s, writes
// the numbers of those signals to changed (room for NSIG) and returns how many there were, or -1
// when one could not be restored.
static int distill_signals_restore(const distill_signals* s, int* changed) {
	int n = 0;
	for (int sig = 1; sig < NSIG; sig++) {
		if (!s->ok[sig]) {
			continue;
		}
		struct sigaction cur;
		if (sigaction(sig, NULL, &cur) != 0 || distill_same_action(&cur, &s->act[sig])) {
			continue;
		}
		if (sigaction(sig, &s->act[sig], NULL) != 0) {
			return -1;
		}
		changed[n++] = sig;
	}
	return n;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"unsafe"
)

// signalsMu serialises the native calls made under keepSignals, so that one call's snapshot is
// not taken while another call's library may be changing the handlers.
var signalsMu sync.Mutex

// keepSignals runs f, a call into native code that may install signal handlers, and then puts
// back every signal disposition that f changed. Go's runtime requires that a handler installed by
// non-Go code use SA_ONSTACK, and it delivers SIGINT and SIGTERM to signal.Notify only through its
// own handlers; the CUDA libraries that onnxruntime's CUDA provider loads install handlers of
// their own (onnxruntime_go issue #140: "non-Go code set up signal handler without SA_ONSTACK
// flag" on Ctrl+C), so every native call of a CUDA session runs under keepSignals. The snapshot is
// taken just before f, not once, so that handlers Go installs later (a new signal.Notify) are not
// undone. A change is logged at debug level, naming the signals.
func keepSignals(f func() error) error {
	signalsMu.Lock()
	defer signalsMu.Unlock()
	saved := C.distill_signals_save()
	if saved == nil {
		return errors.New("save signal handlers: out of memory")
	}
	defer C.free(unsafe.Pointer(saved))
	err := f()
	changed := make([]C.int, C.NSIG)
	n := int(C.distill_signals_restore(saved, &changed[0]))
	if n < 0 {
		return errors.Join(err, errors.New("restore the signal handlers that onnxruntime changed: sigaction failed"))
	}
	if n > 0 {
		names := make([]string, n)
		for i, sig := range changed[:n] {
			names[i] = fmt.Sprint(syscall.Signal(sig))
		}
		slog.Debug("restored signal handlers changed by onnxruntime's native code", "signals", names)
	}
	return err
}
