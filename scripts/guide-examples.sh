#!/usr/bin/env bash
# Runs the user guide's worked examples as written, on a fresh copy of the committed tree: every
# ```console block of docs/guide/*.md, its `$ ` commands (a line ending in a backslash continues
# on the next) run in order in one shell per block, the pages in the order their examples build on
# each other (training, teachers, export, evaluation, data, gpu-and-clusters). A block whose
# fence is preceded by a line `<!-- example not run: REASON -->` is skipped, and the reason
# printed (those need a longer run first, such as `make paper`). Blocks without a `$` prompt are
# templates for the reader's own files and are not run. It prints each block's last line and
# fails on the first command that fails.
#
# Usage: scripts/guide-examples.sh [-k]   (-k keeps the copy, whose path it prints)
# Needs: scripts/setup.sh done here (third_party/ and data/ are linked into the copy); Debian's
# python3-sklearn package for the iris example (fetched into third_party/debs/ with apt-get
# download when missing, and unpacked into the copy's x/ as the guide says).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
keep=0
[[ ${1:-} == -k ]] && keep=1
[[ -d third_party/onnxruntime && -d data/mnist ]] || scripts/setup.sh
debs=third_party/debs
if ! compgen -G "$debs/python3-sklearn_*.deb" >/dev/null; then
	mkdir -p "$debs"
	(cd "$debs" && apt-get download python3-sklearn)
fi
work=$(mktemp -d /tmp/distill-guide-XXXXXX)
(( keep )) || trap 'rm -rf "$work"' EXIT
git archive HEAD | tar -x -C "$work"
ln -s "$root/third_party" "$work/third_party"
ln -s "$root/data" "$work/data"
dpkg-deb -x "$(compgen -G "$debs/python3-sklearn_*.deb" | head -1)" "$work/x"
cd "$work"
go build -o bin/distill ./cmd/distill

# blocks FILE: writes each runnable console block of FILE as guide-N.sh (N counting on from the
# files before), and prints "skip FILE:LINE REASON" for each marked one.
n=0
blocks() {
	awk -v file="$1" -v start="$n" '
		/^<!-- example not run: .* -->$/ { reason = $0; sub(/^<!-- example not run: /, "", reason); sub(/ -->$/, "", reason); marked = NR; next }
		/^```console$/ {
			inblock = 1; skip = (marked && NR - marked <= 2); cmds = ""; cont = 0; line = NR
			if (skip) printf "skip %s:%d %s\n", file, NR, reason
			next
		}
		/^```/ && inblock {
			inblock = 0
			if (!skip && cmds != "") { start++; printf "set -euo pipefail\n%s", cmds > ("guide-" sprintf("%03d", start) ".sh"); printf "block %s:%d guide-%03d.sh\n", file, line, start }
			next
		}
		inblock && !skip {
			if (cont) { cmds = cmds $0 "\n"; cont = ($0 ~ /\\$/); next }
			if ($0 ~ /^\$ /) { c = substr($0, 3); cmds = cmds c "\n"; cont = (c ~ /\\$/) }
		}
	' "$1"
}

start=$SECONDS
ran=0 skipped=0
for page in training teachers export evaluation data gpu-and-clusters; do
	while read -r kind where what; do
		if [[ $kind == skip ]]; then
			echo "-- not run: $where ($what)"
			skipped=$((skipped + 1))
			continue
		fi
		n=$((n + 1))
		echo "-- $where"
		if ! out=$(bash "$what" 2>&1); then
			echo "$out" | tail -n 8
			echo "guide-examples: FAILED: the block at $where ($(cat "$what" | sed -n 2p | cut -c1-100) ...)" >&2
			exit 1
		fi
		echo "$out" | tail -n 1 | sed 's/^/  /'
		ran=$((ran + 1))
	done < <(blocks "docs/guide/$page.md")
done
(( ran > 0 )) || { echo "guide-examples: no example blocks in docs/guide" >&2; exit 1; }
echo "guide-examples: $ran blocks ran in $((SECONDS - start)) s; $skipped marked not run"
(( keep )) && echo "guide-examples: the copy is in $work"
exit 0
