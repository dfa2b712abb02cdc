"""IngestNode over real rclpy / Fast DDS on loopback: real Image / EventPacket in, real FrameSet out.

Each bad-input case is its own test: it checks the node's one clear log line (read from /rosout) and that a
good message sent afterwards still comes through. Every test uses its own namespace so topics never mix.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import rclpy  # noqa: E402
from builtin_interfaces.msg import Time  # noqa: E402
from event_camera_msgs.msg import EventPacket  # noqa: E402  (interfaces: scripts/setup_ros.sh)
from mamba_tracking_msgs.msg import FrameSet  # noqa: E402
from rcl_interfaces.msg import Log  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from mamba_tracking_ros.codecs.image_conversion import image_to_numpy  # noqa: E402
from mamba_tracking_ros.nodes import ingest_node  # noqa: E402
from mamba_tracking_ros.nodes.ingest_node import IngestNode  # noqa: E402
from mamba_tracking_ros.nodes.parameters import UnknownParameterError  # noqa: E402

MS = 1_000_000
T0 = 1_700_000_000 * 1_000_000_000  # a realistic ROS stamp (ns)
H, W = 48, 64
_ns_counter = itertools.count()


@pytest.fixture(scope="module")
def executor():
    """A private rclpy context (independent of other test modules) and an executor on it."""
    context = rclpy.Context()
    rclpy.init(context=context)
    ex = SingleThreadedExecutor(context=context)
    yield ex
    ex.shutdown()
    rclpy.shutdown(context=context)


def test_misspelt_parameter_is_an_error(executor) -> None:
    """An override naming no declared parameter refuses to start with the name and the closest match."""
    with pytest.raises(UnknownParameterError, match=r"'slop_msec' \(did you mean 'slop_ms'"):
        IngestNode(
            "ingest_misspelt", context=executor.context, parameter_overrides=[Parameter("slop_msec", value=5)]
        )


def stamp_msg(ns: int):
    """Nanoseconds -> builtin_interfaces/Time."""

    return Time(sec=int(ns) // 1_000_000_000, nanosec=int(ns) % 1_000_000_000)


def make_image(stamp: int, arr: np.ndarray, encoding: str, *, big: bool = False, pad: int = 0) -> Image:
    """Build an Image by hand (independent of the code under test): rows packed + ``pad`` bytes."""
    msg = Image()
    msg.header.stamp = stamp_msg(stamp)
    msg.header.frame_id = "cam"
    msg.height, msg.width = arr.shape[0], arr.shape[1]
    msg.encoding = encoding
    msg.is_bigendian = int(big)
    wire = arr.astype(arr.dtype.newbyteorder(">" if big else "<"))
    rows = wire.reshape(arr.shape[0], -1).view(np.uint8)
    if pad:
        rows = np.concatenate([rows, np.full((rows.shape[0], pad), 0xEE, np.uint8)], axis=1)
    msg.step = rows.shape[1]
    msg.data = rows.tobytes()
    return msg


def rgb_array(i: int) -> np.ndarray:
    """A deterministic RGB frame."""
    return ((np.arange(H * W * 3).reshape(H, W, 3) + 7 * i) % 251).astype(np.uint8)


def thermal_array(i: int, dtype=np.uint16) -> np.ndarray:
    """A deterministic thermal frame."""
    return (np.arange(H * W).reshape(H, W) * 3 + 1000 + i).astype(dtype)


def mono_packet(stamp: int, x, y, p, dt_ns, seq: int = 0, width: int = W, height: int = H) -> EventPacket:
    """An event_camera_msgs ``mono`` packet built from the documented bit layout."""
    words = (
        (np.asarray(p, np.uint64) << np.uint64(63))
        | (np.asarray(y, np.uint64) << np.uint64(48))
        | (np.asarray(x, np.uint64) << np.uint64(32))
        | np.asarray(dt_ns, np.uint64)
    )
    msg = EventPacket()
    msg.header.stamp = stamp_msg(stamp)
    msg.header.frame_id = "dvs"
    msg.width, msg.height, msg.seq, msg.time_base = width, height, seq, 0
    msg.encoding = "mono"
    msg.events = words.astype("<u8").tobytes()
    return msg


def span_events(start: int, end: int, n: int, seed: int = 0):
    """n events spread over [start, end] ns (sorted), as arrays (x, y, p, t_ns)."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(start, end + 1, n)).astype(np.int64)
    t[-1] = end
    return rng.integers(0, W, n), rng.integers(0, H, n), rng.integers(0, 2, n), t


class Harness:
    """An IngestNode plus a peer node that publishes inputs and records FrameSets and /rosout lines."""

    def __init__(self, executor: SingleThreadedExecutor, **params) -> None:
        """Start both nodes in a fresh namespace and wait for discovery."""
        self.ex = executor
        self.ns = f"/ingest_t{os.getpid()}_{next(_ns_counter)}"
        base = {
            "rgb_qos.reliability": "reliable",
            "thermal_qos.reliability": "reliable",
            "events_qos.reliability": "reliable",
            "rgb_qos.depth": 20,
            "thermal_qos.depth": 20,
            "report_period_s": 0.3,
        }
        base.update(params)
        overrides = [Parameter(k, value=v) for k, v in base.items()]
        self.peer = rclpy.create_node("peer", namespace=self.ns, context=executor.context)
        self.logs: list[Log] = []
        log_qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        log_qos.durability = DurabilityPolicy.TRANSIENT_LOCAL
        self.peer.create_subscription(Log, "/rosout", self.logs.append, log_qos)
        self.sets: list = []
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.peer.create_subscription(FrameSet, "frame_set", self.sets.append, qos)
        self.node = IngestNode(namespace=self.ns, parameter_overrides=overrides, context=executor.context)
        self.logger_name = self.node.get_logger().name
        self.pub = {
            "rgb": self.peer.create_publisher(Image, "rgb/image_raw", qos),
            "thermal": self.peer.create_publisher(Image, "thermal/image_raw", qos),
            "events": self.peer.create_publisher(
                dvs_types()[1] if params.get("events_type") == "dvs_array" else EventPacket, "events", qos
            ),
        }
        self.ex.add_node(self.node)
        self.ex.add_node(self.peer)
        enabled = self.node.sync.config.enabled
        self.spin_until(
            lambda: (
                all(self.pub[m].get_subscription_count() > 0 for m in enabled)
                and self.node.publisher.get_subscription_count() > 0
            ),
            what="discovery",
        )

    def spin_until(self, cond: Callable[[], bool], timeout: float = 8.0, what: str = "condition") -> None:
        """Spin both nodes until ``cond()`` holds (fail after ``timeout`` seconds)."""
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}; logs: {[m.msg for m in self.mine()]}")
            self.ex.spin_once(timeout_sec=0.01)

    def spin_for(self, seconds: float) -> None:
        """Spin for a fixed time (to show that something does NOT arrive)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.ex.spin_once(timeout_sec=0.01)

    def publish(self, modality: str, msg) -> None:
        """Publish one input and let it be processed."""
        self.pub[modality].publish(msg)
        self.spin_for(0.02)

    def mine(self) -> list[Log]:
        """/rosout lines of the node under test."""
        return [m for m in self.logs if m.name == self.logger_name]

    def tagged(self, tag: str) -> list[Log]:
        """Log lines carrying ``[tag]``."""
        return [m for m in self.mine() if f"[{tag}]" in m.msg]

    def wait_sets(self, n: int, what: str = "frame sets") -> list:
        """Wait until ``n`` FrameSets arrived; return them."""
        self.spin_until(lambda: len(self.sets) >= n, what=f"{n} {what} (got {len(self.sets)})")
        return self.sets

    def close(self) -> None:
        """Remove and destroy both nodes."""
        self.ex.remove_node(self.node)
        self.ex.remove_node(self.peer)
        self.node.destroy_node()
        self.peer.destroy_node()


@pytest.fixture
def harness(executor):
    """Factory: ``harness(**params)`` gives a started Harness, closed after the test."""
    made: list[Harness] = []

    def make(**params) -> Harness:
        h = Harness(executor, **params)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def decode(img: Image) -> np.ndarray:
    """Decode an Image of a received FrameSet."""
    return image_to_numpy(img.height, img.width, img.encoding, img.is_bigendian, img.step, img.data)


def send_pair(h: Harness, i: int, stamp: int, thermal_offset: int = 2 * MS) -> None:
    """Publish the RGB and (offset) mono16 thermal images of frame i."""
    h.publish("rgb", make_image(stamp, rgb_array(i), "rgb8"))
    h.publish("thermal", make_image(stamp + thermal_offset, thermal_array(i), "mono16"))


def expect_good_pair(h: Harness, i: int, stamp: int) -> None:
    """Send a good RGB+thermal pair and check the FrameSet that must follow."""
    before = len(h.sets)
    send_pair(h, i, stamp)
    fs = h.wait_sets(before + 1, "good frame set after bad input")[-1]
    assert fs.has_rgb and fs.has_thermal
    assert fs.header.stamp.sec * 1_000_000_000 + fs.header.stamp.nanosec == stamp
    np.testing.assert_array_equal(decode(fs.rgb), rgb_array(i))
    np.testing.assert_array_equal(decode(fs.thermal), thermal_array(i))


# ---------------------------------------------------------------------------------------------- good path


def test_rgb_thermal_events_synchronised(harness) -> None:
    """Three frames of RGB + thermal (2 ms later) + mono events become three complete FrameSets."""
    h = harness(required_modalities=["rgb", "thermal", "events"])
    sent = []
    edge = T0 - 30 * MS
    for i in range(3):
        stamp = T0 + i * 33 * MS
        x, y, p, t = span_events(edge + 1, stamp + MS, 200, seed=i)  # packets cover consecutive spans
        h.publish("events", mono_packet(edge, x, y, p, t - edge, seq=i))
        sent.append((x, y, p, t))
        send_pair(h, i, stamp)
        edge = stamp + MS
    sets = h.wait_sets(3)
    xs, ys, ps, ts = (np.concatenate([s[k] for s in sent]) for k in range(4))
    last = None
    for i, fs in enumerate(sets[:3]):
        stamp = T0 + i * 33 * MS
        assert list(fs.modalities) == ["rgb", "thermal", "events"]
        assert fs.header.stamp.sec * 1_000_000_000 + fs.header.stamp.nanosec == stamp
        assert fs.header.frame_id == "cam"
        np.testing.assert_array_equal(decode(fs.rgb), rgb_array(i))
        np.testing.assert_array_equal(decode(fs.thermal), thermal_array(i))
        start = fs.events_start.sec * 1_000_000_000 + fs.events_start.nanosec
        end = fs.events_end.sec * 1_000_000_000 + fs.events_end.nanosec
        assert end == stamp and (last is None or start == last)
        last = end
        sel = (ts >= start) & (ts < end)
        order = np.argsort(ts[sel], kind="stable")
        t_got = np.asarray(fs.event_t_ns)
        np.testing.assert_array_equal(t_got, ts[sel][order] // 1000 * 1000)
        assert np.all(np.diff(t_got) >= 0)
        assert sorted(zip(fs.event_x, fs.event_y, fs.event_p)) == sorted(
            zip(xs[sel].tolist(), ys[sel].tolist(), ps[sel].tolist())
        )
        assert (fs.event_width, fs.event_height) == (W, H)
        assert fs.events_dropped == 0


def test_optional_thermal_left_out_when_absent_and_stream_stop_reported(harness) -> None:
    """Thermal optional: a lone RGB frame goes out without it; a silent input is reported as stopped."""
    h = harness(modalities=["rgb", "thermal"], stale_after_s=0.2)
    h.publish("rgb", make_image(T0, rgb_array(0), "rgb8"))
    fs = h.wait_sets(1)[0]
    assert fs.has_rgb and not fs.has_thermal and list(fs.modalities) == ["rgb"]
    h.spin_until(lambda: h.tagged("stream_stopped"), what="stream_stopped log")
    assert "rgb: no message for" in h.tagged("stream_stopped")[0].msg
    h.spin_until(lambda: h.tagged("stream_waiting_thermal"), what="stream_waiting log")
    assert len(h.tagged("stream_waiting_thermal")) == 1


def test_evt3_packets_are_decoded_and_mapped_to_ros_time(harness) -> None:
    """evt3 words (TIME_HIGH/LOW, ADDR_Y, ADDR_X) are decoded; sensor time is anchored to the header stamp."""
    h = harness(modalities=["rgb", "events"], required_modalities=["rgb", "events"])
    sensor_us = 5_000_000 + np.arange(0, 40_000, 100, dtype=np.int64)  # 400 events over 40 ms
    xs, ys, ps = sensor_us % W, (sensor_us // 7) % H, (sensor_us // 100) % 2
    words = np.stack(
        [
            0x8000 | ((sensor_us >> 12) & 0xFFF),
            0x6000 | (sensor_us & 0xFFF),
            0x0000 | ys,
            0x2000 | (ps << 11) | xs,
        ],
        axis=1,
    ).astype("<u2")
    pkt = EventPacket()
    pkt.header.stamp = stamp_msg(T0)  # ROS time of the first event
    pkt.width, pkt.height, pkt.encoding = W, H, "evt3"
    pkt.events = words.tobytes()
    h.publish("events", pkt)
    frame = T0 + 30 * MS
    h.publish("rgb", make_image(frame, rgb_array(0), "rgb8"))
    fs = h.wait_sets(1)[0]
    expected_t = T0 + (sensor_us - sensor_us[0]) * 1000
    sel = expected_t < frame
    np.testing.assert_array_equal(np.asarray(fs.event_t_ns), expected_t[sel])
    np.testing.assert_array_equal(np.asarray(fs.event_x), xs[sel])
    np.testing.assert_array_equal(np.asarray(fs.event_y), ys[sel])
    np.testing.assert_array_equal(np.asarray(fs.event_p), ps[sel])


@pytest.mark.parametrize("encoding", ["libcaer", "libcaer_cmp"])
def test_libcaer_packets_are_decoded_at_their_absolute_time(harness, encoding: str) -> None:
    """iniVation packets (libcaer_driver): event time = time_base (host ns) + sensor us, not the stamp."""
    h = harness(modalities=["rgb", "events"], required_modalities=["rgb", "events"])
    base = T0 - 7 * MS  # the driver's time base: host time of the sensor clock's zero
    sensor_us = 7_000 + np.arange(0, 40_000, 100, dtype=np.int64)  # 400 events over 40 ms
    xs, ys, ps = sensor_us % W, (sensor_us // 7) % H, (sensor_us // 100) % 2
    if encoding == "libcaer":
        data = (xs << 17) | (ys << 2) | (ps << 1) | 1
        payload = np.stack([data, sensor_us], axis=1).astype("<u4").tobytes()
    else:
        words = np.stack(
            [sensor_us >> 12, (1 << 12) | (sensor_us & 0xFFF), (2 << 12) | xs, (3 << 12) | (ps << 11) | ys],
            axis=1,
        )
        payload = words.astype("<u2").tobytes()
    pkt = EventPacket()
    pkt.header.stamp = stamp_msg(T0 + 3 * MS)  # a stamp that is not the event time
    pkt.width, pkt.height, pkt.encoding, pkt.time_base = W, H, encoding, base
    pkt.events = payload
    h.publish("events", pkt)
    frame = T0 + 30 * MS
    h.publish("rgb", make_image(frame, rgb_array(0), "rgb8"))
    fs = h.wait_sets(1)[0]
    expected_t = base + sensor_us * 1000
    sel = expected_t < frame
    assert sel.sum() > 100
    np.testing.assert_array_equal(np.asarray(fs.event_t_ns), expected_t[sel])
    np.testing.assert_array_equal(np.asarray(fs.event_x), xs[sel])
    np.testing.assert_array_equal(np.asarray(fs.event_y), ys[sel])
    np.testing.assert_array_equal(np.asarray(fs.event_p), ps[sel])


# ---------------------------------------------------------------------------------------------- bad input


def test_unknown_rgb_encoding_logged_once_then_good_passes(harness) -> None:
    """yuv422 RGB is rejected with one log line for two bad messages; the next good pair comes through."""
    h = harness(required_modalities=["rgb", "thermal"], modalities=["rgb", "thermal"])
    bad = make_image(T0, rgb_array(0)[:, :, :2].copy(), "rgb8")
    bad.encoding = "yuv422"
    h.publish("rgb", bad)
    h.publish("rgb", bad)
    h.spin_until(lambda: h.tagged("rgb_bad_encoding"), what="rgb_bad_encoding log")
    expect_good_pair(h, 1, T0 + 33 * MS)
    lines = h.tagged("rgb_bad_encoding")
    assert len(lines) == 1 and "'yuv422'" in lines[0].msg and lines[0].level == 40  # ERROR
    assert h.node.counters["rgb_bad_encoding"] == 2


def test_unaccepted_thermal_encoding(harness) -> None:
    """A thermal encoding outside thermal_encodings (bgr8) is rejected once; a mono16 pair follows."""
    h = harness(required_modalities=["rgb", "thermal"], modalities=["rgb", "thermal"])
    h.publish("thermal", make_image(T0, rgb_array(0), "bgr8"))
    h.spin_until(lambda: h.tagged("thermal_bad_encoding"), what="thermal_bad_encoding log")
    expect_good_pair(h, 1, T0 + 33 * MS)
    assert len(h.tagged("thermal_bad_encoding")) == 1


def test_row_padding_is_decoded_and_reported(harness) -> None:
    """Padded rows (step > width * 3) are accepted, passed on, logged once; pixels survive exactly."""
    h = harness(modalities=["rgb", "thermal"], required_modalities=["rgb", "thermal"])
    h.publish("rgb", make_image(T0, rgb_array(0), "rgb8", pad=16))
    h.publish("thermal", make_image(T0, thermal_array(0), "mono16", pad=6))
    fs = h.wait_sets(1)[0]
    assert fs.rgb.step == W * 3 + 16
    np.testing.assert_array_equal(decode(fs.rgb), rgb_array(0))
    np.testing.assert_array_equal(decode(fs.thermal), thermal_array(0))
    assert len(h.tagged("rgb_row_padding")) == 1 and "step" in h.tagged("rgb_row_padding")[0].msg
    expect_good_pair(h, 1, T0 + 33 * MS)


def test_step_too_small_is_malformed(harness) -> None:
    """step < width * bytes_per_pixel is malformed: dropped with a log naming step; good pair follows."""
    h = harness(modalities=["rgb", "thermal"], required_modalities=["rgb", "thermal"])
    bad = make_image(T0, rgb_array(0), "rgb8")
    bad.step = W * 3 - 1
    h.publish("rgb", bad)
    h.spin_until(lambda: h.tagged("rgb_malformed"), what="rgb_malformed log")
    assert "step" in h.tagged("rgb_malformed")[0].msg
    expect_good_pair(h, 1, T0 + 33 * MS)
    assert h.node.frame_sets_published == 1


def test_big_endian_thermal(harness) -> None:
    """Big-endian mono16 thermal is accepted, logged once and decodes to the sent values."""
    h = harness(modalities=["rgb", "thermal"], required_modalities=["rgb", "thermal"])
    h.publish("rgb", make_image(T0, rgb_array(0), "rgb8"))
    h.publish("thermal", make_image(T0 + MS, thermal_array(0), "mono16", big=True))
    fs = h.wait_sets(1)[0]
    assert fs.thermal.is_bigendian == 1
    np.testing.assert_array_equal(decode(fs.thermal), thermal_array(0))
    assert len(h.tagged("thermal_big_endian")) == 1
    expect_good_pair(h, 1, T0 + 33 * MS)


def test_rgb_thermal_size_mismatch(harness) -> None:
    """A thermal image of another size is left out of the set (logged once); a matching pair follows."""
    h = harness(modalities=["rgb", "thermal"], optional_wait_ms=3000.0)
    h.publish("thermal", make_image(T0, thermal_array(0)[: H // 2], "mono16"))
    h.spin_until(lambda: h.node.sync.queued("thermal") == 1, what="thermal queued")
    h.publish("rgb", make_image(T0, rgb_array(0), "rgb8"))
    fs = h.wait_sets(1)[0]
    assert fs.has_rgb and not fs.has_thermal
    line = h.tagged("size_mismatch")
    assert len(line) == 1 and f"{W}x{H // 2}" in line[0].msg and f"{W}x{H}" in line[0].msg
    expect_good_pair(h, 1, T0 + 33 * MS)


def test_nan_in_32fc1_thermal_is_filled(harness) -> None:
    """NaN pixels of a 32FC1 thermal image are filled (policy fill) and logged once."""
    h = harness(modalities=["rgb", "thermal"], required_modalities=["rgb", "thermal"])
    th = thermal_array(0, np.float32) / 10
    th[3, 5] = np.nan
    th[7, :4] = np.nan
    h.publish("rgb", make_image(T0, rgb_array(0), "rgb8"))
    h.publish("thermal", make_image(T0, th, "32FC1"))
    fs = h.wait_sets(1)[0]
    got = decode(fs.thermal)
    assert np.isfinite(got).all()
    finite = np.isfinite(th)
    np.testing.assert_array_equal(got[finite], th[finite])
    assert np.all(got[~finite] == th[finite].min())
    assert "5 of" in h.tagged("thermal_nan")[0].msg
    expect_good_pair(h, 1, T0 + 33 * MS)


def test_empty_event_packet(harness) -> None:
    """An empty event packet is reported once (info) and does not block the next frame set."""
    h = harness(modalities=["rgb", "events"])
    pkt = mono_packet(T0, [], [], [], [])
    h.publish("events", pkt)
    h.spin_until(lambda: h.tagged("events_empty"), what="events_empty log")
    x, y, p, t = span_events(T0, T0 + 35 * MS, 50)
    h.publish("events", mono_packet(T0, x, y, p, t - T0, seq=1))
    h.spin_until(lambda: h.node.sync.buffered_events() == 50, what="events buffered")
    h.publish("rgb", make_image(T0 + 33 * MS, rgb_array(0), "rgb8"))
    fs = h.wait_sets(1)[0]
    assert fs.has_events and len(fs.event_x) == int(np.count_nonzero(t < T0 + 33 * MS))


def test_malformed_event_packets(harness) -> None:
    """A mono payload of 12 bytes and an unknown encoding are each logged once; good events follow."""
    h = harness(modalities=["rgb", "events"], required_modalities=["rgb", "events"])
    bad = mono_packet(T0, [1], [1], [1], [0])
    bad.events = bytes(12)
    h.publish("events", bad)
    other = mono_packet(T0, [1], [1], [1], [0], seq=1)
    other.encoding = "evt2"  # Prophesee EVT 2.0: not decoded here
    h.publish("events", other)
    h.spin_until(lambda: h.tagged("events_malformed") and h.tagged("events_bad_encoding"), what="logs")
    assert "multiple of 8" in h.tagged("events_malformed")[0].msg
    x, y, p, t = span_events(T0, T0 + 40 * MS, 100)
    h.publish("events", mono_packet(T0, x, y, p, t - T0, seq=2))
    h.publish("rgb", make_image(T0 + 33 * MS, rgb_array(0), "rgb8"))
    fs = h.wait_sets(1)[0]
    assert len(fs.event_t_ns) == int(np.count_nonzero(t < T0 + 33 * MS))


def test_events_out_of_order_are_sorted(harness) -> None:
    """Events out of time order inside and across packets are sorted in (logged once), none lost."""
    h = harness(modalities=["rgb", "events"], required_modalities=["rgb", "events"])
    x, y, p, t = span_events(T0, T0 + 40 * MS, 300, seed=3)
    rng = np.random.default_rng(1)
    perm = rng.permutation(300)
    x, y, p, t = x[perm], y[perm], p[perm], t[perm]
    h.publish("events", mono_packet(T0, x[:150], y[:150], p[:150], t[:150] - T0, seq=0))
    h.publish("events", mono_packet(T0, x[150:], y[150:], p[150:], t[150:] - T0, seq=1))
    h.spin_until(lambda: h.node.sync.buffered_events() == 300, what="both packets buffered")
    frame = T0 + 33 * MS
    h.publish("rgb", make_image(frame, rgb_array(0), "rgb8"))
    fs = h.wait_sets(1)[0]
    got = np.asarray(fs.event_t_ns)
    np.testing.assert_array_equal(got, np.sort(t[t < frame]) // 1000 * 1000)  # mono keeps microseconds
    assert len(h.tagged("events_out_of_order")) == 1


def test_five_million_events_in_one_packet(harness) -> None:
    """A 5 M event packet is decoded; the set is capped (evenly thinned, counted), the next one is normal."""
    h = harness(
        modalities=["rgb", "events"],
        required_modalities=["rgb", "events"],
        max_events_per_set=1_000_000,
    )
    n = 5_000_000
    dt = np.arange(n, dtype=np.int64) * 6  # 30 ms
    big = mono_packet(T0, dt % W, (dt // W) % H, dt % 2, dt)
    h.publish("events", big)
    frame = T0 + 25 * MS  # the packet reaches 30 ms: this window is complete
    h.publish("rgb", make_image(frame, rgb_array(0), "rgb8"))
    fs = h.wait_sets(1)[0]
    n_in = int(np.count_nonzero(dt < 25 * MS))
    assert len(fs.event_t_ns) == 1_000_000
    assert fs.events_dropped == n_in - 1_000_000
    t = np.asarray(fs.event_t_ns) - T0
    assert t[0] == 0 and t[-1] == dt[n_in - 1] // 1000 * 1000 and np.all(np.diff(t) >= 0)
    per_ms = np.bincount(t // MS, minlength=25)  # evenly thinned over the window, not truncated
    assert per_ms.shape[0] == 25 and np.all(np.abs(per_ms - 40_000) <= 400)
    h.spin_until(lambda: h.tagged("events_window_cap"), what="events_window_cap log")
    edge = T0 + int(dt[-1])
    x, y, p, t2 = span_events(edge + 1000, edge + 40 * MS, 100)
    h.publish("events", mono_packet(edge, x, y, p, t2 - edge, seq=1))
    h.publish("rgb", make_image(frame + 33 * MS, rgb_array(1), "rgb8"))
    fs2 = h.wait_sets(2)[1]
    expected = n - n_in + int(np.count_nonzero(t2 < frame + 33 * MS))
    assert len(fs2.event_t_ns) == expected and fs2.events_dropped == 0


def test_time_going_backwards_resets(harness) -> None:
    """A bag loop (stamps 60 s back) resets the synchroniser, is logged, and the new epoch is published."""
    h = harness(modalities=["rgb", "thermal"], required_modalities=["rgb", "thermal"])
    late = T0 + 60_000 * MS
    send_pair(h, 0, late)
    h.wait_sets(1)
    send_pair(h, 1, late + 33 * MS)
    h.wait_sets(2)
    expect_good_pair(h, 2, T0)  # 60 s earlier: the loop restarts
    line = h.tagged("time_backwards")
    assert len(line) == 1 and "backwards" in line[0].msg
    expect_good_pair(h, 3, T0 + 33 * MS)
    assert h.node.sync.resets == 1


def test_incompatible_qos_is_a_warning(harness) -> None:
    """A best-effort publisher cannot feed a reliable subscription: the node warns, not silence."""
    h = harness(modalities=["rgb"])
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
    pub = h.peer.create_publisher(Image, "rgb/image_raw", qos)
    h.spin_until(lambda: any("[incompatible_qos" in m.msg for m in h.mine()), what="incompatible QoS log")
    line = next(m for m in h.mine() if "[incompatible_qos" in m.msg)
    assert "RELIABILITY" in line.msg.upper() and "rgb/image_raw" in line.msg and line.level == 30
    h.peer.destroy_publisher(pub)
    h.publish("rgb", make_image(T0, rgb_array(0), "rgb8"))
    assert h.wait_sets(1)[0].has_rgb


def dvs_types() -> tuple[type, type]:
    """dv_ros2_msgs (Event, EventArray), imported here so only the dvs test needs that package."""
    from dv_ros2_msgs.msg import Event, EventArray

    return Event, EventArray


def dvs_array(stamp: int, x, y, p, t_ns):
    """A dv_ros2_msgs/EventArray (one Event object per event, as a dvs driver publishes it)."""
    Event, EventArray = dvs_types()
    msg = EventArray(height=H, width=W)
    msg.header.stamp = stamp_msg(stamp)
    msg.events = [
        Event(x=int(a), y=int(b), ts=stamp_msg(int(t)), polarity=bool(c)) for a, b, c, t in zip(x, y, p, t_ns)
    ]
    return msg


def test_dvs_event_arrays(harness) -> None:
    """events_type dvs_array: raw CDR arrays are decoded vectorised; truncated bytes are reported once."""
    h = harness(modalities=["rgb", "events"], required_modalities=["rgb", "events"], events_type="dvs_array")
    x, y, p, t = span_events(T0, T0 + 40 * MS, 400, seed=9)
    x[:3] = W + 5  # outside the sensor: dropped and counted
    good = dvs_array(T0, x, y, p, t)
    from rclpy.serialization import serialize_message

    h.publish("events", serialize_message(good)[:-7])  # truncated bytes (raw publish)
    h.spin_until(lambda: h.tagged("events_malformed"), what="events_malformed log")
    assert "dvs" in h.tagged("events_malformed")[0].msg
    h.publish("events", good)
    h.spin_until(lambda: h.tagged("events_out_of_bounds"), what="out of bounds log")
    frame = T0 + 33 * MS
    h.publish("rgb", make_image(frame, rgb_array(0), "rgb8"))
    fs = h.wait_sets(1)[0]
    sel = (t < frame) & (x < W)
    np.testing.assert_array_equal(np.asarray(fs.event_t_ns), t[sel])  # dvs times keep nanoseconds
    np.testing.assert_array_equal(np.asarray(fs.event_x), x[sel])
    np.testing.assert_array_equal(np.asarray(fs.event_p), p[sel])
    assert (fs.event_width, fs.event_height) == (W, H)


# ------------------------------------------------------------------------------------------- no silent loss


def fs_ns(t: Time) -> int:
    """builtin_interfaces/Time -> nanoseconds."""
    return t.sec * 1_000_000_000 + t.nanosec


def test_seq_starts_at_one_and_counts_published_sets(harness) -> None:
    """FrameSet.seq is 1 for the first set and +1 per set; regular stamps infer no lost image."""
    h = harness(modalities=["rgb"])
    for i in range(6):
        h.publish("rgb", make_image(T0 + i * 66 * MS, rgb_array(i), "rgb8"))
    sets = h.wait_sets(6)
    assert [fs.seq for fs in sets] == [1, 2, 3, 4, 5, 6]
    assert [fs.images_lost for fs in sets] == [0] * 6
    assert h.node.counters["rgb_images_lost"] == 0 and not h.tagged("rgb_images_lost")


def test_stamp_gaps_count_images_lost_before_the_node(harness) -> None:
    """RGB at 66 ms stamps, frames 6, 7 and 12 never sent: images_lost sums to 3, one log line names it."""
    h = harness(modalities=["rgb"])
    sent = [i for i in range(16) if i not in (6, 7, 12)]
    for i in sent:
        h.publish("rgb", make_image(T0 + i * 66 * MS, rgb_array(i), "rgb8"))
    sets = h.wait_sets(len(sent))
    by_stamp = {fs_ns(fs.header.stamp): fs.images_lost for fs in sets}
    assert by_stamp[T0 + 8 * 66 * MS] == 2 and by_stamp[T0 + 13 * 66 * MS] == 1
    assert sum(fs.images_lost for fs in sets) == 3
    assert [fs.seq for fs in sets] == list(range(1, len(sent) + 1))  # sets lost in transport: none
    assert h.node.counters["rgb_images_lost"] == 3
    h.spin_until(lambda: h.tagged("rgb_images_lost"), what="rgb_images_lost log")
    line = h.tagged("rgb_images_lost")
    assert len(line) == 1 and line[0].level == 30
    assert "2 images missing" in line[0].msg and "~66 ms" in line[0].msg and "driver or in DDS" in line[0].msg
    # a bag loop (stamps 60 s back) resets the period estimate and counts nothing
    for i in range(6):
        h.publish("rgb", make_image(T0 - 60_000 * MS + i * 66 * MS, rgb_array(i), "rgb8"))
    later = h.wait_sets(len(sent) + 6)[len(sent) :]
    assert [fs.images_lost for fs in later] == [0] * 6 and h.node.counters["rgb_images_lost"] == 3
    h.spin_until(lambda: any("rgb_images_lost" in m.msg for m in h.mine() if "counts since" in m.msg))
    assert len(h.tagged("rgb_images_lost")) == 1


def test_image_over_max_image_bytes_is_dropped_and_logged(harness) -> None:
    """An image over max_image_bytes is dropped with one error line and a counter; a good one follows.

    (Issue: a 36 MB 4000x3000 frame vanished without log or counter; the default limit drops it loudly.)
    """
    assert ingest_node.PARAMETERS["max_image_bytes"][1] < 4000 * 3000 * 3
    h = harness(modalities=["rgb"], max_image_bytes=10_000)  # a 64x48 rgb8 frame is 9216 bytes
    big = make_image(T0, np.zeros((100, 100, 3), np.uint8), "rgb8")  # 30000 bytes
    h.publish("rgb", big)
    h.publish("rgb", big)
    h.spin_until(lambda: h.tagged("rgb_too_large"), what="rgb_too_large log")
    line = h.tagged("rgb_too_large")
    assert len(line) == 1 and line[0].level == 40  # ERROR
    assert "30000 bytes" in line[0].msg and "max_image_bytes" in line[0].msg
    assert h.node.counters["rgb_too_large"] == 2 and h.node.frame_sets_published == 0
    h.publish("rgb", make_image(T0 + 66 * MS, rgb_array(1), "rgb8"))
    fs = h.wait_sets(1)[0]
    np.testing.assert_array_equal(decode(fs.rgb), rgb_array(1))
    assert fs.seq == 1 and fs.images_lost == 0


def test_zero_sensor_size_event_packets_are_rejected(harness) -> None:
    """5 EventPackets of size 0x0 among valid ones are dropped, counted; every set keeps RGB, a valid size."""
    h = harness(modalities=["rgb", "events"])
    bad = {3, 4, 5, 6, 7}
    edge = T0 - 30 * MS
    for i in range(10):
        stamp = T0 + i * 33 * MS
        x, y, p, t = span_events(edge + 1, stamp + MS, 100, seed=i)
        size = (0, 0) if i in bad else (W, H)
        h.publish("events", mono_packet(edge, x, y, p, t - edge, seq=i, width=size[0], height=size[1]))
        h.publish("rgb", make_image(stamp, rgb_array(i), "rgb8"))
        edge = stamp + MS
    sets = h.wait_sets(10)
    for fs in sets:
        assert fs.has_rgb and "rgb" in fs.modalities
        assert not fs.has_events or (fs.event_width, fs.event_height) == (W, H)
    assert sets[-1].has_events and len(sets[-1].event_x) > 0  # good packets after the bad ones come through
    assert h.node.counters["events_zero_size"] == 5
    line = h.tagged("events_zero_size")
    assert len(line) == 1 and "sensor size 0x0 is not a valid sensor size" in line[0].msg
    assert line[0].level == 40


def test_zero_sensor_size_dvs_array_is_rejected(harness) -> None:
    """A dv_ros2_msgs EventArray with width 0 is dropped and logged once; a valid array follows."""
    h = harness(modalities=["rgb", "events"], required_modalities=["rgb", "events"], events_type="dvs_array")
    x, y, p, t = span_events(T0, T0 + 40 * MS, 100, seed=4)
    bad = dvs_array(T0, x, y, p, t)
    bad.width = 0
    h.publish("events", bad)
    h.spin_until(lambda: h.tagged("events_zero_size"), what="events_zero_size log")
    assert f"sensor size 0x{H} is not a valid sensor size" in h.tagged("events_zero_size")[0].msg
    assert h.node.sync.buffered_events() == 0
    h.publish("events", dvs_array(T0, x, y, p, t))
    frame = T0 + 33 * MS
    h.publish("rgb", make_image(frame, rgb_array(0), "rgb8"))
    fs = h.wait_sets(1)[0]
    assert (fs.event_width, fs.event_height) == (W, H)
    np.testing.assert_array_equal(np.asarray(fs.event_t_ns), t[t < frame])
