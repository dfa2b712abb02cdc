"""Colour-histogram appearance check of candidate boxes against the target (a re-ranking term, no network).

The network's score map tells the target's *class* apart from the background well but confuses look-alikes
of the same class (another pedestrian, another car): a same-class distractor can outscore the target. Classic
trackers (CSRT's colour channels, DAT, Staple) guard against that with the target's colour distribution.
Here a normalised RGB histogram of the target's inner box (the central ``inner`` fraction of each side, so
that little background enters) is kept as an EWMA over confident frames, and the tracker multiplies each
candidate's ranking value by ``exp(-weight * (1 - BC))``, where ``BC`` is the Bhattacharyya coefficient
between the candidate's histogram and the target's (1 = same distribution, 0 = disjoint).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mamba_tracking_ros.tracking.geometry import Box


def colour_histogram(
    rgb: np.ndarray, box: Sequence[float], bins: int = 8, inner: float = 0.7, max_pixels: int = 4096
) -> np.ndarray | None:
    """Normalised ``bins**3`` RGB histogram of the box's central ``inner`` part (None when it is empty).

    ``rgb``: ``(H, W, 3)`` uint8; ``box``: ``(x, y, w, h)`` in pixels. Large boxes are subsampled on a regular
    grid to at most about ``max_pixels`` pixels.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb: expected an (H, W, 3) image, got shape {rgb.shape}")
    height, width = rgb.shape[:2]
    x, y, w, h = (float(v) for v in box)
    margin_x, margin_y = 0.5 * (1.0 - inner) * w, 0.5 * (1.0 - inner) * h
    x0, y0 = max(int(round(x + margin_x)), 0), max(int(round(y + margin_y)), 0)
    x1, y1 = min(int(round(x + w - margin_x)), width), min(int(round(y + h - margin_y)), height)
    if x1 <= x0 or y1 <= y0:
        return None
    step = max(int(np.sqrt((x1 - x0) * (y1 - y0) / max_pixels)), 1)
    patch = rgb[y0:y1:step, x0:x1:step].reshape(-1, 3)
    q = (patch.astype(np.int64) * bins) // 256
    index = (q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]
    hist = np.bincount(index, minlength=bins**3).astype(np.float64)
    return hist / hist.sum()


def bhattacharyya(p: np.ndarray, q: np.ndarray) -> float:
    """Bhattacharyya coefficient ``sum(sqrt(p * q))`` of two normalised histograms, in [0, 1]."""
    return float(np.sqrt(p * q).sum())


class AppearanceModel:
    """The target's colour histogram (EWMA over confident frames) and the candidates' similarity to it."""

    def __init__(self, bins: int = 8, update_rate: float = 0.05) -> None:
        """``bins`` per RGB channel; ``update_rate``: EWMA weight of a confident frame's histogram."""
        if not 0.0 <= update_rate <= 1.0:
            raise ValueError(f"update_rate: must be in [0, 1], got {update_rate}")
        self.bins = int(bins)
        self.update_rate = float(update_rate)
        self._hist: np.ndarray | None = None

    @property
    def ready(self) -> bool:
        """Whether a target histogram exists (set from a box, or from the first confident frame)."""
        return self._hist is not None

    def reset(self) -> None:
        """Forget the target's histogram."""
        self._hist = None

    def set(self, rgb: np.ndarray, box: Box) -> None:
        """Start the target histogram from ``box`` (ignored when the box holds no pixel)."""
        self._hist = colour_histogram(rgb, box, self.bins)

    def update(self, rgb: np.ndarray, box: Box) -> None:
        """Blend a confident frame's histogram into the target's (or start it when there is none)."""
        hist = colour_histogram(rgb, box, self.bins)
        if hist is None:
            return
        if self._hist is None:
            self._hist = hist
        else:
            self._hist = (1.0 - self.update_rate) * self._hist + self.update_rate * hist

    def similarity(self, rgb: np.ndarray, boxes_xywh: Sequence[Sequence[float]]) -> np.ndarray:
        """Bhattacharyya coefficient of each box's histogram with the target's (1 where either is missing)."""
        out = np.ones(len(boxes_xywh), dtype=np.float64)
        if self._hist is None:
            return out
        for i, box in enumerate(boxes_xywh):
            hist = colour_histogram(rgb, box, self.bins)
            if hist is not None:
                out[i] = bhattacharyya(hist, self._hist)
        return out
