"""Event *images* (frames rendered from events by dataset authors) as pseudo-event windows for the tracker.

FE108, COESOT, FELT and VisEvent ship event images: every pixel that saw events during the frame interval is
painted in a polarity colour on a plain background (typically white or black, positive events red and
negative events blue; grey renderings use bright = ON, dark = OFF). :func:`event_image_to_window` turns one
such image back into an :class:`~mamba_tracking_ros.frame.EventWindow` so the tracker's event
branch (voxel grid) can use it like a raw stream.

Rule:

* background = the image's most common colour (ties: the smallest packed value);
* every pixel whose colour differs from the background by more than ``tolerance`` in some channel is one
  event at that pixel's ``(x, y)``;
* polarity from the colour difference ``d = pixel - background``: colour images are ON (+1) when
  ``d_red > d_blue`` (red-ish) and OFF (-1) when ``d_red < d_blue`` (blue-ish); when those are equal
  (grey or green-ish pixels) and for grey images, ON when the pixel is brighter than the background
  (sum of ``d`` > 0), else OFF;
* timestamps are spread evenly over ``[t_start, t_end)`` (sorted); the pixels are assigned to the time
  slots in a fixed low-discrepancy order (golden-ratio sequence over the row-major pixel index), so every
  time bin of the voxel grid gets an even spatial sample of the image instead of a band of rows.

Limits: an event image has no timing inside the frame (the spread is synthetic), at most one event per pixel
and polarity (counts are lost), a pixel that saw both polarities gets one (its rendered colour decides), and
renderings in other colour conventions (e.g. DV's default blue ON / dark-grey OFF) get polarities by the
rule above, not by their legend. The image must be in the pixel frame of the sequence's reference image.
"""

from __future__ import annotations

import numpy as np

from mamba_tracking_ros.frame import EventWindow

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def _as_channels(image: np.ndarray) -> np.ndarray:
    """The image as HxWxC int64 (C = 1 grey or 3 colour; alpha dropped), or ValueError naming the problem."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"event image: expected a numpy array, got {type(image).__name__}")
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"event image: expected dtype uint8 or uint16, got {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"event image: expected shape (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"event image: empty image of shape {image.shape}")
    return image[:, :, :3].astype(np.int64) if image.shape[2] == 4 else image.astype(np.int64)


def _most_common_colour(channels: np.ndarray) -> np.ndarray:
    """The most common pixel value of an HxWxC int64 image (ties: the smallest packed value)."""
    c = channels.shape[2]
    flat = channels.reshape(-1, c)
    keys = flat[:, 0].copy()
    for k in range(1, c):
        keys = keys * 65536 + flat[:, k]
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    return flat[first[int(np.argmax(counts))]].copy()


def background_colour(image: np.ndarray) -> np.ndarray:
    """The most common colour of an event image: a length-1 (grey) or length-3 (RGB) int64 array."""
    return _most_common_colour(_as_channels(image))


def event_image_to_window(image: np.ndarray, t_start: int, t_end: int, tolerance: int = 0) -> EventWindow:
    """Pseudo-events of one event image over ``[t_start, t_end)`` microseconds (rule: module docstring)."""
    for name, value in (("t_start", t_start), ("t_end", t_end), ("tolerance", tolerance)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"event image: {name} must be an integer, got {value!r}")
    t_start, t_end = int(t_start), int(t_end)
    if t_end < t_start:
        raise ValueError(f"event image: t_end {t_end} is before t_start {t_start}")
    if tolerance < 0:
        raise ValueError(f"event image: tolerance must be >= 0, got {tolerance}")
    channels = _as_channels(image)
    diff = channels - _most_common_colour(channels)
    ys, xs = np.nonzero(np.abs(diff).max(axis=2) > tolerance)
    d = diff[ys, xs]
    brighter = d.sum(axis=1) > 0
    if d.shape[1] == 3:
        hue = d[:, 0] - d[:, 2]
        on = np.where(hue != 0, hue > 0, brighter)
    else:
        on = brighter
    n = len(xs)
    order = np.argsort((np.arange(n) * _GOLDEN) % 1.0, kind="stable")
    span = t_end - t_start
    t = t_start + ((2 * np.arange(n, dtype=np.int64) + 1) * span) // max(2 * n, 1)
    return EventWindow(
        x=xs[order].astype(np.int64),
        y=ys[order].astype(np.int64),
        t=t.astype(np.int64),
        p=np.where(on[order], 1, -1).astype(np.int8),
        t_start=t_start,
        t_end=t_end,
    )
