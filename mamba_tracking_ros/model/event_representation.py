"""Dense event-camera representations computed directly in the coordinates of a square tracking crop (numpy).

Events are four equally long 1-D arrays: ``x`` (pixel column), ``y`` (pixel row), ``t`` (timestamps in any
unit: microseconds, nanoseconds or seconds, as long as ``t_start`` / ``t_end`` use the same unit; only
ratios of time differences are used) and ``p`` (polarity: ON where ``p > 0``, OFF otherwise; 1/0, 1/-1 and
bool all work). ``t`` must be non-decreasing (checked cheaply; the time window is then cut out with a
binary search).

Crop geometry: ``crop = (x0, y0, w, h)`` in image pixels (may extend outside the image, may be fractional).
Pixel ``(x, y)`` has its centre at ``(x + 0.5, y + 0.5)``; it falls in output cell
``col = floor((x + 0.5 - x0) * W_out / w)``, ``row = floor((y + 0.5 - y0) * H_out / h)`` and is ignored
unless ``0 <= col < W_out`` and ``0 <= row < H_out``. ``out_size = (H_out, W_out)`` (rows, cols), or an int
for a square. Each event lands in exactly one cell (nearest-cell splatting, no spatial interpolation), so
when the crop is smaller than the output (up-sampling) some cells stay empty.

Normalisation (``normalize=True``): the whole representation is divided by the median of its non-zero
cells, so a typical occupied cell is about 1, zero stays zero, a few hot pixels do not change the scale,
and the result does not depend on the overall event rate (duplicating every event gives the same output).
An all-zero representation stays all zero. ``normalize=False`` returns the raw (interpolated) counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Crop = tuple[float, float, float, float]


def event_channels(num_bins: int) -> int:
    """Channels of the polarity-separated voxel grid with ``num_bins`` time bins: 2 * num_bins."""
    if int(num_bins) != num_bins or num_bins < 1:
        raise ValueError(f"num_bins must be a positive integer, got {num_bins!r}")
    return 2 * int(num_bins)


def _as_event_array(name: str, value: Any, n: int | None) -> np.ndarray:
    """One event field as a 1-D numeric array, checked for length and NaN/inf (error names the field)."""
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} events but x has {n}")
    if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer):
        return arr
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.size and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def validate_events(x: Any, y: Any, t: Any, p: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check an event batch (equal lengths, finite, non-decreasing t) and return it as numpy arrays."""
    xa = _as_event_array("x", x, None)
    n = xa.shape[0]
    ya = _as_event_array("y", y, n)
    ta = _as_event_array("t", t, n)
    pa = _as_event_array("p", p, n)
    if ta.dtype == np.bool_:
        raise ValueError("t must hold timestamps, got a boolean array")
    if n > 1 and bool((ta[1:] < ta[:-1]).any()):
        raise ValueError("t must be non-decreasing (events sorted by time)")
    return xa, ya, ta, pa


def _check_crop(crop: Sequence[float]) -> Crop:
    """Validate ``crop = (x0, y0, w, h)``: four finite numbers with positive width and height."""
    try:
        x0, y0, w, h = (float(c) for c in crop)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"crop must be (x0, y0, w, h), got {crop!r}") from exc
    if not all(np.isfinite(v) for v in (x0, y0, w, h)):
        raise ValueError(f"crop must be finite, got {crop!r}")
    if w <= 0 or h <= 0:
        raise ValueError(f"crop width and height must be positive, got {crop!r}")
    return x0, y0, w, h


def _check_out_size(out_size: int | Sequence[int]) -> tuple[int, int]:
    """Validate ``out_size``: an int (square) or (rows, cols) of positive integers."""
    if isinstance(out_size, (int, np.integer)):
        out_size = (int(out_size), int(out_size))
    try:
        rows, cols = out_size
    except (TypeError, ValueError) as exc:
        raise ValueError(f"out_size must be an int or (rows, cols), got {out_size!r}") from exc
    if int(rows) != rows or int(cols) != cols or rows < 1 or cols < 1:
        raise ValueError(f"out_size must hold positive integers, got {out_size!r}")
    return int(rows), int(cols)


def _time_slice(t: np.ndarray, t_start: float | None, t_end: float | None) -> slice:
    """Index range of the events with t_start <= t < t_end (t sorted), found by binary search."""
    if t_start is not None and t_end is not None and not t_end > t_start:
        raise ValueError(f"t_end must be greater than t_start, got t_start={t_start!r}, t_end={t_end!r}")
    i0 = 0 if t_start is None else int(np.searchsorted(t, t_start, side="left"))
    i1 = t.shape[0] if t_end is None else int(np.searchsorted(t, t_end, side="left"))
    return slice(i0, max(i0, i1))


def _cells(
    x: np.ndarray, y: np.ndarray, crop: Crop, rows: int, cols: int
) -> tuple[np.ndarray, np.ndarray | slice]:
    """Flat output cell (row * cols + col, int64) of the events inside the crop, and which events they are."""
    x0, y0, w, h = crop
    ax, ay = cols / w, rows / h
    u = np.multiply(x, ax, dtype=np.float64)
    u += (0.5 - x0) * ax
    v = np.multiply(y, ay, dtype=np.float64)
    v += (0.5 - y0) * ay
    inside = u >= 0.0
    inside &= u < cols
    inside &= v >= 0.0
    inside &= v < rows
    keep: np.ndarray | slice = np.flatnonzero(inside)
    if keep.size == inside.size:
        keep = slice(0, inside.size)  # all inside: slicing avoids copying every field through a gather
    # Truncation equals floor for the kept (non-negative) coordinates.
    cell = v[keep].astype(np.int64)
    cell *= cols
    cell += u[keep].astype(np.int64)
    return cell, keep


def _normalize(grid: np.ndarray) -> np.ndarray:
    """Divide by the median of the non-zero cells (zero stays zero; all-zero stays all-zero)."""
    nonzero = grid[grid != 0]
    if nonzero.size:
        grid /= np.median(nonzero)
    return grid


def _relative_time(t: np.ndarray, t_start: float) -> np.ndarray:
    """t - t_start as float64, subtracting in integers first so large nanosecond stamps keep precision."""
    if np.issubdtype(t.dtype, np.integer):
        if t.dtype.kind == "u":
            t = t.astype(np.int64)  # uint64 - int64 would silently go through float64
        origin = int(t_start) if float(t_start).is_integer() else int(np.floor(t_start))
        rel = (t - np.int64(origin)).astype(np.float64)
        frac = t_start - origin
        if frac:
            rel -= frac
        return rel
    return t.astype(np.float64) - float(t_start)


def events_to_voxel_grid(
    x: Any,
    y: Any,
    t: Any,
    p: Any,
    t_start: float,
    t_end: float,
    crop: Sequence[float],
    out_size: int | Sequence[int],
    num_bins: int = 3,
    normalize: bool = True,
) -> np.ndarray:
    """Polarity-separated, time-binned event voxel grid of one crop, float32 (2 * num_bins, H_out, W_out).

    Voxel grid of Zhu et al. (Unsupervised event-based learning of optical flow, CVPR 2019), split by
    polarity: an event at time t in the window [t_start, t_end) has normalised time
    tau = (B - 1)(t - t_start) / (t_end - t_start) and adds max(0, 1 - |tau - b|) to bin b (its unit weight is
    shared linearly between the two nearest bins). Channels 0..B-1 hold ON events, B..2B-1 OFF events. Events
    outside the crop or the window are ignored. See the module docstring for the crop mapping and the
    normalisation.
    """
    xa, ya, ta, pa = validate_events(x, y, t, p)
    bins = event_channels(num_bins) // 2
    box = _check_crop(crop)
    rows, cols = _check_out_size(out_size)
    if t_start is None or t_end is None:
        raise ValueError("t_start and t_end are required for the voxel grid")
    window = _time_slice(ta, t_start, t_end)
    area = rows * cols
    size = 2 * bins * area
    cell, keep = _cells(xa[window], ya[window], box, rows, cols)
    if cell.size == 0:
        return np.zeros((2 * bins, rows, cols), dtype=np.float32)
    ta, pa = ta[window][keep], pa[window][keep]
    off = pa <= 0  # OFF events go to the second half of the channels
    if bins == 1:
        cell += off * area
        grid = np.bincount(cell, minlength=size).astype(np.float64)
    else:
        tau = _relative_time(ta, t_start)
        tau *= (bins - 1) / float(t_end - t_start)  # exact for integer stamps
        lower = tau.astype(np.int64)
        np.minimum(lower, bins - 2, out=lower)  # tau == B - 1 (rounding) puts all weight on the last bin
        tau -= lower  # now the weight of the upper bin
        cell += lower * area
        cell += off * (bins * area)
        grid = np.bincount(cell, weights=1.0 - tau, minlength=size)
        cell += area
        grid += np.bincount(cell, weights=tau, minlength=size)
    if normalize:
        _normalize(grid)
    return grid.astype(np.float32).reshape(2 * bins, rows, cols)


def events_to_histogram(
    x: Any,
    y: Any,
    t: Any,
    p: Any,
    crop: Sequence[float],
    out_size: int | Sequence[int],
    t_start: float | None = None,
    t_end: float | None = None,
    normalize: bool = True,
) -> np.ndarray:
    """Per-polarity event counts of one crop, float32 (2, H_out, W_out): channel 0 ON, channel 1 OFF.

    The event-frame representation (two-channel count image, Maqueda et al., CVPR 2018). All events are
    used unless ``t_start`` / ``t_end`` restrict them to [t_start, t_end). Same crop mapping and
    normalisation as the voxel grid.
    """
    xa, ya, ta, pa = validate_events(x, y, t, p)
    box = _check_crop(crop)
    rows, cols = _check_out_size(out_size)
    window = _time_slice(ta, t_start, t_end)
    area = rows * cols
    cell, keep = _cells(xa[window], ya[window], box, rows, cols)
    cell += (pa[window][keep] <= 0) * area
    grid = np.bincount(cell, minlength=2 * area).astype(np.float64)
    if normalize:
        _normalize(grid)
    return grid.astype(np.float32).reshape(2, rows, cols)


def events_to_voxel_grid_torch(
    x: Any,
    y: Any,
    t: Any,
    p: Any,
    t_start: float,
    t_end: float,
    crop: Sequence[float],
    out_size: int | Sequence[int],
    num_bins: int = 3,
    normalize: bool = True,
) -> Any:
    """:func:`events_to_voxel_grid` on torch tensors, on their device, without a host-device sync.

    Same voxel grid (Zhu et al., CVPR 2019, split by polarity), crop mapping and median normalisation, in
    float64 like the numpy version; returns a float32 ``(2 * num_bins, H_out, W_out)`` tensor on the events'
    device. Instead of cutting the time window and the crop out (a data-dependent size, i.e. a sync on
    CUDA), every event is scattered with ``index_add_`` and the ones outside get weight 0; the median of
    the non-zero cells comes from a sort (the grid is non-negative, so the non-zero cells are its top k).
    ``t`` must be sorted like the numpy version expects (not re-checked here: that would need a sync).
    """
    import torch

    for name, value in (("x", x), ("y", y), ("t", t), ("p", p)):
        if not isinstance(value, torch.Tensor) or value.dim() != 1:
            raise ValueError(f"{name} must be a 1-D torch tensor, got {type(value).__name__}")
    n = x.shape[0]
    for name, value in (("y", y), ("t", t), ("p", p)):
        if value.shape[0] != n:
            raise ValueError(f"{name} has {value.shape[0]} events but x has {n}")
    if t.dtype == torch.bool:
        raise ValueError("t must hold timestamps, got a boolean tensor")
    bins = event_channels(num_bins) // 2
    x0, y0, w, h = _check_crop(crop)
    rows, cols = _check_out_size(out_size)
    if t_start is None or t_end is None:
        raise ValueError("t_start and t_end are required for the voxel grid")
    if not t_end > t_start:
        raise ValueError(f"t_end must be greater than t_start, got t_start={t_start!r}, t_end={t_end!r}")
    device, f64 = x.device, torch.float64
    area = rows * cols
    size = 2 * bins * area
    grid = torch.zeros(size, dtype=f64, device=device)
    if n == 0:
        return grid.to(torch.float32).reshape(2 * bins, rows, cols)
    ax, ay = cols / w, rows / h
    u = x.to(f64) * ax
    u += (0.5 - x0) * ax
    v = y.to(f64) * ay
    v += (0.5 - y0) * ay
    keep = (u >= 0.0) & (u < cols) & (v >= 0.0) & (v < rows)
    integer_t = not (t.dtype.is_floating_point or t.dtype.is_complex)
    if integer_t:  # t >= a <=> t >= ceil(a) and t < b <=> t < ceil(b) for integer t: exact comparisons
        keep &= (t >= int(np.ceil(t_start))) & (t < int(np.ceil(t_end)))
    else:
        keep &= (t >= float(t_start)) & (t < float(t_end))
    # Truncation equals floor for the kept (non-negative) coordinates; the others are parked in cell 0.
    cell = v.clamp(0.0, rows - 1).to(torch.int64) * cols + u.clamp(0.0, cols - 1).to(torch.int64)
    off = (p <= 0).to(torch.int64)  # OFF events go to the second half of the channels
    if bins == 1:
        cell += off * area
        grid.index_add_(0, cell, keep.to(f64))
    else:
        if integer_t:  # as _relative_time: subtract in integers first (large stamps keep precision)
            origin = int(t_start) if float(t_start).is_integer() else int(np.floor(t_start))
            tau = (t.to(torch.int64) - origin).to(f64)
            frac = t_start - origin
            if frac:
                tau -= frac
        else:
            tau = t.to(f64) - float(t_start)
        tau *= (bins - 1) / float(t_end - t_start)
        lower = tau.clamp(0.0, bins - 1).to(torch.int64).clamp_(max=bins - 2)
        tau -= lower  # now the weight of the upper bin
        cell += lower * area
        cell += off * (bins * area)
        zero = torch.zeros((), dtype=f64, device=device)
        grid.index_add_(0, cell, torch.where(keep, 1.0 - tau, zero))
        upper = torch.zeros(size, dtype=f64, device=device)
        upper.index_add_(0, cell + area, torch.where(keep, tau, zero))
        grid += upper  # summed apart like the numpy version's two bincounts (same rounding)
    if normalize:
        ordered = torch.sort(grid).values
        k = (grid != 0).sum()
        lo = (size - k + torch.div(k - 1, 2, rounding_mode="floor")).clamp(0, size - 1)
        hi = (size - k + torch.div(k, 2, rounding_mode="floor")).clamp(0, size - 1)
        median = 0.5 * (ordered[lo] + ordered[hi])
        grid /= torch.where(k > 0, median, torch.ones((), dtype=f64, device=device))
    return grid.to(torch.float32).reshape(2 * bins, rows, cols)
