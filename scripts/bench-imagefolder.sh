#!/usr/bin/env bash
# bench-imagefolder.sh: time dataset.Open on an image folder (torchvision's ImageFolder layout) of
# MNIST's 60,000 training images as 28x28 gray PNG files. Goal: at least 20,000 images/s on a
# 2-core machine.
# The folder, $OUT/mnist-png/<digit>/<index>.png, is written once by scripts/mkimagefolder from
# data/mnist (scripts/setup.sh fetches it when missing) and kept. BenchmarkOpenImageFolder in
# pipeline/dataset then opens it $REPS times (default 3), one Open a run; the best figure is
# reported. The files are in the page cache after the first run: this times decoding, not the disk.
# Environment: OUT (default out/bench-imagefolder), REPS, CPUPROFILE (a file: profile the runs).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-out/bench-imagefolder}
REPS=${REPS:-3}
DATA=data/mnist/train-images-idx3-ubyte.gz
LABELS=data/mnist/train-labels-idx1-ubyte.gz
FOLDER=$OUT/mnist-png

[[ -f $DATA && -f $LABELS ]] || scripts/setup.sh
if [[ ! -d $FOLDER ]]; then
	mkdir -p "$OUT"
	go run ./scripts/mkimagefolder -data "$DATA" -labels "$LABELS" -out "$FOLDER"
fi

prof=()
# -o keeps the test binary, which pprof needs, in $OUT rather than in the working tree.
[[ -n ${CPUPROFILE:-} ]] && prof=(-cpuprofile "$CPUPROFILE" -o "$OUT/dataset.test")
res=$(DISTILL_IMAGEFOLDER=$PWD/$FOLDER go test -run '^$' -bench '^BenchmarkOpenImageFolder$' \
	-benchtime 1x -count "$REPS" "${prof[@]}" ./pipeline/dataset)
echo "$res" >&2
best=$(awk '/^BenchmarkOpenImageFolder/ { for (i = 2; i < NF; i++) if ($(i + 1) == "images/s" && $i + 0 > b) b = $i + 0 }
	END { printf "%.0f", b }' <<<"$res")
echo "bench-imagefolder: best of $REPS: $best images/s ($(nproc) cores; goal 20000)"
[[ -n ${CPUPROFILE:-} ]] && echo "bench-imagefolder: profile: go tool pprof $OUT/dataset.test $CPUPROFILE"
exit 0
