"""``mamba_tracking_msgs/FrameSet``: the encoder (ingest side) and the decoder (tracker side), side by side.

- :func:`frame_set_message`: a synchronised :class:`~mamba_tracking_ros.codecs.frame_sync.SyncedFrameSet`
  (``sensor_msgs/Image`` payloads and an event slice) -> a FrameSet message. Policy (which modality to leave
  out, size mismatches, sequence numbers) stays with the ingest node; this only packs fields.
- :func:`frameset_to_frame`: a FrameSet -> a validated tracker :class:`~mamba_tracking_ros.tracking.Frame`
  (images through :mod:`mamba_tracking_ros.codecs.image_conversion`, events to an
  :class:`~mamba_tracking_ros.tracking.EventWindow` in microseconds).

Message classes are imported inside the functions, so this module imports without the generated interface
packages being built. Round trips are tested without a running node
(test/ros_adapters/test_frame_set_conversion.py).
"""

from __future__ import annotations

import array as _array
from collections.abc import Mapping
from typing import Any

import numpy as np

from mamba_tracking_ros.codecs.frame_sync import SyncedFrameSet
from mamba_tracking_ros.codecs.image_conversion import (
    ImageConversionError,
    image_to_numpy,
    to_rgb8,
    to_thermal,
)
from mamba_tracking_ros.codecs.stamps import ns_to_time_fields, stamp_to_ns, stamp_to_seconds
from mamba_tracking_ros.constants import IMAGE_MODALITIES, MODALITIES
from mamba_tracking_ros.frame import EventWindow, Frame

__all__ = ["frame_set_message", "frameset_modalities", "frameset_to_frame"]


def _sequence(typecode: str, values: np.ndarray) -> _array.array:
    """Copy a numpy array into an ``array.array`` (what rclpy sequence fields hold) in one memcpy."""
    out = _array.array(typecode)
    out.frombytes(memoryview(np.ascontiguousarray(values)).cast("B"))
    return out


def frame_set_message(
    fs: SyncedFrameSet,
    event_size: tuple[int, int],
    reference: str = "rgb",
    images: Mapping[str, Any] | None = None,
) -> Any:
    """Pack a synchronised set into a ``mamba_tracking_msgs/FrameSet`` (``seq``/``images_lost`` left 0).

    ``images`` (default ``fs.images``, values ``(stamp_ns, sensor_msgs/Image)``) lets the caller leave a
    modality out; ``event_size`` is the event sensor's (width, height); the header's ``frame_id`` is the
    ``reference`` image's, else the first image's.
    """
    from builtin_interfaces.msg import Time
    from mamba_tracking_msgs.msg import FrameSet

    images = dict(fs.images if images is None else images)
    msg = FrameSet()
    msg.header.stamp = Time(**ns_to_time_fields(fs.stamp_ns))
    ref = reference if reference in images else next((m for m in IMAGE_MODALITIES if m in images), None)
    msg.header.frame_id = images[ref][1].header.frame_id if ref else ""
    if "rgb" in images:
        msg.rgb, msg.has_rgb = images["rgb"][1], True
    if "thermal" in images:
        msg.thermal, msg.has_thermal = images["thermal"][1], True
    ev = fs.events
    if ev is not None:
        msg.has_events = True
        msg.event_width, msg.event_height = (int(v) for v in event_size)
        msg.events_start = Time(**ns_to_time_fields(ev.start_ns))
        msg.events_end = Time(**ns_to_time_fields(ev.end_ns))
        msg.event_x = _sequence("H", ev.x.astype(np.uint16, copy=False))
        msg.event_y = _sequence("H", ev.y.astype(np.uint16, copy=False))
        msg.event_t_ns = _sequence("q", ev.t_ns.astype(np.int64, copy=False))
        msg.event_p = _sequence("B", ev.p.astype(np.uint8, copy=False))
    msg.events_dropped = min(int(fs.events_dropped), 2**32 - 1)
    present = set(images) | ({"events"} if ev is not None else set())
    msg.modalities = [m for m in MODALITIES if m in present]
    return msg


def frameset_modalities(msg: Any) -> tuple[str, ...]:
    """Modalities a FrameSet carries (its ``has_*`` flags), in the tracker's canonical order."""
    present = {"rgb": bool(msg.has_rgb), "thermal": bool(msg.has_thermal), "events": bool(msg.has_events)}
    return tuple(m for m in MODALITIES if present[m])


def _as_array(values: Any, dtype: type) -> np.ndarray:
    """A message sequence field as a 1-D numpy array of ``dtype`` (a view of array.array buffers)."""
    if isinstance(values, (bytes, bytearray)):
        out = np.frombuffer(values, dtype=np.uint8)
    elif isinstance(values, (_array.array, memoryview, np.ndarray)):
        out = np.asarray(values)  # buffer protocol: no copy
    else:
        out = np.asarray(values, dtype=dtype)
    out = out.reshape(-1)
    return out if out.dtype == dtype else out.astype(dtype)


def _decode_image(image: Any, field: str) -> tuple[np.ndarray, str]:
    """Decode a sensor_msgs/Image to numpy; ImageConversionError messages are prefixed with ``field``."""
    try:
        array = image_to_numpy(
            image.height, image.width, image.encoding, image.is_bigendian, image.step, image.data
        )
    except ImageConversionError as exc:
        raise ImageConversionError(f"{field}.{exc}") from exc
    return array, image.encoding


def frameset_to_frame(
    msg: Any,
    uc3_order: str = "bgr",
    thermal_nan_policy: str = "fill",
    left_out: list[str] | None = None,
) -> Frame:
    """Convert a ``mamba_tracking_msgs/FrameSet`` into a validated tracker :class:`Frame`.

    The frame's timestamp is ``header.stamp`` in seconds. Event times (``event_t_ns``, nanoseconds) become
    int64 microseconds (floor division); ``events_start``/``events_end`` bound the window (start floored,
    end rounded up; an all-zero time means "unset"). Event coordinates refer to the event sensor
    (``event_width`` x ``event_height``); when an image is present and its size differs, they are scaled to
    the image (the sensors are assumed to share the field of view, as a DAVIS camera's APS and DVS do).
    Raises ``ValueError`` (``ImageConversionError`` for image fields) naming the bad field. With a
    ``left_out`` list, a bad thermal image or event window beside a good RGB image (or bad events beside good
    thermal) is left out instead and its reason appended: the frame is tracked on what is valid.
    """
    rgb = thermal = None
    if msg.has_rgb:
        array, encoding = _decode_image(msg.rgb, "rgb")
        try:
            rgb = to_rgb8(array, encoding, uc3_order=uc3_order)  # type: ignore[arg-type]
        except ImageConversionError as exc:
            raise ImageConversionError(f"rgb.{exc}") from exc
    if msg.has_thermal:
        try:
            array, encoding = _decode_image(msg.thermal, "thermal")
            try:
                thermal = to_thermal(array, encoding, nan_policy=thermal_nan_policy)  # type: ignore[arg-type]
            except ImageConversionError as exc:
                raise ImageConversionError(f"thermal.{exc}") from exc
        except ValueError as exc:
            if left_out is None or rgb is None:
                raise
            left_out.append(f"thermal left out: {exc}")
    reference = rgb if rgb is not None else thermal
    try:
        events, size = _frameset_events(msg, reference)
    except ValueError as exc:
        if left_out is None or reference is None:
            raise
        left_out.append(f"events left out: {exc}")
        events, size = None, None
    return Frame(
        rgb=rgb,
        thermal=thermal,
        events=events,
        timestamp=stamp_to_seconds(msg.header.stamp),
        size=size,
    )


def _frameset_events(
    msg: Any, reference: np.ndarray | None
) -> tuple[EventWindow | None, tuple[int, int] | None]:
    """The FrameSet's event window (scaled to the reference image) and, without an image, the frame size."""
    events = None
    size: tuple[int, int] | None = None
    if msg.has_events:
        ev_w, ev_h = int(msg.event_width), int(msg.event_height)
        if ev_w <= 0 or ev_h <= 0:
            raise ValueError(
                f"event_width/event_height: the event sensor size must be positive, got {ev_w}x{ev_h}"
            )
        x = _as_array(msg.event_x, np.uint16)
        y = _as_array(msg.event_y, np.uint16)
        t_ns = _as_array(msg.event_t_ns, np.int64)
        p = _as_array(msg.event_p, np.uint8)
        lengths = {"event_x": len(x), "event_y": len(y), "event_t_ns": len(t_ns), "event_p": len(p)}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"events: array lengths differ ({lengths})")
        if len(x) and (int(x.max()) >= ev_w or int(y.max()) >= ev_h):
            raise ValueError(
                f"event_x/event_y: coordinates outside the {ev_w}x{ev_h} event sensor "
                f"(max x {int(x.max())}, max y {int(y.max())})"
            )
        if reference is not None and reference.shape[:2] != (ev_h, ev_w):
            ref_h, ref_w = reference.shape[:2]
            x = (x.astype(np.float32) + 0.5) * np.float32(ref_w / ev_w) - np.float32(0.5)
            y = (y.astype(np.float32) + 0.5) * np.float32(ref_h / ev_h) - np.float32(0.5)
            x = np.clip(x, 0.0, ref_w - 1).astype(np.float32)
            y = np.clip(y, 0.0, ref_h - 1).astype(np.float32)
        start_ns, end_ns = stamp_to_ns(msg.events_start), stamp_to_ns(msg.events_end)
        t_start = start_ns // 1000 if start_ns > 0 else None
        t_end = -((-end_ns) // 1000) if end_ns > 0 else None
        events = EventWindow(x=x, y=y, t=t_ns // 1000, p=p, t_start=t_start, t_end=t_end)
        if reference is None:
            size = (ev_h, ev_w)
    return events, size
