#!/usr/bin/env bash
# Installs the Debian packages soma needs to build and test, when any is missing.
# Non-interactive; a no-op when everything is there. Runs apt-get as root, through sudo otherwise.
set -euo pipefail

need=(build-essential cmake pkg-config git
      libopenblas-openmp-dev libpng-dev zlib1g-dev libcjson-dev
      dataset-fashion-mnist)
# Optional extras: clang for the fuzz targets, chromium for the report check.
if [ "${SOMA_DEPS_EXTRA:-0}" = 1 ]; then
  need+=(clang chromium python3-numpy python3-torch)
fi

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
