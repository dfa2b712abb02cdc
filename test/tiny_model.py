"""The tiny model config shared by the tests: real layers, small widths (seconds per test on 2 cores)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
