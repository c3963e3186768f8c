#!/usr/bin/env bash
# gpu-stage.sh: stage the GPU check for the GPU machine, which has no Go, no package registry and
# takes at most 64 MiB of files per call of the device `run` tool (the tracked tree is ~11 MB of it).
#
#   scripts/gpu-stage.sh
#
# It installs the CUDA pair of onnxruntime (scripts/setup.sh --cuda), builds the check
# (scripts/gpucheck, stripped), and packs into out/gpu-stage/ (ignored by git):
#   part-00, part-01, ...  one xz-compressed tar of files/, in parts of at most 48 MiB
#   manifest.sha256        the sha256 of every part, of the archive and of every file in it
#   runs.txt               the calls of the `run` tool to make, back to back, with their carry lists
# files/ holds gpucheck, lib/ (libonnxruntime.so.1 and the two CUDA provider libraries) and data/
# (MNIST's test set); the MNIST teacher (models/mnist-teacher.onnx) travels in the tree.
# Each call brings one part (and the manifest) and `scripts/gpu-check.sh receive` keeps it in
# /tmp/distill-gpu on the machine; the last call's `scripts/gpu-check.sh run` reassembles,
# checks every sum, runs ldd on the libraries with the CUDA folders of the machine's PyTorch on
# LD_LIBRARY_PATH, and runs the check, whose last line is the VERDICT (see scripts/gpu-check.sh).
# $DISTILL_GPU_PART_BYTES overrides the part size (default 50331648, 48 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

case "${1:-}" in
  -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
  "") ;;
  *) echo "gpu-stage: no arguments (see --help)" >&2; exit 2 ;;
esac
log() { echo "gpu-stage: $*" >&2; }

part_bytes=${DISTILL_GPU_PART_BYTES:-50331648}
stage=$root/out/gpu-stage
cuda=$root/third_party/onnxruntime/cuda
mnist=$root/data/mnist

"$root/scripts/setup.sh" --cuda
rm -rf "$stage" && mkdir -p "$stage/files/lib" "$stage/files/data"
log "building scripts/gpucheck"
CGO_ENABLED=1 go build -trimpath -ldflags='-s -w' -o "$stage/files/gpucheck" ./scripts/gpucheck
for l in libonnxruntime.so.1 libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so; do
  cp "$cuda/$l" "$stage/files/lib/$l"
done
cp "$mnist/t10k-images-idx3-ubyte.gz" "$mnist/t10k-labels-idx1-ubyte.gz" "$stage/files/data/"
log "packing (xz, a minute or two)"
"$root/scripts/gpu-parts.sh" pack "$stage/files" "$stage" "$part_bytes"
rm -rf "$stage/files"

# runs.txt: one `run` call per part; the last one also reassembles and checks.
parts=()
while IFS= read -r p; do parts+=("$p"); done < <(awk '$2 ~ /^part-/ {print $2}' "$stage/manifest.sha256" | LC_ALL=C sort)
last=$((${#parts[@]} - 1))
{
  echo "# ${#parts[@]} calls of the device run tool, back to back (the parts wait in /tmp/distill-gpu while the machine stays warm)."
  for i in "${!parts[@]}"; do
    p=out/gpu-stage/${parts[$i]}
    if [ "$i" -lt "$last" ]; then
      printf 'run command="bash scripts/gpu-check.sh receive %s" carry=["%s","out/gpu-stage/manifest.sha256"] timeout_s=120\n' "$p" "$p"
    else
      printf 'run command="bash scripts/gpu-check.sh run %s" carry=["%s","out/gpu-stage/manifest.sha256"] timeout_s=540\n' "$p" "$p"
    fi
  done
} >"$stage/runs.txt"
ls -l "$stage" >&2
cat "$stage/runs.txt" >&2
