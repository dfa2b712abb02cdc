"""ROS time stamps as integers: the one home of ``builtin_interfaces/Time`` <-> nanoseconds.

Duck-typed on ``sec`` / ``nanosec`` attributes, so it serves rclpy messages, rosbags messages and plain
objects alike without importing ROS.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NS_PER_S", "ns_to_time_fields", "stamp_to_ns", "stamp_to_seconds", "stamp_to_text"]

NS_PER_S = 1_000_000_000


def stamp_to_ns(stamp: Any) -> int:
    """``builtin_interfaces/Time`` (anything with ``sec`` and ``nanosec``) -> integer nanoseconds."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def stamp_to_seconds(stamp: Any) -> float:
    """``builtin_interfaces/Time`` -> float seconds (the tracker's ``Frame.timestamp``)."""
    return int(stamp.sec) + int(stamp.nanosec) * 1e-9


def ns_to_time_fields(ns: int) -> dict[str, int]:
    """Integer nanoseconds -> the ``sec`` / ``nanosec`` fields of ``builtin_interfaces/Time``."""
    sec, nanosec = divmod(int(ns), NS_PER_S)
    return {"sec": sec, "nanosec": nanosec}


def stamp_to_text(stamp: Any) -> str:
    """``builtin_interfaces/Time`` -> seconds with all nine nanosecond digits, for logs (``12.000000500``)."""
    return f"{int(stamp.sec)}.{int(stamp.nanosec):09d}"
