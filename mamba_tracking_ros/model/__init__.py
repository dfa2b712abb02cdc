"""The tracker network (no ROS): stems, Mamba backbone, cross-modal fusion and heads.

Names are imported lazily so that `import mamba_tracking_ros.model.<submodule>` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MODALITIES": "types",
    "NetOutput": "types",
    "TextFeatures": "types",
    "TrackMemory": "types",
    "ModelConfig": "config",
    "load_config_file": "config",
    "load_model_config": "config",
    "resolve_config_path": "config",
    "MultimodalMambaTracker": "network",
    "CheckpointError": "checkpoint",
    "build_model": "checkpoint",
    "read_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "shipped_checkpoint": "checkpoint",
    "DEFAULT_CHECKPOINT": "checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import an exported name from its submodule on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
