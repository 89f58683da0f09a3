#!/usr/bin/env bash
# Installs the Debian packages soma needs, when any is missing. Non-interactive; a no-op when
# everything is there. Runs apt-get as root, through sudo otherwise.
#   scripts/deps.sh           build + run (make, make demo), Open MPI included
#   scripts/deps.sh --test    + headless Chromium (the HTML report), NumPy (soma predict), cffi and
#                             pytest (the Python package) (make test)
#   scripts/deps.sh --fuzz    + clang, for the libFuzzer targets (make fuzz)
#   scripts/deps.sh --bench   + PyTorch/NumPy/Brian2 peers (make bench, bench/vs_brian2.sh)
set -euo pipefail

need=(build-essential cmake pkg-config git
      libopenblas-openmp-dev liblapacke-dev libhdf5-dev libpng-dev zlib1g-dev libcjson-dev
      dataset-fashion-mnist python3-skimage libopenmpi-dev openmpi-bin)
for arg in "$@"; do
  case "$arg" in
    --test) need+=(chromium python3-numpy python3-scipy python3-h5py python3-cffi python3-pytest python3-pip python3-venv) ;;
    --fuzz) need+=(clang) ;;
    --bench) need+=(python3-torch python3-numpy python3-scipy libopenblas0-openmp time python3-brian) ;;
    *) echo "deps.sh: unknown option '$arg' (--test, --fuzz, --bench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${need[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "soma: installing ${missing[*]}" >&2
if [ "$(id -u)" = 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "soma: need root or sudo to install: ${missing[*]}" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
