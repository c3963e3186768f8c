#!/usr/bin/env bash
# Runs every fuzz target of the module (every Fuzz* function `go test -list` finds) for a budget
# each, one after the other. `go test ./...` (and so CI) already runs each target's seed corpus
# under testdata/fuzz/ as ordinary tests; this script searches beyond it.
#
#   FUZZTIME=30s          budget per target (go test -fuzztime: a duration, or Nx for N runs)
#   FUZZMINIMIZETIME=5s   budget for minimising each new interesting input (go's default is 60s,
#                         which stalls the file-based onnx targets for a minute at a time:
#                         the execs counter stands still while a worker minimises)
#   FUZZPKGS=./...        packages to search for targets
#
# A crasher is written by go test to <package>/testdata/fuzz/<Target>/<hash>: fix the bug and
# commit that file, so that it stays as a regression case in the seed corpus.
# Exit status: 0 when every target ran its budget without a failure, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-5s}
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
