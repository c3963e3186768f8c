#!/usr/bin/env bash
# setup-cuda.sh: put the CUDA 13 build of onnxruntime 1.29.0 into third_party/onnxruntime/cuda/.
#
#   scripts/setup-cuda.sh      fetch with `npm pack` (scripts/setup.sh --cuda and `make test` call it)
#
# The pair must come from one onnxruntime build: the CUDA provider calls back into the core through
# the core's provider bridge table, which a CPU-only core (Microsoft's CPU NuGet build) has only a
# few slots of; its V2 API also refuses CUDA ("not enabled in this build"). So:
#   core       libonnxruntime.so.1 from onnxruntime-node@1.29.0 (linux/x64; ORT commit 2e2543fbe9,
#              built with the CUDA provider bridge: its install script pairs it with the
#              Microsoft.ML.OnnxRuntime.Gpu.Linux 1.29.0 providers)
#   providers  libonnxruntime_providers_cuda.so and libonnxruntime_providers_shared.so from
#              com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 (those same Gpu.Linux 1.29.0
#              providers, CUDA 13 and cuDNN 9, with sm_90 code for H100/H200)
# Both archives are checked against pinned sha256 sums before anything is unpacked; a finished
# install is stamped (VERSION) and left alone on later runs. At run time the CUDA provider needs
# libcublasLt.so.13, libcublas.so.13, libcurand.so.10, libcudart.so.13 and libcuda.so.1 on the
# library path, and cuDNN 9 (libcudnn.so.9) for the ops that use it (Conv).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { echo "setup-cuda: $*" >&2; }
die() { log "$*"; exit 1; }

case "${1:-}" in
  -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
  "") ;;
  *) die "unknown argument $1 (see --help)" ;;
esac

ort_version=1.29.0
core=onnxruntime-node
core_version=1.29.0
gpu=com.github.asus4.onnxruntime.linux-x64-gpu
gpu_version=0.4.9
declare -A pinned=(
  [$core]=cfdfb45ec4044b1fdca43e5d2e180fb6817e649ff8ad1e0dfc90e18e51b67037 # 111,735,068 bytes
  [$gpu]=2b459e0c17f340c92970c10ed86de4f37a3009f93c14053e6ad4334cbb6be412  # 179,145,956 bytes
)
declare -A version=([$core]=$core_version [$gpu]=$gpu_version)
npm_dir="$root/third_party/npm"
dest="$root/third_party/onnxruntime/cuda"
libs=(libonnxruntime.so.1 libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so)
stamp="onnxruntime $ort_version CUDA 13 ($core $core_version ${pinned[$core]}, $gpu $gpu_version ${pinned[$gpu]})"

if [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$stamp" ]; then
  ok=1
  for l in "${libs[@]}"; do [ -f "$dest/$l" ] || ok=0; done
  if [ "$ok" = 1 ]; then
    log "onnxruntime $ort_version (CUDA) already at $dest"
    exit 0
  fi
fi

# fetch NAME: leave a verified NAME-VERSION.tgz in third_party/npm/.
fetch() {
  local name=$1 tgz="$npm_dir/$1-${version[$1]}.tgz"
  mkdir -p "$npm_dir"
  if [ -f "$tgz" ] && echo "${pinned[$name]}  $tgz" | sha256sum -c --status; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || die "npm not found: install it (apt-get install npm)"
  log "fetching $name@${version[$name]} with npm pack"
  local tmp; tmp=$(mktemp -d)
  if ! (cd "$tmp" && npm pack --silent "$name@${version[$name]}" >/dev/null); then
    rm -rf "$tmp"
    die "npm pack $name@${version[$name]} failed (no registry?)"
  fi
  local got="$tmp/$name-${version[$name]}.tgz"
  if ! echo "${pinned[$name]}  $got" | sha256sum -c --status; then
    log "checksum mismatch for $name@${version[$name]}: want ${pinned[$name]}, got $(sha256sum "$got" | cut -d' ' -f1)"
    rm -rf "$tmp"; exit 1
  fi
  mv "$got" "$tgz.tmp-$$" && mv "$tgz.tmp-$$" "$tgz"
  rm -rf "$tmp"
}

start=$(date +%s)
fetch "$core"
fetch "$gpu"

# Unpack into a fresh folder beside dest, then swap it in, so a failure leaves no half-copied libs.
tmp="$dest.tmp-$$"
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
core_path=package/bin/napi-v6/linux/x64/libonnxruntime.so.1
plat=package/Plugins/Linux/x64
tar --no-same-owner -xzf "$npm_dir/$core-$core_version.tgz" -C "$tmp" "$core_path"
tar --no-same-owner -xzf "$npm_dir/$gpu-$gpu_version.tgz" -C "$tmp" \
  "$plat/libonnxruntime_providers_shared.so" "$plat/libonnxruntime_providers_cuda.so"
mv "$tmp/$core_path" "$tmp/libonnxruntime.so.1" # the core's soname
mv "$tmp/$plat/libonnxruntime_providers_shared.so" "$tmp/$plat/libonnxruntime_providers_cuda.so" "$tmp/"
rm -rf "$tmp/package"
ln -s libonnxruntime.so.1 "$tmp/libonnxruntime.so"
echo "$stamp" >"$tmp/VERSION"
rm -rf "$dest.old"
[ -e "$dest" ] && mv "$dest" "$dest.old"
mv "$tmp" "$dest"
rm -rf "$dest.old"
trap - EXIT
log "onnxruntime $ort_version (CUDA 13) at $dest/libonnxruntime.so in $(( $(date +%s) - start )) s"

# Tell the user early if the CUDA runtime the provider links against is not to be found.
missing=()
for l in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcudnn.so.9; do
  if ! ldconfig -p 2>/dev/null | grep -qF "$l"; then
    found=0
    for d in ${LD_LIBRARY_PATH:+${LD_LIBRARY_PATH//:/ }} /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64; do
      [ -e "$d/$l" ] && found=1 && break
    done
    [ "$found" = 1 ] || missing+=("$l")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  log "note: not on the library path here: ${missing[*]}; the CUDA provider needs them at run time (the CUDA 13 toolkit or the nvidia-*-cu13 wheels, and cuDNN 9)"
fi
