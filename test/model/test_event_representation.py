"""Event voxel grid / histogram in crop coordinates: exact cells and weights, crop mapping, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mamba_tracking_ros.model.event_representation import (
    event_channels,
    events_to_histogram,
    events_to_voxel_grid,
)


def _events(rows: list[tuple[int, int, int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, t, p) arrays from a list of (x, y, t, p) tuples (t sorted by the caller)."""
    arr = np.array(rows, dtype=np.int64).reshape(-1, 4)
    return arr[:, 0].astype(np.uint16), arr[:, 1].astype(np.uint16), arr[:, 2], arr[:, 3].astype(np.int8)


def _reference_voxel_grid(x, y, t, p, t0, t1, crop, size, bins) -> np.ndarray:
    """Event-by-event voxel grid written straight from the definition (slow, for checking)."""
    x0, y0, w, h = crop
    rows, cols = size
    grid = np.zeros((2 * bins, rows, cols))
    for xi, yi, ti, pi in zip(x.tolist(), y.tolist(), t.tolist(), p.tolist()):
        if not t0 <= ti < t1:
            continue
        col = math.floor((xi + 0.5 - x0) * cols / w)
        row = math.floor((yi + 0.5 - y0) * rows / h)
        if not (0 <= col < cols and 0 <= row < rows):
            continue
        base = 0 if pi > 0 else bins
        tau = (bins - 1) * (ti - t0) / (t1 - t0)
        for b in range(bins):
            grid[base + b, row, col] += max(0.0, 1.0 - abs(tau - b))
    return grid


def test_hand_placed_events_land_with_exact_weights() -> None:
    # Crop (10, 20, 8, 8) -> 4 x 4 output: two pixels per cell. 3 bins over [0, 1000): tau = t / 500.
    x, y, t, p = _events(
        [
            (10, 20, 0, 1),  # cell (0, 0), tau 0 -> bin 0 gets 1
            (13, 21, 250, 1),  # cell (0, 1), tau 0.5 -> bins 0 and 1 get 0.5 each
            (17, 27, 600, 0),  # cell (3, 3), OFF, tau 1.2 -> bin 1 gets 0.8, bin 2 gets 0.2
            (14, 25, 999, -1),  # cell (2, 2), OFF, tau 1.998 -> bin 1 gets 0.002, bin 2 gets 0.998
            (14, 25, 999, 1),  # same cell, ON
        ]
    )
    grid = events_to_voxel_grid(
        x, y, t, p, 0, 1000, crop=(10, 20, 8, 8), out_size=(4, 4), num_bins=3, normalize=False
    )
    assert grid.shape == (6, 4, 4) and grid.dtype == np.float32
    expected = np.zeros((6, 4, 4))
    expected[0, 0, 0] = 1.0
    expected[0, 0, 1] = expected[1, 0, 1] = 0.5
    expected[3 + 1, 3, 3], expected[3 + 2, 3, 3] = 0.8, 0.2
    expected[3 + 1, 2, 2], expected[3 + 2, 2, 2] = 0.002, 0.998
    expected[1, 2, 2], expected[2, 2, 2] = 0.002, 0.998
    np.testing.assert_allclose(grid, expected, atol=1e-6)


def test_matches_the_definition_on_random_events() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    x = rng.integers(0, 346, n).astype(np.uint16)
    y = rng.integers(0, 260, n).astype(np.uint16)
    t = np.sort(rng.integers(5_000, 60_000, n))
    p = rng.integers(0, 2, n).astype(bool)
    crop = (-20.5, 100.25, 150.0, 150.0)  # partly outside the sensor, fractional
    args = (10_000, 50_000)
    for bins, size in ((1, (7, 7)), (4, (16, 16)), (5, (32, 24))):
        grid = events_to_voxel_grid(
            x, y, t, p, *args, crop=crop, out_size=size, num_bins=bins, normalize=False
        )
        ref = _reference_voxel_grid(x, y, t, p, *args, crop, size, bins)
        np.testing.assert_allclose(grid, ref, atol=1e-5)
        assert ref.sum() > 100  # the check is not vacuous


def test_crop_centre_lands_in_centre_cell() -> None:
    # Crop centre is 131.5 / 81.5, the centre of pixel (131, 81).
    x, y, t, p = _events([(131, 81, 0, 1)])
    grid = events_to_voxel_grid(
        x, y, t, p, 0, 10, crop=(100, 50, 63, 63), out_size=5, num_bins=2, normalize=False
    )
    assert grid[0, 2, 2] == pytest.approx(1.0)
    assert grid.sum() == pytest.approx(1.0)


def test_crop_offset_and_scale_map_corners() -> None:
    crop = (40, 30, 64, 32)
    # Down-sampling 2x (out 16 x 32): cell = floor((pixel + 0.5 - origin) / 2).
    x, y, t, p = _events([(40, 30, 0, 1), (103, 61, 1, 1), (71, 45, 2, 1), (39, 40, 3, 1), (104, 40, 4, 1)])
    hist = events_to_histogram(x, y, t, p, crop=crop, out_size=(16, 32), normalize=False)
    assert hist.shape == (2, 16, 32)
    assert hist[0, 0, 0] == 1  # first crop pixel -> first cell
    assert hist[0, 15, 31] == 1  # last crop pixel -> last cell
    assert hist[0, 7, 15] == 1  # (71.5 - 40) / 2 = 15.75, (45.5 - 30) / 2 = 7.75
    assert hist.sum() == 3  # pixels 39 and 104 lie just outside
    # Up-sampling 2x (out 64 x 128): the pixel centre x + 0.5 maps to cell 2 * (x + 0.5 - x0).
    hist = events_to_histogram(x, y, t, p, crop=crop, out_size=(64, 128), normalize=False)
    assert hist[0, 1, 1] == 1 and hist[0, 63, 127] == 1 and hist[0, 31, 63] == 1
    assert hist.sum() == 3


def test_outside_crop_or_window_is_ignored() -> None:
    crop = (10, 10, 20, 20)
    x, y, t, p = _events(
        [
            (9, 15, 50, 1),  # left of crop
            (30, 15, 50, 1),  # right edge: pixel 30 centre 30.5 > 30
            (15, 9, 50, 0),  # above
            (15, 30, 50, 0),  # below
            (15, 15, 99, 1),  # before window
            (15, 15, 200, 1),  # at t_end (window is half-open)
            (15, 15, 300, 0),  # after window
        ]
    )
    grid = events_to_voxel_grid(x, y, t, p, 100, 200, crop=crop, out_size=8, num_bins=3, normalize=False)
    assert not grid.any()
    hist = events_to_histogram(x, y, t, p, crop=crop, out_size=8, t_start=100, t_end=200)
    assert not hist.any()
    # Without a window the three in-crop events (t = 99, 200, 300) count.
    assert events_to_histogram(x, y, t, p, crop=crop, out_size=8, normalize=False).sum() == 3


def test_empty_input_gives_zeros() -> None:
    empty = np.array([], dtype=np.int64)
    grid = events_to_voxel_grid(
        empty, empty, empty, empty, 0, 1, crop=(0, 0, 10, 10), out_size=(4, 6), num_bins=2
    )
    assert grid.shape == (4, 4, 6) and grid.dtype == np.float32 and not grid.any()
    hist = events_to_histogram(empty, empty, empty, empty, crop=(0, 0, 10, 10), out_size=4)
    assert hist.shape == (2, 4, 4) and not hist.any()


def test_on_and_off_are_separated() -> None:
    for off_value in (0, -1):
        x, y, t, p = _events([(1, 1, 0, 1), (2, 2, 0, off_value)])
        grid = events_to_voxel_grid(
            x, y, t, p, 0, 10, crop=(0, 0, 4, 4), out_size=4, num_bins=2, normalize=False
        )
        assert grid[:2].sum() == pytest.approx(1.0) and grid[0, 1, 1] == pytest.approx(1.0)
        assert grid[2:].sum() == pytest.approx(1.0) and grid[2, 2, 2] == pytest.approx(1.0)
        hist = events_to_histogram(x, y, t, p, crop=(0, 0, 4, 4), out_size=4, normalize=False)
        assert hist[0, 1, 1] == 1 and hist[1, 2, 2] == 1 and hist.sum() == 2
    x, y, t, _ = _events([(1, 1, 0, 1), (2, 2, 0, 0)])
    hist = events_to_histogram(
        x, y, t, np.array([True, False]), crop=(0, 0, 4, 4), out_size=4, normalize=False
    )
    assert hist[0, 1, 1] == 1 and hist[1, 2, 2] == 1


def test_histogram_equals_voxel_grid_summed_over_time() -> None:
    rng = np.random.default_rng(7)
    n = 5000
    x, y = rng.integers(0, 200, n), rng.integers(0, 100, n)
    t, p = np.sort(rng.integers(0, 1_000_000, n)), rng.choice([-1, 1], n)
    crop, size = (50, 10, 96, 96), (24, 24)
    grid = events_to_voxel_grid(x, y, t, p, 0, 1_000_001, crop, size, num_bins=4, normalize=False)
    hist = events_to_histogram(x, y, t, p, crop, size, normalize=False)
    np.testing.assert_allclose(grid[:4].sum(0), hist[0], atol=1e-4)
    np.testing.assert_allclose(grid[4:].sum(0), hist[1], atol=1e-4)


def test_normalisation_divides_by_median_of_nonzero_and_ignores_rate() -> None:
    rng = np.random.default_rng(11)
    n = 4000
    x, y = rng.integers(0, 64, n), rng.integers(0, 64, n)
    t, p = np.sort(rng.integers(0, 10_000, n)), rng.integers(0, 2, n)
    kw = {"crop": (0, 0, 64, 64), "out_size": 16, "num_bins": 3}
    raw = events_to_voxel_grid(x, y, t, p, 0, 10_000, normalize=False, **kw)
    norm = events_to_voxel_grid(x, y, t, p, 0, 10_000, **kw)
    np.testing.assert_allclose(norm, raw / np.median(raw[raw != 0]), rtol=1e-5)
    assert np.array_equal(norm == 0, raw == 0)
    # Every event twice: raw doubles, normalised is unchanged.
    order = np.argsort(np.concatenate([t, t]), kind="stable")
    dup = [np.concatenate([a, a])[order] for a in (x, y, t, p)]
    np.testing.assert_allclose(events_to_voxel_grid(*dup, 0, 10_000, **kw), norm, rtol=1e-5)
    hist = events_to_histogram(x, y, t, p, crop=(0, 0, 64, 64), out_size=16)
    raw_hist = events_to_histogram(x, y, t, p, crop=(0, 0, 64, 64), out_size=16, normalize=False)
    np.testing.assert_allclose(hist, raw_hist / np.median(raw_hist[raw_hist != 0]), rtol=1e-5)


def test_time_unit_does_not_matter() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    x, y, p = rng.integers(0, 32, n), rng.integers(0, 32, n), rng.integers(0, 2, n)
    t_us = np.sort(rng.integers(0, 33_000, n))
    epoch_ns = 1_700_000_000_000_000_000
    kw = {"crop": (0, 0, 32, 32), "out_size": 8, "num_bins": 5, "normalize": False}
    in_us = events_to_voxel_grid(x, y, t_us, p, 0, 33_000, **kw)
    in_ns = events_to_voxel_grid(x, y, t_us * 1000 + epoch_ns, p, epoch_ns, epoch_ns + 33_000_000, **kw)
    in_s = events_to_voxel_grid(x, y, t_us / 1e6, p, 0.0, 0.033, **kw)
    np.testing.assert_allclose(in_ns, in_us, atol=1e-5)
    np.testing.assert_allclose(in_s, in_us, atol=1e-4)


def test_invalid_input_raises_naming_the_field() -> None:
    x, y, t, p = _events([(1, 1, 0, 1), (2, 2, 5, 0), (3, 3, 9, 1)])
    crop, size = (0, 0, 8, 8), 4
    with pytest.raises(ValueError, match="^y"):
        events_to_voxel_grid(x, y[:2], t, p, 0, 10, crop, size)
    with pytest.raises(ValueError, match="^p"):
        events_to_histogram(x, y, t, p[:1], crop, size)
    with pytest.raises(ValueError, match="^t"):
        events_to_voxel_grid(x, y, np.array([0.0, np.nan, 9.0]), p, 0, 10, crop, size)
    with pytest.raises(ValueError, match="^x"):
        events_to_histogram(np.array([1.0, np.nan, 3.0]), y, t, p, crop, size)
    with pytest.raises(ValueError, match="^t must be non-decreasing"):
        events_to_voxel_grid(x, y, t[::-1].copy(), p, 0, 10, crop, size)
    with pytest.raises(ValueError, match="^t must be non-decreasing"):
        events_to_histogram(x, y, t[::-1].copy(), p, crop, size)
    with pytest.raises(ValueError, match="t_end"):
        events_to_voxel_grid(x, y, t, p, 10, 10, crop, size)
    with pytest.raises(ValueError, match="crop"):
        events_to_voxel_grid(x, y, t, p, 0, 10, (0, 0, 0, 8), size)
    with pytest.raises(ValueError, match="out_size"):
        events_to_voxel_grid(x, y, t, p, 0, 10, crop, (4, 0))
    with pytest.raises(ValueError, match="num_bins"):
        events_to_voxel_grid(x, y, t, p, 0, 10, crop, size, num_bins=0)


def test_event_channels() -> None:
    assert event_channels(1) == 2
    assert event_channels(5) == 10
    with pytest.raises(ValueError, match="num_bins"):
        event_channels(0)
