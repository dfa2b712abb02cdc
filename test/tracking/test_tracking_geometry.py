"""Box maths and crop/resize of the runtime tracker, checked against direct numpy computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mamba_tracking_ros.tracking.geometry import (
    CropWindow,
    box_iou,
    cell_boxes,
    clip_box,
    crop_and_resize,
    full_frame_window,
    hanning_window,
    inside_fraction,
    square_window,
    validate_box,
    xywh_to_xyxy,
    xyxy_to_xywh,
)


def triangle_weights(in_size: int, out_size: int) -> np.ndarray:
    """(out, in) resampling matrix of an antialiased bilinear (triangle) filter, written out loop by loop."""
    scale = in_size / out_size
    support = scale if scale >= 1.0 else 1.0
    stretch = scale if scale >= 1.0 else 1.0
    weights = np.zeros((out_size, in_size))
    for i in range(out_size):
        centre = scale * (i + 0.5)  # output pixel centre in input coordinates
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), in_size)
        for j in range(lo, hi):
            weights[i, j] = max(0.0, 1.0 - abs((j + 0.5 - centre) / stretch))
        weights[i] /= weights[i].sum()
    return weights


def reference_crop(image: np.ndarray, window: CropWindow, pad: np.ndarray) -> np.ndarray:
    """Pad-and-cut the window pixel by pixel, then resample with the triangle filter -> (C, S, S) float64."""
    img = image.astype(np.float64)
    if img.ndim == 2:
        img = img[:, :, None]
    h, w, c = img.shape
    out = np.empty((window.side, window.side, c))
    for r in range(window.side):
        for q in range(window.side):
            y, x = window.y0 + r, window.x0 + q
            out[r, q] = img[y, x] if (0 <= y < h and 0 <= x < w) else pad
    wts = triangle_weights(window.side, window.out_size)
    return np.stack([wts @ out[:, :, k] @ wts.T for k in range(c)])


@pytest.mark.parametrize(
    "window",
    [
        CropWindow(3, 5, 37, 16),  # inside, non-integer downscale
        CropWindow(-7, -4, 30, 12),  # top-left outside (padding)
        CropWindow(20, 10, 30, 8),  # bottom-right outside
        CropWindow(8, 6, 10, 16),  # upscale
        CropWindow(2, 3, 16, 16),  # same size: a plain cut
    ],
)
def test_crop_resize_matches_numpy_float_path(window: CropWindow) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 4000, size=(33, 41), dtype=np.uint16)
    scale, offset, pad = 1.0 / 4000.0, -0.1, 0.37
    got = crop_and_resize(image, window, pad_value=pad, scale=scale, offset=offset)
    assert got.shape == (1, 1, window.out_size, window.out_size) and got.dtype == torch.float32
    want = reference_crop(image.astype(np.float64) * scale + offset, window, np.array([pad]))
    np.testing.assert_allclose(got[0].numpy(), want, atol=2e-5)


@pytest.mark.parametrize(
    "window", [CropWindow(-9, 4, 40, 16), CropWindow(5, 5, 24, 24), CropWindow(30, -10, 21, 32)]
)
def test_crop_resize_matches_numpy_uint8_rgb(window: CropWindow) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(30, 45, 3), dtype=np.uint8)
    pad = np.array([10.0, 128.0, 250.0])
    got = crop_and_resize(image, window, pad_value=pad)
    assert got.shape == (1, 3, window.out_size, window.out_size)
    want = reference_crop(image, window, pad)
    # uint8 path: fixed-point weights and integer rounding -> at most one grey level off
    assert np.abs(got[0].numpy() - want).max() <= 1.0 + 1e-6


def test_window_outside_image_is_constant_padding() -> None:
    image = np.full((10, 10, 3), 200, dtype=np.uint8)
    got = crop_and_resize(image, CropWindow(50, 50, 20, 8), pad_value=(1.0, 2.0, 3.0))
    for k, value in enumerate((1.0, 2.0, 3.0)):
        assert torch.all(got[0, k] == value)


def test_crop_then_map_back_recovers_a_bright_square() -> None:
    image = np.zeros((120, 160, 3), dtype=np.uint8)
    image[40:60, 90:110] = 255  # square [90, 110) x [40, 60)
    window = square_window(95.0, 55.0, 64.0, 32)
    crop = crop_and_resize(image, window)[0, 0].numpy()
    ys, xs = np.nonzero(crop > 127)
    in_crop = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)
    back = window.crop_to_image(in_crop)
    np.testing.assert_allclose(back, [90, 40, 110, 60], atol=window.scale)


def test_box_iou_by_hand() -> None:
    a = np.array([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 4.0, 4.0]])
    b = np.array([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0], [5.0, 5.0, 6.0, 6.0], [1.0, 1.0, 2.0, 2.0]])
    iou = box_iou(a, b)
    want = np.array([[1.0 / 7.0, 1.0, 0.0, 0.25], [4.0 / 16.0, 4.0 / 16.0, 0.0, 1.0 / 16.0]])
    np.testing.assert_allclose(iou, want)
    assert box_iou(np.array([[0, 0, 0, 5.0]]), np.array([[0, 0, 0, 5.0]]))[0, 0] == 0.0  # degenerate: no NaN


def test_box_form_conversions_round_trip() -> None:
    xywh = np.array([[3.0, 4.0, 10.0, 20.0], [-1.0, 2.5, 0.5, 7.0]])
    np.testing.assert_allclose(xywh_to_xyxy(xywh), [[3, 4, 13, 24], [-1, 2.5, -0.5, 9.5]])
    np.testing.assert_allclose(xyxy_to_xywh(xywh_to_xyxy(xywh)), xywh)


def test_crop_image_mapping_by_hand_and_round_trip() -> None:
    window = CropWindow(10, -5, 64, 32)  # 2 image pixels per crop pixel
    np.testing.assert_allclose(window.crop_to_image(np.array([0.0, 0.0, 32.0, 32.0])), [10, -5, 74, 59])
    np.testing.assert_allclose(window.crop_to_image(np.array([4.0, 8.0, 6.0, 9.0])), [18, 11, 22, 13])
    boxes = np.random.default_rng(2).uniform(-50, 200, size=(20, 4))
    np.testing.assert_allclose(window.image_to_crop(window.crop_to_image(boxes)), boxes, atol=1e-9)
    assert window.as_xywh() == (10, -5, 64, 64)


def test_square_and_full_frame_windows() -> None:
    w = square_window(50.3, 20.0, 31.6, 16)
    assert (w.side, w.x0, w.y0) == (32, 34, 4)  # nearest whole-pixel window centred on (50, 20)
    g = full_frame_window(640, 480, 192)
    assert (g.x0, g.y0, g.side, g.out_size) == (0, -80, 640, 192)
    g2 = full_frame_window(100, 300, 64)
    assert (g2.x0, g2.y0, g2.side) == (-100, 0, 300)
    with pytest.raises(ValueError, match="side"):
        square_window(0.0, 0.0, -1.0, 16)


def test_clip_box_by_hand() -> None:
    assert clip_box((-10, -5, 30, 20), 100, 50) == (0.0, 0.0, 20.0, 15.0)
    assert clip_box((90, 40, 30, 20), 100, 50) == (90.0, 40.0, 10.0, 10.0)
    # fully outside on the right: collapsed to min_size inside the border
    assert clip_box((150, 10, 5, 5), 100, 50, min_size=4.0) == (96.0, 10.0, 4.0, 5.0)
    assert clip_box((10, 10, 0.5, 0.5), 100, 50, min_size=2.0) == (9.25, 9.25, 2.0, 2.0)


def test_validate_box_names_box() -> None:
    assert validate_box([1, 2, 3, 4], 10, 10) == (1.0, 2.0, 3.0, 4.0)
    for bad in ([1, 2, 0, 4], [1, 2, 3], [20, 2, 3, 4], [-5, -5, 4, 4], [1, float("nan"), 3, 4], "abcd"):
        with pytest.raises(ValueError, match="^box"):
            validate_box(bad, 10, 10)


def test_cell_boxes_decode_by_hand() -> None:
    offset = np.zeros((2, 3, 4))
    size = np.zeros((2, 3, 4))
    offset[:, 1, 2] = (0.5, 0.25)  # cell row 1, column 2
    size[:, 1, 2] = (0.25, 0.5)
    boxes, centres = cell_boxes(offset, size, stride=16, crop_size=64)
    k = 1 * 4 + 2
    np.testing.assert_allclose(centres[k], [(2 + 0.5) * 16, (1 + 0.25) * 16])
    np.testing.assert_allclose(boxes[k], [40 - 8, 20 - 16, 40 + 8, 20 + 16])
    np.testing.assert_allclose(centres[0], [0.0, 0.0])


def test_hanning_window_peaks_in_the_middle() -> None:
    win = hanning_window(5, 7)
    assert win.shape == (5, 7)
    assert win[2, 3] == pytest.approx(1.0) and win.min() > 0.0
    assert np.unravel_index(np.argmax(win), win.shape) == (2, 3)


def test_crop_does_not_modify_a_float_source() -> None:
    image = np.random.default_rng(5).uniform(0.0, 10.0, size=(20, 20)).astype(np.float32)
    before = image.copy()
    got = crop_and_resize(image, CropWindow(0, 0, 20, 10), scale=0.1, offset=-0.5, clamp=(0.0, 0.3))
    np.testing.assert_array_equal(image, before)
    assert float(got.max()) <= 0.3 and float(got.min()) >= 0.0


def test_inside_fraction_by_hand() -> None:
    """Share inside a 100x50 image: a box wholly in, half across the left edge, a quarter at a corner, out."""
    boxes = np.array([[10, 10, 30, 30], [-10, 0, 10, 20], [90, 40, 110, 60], [200, 0, 220, 10]], dtype=float)
    assert inside_fraction(boxes, 100, 50) == pytest.approx([1.0, 0.5, 0.25, 0.0])
