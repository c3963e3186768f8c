#!/usr/bin/env bash
# bench-targets.sh: time `distill targets` on MNIST's 60,000 training images with a
# 784-1200-1200-10 teacher, side by side in one run with
#   - a bare onnxruntime session loop in Go over the same batches (scripts/benchort),
#     goal: distill's throughput >= 0.9 x the bare loop's;
#   - where Debian's python3-torch (and python3-onnx) is installed, the whole PyTorch CPU
#     inference script of the same network on the same data (scripts/bench_targets_torch.py),
#     goal: the whole `distill targets` command >= 1.5 x faster than the whole script.
# Idempotent: builds into bin/, keeps the teacher in $OUT (default out/bench-targets).
# Each contender runs $REPS times (default 3), interleaved; the best time of each is reported.
# Environment: OUT, REPS, BATCH (default 1024), THREADS (default 0: onnxruntime's choice).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-out/bench-targets}
REPS=${REPS:-3}
BATCH=${BATCH:-1024}
THREADS=${THREADS:-0}
DATA=data/mnist/train-images-idx3-ubyte.gz
LABELS=data/mnist/train-labels-idx1-ubyte.gz
PY=/usr/bin/python3

[[ -f $DATA && -f $LABELS ]] || scripts/setup.sh
mkdir -p "$OUT" bin
go build -o bin/distill ./cmd/distill
go build -o bin/benchort ./scripts/benchort
TEACHER=$OUT/teacher-784-1200-1200-10.onnx
[[ -f $TEACHER ]] || bin/benchort make-teacher -out "$TEACHER" -sizes 784,1200,1200,10 -seed 1

have_torch=0
if [[ -x $PY ]] && $PY -c 'import torch, onnx' 2>/dev/null; then have_torch=1; fi

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }'; }

best_distill_wall= best_distill_loop= best_ort_wall= best_ort_loop= best_torch_wall= best_torch_loop=
for ((r = 1; r <= REPS; r++)); do
	echo "rep $r/$REPS" >&2

	t0=$(now)
	dout=$(bin/distill --log-level warn targets --teacher "$TEACHER" --data "$DATA" --labels "$LABELS" \
		--out "$OUT/targets.safetensors" --overwrite --batch "$BATCH" --threads "$THREADS")
	t1=$(now)
	echo "$dout" >&2
	loop=$(sed -nE 's/.* in ([0-9.]+) s, .*/\1/p' <<<"$dout" | head -1)
	best_distill_wall=$(min "$best_distill_wall" "$(secs "$t0" "$t1")")
	best_distill_loop=$(min "$best_distill_loop" "$loop")

	t0=$(now)
	oout=$(bin/benchort run -model "$TEACHER" -data "$DATA" -batch "$BATCH" -threads "$THREADS")
	t1=$(now)
	echo "bare onnxruntime loop: $oout" >&2
	loop=$(sed -nE 's/.*"loop_s":([0-9.e+-]+).*/\1/p' <<<"$oout")
	best_ort_wall=$(min "$best_ort_wall" "$(secs "$t0" "$t1")")
	best_ort_loop=$(min "$best_ort_loop" "$loop")

	if ((have_torch)); then
		t0=$(now)
		tout=$($PY scripts/bench_targets_torch.py "$TEACHER" "$DATA" "$OUT/torch-logits.npy" "$BATCH")
		t1=$(now)
		echo "pytorch: $tout" >&2
		loop=$(sed -nE 's/.*"loop_s": ([0-9.]+).*/\1/p' <<<"$tout")
		best_torch_wall=$(min "$best_torch_wall" "$(secs "$t0" "$t1")")
		best_torch_loop=$(min "$best_torch_loop" "$loop")
	fi
done

N=60000
row() { # name wall loop
	awk -v name="$1" -v wall="$2" -v loop="$3" -v n=$N 'BEGIN {
		if (wall == "") { printf "%-34s %12s %12s %14s\n", name, "n/a", "n/a", "n/a"; exit }
		printf "%-34s %12.3f %12.3f %14.0f\n", name, wall, loop, n / loop }'
}
echo
echo "MNIST train (60,000 images), 784-1200-1200-10 teacher, batch $BATCH, threads $THREADS, best of $REPS"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
printf "%-34s %12s %12s %14s\n" "" "whole (s)" "inference (s)" "samples/s"
row "distill targets" "$best_distill_wall" "$best_distill_loop"
row "bare onnxruntime loop (Go)" "$best_ort_wall" "$best_ort_loop"
if ((have_torch)); then
	row "pytorch script ($($PY -c 'import torch; print(torch.__version__)'))" "$best_torch_wall" "$best_torch_loop"
else
	row "pytorch script (python3-torch missing)" "" ""
fi
echo
awk -v d="$best_distill_loop" -v o="$best_ort_loop" 'BEGIN {
	r = o / d; printf "throughput ratio distill / bare onnxruntime: %.2f (goal >= 0.90) %s\n", r, (r >= 0.9 ? "ok" : "MISSED") }'
if ((have_torch)); then
	awk -v d="$best_distill_wall" -v t="$best_torch_wall" 'BEGIN {
		r = t / d; printf "whole-command speed-up distill vs pytorch script: %.2fx (goal >= 1.5x) %s\n", r, (r >= 1.5 ? "ok" : "MISSED") }'
fi
