"""Classical OpenCV single-object trackers (CSRT, KCF, MIL) as evaluation baselines, box init on one image.

* CSRT: Lukezic et al., "Discriminative Correlation Filter with Channel and Spatial Reliability", CVPR 2017.
* KCF: Henriques et al., "High-Speed Tracking with Kernelized Correlation Filters", TPAMI 2015.
* MIL: Babenko et al., "Visual Tracking with Online Multiple Instance Learning", CVPR 2009.

They come from ``opencv-contrib-python-headless`` (``cv2.TrackerCSRT.create`` ...). They take one
HxWx3 uint8 image per frame and an initial box; they cannot be started from a sentence and do not read events.
They run on the RGB frames, or on the thermal frames shown as grey (:func:`thermal_as_grey_rgb`), so that
thermal fusion can be compared with a classical tracker on thermal alone. A frame where OpenCV reports failure
(``ok == False``, a degenerate or non-finite box, or an exception) keeps the last box and is counted in
:attr:`OpenCVTracker.lost_frames`; an initialisation that raises is counted in
:attr:`OpenCVTracker.init_failed` and the initial box is then reported on every frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

BASELINES: tuple[str, ...] = ("csrt", "kcf", "mil")
#: The single modality a baseline can read, each as one image per frame.
BASELINE_MODALITIES: tuple[str, ...] = ("rgb", "thermal")


def _factories() -> dict[str, Callable[[], object]]:
    """Name -> constructor of the OpenCV tracker (imports cv2 lazily: it is only needed for baselines)."""
    import cv2

    return {
        "csrt": cv2.TrackerCSRT.create,
        "kcf": cv2.TrackerKCF.create,
        "mil": cv2.TrackerMIL.create,
    }


def _to_bgr(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> contiguous BGR, as OpenCV expects."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape = getattr(rgb, "shape", None)
        raise ValueError(f"image: the OpenCV baselines need an HxWx3 uint8 image, got {shape}")
    return np.ascontiguousarray(rgb[:, :, ::-1])


def thermal_as_grey_rgb(thermal: np.ndarray, percentiles: tuple[float, float] = (1.0, 99.0)) -> np.ndarray:
    """A thermal frame as HxWx3 uint8 grey for the baselines: uint8 as is; uint16 / float32 stretched between
    the frame's ``percentiles`` (1st / 99th: the tracker's own thermal normalisation, frame.py)."""
    th = np.asarray(thermal)
    if th.ndim == 3 and th.shape[2] == 1:
        th = th[:, :, 0]
    if th.ndim != 2 or th.dtype not in (np.uint8, np.uint16, np.float32):
        raise ValueError(
            f"thermal: the baselines need an HxW uint8 / uint16 / float32 image, got {th.dtype} {th.shape}"
        )
    if th.dtype == np.uint8:
        grey = th
    else:
        if th.dtype == np.float32 and not np.isfinite(th).all():
            raise ValueError("thermal: contains NaN or infinite values")
        lo, hi = np.percentile(th, percentiles)
        scaled = (th.astype(np.float32) - np.float32(lo)) / np.float32(max(float(hi - lo), 1e-6))
        grey = (np.clip(scaled, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))


def _check_box(box: Sequence[float]) -> tuple[float, float, float, float]:
    """A finite (x, y, w, h) box with positive size, else ValueError."""
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"box: expected (x, y, w, h), got {box!r}") from exc
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise ValueError(f"box: needs finite values and positive width/height, got {box!r}")
    return x, y, w, h


class OpenCVTracker:
    """One OpenCV baseline track (CSRT / KCF / MIL): init on an image (RGB, or thermal as grey) with a box,
    then update."""

    def __init__(self, name: str) -> None:
        """Pick the baseline by name (one of ``BASELINES``)."""
        if name not in BASELINES:
            raise ValueError(f"tracker: unknown OpenCV baseline {name!r}; expected one of {list(BASELINES)}")
        self.name = name
        self._tracker: object | None = None
        self._box: tuple[float, float, float, float] | None = None
        self.init_failed = False
        self.lost_frames = 0
        self.last_error: str | None = None

    def init(self, rgb: np.ndarray, box: Sequence[float]) -> tuple[float, float, float, float]:
        """Start on ``rgb`` (HxWx3 uint8) at ``box`` (x, y, w, h); returns the box reported for frame 0."""
        import cv2

        x, y, w, h = _check_box(box)
        self._box = (x, y, w, h)
        self.init_failed, self.lost_frames, self.last_error = False, 0, None
        self._tracker = _factories()[self.name]()
        # OpenCV's Rect is integer: round to the nearest pixel and keep at least 1 px of width / height.
        rect = (int(round(x)), int(round(y)), max(1, int(round(w))), max(1, int(round(h))))
        try:
            self._tracker.init(_to_bgr(rgb), rect)
        except cv2.error as exc:
            self._tracker = None
            self.init_failed = True
            self.last_error = "init failed: " + " ".join(str(exc).split())
        return self._box

    def update(self, rgb: np.ndarray) -> tuple[tuple[float, float, float, float], bool]:
        """Track into the next RGB frame: ``(box, ok)``; on failure the last box is kept, ``ok`` False."""
        import cv2

        if self._box is None:
            raise RuntimeError("update() before init(): start the baseline with a box first")
        if self._tracker is None:  # initialisation failed: report the initial box, honestly counted as lost
            self.lost_frames += 1
            return self._box, False
        try:
            ok, rect = self._tracker.update(_to_bgr(rgb))
        except cv2.error as exc:
            ok, rect = False, None
            self.last_error = "update failed: " + " ".join(str(exc).split())
        if ok and rect is not None:
            x, y, w, h = (float(v) for v in rect)
            if all(math.isfinite(v) for v in (x, y, w, h)) and w > 0 and h > 0:
                self._box = (x, y, w, h)
                return self._box, True
        self.lost_frames += 1
        return self._box, False
