"""Box maths and square crop/resize with constant padding for the runtime tracker (torch, no per-pixel loops).

Conventions: a *box* is ``(x, y, w, h)`` in pixels (top-left corner, width, height); arrays of boxes use
the corner form ``(x1, y1, x2, y2)`` (suffix ``xyxy``). Pixel ``i`` covers ``[i, i + 1)``, so an image of
width ``W`` spans ``[0, W)`` and a crop window maps crop coordinate ``u`` to image ``x0 + u * side / S``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from mamba_tracking_ros.frame import EventWindow
from mamba_tracking_ros.model.event_representation import events_to_voxel_grid, events_to_voxel_grid_torch

Box = tuple[float, float, float, float]


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """Convert ``(..., 4)`` boxes from ``(x, y, w, h)`` to corner form ``(x1, y1, x2, y2)``."""
    b = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([b[..., :2], b[..., :2] + b[..., 2:4]], axis=-1)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """Convert ``(..., 4)`` boxes from corner form ``(x1, y1, x2, y2)`` to ``(x, y, w, h)``."""
    b = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([b[..., :2], b[..., 2:4] - b[..., :2]], axis=-1)


def box_iou(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` corner boxes -> ``(N, M)`` (0 where the union is empty)."""
    a = np.asarray(a_xyxy, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_xyxy, dtype=np.float64).reshape(-1, 4)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0.0, None) * np.clip(a[:, 3] - a[:, 1], 0.0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0.0, None) * np.clip(b[:, 3] - b[:, 1], 0.0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0.0, inter / np.where(union > 0.0, union, 1.0), 0.0)


def validate_box(box: Sequence[float], width: int, height: int, name: str = "box") -> Box:
    """Check a user box ``(x, y, w, h)``: finite, positive size, overlapping the image; else ValueError."""
    try:
        values = [float(v) for v in box]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected four numbers (x, y, w, h), got {box!r}") from exc
    if len(values) != 4:
        raise ValueError(f"{name}: expected four numbers (x, y, w, h), got {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name}: values must be finite, got {values}")
    x, y, w, h = values
    if w <= 0.0 or h <= 0.0:
        raise ValueError(f"{name}: width and height must be positive, got w={w}, h={h}")
    if x >= width or y >= height or x + w <= 0.0 or y + h <= 0.0:
        raise ValueError(f"{name}: {values} lies outside the {width}x{height} image")
    return (x, y, w, h)


def clip_box(box: Sequence[float], width: int, height: int, min_size: float = 1.0) -> Box:
    """Clip an ``(x, y, w, h)`` box to the image ``[0, width) x [0, height)``, keeping ``min_size`` px."""
    x, y, w, h = (float(v) for v in box)
    min_w = min(float(min_size), float(width))
    min_h = min(float(min_size), float(height))
    x1, x2 = min(max(x, 0.0), width), min(max(x + w, 0.0), width)
    y1, y2 = min(max(y, 0.0), height), min(max(y + h, 0.0), height)
    if x2 - x1 < min_w:  # grow around the clipped centre, then shift back inside
        cx = 0.5 * (x1 + x2)
        x1 = min(max(cx - 0.5 * min_w, 0.0), width - min_w)
        x2 = x1 + min_w
    if y2 - y1 < min_h:
        cy = 0.5 * (y1 + y2)
        y1 = min(max(cy - 0.5 * min_h, 0.0), height - min_h)
        y2 = y1 + min_h
    return (x1, y1, x2 - x1, y2 - y1)


@dataclass(frozen=True)
class CropWindow:
    """A square window ``[x0, x0 + side) x [y0, y0 + side)`` (integer pixels) resized to ``out_size``."""

    x0: int
    y0: int
    side: int
    out_size: int

    @property
    def scale(self) -> float:
        """Image pixels per crop pixel (``side / out_size``)."""
        return self.side / self.out_size

    def crop_to_image(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """Map ``(..., 4)`` corner boxes from crop pixels to image pixels."""
        b = np.asarray(boxes_xyxy, dtype=np.float64)
        offset = np.array([self.x0, self.y0, self.x0, self.y0], dtype=np.float64)
        return b * self.scale + offset

    def image_to_crop(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """Map ``(..., 4)`` corner boxes from image pixels to crop pixels (inverse of ``crop_to_image``)."""
        b = np.asarray(boxes_xyxy, dtype=np.float64)
        offset = np.array([self.x0, self.y0, self.x0, self.y0], dtype=np.float64)
        return (b - offset) / self.scale

    def as_xywh(self) -> tuple[int, int, int, int]:
        """The window as an ``(x0, y0, side, side)`` tuple (the ``crop`` argument of the event voxeliser)."""
        return (self.x0, self.y0, self.side, self.side)


def square_window(cx: float, cy: float, side: float, out_size: int) -> CropWindow:
    """A square window of (rounded) ``side`` pixels centred on ``(cx, cy)``, snapped to whole pixels."""
    if not (math.isfinite(cx) and math.isfinite(cy) and math.isfinite(side)) or side <= 0.0:
        raise ValueError(f"side: window needs a finite centre and a positive side, got ({cx}, {cy}, {side})")
    s = max(int(round(side)), 1)
    return CropWindow(
        int(math.floor(cx - 0.5 * s + 0.5)), int(math.floor(cy - 0.5 * s + 0.5)), s, int(out_size)
    )


def full_frame_window(width: int, height: int, out_size: int) -> CropWindow:
    """The whole ``width x height`` frame padded (centred) to a square: MVLM global relocalisation."""
    side = max(int(width), int(height))
    return CropWindow(-((side - int(width)) // 2), -((side - int(height)) // 2), side, int(out_size))


def _numpy_to_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor sharing ``array``'s memory; read-only arrays (e.g. memory-mapped frames) are copied first."""
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def _constant_canvas(pads: np.ndarray, side: int, device: torch.device | str) -> torch.Tensor:
    """A ``(1, C, side, side)`` float32 canvas of per-channel constants (filled on the device: no upload)."""
    channels = int(pads.shape[0])
    if torch.device(device).type == "cpu":
        pad_t = torch.as_tensor(pads, dtype=torch.float32).view(1, channels, 1, 1)
        return pad_t.expand(1, channels, side, side).clone()
    canvas = torch.empty((1, channels, side, side), dtype=torch.float32, device=device)
    for c in range(channels):  # fill_ with a Python scalar: a kernel launch, no host-to-device copy (sync)
        canvas[:, c].fill_(float(pads[c]))
    return canvas


def crop_and_resize(
    image: np.ndarray | torch.Tensor,
    window: CropWindow,
    pad_value: float | Sequence[float] = 0.0,
    device: torch.device | str = "cpu",
    scale: float = 1.0,
    offset: float = 0.0,
    clamp: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Cut ``window`` out of an HxW / HxWxC image, pad outside with ``pad_value``, resize -> ``(1, C, S, S)``.

    Resizing is antialiased bilinear (``F.interpolate(antialias=True)``, the PIL triangle filter). A uint8
    numpy image with ``scale == 1`` and ``offset == 0`` takes torch's fast uint8 channels-last path (padding
    colour and output rounded to integers, then float32); anything else is converted to float first as
    ``value * scale + offset`` (optionally clamped to ``clamp``), so ``pad_value`` is in converted units.
    Only the part of the window inside the image is converted; the result is float32 on ``device``.
    """
    arr = image
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"image: expected HxW or HxWxC, got shape {tuple(image.shape)}")
    height, width, channels = (int(v) for v in arr.shape)
    x0, y0, side, size = window.x0, window.y0, window.side, window.out_size
    ix0, iy0 = max(x0, 0), max(y0, 0)
    ix1, iy1 = min(x0 + side, width), min(y0 + side, height)
    pads = np.broadcast_to(np.asarray(pad_value, dtype=np.float64), (channels,)).copy()
    inside = ix1 > ix0 and iy1 > iy0
    padded = (ix0 - x0, iy0 - y0, x0 + side - ix1, y0 + side - iy1) != (0, 0, 0, 0)
    if not inside:  # window entirely outside the image: constant crop
        return _constant_canvas(pads, size, device)
    fast_u8 = isinstance(arr, np.ndarray) and arr.dtype == np.uint8 and scale == 1.0 and offset == 0.0
    if fast_u8:
        if padded:  # copy the inside, fill only the four border strips
            colour = np.clip(np.rint(pads), 0, 255).astype(np.uint8)
            row = np.ascontiguousarray(np.broadcast_to(colour, (side, channels)))  # whole-row copies are fast
            top, left, bottom, right = iy0 - y0, ix0 - x0, iy1 - y0, ix1 - x0
            buf = np.empty((side, side, channels), dtype=np.uint8)
            buf[top:bottom, left:right] = arr[iy0:iy1, ix0:ix1]
            buf[:top] = row
            buf[bottom:] = row
            buf[top:bottom, :left] = row[:left]
            buf[top:bottom, right:] = row[right:]
        else:
            buf = np.ascontiguousarray(arr[iy0:iy1, ix0:ix1])
        t = _numpy_to_tensor(buf).to(device).permute(2, 0, 1).unsqueeze(0)  # channels-last uint8
        if side != size:
            t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return t.to(torch.float32).contiguous()
    region = arr[iy0:iy1, ix0:ix1]
    t = region if isinstance(region, torch.Tensor) else _numpy_to_tensor(np.ascontiguousarray(region))
    source_is_float = t.dtype == torch.float32
    t = t.to(device=device).permute(2, 0, 1).unsqueeze(0).to(torch.float32)
    if (scale != 1.0 or offset != 0.0 or clamp is not None) and source_is_float:
        t = t.clone()  # the in-place ops below must not touch the caller's tensor
    if scale != 1.0 or offset != 0.0:
        t.mul_(scale).add_(offset)
    if clamp is not None:
        t.clamp_(float(clamp[0]), float(clamp[1]))
    if padded:  # one constant canvas, the inside copied in
        canvas = _constant_canvas(pads, side, device)
        canvas[:, :, iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = t
        t = canvas
    if side != size:
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return t.contiguous()


def cell_boxes(
    offset: np.ndarray, size: np.ndarray, stride: float, crop_size: float
) -> tuple[np.ndarray, np.ndarray]:
    """Decode each grid cell to a crop-pixel box: centre ``(cell + offset) * stride``, size ``size * S``.

    ``offset`` and ``size`` are ``(2, Hs, Ws)`` maps (channel 0 = x / width, channel 1 = y / height). Returns
    ``(boxes_xyxy (Hs*Ws, 4), centres (Hs*Ws, 2))`` in row-major cell order.
    """
    _, hs, ws = offset.shape
    rows, cols = np.meshgrid(np.arange(hs, dtype=np.float64), np.arange(ws, dtype=np.float64), indexing="ij")
    cx = (cols + offset[0]) * stride
    cy = (rows + offset[1]) * stride
    w = np.clip(size[0], 0.0, None) * crop_size
    h = np.clip(size[1], 0.0, None) * crop_size
    boxes = np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=-1).reshape(-1, 4)
    return boxes, np.stack([cx, cy], axis=-1).reshape(-1, 2)


def inside_fraction(boxes_xyxy: np.ndarray, width: float, height: float) -> np.ndarray:
    """Share of each ``(N, 4)`` corner box's area that lies inside a ``width x height`` image, in [0, 1]."""
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    area = np.clip(b[:, 2] - b[:, 0], 1e-6, None) * np.clip(b[:, 3] - b[:, 1], 1e-6, None)
    inside_w = np.clip(np.minimum(b[:, 2], width) - np.maximum(b[:, 0], 0.0), 0.0, None)
    inside_h = np.clip(np.minimum(b[:, 3], height) - np.maximum(b[:, 1], 0.0), 0.0, None)
    return np.clip(inside_w * inside_h / area, 0.0, 1.0)


def size_change_penalty(boxes_xyxy: np.ndarray, last_wh: tuple[float, float], k: float) -> np.ndarray:
    """SiamRPN's scale / aspect-ratio change penalty per box: ``exp(-k * (max(r, 1/r) * max(s, 1/s) - 1))``.

    ``s`` is the change of the padded size ``sqrt((w + p) * (h + p))`` (``p = (w + h) / 2``) and ``r`` the
    change of the aspect ratio ``w / h``, both against ``last_wh`` (same units as the boxes). 1 for no change,
    towards 0 for a box that suddenly grows, shrinks or changes shape.
    """
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    w = np.clip(b[:, 2] - b[:, 0], 1e-6, None)
    h = np.clip(b[:, 3] - b[:, 1], 1e-6, None)
    lw, lh = max(float(last_wh[0]), 1e-6), max(float(last_wh[1]), 1e-6)

    def padded(width: np.ndarray | float, height: np.ndarray | float) -> np.ndarray:
        pad = 0.5 * (width + height)
        return np.sqrt((width + pad) * (height + pad))

    s = padded(w, h) / padded(lw, lh)
    r = (w / h) / (lw / lh)
    change = np.maximum(r, 1.0 / r) * np.maximum(s, 1.0 / s)
    return np.exp(-float(k) * (change - 1.0))


def hanning_window(hs: int, ws: int) -> np.ndarray:
    """Outer product of Hann windows (peak 1 at the centre), the cosine prior applied in local search only."""
    return np.outer(np.hanning(hs + 2)[1:-1], np.hanning(ws + 2)[1:-1])


def crop_event_voxels(events: EventWindow, window: CropWindow, num_bins: int) -> np.ndarray:
    """Voxelise the events that fall in ``window`` onto its ``out_size`` grid: ``(num_bins, S, S)`` float32.

    The voxeliser's time window is half-open ``[t0, t1)``; it is widened to include the last event.
    """
    t0, t1 = _event_time_window(events)
    return events_to_voxel_grid(
        events.x,
        events.y,
        events.t,
        events.p,
        t0,
        t1,
        crop=window.as_xywh(),
        out_size=(window.out_size, window.out_size),
        num_bins=num_bins,
    )


@dataclass(frozen=True)
class DeviceEventWindow:
    """An EventWindow uploaded once per frame to the tracker's device, plus its (host-side) time window."""

    x: torch.Tensor
    y: torch.Tensor
    t: torch.Tensor
    p: torch.Tensor
    t_start: int
    t_end: int  # exclusive; already widened to include the last event

    @classmethod
    def from_window(
        cls, events: EventWindow, upload: Callable[[str, np.ndarray], torch.Tensor]
    ) -> DeviceEventWindow:
        """Upload an EventWindow's fields with ``upload(key, array)`` (host-side dtype fix-ups first)."""
        t0, t1 = _event_time_window(events)
        xy_dtype = np.float64 if events.x.dtype.kind == "f" or events.y.dtype.kind == "f" else np.int32
        t = events.t.astype(np.int64, copy=False)
        p = events.p if events.p.dtype in (np.bool_, np.int8) else events.p.astype(np.int8)
        return cls(
            upload("events.x", events.x.astype(xy_dtype, copy=False)),
            upload("events.y", events.y.astype(xy_dtype, copy=False)),
            upload("events.t", t),
            upload("events.p", p),
            t0,
            t1,
        )


def _event_time_window(events: EventWindow) -> tuple[int, int]:
    """The voxeliser's half-open ``[t0, t1)``: the window's time range widened to include the last event."""
    t0, t1 = events.time_range()
    if len(events):
        t1 = max(t1, int(events.t[-1]) + 1)
    return t0, t1


def crop_event_voxels_device(events: DeviceEventWindow, window: CropWindow, num_bins: int) -> torch.Tensor:
    """:func:`crop_event_voxels` on device-resident events: ``(2 * num_bins, S, S)`` float32, same device."""
    return events_to_voxel_grid_torch(
        events.x,
        events.y,
        events.t,
        events.p,
        events.t_start,
        events.t_end,
        crop=window.as_xywh(),
        out_size=(window.out_size, window.out_size),
        num_bins=num_bins,
    )
