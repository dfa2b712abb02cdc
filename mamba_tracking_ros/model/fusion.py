"""Cross-modal fusion modules: AINet's DFM and OFM (RGB-thermal) and Mamba-FETrack V2's prompt generator."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mamba_tracking_ros.constants import MODALITIES

from .config import ModelConfig
from .layers import make_mixer


class DifferenceFusionMamba(nn.Module):
    """AINet Difference-based Fusion Mamba (eqs. 7-8), applied after every backbone layer.

    x_d = x_rgb - x_tir; m = tanh(Mamba(x_d));
    x_rgb' = x_rgb + x_tir * m;  x_tir' = x_tir + x_rgb * m            (eq. 7)
    x_dfm  = tanh(LN([x_rgb', x_tir'] W)),  W in R^{2C x C}            (eq. 8)
    """

    def __init__(self, cfg: ModelConfig) -> None:
        """Create the difference Mamba, the 2C->C reduction and its LayerNorm."""
        super().__init__()
        self.diff_norm = nn.LayerNorm(cfg.d_model)
        self.mamba = make_mixer(cfg)
        self.reduce = nn.Linear(2 * cfg.d_model, cfg.d_model)
        self.out_norm = nn.LayerNorm(cfg.d_model)

    def forward(
        self, x_rgb: torch.Tensor, x_tir: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return enhanced RGB tokens, enhanced thermal tokens and the fused tokens of this layer."""
        diff, _ = self.mamba(self.diff_norm(x_rgb - x_tir))
        gate = torch.tanh(diff)
        rgb = x_rgb + x_tir * gate
        tir = x_tir + x_rgb * gate
        fused = torch.tanh(self.out_norm(self.reduce(torch.cat([rgb, tir], dim=-1))))
        return rgb, tir, fused


class OrderDynamicFusionMamba(nn.Module):
    """AINet Order-dynamic Fusion Mamba (eqs. 9-11) over the fused tokens of all layers.

    Three scans share one Mamba-2 mixer (its conv W_c, B, C, D): forward layer order [x_1..x_N], backward
    [x_N..x_1], and a predicted order from index = FC(MLP(D(F_all))) (eq. 10). A per-token gate fuses the
    three scans; the layers are then summed element-wise for the head.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        """Create the order predictor, the three-direction mixer and the scan gate."""
        super().__init__()
        self.n_layers = cfg.n_layers
        self.norm = nn.LayerNorm(cfg.d_model)
        self.mamba = make_mixer(cfg, n_directions=3)
        self.order_mlp = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.ofm_hidden),
            nn.GELU(),
            nn.Linear(cfg.ofm_hidden, cfg.ofm_hidden),
            nn.GELU(),
        )
        self.order_fc = nn.Linear(cfg.ofm_hidden, 1)
        self.gate = nn.Linear(cfg.d_model, 3)
        self.out_norm = nn.LayerNorm(cfg.d_model)

    def layer_order(self, layers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict the dynamic scan order of the layers (eq. 10); returns (order, per-layer scores)."""
        pooled = layers.mean(dim=2)  # D: (b, N, S, d) -> (b, N, d)
        scores = self.order_fc(self.order_mlp(pooled)).squeeze(-1)  # (b, N)
        order = torch.argsort(scores[0], descending=True)
        return order, scores

    def forward(self, fused_layers: list[torch.Tensor]) -> torch.Tensor:
        """Fuse [x_1^dfm .. x_N^dfm] (each (b, S, d)) into (b, S, d) search features."""
        layers = torch.stack(fused_layers, dim=1)  # (b, N, S, d)
        b, n, s, d = layers.shape
        if b > 1:  # the predicted order is per sample (eq. 10): scan each sample with its own order
            return torch.cat([self.forward([f[i : i + 1] for f in fused_layers]) for i in range(b)], dim=0)
        order, scores = self.layer_order(layers)
        # Straight-through scaling: values unchanged, but the order predictor receives gradients.
        weight = torch.softmax(scores, dim=1)
        layers = layers * (1.0 + weight - weight.detach())[:, :, None, None]
        tokens = layers.reshape(b, n * s, d)
        device = tokens.device
        idx = torch.arange(n * s, device=device).view(n, s)
        forward_order = idx.reshape(-1)
        backward_order = idx.flip(0).reshape(-1)
        dynamic_order = idx[order].reshape(-1)
        weights = torch.softmax(self.gate(tokens), dim=-1)
        y, _ = self.mamba(
            self.norm(tokens),
            orders=[forward_order, backward_order, dynamic_order],
            direction_weights=weights,
        )
        y = (tokens + y).view(b, n, s, d).sum(dim=1)
        return self.out_norm(y)


class PromptGenerator(nn.Module):
    """Mamba-FETrack V2 prompt generator: a shared prompt pool routed per token by Gumbel-softmax.

    pool_m = P_shared * E_m (element-wise, modality-specific basis); routing O_m = GumbelSoftmax(MLP(x_m));
    prompt P_m = O_m pool_m, shaped as the SSM's C so it can be added to the counterpart's C (C' = C + P).
    Routing is soft with Gumbel noise while training and hard (argmax, deterministic) at inference.
    """

    def __init__(self, cfg: ModelConfig, modalities: tuple[str, ...] = MODALITIES) -> None:
        """Create the shared pool, one basis and one router per modality."""
        super().__init__()
        self.ngroups, self.d_state, self.tau = cfg.ngroups, cfg.d_state, cfg.gumbel_tau
        width = cfg.ngroups * cfg.d_state
        self.shared_pool = nn.Parameter(torch.randn(cfg.prompt_pool_size, width) * 0.02)
        self.basis = nn.ParameterDict(
            {m: nn.Parameter(torch.ones(cfg.prompt_pool_size, width)) for m in modalities}
        )
        self.router = nn.ModuleDict(
            {
                m: nn.Sequential(
                    nn.LayerNorm(cfg.d_model),
                    nn.Linear(cfg.d_model, cfg.d_model // 2),
                    nn.GELU(),
                    nn.Linear(cfg.d_model // 2, cfg.prompt_pool_size),
                )
                for m in modalities
            }
        )

    def forward(self, tokens: torch.Tensor, modality: str) -> torch.Tensor:
        """Return per-token prompts (b, l, ngroups, d_state) generated from one modality's tokens."""
        logits = F.log_softmax(self.router[modality](tokens), dim=-1)
        if self.training:
            routing = F.gumbel_softmax(logits, tau=self.tau, hard=False, dim=-1)
        else:
            routing = F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(tokens.dtype)
        pool = self.shared_pool * self.basis[modality]
        prompts = routing @ pool
        return prompts.view(*tokens.shape[:2], self.ngroups, self.d_state)
