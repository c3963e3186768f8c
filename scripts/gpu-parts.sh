#!/usr/bin/env bash
# gpu-parts.sh: pack a folder into numbered parts with a manifest of sha256 sums, for a machine
# that receives its files a few tens of MiB at a time (scripts/gpu-stage.sh uses it; the GPU
# machine unpacks with scripts/gpu-check.sh).
#
#   scripts/gpu-parts.sh pack <src-dir> <out-dir> <part-bytes>
#
# <out-dir> gets part-00, part-01, ...: one xz-compressed tar of <src-dir>, cut into pieces of at
# most <part-bytes> bytes, and manifest.sha256 (`sha256sum -c` format) with the sum of every
# part, of the whole archive (bundle.tar.xz) and of every file of <src-dir> (files/<path>), which
# is what the receiving side checks after reassembling.
set -euo pipefail

die() { echo "gpu-parts: $*" >&2; exit 1; }

[ "${1:-}" = pack ] && [ $# -eq 4 ] || { sed -n '2,11p' "$0" >&2; exit 2; }
src=$2 out=$3 part_bytes=$4
[ -d "$src" ] || die "$src is not a directory"
case "$part_bytes" in ''|*[!0-9]*) die "part size $part_bytes: want a number of bytes" ;; esac
command -v xz >/dev/null 2>&1 || die "xz not found: install it (apt-get install xz-utils)"

mkdir -p "$out"
rm -f "$out"/part-* "$out/manifest.sha256" "$out/bundle.tar.xz"
# A fixed order, owner and time, so that the same files give the same archive.
(cd "$src" && find . -type f | LC_ALL=C sort | sed 's|^\./||' \
  | tar --owner=0 --group=0 --numeric-owner --mtime=@0 --no-recursion -cf - -T -) \
  | xz -T0 -6 -c >"$out/bundle.tar.xz"
split -b "$part_bytes" -d -a 2 "$out/bundle.tar.xz" "$out/part-"
n=$(find "$out" -maxdepth 1 -name 'part-*' | wc -l)
[ "$n" -le 100 ] || die "$n parts: more than split's two digits number; use larger parts"
{
  (cd "$out" && sha256sum part-* bundle.tar.xz)
  (cd "$src" && find . -type f | LC_ALL=C sort | sed 's|^\./||' | xargs -d '\n' sha256sum | sed 's|  |  files/|')
} >"$out/manifest.sha256.tmp"
mv "$out/manifest.sha256.tmp" "$out/manifest.sha256"
size=$(stat -c %s "$out/bundle.tar.xz")
rm "$out/bundle.tar.xz" # the parts hold it; the manifest keeps its sum
echo "gpu-parts: $src -> $n parts of at most $part_bytes bytes ($size bytes of xz) in $out" >&2
