"""Prediction heads: an OSTrack-style centre head and MVLM's vision-language correlation."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _branch(d_model: int, channels: int, out: int) -> nn.Sequential:
    """Two 3x3 conv + ReLU layers and a 1x1 output conv."""
    return nn.Sequential(
        nn.Conv2d(d_model, channels, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, channels, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, out, 1),
    )


class CenterHead(nn.Module):
    """Centre-based box head (as in OSTrack): a centre score map, a sub-cell offset and a normalised size."""

    def __init__(self, d_model: int, channels: int) -> None:
        """Create the score, offset and size branches; the score bias starts at a 1% prior."""
        super().__init__()
        self.score = _branch(d_model, channels, 1)
        self.offset = _branch(d_model, channels, 2)
        self.size = _branch(d_model, channels, 2)
        nn.init.constant_(self.score[-1].bias, -math.log(99.0))

    def forward(self, tokens: torch.Tensor, grid: tuple[int, int]) -> tuple[torch.Tensor, ...]:
        """Map (b, Hs*Ws, d) search tokens to score logits (b,1,Hs,Ws) and offset, size in [0, 1]."""
        b, n, d = tokens.shape
        fmap = tokens.transpose(1, 2).reshape(b, d, grid[0], grid[1])
        return self.score(fmap), torch.sigmoid(self.offset(fmap)), torch.sigmoid(self.size(fmap))


class VisionLanguageCorrelation(nn.Module):
    """MVLM vision-language correlation: <v_x, u_t> of unit search tokens and the unit sentence embedding.

    The region score of a box b is the average of this map over the tokens inside b (MVLM rho(b)); the
    runtime tracker takes that average, the network returns the per-token map.
    """

    def __init__(self, d_model: int) -> None:
        """Create the projection of search tokens into the sentence-embedding space."""
        super().__init__()
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, tokens: torch.Tensor, sentence: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """Return the cosine correlation map (b, 1, Hs, Ws) of search tokens with a (b, d) unit embedding."""
        v = F.normalize(self.proj(tokens), dim=-1)
        corr = torch.einsum("bnd,bd->bn", v, sentence)
        return corr.view(tokens.shape[0], 1, grid[0], grid[1])
