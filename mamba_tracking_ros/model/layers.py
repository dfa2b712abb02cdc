"""Backbone layer of the one-stream tracker: MambaVLT's hybrid multimodal state-space (HMSS) layer."""

from __future__ import annotations

import torch
from torch import nn

from ..ssm import Mamba2Block, Mamba2State
from .attention import AttentionMixer
from .config import ModelConfig


def make_mixer(
    cfg: ModelConfig, n_directions: int = 1, learned_init_state: bool = False, prompt: bool = False
) -> Mamba2Block | AttentionMixer:
    """Build the config's token mixer with its widths: a Mamba-2 block, or same-width attention (cfg.mixer).

    ``prompt`` marks a mixer that receives Mamba-FETrack V2's C offset: Mamba adds it to C directly; attention
    needs a projection for it (see model/attention.py).
    """
    widths = dict(d_state=cfg.d_state, expand=cfg.expand, headdim=cfg.headdim, ngroups=cfg.ngroups)
    if cfg.mixer == "attention":
        return AttentionMixer(cfg.d_model, n_directions=n_directions, prompt=prompt, **widths)
    return Mamba2Block(
        cfg.d_model,
        n_directions=n_directions,
        **widths,
        d_conv=cfg.d_conv,
        chunk_size=cfg.chunk_size or None,
        learned_init_state=learned_init_state,
        init_mix=cfg.state_mix,
        backend=cfg.backend,
    )


def bidirectional_orders(
    n_text: int, n_template: int, n_search: int, device: torch.device
) -> list[torch.Tensor]:
    """MambaVLT modality-guided scan orders over tokens laid out [text, template, search].

    Text-first (alpha): text -> template -> search; template-first (beta): template -> text -> search.
    The search region stays last in both so that it aggregates the references.
    """
    text = torch.arange(n_text, device=device)
    template = torch.arange(n_text, n_text + n_template, device=device)
    search = torch.arange(n_text + n_template, n_text + n_template + n_search, device=device)
    return [torch.cat([text, template, search]), torch.cat([template, text, search])]


class HybridStateSpaceLayer(nn.Module):
    """MambaVLT HMSS layer: pre-norm bidirectional Mamba-2 (shared B, C, D; separate A) with a residual.

    The scan's initial state follows MambaVLT's time-evolving memory, H_ini = a*H_learn + (1-a)*H_{t-1}^fin,
    and the final state is returned so the tracker can carry it to the next frame. `c_offset` carries the
    Mamba-FETrack V2 cross-modal prompt added to the SSM's C. With cfg.mixer == "attention" the mixer is
    same-width self-attention (model/attention.py), the orders are moot and no state is carried.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        """Create the norm and the two-direction mixer."""
        super().__init__()
        self.norm = nn.LayerNorm(cfg.d_model)
        self.mixer = make_mixer(cfg, n_directions=2, learned_init_state=True, prompt=True)

    def forward(
        self,
        x: torch.Tensor,
        orders: list[torch.Tensor],
        prev_states: torch.Tensor | None,
        c_offset: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run one layer over (b, l, d) tokens; returns new tokens and final states (b, 2, h, p, n).

        The final states are None with the attention mixer (cfg.mixer == "attention"), which carries no state.
        """
        state = None if prev_states is None else Mamba2State(conv=None, ssm=prev_states)
        y, new_state = self.mixer(
            self.norm(x), state=state, orders=orders, c_offset=c_offset, carry_conv=False
        )
        return x + y, new_state.ssm
