"""Plain data types exchanged between the network (`model/`) and the runtime tracker (`tracking/`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from mamba_tracking_ros.constants import MODALITIES

__all__ = ["MODALITIES", "NetOutput", "TextFeatures", "TrackMemory"]


@dataclass
class TextFeatures:
    """A sentence encoded once on arrival: projected tokens for the backbone and a unit embedding (MVLM u)."""

    sentence: str
    tokens: torch.Tensor  # (1, Lt, d_model) language tokens placed in front of the visual tokens
    embedding: torch.Tensor  # (1, d_model) unit-norm sentence embedding for the vision-language correlation


@dataclass
class TrackMemory:
    """Per-track SSM state memory (MambaVLT): final states of every layer, per modality stream and direction.

    ``states[(name, modality)]`` is a ``(b, n_directions, heads, headdim, d_state)`` tensor, where ``name``
    identifies the block (for example ``"backbone.3"`` or ``"dfm.1"``). Each tracker owns its memory; the
    network never keeps per-track state itself, so several trackers can share one network.
    """

    states: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict)

    def get(self, name: str, modality: str) -> torch.Tensor | None:
        """Return the carried final state for one block and modality, or None on the first frame."""
        return self.states.get((name, modality))

    def clone(self) -> TrackMemory:
        """Return a detached copy (so a caller can roll back or fork a track)."""
        return TrackMemory({k: v.detach().clone() for k, v in self.states.items()})


@dataclass
class NetOutput:
    """What one forward pass returns: maps over the search token grid (Hs x Ws), batch b (1 when tracking)."""

    score_logits: torch.Tensor  # (b, 1, Hs, Ws) centre classification logits
    offset: torch.Tensor  # (b, 2, Hs, Ws) sub-cell centre offset in [0, 1] cells
    size: torch.Tensor  # (b, 2, Hs, Ws) box width, height as a fraction of the search crop side, in [0, 1]
    correlation: torch.Tensor | None  # (b, 1, Hs, Ws) cosine with the sentence (MVLM), or None
    search_tokens: torch.Tensor  # (b, Hs*Ws, d_model) fused search features
    modalities: tuple[str, ...]  # modalities that actually went through the network this frame
