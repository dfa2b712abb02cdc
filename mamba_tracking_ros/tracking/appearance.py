"""Colour-histogram appearance check of candidate boxes against the target (a re-ranking term, no network).

The network's score map tells the target's *class* apart from the background well but confuses look-alikes
of the same class (another pedestrian, another car): a same-class distractor can outscore the target. Classic
trackers (CSRT's colour channels, DAT, Staple) guard against that with the target's colour distribution.
Here a normalised RGB histogram of the target's inner box (the central ``inner`` fraction of each side, so
that little background enters) is kept as an EWMA over confident frames, and the tracker multiplies each
candidate's ranking value by ``exp(-weight * (1 - BC))``, where ``BC`` is the Bhattacharyya coefficient
between the candidate's histogram and the target's (1 = same distribution, 0 = disjoint).

Colour alone ignores layout: a red checkered target and a plain orange sleeve share a histogram. A second,
optional term compares texture: HOG-like (Dalal & Triggs 2005; CSRT's HOG channels) magnitude-weighted
gradient-orientation histograms over 2x2 cells of the box, resampled to a fixed size and left unnormalised so
that edge energy counts; similarity = histogram intersection over the larger mass, factor
``exp(-texture_weight * (1 - similarity))``. Orientation histograms pooled over cells tolerate the few pixels
of misalignment a candidate box has, where a pixel correlation of a fine texture would not.
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


def gradient_histogram(
    rgb: np.ndarray, box: Sequence[float], cells: int = 2, bins: int = 8, inner: float = 0.8, side: int = 32
) -> np.ndarray | None:
    """Magnitude-weighted unsigned gradient-orientation histograms (``cells x cells x bins``, HOG-like) of
    the box's central ``inner`` part resampled to ``side x side`` grey pixels; None when the box is empty."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb: expected an (H, W, 3) image, got shape {rgb.shape}")
    height, width = rgb.shape[:2]
    x, y, w, h = (float(v) for v in box)
    margin_x, margin_y = 0.5 * (1.0 - inner) * w, 0.5 * (1.0 - inner) * h
    x0, y0 = max(x + margin_x, 0.0), max(y + margin_y, 0.0)
    x1, y1 = min(x + w - margin_x, float(width)), min(y + h - margin_y, float(height))
    if x1 - x0 < 1.0 or y1 - y0 < 1.0:
        return None
    cols = np.clip((x0 + (np.arange(side) + 0.5) * (x1 - x0) / side).astype(np.int64), 0, width - 1)
    rows = np.clip((y0 + (np.arange(side) + 0.5) * (y1 - y0) / side).astype(np.int64), 0, height - 1)
    grey = rgb[rows[:, None], cols[None, :]].astype(np.float32).mean(axis=2) / 255.0
    gx = grey[1:-1, 2:] - grey[1:-1, :-2]
    gy = grey[2:, 1:-1] - grey[:-2, 1:-1]
    magnitude = np.hypot(gx, gy)
    angle = np.mod(np.arctan2(gy, gx), np.pi)  # unsigned: a dark-light edge equals a light-dark one
    orient = np.minimum((angle * bins / np.pi).astype(np.int64), bins - 1)
    n = side - 2
    cell = np.minimum(np.arange(n) * cells // n, cells - 1)
    index = (cell[:, None] * cells + cell[None, :]) * bins + orient
    hist = np.bincount(index.ravel(), weights=magnitude.ravel(), minlength=cells * cells * bins)
    return hist / (n * n)


def intersection(p: np.ndarray, q: np.ndarray) -> float:
    """Histogram intersection over the larger total mass, in [0, 1] (1: equal histograms, or both empty)."""
    mass = max(float(p.sum()), float(q.sum()))
    return 1.0 if mass <= 1e-12 else float(np.minimum(p, q).sum() / mass)


def bhattacharyya(p: np.ndarray, q: np.ndarray) -> float:
    """Bhattacharyya coefficient ``sum(sqrt(p * q))`` of two normalised histograms, in [0, 1]."""
    return float(np.sqrt(p * q).sum())


class AppearanceModel:
    """The target's colour (and texture) histograms, EWMA over confident frames; candidates' similarity."""

    def __init__(self, bins: int = 8, update_rate: float = 0.05, texture: bool = False) -> None:
        """``bins`` per RGB channel; ``update_rate``: EWMA weight of a confident frame's histograms;
        ``texture``: also keep the gradient-orientation histogram (see :func:`texture_similarity`)."""
        if not 0.0 <= update_rate <= 1.0:
            raise ValueError(f"update_rate: must be in [0, 1], got {update_rate}")
        self.bins = int(bins)
        self.update_rate = float(update_rate)
        self.texture = bool(texture)
        self._hist: np.ndarray | None = None
        self._grad: np.ndarray | None = None

    @property
    def ready(self) -> bool:
        """Whether a target histogram exists (set from a box, or from the first confident frame)."""
        return self._hist is not None

    def reset(self) -> None:
        """Forget the target's histograms."""
        self._hist = None
        self._grad = None

    def set(self, rgb: np.ndarray, box: Box) -> None:
        """Start the target histograms from ``box`` (ignored when the box holds no pixel)."""
        self._hist = colour_histogram(rgb, box, self.bins)
        self._grad = gradient_histogram(rgb, box) if self.texture else None

    def update(self, rgb: np.ndarray, box: Box) -> None:
        """Blend a confident frame's histograms into the target's (or start them when there are none)."""
        self._hist = self._blend(self._hist, colour_histogram(rgb, box, self.bins))
        if self.texture:
            self._grad = self._blend(self._grad, gradient_histogram(rgb, box))

    def _blend(self, old: np.ndarray | None, new: np.ndarray | None) -> np.ndarray | None:
        """EWMA step ``(1 - rate) * old + rate * new``; ``new`` starts it, a missing ``new`` keeps ``old``."""
        if new is None or old is None:
            return old if new is None else new
        return (1.0 - self.update_rate) * old + self.update_rate * new

    def texture_similarity(self, rgb: np.ndarray, boxes_xywh: Sequence[Sequence[float]]) -> np.ndarray:
        """Histogram intersection of each box's gradient histogram with the target's (1 where missing)."""
        out = np.ones(len(boxes_xywh), dtype=np.float64)
        if self._grad is None:
            return out
        for i, box in enumerate(boxes_xywh):
            grad = gradient_histogram(rgb, box)
            if grad is not None:
                out[i] = intersection(grad, self._grad)
        return out

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
