#!/usr/bin/env bash
# The Fashion-MNIST table of docs/results.md: each student (models/fashion-mlp.json, 784-800-800-10; and
# models/fashion-cnn.json, a 20,490-parameter CNN) trained alone on the hard labels and distilled
# from the shipped CNN teacher with kl, dkd and standardised kl, each over several seeds, then
# summarised by scripts/fashiontable (mean and range of the test accuracy over the seeds, wall
# times). Distillation is offline for kl, dkd and kl+std: the teacher's logits for the 60,000
# unshifted training images are computed once (distill targets); no jitter, so every row sees the
# same images. The online runs (the augmentation issue's measurements; e.g. STUDENTS=resnet
# RUNS="alone kl-online kl+aug kl+aug+hint") run the teacher on each batch as the student sees it:
# kl-online as kl; kl+aug with --augment AUGMENT; kl+aug+hint with --hint HINT as well.
#
# Idempotent: a run whose metrics file has all its epochs, under the same settings and (when
# distilled) the same teacher, is skipped; its wall time is kept in
# <run>.seconds. Each run is one `distill train` with a step schedule (EPOCHS-FINE_EPOCHS at
# 1e-3, then FINE_EPOCHS at 1e-4), Adam, batch 128.
#
# Environment (defaults in brackets):
#   EPOCHS [10]  FINE_EPOCHS [2]  SEEDS ["1 2 3"]  STUDENTS ["mlp cnn"; also resnet, mobilenet]
#   RUNS ["alone kl dkd kl+std"; also kl-online kl+aug kl+aug+hint]
#   AUGMENT [crop:2,flip]  HINT [layer6.out=s2:loss=at:weight=500: the teacher's second 64-channel
#   relu, 14x14, onto the ResNet's second stage; weight beta/2 = 500 as Zagoruyko & Komodakis's code
#   weighs its at_loss, which is distill's "at"]
#   T_KL [4] ALPHA_KL [0.9]   T_DKD [4] ALPHA_DKD [0.5] DKD_WARMUP [2]   T_STD [2] ALPHA_STD [0.9]
#   TEACHER [models/fashion-teacher.onnx]  OUT [out/fashion-table]  DISTILL [bin/distill]  FASHION_DIR [data/fashion]
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${DISTILL:-bin/distill}
D=${FASHION_DIR:-data/fashion}
OUT=${OUT:-out/fashion-table}
TEACHER=${TEACHER:-models/fashion-teacher.onnx}
EPOCHS=${EPOCHS:-10}
FINE_EPOCHS=${FINE_EPOCHS:-2}
SEEDS=${SEEDS:-"1 2 3"}
STUDENTS=${STUDENTS:-"mlp cnn"}
RUNS=${RUNS:-"alone kl dkd kl+std"}
T_KL=${T_KL:-4} ALPHA_KL=${ALPHA_KL:-0.9}
T_DKD=${T_DKD:-4} ALPHA_DKD=${ALPHA_DKD:-0.5} DKD_WARMUP=${DKD_WARMUP:-2}
T_STD=${T_STD:-2} ALPHA_STD=${ALPHA_STD:-0.9}
AUGMENT=${AUGMENT:-crop:2,flip}
HINT=${HINT:-layer6.out=s2:loss=at:weight=500}

for f in "$BIN" "$D/train-images-idx3-ubyte.gz" "$D/t10k-images-idx3-ubyte.gz"; do
	[[ -e $f ]] || { echo "fashion-table: $f is missing: run scripts/setup.sh and make build" >&2; exit 1; }
done
((EPOCHS > FINE_EPOCHS)) || { echo "fashion-table: FINE_EPOCHS $FINE_EPOCHS must be below EPOCHS $EPOCHS" >&2; exit 1; }
# Check every run name, and the teacher that distilled runs need, before anything trains.
distilled= offline=
for run in $RUNS; do
	case $run in
	alone) ;;
	kl | dkd | kl+std) distilled=1 offline=1 ;;
	kl-online | kl+aug | kl+aug+hint) distilled=1 ;;
	*) echo "fashion-table: unknown run '$run' in RUNS (want alone, kl, dkd, kl+std, kl-online, kl+aug or kl+aug+hint)" >&2; exit 2 ;;
	esac
done
for student in $STUDENTS; do
	[[ -f models/fashion-$student.json ]] || { echo "fashion-table: unknown student '$student' in STUDENTS (no models/fashion-$student.json)" >&2; exit 2; }
done
[[ -z $distilled || -f $TEACHER ]] ||
	{ echo "fashion-table: TEACHER $TEACHER is missing: RUNS '$RUNS' distils from it (see models/README.md)" >&2; exit 1; }
mkdir -p "$OUT"
PRE=(--scale 255 --mean 0.5 --std 0.5)
DATA=(--data "$D/train-images-idx3-ubyte.gz" --labels "$D/train-labels-idx1-ubyte.gz"
	--eval-data "$D/t10k-images-idx3-ubyte.gz" --eval-labels "$D/t10k-labels-idx1-ubyte.gz")
schedule="$((EPOCHS - FINE_EPOCHS)):1e-3"
((FINE_EPOCHS > 0)) && schedule+=",$EPOCHS:1e-4"

TARGETS=$OUT/teacher-train.safetensors
sum=
[[ -z $distilled ]] || sum=$(sha256sum "$TEACHER" | cut -d' ' -f1)
if [[ -n $offline ]]; then
	if [[ ! -f $TARGETS || "$(cat "$TARGETS.teacher" 2>/dev/null)" != "$sum" ]]; then
		"$BIN" targets --teacher "$TEACHER" --data "$D/train-images-idx3-ubyte.gz" --labels "$D/train-labels-idx1-ubyte.gz" \
			"${PRE[@]}" --out "$TARGETS" --overwrite
		echo "$sum" > "$TARGETS.teacher"
	fi
fi

# loss_flags RUN: the distillation flags of a run.
loss_flags() {
	case $1 in
	alone) ;;
	kl) echo "--soft-targets $TARGETS --temperature $T_KL --alpha $ALPHA_KL" ;;
	dkd) echo "--soft-targets $TARGETS --loss dkd --temperature $T_DKD --alpha $ALPHA_DKD --dkd-alpha 1 --dkd-beta 8 --dkd-warmup $DKD_WARMUP" ;;
	kl+std) echo "--soft-targets $TARGETS --standardize-logits --temperature $T_STD --alpha $ALPHA_STD" ;;
	kl-online) echo "--teacher $TEACHER --temperature $T_KL --alpha $ALPHA_KL" ;;
	kl+aug) echo "--teacher $TEACHER --temperature $T_KL --alpha $ALPHA_KL --augment $AUGMENT" ;;
	kl+aug+hint) echo "--teacher $TEACHER --temperature $T_KL --alpha $ALPHA_KL --augment $AUGMENT --hint $HINT" ;;
	esac
}

for student in $STUDENTS; do
	for run in $RUNS; do
		flags=$(loss_flags "$run")
		for seed in $SEEDS; do
			name=$student-$run-s$seed
			metrics=$OUT/$name.jsonl
			settings="epochs=$EPOCHS schedule=$schedule $flags"
			# A distilled run is redone when the teacher changes: its targets file keeps its path.
			[[ $run == alone ]] || settings+=" teacher=$sum"
			if [[ -f $metrics && "$(cat "$OUT/$name.settings" 2>/dev/null)" == "$settings" ]] &&
				(($(grep -c . "$metrics") >= EPOCHS)); then
				echo "fashion-table: $name done"
				continue
			fi
			echo "$settings" > "$OUT/$name.settings"
			echo "fashion-table: $name: $BIN train --model models/fashion-$student.json ... --seed $seed --schedule $schedule $flags"
			start=$(date +%s.%N)
			# shellcheck disable=SC2086 # flags are words
			"$BIN" train --model "models/fashion-$student.json" "${DATA[@]}" "${PRE[@]}" --batch 128 --seed "$seed" \
				--schedule "$schedule" $flags --out "$OUT/$name.ckpt" --metrics "$metrics" --overwrite > "$OUT/$name.log" 2>&1
			echo "$(date +%s.%N) - $start" | bc > "$OUT/$name.seconds"
			grep "^epoch" "$OUT/$name.log" | tail -n 1
		done
	done
done
if [[ -f $TEACHER ]]; then
	"$BIN" eval --model "$TEACHER" --data "$D/t10k-images-idx3-ubyte.gz" --labels "$D/t10k-labels-idx1-ubyte.gz" --json > "$OUT/eval-teacher.json"
fi
go run ./scripts/fashiontable --dir "$OUT" --students "$STUDENTS" --runs "$RUNS" --seeds "$SEEDS"
