# distill: the two commands that matter are `make demo` (the main job) and `make test` (the tests).
GO ?= go
export DISTILL_REQUIRE_ORT ?= 1

.PHONY: setup build test demo paper bench fuzz clean
setup:
	scripts/setup.sh

build: setup
	$(GO) build -o bin/distill ./cmd/distill

test: setup
	$(GO) vet ./...
	$(GO) test -count=1 ./...

demo: build
	scripts/demo.sh

paper: build
	scripts/paper.sh

bench: build
	scripts/bench-targets.sh
	scripts/bench-train.sh

fuzz:
	scripts/fuzz.sh

clean:
	rm -rf bin out
