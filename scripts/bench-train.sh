#!/usr/bin/env bash
# Benchmark student training against PyTorch.
#
# Usage: scripts/bench-train.sh [-r ROUNDS] [-s STEPS_256] [-S STEPS_8192] [-b BLAS]
#
# Trains the 784-800-800-10 student (models/mnist-student.json) with Adam (lr 1e-3) and
# cross-entropy on random data for a fixed number of steps at batch 256 and at batch 8192, in Go
# (student package, Gorgonia) and in PyTorch (scripts/bench_spec_torch.py: /usr/bin/python3 with Debian python3-torch,
# torch.set_num_threads(2)), same network, same optimiser, same machine, same run. The two run
# alternately ROUNDS times (default 3) and the best samples/s of each is kept, which evens out
# noise from other work on the machine. Prints samples/s, the Go/PyTorch ratio, CPU time per step
# (all threads, least of the rounds: less sensitive to other load than samples/s) and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3 steps_small=60 steps_large=4 blas=auto
while getopts "r:s:S:b:h" opt; do
	case $opt in
	r) rounds=$OPTARG ;;
	s) steps_small=$OPTARG ;;
	S) steps_large=$OPTARG ;;
	b) blas=$OPTARG ;;
	*) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done

py=/usr/bin/python3
if ! "$py" -c 'import torch' 2>/dev/null; then
	echo "bench-train: $py cannot import torch (apt-get install python3-torch)" >&2
	exit 1
fi

bin=$(mktemp -d)/benchtrain
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./scripts/benchtrain

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }

printf "%-6s %10s %12s %6s %13s %13s %7s %9s\n" batch "go samp/s" "torch samp/s" ratio "go cpu ms/st" "torch cpu ms" "go MiB" "torch MiB"
minf() { awk -v a="$1" -v b="$2" 'BEGIN{print (a==0||b<a)?b:a}'; }
for batch in 256 8192; do
	steps=$steps_small
	[ "$batch" -ge 8192 ] && steps=$steps_large
	best_go=0 best_py=0 mem_go=0 mem_py=0 cpu_go=0 cpu_py=0 backend=
	for ((r = 0; r < rounds; r++)); do
		out=$("$bin" -batch "$batch" -steps "$steps" -blas "$blas" 2>/dev/null)
		v=$(echo "$out" | field samples_per_s)
		mem_go=$(echo "$out" | field peak_rss_mib)
		backend=$(echo "$out" | field blas)
		cpu_go=$(minf "$cpu_go" "$(echo "$out" | field cpu_ms_per_step)")
		best_go=$(awk -v a="$best_go" -v b="$v" 'BEGIN{print (b>a)?b:a}')
		out=$("$py" scripts/bench_spec_torch.py --model models/mnist-student.json --batch "$batch" --steps "$steps" --threads 2)
		v=$(echo "$out" | field samples_per_s)
		mem_py=$(echo "$out" | field peak_rss_mib)
		cpu_py=$(minf "$cpu_py" "$(echo "$out" | field cpu_ms_per_step)")
		best_py=$(awk -v a="$best_py" -v b="$v" 'BEGIN{print (b>a)?b:a}')
	done
	ratio=$(awk -v a="$best_go" -v b="$best_py" 'BEGIN{printf "%.2f", a/b}')
	printf "%-6s %10s %12s %6s %13s %13s %7s %9s\n" "$batch" "$best_go" "$best_py" "$ratio" "$cpu_go" "$cpu_py" "$mem_go" "$mem_py"
done
echo "go blas: $backend; cores: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
