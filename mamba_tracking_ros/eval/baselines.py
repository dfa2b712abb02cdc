"""Classical OpenCV single-object trackers (CSRT, KCF, MIL) as evaluation baselines, RGB + box init only.

* CSRT: Lukezic et al., "Discriminative Correlation Filter with Channel and Spatial Reliability", CVPR 2017.
* KCF: Henriques et al., "High-Speed Tracking with Kernelized Correlation Filters", TPAMI 2015.
* MIL: Babenko et al., "Visual Tracking with Online Multiple Instance Learning", CVPR 2009.

They come from ``opencv-contrib-python-headless`` (``cv2.TrackerCSRT.create`` ...). They take an RGB frame
and an initial box; they cannot be started from a sentence and do not read thermal images or events. A frame
where OpenCV reports failure (``ok == False``, a degenerate or non-finite box, or an exception) keeps the last
box and is counted in :attr:`OpenCVTracker.lost_frames`; an initialisation that raises is counted in
:attr:`OpenCVTracker.init_failed` and the initial box is then reported on every frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

BASELINES: tuple[str, ...] = ("csrt", "kcf", "mil")


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
        raise ValueError(f"rgb: the OpenCV baselines need an HxWx3 uint8 image, got {shape}")
    return np.ascontiguousarray(rgb[:, :, ::-1])


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
    """One OpenCV baseline track (CSRT / KCF / MIL): init on an RGB frame with a box, then update."""

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
