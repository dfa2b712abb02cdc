"""Thin, lazy wrapper around mamba_ssm's Triton SSD kernel (Mamba-2 `mamba_chunk_scan_combined`): GPU path.

Nothing is imported at module import time. The first call of `load_kernel()` tries the import once and caches
the result (the kernel, or the reason it is unavailable): importing mamba_ssm needs CUDA builds of
selective_scan_cuda and triton, and fails with errors other than ImportError on a CPU-only install.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["DEFAULT_CHUNK_SIZE_CUDA", "kernel_unavailable_reason", "load_kernel", "ssd_scan_cuda"]

DEFAULT_CHUNK_SIZE_CUDA = 256  # mamba_ssm's Mamba2 default

_lock = threading.Lock()
_tried = False
_kernel: Callable[..., object] | None = None
_reason: str | None = None


def _import_kernel() -> tuple[Callable[..., object] | None, str | None]:
    """Try to import mamba_chunk_scan_combined; returns (kernel, None) or (None, reason)."""
    if not torch.cuda.is_available():
        return None, "CUDA is not available to torch (CPU-only build or no GPU visible)"
    if importlib.util.find_spec("mamba_ssm") is None:
        return None, "the mamba_ssm package is not installed"
    try:
        from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined
    except Exception as exc:  # mamba_ssm's own imports fail with OSError/RuntimeError/... on broken installs
        return None, f"importing mamba_ssm's Triton SSD kernel failed: {type(exc).__name__}: {exc}"
    return mamba_chunk_scan_combined, None


def load_kernel() -> Callable[..., object] | None:
    """The cached mamba_chunk_scan_combined function, or None when it cannot be imported (tried once)."""
    global _tried, _kernel, _reason
    if not _tried:
        with _lock:
            if not _tried:
                _kernel, _reason = _import_kernel()
                _tried = True
    return _kernel


def kernel_unavailable_reason() -> str | None:
    """Why the mamba_ssm kernel cannot be used in this process, or None when it can."""
    load_kernel()
    return _reason


def ssd_scan_cuda(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    *,
    D: Tensor | None = None,
    z: Tensor | None = None,
    dt_bias: Tensor | None = None,
    dt_softplus: bool = False,
    initial_states: Tensor | None = None,
    chunk_size: int | None = None,
    dt_limit: tuple[float, float] = (0.0, float("inf")),
) -> tuple[Tensor, Tensor]:
    """Run mamba_ssm's fused Triton SSD scan (Mamba-2 chunked scan); returns (y, final_states (b,h,p,n))."""
    kernel = load_kernel()
    if kernel is None:
        raise RuntimeError(f"ssd_scan backend 'cuda' is unavailable: {_reason}")
    y, final_states = kernel(
        x,
        dt,
        A,
        B,
        C,
        int(chunk_size or DEFAULT_CHUNK_SIZE_CUDA),
        D=D,
        z=z,
        dt_bias=dt_bias,
        initial_states=initial_states,
        dt_softplus=dt_softplus,
        dt_limit=tuple(dt_limit),
        return_final_states=True,
    )
    return y, final_states
