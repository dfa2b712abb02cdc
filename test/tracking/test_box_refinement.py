"""DSST box refinement (tracking/box_refinement.py): the filters recover known shifts and zooms of a real
photo, and the tracker uses them only where the configuration and the frame allow."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from mamba_tracking_ros.tracking import Frame, Tracker, TrackerConfig
from mamba_tracking_ros.tracking.box_refinement import BoxRefiner, cell_features, grey_image, sample_patch

PHOTO = skimage.data.chelsea()  # 300 x 451 RGB
BOX = (180.0, 90.0, 64.0, 56.0)


def moved(
    rgb: np.ndarray, dx: float, dy: float, zoom: float = 1.0, about: tuple[float, float] = (0, 0)
) -> np.ndarray:
    """``rgb`` with its content zoomed by ``zoom`` about ``about`` and then moved by (dx, dy) pixels."""
    cx, cy = about
    matrix = np.array([[zoom, 0.0, (1 - zoom) * cx + dx], [0.0, zoom, (1 - zoom) * cy + dy]])
    h, w = rgb.shape[:2]
    return cv2.warpAffine(rgb, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def centre(box) -> np.ndarray:
    """(cx, cy) of an (x, y, w, h) box."""
    return np.array([box[0] + 0.5 * box[2], box[1] + 0.5 * box[3]])


def test_sample_patch_and_features_have_the_documented_shapes() -> None:
    """A resampled patch has the asked size; features are (H/4, W/4, 10) per patch, batched alike."""
    grey = grey_image(PHOTO)
    assert (
        grey.dtype == np.float32 and grey.shape == PHOTO.shape[:2] and 0.0 <= grey.min() <= grey.max() <= 1.0
    )
    patch = sample_patch(grey, 200.0, 120.0, 90.0, 60.0, 48, 32)
    assert patch.shape == (32, 48)
    assert cell_features(patch).shape == (8, 12, 10)
    assert cell_features(np.stack([patch, patch])).shape == (2, 8, 12, 10)
    # a patch of the image itself at scale 1 is the image's pixels
    exact = sample_patch(grey, 100.0, 50.0, 20.0, 10.0, 20, 10)
    np.testing.assert_allclose(exact, grey[45:55, 90:110], atol=1e-5)
    with pytest.raises(ValueError, match="rgb"):
        grey_image(PHOTO[:, :, 0])


@pytest.mark.parametrize("dx, dy", [(3.4, -2.2), (-6.0, 4.5), (0.0, 0.0)])
def test_translation_filter_recovers_a_known_shift(dx: float, dy: float) -> None:
    """Learnt on the photo, the filter moves the old box onto the target moved by a sub-pixel amount."""
    refiner = BoxRefiner()
    refiner.start(grey_image(PHOTO), BOX)
    result = refiner.refine(grey_image(moved(PHOTO, dx, dy)), BOX, translate=True, scale=False)
    error = np.linalg.norm(centre(result.box) - (centre(BOX) + (dx, dy)))
    assert error < 0.6, (result, error)
    assert result.scale == 1.0 and result.box[2:] == BOX[2:]


@pytest.mark.parametrize("zoom", [1.08, 0.93])
def test_scale_filter_follows_a_zoom(zoom: float) -> None:
    """The scale filter's factor follows the target's zoom about its centre (steps of 2 %)."""
    refiner = BoxRefiner()
    refiner.start(grey_image(PHOTO), BOX)
    image = moved(PHOTO, 0.0, 0.0, zoom, tuple(centre(BOX)))
    result = refiner.refine(grey_image(image), BOX, translate=False, scale=True)
    assert abs(math.log(result.scale) - math.log(zoom)) <= math.log(1.021), result.scale
    assert math.isnan(result.peak) and result.shift == (0.0, 0.0)


def test_a_peak_beyond_max_shift_leaves_the_centre_alone() -> None:
    """The gate on the filter's move: a 7.5 px shift is taken under a 10 px limit and ignored under a 5 px
    one (centre unchanged, ``moved`` false), so a filter locked on the background cannot drag the box."""
    refiner = BoxRefiner()
    refiner.start(grey_image(PHOTO), BOX)
    grey = grey_image(moved(PHOTO, -6.0, 4.5))
    taken = refiner.refine(grey, BOX, translate=True, scale=False, max_shift=10.0)
    assert taken.moved and np.linalg.norm(np.subtract(taken.shift, (-6.0, 4.5))) < 0.6, taken
    ignored = refiner.refine(grey, BOX, translate=True, scale=False, max_shift=5.0)
    assert not ignored.moved and ignored.shift == (0.0, 0.0) and tuple(ignored.box) == BOX, ignored
    assert ignored.peak == taken.peak


def test_refine_before_start_is_an_error() -> None:
    """A refiner with no target says so instead of returning a made-up box."""
    with pytest.raises(RuntimeError, match="start"):
        BoxRefiner().refine(grey_image(PHOTO), BOX)


def test_refinement_options_are_validated() -> None:
    """The knobs reject bad values with a message naming them."""
    for bad, name in (
        ({"refine_translation": 1}, "refine_translation"),
        ({"refine_scale": 1.5}, "refine_scale"),
        ({"refine_learning_rate": -0.1}, "refine_learning_rate"),
        ({"refine_max_shift": 0.0}, "refine_max_shift"),
        ({"refine_max_shift": float("nan")}, "refine_max_shift"),
    ):
        with pytest.raises(ValueError, match=name):
            TrackerConfig(**bad)


def pan(i: int, size: tuple[int, int] = (160, 240)) -> Frame:
    """Frame i of a pan over the photo: the content moves by (-2.5, -1.5) pixels per frame."""
    h, w = size
    image = moved(PHOTO, -2.5 * i, -1.5 * i)[40 : 40 + h, 60 : 60 + w]
    return Frame(rgb=np.ascontiguousarray(image), timestamp=0.1 * i)


def test_tracker_refines_confident_frames_to_the_pixel(small_net: torch.nn.Module) -> None:
    """With the translation filter on, the tracked centre stays within a pixel of the panned target's, and the
    filter is learnt at start; with refinement off it is never built."""
    box = (90.0, 40.0, 60.0, 52.0)
    errors = []
    tracker = Tracker(model=small_net, tracker_config={"refine_translation": True, "tau": -2.0})
    tracker.start(pan(0), box)
    assert tracker._refiner.ready
    for i in range(1, 8):
        result = tracker.update(pan(i))
        errors.append(np.linalg.norm(centre(result.box) - (centre(box) + (-2.5 * i, -1.5 * i))))
    assert np.mean(errors) < 1.0, errors
    plain = Tracker(model=small_net, tracker_config={"refine_translation": False, "refine_scale": 0.0})
    plain.start(pan(0), box)
    plain.update(pan(1))
    assert not plain._refiner.ready


def test_refiner_is_relearnt_after_a_size_change_and_skipped_without_images(
    small_net: torch.nn.Module,
) -> None:
    """A lasting image-size change drops the filters (their geometry is in old pixels); a thermal-only frame
    refines on the thermal image."""
    tracker = Tracker(model=small_net, tracker_config={"refine_translation": True, "size_change_frames": 1})
    tracker.start(pan(0), (90.0, 40.0, 60.0, 52.0))
    assert tracker._refiner.ready
    tracker.update(pan(1, size=(120, 200)))  # filters of the old size would raise here
    assert tracker.frame_index == 1
    assert not tracker._refiner.ready or tracker._refiner.image_shape == (120, 200)
    for i in range(2, 5):
        tracker.update(pan(i, size=(120, 200)))
    with pytest.raises(ValueError, match="started on"):
        refiner = BoxRefiner()
        refiner.start(grey_image(PHOTO), BOX)
        refiner.update(grey_image(PHOTO[:100]), BOX)
    thermal_tracker = Tracker(model=small_net, tracker_config={"refine_translation": True})
    grey = (grey_image(pan(0).rgb) * 60000).astype(np.uint16)
    thermal_tracker.start(Frame(thermal=grey, timestamp=0.0), (90.0, 40.0, 60.0, 52.0))
    assert thermal_tracker._refiner.ready
