"""scripts/setup_gpu.sh: its machine checks and plan (the install itself needs a GPU and runs there)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "setup_gpu.sh"
TOOLS = ("bash", "sed", "grep", "awk", "head", "dirname", "cat", "mkdir", "python3", "env")


def _bin_dir(tmp_path: Path, extra: dict[str, str] | None = None) -> Path:
    """A PATH folder with the shell tools the script needs and, optionally, extra executable scripts."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        if found:
            (folder / tool).symlink_to(found)
    for name, body in (extra or {}).items():
        path = folder / name
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(0o755)
    return folder


def _run(args: list[str], path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run the script with a controlled PATH and a throw-away VENV location."""
    env = {"PATH": str(path), "VENV": str(tmp_path / "venv"), "PYTHON": "python3", "HOME": str(tmp_path)}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_without_gpu_or_nvcc_it_stops_with_every_reason_and_installs_nothing(tmp_path: Path) -> None:
    result = _run(["--dry-run"], _bin_dir(tmp_path), tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "nvidia-smi" in result.stderr
    assert "nvcc not found" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_a_gpu_and_nvcc_pass_the_checks_and_the_arch_comes_from_the_gpu(tmp_path: Path) -> None:
    # nvidia-smi and nvcc stand in for the GPU machine's driver and toolkit (hardware).
    fake = {
        "nvidia-smi": 'echo "NVIDIA H100 80GB HBM3, 9.0"',
        "nvcc": 'echo "Cuda compilation tools, release 12.8, V12.8.93"',
        "g++": "exit 0",
    }
    result = _run(["--dry-run"], _bin_dir(tmp_path, fake), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "GPU: NVIDIA H100 80GB HBM3, 9.0" in result.stdout
    assert "CUDA 12.8" in result.stdout
    assert "arch '9.0'" in result.stdout
    assert "nothing installed" in result.stdout
    assert not (tmp_path / "venv").exists()


def test_arch_can_be_overridden(tmp_path: Path) -> None:
    fake = {"nvidia-smi": 'echo "NVIDIA H200, 9.0"', "nvcc": 'echo "release 12.8, V12.8.93"', "g++": "exit 0"}
    env_bin = _bin_dir(tmp_path, fake)
    env = {
        "PATH": str(env_bin),
        "VENV": str(tmp_path / "venv"),
        "PYTHON": "python3",
        "TORCH_CUDA_ARCH_LIST": "8.0;9.0",
    }
    result = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "arch '8.0;9.0'" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown argument: --bogus"),
        (["--wheelhouse", "/nonexistent/wheels"], "wheelhouse directory not found"),
        (["--wheelhouse"], "--wheelhouse needs a directory"),
        (["--wheelhouse", ".", "--download-to", "x"], "not both"),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, args: list[str], message: str) -> None:
    result = _run(args, _bin_dir(tmp_path), tmp_path)
    assert result.returncode == 2
    assert message in result.stderr


def test_download_plan_names_the_pinned_versions(tmp_path: Path) -> None:
    target = tmp_path / "wheelhouse"
    result = _run(["--download-to", str(target), "--dry-run"], _bin_dir(tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    text = SCRIPT.read_text()
    for var in ("TORCH_VERSION", "MAMBA_SSM_VERSION", "CAUSAL_CONV1D_VERSION"):
        version = text.split(f'{var}="', 1)[1].split('"', 1)[0]
        assert version in result.stdout
    assert not target.exists()


def test_help_describes_the_modes(tmp_path: Path) -> None:
    result = _run(["--help"], _bin_dir(tmp_path), tmp_path)
    assert result.returncode == 0
    for mode in ("--download-to", "--wheelhouse", "--dry-run"):
        assert mode in result.stdout
    assert "set -euo" not in result.stdout
    assert os.access(SCRIPT, os.X_OK)
