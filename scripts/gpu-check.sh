#!/usr/bin/env bash
# gpu-check.sh: check the CUDA path on a machine with an NVIDIA GPU, the CUDA 13 runtime and cuDNN 9.
#
#   scripts/gpu-check.sh                          fetch the CUDA onnxruntime pair with npm if needed
#   DISTILL_CUDA_PARTS=DIR scripts/gpu-check.sh   no registry: use the archives or the parts made by
#                                                 scripts/split-parts.sh, copied to DIR
#   DISTILL_GPU_ID=1 scripts/gpu-check.sh         another GPU (default 0)
#   scripts/gpu-check.sh --build                  only build bin/onnx-gpu.test, bin/distill and
#                                                 bin/cmplogits, for a GPU machine without Go or a
#                                                 Go module proxy (the check then runs those)
#
# 1. puts onnxruntime 1.29.0 (CUDA 13) into third_party/onnxruntime/cuda/ (scripts/setup-cuda.sh) and
#    finds the CUDA libraries it needs (CUDA toolkit folders or the nvidia-*-cu13 Python wheels);
# 2. runs the gpu-tagged Go tests: a 784-1200-1200-10 MLP teacher on CPU and on CUDA through
#    onnx.Session, printing max |cpu - cuda| over the logits and both throughputs;
# 3. if MNIST is in data/mnist/ (scripts/setup.sh) and the CLI builds, runs `distill targets` with
#    --device cpu and --device cuda on its 60,000 training images, compares the two soft-target
#    files (scripts/cmplogits) and prints both commands' throughputs.
# Output lands in out/gpu-check/. Exit status 0 only when every step that ran passed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { echo "gpu-check: $*" >&2; }
die() { log "$*"; exit 1; }

build_only=0
case "${1:-}" in
  -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
  --build) build_only=1 ;;
  "") ;;
  *) die "unknown argument $1 (see --help)" ;;
esac

gpu_id=${DISTILL_GPU_ID:-0}
out="$root/out/gpu-check"
mkdir -p "$out"
# Build the three programs with Go when it is here; otherwise use copies built by --build.
mkdir -p "$root/bin"
if command -v go >/dev/null 2>&1; then
  go test -c -tags gpu -o "$root/bin/onnx-gpu.test" ./onnx/ || die "go test -c -tags gpu ./onnx/ failed"
  go build -o "$root/bin/cmplogits" ./scripts/cmplogits || die "go build ./scripts/cmplogits failed"
  cli_built=1
  go build -o "$root/bin/distill" ./cmd/distill || { log "go build ./cmd/distill failed: the CLI check will be skipped"; cli_built=0; }
else
  log "go not found: using the programs in bin/ (made by scripts/gpu-check.sh --build)"
  for p in onnx-gpu.test cmplogits; do
    [ -x "$root/bin/$p" ] || die "bin/$p missing: run scripts/gpu-check.sh --build where Go is installed and copy bin/"
  done
  cli_built=0
  [ -x "$root/bin/distill" ] && cli_built=1
fi
if [ "$build_only" = 1 ]; then
  log "built bin/onnx-gpu.test bin/cmplogits$([ "$cli_built" = 1 ] && echo ' bin/distill')"
  exit 0
fi

if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader >&2 || log "nvidia-smi failed"
else
  log "nvidia-smi not found: is the NVIDIA driver installed?"
fi

# --- 1. onnxruntime (CUDA) and the CUDA libraries --------------------------------------------
"$root/scripts/setup-cuda.sh"
lib="$root/third_party/onnxruntime/cuda/libonnxruntime.so"
[ -f "$lib" ] || die "$lib missing after scripts/setup-cuda.sh"

# The CUDA provider links against these; dlopen finds them through ldconfig or LD_LIBRARY_PATH.
need=(libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcufft.so.12 libcudnn.so.9)
cand_dirs=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu)
for d in /usr/local/cuda-13*/lib64 /usr/local/cuda-13*/targets/x86_64-linux/lib; do
  [ -d "$d" ] && cand_dirs+=("$d")
done
# Python wheels (nvidia-cuda-runtime-cu13, nvidia-cublas-cu13, nvidia-cudnn-cu13, ...).
for base in /usr/lib/python3*/ /usr/local/lib/python3*/ "$HOME"/.local/lib/python3*/ /opt/conda/lib/python3*/ /usr/lib/python3/dist-packages/; do
  [ -d "$base" ] || continue
  while IFS= read -r d; do cand_dirs+=("$d"); done < <(find "$base" -maxdepth 5 -type d -path '*nvidia*' -name lib 2>/dev/null)
done
extra=()
missing=()
for l in "${need[@]}"; do
  if ldconfig -p 2>/dev/null | grep -qF "$l "; then continue; fi
  found=""
  for d in ${LD_LIBRARY_PATH:+${LD_LIBRARY_PATH//:/ }} "${cand_dirs[@]}"; do
    if [ -e "$d/$l" ]; then found=$d; break; fi
  done
  if [ -n "$found" ]; then
    case ":${LD_LIBRARY_PATH:-}:${extra[*]:-}:" in *"$found"*) ;; *) extra+=("$found") ;; esac
  else
    missing+=("$l")
  fi
done
if [ ${#extra[@]} -gt 0 ]; then
  joined=$(IFS=:; echo "${extra[*]}")
  export LD_LIBRARY_PATH="$joined${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  log "LD_LIBRARY_PATH += $joined"
fi
if [ ${#missing[@]} -gt 0 ]; then
  log "warning: not found: ${missing[*]} (install the CUDA 13 toolkit and cuDNN 9, or the nvidia-*-cu13 wheels); the CUDA provider will likely fail to load"
fi
export ONNXRUNTIME_LIB="$lib"

# --- 2. Session-level comparison (does not need the CLI) -------------------------------------
model="$out/mlp-784-1200-1200-10.onnx"
status=0
log "gpu-tagged tests of ./onnx/ (GPU $gpu_id)"
if ! (cd "$root/onnx" && DISTILL_GPU_ID="$gpu_id" DISTILL_GPU_MODEL="$model" "$root/bin/onnx-gpu.test" -test.count=1 -test.run GPU -test.v 2>&1) \
    | tee "$out/session.log" | grep -E '^(gpu-check:|--- |FAIL|ok|PASS|panic)|gpu_test.go'; then
  :
fi
grep -q '^--- FAIL' "$out/session.log" && status=1
grep -qx 'PASS' "$out/session.log" || status=1
[ "$status" = 0 ] && log "session check passed" || log "session check FAILED: see $out/session.log"

# --- 3. distill targets --device cpu|cuda ---------------------------------------------------
data="$root/data/mnist/train-images-idx3-ubyte.gz"
if [ ! -f "$data" ]; then
  log "skipping the CLI check: $data missing (scripts/setup.sh fetches MNIST)"
  exit "$status"
fi
if [ ! -f "$model" ]; then
  log "skipping the CLI check: the session check did not write $model"
  exit 1
fi
if [ "$cli_built" != 1 ]; then
  log "CLI check FAILED: no bin/distill"
  exit 1
fi
n=60000 # MNIST training images
declare -A secs
for dev in cpu cuda; do
  log "distill targets --device $dev"
  start=$(date +%s.%N)
  if ! "$root/bin/distill" targets --teacher "$model" --data "$data" --out "$out/targets-$dev.safetensors" \
      --device "$dev" --gpu-id "$gpu_id" --batch 1024 --ort-lib "$lib" 2> >(tee "$out/targets-$dev.log" >&2); then
    log "CLI check FAILED: distill targets --device $dev (see $out/targets-$dev.log)"
    exit 1
  fi
  end=$(date +%s.%N)
  secs[$dev]=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.3f", b-a}')
done
if ! "$root/bin/cmplogits" "$out/targets-cpu.safetensors" "$out/targets-cuda.safetensors" | sed 's/^/gpu-check: cpu vs cuda /'; then
  log "CLI check FAILED: logits differ (above)"
  status=1
fi
for dev in cpu cuda; do
  awk -v d="$dev" -v s="${secs[$dev]}" -v n="$n" 'BEGIN{printf "gpu-check: distill targets --device %-4s %7.3f s  %9.0f samples/s (whole command)\n", d, s, n/s}'
done
exit "$status"
