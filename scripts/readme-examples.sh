#!/usr/bin/env bash
# Runs the README's quick start as written, on a fresh copy of the committed tree: the shell blocks
# of README.md that call bin/distill or scripts (not `make demo`/`make test`), the rehearsal block
# (which makes the folders and the teacher from MNIST) first, then the quick start itself. It
# prints each command's last line and fails on the first command that fails.
#
# Usage: scripts/readme-examples.sh [-k]   (-k keeps the copy, whose path it prints)
# Needs: scripts/setup.sh done here (third_party/ and data/ are linked into the copy, as
# `make build` would fetch them there).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
keep=0
[[ ${1:-} == -k ]] && keep=1
[[ -d third_party/onnxruntime && -d data/mnist ]] || scripts/setup.sh
work=$(mktemp -d /tmp/distill-readme-XXXXXX)
(( keep )) || trap 'rm -rf "$work"' EXIT
git archive HEAD | tar -x -C "$work"
ln -s "$root/third_party" "$work/third_party"
ln -s "$root/data" "$work/data"
cd "$work"
go build -o bin/distill ./cmd/distill
# The ```sh blocks of README.md, one file each, in order.
awk '/^```sh$/ {n++; on=1; next} /^```$/ {on=0} on {print > ("block" n ".sh")}' README.md
blocks=()
for f in block*.sh; do
	grep -q 'make demo\|make test' "$f" && continue
	if grep -q mkimagefolder "$f"; then blocks=("$f" "${blocks[@]}"); else blocks+=("$f"); fi
done
(( ${#blocks[@]} > 0 )) || { echo "readme-examples: no example blocks in README.md" >&2; exit 1; }
start=$SECONDS
for f in "${blocks[@]}"; do
	# Lines continued with a backslash are one command.
	while IFS= read -r cmd; do
		[[ -z $cmd || $cmd == \#* ]] && continue
		echo "\$ ${cmd:0:120}"
		if ! out=$(bash -c "$cmd" 2>&1); then
			echo "$out" | tail -n 5
			echo "readme-examples: FAILED: $cmd" >&2
			exit 1
		fi
		echo "$out" | tail -n 1 | sed 's/^/  /'
	done < <(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$f")
done
echo "readme-examples: every command of ${#blocks[@]} blocks ran in $((SECONDS - start)) s"
(( keep )) && echo "readme-examples: the copy is in $work"
exit 0
