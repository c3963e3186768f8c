#!/usr/bin/env bash
# Benchmark the training of any student spec against PyTorch on the same architecture.
#
# Usage: scripts/bench-spec.sh [-r ROUNDS] [-b BATCH] [-n SAMPLES] [SPEC ...]
#
# Trains each SPEC (default models/fashion-resnet.json) with Adam (lr 1e-3) and cross-entropy on
# random data for SAMPLES samples (default 60000: one Fashion-MNIST epoch) at batch BATCH
# (default 128), in Go (scripts/benchtrain: the student package) and in PyTorch
# (scripts/bench_spec_torch.py, which builds the same graph from the spec with torch.nn:
# /usr/bin/python3 with Debian's python3-torch, 2 threads, OMP_WAIT_POLICY=PASSIVE). The two run
# alternately ROUNDS times (default 1); the best samples/s of each is kept, which evens out noise
# from other work on the machine. Prints samples/s, the Go/PyTorch ratio and the CPU time per
# step. Without PyTorch it says so and times Go alone.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=1 batch=128 samples=60000
while getopts "r:b:n:h" opt; do
	case $opt in
	r) rounds=$OPTARG ;;
	b) batch=$OPTARG ;;
	n) samples=$OPTARG ;;
	*) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
specs=("$@")
((${#specs[@]} > 0)) || specs=(models/fashion-resnet.json)
steps=$(((samples + batch - 1) / batch))

py=/usr/bin/python3
torch=1
if ! "$py" -c 'import torch' 2>/dev/null; then
	echo "bench-spec: $py cannot import torch (apt-get install python3-torch): timing distill alone" >&2
	torch=0
fi

bin=$(mktemp -d)/benchtrain
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./scripts/benchtrain

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }
maxf() { awk -v a="$1" -v b="$2" 'BEGIN{print (b>a)?b:a}'; }
minf() { awk -v a="$1" -v b="$2" 'BEGIN{print (a==0||b<a)?b:a}'; }

printf "%-24s %6s %7s %10s %12s %6s %13s %13s\n" spec batch steps "go samp/s" "torch samp/s" ratio "go cpu ms/st" "torch cpu ms"
for spec in "${specs[@]}"; do
	best_go=0 best_py=0 cpu_go=0 cpu_py=0
	for ((r = 0; r < rounds; r++)); do
		out=$("$bin" -model "$spec" -batch "$batch" -steps "$steps" 2>/dev/null)
		best_go=$(maxf "$best_go" "$(echo "$out" | field samples_per_s)")
		cpu_go=$(minf "$cpu_go" "$(echo "$out" | field cpu_ms_per_step)")
		if ((torch)); then
			out=$(OMP_WAIT_POLICY=PASSIVE "$py" scripts/bench_spec_torch.py --model "$spec" --batch "$batch" --steps "$steps" --threads 2)
			best_py=$(maxf "$best_py" "$(echo "$out" | field samples_per_s)")
			cpu_py=$(minf "$cpu_py" "$(echo "$out" | field cpu_ms_per_step)")
		fi
	done
	ratio=-
	((torch)) && ratio=$(awk -v a="$best_go" -v b="$best_py" 'BEGIN{printf "%.2f", a/b}')
	printf "%-24s %6s %7s %10s %12s %6s %13s %13s\n" "$(basename "$spec" .json)" "$batch" "$steps" "$best_go" "$best_py" "$ratio" "$cpu_go" "$cpu_py"
done
echo "cores: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
