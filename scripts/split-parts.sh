#!/usr/bin/env bash
# split-parts.sh: cut large files into gzip-compressed parts of at most 60 MB, with sha256 manifests,
# for copying the CUDA build of onnxruntime to a machine without a package registry.
#
#   scripts/split-parts.sh OUTDIR [FILE...]
#
# FILE defaults to the two npm archives that scripts/setup-cuda.sh fetched into third_party/npm/.
# For each FILE, OUTDIR gets NAME.gz.part-000, -001, ...: one gzip stream of FILE cut into pieces of
# at most 60,000,000 bytes (`cat NAME.gz.part-* | gunzip` gives FILE back). OUTDIR/parts.sha256
# lists every part's sha256 and OUTDIR/files.sha256 every whole FILE's, both in `sha256sum` format.
# Copy OUTDIR to the other machine and run there:
#
#   DISTILL_CUDA_PARTS=OUTDIR scripts/setup.sh --cuda
set -euo pipefail

part_bytes=60000000 # 60 MB, the largest file the transfer allows

if [ $# -lt 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  sed -n '2,14p' "$0"; [ $# -ge 1 ] && exit 0; exit 2
fi
out=$1; shift
root=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -eq 0 ]; then
  set -- "$root/third_party/npm/com.github.asus4.onnxruntime-0.4.9.tgz" \
         "$root/third_party/npm/com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz"
fi

mkdir -p "$out"
for f in "$@"; do
  if [ ! -f "$f" ]; then
    echo "split-parts: $f: no such file (run scripts/setup.sh --cuda first to fetch the CUDA pair)" >&2
    exit 1
  fi
done

: >"$out/parts.sha256.tmp"
: >"$out/files.sha256.tmp"
for f in "$@"; do
  name=$(basename "$f")
  rm -f "$out/$name.gz.part-"*
  echo "split-parts: $name" >&2
  gzip -n -c "$f" | split -b "$part_bytes" -d -a 3 - "$out/$name.gz.part-"
  (cd "$out" && sha256sum "$name.gz.part-"*) >>"$out/parts.sha256.tmp"
  (cd "$(dirname "$f")" && sha256sum "$name") >>"$out/files.sha256.tmp"
done
mv "$out/parts.sha256.tmp" "$out/parts.sha256"
mv "$out/files.sha256.tmp" "$out/files.sha256"
ls -l "$out" >&2
echo "split-parts: copy $out to the GPU machine, then run: DISTILL_CUDA_PARTS=<that dir> scripts/setup.sh --cuda" >&2
