#!/usr/bin/env bash
# Benchmark the three ways of deploying a student side by side.
#
# Usage: scripts/bench-deploy.sh [-c CHECKPOINT] [-r ROUNDS] [-t ROUND_TIME]
#
# Exports a 784-800-800-10 MNIST student (CHECKPOINT, default out/demo/distilled.ckpt when it
# exists, else a quick one trained for 1 epoch into out/bench-deploy/student.ckpt) as float32 and
# as --int8 ONNX files (both verified with --verify 64 on test images), then runs
# scripts/benchdeploy on the MNIST test images, preprocessed as the files record: images/s under
# onnxruntime (Threads 1 and 0) and the pure-Go onnx/purego/direct (GOMAXPROCS 1 and all cores),
# on both files, at batch 1 and 256, best of ROUNDS (default 3) rounds of at least ROUND_TIME
# (default 1s) per cell, interleaved over the cells; the Go allocations per call; the file
# sizes. Everything goes under out/bench-deploy/ (the table also to out/bench-deploy/result.txt);
# a second run reuses the student and the exports of the same checkpoint (by sha256).
set -euo pipefail
cd "$(dirname "$0")/.."

out=out/bench-deploy ckpt= rounds=3 round=1s
while getopts "c:r:t:h" opt; do
	case $opt in
	c) ckpt=$OPTARG ;;
	r) rounds=$OPTARG ;;
	t) round=$OPTARG ;;
	*) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done

mnist=data/mnist
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
	[ -f "$mnist/$f" ] || { echo "bench-deploy: $mnist/$f missing (run scripts/setup.sh)" >&2; exit 1; }
done
mkdir -p "$out"
[ -x bin/distill ] || make build

if [ -z "$ckpt" ]; then
	ckpt=out/demo/distilled.ckpt
	if [ ! -f "$ckpt" ]; then
		ckpt=$out/student.ckpt
		if [ ! -f "$ckpt" ]; then
			echo "bench-deploy: no out/demo/distilled.ckpt; training a quick student (1 epoch) into $ckpt" >&2
			bin/distill train --model models/mnist-student.json --data "$mnist/train-images-idx3-ubyte.gz" \
				--labels "$mnist/train-labels-idx1-ubyte.gz" --scale 255 --mean 0.5 --std 0.5 --epochs 1 \
				--out "$ckpt" --overwrite
		fi
	fi
fi
[ -f "$ckpt" ] || { echo "bench-deploy: checkpoint $ckpt not found" >&2; exit 1; }

# export FLAG FILE: export the checkpoint to FILE unless FILE.ckpt says FILE is already an export of
# the checkpoint's bytes (its sha256).
sum=$(sha256sum "$ckpt" | cut -d' ' -f1)
export_onnx() {
	local file=$2
	if [ -f "$file" ] && [ "$(cat "$file.ckpt" 2>/dev/null)" = "$sum" ]; then
		return
	fi
	echo "bench-deploy: exporting $ckpt to $file" >&2
	rm -f "$file.ckpt"
	bin/distill export --model "$ckpt" --out "$file" --overwrite ${1:+"$1"} --verify 64 \
		--verify-data "$mnist/t10k-images-idx3-ubyte.gz" --log-level warn
	echo "$sum" >"$file.ckpt"
}
export_onnx "" "$out/student.onnx"
export_onnx --int8 "$out/student-int8.onnx"

go build -o "$out/benchdeploy" ./scripts/benchdeploy
echo "checkpoint: $ckpt; $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/result.txt"
"$out/benchdeploy" -f32 "$out/student.onnx" -int8 "$out/student-int8.onnx" \
	-data "$mnist/t10k-images-idx3-ubyte.gz" -labels "$mnist/t10k-labels-idx1-ubyte.gz" \
	-rounds "$rounds" -round "$round" | tee -a "$out/result.txt"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/result.txt"
