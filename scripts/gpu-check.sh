#!/usr/bin/env bash
# gpu-check.sh: the GPU check, run on the GPU machine from the parts scripts/gpu-stage.sh made.
#
#   scripts/gpu-check.sh receive <part>   keep one part, checked against the manifest.sha256 beside it
#   scripts/gpu-check.sh run [<part>]     receive the last part, then reassemble, check every sum,
#                                         ldd the libraries and run the check (scripts/gpucheck)
#   scripts/gpu-check.sh assemble         reassemble and check every sum only
#
# The GPU machine has no Go and no package registry, and each call of the device `run` tool takes
# at most 64 MiB of files, so scripts/gpu-stage.sh cuts what the check needs (the gpucheck binary,
# the CUDA pair of onnxruntime, the MNIST test set) into parts of 48 MiB, and each call brings one
# part (and the manifest) here. The parts wait in $DISTILL_GPU_TMP (default /tmp/distill-gpu),
# which lasts while the machine stays warm (it waits about 30 s for the next call): make the calls
# back to back (the sequence is in out/gpu-stage/runs.txt and in docs/guide/gpu-and-clusters.md, "The GPU check").
# The CUDA 13 libraries are those of the machine's PyTorch (/opt/torch/.venv:
# site-packages/nvidia/*/lib, such as nvidia/cu13/lib and nvidia/cudnn/lib), else the toolkit's. Every step runs under `timeout`; everything is
# also written to $OUT/gpu-check.log ($OUT is the folder the run tool brings back; out/gpu-check/
# when it is unset). `run` ends with exactly one line
#   VERDICT PASS|FAIL maxdiff=... agree=... cpu=.../s cuda=.../s ratio=...
# and exits 0 only on PASS. $DISTILL_GPU_ID picks the GPU (default 0).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

tmp=${DISTILL_GPU_TMP:-/tmp/distill-gpu}
logdir=${OUT:-$root/out/gpu-check}
mkdir -p "$tmp" "$logdir"
exec 3>&1 4>&2
exec > >(tee -a "$logdir/gpu-check.log") 2>&1
tee_pid=$!
# On exit, give the log's tee its end of file and wait for it, so that the last line (the
# VERDICT) is written and shown before the script ends.
trap 'exec 1>&3 2>&4; wait "$tee_pid" 2>/dev/null || true' EXIT

mode=${1:-}
log() { echo "gpu-check: $*"; }
fail_verdict="VERDICT FAIL maxdiff=- agree=- cpu=-/s cuda=-/s ratio=-"
die() {
  log "FAIL: $*"
  [ "$mode" = run ] && echo "$fail_verdict"
  exit 1
}
t() { timeout "${STEP_TIMEOUT:-120}" "$@"; } # every step under a time limit

# receive PART: keep PART in $tmp once its sum matches the manifest beside it.
receive() {
  local part=$1 name manifest want got
  name=$(basename "$part")
  manifest=$(dirname "$part")/manifest.sha256
  [ -f "$part" ] || die "$part: no such part (carry it with the call)"
  [ -f "$manifest" ] || die "$manifest: no manifest beside $part (carry it with the call)"
  if [ -f "$tmp/manifest.sha256" ] && ! cmp -s "$manifest" "$tmp/manifest.sha256"; then
    log "a new staging: dropping the parts of the previous one in $tmp"
    rm -rf "${tmp:?}"/part-* "$tmp/files" "$tmp/bundle.tar.xz"
  fi
  t cp "$manifest" "$tmp/manifest.sha256.tmp" && mv "$tmp/manifest.sha256.tmp" "$tmp/manifest.sha256"
  want=$(awk -v n="$name" '$2 == n {print $1}' "$tmp/manifest.sha256")
  [ -n "$want" ] || die "$name is not a part listed in $manifest"
  got=$(t sha256sum "$part" | cut -d' ' -f1)
  [ "$got" = "$want" ] || die "$name is damaged: sha256 $got, manifest $want"
  t cp "$part" "$tmp/$name.tmp" && mv "$tmp/$name.tmp" "$tmp/$name"
  local have total
  total=$(grep -c '  part-' "$tmp/manifest.sha256")
  have=$(find "$tmp" -maxdepth 1 -name 'part-*' ! -name '*.tmp' | wc -l)
  log "received $name ($have of $total parts in $tmp)"
}

# unxz: decompress stdin to stdout with xz, else Python's lzma.
unxz_stream() {
  if command -v xz >/dev/null 2>&1; then
    xz -dc
  else
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.stdin.buffer), sys.stdout.buffer)'
  fi
}

# assemble: join the parts, check the archive's sum, unpack it into $tmp/files and check each file.
assemble() {
  local manifest=$tmp/manifest.sha256 missing=()
  [ -f "$manifest" ] || die "$manifest missing: no part was received (the machine was released? send every part again)"
  for p in $(awk '$2 ~ /^part-/ {print $2}' "$manifest"); do
    [ -f "$tmp/$p" ] || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] || die "parts missing in $tmp: ${missing[*]} (the machine was released between runs? send them again, back to back)"
  (cd "$tmp" && grep '  part-' manifest.sha256 | t sha256sum -c --quiet -) || die "a part in $tmp is damaged"
  awk '$2 ~ /^part-/ {print $2}' "$manifest" | LC_ALL=C sort | (cd "$tmp" && t xargs cat) >"$tmp/bundle.tar.xz"
  (cd "$tmp" && grep '  bundle.tar.xz$' manifest.sha256 | t sha256sum -c --quiet -) || die "the reassembled bundle.tar.xz does not match its sum"
  rm -rf "$tmp/files" && mkdir -p "$tmp/files"
  unxz_stream <"$tmp/bundle.tar.xz" | t tar -xf - -C "$tmp/files" || die "unpacking bundle.tar.xz failed"
  (cd "$tmp" && grep '  files/' manifest.sha256 | t sha256sum -c --quiet -) || die "a reassembled file does not match its sum"
  rm -f "$tmp/bundle.tar.xz"
  log "reassembled and checked $(grep -c '  files/' "$manifest") files in $tmp/files"
}

# cuda_dirs prints the folders of the CUDA 13 libraries: PyTorch's nvidia wheels, then the toolkit's.
cuda_dirs() {
  local sp
  {
    for sp in /opt/torch/.venv/lib/python3*/site-packages \
      $(t python3 -c 'import site; print("\n".join(site.getsitepackages()))' 2>/dev/null || true); do
      ls -d "$sp"/nvidia/*/lib 2>/dev/null || true
    done
    ls -d /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 2>/dev/null || true
  } | awk '!seen[$0]++'
}

# check: ldd the libraries with the CUDA folders on the path, then run gpucheck.
check() {
  local files=$tmp/files dirs
  dirs=$(cuda_dirs | paste -sd: -)
  export LD_LIBRARY_PATH="$dirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  log "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  t nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader || log "nvidia-smi failed"
  chmod +x "$files/gpucheck"
  local out
  out=$(t ldd "$files/lib/libonnxruntime_providers_cuda.so" "$files/lib/libonnxruntime.so.1" "$files/gpucheck" 2>&1) || true
  echo "$out"
  if grep -q 'not found' <<<"$out"; then
    die "ldd: libraries not found (above)"
  fi
  local cudnn=""
  for d in ${LD_LIBRARY_PATH//:/ }; do [ -e "$d/libcudnn.so.9" ] && cudnn="$d/libcudnn.so.9"; done
  log "cuDNN 9 (loaded by the provider when a node needs it, e.g. Conv): ${cudnn:-not found}"
  STEP_TIMEOUT=${CHECK_TIMEOUT:-420} t "$files/gpucheck" -lib "$files/lib/libonnxruntime.so.1" -gpu-id "${DISTILL_GPU_ID:-0}" \
    -teacher "$root/models/mnist-teacher.onnx" -images "$files/data/t10k-images-idx3-ubyte.gz" | tee "$tmp/gpucheck.out" || true
  tail -n 1 "$tmp/gpucheck.out" | grep -q '^VERDICT ' || { log "gpucheck ended without a verdict (crashed or timed out)"; echo "$fail_verdict"; exit 1; }
  tail -n 1 "$tmp/gpucheck.out" | grep -q '^VERDICT PASS '
}

case "$mode" in
  receive) [ $# -eq 2 ] || die "usage: scripts/gpu-check.sh receive <part>"; receive "$2" ;;
  assemble) assemble ;;
  run)
    [ $# -le 2 ] || die "usage: scripts/gpu-check.sh run [<part>]"
    log "$(date -u +%FT%TZ) on $(hostname)"
    [ $# -eq 2 ] && receive "$2"
    assemble
    check
    ;;
  -h|--help) sed -n '2,20p' "$0" ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
