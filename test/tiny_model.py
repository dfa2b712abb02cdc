"""The tiny model config shared by the tests: real layers, small widths (seconds per test on 2 cores)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import torch
import yaml

TINY_MODEL: dict[str, Any] = {
    "name": "tiny",
    "d_model": 64,
    "n_layers": 2,
    "d_state": 8,
    "headdim": 16,
    "search_size": 64,
    "template_size": 32,
    "global_search_size": 96,
    "stem": "patch",
    "stem_pretrained": False,
    "event_bins": 2,
    "text_max_tokens": 8,
    "prompt_pool_size": 4,
    "ofm_hidden": 16,
    "head_channels": 16,
}


def write_tiny_yaml(path: Path, **overrides: Any) -> Path:
    """Write the tiny model (``overrides`` replace fields) as a config YAML for the CLI and the nodes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"model": {**TINY_MODEL, **overrides}}), encoding="utf-8")
    return path


#: Every non-empty subset of the three modalities (the network and tracker accept any of them).
SUBSETS: list[tuple[str, ...]] = [
    c for r in (1, 2, 3) for c in itertools.combinations(("rgb", "thermal", "events"), r)
]


def make_inputs(cfg: Any, modalities: tuple[str, ...], size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Deterministic random crops (RGB 0..255, thermal 0..1, non-negative event voxels) of one spatial size
    for ``cfg`` (a ModelConfig) and the given modalities."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    if "rgb" in modalities:
        out["rgb"] = torch.rand(1, 3, size, size, generator=g) * 255
    if "thermal" in modalities:
        out["thermal"] = torch.rand(1, 1, size, size, generator=g)
    if "events" in modalities:
        out["events"] = torch.randn(1, cfg.event_channels, size, size, generator=g).clamp(min=0)
    return out
