"""ros_adapters/frame_set_conversion.py: the FrameSet encoder (ingest) and decoder (tracker), no node."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from builtin_interfaces.msg import Time
from mamba_tracking_msgs.msg import FrameSet
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import Image

from mamba_tracking_ros.codecs.frame_sync import EventSlice, SyncedFrameSet
from mamba_tracking_ros.codecs.image_conversion import ImageConversionError, numpy_to_image_fields
from mamba_tracking_ros.codecs.stamps import ns_to_time_fields
from mamba_tracking_ros.ros_adapters.frame_set_conversion import (
    frame_set_message,
    frameset_modalities,
    frameset_to_frame,
)

RGB = np.ascontiguousarray(skimage.data.astronaut()[100:220, 150:310])  # 120 x 160 real photo
H, W = RGB.shape[:2]


def _set_image(target, array: np.ndarray, encoding: str) -> None:
    """Fill a sensor_msgs/Image field from an array."""
    for key, value in numpy_to_image_fields(array, encoding).items():
        setattr(target, key, value)


def _frameset(
    rgb: np.ndarray | None = RGB,
    thermal: np.ndarray | None = None,
    events: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    sensor: tuple[int, int] = (W, H),
    window_ns: tuple[int, int] = (0, 0),
    stamp_ns: int = 12_345_678_901,
    rgb_encoding: str = "rgb8",
) -> FrameSet:
    """A FrameSet with the given parts (events as x, y, t_ns, p arrays)."""
    msg = FrameSet()
    msg.header.stamp = Time(**ns_to_time_fields(stamp_ns))
    msg.header.frame_id = "camera"
    mods = []
    if rgb is not None:
        _set_image(
            msg.rgb, rgb if rgb_encoding != "bgr8" else np.ascontiguousarray(rgb[:, :, ::-1]), rgb_encoding
        )
        msg.has_rgb = True
        mods.append("rgb")
    if thermal is not None:
        _set_image(msg.thermal, thermal, "mono16")
        msg.has_thermal = True
        mods.append("thermal")
    if events is not None:
        x, y, t, p = events
        msg.has_events = True
        msg.event_width, msg.event_height = sensor
        msg.event_x, msg.event_y, msg.event_t_ns, msg.event_p = x, y, t, p
        msg.events_start = Time(**ns_to_time_fields(window_ns[0]))
        msg.events_end = Time(**ns_to_time_fields(window_ns[1]))
        mods.append("events")
    msg.modalities = mods
    return msg


def _events(n: int, width: int, height: int, t0_ns: int, seed: int = 0):
    """n random events on a width x height sensor, sorted in time, starting at t0_ns."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, width, n).astype(np.uint16)
    y = rng.integers(0, height, n).astype(np.uint16)
    t = np.sort(t0_ns + rng.integers(0, 30_000_000, n)).astype(np.int64)
    p = rng.integers(0, 2, n).astype(np.uint8)
    return x, y, t, p


def test_frameset_round_trip_all_modalities() -> None:
    """Images come back pixel-exact (bgr8 reordered), events in microseconds, stamp in seconds."""
    thermal = (3000 + 10 * RGB.mean(axis=2)).astype(np.uint16)
    ev = _events(500, W, H, t0_ns=12_300_000_500)
    msg = _frameset(RGB, thermal, ev, window_ns=(12_300_000_500, 12_330_000_999), rgb_encoding="bgr8")
    msg = deserialize_message(serialize_message(msg), FrameSet)  # what a subscriber really gets
    frame = frameset_to_frame(msg)
    assert frameset_modalities(msg) == ("rgb", "thermal", "events") == frame.modalities
    np.testing.assert_array_equal(frame.rgb, RGB)
    np.testing.assert_array_equal(frame.thermal, thermal)
    assert frame.timestamp == pytest.approx(12.345678901, abs=1e-9)
    np.testing.assert_array_equal(frame.events.x, ev[0])
    np.testing.assert_array_equal(frame.events.t, ev[2] // 1000)
    np.testing.assert_array_equal(frame.events.p, ev[3])
    assert frame.events.t_start == 12_300_000 and frame.events.t_end == 12_330_001  # floor / ceil
    assert frame.size == (H, W)


def test_events_only_and_rescaled_events() -> None:
    """An events-only set takes the sensor size; a differently sized sensor is scaled to the image."""
    ev = _events(200, 40, 30, t0_ns=1_000)
    only = frameset_to_frame(_frameset(None, events=ev, sensor=(40, 30)))
    assert only.size == (30, 40) and only.modalities == ("events",)
    both = frameset_to_frame(_frameset(RGB, events=ev, sensor=(40, 30)))
    assert both.size == (H, W)
    np.testing.assert_allclose(both.events.x, (ev[0] + 0.5) * (W / 40) - 0.5, atol=1e-4)
    np.testing.assert_allclose(both.events.y, (ev[1] + 0.5) * (H / 30) - 0.5, atol=1e-4)
    assert float(both.events.x.max()) <= W - 1


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda m: setattr(m.rgb, "encoding", "yuv422"), "rgb.encoding"),
        (lambda m: setattr(m.rgb, "step", 3), "rgb.step"),
        (lambda m: setattr(m, "event_x", np.zeros(3, np.uint16)), "events: array lengths differ"),
        (lambda m: setattr(m, "event_width", 5), "event_x/event_y"),
        (lambda m: setattr(m, "event_p", np.full(len(m.event_p), 7, np.uint8)), "events.p"),
    ],
)
def test_bad_frameset_names_the_field(mutate, field: str) -> None:
    """A malformed FrameSet raises ValueError whose message names the bad field."""
    msg = _frameset(RGB, events=_events(50, W, H, 0))
    mutate(msg)
    with pytest.raises(ValueError, match=field.replace("(", r"\(").replace(".", r"\.")):
        frameset_to_frame(msg)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: setattr(m, "event_width", 0), "events left out: event_width/event_height"),
        (lambda m: setattr(m, "event_height", 0), "events left out: event_width/event_height"),
        (lambda m: setattr(m, "event_p", np.full(len(m.event_p), 7, np.uint8)), "events left out: events.p"),
        (lambda m: setattr(m.thermal, "encoding", "yuv422"), "thermal left out: thermal.encoding"),
    ],
)
def test_bad_secondary_modality_is_left_out_beside_good_rgb(mutate, reason: str) -> None:
    """With ``left_out``, bad events or thermal beside good RGB are dropped with the reason, not all."""
    thermal = (3000 + 10 * RGB.mean(axis=2)).astype(np.uint16)
    msg = _frameset(RGB, thermal, _events(50, W, H, 0))
    mutate(msg)
    with pytest.raises(ValueError):
        frameset_to_frame(msg)  # without left_out the whole set is rejected, as before
    left_out: list[str] = []
    frame = frameset_to_frame(msg, left_out=left_out)
    assert len(left_out) == 1 and left_out[0].startswith(reason)
    assert "rgb" in frame.modalities and reason.split()[0] not in frame.modalities
    np.testing.assert_array_equal(frame.rgb, RGB)
    bad_rgb = _frameset(RGB, events=_events(50, W, H, 0))
    bad_rgb.rgb.encoding = "yuv422"
    with pytest.raises(ValueError, match="rgb.encoding"):
        frameset_to_frame(bad_rgb, left_out=[])  # the reference image itself is never left out


def test_thermal_nan_policy() -> None:
    """32FC1 thermal with NaN: 'fill' gives a finite image, 'raise' an ImageConversionError."""
    msg = _frameset(None)
    th = np.linspace(20, 40, H * W, dtype=np.float32).reshape(H, W)
    th[3, 4] = np.nan
    _set_image(msg.thermal, th, "32FC1")
    msg.has_thermal = True
    assert np.isfinite(frameset_to_frame(msg, thermal_nan_policy="fill").thermal).all()
    with pytest.raises(ImageConversionError, match="thermal"):
        frameset_to_frame(msg, thermal_nan_policy="raise")


def _image(array: np.ndarray, encoding: str, frame_id: str) -> Image:
    """A sensor_msgs/Image holding ``array``."""
    msg = Image(**numpy_to_image_fields(array, encoding))
    msg.header.frame_id = frame_id
    return msg


def test_encoder_and_decoder_round_trip_without_a_node() -> None:
    """frame_set_message -> CDR -> frameset_to_frame gives back the images, events, window and stamp."""
    thermal = (3000 + 10 * RGB.mean(axis=2)).astype(np.uint16)
    x, y, t_ns, p = _events(300, W, H, t0_ns=7_000_000_123)
    events = EventSlice(x, y, t_ns, p, start_ns=7_000_000_000, end_ns=7_033_000_001, complete=True)
    stamp = 7_033_000_000
    fs = SyncedFrameSet(
        stamp_ns=stamp,
        images={
            "rgb": (stamp, _image(RGB, "rgb8", "cam_rgb")),
            "thermal": (stamp, _image(thermal, "mono16", "ir")),
        },
        events=events,
        events_dropped=4,
    )
    msg = frame_set_message(fs, event_size=(W, H), reference="thermal")
    assert msg.header.frame_id == "ir" and list(msg.modalities) == ["rgb", "thermal", "events"]
    assert (msg.seq, msg.images_lost, msg.events_dropped) == (0, 0, 4)  # seq / images_lost: the node's
    msg = deserialize_message(serialize_message(msg), FrameSet)
    frame = frameset_to_frame(msg)
    assert frame.modalities == ("rgb", "thermal", "events") == frameset_modalities(msg)
    assert frame.timestamp == pytest.approx(7.033, abs=1e-9)
    np.testing.assert_array_equal(frame.rgb, RGB)
    np.testing.assert_array_equal(frame.thermal, thermal)
    np.testing.assert_array_equal(frame.events.x, x)
    np.testing.assert_array_equal(frame.events.y, y)
    np.testing.assert_array_equal(frame.events.t, t_ns // 1000)
    np.testing.assert_array_equal(frame.events.p, p)
    assert (frame.events.t_start, frame.events.t_end) == (7_000_000, 7_033_001)  # floor / ceil to us


def test_encoder_leaves_out_what_the_caller_drops() -> None:
    """``images`` overrides the set's images (the node drops a mismatched thermal); events-only sets work."""
    stamp = 1_500_000_000
    fs = SyncedFrameSet(
        stamp_ns=stamp,
        images={
            "rgb": (stamp, _image(RGB, "bgr8", "cam")),
            "thermal": (stamp, _image(RGB[:, :, 0], "mono8", "ir")),
        },
    )
    msg = frame_set_message(fs, event_size=(1, 1), images={"rgb": fs.images["rgb"]})
    assert list(msg.modalities) == ["rgb"] and not msg.has_thermal and not msg.has_events
    assert msg.header.frame_id == "cam" and Time(**ns_to_time_fields(stamp)) == msg.header.stamp
    x, y, t_ns, p = _events(20, 40, 30, t0_ns=stamp)
    only = SyncedFrameSet(
        stamp_ns=stamp, events=EventSlice(x, y, t_ns, p, stamp, int(t_ns.max()) + 1, complete=False)
    )
    frame = frameset_to_frame(frame_set_message(only, event_size=(40, 30)))
    assert frame.modalities == ("events",) and frame.size == (30, 40)
