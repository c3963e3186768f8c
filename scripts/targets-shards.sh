#!/usr/bin/env bash
# targets-shards.sh: compute soft targets as N shards in parallel local processes, then merge
# them. The merged file is byte-identical to a single `distill targets` run.
#
# usage: scripts/targets-shards.sh -n <shards> -o <out.safetensors> -- <distill targets flags...>
#   e.g. scripts/targets-shards.sh -n 4 -o out/targets.safetensors -- \
#          --teacher models/teacher.onnx --data data/mnist/train-images-idx3-ubyte.gz --threads 1
#
# The targets flags must not include --out or --shard; this script adds them. An existing <out>
# is refused before any shard runs unless --overwrite is among them. Parts go to
# <out>.part-<i>-of-<n> and are removed after a successful merge. If any shard fails, the
# others are stopped, their parts removed, and the script exits non-zero. DISTILL names the
# binary (default: bin/distill, built if missing). Needs bash >= 5.1 (wait -n with pids). Give each process --threads so that
# shards × threads does not exceed the cores.
set -euo pipefail
cd "$(dirname "$0")/.."

n= out=
while getopts "n:o:" opt; do
	case $opt in
	n) n=$OPTARG ;;
	o) out=$OPTARG ;;
	*) sed -n '2,15p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[[ ${1:-} == "--" ]] && shift
if [[ -z $n || -z $out || ! $n =~ ^[1-9][0-9]*$ ]]; then
	sed -n '2,15p' "$0" >&2
	exit 2
fi
overwrite=()
for a in "$@"; do
	case $a in
	--out | --out=* | --shard | --shard=*)
		echo "targets-shards.sh: do not pass $a; the script sets it" >&2
		exit 2
		;;
	--overwrite) overwrite=(--overwrite) ;;
	esac
done
if [[ -e $out && ${#overwrite[@]} == 0 ]]; then
	echo "targets-shards.sh: $out exists: pass --overwrite to replace it, or remove it" >&2
	exit 1
fi

DISTILL=${DISTILL:-bin/distill}
if [[ ! -x $DISTILL ]]; then
	mkdir -p "$(dirname "$DISTILL")"
	go build -o "$DISTILL" ./cmd/distill
fi

parts=() pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -f "${parts[@]}"
}
trap 'cleanup; exit 130' INT TERM

for ((i = 0; i < n; i++)); do
	part="$out.part-$i-of-$n"
	parts+=("$part")
	# A part is this script's work file: one left by an earlier, killed run is replaced.
	"$DISTILL" targets "$@" --overwrite --shard "$i/$n" --out "$part" > >(sed "s/^/[shard $i] /") 2>&1 &
	pids+=($!)
done

# Wait for the shards in the order they finish; stop the rest at the first failure.
declare -A running
for p in "${pids[@]}"; do running[$p]=1; done
while ((${#running[@]} > 0)); do
	done_pid=
	if wait -n -p done_pid "${!running[@]}"; then
		unset "running[$done_pid]"
	else
		echo "targets-shards.sh: a shard failed; stopping the others" >&2
		cleanup
		exit 1
	fi
done
"$DISTILL" targets merge --out "$out" ${overwrite[@]+"${overwrite[@]}"} "${parts[@]}"
rm -f "${parts[@]}"
