"""The embedded default sequence: a camera pan over a real scikit-image photograph, with exact ground truth.

RGB is real (skimage's ``astronaut`` still); the camera pans along a known path, so the target box (the
astronaut's face) moves by exactly the pan offset. Thermal and events are SIMULATED here (no thermal or event
recording of this scene exists): thermal is 16-bit counts from a warm-target + ambient model with sensor
noise, events are log-intensity threshold crossings between consecutive frames with timestamps spread over
the frame interval. The dataset-grade generators and simulators belong to ``mamba_tracking_ros.data`` proper.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import skimage.data

from ..tracking.frame import EventWindow, Frame

TARGET_IN_STILL = (190.0, 50.0, 110.0, 120.0)  # (x, y, w, h) of the astronaut's face in the 512x512 still
SENTENCE = "the astronaut's face"
RETARGET_SENTENCE = "the american flag"


@dataclass(frozen=True)
class DemoFrame:
    """One frame of the demo: the multimodal input and its exact ground-truth box."""

    frame: Frame
    box: tuple[float, float, float, float]


def pan_offsets(n_frames: int, max_x: int, max_y: int) -> np.ndarray:
    """Integer (x, y) top-left offsets of the view along a smooth back-and-forth pan within [0, max]."""
    phase = np.linspace(0.0, 2.0 * np.pi, n_frames, endpoint=False)
    x = np.round(max_x * (0.5 - 0.5 * np.cos(phase))).astype(int)
    y = np.round(max_y * (0.5 - 0.5 * np.cos(0.5 * phase))).astype(int)
    return np.stack([x, y], axis=1)


def simulate_thermal(
    gray: np.ndarray, target: tuple[float, float, float, float], rng: np.random.Generator
) -> np.ndarray:
    """16-bit radiometric-like counts: ambient scene from luminance, a warm target, shot noise and offsets."""
    h, w = gray.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y, bw, bh = target
    warm = np.exp(-(((xx - (x + bw / 2)) / (0.45 * bw)) ** 2 + ((yy - (y + bh / 2)) / (0.45 * bh)) ** 2))
    counts = 7000.0 + 8.0 * gray + 3500.0 * warm + rng.normal(0.0, 25.0, gray.shape)
    counts += 40.0 * np.sin(xx / 37.0)  # fixed-pattern column non-uniformity
    return np.clip(counts, 0, 65535).astype(np.uint16)


def simulate_events(
    prev_gray: np.ndarray,
    gray: np.ndarray,
    t0_us: int,
    dt_us: int,
    rng: np.random.Generator,
    threshold: float = 0.15,
) -> EventWindow:
    """Log-intensity contrast crossings between two frames; one event per crossing, times in [t0, t0+dt)."""
    diff = np.log1p(gray.astype(np.float32)) - np.log1p(prev_gray.astype(np.float32))
    counts = np.floor(np.abs(diff) / threshold).astype(np.int64)
    ys, xs = np.nonzero(counts)
    reps = counts[ys, xs]
    xs, ys = np.repeat(xs, reps), np.repeat(ys, reps)
    polarity = np.repeat(diff[np.nonzero(counts)] > 0, reps).astype(np.int8)
    t = t0_us + rng.integers(0, dt_us, size=xs.size)
    order = np.argsort(t, kind="stable")
    return EventWindow(
        x=xs[order].astype(np.uint16),
        y=ys[order].astype(np.uint16),
        t=t[order].astype(np.int64),
        p=polarity[order],
        t_start=t0_us,
        t_end=t0_us + dt_us,
    )


def demo_sequence(
    n_frames: int = 40, view: tuple[int, int] = (360, 400), fps: float = 30.0, seed: int = 0
) -> Iterator[DemoFrame]:
    """Yield the embedded default sequence: real RGB pan, simulated thermal and events, exact boxes."""
    if n_frames < 2:
        raise ValueError("n_frames must be at least 2")
    rng = np.random.default_rng(seed)
    still = skimage.data.astronaut()
    x, y, w, h = TARGET_IN_STILL
    # Pan as far as the still allows while the target stays wholly in view (exact, fully visible boxes).
    max_x = int(min(still.shape[1] - view[1], x))
    max_y = int(min(still.shape[0] - view[0], y))
    if x + w > view[1] or y + h > view[0]:
        raise ValueError("view: too small to hold the target")
    offsets = pan_offsets(n_frames, max_x, max_y)
    dt_us = int(round(1e6 / fps))
    prev_gray = None
    for i, (ox, oy) in enumerate(offsets):
        rgb = np.ascontiguousarray(still[oy : oy + view[0], ox : ox + view[1]])
        gray = rgb.astype(np.float32).mean(axis=2)
        box = (x - float(ox), y - float(oy), w, h)
        thermal = simulate_thermal(gray, box, rng)
        events = None if prev_gray is None else simulate_events(prev_gray, gray, i * dt_us, dt_us, rng)
        prev_gray = gray
        yield DemoFrame(Frame(rgb=rgb, thermal=thermal, events=events, timestamp=i / fps), box)
