"""Multi-head self-attention mixer: a drop-in for `Mamba2Block` with the same widths, for comparisons.

The attention-based variant of the tracker (``ModelConfig.mixer = "attention"``) replaces every Mamba-2 mixer
(backbone HMSS layers, AINet DFM and OFM) by non-causal multi-head self-attention over the same tokens, as in
a one-stream ViT tracker (OSTrack): Attention(Q, K, V) = softmax(Q K^T / sqrt(p)) V, Q, K, V = u W_{q,k,v}.
It keeps the Mamba mixer's inner width d_inner = expand * d_model and head count h = d_inner / headdim, so the
two variants differ only in the token mixer: linear (SSD scan) against quadratic (L x L scores) in the token
count L. It exists to measure that difference (benchmarks/bench_scaling.py); no checkpoint ships for it.

How the Mamba-specific arguments map onto attention:
- ``orders`` (MambaVLT's text-first / template-first scans, AINet's forward / backward / predicted layer
  orders): self-attention without a causal mask is permutation-equivariant, so scanning the tokens in another
  order and un-permuting the result gives the same output for every direction. The orders are validated
  (count and shape) and otherwise not used.
- ``direction_weights`` (AINet's per-token gate over the directions): since every direction yields the same
  output y, the Mamba combination sum_d w_d y_d equals y * sum_d w_d, which is what is computed (exactly y for
  the OFM's softmax weights).
- ``c_offset`` (Mamba-FETrack V2's prompt P added to the SSM's C): by the state-space duality of Mamba-2
  (Dao & Gu 2024, SSD: y_t = sum_s C_t^T B_s x_s, with C <-> Q, B <-> K, x <-> V), C plays the role of the
  query. The prompt (ngroups * d_state wide) is therefore projected to d_inner and added to the queries,
  Q' = Q + P W_p. Only mixers built with ``prompt=True`` (the backbone layers) own W_p.
- ``state`` / ``carry_conv``: attention keeps no recurrent state across calls; the returned state is
  ``Mamba2State(conv=None, ssm=None)``, so the tracker's MambaVLT memory stays empty.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ..ssm import Mamba2State
from ..ssm.mamba2 import check_mixer_extras, check_mixer_tokens

__all__ = ["AttentionMixer"]


class AttentionMixer(nn.Module):
    """Non-causal multi-head self-attention (OSTrack-style) with a Mamba2Block's call signature and widths."""

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        expand: int = 2,
        headdim: int = 32,
        ngroups: int = 1,
        n_directions: int = 1,
        prompt: bool = False,
    ) -> None:
        """Create the fused q/k/v projection (d_model -> 3 d_inner), out_proj and, with prompt, W_p."""
        super().__init__()
        for name, value in (
            ("d_model", d_model),
            ("d_state", d_state),
            ("expand", expand),
            ("headdim", headdim),
            ("ngroups", ngroups),
            ("n_directions", n_directions),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        d_inner = expand * d_model
        if d_inner % headdim != 0:
            raise ValueError(f"headdim ({headdim}) must divide expand * d_model ({d_inner})")
        self.d_model, self.d_state, self.expand, self.headdim = d_model, d_state, expand, headdim
        self.ngroups, self.n_directions = ngroups, n_directions
        self.d_inner, self.nheads = d_inner, d_inner // headdim
        self.qkv = nn.Linear(d_model, 3 * d_inner)
        self.out_proj = nn.Linear(d_inner, d_model)
        # Mamba-FETrack V2 prompt -> query offset (C <-> Q under the SSD duality); see the module docstring.
        self.prompt_proj = nn.Linear(ngroups * d_state, d_inner, bias=False) if prompt else None
        # No MambaVLT learned initial state: attention carries nothing from frame to frame.
        self.register_parameter("H_learn", None)

    def extra_repr(self) -> str:
        """Short summary for print(module)."""
        return (
            f"d_model={self.d_model}, nheads={self.nheads}x{self.headdim}, "
            f"n_directions={self.n_directions}, prompt={self.prompt_proj is not None}"
        )

    def _check_orders(self, orders: Sequence[Tensor] | None, length: int) -> None:
        """Validate `orders` like Mamba2Block does (count and shape); attention does not need them."""
        if orders is None:
            return
        if isinstance(orders, Tensor) or not isinstance(orders, Sequence) or len(orders) != self.n_directions:
            raise ValueError(
                f"orders must be None or a list of {self.n_directions} LongTensors (one per direction)"
            )
        for d, order in enumerate(orders):
            if not isinstance(order, Tensor) or order.shape != (length,):
                raise ValueError(f"orders[{d}] must be an integer tensor of shape ({length},)")

    def forward(
        self,
        u: Tensor,
        state: Mamba2State | None = None,
        orders: Sequence[Tensor] | None = None,
        c_offset: Tensor | None = None,
        direction_weights: Tensor | None = None,
        carry_conv: bool = True,
    ) -> tuple[Tensor, Mamba2State]:
        """Attend over tokens u (b, l, d_model); returns (output (b, l, d_model), an empty Mamba2State).

        Arguments as in Mamba2Block.forward; see the module docstring for what each means for attention.
        """
        b, l = check_mixer_tokens(u, self.d_model)
        if state is not None and not isinstance(state, Mamba2State):
            raise ValueError(f"state must be a Mamba2State or None, got {type(state).__name__}")
        self._check_orders(orders, l)
        g, n, nd = self.ngroups, self.d_state, self.n_directions
        if c_offset is not None and self.prompt_proj is None:
            raise ValueError("c_offset given to an AttentionMixer built without prompt=True")
        check_mixer_extras(c_offset, direction_weights, (b, l, g, n), (b, l, nd))

        q, k, v = self.qkv(u).split(self.d_inner, dim=-1)
        if c_offset is not None:
            q = q + self.prompt_proj(c_offset.reshape(b, l, g * n).to(q.dtype))
        h, p = self.nheads, self.headdim
        q, k, v = (t.reshape(b, l, h, p).transpose(1, 2) for t in (q, k, v))  # (b, h, l, p)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=False)
        y = y.transpose(1, 2).reshape(b, l, self.d_inner)
        if direction_weights is not None:  # sum_d w_d y_d with y_d = y for every direction
            y = y * direction_weights.sum(dim=-1, keepdim=True).to(y.dtype)
        return self.out_proj(y), Mamba2State(conv=None, ssm=None)
