#!/usr/bin/env bash
# One command from a fresh clone to a working faceproof: system ffmpeg (for ffprobe), a virtual
# environment in .venv, and the package with its test extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v ffprobe >/dev/null 2>&1; then
    # The imageio-ffmpeg wheel ships ffmpeg but no ffprobe, and ffmpeg-python's probe() needs one.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing ffmpeg (with ffprobe) from Debian"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null
    else
        echo "setup: ffprobe is missing; install your system's ffmpeg package (e.g. sudo apt-get install ffmpeg)" >&2
        exit 1
    fi
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip wheel
.venv/bin/python -m pip install -q -e ".[dev]"
.venv/bin/faceproof admin migrate --noinput -v 0
echo "setup: done. Activate with: source .venv/bin/activate"
