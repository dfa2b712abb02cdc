"""The embedded default sequence: a camera pan over a real scikit-image photograph, with exact ground truth.

RGB is real (skimage's ``astronaut`` still); the camera pans along a known path, so the target box (the
astronaut's face) moves by exactly the pan offset and stays wholly in view. Thermal and events are SIMULATED
(no thermal or event recording of this scene exists): thermal by ``thermal_sim`` (a warm face at 306 K over a
luminance-driven background near ambient, LWIR band radiance, optics blur, fixed-pattern noise, 14-bit counts)
and events by ``event_sim`` (log-intensity threshold crossings with interpolated timestamps, threshold
mismatch, refractory period, background activity).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import skimage.data

from ..frame import Frame
from .event_sim import EventSimulator
from .thermal_sim import ThermalSceneConfig, compose_thermal_scene, simulate_thermal

TARGET_IN_STILL = (190.0, 50.0, 110.0, 120.0)  # (x, y, w, h) of the astronaut's face in the 512x512 still
TARGET_TEMPERATURE_K = 306.0  # skin surface
TARGET_EMISSIVITY = 0.98
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


def target_mask(shape: tuple[int, int], box: tuple[float, float, float, float]) -> np.ndarray:
    """Soft elliptical mask of the target inside its box (a face is not a rectangle)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    x, y, w, h = box
    r2 = ((xx - (x + w / 2)) / (0.45 * w)) ** 2 + ((yy - (y + h / 2)) / (0.48 * h)) ** 2
    return np.clip(1.5 - r2, 0.0, 1.0)


def demo_sequence(
    n_frames: int = 40, view: tuple[int, int] = (360, 400), fps: float = 30.0, seed: int = 0
) -> Iterator[DemoFrame]:
    """Yield the embedded default sequence: real RGB pan, simulated thermal and events, exact boxes."""
    if n_frames < 2:
        raise ValueError("n_frames must be at least 2")
    still = skimage.data.astronaut()
    x, y, w, h = TARGET_IN_STILL
    if x + w > view[1] or y + h > view[0]:
        raise ValueError("view: too small to hold the target")
    # Pan as far as the still allows while the target stays wholly in view (exact, fully visible boxes).
    max_x = int(min(still.shape[1] - view[1], x))
    max_y = int(min(still.shape[0] - view[0], y))
    offsets = pan_offsets(n_frames, max_x, max_y)
    rng = np.random.default_rng(seed)
    thermal_cfg = ThermalSceneConfig(fpn_seed=seed)
    events = EventSimulator(view[0], view[1], seed=seed)
    dt_us = int(round(1e6 / fps))
    for i, (ox, oy) in enumerate(offsets):
        rgb = np.ascontiguousarray(still[oy : oy + view[0], ox : ox + view[1]])
        gray = rgb.astype(np.float64).mean(axis=2)
        box = (x - float(ox), y - float(oy), w, h)
        objects = [(target_mask(gray.shape, box), TARGET_TEMPERATURE_K, TARGET_EMISSIVITY)]
        temperature, emissivity = compose_thermal_scene(gray, objects, thermal_cfg)
        thermal = simulate_thermal(temperature, emissivity, thermal_cfg, rng)
        t_us = i * dt_us
        if i == 0:
            events.reset(gray, t_us)
            window = None
        else:
            window = events.step(gray, t_us).to_window(t_us - dt_us, t_us)
        yield DemoFrame(Frame(rgb=rgb, thermal=thermal, events=window, timestamp=i / fps), box)
