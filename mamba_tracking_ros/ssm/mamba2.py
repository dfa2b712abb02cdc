"""Mamba-2 mixer block (Dao & Gu 2024) on top of `ssd_scan`, with the extensions the tracker needs.

- Multi-direction scans (MambaVLT's modality-guided bidirectional scan; AINet's order-dynamic scans): the
  input projection, causal conv, dt_bias, D and norm are shared; each direction has its own A and scans the
  tokens in its own order; the directions' outputs are un-permuted and averaged (or mixed per token by
  given weights).
- A C offset (Mamba-FETrack V2's prompt, C' = C + P).
- State carried across calls: the causal-conv window and the SSM state per direction (frame-after-frame equals
  the whole sequence), and MambaVLT's time-evolving memory H_ini = a H_learn + (1 - a) H_prev_final.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .scan import BACKENDS, ssd_scan

__all__ = ["GatedRMSNorm", "Mamba2Block", "Mamba2State", "check_mixer_extras", "check_mixer_tokens"]


def _upcast(t: Tensor) -> Tensor:
    """float16/bfloat16 -> float32 for reductions and exp; float32/float64 unchanged."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


@dataclass
class Mamba2State:
    """Recurrent state of a Mamba2Block carried from one call to the next (None parts mean "fresh")."""

    conv: (
        Tensor | None
    )  # (b, n_directions, conv_dim, d_conv - 1): last inputs of the causal conv, per direction
    ssm: Tensor | None  # (b, n_directions, nheads, headdim, d_state): final SSM state, per direction

    def detach(self) -> Mamba2State:
        """The same state cut from the autograd graph (for carrying memory across frames without BPTT)."""
        return Mamba2State(
            conv=None if self.conv is None else self.conv.detach(),
            ssm=None if self.ssm is None else self.ssm.detach(),
        )


class GatedRMSNorm(nn.Module):
    """Mamba-2 gated RMSNorm: RMSNorm(y * silu(z)) * weight, normalised per group of `group_size` channels."""

    def __init__(self, dim: int, group_size: int | None = None, eps: float = 1e-5) -> None:
        """Create the per-channel weight (ones); group_size defaults to dim (one group)."""
        super().__init__()
        group_size = dim if group_size is None else group_size
        if dim <= 0 or group_size <= 0 or dim % group_size != 0:
            raise ValueError(f"group_size must be positive and divide dim ({dim}), got {group_size}")
        self.dim, self.group_size, self.eps = dim, group_size, eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, y: Tensor, z: Tensor | None = None) -> Tensor:
        """Gate y by silu(z) (when given), normalise each channel group by its RMS, scale by the weight."""
        dtype = y.dtype
        y = _upcast(y)
        if z is not None:
            y = y * F.silu(_upcast(z))
        groups = y.reshape(*y.shape[:-1], self.dim // self.group_size, self.group_size)
        groups = groups * torch.rsqrt(groups.square().mean(-1, keepdim=True) + self.eps)
        return (groups.reshape(y.shape) * _upcast(self.weight)).to(dtype)


def check_mixer_tokens(u: Tensor, d_model: int) -> tuple[int, int]:
    """Validate a token mixer's input u (batch, seqlen >= 1, d_model); returns (batch, seqlen)."""
    if not isinstance(u, Tensor) or u.dim() != 3 or u.shape[-1] != d_model:
        raise ValueError(f"u must have shape (batch, seqlen, {d_model}), got {getattr(u, 'shape', u)}")
    b, l, _ = u.shape
    if l == 0:
        raise ValueError("u must contain at least one token")
    return b, l


def check_mixer_extras(
    c_offset: Tensor | None,
    direction_weights: Tensor | None,
    want_c: tuple[int, ...],
    want_w: tuple[int, ...],
) -> None:
    """Validate a mixer's optional c_offset (b, l, ngroups, d_state) and direction_weights (b, l, nd)."""
    if c_offset is not None and tuple(c_offset.shape) != want_c:
        raise ValueError(f"c_offset must have shape {want_c}, got {tuple(c_offset.shape)}")
    if direction_weights is not None and tuple(direction_weights.shape) != want_w:
        raise ValueError(f"direction_weights must have shape {want_w}, got {tuple(direction_weights.shape)}")


class Mamba2Block(nn.Module):
    """Mamba-2 mixer (in_proj -> causal conv -> SSD scan -> gated RMSNorm -> out_proj) with n scan directions.

    Directions share in_proj, conv1d, dt_bias, D and the norm and differ in A (MambaVLT's bidirectional scan
    with shared B, C, D and separate A). With learned_init_state the scan starts from MambaVLT's time-evolving
    memory H_ini = init_mix * H_learn + (1 - init_mix) * H_prev_final.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        headdim: int = 32,
        ngroups: int = 1,
        n_directions: int = 1,
        chunk_size: int | None = None,
        learned_init_state: bool = False,
        init_mix: float = 0.5,
        dt_min: float = 1e-3,
        dt_max: float = 0.1,
        A_init_range: tuple[float, float] = (1.0, 16.0),
        backend: str = "auto",
    ) -> None:
        """Create the projections, conv, SSM parameters (initialised like mamba_ssm's Mamba2) and the norm."""
        super().__init__()
        for name, value in (
            ("d_model", d_model),
            ("d_state", d_state),
            ("d_conv", d_conv),
            ("expand", expand),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name, value in (("headdim", headdim), ("ngroups", ngroups), ("n_directions", n_directions)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        d_inner = expand * d_model
        if d_inner % headdim != 0:
            raise ValueError(f"headdim ({headdim}) must divide expand * d_model ({d_inner})")
        nheads = d_inner // headdim
        if nheads % ngroups != 0:
            raise ValueError(f"ngroups ({ngroups}) must divide the number of heads ({nheads})")
        if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
            raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
        if not 0.0 <= float(init_mix) <= 1.0:
            raise ValueError(f"init_mix must lie in [0, 1], got {init_mix!r}")
        if not 0.0 < dt_min <= dt_max:
            raise ValueError(f"dt_min and dt_max must satisfy 0 < dt_min <= dt_max, got {dt_min}, {dt_max}")
        if len(A_init_range) != 2 or not 0.0 < A_init_range[0] <= A_init_range[1]:
            raise ValueError(f"A_init_range must be (lo, hi) with 0 < lo <= hi, got {A_init_range!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")

        self.d_model, self.d_state, self.d_conv, self.expand = d_model, d_state, d_conv, expand
        self.headdim, self.ngroups, self.n_directions = headdim, ngroups, n_directions
        self.d_inner, self.nheads = d_inner, nheads
        self.conv_dim = d_inner + 2 * ngroups * d_state
        self.chunk_size, self.backend = chunk_size, backend
        self.learned_init_state, self.init_mix = bool(learned_init_state), float(init_mix)

        self.in_proj = nn.Linear(d_model, 2 * d_inner + 2 * ngroups * d_state + nheads, bias=False)
        self.conv1d = nn.Conv1d(
            self.conv_dim, self.conv_dim, d_conv, groups=self.conv_dim, padding=d_conv - 1
        )
        # dt_bias = softplus^-1(dt), dt log-uniform in [dt_min, dt_max] (floored at 1e-4), as in mamba_ssm.
        dt = torch.exp(torch.rand(nheads) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(
            min=1e-4
        )
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        A = torch.empty(n_directions, nheads).uniform_(*A_init_range)
        self.A_log = nn.Parameter(torch.log(A))  # one A per direction; A = -exp(A_log)
        self.D = nn.Parameter(torch.ones(nheads))
        for param in (self.dt_bias, self.A_log, self.D):
            param._no_weight_decay = True
        self.norm = GatedRMSNorm(d_inner, group_size=d_inner // ngroups, eps=1e-5)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)
        if self.learned_init_state:
            self.H_learn = nn.Parameter(torch.zeros(n_directions, nheads, headdim, d_state))
        else:
            self.register_parameter("H_learn", None)

    def extra_repr(self) -> str:
        """Short summary for print(module)."""
        return (
            f"d_model={self.d_model}, d_state={self.d_state}, nheads={self.nheads}x{self.headdim}, "
            f"ngroups={self.ngroups}, n_directions={self.n_directions}, "
            f"learned_init_state={self.learned_init_state}"
        )

    # ------------------------------------------------------------------ input checks
    def _check_orders(self, orders: Sequence[Tensor] | None, l: int, device: torch.device) -> Tensor | None:
        """Validate `orders` and stack them into (n_directions, l) on `device` (None: input order)."""
        if orders is None:
            return None
        if isinstance(orders, Tensor) or not isinstance(orders, Sequence) or len(orders) != self.n_directions:
            raise ValueError(
                f"orders must be None or a list of {self.n_directions} LongTensors (one per direction)"
            )
        target = torch.arange(l, device=device)
        rows = []
        for d, order in enumerate(orders):
            if (
                not isinstance(order, Tensor)
                or order.dtype not in (torch.int64, torch.int32)
                or order.shape != (l,)
            ):
                raise ValueError(f"orders[{d}] must be an integer tensor of shape ({l},)")
            order = order.to(device=device, dtype=torch.long)
            if order.is_cuda or torch.compiler.is_compiling():  # checked on the device: no sync/graph break
                torch._assert_async((torch.sort(order).values == target).all(), "orders must be permutations")
            elif not torch.equal(torch.sort(order).values, target):
                raise ValueError(f"orders[{d}] must be a permutation of range({l})")
            rows.append(order)
        return torch.stack(rows)

    def _check_state(self, state: Mamba2State | None, b: int) -> None:
        """Validate the carried state's shapes; raises ValueError naming the field."""
        if state is None:
            return
        if not isinstance(state, Mamba2State):
            raise ValueError(f"state must be a Mamba2State or None, got {type(state).__name__}")
        want_ssm = (b, self.n_directions, self.nheads, self.headdim, self.d_state)
        if state.ssm is not None and tuple(state.ssm.shape) != want_ssm:
            raise ValueError(f"state.ssm must have shape {want_ssm}, got {tuple(state.ssm.shape)}")
        want_conv = (b, self.n_directions, self.conv_dim, self.d_conv - 1)
        if state.conv is not None and tuple(state.conv.shape) != want_conv:
            raise ValueError(f"state.conv must have shape {want_conv}, got {tuple(state.conv.shape)}")

    def initial_ssm_state(self, state: Mamba2State | None, batch: int) -> Tensor | None:
        """The scan's initial state (b, n_dir, h, p, n): MambaVLT's a*H_learn + (1-a)*H_prev, or H_prev."""
        prev = None if state is None else state.ssm
        if self.H_learn is None:
            return prev
        if prev is None:
            return self.H_learn.unsqueeze(0).expand(batch, *self.H_learn.shape)
        return self.init_mix * self.H_learn + (1.0 - self.init_mix) * prev

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        u: Tensor,
        state: Mamba2State | None = None,
        orders: Sequence[Tensor] | None = None,
        c_offset: Tensor | None = None,
        direction_weights: Tensor | None = None,
        carry_conv: bool = True,
    ) -> tuple[Tensor, Mamba2State]:
        """Mix tokens u (b, l, d_model); returns (output (b, l, d_model), the state for the next call).

        orders: None or n_directions permutations of range(l) (direction d scans u[:, orders[d]]); c_offset:
        None or (b, l, ngroups, d_state) added to C in input token order (Mamba-FETrack V2 prompt);
        direction_weights: None (mean) or (b, l, n_directions) per-token mixing weights of the directions;
        carry_conv: start the causal conv from state.conv (else from zeros).
        """
        b, l = check_mixer_tokens(u, self.d_model)
        nd, h, p = self.n_directions, self.nheads, self.headdim
        g, n, k = self.ngroups, self.d_state, self.d_conv
        self._check_state(state, b)
        perm = self._check_orders(orders, l, u.device)
        check_mixer_extras(c_offset, direction_weights, (b, l, g, n), (b, l, nd))

        z, xbc, dt = self.in_proj(u).split([self.d_inner, self.conv_dim, h], dim=-1)
        # Token sequences as each direction scans them: (b, nd, l, .).
        if perm is None:
            xbc_d = xbc.unsqueeze(1).expand(b, nd, l, self.conv_dim)
            dt_d = dt.unsqueeze(1).expand(b, nd, l, h)
        else:
            xbc_d, dt_d = xbc[:, perm], dt[:, perm]

        # Depthwise causal conv, continuing from the carried window.
        seq = xbc_d.reshape(b * nd, l, self.conv_dim).transpose(1, 2)  # (b*nd, conv_dim, l)
        if carry_conv and state is not None and state.conv is not None:
            window = state.conv.reshape(b * nd, self.conv_dim, k - 1).to(seq.dtype)
        else:
            window = seq.new_zeros(b * nd, self.conv_dim, k - 1)
        full = torch.cat([window, seq], dim=-1) if k > 1 else seq
        conv = F.conv1d(full, self.conv1d.weight, self.conv1d.bias, groups=self.conv_dim)
        new_window = full[..., full.shape[-1] - (k - 1) :].reshape(b, nd, self.conv_dim, k - 1)
        xbc_c = F.silu(conv).transpose(1, 2).reshape(b, nd, l, self.conv_dim)

        x, B, C = xbc_c.split([self.d_inner, g * n, g * n], dim=-1)
        if c_offset is not None:
            offset = (
                c_offset.reshape(b, 1, l, g * n) if perm is None else c_offset.reshape(b, l, g * n)[:, perm]
            )
            C = C + offset.to(C.dtype)

        # Directions become extra heads of one scan: head d*h + i uses A_d[i] and group d*g + i // (h // g).
        x = x.reshape(b, nd, l, h, p).transpose(1, 2).reshape(b, l, nd * h, p)
        B = B.reshape(b, nd, l, g, n).transpose(1, 2).reshape(b, l, nd * g, n)
        C = C.reshape(b, nd, l, g, n).transpose(1, 2).reshape(b, l, nd * g, n)
        dt_s = dt_d.transpose(1, 2).reshape(b, l, nd * h)
        A = -torch.exp(_upcast(self.A_log)).reshape(nd * h)
        init = self.initial_ssm_state(state, b)
        if init is not None:
            init = init.reshape(b, nd * h, p, n)
        y, final = ssd_scan(
            x,
            dt_s,
            A,
            B,
            C,
            D=self.D.repeat(nd) if nd > 1 else self.D,
            dt_bias=self.dt_bias.repeat(nd) if nd > 1 else self.dt_bias,
            dt_softplus=True,
            initial_states=init,
            chunk_size=self.chunk_size,
            backend=self.backend,
        )
        y = y.reshape(b, l, nd, self.d_inner)

        # Back to input token order, then combine the directions.
        if perm is not None:
            inverse = torch.argsort(perm, dim=1)  # (nd, l)
            y = y.transpose(1, 2)[:, torch.arange(nd, device=u.device)[:, None], inverse].transpose(1, 2)
        if direction_weights is not None:
            y = (y * direction_weights.unsqueeze(-1).to(y.dtype)).sum(dim=2)
        elif nd == 1:
            y = y[:, :, 0]
        else:
            y = y.mean(dim=2)

        out = self.out_proj(self.norm(y, z))
        return out, Mamba2State(conv=new_window, ssm=final.reshape(b, nd, h, p, n))
