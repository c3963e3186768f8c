package onnx

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// The pieces of onnxruntime's C API (onnxruntime_c_api.h, API version 24) needed to call the
// version-1 CUDA registration, which onnxruntime_go does not wrap. OrtApi is a table of function
// pointers whose order onnxruntime never changes; the indexes below were computed with offsetof
// against the header shipped in github.com/yalue/onnxruntime_go v1.27.0.
enum {
	distill_api_version = 24,
	distill_idx_GetErrorMessage = 2,
	distill_idx_ReleaseStatus = 93,
	distill_idx_SessionOptionsAppendExecutionProvider_CUDA = 152,
};

typedef struct distill_OrtStatus distill_OrtStatus;

// OrtCUDAProviderOptions, 64 bytes on x86-64.
typedef struct {
	int device_id;
	int cudnn_conv_algo_search; // OrtCudnnConvAlgoSearch; 0 = exhaustive, the C++ default
	size_t gpu_mem_limit;
	int arena_extend_strategy;
	int do_copy_in_default_stream;
	int has_user_compute_stream;
	void* user_compute_stream;
	void* default_memory_arena_cfg;
	int tunable_op_enable;
	int tunable_op_tuning_enable;
	int tunable_op_max_tuning_duration_ms;
} distill_OrtCUDAProviderOptions;

typedef struct {
	const void* (*GetApi)(uint32_t version);
	const char* (*GetVersionString)(void);
} distill_OrtApiBase;

typedef const distill_OrtApiBase* (*distill_GetApiBaseFn)(void);
typedef distill_OrtStatus* (*distill_AppendCUDAFn)(void* options, const distill_OrtCUDAProviderOptions* cuda);
typedef const char* (*distill_GetErrorMessageFn)(const distill_OrtStatus* status);
typedef void (*distill_ReleaseStatusFn)(distill_OrtStatus* status);

// distill_append_cuda_v1 calls OrtApi.SessionOptionsAppendExecutionProvider_CUDA on the session
// options of the already-loaded library lib. It returns NULL on success, else a malloc'ed message.
static char* distill_append_cuda_v1(const char* lib, void* options, int device_id) {
	void* h = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);
	if (h == NULL) {
		h = dlopen(lib, RTLD_LAZY);
	}
	if (h == NULL) {
		const char* e = dlerror();
		return strdup(e ? e : "dlopen failed");
	}
	distill_GetApiBaseFn get_base = (distill_GetApiBaseFn)dlsym(h, "OrtGetApiBase");
	if (get_base == NULL) {
		dlclose(h);
		return strdup("OrtGetApiBase not found in the onnxruntime library");
	}
	void* const* api = (void* const*)get_base()->GetApi(distill_api_version);
	if (api == NULL) {
		dlclose(h);
		return strdup("the onnxruntime library does not support C API version 24");
	}
	distill_OrtCUDAProviderOptions o;
	memset(&o, 0, sizeof o);
	o.device_id = device_id;
	o.gpu_mem_limit = SIZE_MAX;
	o.do_copy_in_default_stream = 1;
	distill_OrtStatus* st = ((distill_AppendCUDAFn)api[distill_idx_SessionOptionsAppendExecutionProvider_CUDA])(options, &o);
	char* msg = NULL;
	if (st != NULL) {
		msg = strdup(((distill_GetErrorMessageFn)api[distill_idx_GetErrorMessage])(st));
		((distill_ReleaseStatusFn)api[distill_idx_ReleaseStatus])(st);
	}
	dlclose(h); // drops only the reference taken above
	return msg;
}

// distill_dlopen_error returns NULL if lib loads, else dlerror's malloc'ed message.
static char* distill_dlopen_error(const char* lib) {
	void* h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (h != NULL) {
		dlclose(h);
		return NULL;
	}
	const char* e = dlerror();
	return strdup(e ? e : "dlopen failed");
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"
)

// appendCUDAv1 registers the CUDA execution provider with the version-1 C API call
// SessionOptionsAppendExecutionProvider_CUDA. Unlike the version-2 options that onnxruntime_go
// wraps, this call exists in every full onnxruntime build, including CPU builds that can load the
// CUDA provider library from their own directory, such as the com.github.asus4.onnxruntime core
// that scripts/setup-cuda.sh pairs with its linux-x64-gpu provider.
func appendCUDAv1(libPath string, so *ort.SessionOptions, gpuID int) error {
	ptr, err := sessionOptionsPtr(so)
	if err != nil {
		return err
	}
	cLib := C.CString(libPath)
	defer C.free(unsafe.Pointer(cLib))
	msg := C.distill_append_cuda_v1(cLib, ptr, C.int(gpuID))
	if msg != nil {
		defer C.free(unsafe.Pointer(msg))
		return errors.New(C.GoString(msg))
	}
	return nil
}

// sessionOptionsPtr returns the OrtSessionOptions pointer inside so. onnxruntime_go keeps it in
// the unexported field o; go.mod pins the version whose layout this relies on.
func sessionOptionsPtr(so *ort.SessionOptions) (unsafe.Pointer, error) {
	f := reflect.ValueOf(so).Elem().FieldByName("o")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() {
		return nil, fmt.Errorf("onnxruntime_go SessionOptions has no native pointer field o (library upgraded?)")
	}
	return f.UnsafePointer(), nil
}

// cudaProviderLoadError explains why the CUDA provider library beside the onnxruntime library at
// libPath cannot be loaded (typically a missing CUDA or cuDNN library), or returns "" when it
// loads or is not there.
func cudaProviderLoadError(libPath string) string {
	p := filepath.Join(filepath.Dir(libPath), "libonnxruntime_providers_cuda.so")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	cp := C.CString(p)
	defer C.free(unsafe.Pointer(cp))
	msg := C.distill_dlopen_error(cp)
	if msg == nil {
		return ""
	}
	defer C.free(unsafe.Pointer(msg))
	return C.GoString(msg)
}
