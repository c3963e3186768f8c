#!/usr/bin/env bash
# Runs every fuzz target of the module (every Fuzz* function `go test -list` finds) for a budget
# each, one after the other. `go test ./...` (and so CI) already runs each target's seed corpus
# under testdata/fuzz/ as ordinary tests; this script searches beyond it.
#
#   FUZZTIME=30s          budget per target (go test -fuzztime: a duration, or Nx for N runs)
#   FUZZMINIMIZETIME=200x budget for minimising each new interesting input, as a number of runs.
#                         Go's default is 60s; a time budget that runs out makes the coordinator
#                         kill and restart the worker, and the execs counter stands still
#                         meanwhile: with the default, the onnx and pipeline targets seemed to
#                         stall at a few dozen runs (FuzzOpenTargets: 87 runs in 30 s with 5s,
#                         36375 in 20 s with 200x).
#   FUZZPKGS=./...        packages to search for targets
#
# A crasher is written by go test to <package>/testdata/fuzz/<Target>/<hash>: fix the bug and
# commit that file, so that it stays as a regression case in the seed corpus.
# Exit status: 0 when every target ran its budget without a failure, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-200x}
FUZZPKGS=${FUZZPKGS:-./...}

failed=()
ran=0
for pkg in $($GO list $FUZZPKGS); do
	# -list prints the matching names, then "ok <pkg>"; packages without tests print nothing.
	targets=$($GO test -run '^$' -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
	for target in $targets; do
		echo "=== $pkg $target (fuzztime $FUZZTIME)"
		ran=$((ran + 1))
		if ! $GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" \
			-fuzzminimizetime "$FUZZMINIMIZETIME" "$pkg"; then
			dir=$($GO list -f '{{.Dir}}' "$pkg")
			failed+=("$pkg $target (see its output above; a crasher is saved under ${dir#"$PWD"/}/testdata/fuzz/$target/)")
		fi
	done
done

echo "fuzz.sh: ran $ran targets for $FUZZTIME each"
if [ ${#failed[@]} -gt 0 ]; then
	printf 'FAIL %s\n' "${failed[@]}"
	exit 1
fi
echo "fuzz.sh: no failures"
