"""ROS message <-> tracker conversion for the tracker node (no model math, no node state).

- (``mamba_tracking_msgs/FrameSet`` <-> tracker :class:`~mamba_tracking_ros.tracking.Frame` lives beside its
  encoder in :mod:`mamba_tracking_ros.ros_adapters.frame_set_conversion`);
- :class:`~mamba_tracking_ros.tracking.TrackResult` -> ``vision_msgs/Detection2D`` (bbox = centre + size, one
  hypothesis whose ``score`` is the MVLM confidence kappa in [-1, 1] mapped to [0, 1]) and
  ``Detection2DArray``;
- node bookkeeping -> ``mamba_tracking_msgs/TrackStatus`` and ``diagnostic_msgs/DiagnosticArray``;
- ``vision_msgs/BoundingBox2D`` commands -> an (x, y, w, h) box, clipped to the image or rejected;
- a debug image (RGB, else grey thermal, else an event-count image) with the box drawn, in numpy.

Message classes are imported inside the functions, so this module imports without the generated interface
packages (``vision_msgs``, ``mamba_tracking_msgs``) being built.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mamba_tracking_ros.codecs.image_conversion import (
    numpy_to_image_fields,
)
from mamba_tracking_ros.constants import TrackState
from mamba_tracking_ros.frame import Frame
from mamba_tracking_ros.tracking.geometry import Box, clip_box, validate_box
from mamba_tracking_ros.tracking.tracker import TrackResult

__all__ = [
    "STATE_COLOURS",
    "BoxFit",
    "box_msg_to_xywh",
    "confidence_to_score",
    "debug_image",
    "detection_array",
    "diagnostic_array",
    "fit_box_to_image",
    "image_msg",
    "track_result_to_detection",
    "track_status",
]

#: Box colour (RGB) per track state in the debug image.
STATE_COLOURS: dict[str, tuple[int, int, int]] = {
    TrackState.TRACKING.value: (0, 255, 0),
    TrackState.RELOCALISING.value: (255, 200, 0),
    TrackState.LOST.value: (255, 0, 0),
    TrackState.WAITING_FOR_TARGET.value: (128, 128, 128),
    TrackState.IDLE.value: (128, 128, 128),
}


# ---------------------------------------------------------------------------------------------- boxes
def box_msg_to_xywh(msg: Any) -> Box:
    """``vision_msgs/BoundingBox2D`` (centre + size, pixels) -> (x, y, w, h); ValueError when unusable.

    A rotated box (``center.theta`` != 0) is replaced by its axis-aligned hull.
    """
    cx, cy = float(msg.center.position.x), float(msg.center.position.y)
    sx, sy, theta = float(msg.size_x), float(msg.size_y), float(msg.center.theta)
    values = (cx, cy, sx, sy, theta)
    if not all(math.isfinite(v) for v in values):
        raise ValueError(
            f"box: values must be finite, got centre ({cx}, {cy}), size ({sx}, {sy}), theta {theta}"
        )
    if sx <= 0.0 or sy <= 0.0:
        raise ValueError(f"box: size_x and size_y must be positive, got {sx} x {sy}")
    if theta != 0.0:
        c, s = abs(math.cos(theta)), abs(math.sin(theta))
        sx, sy = sx * c + sy * s, sx * s + sy * c
    return (cx - 0.5 * sx, cy - 0.5 * sy, sx, sy)


@dataclass(frozen=True)
class BoxFit:
    """A user box fitted to an image: the box to use and whether (and how) it was clipped."""

    box: Box
    clipped: bool
    note: str


def fit_box_to_image(box: Sequence[float], width: int, height: int, min_size: float = 2.0) -> BoxFit:
    """Clip a box that sticks out of the ``width`` x ``height`` image; ValueError if it lies fully outside."""
    checked = validate_box(box, width, height, "box")
    fitted = clip_box(checked, width, height, min_size)
    clipped = any(abs(a - b) > 1e-6 for a, b in zip(checked, fitted, strict=True))
    note = ""
    if clipped:
        note = (
            f"box ({', '.join(f'{v:.1f}' for v in checked)}) extends beyond the {width}x{height} image: "
            f"clipped to ({', '.join(f'{v:.1f}' for v in fitted)})"
        )
    return BoxFit(fitted, clipped, note)


# ------------------------------------------------------------------------------------------ detections
def confidence_to_score(confidence: float) -> float:
    """MVLM margin confidence kappa in [-1, 1] -> a [0, 1] score ``(kappa + 1) / 2`` (NaN stays NaN).

    The mapping is monotone, so the tracker's gate ``kappa >= tau`` reads ``score >= (tau + 1) / 2``.
    """
    value = float(confidence)
    if math.isnan(value):
        return value
    return min(1.0, max(0.0, 0.5 * (value + 1.0)))


def track_result_to_detection(
    result: TrackResult, header: Any, class_id: str = "target", track_id: str = "target"
) -> Any:
    """A TrackResult -> ``vision_msgs/Detection2D`` with the input's header (stamp and frame_id).

    ``bbox`` is the centre and size of ``result.box``; one hypothesis: ``class_id`` and ``score`` =
    :func:`confidence_to_score` of ``result.confidence``; ``id`` = ``track_id``.
    """
    from vision_msgs.msg import Detection2D, ObjectHypothesisWithPose

    x, y, w, h = (float(v) for v in result.box)
    det = Detection2D()
    det.header = header
    det.bbox.center.position.x = x + 0.5 * w
    det.bbox.center.position.y = y + 0.5 * h
    det.bbox.center.theta = 0.0
    det.bbox.size_x = w
    det.bbox.size_y = h
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id = class_id
    hyp.hypothesis.score = confidence_to_score(result.confidence)
    hyp.pose.pose.position.x = x + 0.5 * w
    hyp.pose.pose.position.y = y + 0.5 * h
    det.results = [hyp]
    det.id = track_id
    return det


def detection_array(header: Any, detections: Iterable[Any]) -> Any:
    """``vision_msgs/Detection2DArray`` with ``header`` and the given detections (possibly none)."""
    from vision_msgs.msg import Detection2DArray

    msg = Detection2DArray()
    msg.header = header
    msg.detections = list(detections)
    return msg


# -------------------------------------------------------------------------------------------- status
def track_status(
    header: Any,
    state: str,
    search_mode: str = "",
    confidence: float = float("nan"),
    model_latency_ms: float = float("nan"),
    pipeline_latency_ms: float = float("nan"),
    modalities_used: Sequence[str] = (),
    modalities_missing: Sequence[str] = (),
    sentence: str = "",
    frames_processed: int = 0,
    frames_dropped: int = 0,
    message: str = "",
    track_id: str = "",
    **counts: float,
) -> Any:
    """Fill a ``mamba_tracking_msgs/TrackStatus`` (field meanings in its .msg file; ``counts``: any of its
    numeric fields by name, e.g. ``frames_lost=3, fps=14.2``; an unknown name is a ValueError)."""
    from mamba_tracking_msgs.msg import TrackStatus

    msg = TrackStatus()
    msg.header = header
    msg.state = str(state)
    msg.search_mode = str(search_mode)
    msg.confidence = float(confidence)
    msg.model_latency_ms = float(model_latency_ms)
    msg.pipeline_latency_ms = float(pipeline_latency_ms)
    msg.modalities_used = [str(m) for m in modalities_used]
    msg.modalities_missing = [str(m) for m in modalities_missing]
    msg.sentence = str(sentence)
    msg.track_id = str(track_id)
    msg.frames_processed = int(frames_processed)
    msg.frames_dropped = int(frames_dropped)
    msg.message = str(message)
    for name, value in counts.items():
        current = getattr(msg, name, None)
        if name.startswith("_") or not isinstance(current, (int, float)) or isinstance(current, bool):
            raise ValueError(f"track_status: {name!r} is not a numeric TrackStatus field")
        setattr(msg, name, type(current)(value))
    return msg


def diagnostic_array(
    stamp: Any, name: str, hardware_id: str, level: str, message: str, values: Mapping[str, Any]
) -> Any:
    """One-status ``diagnostic_msgs/DiagnosticArray``; ``level`` is 'ok', 'warn', 'error' or 'stale'."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    levels = {
        "ok": DiagnosticStatus.OK,
        "warn": DiagnosticStatus.WARN,
        "error": DiagnosticStatus.ERROR,
        "stale": DiagnosticStatus.STALE,
    }
    if level not in levels:
        raise ValueError(f"level: expected one of {sorted(levels)}, got {level!r}")
    status = DiagnosticStatus()
    status.level = levels[level]
    status.name = name
    status.hardware_id = hardware_id
    status.message = message
    status.values = [KeyValue(key=str(k), value=str(v)) for k, v in values.items()]
    msg = DiagnosticArray()
    msg.header.stamp = stamp
    msg.status = [status]
    return msg


# ---------------------------------------------------------------------------------------- debug image
def _base_image(frame: Frame) -> np.ndarray:
    """An HxWx3 uint8 picture of the frame: RGB, else min-max grey thermal, else event counts."""
    if frame.rgb is not None:
        return np.array(frame.rgb, dtype=np.uint8, copy=True)
    if frame.thermal is not None:
        th = frame.thermal.astype(np.float32)
        lo, hi = float(th.min()), float(th.max())
        grey = (
            np.zeros(th.shape, np.uint8) if hi <= lo else ((th - lo) * (255.0 / (hi - lo))).astype(np.uint8)
        )
        return np.repeat(grey[:, :, None], 3, axis=2)
    height, width = frame.size
    image = np.zeros((height, width, 3), np.uint8)
    ev = frame.events
    if ev is not None and len(ev):
        xs = np.clip(np.rint(ev.x).astype(np.int64), 0, width - 1)
        ys = np.clip(np.rint(ev.y).astype(np.int64), 0, height - 1)
        on = ev.p > 0
        image[ys[on], xs[on], 0] = 255  # ON events red
        image[ys[~on], xs[~on], 2] = 255  # OFF events blue
    return image


def debug_image(frame: Frame, box: Sequence[float] | None, state: str, thickness: int = 2) -> np.ndarray:
    """HxWx3 uint8 picture of ``frame`` with ``box`` (x, y, w, h) outlined in the state's colour."""
    image = _base_image(frame)
    if box is None:
        return image
    height, width = image.shape[:2]
    x, y, w, h = (float(v) for v in box)
    x1 = int(np.clip(math.floor(x), 0, width - 1))
    y1 = int(np.clip(math.floor(y), 0, height - 1))
    x2 = int(np.clip(math.ceil(x + w) - 1, 0, width - 1))
    y2 = int(np.clip(math.ceil(y + h) - 1, 0, height - 1))
    colour = np.array(STATE_COLOURS.get(state, (255, 255, 255)), np.uint8)
    t = max(1, int(thickness))
    image[y1 : min(y1 + t, y2 + 1), x1 : x2 + 1] = colour
    image[max(y2 - t + 1, y1) : y2 + 1, x1 : x2 + 1] = colour
    image[y1 : y2 + 1, x1 : min(x1 + t, x2 + 1)] = colour
    image[y1 : y2 + 1, max(x2 - t + 1, x1) : x2 + 1] = colour
    return image


def image_msg(array: np.ndarray, header: Any, encoding: str = "rgb8") -> Any:
    """A ``sensor_msgs/Image`` holding ``array`` (packed rows) with ``header``."""
    from sensor_msgs.msg import Image

    fields = numpy_to_image_fields(array, encoding)
    msg = Image()
    msg.header = header
    msg.height = fields["height"]
    msg.width = fields["width"]
    msg.encoding = fields["encoding"]
    msg.is_bigendian = fields["is_bigendian"]
    msg.step = fields["step"]
    msg.data = fields["data"]
    return msg
