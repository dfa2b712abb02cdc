"""Pure-PyTorch chunked SSD scan (Mamba-2, Dao & Gu 2024, "Transformers are SSMs", Sec. 6): the CPU path.

The sequence is cut into chunks of Q tokens. Inside a chunk the output is the quadratic ("attention-like")
form y = (L o C B^T) (dt x) with the 1-semiseparable decay mask L[i, j] = exp(sum_{k=j+1..i} dt_k A) (a
segment sum); across chunks each chunk's state is passed on by the recurrence s_{k+1} = exp(a_k) s_k + S_k
(one fused op per chunk), started from the initial state, and read out by the off-diagonal term
y += exp(cs_i) C_i s_k.

Implementation notes (CPU):
- Tensors are moved once to chunk-major order (chunks, b, h, Q, .) so that every product is one plain batched
  GEMM and the chunk states form one buffer that the recurrence updates in place.
- Segment sums come from a float64 cumulative sum split into a float32 value and its float32 remainder, so a
  decay factor keeps float32 accuracy relative to itself even deep into a long, strongly decaying chunk.
- Decay exponents are clamped to [-60, 60] before exp (float32): exp(-60) ~ 1e-26 is zero for every purpose
  here, and it keeps the exp and the GEMMs away from subnormal floats, which are very slow on x86.
- Fresh large allocations page-fault on every call under glibc's default malloc thresholds, which here costs
  about as much as the arithmetic. When autograd is not recording, temporaries are updated in place, freed
  early, and the output is written into a dead buffer; `tune_cpu_allocator()` (opt-in, process-wide)
  removes the rest.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["DEFAULT_CHUNK_SIZE_TORCH", "compute_dtype", "process_dt", "ssd_scan_torch", "tune_cpu_allocator"]

# Chosen with benchmarks/bench_ssm.py --sweep-chunks on a 2-core CPU (b=1, 6 heads x 64 and 12 x 32, d_state
# 16, L 320..3840): 32 is the fastest or within noise of it everywhere (16 doubles the state GEMMs and the
# chunk count, 64 doubles the intra-chunk GEMM and the decay matrix).
DEFAULT_CHUNK_SIZE_TORCH = 32

_MASKS: dict[tuple[int, int, int, str], Tensor] = {}


def _tril_mask(rows: int, cols: int, offset: int, device: torch.device) -> Tensor:
    """Cached boolean mask that is True where column j <= row i + offset."""
    key = (rows, cols, offset, str(device))
    mask = _MASKS.get(key)
    if mask is None:
        mask = torch.ones(rows, cols, dtype=torch.bool, device=device).tril_(offset)
        _MASKS[key] = mask
    return mask


def compute_dtype(*tensors: Tensor | None) -> torch.dtype:
    """float64 when any given tensor is float64 (so gradcheck works), float32 otherwise (half is upcast)."""
    return (
        torch.float64 if any(t is not None and t.dtype == torch.float64 for t in tensors) else torch.float32
    )


def _exp_bound(dtype: torch.dtype) -> float:
    """Largest |exponent| kept before exp: far from over/underflow and from subnormal results."""
    return 600.0 if dtype == torch.float64 else 60.0


def process_dt(
    dt: Tensor,
    dt_bias: Tensor | None = None,
    dt_softplus: bool = False,
    dt_limit: tuple[float, float] = (0.0, float("inf")),
) -> Tensor:
    """Mamba-2 step size: dt' = softplus(dt + dt_bias) (or dt + dt_bias), clamped to dt_limit when set."""
    if dt_bias is not None:
        dt = dt + dt_bias
    if dt_softplus:
        dt = F.softplus(dt)  # threshold 20, like the Triton kernel
    lo, hi = float(dt_limit[0]), float(dt_limit[1])
    if (lo, hi) != (0.0, math.inf):
        dt = dt.clamp(min=lo, max=hi)
    return dt


def ssd_scan_torch(
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
    """Chunked SSD scan in PyTorch (Mamba-2): h_t = exp(dt_t A) h_{t-1} + dt_t x_t B_t^T, y_t = C_t h_t.

    Shapes as in `mamba_tracking_ros.ssm.ssd_scan` (inputs are assumed validated there). Returns y in x's
    dtype and the final states in the compute dtype (float32, or float64 for float64 inputs).
    """
    b, l, h, p = x.shape
    g, n = B.shape[2], B.shape[3]
    hg = h // g
    cd = compute_dtype(x, dt, A, B, C, D, z, initial_states)
    q = min(int(chunk_size or DEFAULT_CHUNK_SIZE_TORCH), l)
    c = -(-l // q)
    pad = c * q - l
    bound = _exp_bound(cd)
    # Temporaries are reused in place (and the output written into a dead buffer) only when autograd is not
    # recording this call.
    grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, dt, A, B, C, D, z, dt_bias, initial_states)
    )
    # torch.compile traces the out-of-place form: the compiler plans buffers itself, and the reuse below
    # relies on eager strides that a compiled graph need not keep.
    grad = grad or torch.compiler.is_compiling()

    dt_ = process_dt(dt.to(cd), None if dt_bias is None else dt_bias.to(cd), dt_softplus, dt_limit)
    x_, B_, C_ = x.to(cd), B.to(cd), C.to(cd)
    if pad:  # zero-pad to whole chunks: a padded step has dt = 0, so no input and no decay
        x_, dt_ = F.pad(x_, (0, 0, 0, 0, 0, pad)), F.pad(dt_, (0, 0, 0, pad))
        B_, C_ = F.pad(B_, (0, 0, 0, 0, 0, pad)), F.pad(C_, (0, 0, 0, 0, 0, pad))
    # Chunk-major layout (c, b, h, q, .): every product below is one plain batched GEMM over c*b*h (or c*b*g).
    x5 = x_.reshape(b, c, q, h, p)
    dtc = dt_.view(b, c, q, h).permute(1, 0, 3, 2).contiguous()  # (c, b, h, q)
    x_cm = x5.permute(1, 0, 3, 2, 4)
    if grad:
        xdt = (dtc.unsqueeze(-1) * x_cm).contiguous()  # (c, b, h, q, p)
    else:  # written straight into chunk-major memory, whatever x's layout
        xdt = torch.mul(dtc.unsqueeze(-1), x_cm, out=torch.empty(c, b, h, q, p, dtype=cd, device=x.device))
    xdt3 = xdt.view(c * b * h, q, p)
    Bc = B_.view(b, c, q, g, n).permute(1, 0, 3, 2, 4).contiguous()  # (c, b, g, q, n)
    Cc = C_.view(b, c, q, g, n).permute(1, 0, 3, 2, 4).contiguous()

    # Segment sums seg[i, j] = cs_i - cs_j = sum_{k=j+1..i} dt_k A, from a float64 cumulative sum.
    cs_hi = (dtc * A.to(cd).view(1, 1, h, 1)).to(torch.float64).cumsum(-1)
    cs = cs_hi.to(cd)  # decay exponent from the chunk start, (c, b, h, q)
    seg = cs[..., :, None] - cs[..., None, :]
    if cd != torch.float64:
        lo = (cs_hi - cs.to(torch.float64)).to(cd)
        seg = seg.add_(lo[..., :, None]).sub_(lo[..., None, :])
    # L (c, b, h, q, q); its non-causal entries are finite junk, zeroed through the masked C B^T below.
    decay_in = seg.clamp_(-bound, bound).exp_()
    decay_out = decay_in[..., -1, :]  # exp(cs_last - cs_j), (c, b, h, q)

    # State at the end of each chunk from its own tokens: S = sum_j exp(cs_last - cs_j) dt_j x_j B_j^T.
    Bw = (Bc.unsqueeze(3) * decay_out.reshape(c, b, g, hg, q, 1)).view(c * b * h, q, n)
    if grad:
        S = torch.bmm(xdt3.transpose(1, 2), Bw)
    else:  # slot 0 holds the initial state; the recurrence below runs in place over this buffer
        states = torch.empty((c + 1) * b * h, p, n, dtype=cd, device=x.device)
        S = torch.bmm(xdt3.transpose(1, 2), Bw, out=states[b * h :])
    del Bw, decay_out

    # Intra-chunk (diagonal blocks): y = (L o C B^T) (dt x).
    cb = (Cc @ Bc.transpose(-1, -2)).masked_fill_(~_tril_mask(q, q, 0, x.device), 0.0).unsqueeze(3)
    scores = decay_in.view(c, b, g, hg, q, q)
    scores = scores * cb if grad else scores.mul_(cb)
    y = torch.bmm(scores.view(c * b * h, q, q), xdt3)
    del scores, decay_in, seg, cb

    # Inter-chunk recurrence s_{k+1} = exp(a_k) s_k + S_k over the c chunks (a_k = sum of dt*A in chunk k).
    decay_chunk = cs_hi[..., -1].clamp(min=-bound).exp().to(cd)[..., None, None].unbind(0)  # c x (b, h, 1, 1)
    init = None if initial_states is None else initial_states.to(cd)
    if grad:
        s = init if init is not None else S.new_zeros(b, h, p, n)
        entering = []
        for k, S_k in enumerate(S.view(c, b, h, p, n).unbind(0)):
            entering.append(s)
            s = torch.addcmul(S_k, decay_chunk[k], s)
        final = s
        entering = torch.stack(entering)
    else:
        rows = states.view(c + 1, b, h, p, n).unbind(0)
        if init is None:
            rows[0].zero_()
        else:
            rows[0].copy_(init)
        for k in range(c):
            rows[k + 1].addcmul_(rows[k], decay_chunk[k])
        entering = states[: c * b * h]
        final = rows[c].clone()
        del rows
    del S

    # Off-diagonal blocks: y += exp(cs_i) C_i . s_entering.
    Cw = (Cc.unsqueeze(3) * cs.clamp(min=-bound).exp_().view(c, b, g, hg, q, 1)).view(c * b * h, q, n)
    y = y.baddbmm_(Cw, entering.reshape(c * b * h, p, n).transpose(1, 2))
    del Cw, entering
    y5 = y.view(c, b, h, q, p).permute(1, 0, 3, 2, 4)  # (b, c, q, h, p) view

    # Back to (b, l, h, p), with the skip term D x. Without autograd the result goes into xdt's dead buffer.
    Dv = None
    if D is not None:
        Dv = D.to(cd).reshape(1, 1, 1, h, 1) if D.dim() == 1 else D.to(cd).reshape(1, 1, 1, h, p)
    if grad:
        out = y5.contiguous() if Dv is None else (x5 * Dv).add_(y5)
    else:
        out = xdt.view(b, c, q, h, p)
        if Dv is None:
            out.copy_(y5)
        else:
            torch.mul(x5, Dv, out=out).add_(y5)
    del y, y5
    out = out.reshape(b, c * q, h, p)
    if pad:
        out = out[:, :l]
    if z is not None:
        gate = F.silu(z.to(cd))
        out = out * gate if grad else out.mul_(gate)
    return out.contiguous().to(x.dtype), final


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_cpu_allocator(threshold_bytes: int = 256 << 20) -> bool:
    """Opt-in: stop glibc from returning large freed blocks to the OS, so scans do not page-fault every call.

    Process-wide (mallopt M_MMAP_THRESHOLD / M_TRIM_THRESHOLD; the same as exporting MALLOC_MMAP_THRESHOLD_
    and MALLOC_TRIM_THRESHOLD_). Trades up to `threshold_bytes` of retained heap for speed. Measured here
    (2 cores, 6 heads x 64): the warm scan no longer faults at L <= 3840 either way, but at L = 16384 it
    goes from ~45 ms (~14k page faults per call) to ~26 ms; the rest of a model's large temporaries gain
    the same way. Returns False where glibc's mallopt is unavailable (non-Linux, musl).
    """
    if threshold_bytes <= 0:
        raise ValueError(f"threshold_bytes must be positive, got {threshold_bytes}")
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    trim = min(int(threshold_bytes), 2**31 - 1)
    mmap = min(trim, 32 << 20)  # glibc's ceiling for M_MMAP_THRESHOLD on 64-bit
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap)) and bool(mallopt(_M_TRIM_THRESHOLD, trim))
