#!/usr/bin/env bash
# setup-cuda.sh: put the CUDA 13 build of onnxruntime 1.29.0 into third_party/onnxruntime/cuda/.
#
#   scripts/setup-cuda.sh                          fetch with `npm pack` (called by scripts/setup.sh --cuda)
#   DISTILL_CUDA_PARTS=DIR scripts/setup-cuda.sh   use a local copy instead: DIR holds the two .tgz
#                                                  files, or the parts made by scripts/split-parts.sh
#
# onnxruntime's CUDA build ships as two npm packages by asus4 (onnxruntime-unity), version 0.4.9:
# com.github.asus4.onnxruntime (libonnxruntime.so 1.29.0) and com.github.asus4.onnxruntime.linux-x64-gpu
# (the CUDA execution provider, built for CUDA 13 and cuDNN 9). Both archives are checked against
# pinned sha256 sums before anything is unpacked. The GPU machine needs the NVIDIA driver and the
# CUDA 13 runtime libraries (libcudart.so.13, libcublas.so.13, libcublasLt.so.13, libcurand.so.10,
# libcufft.so.12) and cuDNN 9 (libcudnn.so.9) on its library path.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { echo "setup-cuda: $*" >&2; }
die() { log "$*"; exit 1; }

version=0.4.9
ort_version=1.29.0
core=com.github.asus4.onnxruntime
gpu=com.github.asus4.onnxruntime.linux-x64-gpu
declare -A pinned=(
  [$core]=e59788788818fdde1b2e522e766a21ba0f7d8391de55737abf81e32cc801785d
  [$gpu]=2b459e0c17f340c92970c10ed86de4f37a3009f93c14053e6ad4334cbb6be412
)
npm_dir="$root/third_party/npm"
dest="$root/third_party/onnxruntime/cuda"
libs=(libonnxruntime.so libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so)
stamp="onnxruntime $ort_version CUDA 13 ($core $version ${pinned[$core]}, $gpu $version ${pinned[$gpu]})"

case "${1:-}" in
  -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
  "") ;;
  *) die "unknown argument $1 (see --help)" ;;
esac

if [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$stamp" ]; then
  ok=1
  for l in "${libs[@]}"; do [ -f "$dest/$l" ] || ok=0; done
  if [ "$ok" = 1 ]; then
    log "onnxruntime $ort_version (CUDA) already at $dest"
    exit 0
  fi
fi

# verify FILE NAME: check FILE against NAME's pinned sha256.
verify() {
  local got; got=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$got" = "${pinned[$2]}" ] || { log "checksum mismatch for $1: want ${pinned[$2]}, got $got"; return 1; }
}

# from_parts DIR NAME TGZ: reassemble NAME-VERSION.tgz from the parts in DIR into TGZ.
from_parts() {
  local dir=$1 name=$2 out=$3 file="$2-$version.tgz"
  [ -f "$dir/parts.sha256" ] || die "$dir/parts.sha256 missing: make the parts with scripts/split-parts.sh"
  local lines; lines=$(grep -F " $file.gz.part-" "$dir/parts.sha256" || true)
  [ -n "$lines" ] || die "$dir/parts.sha256 lists no parts of $file"
  local n_listed n_present
  n_listed=$(printf '%s\n' "$lines" | wc -l)
  n_present=$(find "$dir" -maxdepth 1 -name "$file.gz.part-*" | wc -l)
  [ "$n_listed" = "$n_present" ] || die "$dir has $n_present parts of $file, parts.sha256 lists $n_listed"
  (cd "$dir" && printf '%s\n' "$lines" | sha256sum -c --quiet -) || die "a part of $file in $dir is damaged (sha256 mismatch)"
  # The manifest lists parts in order (split's numeric suffixes sort as written).
  printf '%s\n' "$lines" | awk '{print $2}' | sort | (cd "$dir" && xargs cat) | gunzip -c >"$out.tmp" \
    || die "reassembling $file from $dir failed"
  mv "$out.tmp" "$out"
  log "reassembled $file from $n_present parts"
}

# fetch NAME: leave a verified NAME-VERSION.tgz in third_party/npm/.
fetch() {
  local name=$1 tgz="$npm_dir/$1-$version.tgz"
  mkdir -p "$npm_dir"
  if [ -f "$tgz" ] && verify "$tgz" "$name" 2>/dev/null; then
    return 0
  fi
  rm -f "$tgz"
  local parts=${DISTILL_CUDA_PARTS:-}
  if [ -n "$parts" ]; then
    [ -d "$parts" ] || die "DISTILL_CUDA_PARTS=$parts is not a directory"
    if [ -f "$parts/$name-$version.tgz" ]; then
      log "copying $name-$version.tgz from $parts"
      cp "$parts/$name-$version.tgz" "$tgz.tmp" && mv "$tgz.tmp" "$tgz"
    else
      from_parts "$parts" "$name" "$tgz"
    fi
  else
    command -v npm >/dev/null 2>&1 \
      || die "npm not found: install it (apt-get install npm), or copy the archives and set DISTILL_CUDA_PARTS (see scripts/split-parts.sh)"
    log "fetching $name@$version with npm pack (about 150-180 MB)"
    local tmp; tmp=$(mktemp -d)
    if ! (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null); then
      rm -rf "$tmp"
      die "npm pack $name@$version failed: no registry? Copy the archives and set DISTILL_CUDA_PARTS (see scripts/split-parts.sh)"
    fi
    mv "$tmp/$name-$version.tgz" "$tgz"
    rm -rf "$tmp"
  fi
  verify "$tgz" "$name" || { rm -f "$tgz"; exit 1; }
}

fetch "$core"
fetch "$gpu"

# Unpack into a fresh folder beside dest, then swap it in, so a failure leaves no half-copied libs.
plat=package/Plugins/Linux/x64
tmp="$dest.tmp-$$"
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
tar --no-same-owner -xzf "$npm_dir/$core-$version.tgz" -C "$tmp" "$plat/libonnxruntime.so"
# The GPU package's providers_shared replaces the core package's: it is built with the CUDA provider.
tar --no-same-owner -xzf "$npm_dir/$gpu-$version.tgz" -C "$tmp" "$plat/libonnxruntime_providers_shared.so" "$plat/libonnxruntime_providers_cuda.so"
for l in "${libs[@]}"; do
  mv "$tmp/$plat/$l" "$tmp/$l"
done
rm -rf "$tmp/package"
ln -s libonnxruntime.so "$tmp/libonnxruntime.so.1" # the library's soname
echo "$stamp" >"$tmp/VERSION"
rm -rf "$dest.old"
[ -e "$dest" ] && mv "$dest" "$dest.old"
mv "$tmp" "$dest"
rm -rf "$dest.old"
trap - EXIT
log "onnxruntime $ort_version (CUDA 13) at $dest/libonnxruntime.so"

# Tell the user early if the CUDA runtime the provider links against is not to be found.
missing=()
for l in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcudnn.so.9; do
  if ! ldconfig -p 2>/dev/null | grep -qF "$l"; then
    found=0
    for d in ${LD_LIBRARY_PATH:+${LD_LIBRARY_PATH//:/ }} /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
      [ -e "$d/$l" ] && found=1 && break
    done
    [ "$found" = 1 ] || missing+=("$l")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  log "note: not on the library path here: ${missing[*]}; the CUDA provider needs them at run time (CUDA 13 toolkit or the nvidia-*-cu13 wheels, and cuDNN 9)"
fi
