"""Shared fixtures: small real networks and deterministic inputs."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def single_thread():
    """Run a test of tiny tensors on one thread (many tiny parallel ops stall when the other core is busy)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def tiny_cfg():
    """A real but tiny model config (patch stem, 2 layers) so tests stay fast on 2 cores."""
    from mamba_tracking_ros.model import ModelConfig

    return ModelConfig(
        name="tiny",
        d_model=64,
        n_layers=2,
        d_state=8,
        headdim=16,
        search_size=64,
        template_size=32,
        global_search_size=96,
        stem="patch",
        stem_pretrained=False,
        event_bins=2,
        text_max_tokens=8,
        prompt_pool_size=4,
        ofm_hidden=16,
        head_channels=16,
    )
