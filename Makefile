# distill: the two commands that matter are `make demo` (the main job) and `make test` (the tests).
GO ?= go
export DISTILL_REQUIRE_ORT ?= 1
# The tests check the CUDA pair of onnxruntime on CPU (onnx.TestCUDAPair), so `make test` installs
# it (scripts/setup.sh --cuda: 291 MB from npm, 7 s to fetch and 4 s to unpack here) and fails
# rather than skips without it.
export DISTILL_REQUIRE_CUDA_PAIR ?= 1

.PHONY: setup setup-cuda build test docs demo paper bench fuzz examples clean
setup:
	scripts/setup.sh

setup-cuda:
	scripts/setup.sh --cuda

# distill's version has one source, the VERSION file: the build stamps it into the binary, which
# prints it (distill --version) and records it in every file it writes. faults/ builds its binary
# with this LDFLAGS line.
VERSION := $(shell cat VERSION)
LDFLAGS := -X github.com/distillgo/distill/internal/meta.Version=$(VERSION)

build: setup
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/distill ./cmd/distill

test: setup-cuda
	$(GO) vet ./...
	$(GO) test -count=1 ./...

# docs/cli.md, the command reference, is generated from the command line; cmd/command's
# TestCLIReference fails while it is stale.
docs:
	$(GO) run ./scripts/clidoc -o docs/cli.md

demo: build
	scripts/demo.sh

paper: build
	scripts/paper.sh

bench: build
	scripts/bench-targets.sh
	scripts/bench-train.sh

fuzz:
	scripts/fuzz.sh

# The README's quick start, run as written on a fresh copy of the committed tree (about 15 s).
examples: setup
	scripts/readme-examples.sh
	scripts/guide-examples.sh

clean:
	rm -rf bin out
