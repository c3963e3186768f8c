#!/usr/bin/env bash
# The reference MNIST experiment (Hinton et al. 2015, section 3), end to end; DATASET=fashion runs
# the same steps on Fashion-MNIST with the CNN teacher models/fashion-teacher.onnx and the
# 784-800-800-10 student models/fashion-mlp.json (`make demo DATASET=fashion`):
#
#   1. the teacher models/mnist-teacher.onnx (784-1200-1200-10, dropout 0.5, jitter 2); trained
#      afresh by scripts/train-teacher.sh and exported when the file is absent;
#   2. its soft targets (logits) for the 60,000 training images;
#   3. students 784-800-800-10 with the same epochs, batch size and schedule:
#      a. the paper's baseline: hard labels, no regularisation (BASELINE_JITTER=0);
#      b. a baseline on hard labels with the distilled student's jitter (skipped with JITTER_BASELINE=0),
#         to tell what the soft targets add beyond the augmentation;
#      c. the distilled student: online teacher on the jittered images, T = 20, alpha = 0.7, Adam;
#   4. eval of all on the 10,000 test images (accuracy, errors, agreement with the teacher);
#   5. export of the distilled student to ONNX, verified under onnxruntime;
#   6. a results table here and out/demo/report.md with PNG plots.
#
# Run it with `make demo` (set-up and build first). It is idempotent: a finished step is skipped,
# an interrupted training run is resumed; a step whose settings changed is redone.
#
# The learning-rate schedule is a step: epochs 1..E-F at LR, the last F at LR_FINE, one run of
# `distill train --schedule E-F:LR,E:LR_FINE`.
#
# Environment (defaults in brackets; the second default is DATASET=fashion's):
#   DATASET [mnist]      mnist or fashion
#   EPOCHS [40; 20]      epochs of the students (BASELINE_EPOCHS, DISTILL_EPOCHS override)
#   FINE_EPOCHS [10; 5]  how many of the last epochs run at LR_FINE (students)
#   BATCH [128]          mini-batch size of the students
#   LR [1e-3] LR_FINE [1e-4]
#   T [20; 4] ALPHA [0.7; 0.9] JITTER [2]   the distilled student's (and the jittered baseline's jitter)
#   DISTILL_FLAGS []     more flags of the distilled student, e.g. "--loss dkd --alpha 0.5 --dkd-warmup 2"
#   BASELINE_JITTER [0]  jitter of the baseline student (the paper's is unregularised)
#   JITTER_BASELINE [1]  also train the baseline with JITTER (0: skip it)
#   TEACHER_SCHEDULE     the teacher's END:LR stages when it is trained (scripts/train-teacher.sh)
#   TEACHER [models/mnist-teacher.onnx; models/fashion-teacher.onnx]   OUT [out/demo; out/demo-fashion]   SEED [1]
#   STUDENT [models/mnist-student.json; models/fashion-mlp.json]   the students' spec, e.g.
#                        STUDENT=models/fashion-resnet.json (a small ResNet) or models/fashion-mobilenet.json
#   STUDENT_NAME         the students' name in the report [784-800-800-10 for the default, else the spec's file name]
#   TEACHER_NAME         the teacher's name in the report [its architecture for the default
#                        teacher, else the file's name], e.g. TEACHER=models/mnist-cnn-teacher.onnx
#   DISTILL [bin/distill]
# The defaults take about 11 minutes (654 s) on a 2-core machine with the shipped teacher. Longer runs
# only change these, e.g.  EPOCHS=100 FINE_EPOCHS=20 OUT=out/demo100 make demo
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${DISTILL:-bin/distill}
DATASET=${DATASET:-mnist}
case $DATASET in
mnist)
	D=${MNIST_DIR:-data/mnist} name=MNIST student=models/mnist-student.json teacher_name=784-1200-1200-10
	defaults=(out/demo 40 10 20 0.7) ;;
fashion)
	D=${FASHION_DIR:-data/fashion} name=Fashion-MNIST student=models/fashion-mlp.json
	teacher_name="CNN (models/fashion-teacher.json)" defaults=(out/demo-fashion 20 5 4 0.9) ;;
*)
	echo "demo: unknown DATASET '$DATASET' (want mnist or fashion)" >&2; exit 2 ;;
esac
student_name=784-800-800-10
if [[ -n ${STUDENT:-} && $STUDENT != "$student" ]]; then
	[[ -f $STUDENT ]] || { echo "demo: STUDENT $STUDENT is missing" >&2; exit 1; }
	student=$STUDENT student_name=$(basename "$STUDENT" .json)
fi
student_name=${STUDENT_NAME:-$student_name}
OUT=${OUT:-${defaults[0]}}
TEACHER=${TEACHER:-models/$DATASET-teacher.onnx}
[[ $TEACHER == "models/$DATASET-teacher.onnx" ]] || teacher_name=$(basename "$TEACHER" .onnx)
teacher_name=${TEACHER_NAME:-$teacher_name}
EPOCHS=${EPOCHS:-${defaults[1]}}
BASELINE_EPOCHS=${BASELINE_EPOCHS:-$EPOCHS}
DISTILL_EPOCHS=${DISTILL_EPOCHS:-$EPOCHS}
FINE_EPOCHS=${FINE_EPOCHS:-${defaults[2]}}
BATCH=${BATCH:-128}
LR=${LR:-1e-3}
LR_FINE=${LR_FINE:-1e-4}
T=${T:-${defaults[3]}}
ALPHA=${ALPHA:-${defaults[4]}}
read -r -a distill_flags <<< "${DISTILL_FLAGS:-}"
JITTER=${JITTER:-2}
BASELINE_JITTER=${BASELINE_JITTER:-0}
JITTER_BASELINE=${JITTER_BASELINE:-1}
SEED=${SEED:-1}

TRAIN_IMG=$D/train-images-idx3-ubyte.gz
TRAIN_LBL=$D/train-labels-idx1-ubyte.gz
TEST_IMG=$D/t10k-images-idx3-ubyte.gz
TEST_LBL=$D/t10k-labels-idx1-ubyte.gz
PRE=(--scale 255 --mean 0.5 --std 0.5)

for f in "$BIN" "$TRAIN_IMG" "$TRAIN_LBL" "$TEST_IMG" "$TEST_LBL"; do
	[[ -e $f ]] || { echo "demo: $f is missing: run 'make demo' (it runs scripts/setup.sh and builds bin/distill)" >&2; exit 1; }
done
mkdir -p "$OUT"

say() { printf '\n== %s\n' "$*"; }

# metrics_lines FILE: number of epochs recorded in a --metrics file (0 if absent).
metrics_lines() { if [[ -f $1 ]]; then grep -c . "$1" || true; else echo 0; fi; }

# train_stepped NAME EPOCHS FINE_EPOCHS ARGS...: trains $OUT/NAME.ckpt with the step schedule (LR,
# then LR_FINE for the last FINE_EPOCHS), resuming whatever an earlier run left, and redoing it
# when the settings (recorded in $OUT/NAME.settings, with $SETTINGS_EXTRA, e.g. the teacher's
# sha256) changed.
train_stepped() {
	local name=$1 epochs=$2 fine=$3
	shift 3
	local ckpt=$OUT/$name.ckpt metrics=$OUT/$name.jsonl
	local settings="epochs=$epochs fine=$fine lr=$LR lr_fine=$LR_FINE seed=$SEED ${SETTINGS_EXTRA:-}$*"
	if [[ -f $ckpt && "$(cat "$OUT/$name.settings" 2>/dev/null)" != "$settings" ]]; then
		echo "$name: settings changed; training afresh"
		rm -f "$ckpt" "$metrics" "$OUT/$name.png"
	fi
	echo "$settings" > "$OUT/$name.settings"
	local first=$((epochs - fine)) done schedule
	((first >= 1)) || { echo "demo: $name: FINE_EPOCHS $fine must be below the epochs $epochs" >&2; exit 1; }
	schedule="$first:$LR"
	((fine > 0)) && schedule+=",$epochs:$LR_FINE"
	done=$(metrics_lines "$metrics")
	[[ -f $ckpt ]] || done=0
	if ((done >= epochs)); then
		echo "$name: already trained to $epochs epochs ($ckpt)"
		return
	fi
	local how=(--overwrite)
	((done > 0)) && how=(--resume)
	"$BIN" train "$@" --eval-data "$TEST_IMG" --eval-labels "$TEST_LBL" --seed "$SEED" \
		--out "$ckpt" --metrics "$metrics" --plot "$OUT/$name.png" "${how[@]}" --schedule "$schedule"
}

start=$(date +%s)

say "1. teacher $TEACHER"
if [[ -f $TEACHER ]]; then
	echo "using $TEACHER (sha256 $(sha256sum "$TEACHER" | cut -c1-16)...)"
else
	echo "$TEACHER is absent: training it with scripts/train-teacher.sh (see models/README.md)"
	env DATASET="$DATASET" OUT="$OUT/teacher" TEACHER="$TEACHER" DISTILL="$BIN" MNIST_DIR="$D" FASHION_DIR="$D" SEED="$SEED" \
		${TEACHER_SCHEDULE:+"SCHEDULE=$TEACHER_SCHEDULE"} scripts/train-teacher.sh
fi
# A distilled student or soft targets made with another teacher are stale: the sha256 is part of
# their settings.
TEACHER_SHA=$(sha256sum "$TEACHER" | cut -d' ' -f1)

say "2. soft targets for the 60,000 training images"
TARGETS=$OUT/teacher-train.safetensors
if [[ -f $TARGETS && "$(cat "$TARGETS.teacher" 2>/dev/null)" == "$TEACHER_SHA" ]]; then
	echo "$TARGETS is there"
else
	# Absent, or made by another teacher: replace it.
	"$BIN" targets --teacher "$TEACHER" --data "$TRAIN_IMG" --labels "$TRAIN_LBL" "${PRE[@]}" --out "$TARGETS" --overwrite
	echo "$TEACHER_SHA" > "$TARGETS.teacher"
fi

students=(baseline)
say "3a. baseline student on hard labels, jitter $BASELINE_JITTER ($BASELINE_EPOCHS epochs)"
train_stepped baseline "$BASELINE_EPOCHS" "$FINE_EPOCHS" --model "$student" \
	--data "$TRAIN_IMG" --labels "$TRAIN_LBL" "${PRE[@]}" --jitter "$BASELINE_JITTER" --batch "$BATCH"

rm -f "$OUT/eval-baseline-jitter.json"
if [[ $JITTER_BASELINE != 0 && $JITTER != "$BASELINE_JITTER" ]]; then
	students+=(baseline-jitter)
	say "3b. baseline student on hard labels, jitter $JITTER ($BASELINE_EPOCHS epochs)"
	train_stepped baseline-jitter "$BASELINE_EPOCHS" "$FINE_EPOCHS" --model "$student" \
		--data "$TRAIN_IMG" --labels "$TRAIN_LBL" "${PRE[@]}" --jitter "$JITTER" --batch "$BATCH"
fi

students+=(distilled)
say "3c. distilled student, online teacher, T=$T alpha=$ALPHA jitter $JITTER ($DISTILL_EPOCHS epochs)"
SETTINGS_EXTRA="teacher_sha256=$TEACHER_SHA " train_stepped distilled "$DISTILL_EPOCHS" "$FINE_EPOCHS" --model "$student" \
	--data "$TRAIN_IMG" --labels "$TRAIN_LBL" "${PRE[@]}" --jitter "$JITTER" --batch "$BATCH" \
	--teacher "$TEACHER" --temperature "$T" --alpha "$ALPHA" ${distill_flags[@]+"${distill_flags[@]}"}

say "4. eval on the 10,000 test images"
"$BIN" eval --model "$TEACHER" --data "$TEST_IMG" --labels "$TEST_LBL" --json > "$OUT/eval-teacher.json"
for s in "${students[@]}"; do
	"$BIN" eval --model "$OUT/$s.ckpt" --data "$TEST_IMG" --labels "$TEST_LBL" --teacher "$TEACHER" --json > "$OUT/eval-$s.json"
done

say "5. export of the distilled student"
# The export is redone from the current checkpoint on every run.
"$BIN" export --model "$OUT/distilled.ckpt" --out "$OUT/distilled.onnx" --overwrite --spec "$student" \
	--verify 256 --verify-data "$TEST_IMG"
"$BIN" eval --model "$OUT/distilled.onnx" --data "$TEST_IMG" --labels "$TEST_LBL" --json > "$OUT/eval-distilled-onnx.json"

say "6. results"
go run ./scripts/demoreport --dir "$OUT" --teacher "$TEACHER" -T "$T" -alpha "$ALPHA" -jitter "$JITTER" \
	-baseline-jitter "$BASELINE_JITTER" -dataset "$name" -teacher-name "$teacher_name" -student-name "$student_name" \
	--command "$(printf '%s%sEPOCHS=%s FINE_EPOCHS=%s BATCH=%s LR=%s LR_FINE=%s T=%s ALPHA=%s JITTER=%s BASELINE_JITTER=%s make demo' \
		"$([[ $DATASET == mnist ]] || echo "DATASET=$DATASET ")" "$([[ $student_name == 784-800-800-10 ]] || echo "STUDENT=$student ")" "$EPOCHS" "$FINE_EPOCHS" "$BATCH" "$LR" "$LR_FINE" "$T" "$ALPHA" "$JITTER" "$BASELINE_JITTER")${DISTILL_FLAGS:+ DISTILL_FLAGS=\"$DISTILL_FLAGS\"}"
echo
echo "report: $OUT/report.md (this run took $(($(date +%s) - start)) s of wall time)"
