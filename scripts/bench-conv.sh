#!/usr/bin/env bash
# Convolution training, distill against PyTorch, on the architectures of issue 23.
#
# Usage: scripts/bench-conv.sh [-r ROUNDS] [-n SAMPLES] [-b "BATCHES"] [SPEC ...]
#
# Trains each SPEC (default: models/fashion-cnn.json, models/fashion-teacher.json,
# models/fashion-resnet.json, models/fashion-mobilenet.json) at each batch size of BATCHES
# (default "128 512") for SAMPLES samples (default 60000: one Fashion-MNIST epoch), in Go
# (scripts/benchtrain: the student package, Adam, cross-entropy, random data) and in PyTorch
# (scripts/bench_spec_torch.py: the same graph built from the spec with torch.nn; /usr/bin/python3
# with Debian's python3-torch, 2 threads, OMP_WAIT_POLICY=PASSIVE), alternately, ROUNDS times
# (default 3). Prints, per spec and batch, the min and median samples/s of each over the rounds
# and the ratio of the medians (distill / PyTorch: above 1, distill is faster). Without PyTorch it
# says so and times distill alone. Run it on a quiet machine: other work moves both figures.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3 samples=60000 batches="128 512"
while getopts "r:n:b:h" opt; do
	case $opt in
	r) rounds=$OPTARG ;;
	n) samples=$OPTARG ;;
	b) batches=$OPTARG ;;
	*) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
specs=("$@")
((${#specs[@]} > 0)) || specs=(models/fashion-cnn.json models/fashion-teacher.json models/fashion-resnet.json models/fashion-mobilenet.json)

py=/usr/bin/python3
torch=1
if ! "$py" -c 'import torch' 2>/dev/null; then
	echo "bench-conv: $py cannot import torch (apt-get install python3-torch): timing distill alone" >&2
	torch=0
fi
bin=$(mktemp -d)/benchtrain
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./scripts/benchtrain

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }
# stats prints the min and the median of its arguments.
stats() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.0f %.0f", v[1], m}'; }

printf "%-20s %5s | %17s | %17s | %6s\n" "" "" "distill samples/s" "PyTorch samples/s" "ratio"
printf "%-20s %5s | %8s %8s | %8s %8s | %6s\n" spec batch min median min median median
for spec in "${specs[@]}"; do
	for batch in $batches; do
		steps=$(((samples + batch - 1) / batch))
		gos=() pys=()
		for ((r = 0; r < rounds; r++)); do
			gos+=("$("$bin" -model "$spec" -batch "$batch" -steps "$steps" 2>/dev/null | field samples_per_s)")
			if ((torch)); then
				pys+=("$(OMP_WAIT_POLICY=PASSIVE "$py" scripts/bench_spec_torch.py --model "$spec" --batch "$batch" --steps "$steps" --threads 2 | field samples_per_s)")
			fi
		done
		read -r gmin gmed <<<"$(stats "${gos[@]}")"
		pmin=- pmed=- ratio=-
		if ((torch)); then
			read -r pmin pmed <<<"$(stats "${pys[@]}")"
			ratio=$(awk -v a="$gmed" -v b="$pmed" 'BEGIN{printf "%.2f", a/b}')
		fi
		printf "%-20s %5s | %8s %8s | %8s %8s | %6s\n" "$(basename "$spec" .json)" "$batch" "$gmin" "$gmed" "$pmin" "$pmed" "$ratio"
	done
done
echo "rounds: $rounds; samples per run: $samples; cores: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
