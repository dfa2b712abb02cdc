"""Saving and loading tracker checkpoints (a versioned dict: config, weights and provenance)."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import torch

from .config import ModelConfig, load_model_config
from .network import MultimodalMambaTracker

LOG = logging.getLogger(__name__)
CHECKPOINT_FORMAT = "mamba_tracking_ros/checkpoint/1"
#: ``checkpoint="default"``: the weights shipped inside the package for the config's name, if any.
DEFAULT_CHECKPOINT = "default"
#: Where shipped checkpoints live: ``<name>.pt`` beside ``<name>.json`` (training command, seed, data hash).
SHIPPED_CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
#: Spellings of "no checkpoint: random initialisation" on command lines and in node parameters.
RANDOM_INIT_WORDS = ("none", "")


def checkpoint_choice(text: str | os.PathLike[str] | None) -> str | None:
    """A user's checkpoint word -> None (random init: ``none``, ``''``, None), ``"default"`` or a path.

    The one reading of the word every entry point accepts (CLI ``--checkpoint``, the node's ``checkpoint``
    parameter, the launch argument), so "random init" is spelled the same everywhere.
    """
    if text is None:
        return None
    value = str(text).strip()
    return None if value.lower() in RANDOM_INIT_WORDS else value


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable, corrupt or made for another model config."""


def save_checkpoint(
    model: MultimodalMambaTracker,
    path: str | os.PathLike[str],
    meta: dict[str, Any] | None = None,
    half: bool = False,
) -> Path:
    """Write the model's config and weights (optionally in float16) plus provenance `meta` to `path`."""
    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model_config": model.cfg.to_dict(),
        "state_dict": state,
        "meta": dict(meta or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and validate a checkpoint file; raises CheckpointError with the reason when it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated / foreign files
        raise CheckpointError(f"checkpoint {path} is unreadable or corrupt: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a {CHECKPOINT_FORMAT} file")
    for key in ("model_config", "state_dict"):
        if key not in payload:
            raise CheckpointError(f"checkpoint {path} lacks '{key}'")
    return payload


def shipped_checkpoint(name: str) -> Path | None:
    """The checkpoint shipped inside the package for model config ``name`` (e.g. ``small``), or None."""
    path = SHIPPED_CHECKPOINT_DIR / f"{name}.pt"
    return path if path.is_file() else None


def resolve_checkpoint(
    checkpoint: str | os.PathLike[str] | None, cfg: ModelConfig
) -> str | os.PathLike[str] | None:
    """Map ``"default"`` to the shipped checkpoint of ``cfg.name`` (None if none ships); others unchanged."""
    if checkpoint is None or str(checkpoint) != DEFAULT_CHECKPOINT:
        return checkpoint
    path = shipped_checkpoint(cfg.name)
    if path is None:
        LOG.warning("no checkpoint ships for model config %r: the backbone is randomly initialised", cfg.name)
    return path


def build_model(
    config: str | os.PathLike[str] | ModelConfig = "small",
    checkpoint: str | os.PathLike[str] | None = DEFAULT_CHECKPOINT,
    device: str | torch.device = "cpu",
) -> MultimodalMambaTracker:
    """Build the tracker network in eval mode from a config, loading a checkpoint's weights when given.

    ``checkpoint="default"`` loads the weights shipped for the config's name (see :func:`shipped_checkpoint`).
    With ``checkpoint=None`` (or ``default`` where none ships) the backbone is randomly initialised (the image
    stem keeps its ImageNet weights when the config asks for them). A checkpoint made for a different model
    config raises CheckpointError.
    """
    cfg = load_model_config(config)
    checkpoint = resolve_checkpoint(checkpoint, cfg)
    payload = None
    if checkpoint is not None:
        payload = read_checkpoint(checkpoint)
        saved = {"mixer": "mamba", **payload["model_config"]}  # checkpoints from before `mixer` are Mamba
        ignore = {"name", "stem_pretrained", "backend"}
        diff = sorted(k for k, v in cfg.to_dict().items() if k not in ignore and saved.get(k, v) != v)
        if diff:
            details = ", ".join(
                f"{k}: config {getattr(cfg, k)!r} vs checkpoint {saved.get(k)!r}" for k in diff
            )
            raise CheckpointError(f"checkpoint {checkpoint} was made for another model config ({details})")
        cfg = dataclasses.replace(cfg, stem_pretrained=False)
    else:
        LOG.info("no checkpoint given: backbone and heads are randomly initialised")
    model = MultimodalMambaTracker(cfg)
    if payload is not None:
        state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"checkpoint {checkpoint} does not fit the network: {exc}") from exc
    return model.to(device).eval()
