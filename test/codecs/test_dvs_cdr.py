"""Vectorised dv_ros2_msgs/EventArray CDR reader against rclpy's and rosbags' own serialisers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from dv_ros2_msgs.msg import Event, EventArray  # built from interfaces/ by scripts/setup_ros.sh
from rclpy.serialization import serialize_message
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from mamba_tracking_ros.codecs.dvs_cdr import parse_dvs_event_array
from mamba_tracking_ros.codecs.event_decoding import EventDecodeError

MSG_DIR = Path(__file__).resolve().parents[2] / "interfaces" / "dv_ros2_msgs" / "msg"


def random_events(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """n random events: x, y, sec, nanosec, polarity."""
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 65536, n),
        rng.integers(0, 65536, n),
        rng.integers(-(2**31), 2**31, n),
        rng.integers(0, 10**9, n),
        rng.integers(0, 2, n),
    )


def rclpy_bytes(cols: tuple[np.ndarray, ...], frame_id: str) -> bytes:
    """Serialise with rclpy (the bytes a live subscription with raw=True receives)."""
    msg = EventArray(height=480, width=640)
    msg.header.stamp = Time(sec=1_700_000_000, nanosec=123)
    msg.header.frame_id = frame_id
    msg.events = [
        Event(x=int(x), y=int(y), ts=Time(sec=int(s), nanosec=int(ns)), polarity=bool(p))
        for x, y, s, ns, p in zip(*cols)
    ]
    return serialize_message(msg)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 501])
@pytest.mark.parametrize("frame_id", ["", "d", "dvs", "dvs_optical_frame"])
def test_matches_rclpy_serialisation(n: int, frame_id: str) -> None:
    """Every event count / frame_id length (both alignment phases) decodes exactly."""
    cols = random_events(n, seed=n)
    arr = parse_dvs_event_array(rclpy_bytes(cols, frame_id))
    assert arr.stamp_ns == 1_700_000_000 * 10**9 + 123 and arr.frame_id == frame_id
    assert (arr.height, arr.width) == (480, 640)
    np.testing.assert_array_equal(arr.x, cols[0])
    np.testing.assert_array_equal(arr.y, cols[1])
    np.testing.assert_array_equal(arr.t_ns, cols[2].astype(np.int64) * 10**9 + cols[3])
    np.testing.assert_array_equal(arr.p, cols[4])
    assert arr.x.dtype == np.uint16 and arr.t_ns.dtype == np.int64 and arr.p.dtype == np.int8
    dec = arr.to_decoded()
    np.testing.assert_array_equal(dec.t, arr.t_ns // 1000)


def test_big_endian_cdr_from_rosbags() -> None:
    """Big-endian CDR (as another middleware may write it; serialised by rosbags) decodes the same."""
    store = get_typestore(Stores.ROS2_KILTED)
    for name in ("Event", "EventArray"):
        store.register(get_types_from_msg((MSG_DIR / f"{name}.msg").read_text(), f"dv_ros2_msgs/msg/{name}"))
    types = store.types
    stamp = types["builtin_interfaces/msg/Time"]
    cols = random_events(37, seed=5)
    events = [
        types["dv_ros2_msgs/msg/Event"](
            x=int(x), y=int(y), ts=stamp(sec=int(s), nanosec=int(ns)), polarity=bool(p)
        )
        for x, y, s, ns, p in zip(*cols)
    ]
    msg = types["dv_ros2_msgs/msg/EventArray"](
        header=types["std_msgs/msg/Header"](stamp=stamp(sec=7, nanosec=9), frame_id="cam"),
        height=260,
        width=346,
        events=events,
    )
    for little in (True, False):
        raw = bytes(store.serialize_cdr(msg, "dv_ros2_msgs/msg/EventArray", little_endian=little))
        arr = parse_dvs_event_array(raw)
        assert (arr.stamp_ns, arr.frame_id, arr.height, arr.width) == (7 * 10**9 + 9, "cam", 260, 346)
        np.testing.assert_array_equal(arr.x, cols[0])
        np.testing.assert_array_equal(arr.t_ns, cols[2].astype(np.int64) * 10**9 + cols[3])
        np.testing.assert_array_equal(arr.p, cols[4])


def test_malformed_bytes_raise_with_reason() -> None:
    """Truncation, a foreign encapsulation and garbage polarity are reported, not misread."""
    raw = rclpy_bytes(random_events(10, seed=1), "dvs")
    with pytest.raises(EventDecodeError, match="10 events need"):
        parse_dvs_event_array(raw[:-5])
    with pytest.raises(EventDecodeError, match="too short"):
        parse_dvs_event_array(raw[:3])
    with pytest.raises(EventDecodeError, match="encapsulation"):
        parse_dvs_event_array(b"\x00\x03" + raw[2:])
    with pytest.raises(EventDecodeError, match="frame_id length"):
        parse_dvs_event_array(raw[:4] + raw[4:12] + (10**6).to_bytes(4, "little") + raw[16:])
    bad = bytearray(raw)
    bad[-1] = 7  # last event's polarity byte
    with pytest.raises(EventDecodeError, match="polarity"):
        parse_dvs_event_array(bytes(bad))
