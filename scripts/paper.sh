#!/usr/bin/env bash
# Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network", section 3: the
# MNIST experiments beyond the headline table, with this project's own commands:
#
#   set-up  the transfer set: the first SPLIT (55,000) MNIST training images; the other 5,000
#           are held out, for fitting bias shifts (scripts/mnistsplit); the soft targets of the
#           shipped teacher (models/mnist-teacher.onnx) for the transfer set (distill targets);
#   1.      the digit 3 left out: a 784-800-800-10 student distilled offline with
#           --exclude-classes 3, evaluated on the whole test set as it is, with the paper's bias
#           shift (3=+3.5) and with the shift fitted on the held-out images (--fit-bias 3);
#   2.      only 7s and 8s: the same with --only-classes 7,8, the paper's shifts 7=-7.6,8=-7.6,
#           and the fitted ones (--fit-bias 7,8);
#   3.      small students and temperature: students of 30 and 300 units per hidden layer
#           distilled at each T of TEMPS (distill sweep), and each trained on hard labels alone;
#   report  out/paper/report.md with one table per experiment beside the paper's numbers, and
#           PNG plots (scripts/paperreport).
#
# Every step is idempotent: a finished one is skipped, an interrupted training run is resumed, and
# a run whose settings changed is redone. Run it with `make paper` (builds bin/distill first).
#
# Environment (defaults in brackets):
#   SEEDS ["1 2 3"]          the seeds of every student (each experiment is run once per seed)
#   EPOCHS [60]  FINE_EPOCHS [15]   epochs of the students of experiments 1 and 2 (the last
#                            FINE_EPOCHS at LR_FINE)
#   SMALL_EPOCHS [40]  SMALL_FINE_EPOCHS [10]   the same for experiment 3
#   LR [1e-3]  LR_FINE [1e-4]  BATCH [128]
#   T [20]  ALPHA [0.7]      temperature and soft-loss weight of experiments 1 and 2
#   TEMPS ["1,2,2.5,3,4,5,8,20"]  SMALL_ALPHA [$ALPHA]  SMALL_UNITS ["30 300"]   experiment 3
#   EXPERIMENTS ["1 2 3"]    which experiments to run (the report shows those that are there)
#   SPLIT [55000]            transfer-set size; the rest of the 60,000 is held out
#   TEACHER [models/mnist-teacher.onnx]  OUT [out/paper]  DISTILL [bin/distill]  MNIST_DIR [data/mnist]
# The defaults take about an hour on a 2-core machine. A quick check of the whole script:
#   SEEDS=1 EPOCHS=2 FINE_EPOCHS=1 SMALL_EPOCHS=2 SMALL_FINE_EPOCHS=1 TEMPS=1,4,20 OUT=out/paper-quick scripts/paper.sh
# (37 s here).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${DISTILL:-bin/distill}
OUT=${OUT:-out/paper}
D=${MNIST_DIR:-data/mnist}
TEACHER=${TEACHER:-models/mnist-teacher.onnx}
SEEDS=${SEEDS:-"1 2 3"}
EPOCHS=${EPOCHS:-60}
FINE_EPOCHS=${FINE_EPOCHS:-15}
SMALL_EPOCHS=${SMALL_EPOCHS:-40}
SMALL_FINE_EPOCHS=${SMALL_FINE_EPOCHS:-10}
LR=${LR:-1e-3}
LR_FINE=${LR_FINE:-1e-4}
BATCH=${BATCH:-128}
T=${T:-20}
ALPHA=${ALPHA:-0.7}
TEMPS=${TEMPS:-"1,2,2.5,3,4,5,8,20"}
SMALL_ALPHA=${SMALL_ALPHA:-$ALPHA}
SMALL_UNITS=${SMALL_UNITS:-"30 300"}
EXPERIMENTS=${EXPERIMENTS:-"1 2 3"}
SPLIT=${SPLIT:-55000}

TEST_IMG=$D/t10k-images-idx3-ubyte.gz
TEST_LBL=$D/t10k-labels-idx1-ubyte.gz
PRE=(--scale 255 --mean 0.5 --std 0.5)

for f in "$BIN" "$D/train-images-idx3-ubyte.gz" "$D/train-labels-idx1-ubyte.gz" "$TEST_IMG" "$TEST_LBL" "$TEACHER"; do
	[[ -e $f ]] || { echo "paper: $f is missing: run 'make paper' (it runs scripts/setup.sh and builds bin/distill)" >&2; exit 1; }
done
mkdir -p "$OUT"
start=$(date +%s)
say() { printf '\n== %s (%d s)\n' "$*" "$(($(date +%s) - start))"; }
runs() { [[ " $EXPERIMENTS " == *" $1 "* ]]; }

metrics_lines() { if [[ -f $1 ]]; then grep -c . "$1" || true; else echo 0; fi; }

# schedule EPOCHS FINE: the step schedule END:LR[,END:LR_FINE].
schedule() {
	local first=$(($1 - $2))
	((first >= 1)) || { echo "paper: FINE_EPOCHS $2 must be below the epochs $1" >&2; exit 1; }
	if (($2 > 0)); then echo "$first:$LR,$1:$LR_FINE"; else echo "$first:$LR"; fi
}

# fresh_if_changed DIR SETTINGS...: empties DIR when the settings recorded there differ.
fresh_if_changed() {
	local dir=$1
	shift
	mkdir -p "$dir"
	if [[ "$(cat "$dir/settings" 2>/dev/null)" != "$*" ]]; then
		[[ -f $dir/settings ]] && echo "$dir: settings changed; starting afresh"
		find "$dir" -mindepth 1 -delete
		echo "$*" > "$dir/settings"
	fi
}

# train_run CKPT EPOCHS FINE ARGS...: trains CKPT (metrics and plot beside it) on the transfer
# set to EPOCHS, resuming what an earlier run left.
train_run() {
	local ckpt=$1 epochs=$2 fine=$3
	shift 3
	local base=${ckpt%.ckpt} done how=(--overwrite)
	done=$(metrics_lines "$base.jsonl")
	[[ -f $ckpt ]] || done=0
	if ((done >= epochs)); then
		echo "$ckpt: already trained to $epochs epochs"
		return
	fi
	((done > 0)) && how=(--resume)
	"$BIN" train "$@" --data "$SPLIT_DIR/first-images.idx" --labels "$SPLIT_DIR/first-labels.idx" "${PRE[@]}" \
		--eval-data "$TEST_IMG" --eval-labels "$TEST_LBL" --batch "$BATCH" --schedule "$(schedule "$epochs" "$fine")" \
		--out "$ckpt" --metrics "$base.jsonl" --plot "$base.png" "${how[@]}"
}

# eval_json OUT.json CKPT ARGS...: evaluates CKPT on the test set unless OUT.json is newer.
eval_json() {
	local out=$1 ckpt=$2
	shift 2
	[[ -f $out && $out -nt $ckpt ]] && return
	"$BIN" eval --model "$ckpt" --data "$TEST_IMG" --labels "$TEST_LBL" --json "$@" > "$out.tmp"
	mv "$out.tmp" "$out"
}

say "set-up: transfer set of $SPLIT images, $((60000 - SPLIT)) held out"
SPLIT_DIR=$OUT/split-$SPLIT
if [[ ! -f $SPLIT_DIR/rest-labels.idx ]]; then
	go run ./scripts/mnistsplit --images "$D/train-images-idx3-ubyte.gz" --labels "$D/train-labels-idx1-ubyte.gz" \
		--at "$SPLIT" --out "$SPLIT_DIR"
fi
TEACHER_SHA=$(sha256sum "$TEACHER" | cut -d' ' -f1)
TARGETS=$OUT/teacher-train$SPLIT.safetensors
if [[ -f $TARGETS && "$(cat "$TARGETS.teacher" 2>/dev/null)" == "$TEACHER_SHA" ]]; then
	echo "$TARGETS is there"
else
	"$BIN" targets --teacher "$TEACHER" --data "$SPLIT_DIR/first-images.idx" --labels "$SPLIT_DIR/first-labels.idx" \
		"${PRE[@]}" --out "$TARGETS" --overwrite
	echo "$TEACHER_SHA" > "$TARGETS.teacher"
fi
[[ -f $OUT/eval-teacher.json ]] || "$BIN" eval --model "$TEACHER" --data "$TEST_IMG" --labels "$TEST_LBL" --json > "$OUT/eval-teacher.json"

# filtered_experiment N FILTER PAPER_SHIFT FIT_CLASSES: experiments 1 and 2.
filtered_experiment() {
	local n=$1 filter=$2 paper_shift=$3 fit=$4 seed dir
	for seed in $SEEDS; do
		dir=$OUT/exp$n/s$seed
		fresh_if_changed "$dir" "teacher=$TEACHER_SHA split=$SPLIT filter=$filter epochs=$EPOCHS fine=$FINE_EPOCHS lr=$LR lr_fine=$LR_FINE batch=$BATCH T=$T alpha=$ALPHA"
		say "experiment $n, seed $seed: 784-800-800-10 distilled with $filter (T=$T, alpha $ALPHA, $EPOCHS epochs)"
		# shellcheck disable=SC2086
		train_run "$dir/student.ckpt" "$EPOCHS" "$FINE_EPOCHS" --model models/mnist-student.json --soft-targets "$TARGETS" \
			--temperature "$T" --alpha "$ALPHA" --seed "$seed" $filter
		eval_json "$dir/eval-plain.json" "$dir/student.ckpt"
		eval_json "$dir/eval-paper.json" "$dir/student.ckpt" --bias-shift "$paper_shift"
		eval_json "$dir/eval-fit.json" "$dir/student.ckpt" --fit-bias "$fit" \
			--fit-data "$SPLIT_DIR/rest-images.idx" --fit-labels "$SPLIT_DIR/rest-labels.idx"
	done
}

runs 1 && filtered_experiment 1 "--exclude-classes 3" "3=+3.5" 3
runs 2 && filtered_experiment 2 "--only-classes 7,8" "7=-7.6,8=-7.6" 7,8

if runs 3; then
	mkdir -p "$OUT/specs"
	for u in $SMALL_UNITS; do
		spec=$OUT/specs/mnist-student-$u.json
		printf '{"name": "mnist-student-%s", "input": [784], "classes": 10, "layers": [\n  {"type": "dense", "units": %s}, {"type": "relu"},\n  {"type": "dense", "units": %s}, {"type": "relu"},\n  {"type": "dense", "units": 10}\n]}\n' \
			"$u" "$u" "$u" > "$spec.tmp"
		cmp -s "$spec.tmp" "$spec" && rm "$spec.tmp" || mv "$spec.tmp" "$spec"
		for seed in $SEEDS; do
			dir=$OUT/exp3/h$u-s$seed
			fresh_if_changed "$dir" "teacher=$TEACHER_SHA split=$SPLIT units=$u temps=$TEMPS alpha=$SMALL_ALPHA epochs=$SMALL_EPOCHS fine=$SMALL_FINE_EPOCHS lr=$LR lr_fine=$LR_FINE batch=$BATCH"
			say "experiment 3, seed $seed: 784-$u-$u-10 on hard labels ($SMALL_EPOCHS epochs)"
			train_run "$dir/hard.ckpt" "$SMALL_EPOCHS" "$SMALL_FINE_EPOCHS" --model "$spec" --seed "$seed"
			say "experiment 3, seed $seed: 784-$u-$u-10 distilled at T in {$TEMPS}, alpha $SMALL_ALPHA"
			"$BIN" sweep --model "$spec" --data "$SPLIT_DIR/first-images.idx" --labels "$SPLIT_DIR/first-labels.idx" \
				--soft-targets "$TARGETS" "${PRE[@]}" --eval-data "$TEST_IMG" --eval-labels "$TEST_LBL" \
				--temperatures "$TEMPS" --alphas "$SMALL_ALPHA" --batch "$BATCH" --seed "$seed" \
				--schedule "$(schedule "$SMALL_EPOCHS" "$SMALL_FINE_EPOCHS")" --out-dir "$dir/sweep"
		done
	done
fi

say "report"
go run ./scripts/paperreport --dir "$OUT" --seeds "$SEEDS" --units "$SMALL_UNITS" --teacher "$TEACHER" \
	--command "$(printf 'SEEDS="%s" EPOCHS=%s FINE_EPOCHS=%s SMALL_EPOCHS=%s SMALL_FINE_EPOCHS=%s LR=%s LR_FINE=%s BATCH=%s T=%s ALPHA=%s TEMPS=%s SMALL_ALPHA=%s SPLIT=%s make paper' \
		"$SEEDS" "$EPOCHS" "$FINE_EPOCHS" "$SMALL_EPOCHS" "$SMALL_FINE_EPOCHS" "$LR" "$LR_FINE" "$BATCH" "$T" "$ALPHA" "$TEMPS" "$SMALL_ALPHA" "$SPLIT")"
echo
echo "report: $OUT/report.md (this run took $(($(date +%s) - start)) s of wall time)"
