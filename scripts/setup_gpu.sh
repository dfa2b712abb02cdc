#!/usr/bin/env bash
# GPU install: CUDA torch, then mamba-ssm and causal-conv1d compiled here with nvcc (never their prebuilt
# binaries, which they would otherwise try to download), then the GPU tests as the proof.
#
#   bash scripts/setup_gpu.sh --download-to DIR  # a Linux x86_64 / Python 3.11 machine with internet: fill a
#                                                # wheelhouse (torch + CUDA libraries, sdists, requirements)
#   bash scripts/setup_gpu.sh --wheelhouse DIR   # the GPU machine, offline: install from DIR only
#   bash scripts/setup_gpu.sh                    # the GPU machine with the package index reachable
#   --dry-run                                    # check the machine, print the plan, install nothing
#
# Environment: VENV (.venv), PYTHON (python3.11), CUDA_HOME (for nvcc, else PATH), TORCH_CUDA_ARCH_LIST (the
# GPU's own compute capability, e.g. "9.0" for H100/H200), MAX_JOBS (parallel nvcc jobs; default: cores).
# Exit status 2 with a one-line reason when a check fails; nothing is installed then.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV="${VENV:-.venv}"
TORCH_VERSION="2.13.0"
MAMBA_SSM_VERSION="2.3.2.post1"
CAUSAL_CONV1D_VERSION="1.7.0"
BUILD_DEPS=(ninja packaging setuptools wheel einops)
GPU_TESTS=(test/ssm/test_ssm_scan.py test/model/test_efficientnet_lite.py test/model/test_stems.py test/model/test_language.py
  test/tracking/test_tracker.py)
[ -f test/tracking/test_inference_path.py ] && GPU_TESTS+=(test/tracking/test_inference_path.py)

WHEELHOUSE=""
DOWNLOAD_TO=""
DRY_RUN=0
usage() { sed -n '2,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }
die() { echo "[setup_gpu] error: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --wheelhouse) [ $# -ge 2 ] || die "--wheelhouse needs a directory"; WHEELHOUSE="$2"; shift 2 ;;
    --download-to) [ $# -ge 2 ] || die "--download-to needs a directory"; DOWNLOAD_TO="$2"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[ -z "$WHEELHOUSE" ] || [ -z "$DOWNLOAD_TO" ] || die "give --wheelhouse or --download-to, not both"

pip_sources=()
if [ -n "$WHEELHOUSE" ]; then
  [ -d "$WHEELHOUSE" ] || die "wheelhouse directory not found: $WHEELHOUSE"
  WHEELHOUSE="$(cd "$WHEELHOUSE" && pwd)"
  pip_sources=(--no-index --find-links "$WHEELHOUSE")
fi

# ---------------------------------------------------------------- download mode (no GPU needed)
if [ -n "$DOWNLOAD_TO" ]; then
  plan="pip download torch==$TORCH_VERSION (+ its CUDA wheels), requirements.txt, ${BUILD_DEPS[*]}, sdists of"
  plan="$plan mamba-ssm==$MAMBA_SSM_VERSION causal-conv1d==$CAUSAL_CONV1D_VERSION -> $DOWNLOAD_TO"
  echo "[setup_gpu] $plan"
  [ "$DRY_RUN" = 1 ] && exit 0
  mkdir -p "$DOWNLOAD_TO"
  "$PYTHON" -m pip download -q -d "$DOWNLOAD_TO" "torch==$TORCH_VERSION" "${BUILD_DEPS[@]}"
  "$PYTHON" -m pip download -q -d "$DOWNLOAD_TO" -r requirements.txt
  "$PYTHON" -m pip download -q -d "$DOWNLOAD_TO" --no-deps --no-binary :all: \
    "mamba-ssm==$MAMBA_SSM_VERSION" "causal-conv1d==$CAUSAL_CONV1D_VERSION"
  "$PYTHON" -m pip download -q -d "$DOWNLOAD_TO" einops transformers  # mamba-ssm's runtime imports
  echo "[setup_gpu] wheelhouse ready: $DOWNLOAD_TO (copy it and this repository, with .cache/footage, to the GPU machine)"
  exit 0
fi

# ---------------------------------------------------------------- machine checks
failed=()
if command -v nvidia-smi >/dev/null 2>&1 && gpu="$(nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader 2>/dev/null | head -1)" && [ -n "$gpu" ]; then
  echo "[setup_gpu] GPU: $gpu"
  cap="$(echo "$gpu" | awk -F', *' '{print $2}')"
else
  failed+=("no NVIDIA GPU visible: nvidia-smi is missing or lists no device (driver not installed?)")
  cap=""
fi
NVCC="${CUDA_HOME:+$CUDA_HOME/bin/}nvcc"
if command -v "$NVCC" >/dev/null 2>&1; then
  nvcc_version="$("$NVCC" --version | sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p')"
  echo "[setup_gpu] nvcc: $NVCC (CUDA $nvcc_version)"
else
  failed+=("nvcc not found (install the CUDA toolkit or set CUDA_HOME)")
  nvcc_version=""
fi
command -v "$PYTHON" >/dev/null 2>&1 || failed+=("no Python interpreter ($PYTHON)")
command -v g++ >/dev/null 2>&1 || failed+=("g++ not found (the extensions compile C++ host code)")
ARCH="${TORCH_CUDA_ARCH_LIST:-$cap}"
plan="venv $VENV; torch==$TORCH_VERSION (CUDA build${WHEELHOUSE:+, from $WHEELHOUSE}); causal-conv1d==$CAUSAL_CONV1D_VERSION"
plan="$plan and mamba-ssm==$MAMBA_SSM_VERSION compiled with nvcc for arch '${ARCH:-?}'; then ${GPU_TESTS[*]}"
echo "[setup_gpu] plan: $plan"
if [ "${#failed[@]}" -gt 0 ]; then
  for reason in "${failed[@]}"; do echo "[setup_gpu] check failed: $reason" >&2; done
  die "${failed[0]}"
fi
[ "$DRY_RUN" = 1 ] && { echo "[setup_gpu] dry run: all checks passed, nothing installed"; exit 0; }

# ---------------------------------------------------------------- install
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup_gpu] creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
have_cuda_torch() {
  "$VENV/bin/python" -c "import torch,sys; sys.exit(0 if torch.__version__.startswith('$TORCH_VERSION') and torch.version.cuda else 1)" 2>/dev/null
}
if ! have_cuda_torch; then
  echo "[setup_gpu] installing the CUDA build of torch==$TORCH_VERSION"
  "${PIP[@]}" uninstall -q -y torch 2>/dev/null || true  # a CPU build of the same version would be kept
  "${PIP[@]}" install -q "${pip_sources[@]}" "torch==$TORCH_VERSION"
fi
have_cuda_torch || die "torch in $VENV is not a CUDA build (torch.version.cuda is None)"
torch_cuda="$("$VENV/bin/python" -c 'import torch; print(torch.version.cuda)')"
"$VENV/bin/python" -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
  || die "torch (CUDA $torch_cuda) cannot use the GPU: driver too old for CUDA $torch_cuda?"
[ "${torch_cuda%%.*}" = "${nvcc_version%%.*}" ] \
  || die "nvcc is CUDA $nvcc_version but torch was built with CUDA $torch_cuda: extensions need the same major version"

# The rest of the project (requirements, ROS interfaces, footage) exactly as the CPU setup does; torch is
# already the right version, so setup.sh keeps it.
PIP_NO_INDEX="${WHEELHOUSE:+1}" PIP_FIND_LINKS="${WHEELHOUSE}" VENV="$VENV" bash scripts/setup.sh

echo "[setup_gpu] compiling causal-conv1d and mamba-ssm with nvcc (arch $ARCH; minutes)"
"${PIP[@]}" install -q "${pip_sources[@]}" "${BUILD_DEPS[@]}" triton
MAMBA_FORCE_BUILD=TRUE CAUSAL_CONV1D_FORCE_BUILD=TRUE TORCH_CUDA_ARCH_LIST="$ARCH" \
  MAX_JOBS="${MAX_JOBS:-$(nproc)}" CUDA_HOME="${CUDA_HOME:-$(dirname "$(dirname "$(command -v "$NVCC")")")}" \
  "${PIP[@]}" install -q --no-build-isolation --no-binary causal-conv1d,mamba-ssm "${pip_sources[@]}" \
  "causal-conv1d==$CAUSAL_CONV1D_VERSION" "mamba-ssm==$MAMBA_SSM_VERSION"

echo "[setup_gpu] checking the kernels and running the GPU tests"
"$VENV/bin/python" - <<'EOF'
from mamba_tracking_ros.ssm import available_backends, ssd_cuda

reason = ssd_cuda.kernel_unavailable_reason()
if reason is not None:
    raise SystemExit(f"[setup_gpu] error: the mamba_ssm kernel does not load: {reason}")
print("[setup_gpu] scan backends:", available_backends())
EOF
log="$(mktemp)"
"$VENV/bin/python" -m pytest -q -rs "${GPU_TESTS[@]}" 2>&1 | tee "$log"
status="${PIPESTATUS[0]}"
if grep -qiE "SKIPPED.*(cuda|gpu)" "$log"; then
  die "some GPU tests were skipped on this GPU machine (see above)"
fi
[ "$status" = 0 ] || die "GPU tests failed (exit $status)"
echo "[setup_gpu] done: $VENV has CUDA torch $TORCH_VERSION (CUDA $torch_cuda) and the compiled mamba-ssm kernels"
