#!/usr/bin/env bash
# Trains a reference teacher on the 60,000 training images jittered by up to 2 pixels, with Adam
# and a step learning-rate schedule, then exports it to ONNX with verification and puts its
# per-epoch metrics beside it (<name>.jsonl):
#   DATASET=mnist (default): models/mnist-teacher.json, 784-1200-1200-10, relu, dropout 0.5;
#   DATASET=fashion: models/fashion-teacher.json, a CNN (conv 32, pool, conv 64, conv 64, pool,
#     dense 256, dropout 0.25 and 0.5) on Fashion-MNIST;
#   DATASET=mnist-cnn: models/mnist-cnn-teacher.json, a CNN (conv 32, pool, conv 32, pool,
#     dense 256, dropout 0.25 and 0.5) on MNIST, the stronger teacher (59 test errors).
# models/README.md records the runs that made the shipped models/mnist-teacher.onnx,
# models/fashion-teacher.onnx and models/mnist-cnn-teacher.onnx; scripts/demo.sh calls this
# script when the file is absent.
#
# The schedule is a list of END:LR stages: "50:1e-3 90:3e-4" trains epochs 1-50 at 1e-3 and 51-90
# at 3e-4, in one `distill train --schedule` run. The script is idempotent: a finished run is
# skipped and an interrupted one resumes from the last completed epoch (resume is exact: optimiser
# state, RNG streams and the epoch are in the checkpoint); changed settings start afresh.
#
# Environment (defaults in brackets; the second default is DATASET=fashion's, the third mnist-cnn's):
#   DATASET [mnist]   SCHEDULE ["50:1e-3 90:3e-4 115:1e-4 130:3e-5"; "20:1e-3 26:3e-4 30:1e-4";
#     mnist-cnn's "10:1e-3 14:3e-4 16:1e-4"]
#   BATCH [128]   JITTER [2]   SEED [1]   OUT [out/teacher; out/fashion-teacher; out/mnist-cnn-teacher]
#   TEACHER [$OUT/<DATASET>-teacher.onnx]   DISTILL [bin/distill]
#   MNIST_DIR [data/mnist]   FASHION_DIR [data/fashion]
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${DISTILL:-bin/distill}
DATASET=${DATASET:-mnist}
case $DATASET in
mnist)
	D=${MNIST_DIR:-data/mnist} default_schedule="50:1e-3 90:3e-4 115:1e-4 130:3e-5" default_out=out/teacher ;;
fashion)
	D=${FASHION_DIR:-data/fashion} default_schedule="20:1e-3 26:3e-4 30:1e-4" default_out=out/fashion-teacher ;;
mnist-cnn)
	D=${MNIST_DIR:-data/mnist} default_schedule="10:1e-3 14:3e-4 16:1e-4" default_out=out/mnist-cnn-teacher ;;
*)
	echo "train-teacher: unknown DATASET '$DATASET' (want mnist, fashion or mnist-cnn)" >&2; exit 2 ;;
esac
SCHEDULE=${SCHEDULE:-$default_schedule}
BATCH=${BATCH:-128}
JITTER=${JITTER:-2}
SEED=${SEED:-1}
OUT=${OUT:-$default_out}
TEACHER=${TEACHER:-$OUT/$DATASET-teacher.onnx}
SPEC=models/$DATASET-teacher.json

for f in "$BIN" "$D/train-images-idx3-ubyte.gz" "$D/t10k-images-idx3-ubyte.gz"; do
	[[ -e $f ]] || { echo "train-teacher: $f is missing: run scripts/setup.sh and make build" >&2; exit 1; }
done
# Check the whole schedule before anything trains.
prev=0
for stage in $SCHEDULE; do
	end=${stage%%:*} lr=${stage#*:}
	[[ $end =~ ^[0-9]+$ && $end -gt $prev && $lr != "$stage" && -n $lr ]] ||
		{ echo "train-teacher: bad SCHEDULE stage '$stage' in '$SCHEDULE': want END:LR with END above $prev" >&2; exit 1; }
	prev=$end
done
((prev > 0)) || { echo "train-teacher: SCHEDULE is empty" >&2; exit 1; }
mkdir -p "$OUT" "$(dirname "$TEACHER")"
ckpt=$OUT/teacher.ckpt metrics=$OUT/teacher.jsonl
settings="schedule=$SCHEDULE batch=$BATCH jitter=$JITTER seed=$SEED"
[[ $DATASET == mnist ]] || settings+=" dataset=$DATASET"
if [[ -f $ckpt && "$(cat "$OUT/teacher.settings" 2>/dev/null)" != "$settings" ]]; then
	echo "train-teacher: settings changed; training afresh"
	rm -f "$ckpt" "$metrics" "$OUT/teacher.png"
fi
echo "$settings" > "$OUT/teacher.settings"

done_epochs() { if [[ -f $ckpt && -f $metrics ]]; then grep -c . "$metrics" || true; else echo 0; fi; }

common=(--model "$SPEC" --data "$D/train-images-idx3-ubyte.gz" --labels "$D/train-labels-idx1-ubyte.gz"
	--eval-data "$D/t10k-images-idx3-ubyte.gz" --eval-labels "$D/t10k-labels-idx1-ubyte.gz"
	--scale 255 --mean 0.5 --std 0.5 --jitter "$JITTER" --batch "$BATCH" --seed "$SEED"
	--out "$ckpt" --metrics "$metrics" --plot "$OUT/teacher.png")
if (($(done_epochs) >= prev)); then
	echo "train-teacher: $prev epochs already done"
else
	how=(--resume)
	(($(done_epochs) == 0)) && how=(--overwrite)
	echo "train-teacher: $prev epochs, schedule $SCHEDULE"
	"$BIN" train "${common[@]}" "${how[@]}" --schedule "$SCHEDULE"
fi
if [[ ! -f $TEACHER || $TEACHER -ot $ckpt ]]; then
	"$BIN" export --model "$ckpt" --out "$TEACHER" --overwrite --spec "$SPEC" --verify 256 --verify-data "$D/t10k-images-idx3-ubyte.gz"
	# The per-epoch metrics go beside the model (as models/mnist-teacher.jsonl does), for the report.
	cp "$metrics" "${TEACHER%.onnx}.jsonl.tmp" && mv "${TEACHER%.onnx}.jsonl.tmp" "${TEACHER%.onnx}.jsonl"
fi
echo "train-teacher: $TEACHER (sha256 $(sha256sum "$TEACHER" | cut -d' ' -f1))"
