"""Vectorised reader for serialised (CDR) dvs-style ``EventArray`` messages, without one object per event.

Layout (``dv_ros2_msgs/EventArray``, same as ROS 1 ``dvs_msgs/EventArray``): ``std_msgs/Header header``,
``uint32 height``, ``uint32 width``, ``Event[] events`` with ``Event`` = ``uint16 x``, ``uint16 y``,
``builtin_interfaces/Time ts`` (``int32 sec``, ``uint32 nanosec``), ``bool polarity``.

rclpy would build a Python object per event when deserialising such a message (slow at millions of events/s),
so the node subscribes with ``raw=True`` and this module reads the bytes with numpy. In plain CDR (XCDR1, what
ROS 2 uses) every primitive is aligned to its size relative to the start of the payload (after the 4-byte
encapsulation header). The event sequence length is a 4-aligned uint32, so the first event starts 4-aligned
(x@0, y@2, sec@4, nanosec@8, polarity@12, 14 bytes with padding) and every later one starts at 2 (mod 4)
(x@0, y@2, 2 padding bytes, sec@6, nanosec@10, polarity@14, 16 bytes): fixed strides, read as strided views.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mamba_tracking_ros.codecs.event_decoding import DecodedEvents, EventDecodeError

__all__ = ["DvsArray", "parse_dvs_event_array"]


@dataclass(frozen=True)
class DvsArray:
    """A parsed EventArray: header stamp (ns), frame_id, sensor size, events (``t_ns``: ROS time, ns)."""

    stamp_ns: int
    frame_id: str
    height: int
    width: int
    x: np.ndarray  # uint16
    y: np.ndarray  # uint16
    t_ns: np.ndarray  # int64
    p: np.ndarray  # int8, 1 = ON

    def to_decoded(self) -> DecodedEvents:
        """The events as :class:`DecodedEvents` (t in microseconds, like the other decoders)."""
        return DecodedEvents(self.x, self.y, self.t_ns // 1000, self.p)


def _align(offset: int, size: int) -> int:
    """Round ``offset`` up to a multiple of ``size``."""
    return (offset + size - 1) // size * size


def parse_dvs_event_array(raw: bytes | bytearray | memoryview) -> DvsArray:
    """Parse the serialised bytes of a dv_ros2_msgs/EventArray; raise EventDecodeError naming the problem."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    if buf.shape[0] < 4:
        raise EventDecodeError(f"dvs array: {buf.shape[0]} bytes, too short for the CDR encapsulation header")
    kind = int(buf[1])
    if int(buf[0]) != 0 or kind not in (0, 1):
        raise EventDecodeError(
            f"dvs array: encapsulation {bytes(buf[:2]).hex()} is not plain CDR (0000 big / 0001 little)"
        )
    end = "<" if kind == 1 else ">"
    body = buf[4:]
    n_body = body.shape[0]

    def scalar(offset: int, fmt: str, field: str) -> int:
        size = np.dtype(fmt).itemsize
        if offset + size > n_body:
            raise EventDecodeError(f"dvs array: message ends inside {field} (offset {offset} of {n_body})")
        return int(body[offset : offset + size].view(end + fmt)[0])

    sec = scalar(0, "i4", "header.stamp.sec")
    nanosec = scalar(4, "u4", "header.stamp.nanosec")
    n_chars = scalar(8, "u4", "header.frame_id length")
    if 12 + n_chars > n_body:
        raise EventDecodeError(f"dvs array: frame_id length {n_chars} runs past the end ({n_body} bytes)")
    frame_id = bytes(body[12 : 12 + max(0, n_chars - 1)]).decode("utf-8", errors="replace")
    off = _align(12 + n_chars, 4)
    height = scalar(off, "u4", "height")
    width = scalar(off + 4, "u4", "width")
    n = scalar(off + 8, "u4", "events length")
    first = off + 12  # 4-aligned
    need = first + (13 if n == 1 else 14 + 16 * (n - 2) + 15) if n else first
    if need > n_body:
        raise EventDecodeError(
            f"dvs array: {n} events need {need} payload bytes, the message has {n_body} (truncated?)"
        )
    x = np.empty(n, np.uint16)
    y = np.empty(n, np.uint16)
    t = np.empty(n, np.int64)
    p = np.empty(n, np.int8)
    if n:
        head = body[first : first + 13]
        x[0], y[0] = head[0:2].view(end + "u2")[0], head[2:4].view(end + "u2")[0]
        t[0] = int(head[4:8].view(end + "i4")[0]) * 1_000_000_000 + int(head[8:12].view(end + "u4")[0])
        p[0] = head[12]
    if n > 1:
        start = first + 14
        block = body[start : start + 16 * (n - 1)]
        if block.shape[0] < 16 * (n - 1):  # the last event has no trailing padding byte
            block = np.concatenate([block, np.zeros(16 * (n - 1) - block.shape[0], np.uint8)])
        rows = block.reshape(n - 1, 16)
        x[1:] = rows[:, 0:2].view(end + "u2")[:, 0]
        y[1:] = rows[:, 2:4].view(end + "u2")[:, 0]
        secs = rows[:, 6:10].view(end + "i4")[:, 0].astype(np.int64)
        nsecs = rows[:, 10:14].view(end + "u4")[:, 0].astype(np.int64)
        t[1:] = secs * 1_000_000_000 + nsecs
        p[1:] = rows[:, 14]
    if n and int(p.max()) > 1:
        raise EventDecodeError("dvs array: polarity byte is not 0/1 (not a dv_ros2_msgs/EventArray?)")
    return DvsArray(sec * 1_000_000_000 + nanosec, frame_id, height, width, x, y, t, p)
