"""The one SSD scan interface of the project (Mamba-2 / SSD, Dao & Gu 2024) and its backend selection.

`ssd_scan` has the semantics of mamba_ssm's `mamba_chunk_scan_combined`:
dt' = softplus(dt + dt_bias) (or dt + dt_bias), clamped to dt_limit;
h_t = exp(dt'_t A) h_{t-1} + dt'_t x_t B_t^T;  y_t = h_t C_t + D x_t;  y_t *= silu(z_t) when z is given.

Backends: "torch" (pure PyTorch chunked scan, any device), "cuda" (mamba_ssm's Triton kernel: CUDA tensors
and an importable mamba_ssm), "auto" (the process default, see `set_default_backend`; by default cuda when
possible, else torch). Importing this module never imports mamba_ssm.
"""

from __future__ import annotations

import math
import threading

import torch
from torch import Tensor

from . import ssd_cuda
from .ssd_torch import DEFAULT_CHUNK_SIZE_TORCH, ssd_scan_torch

__all__ = [
    "BACKENDS",
    "available_backends",
    "cuda_unavailable_reason",
    "get_default_backend",
    "resolve_backend",
    "set_default_backend",
    "ssd_scan",
]

BACKENDS = ("auto", "torch", "cuda")
_CUDA_DTYPES = (torch.float32, torch.float16, torch.bfloat16)

_default_lock = threading.Lock()
_default_backend = "auto"


def _check_name(name: object, argument: str) -> str:
    """Validate a backend name; raises ValueError naming `argument`."""
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"{argument} must be one of {BACKENDS}, got {name!r}")
    return name


def available_backends() -> list[str]:
    """Backends usable in this process: 'torch', plus 'cuda' when CUDA works and mamba_ssm imports."""
    return ["torch", "cuda"] if ssd_cuda.kernel_unavailable_reason() is None else ["torch"]


def cuda_unavailable_reason(x: Tensor | None = None) -> str | None:
    """Why the 'cuda' backend cannot run (on tensor x when given), or None when it can."""
    if x is not None and not x.is_cuda:
        return f"the inputs are on {x.device}, the cuda backend needs CUDA tensors"
    if x is not None and x.dtype not in _CUDA_DTYPES:
        return f"the cuda backend supports float32/float16/bfloat16 inputs, got {x.dtype}"
    return ssd_cuda.kernel_unavailable_reason()


def set_default_backend(name: str) -> None:
    """Set the process-wide backend that backend='auto' resolves to ('auto', 'torch' or 'cuda').

    Raises ValueError for an unknown name and RuntimeError (with the reason) when 'cuda' cannot be used here.
    """
    global _default_backend
    _check_name(name, "backend")
    if name == "cuda":
        reason = ssd_cuda.kernel_unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"cannot make 'cuda' the default ssd_scan backend: {reason}")
    with _default_lock:
        _default_backend = name


def get_default_backend() -> str:
    """The process-wide backend that backend='auto' resolves to ('auto' unless set_default_backend set it)."""
    return _default_backend


def resolve_backend(backend: str, x: Tensor) -> str:
    """Concrete backend ('torch' or 'cuda') ssd_scan uses for input x; RuntimeError if 'cuda' cannot run."""
    _check_name(backend, "backend")
    if backend == "auto":
        backend = _default_backend
    if backend == "auto":
        if x.is_cuda and x.dtype in _CUDA_DTYPES and ssd_cuda.load_kernel() is not None:
            return "cuda"
        return "torch"
    if backend == "cuda":
        reason = cuda_unavailable_reason(x)
        if reason is not None:
            raise RuntimeError(f"ssd_scan backend 'cuda' is unavailable: {reason}")
    return backend


def _shape(t: Tensor) -> tuple[int, ...]:
    """Plain tuple shape for error messages."""
    return tuple(t.shape)


def _check_tensor(t: object, name: str, ndim: int | None) -> Tensor:
    """Require a floating-point tensor (with `ndim` dimensions when given); raises ValueError naming it."""
    if not isinstance(t, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")
    if ndim is not None and t.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {_shape(t)}")
    return t


def _validate(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None,
    z: Tensor | None,
    dt_bias: Tensor | None,
    initial_states: Tensor | None,
    chunk_size: int | None,
    dt_limit: tuple[float, float],
) -> None:
    """Check every argument of ssd_scan; raises ValueError naming the offending one."""
    _check_tensor(x, "x", 4)
    b, l, h, p = x.shape
    if l == 0:
        raise ValueError("x must have a sequence length of at least 1, got 0")
    if h == 0 or p == 0 or b == 0:
        raise ValueError(f"x must have non-empty batch, head and head-dim axes, got shape {_shape(x)}")
    _check_tensor(dt, "dt", 3)
    if _shape(dt) != (b, l, h):
        raise ValueError(f"dt must have shape (batch, seqlen, nheads) = {(b, l, h)}, got {_shape(dt)}")
    _check_tensor(A, "A", 1)
    if _shape(A) != (h,):
        raise ValueError(f"A must have shape (nheads,) = {(h,)}, got {_shape(A)}")
    _check_tensor(B, "B", 4)
    if B.shape[:2] != x.shape[:2] or B.shape[2] == 0 or B.shape[3] == 0:
        raise ValueError(
            f"B must have shape (batch, seqlen, ngroups, d_state) with {(b, l)} first, got {_shape(B)}"
        )
    g = B.shape[2]
    if h % g != 0:
        raise ValueError(f"B: nheads ({h}) must be a multiple of ngroups ({g})")
    _check_tensor(C, "C", 4)
    if C.shape != B.shape:
        raise ValueError(f"C must have the same shape as B {_shape(B)}, got {_shape(C)}")
    if D is not None:
        _check_tensor(D, "D", None)
        if _shape(D) not in ((h,), (h, p)):
            raise ValueError(
                f"D must have shape (nheads,) = {(h,)} or (nheads, headdim) = {(h, p)}, got {_shape(D)}"
            )
    if z is not None:
        _check_tensor(z, "z", 4)
        if z.shape != x.shape:
            raise ValueError(f"z must have the same shape as x {_shape(x)}, got {_shape(z)}")
    if dt_bias is not None:
        _check_tensor(dt_bias, "dt_bias", 1)
        if _shape(dt_bias) != (h,):
            raise ValueError(f"dt_bias must have shape (nheads,) = {(h,)}, got {_shape(dt_bias)}")
    if initial_states is not None:
        _check_tensor(initial_states, "initial_states", 4)
        want = (b, h, p, B.shape[3])
        if _shape(initial_states) != want:
            raise ValueError(
                f"initial_states must have shape (batch, nheads, headdim, d_state) = {want}, "
                f"got {_shape(initial_states)}"
            )
    if chunk_size is not None and (
        isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
    ):
        raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
    try:
        lo, hi = (float(v) for v in dt_limit)
    except (TypeError, ValueError):
        raise ValueError(f"dt_limit must be a pair (min, max) of floats, got {dt_limit!r}") from None
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        raise ValueError(f"dt_limit must satisfy min <= max, got {dt_limit!r}")
    device = x.device
    for name, t in (("dt", dt), ("A", A), ("B", B), ("C", C), ("D", D), ("z", z), ("dt_bias", dt_bias)):
        if t is not None and t.device != device:
            raise ValueError(f"{name} is on {t.device} but x is on {device}")
    if initial_states is not None and initial_states.device != device:
        raise ValueError(f"initial_states is on {initial_states.device} but x is on {device}")


def ssd_scan(
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
    backend: str = "auto",
) -> tuple[Tensor, Tensor]:
    """Mamba-2 SSD scan (Dao & Gu 2024): h_t = exp(dt_t A) h_{t-1} + dt_t x_t B_t^T, y_t = h_t C_t + D x_t.

    x (b, l, h, p); dt (b, l, h); A (h,) (negative); B, C (b, l, g, n) with h % g == 0 (head i uses group
    i // (h // g)); D None, (h,) or (h, p); z None or (b, l, h, p); dt_bias None or (h,); initial_states
    None or (b, h, p, n). chunk_size None picks the backend's default (torch: 32, cuda: 256); the result
    does not depend on it.
    Returns (y (b, l, h, p) in x's dtype, final_states (b, h, p, n) in float32 (float64 for float64 inputs)).
    """
    _validate(x, dt, A, B, C, D, z, dt_bias, initial_states, chunk_size, dt_limit)
    kwargs = dict(
        D=D,
        z=z,
        dt_bias=dt_bias,
        dt_softplus=bool(dt_softplus),
        initial_states=initial_states,
        dt_limit=(float(dt_limit[0]), float(dt_limit[1])),
    )
    if resolve_backend(backend, x) == "cuda":
        return ssd_cuda.ssd_scan_cuda(x, dt, A, B, C, chunk_size=chunk_size, **kwargs)
    with torch.autocast(x.device.type, enabled=False):  # computes in float32 itself (autocast mixes dtypes)
        return ssd_scan_torch(x, dt, A, B, C, chunk_size=chunk_size or DEFAULT_CHUNK_SIZE_TORCH, **kwargs)
