"""Training targets built from a ground-truth box in search-crop pixels (centre heatmap, offset, size, R(b)).

The targets mirror how the runtime tracker decodes the network (``tracking.geometry.cell_boxes``): a cell
``(row, col)`` with offset ``(ox, oy)`` and size ``(sw, sh)`` decodes to the box centred on
``((col + ox) * stride, (row + oy) * stride)`` with width ``sw * S`` and height ``sh * S``, where ``S`` is the
search crop side and ``stride = S / Ws``. Decoding the targets at the centre cell reproduces the box exactly.

A sample counts as *absent* (target out of view) when no box is given or when the box centre lies outside
the crop ``[0, S) x [0, S)``: no cell can decode such a box, so its heatmap is all zeros and it gets no
regression.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

#: IoU that a box displaced by the heatmap radius must still reach with the ground truth (CenterNet's 0.7).
DEFAULT_MIN_OVERLAP = 0.7


@dataclass
class TrackingTargets:
    """Batched targets for one search crop per sample; maps are over the ``Hs x Ws`` search token grid."""

    heatmap: torch.Tensor  # (b, 1, Hs, Ws) gaussian centre heatmap, exactly 1 at the centre cell, 0 if absent
    centre_index: torch.Tensor  # (b,) int64 row-major index of the centre cell (0 where absent)
    offset: torch.Tensor  # (b, 2) sub-cell centre offset (x, y) in [0, 1) cells (0 where absent)
    size: torch.Tensor  # (b, 2) box (w, h) as a fraction of the crop side S (0 where absent)
    box_xyxy: torch.Tensor  # (b, 4) ground-truth corner box in crop pixels (0 where absent)
    inside: torch.Tensor  # (b, 1, Hs, Ws) bool: tokens inside the box, MVLM's R(b) (all False where absent)
    present: torch.Tensor  # (b,) bool: whether the target is in view
    stride: float  # crop pixels per token (S / Ws)
    crop_size: float  # search crop side S in pixels

    @property
    def grid(self) -> tuple[int, int]:
        """The token grid ``(Hs, Ws)``."""
        return int(self.heatmap.shape[-2]), int(self.heatmap.shape[-1])


def gaussian_radius(width: float, height: float, min_overlap: float = DEFAULT_MIN_OVERLAP) -> float:
    """Largest corner displacement r keeping IoU >= ``min_overlap`` with a ``width x height`` box (CenterNet).

    Three displacements are bounded (sizes in any one unit, here grid cells):
    shifted box ``(w-r)(h-r) / (2wh - (w-r)(h-r)) >= o``; shrunk box ``(w-2r)(h-2r) / (wh) >= o``;
    grown box ``wh / ((w+2r)(h+2r)) >= o``. Each is a quadratic in r; the radius is the smallest root.
    """
    if not (0.0 < min_overlap < 1.0):
        raise ValueError(f"min_overlap: must lie in (0, 1), got {min_overlap}")
    w, h, o = float(width), float(height), float(min_overlap)
    s, p = w + h, w * h
    r_shift = 0.5 * (s - math.sqrt(max(s * s - 4.0 * p * (1.0 - o) / (1.0 + o), 0.0)))
    r_shrink = 0.25 * (s - math.sqrt(max(s * s - 4.0 * p * (1.0 - o), 0.0)))
    r_grow = (-o * s + math.sqrt(o * o * s * s + 4.0 * o * (1.0 - o) * p)) / (4.0 * o)
    return max(min(r_shift, r_shrink, r_grow), 0.0)


def heatmap_sigma(width_cells: float, height_cells: float, min_overlap: float = DEFAULT_MIN_OVERLAP) -> float:
    """Gaussian sigma (in cells) for a box of the given size in cells: ``(2 r + 1) / 6`` as in CenterNet."""
    return (2.0 * gaussian_radius(width_cells, height_cells, min_overlap) + 1.0) / 6.0


def _as_box_list(boxes: torch.Tensor | Sequence[Sequence[float] | None]) -> list[tuple[float, ...] | None]:
    """Normalise the ``boxes`` argument to a list of ``(x, y, w, h)`` tuples or None."""
    if isinstance(boxes, torch.Tensor):
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"boxes: expected a (b, 4) tensor of (x, y, w, h), got {tuple(boxes.shape)}")
        return [tuple(float(v) for v in row) for row in boxes.detach().cpu().double()]
    out: list[tuple[float, ...] | None] = []
    for i, box in enumerate(boxes):
        if box is None:
            out.append(None)
            continue
        try:
            values = tuple(float(v) for v in box)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"boxes[{i}]: expected four numbers (x, y, w, h), got {box!r}") from exc
        if len(values) != 4:
            raise ValueError(f"boxes[{i}]: expected four numbers (x, y, w, h), got {len(values)}")
        out.append(values)
    return out


def build_targets(
    boxes: torch.Tensor | Sequence[Sequence[float] | None],
    grid: tuple[int, int],
    crop_size: float,
    present: torch.Tensor | Sequence[bool] | None = None,
    min_overlap: float = DEFAULT_MIN_OVERLAP,
    device: torch.device | str = "cpu",
) -> TrackingTargets:
    """Build the batched training targets from ground-truth ``(x, y, w, h)`` boxes in search-crop pixels.

    ``boxes`` is a ``(b, 4)`` tensor or a sequence whose entries may be None (target absent); ``present``
    optionally marks samples absent as well. The grid must be square (the crop is square), stride ``S / Ws``.
    Heatmap: ``exp(-((i - r)^2 + (j - c)^2) / (2 sigma^2))`` around the centre cell ``(r, c)`` with sigma
    from :func:`heatmap_sigma` of the box size in cells (OSTrack/CenterNet). R(b): cells whose centres lie in
    the box, plus the centre cell, so a box smaller than a cell still has one token.
    """
    hs, ws = (int(v) for v in grid)
    if hs <= 0 or ws <= 0 or hs != ws:
        raise ValueError(f"grid: expected a positive square (Hs, Ws) grid, got {grid}")
    crop = float(crop_size)
    if not math.isfinite(crop) or crop <= 0.0:
        raise ValueError(f"crop_size: must be a positive finite number, got {crop_size}")
    stride = crop / ws
    items = _as_box_list(boxes)
    b = len(items)
    if b == 0:
        raise ValueError("boxes: expected at least one sample")
    if present is not None:
        flags = [bool(v) for v in (present.tolist() if isinstance(present, torch.Tensor) else present)]
        if len(flags) != b:
            raise ValueError(f"present: expected {b} flags, got {len(flags)}")
        items = [box if flag else None for box, flag in zip(items, flags)]

    f64 = torch.float64
    heatmap = torch.zeros(b, 1, hs, ws, dtype=f64)
    inside = torch.zeros(b, 1, hs, ws, dtype=torch.bool)
    centre_index = torch.zeros(b, dtype=torch.int64)
    offset = torch.zeros(b, 2, dtype=f64)
    size = torch.zeros(b, 2, dtype=f64)
    box_xyxy = torch.zeros(b, 4, dtype=f64)
    is_present = torch.zeros(b, dtype=torch.bool)
    rows = torch.arange(hs, dtype=f64).view(hs, 1)
    cols = torch.arange(ws, dtype=f64).view(1, ws)
    for i, box in enumerate(items):
        if box is None:
            continue
        x, y, w, h = box
        if not all(math.isfinite(v) for v in box):
            raise ValueError(f"boxes[{i}]: values must be finite, got {box}")
        if w <= 0.0 or h <= 0.0:
            raise ValueError(f"boxes[{i}]: width and height must be positive, got w={w}, h={h}")
        cx, cy = x + 0.5 * w, y + 0.5 * h
        if not (0.0 <= cx < crop and 0.0 <= cy < crop):
            continue  # centre out of the crop: no cell can decode it, treated as absent
        col = min(int(math.floor(cx / stride)), ws - 1)
        row = min(int(math.floor(cy / stride)), hs - 1)
        is_present[i] = True
        centre_index[i] = row * ws + col
        offset[i, 0], offset[i, 1] = cx / stride - col, cy / stride - row
        size[i, 0], size[i, 1] = w / crop, h / crop
        box_xyxy[i] = torch.tensor([x, y, x + w, y + h], dtype=f64)
        sigma = heatmap_sigma(w / stride, h / stride, min_overlap)
        heatmap[i, 0] = torch.exp(-((rows - row) ** 2 + (cols - col) ** 2) / (2.0 * sigma * sigma))
        centres_x, centres_y = (cols + 0.5) * stride, (rows + 0.5) * stride
        inside[i, 0] = (centres_x >= x) & (centres_x < x + w) & (centres_y >= y) & (centres_y < y + h)
        inside[i, 0, row, col] = True
    f32 = torch.float32
    return TrackingTargets(
        heatmap=heatmap.to(device=device, dtype=f32),
        centre_index=centre_index.to(device),
        offset=offset.to(device=device, dtype=f32),
        size=size.to(device=device, dtype=f32),
        box_xyxy=box_xyxy.to(device=device, dtype=f32),
        inside=inside.to(device),
        present=is_present.to(device),
        stride=stride,
        crop_size=crop,
    )


def decode_at(
    offset: torch.Tensor, size: torch.Tensor, index: torch.Tensor, stride: float, crop_size: float
) -> torch.Tensor:
    """Decode ``(b, 2, Hs, Ws)`` offset/size maps at one cell per sample -> ``(b, 4)`` crop-pixel xyxy boxes.

    Same decoding as ``tracking.geometry.cell_boxes`` (centre ``(cell + offset) * stride``, size ``size * S``)
    but differentiable and without clipping the size, so the size head keeps its gradient.
    """
    if offset.ndim != 4 or offset.shape[1] != 2 or size.shape != offset.shape:
        raise ValueError(
            f"offset/size: expected two (b, 2, Hs, Ws) maps, got {tuple(offset.shape)}, {tuple(size.shape)}"
        )
    b, _, hs, ws = offset.shape
    if index.shape != (b,):
        raise ValueError(f"index: expected shape ({b},), got {tuple(index.shape)}")
    idx = index.to(device=offset.device, dtype=torch.int64).view(b, 1, 1).expand(b, 2, 1)
    off = offset.reshape(b, 2, hs * ws).gather(2, idx).squeeze(2)
    wh = size.reshape(b, 2, hs * ws).gather(2, idx).squeeze(2) * crop_size
    col = (index % ws).to(offset.dtype).to(offset.device)
    row = torch.div(index, ws, rounding_mode="floor").to(offset.dtype).to(offset.device)
    cx = (col + off[:, 0]) * stride
    cy = (row + off[:, 1]) * stride
    return torch.stack(
        [cx - 0.5 * wh[:, 0], cy - 0.5 * wh[:, 1], cx + 0.5 * wh[:, 0], cy + 0.5 * wh[:, 1]], 1
    )
