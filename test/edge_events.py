"""Shared test helper: an event window drawn at a grey image's edges (where a moving camera's events fall)."""

from __future__ import annotations

import numpy as np

from mamba_tracking_ros.frame import EventWindow

WINDOW_US = 33_000  # one 30 Hz frame's window


def edge_events(gray: np.ndarray, i: int, n: int) -> EventWindow:
    """``n`` events of frame ``i``'s window ``[i * 33 ms, (i + 1) * 33 ms)``, at pixels drawn with probability
    proportional to the gradient magnitude of ``gray`` (H, W), random polarity; seeded by ``i``."""
    h, w = gray.shape
    gy, gx = np.gradient(gray)
    weight = np.hypot(gx, gy).ravel() + 1e-3
    rng = np.random.default_rng(i)
    idx = rng.choice(weight.size, size=n, p=weight / weight.sum())
    t0 = i * WINDOW_US
    return EventWindow(
        x=(idx % w).astype(np.uint16),
        y=(idx // w).astype(np.uint16),
        t=np.sort(rng.integers(t0, t0 + WINDOW_US, n)).astype(np.int64),
        p=rng.integers(0, 2, n).astype(np.int8),
        t_start=t0,
        t_end=t0 + WINDOW_US,
    )
