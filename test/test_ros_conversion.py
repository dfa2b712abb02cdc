"""FrameSet -> Frame, TrackResult -> vision_msgs, status/diagnostics and debug image on real message types."""

from __future__ import annotations

import math

import numpy as np
import pytest
import skimage.data
from builtin_interfaces.msg import Time
from mamba_tracking_msgs.msg import FrameSet
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header
from vision_msgs.msg import BoundingBox2D, Detection2D

from mamba_tracking_ros.codecs.image_conversion import ImageConversionError, numpy_to_image_fields
from mamba_tracking_ros.ros_adapters.ros_conversion import (
    STATE_COLOURS,
    box_msg_to_xywh,
    confidence_to_score,
    debug_image,
    detection_array,
    diagnostic_array,
    fit_box_to_image,
    frameset_modalities,
    frameset_to_frame,
    image_msg,
    stamp_to_seconds,
    track_result_to_detection,
    track_status,
)
from mamba_tracking_ros.tracking import EventWindow, Frame, SearchMode, TrackResult, TrackState

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
    msg.header.stamp = Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
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
        msg.events_start = Time(sec=window_ns[0] // 10**9, nanosec=window_ns[0] % 10**9)
        msg.events_end = Time(sec=window_ns[1] // 10**9, nanosec=window_ns[1] % 10**9)
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


def _result(box=(10.0, 20.0, 30.0, 40.0), confidence=0.5, state=TrackState.TRACKING) -> TrackResult:
    """A TrackResult as the tracker makes them."""
    return TrackResult(
        box=box,
        confidence=confidence,
        score=0.7,
        search_mode=SearchMode.LOCAL,
        state=state,
        modalities=("rgb",),
        timestamp=1.0,
        frame_index=3,
    )


def test_detection_is_centre_size_with_the_input_header() -> None:
    """Detection2D: header copied, bbox centre = x + w/2, size = (w, h), score from the confidence."""
    header = Header(stamp=Time(sec=7, nanosec=123), frame_id="cam")
    result = _result(box=(12.5, 30.0, 41.0, 17.0), confidence=0.3)
    det = track_result_to_detection(result, header, class_id="person", track_id="7")
    det = deserialize_message(serialize_message(det), Detection2D)
    assert (det.header.stamp.sec, det.header.stamp.nanosec, det.header.frame_id) == (7, 123, "cam")
    assert det.bbox.center.position.x == pytest.approx(12.5 + 41.0 / 2)
    assert det.bbox.center.position.y == pytest.approx(30.0 + 17.0 / 2)
    assert (det.bbox.size_x, det.bbox.size_y) == (41.0, 17.0)
    assert det.results[0].hypothesis.class_id == "person" and det.id == "7"
    assert det.results[0].hypothesis.score == pytest.approx(confidence_to_score(0.3))
    arr = detection_array(header, [det, det])
    assert len(arr.detections) == 2 and arr.header.frame_id == "cam"
    assert len(detection_array(header, []).detections) == 0


def test_confidence_to_score_is_monotone_and_bounded() -> None:
    """kappa in [-1, 1] maps onto [0, 1], keeps the order, and NaN stays NaN."""
    kappas = np.linspace(-1.5, 1.5, 31)
    scores = [confidence_to_score(k) for k in kappas]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert all(b >= a for a, b in zip(scores, scores[1:], strict=False))
    assert confidence_to_score(-1.0) == 0.0 and confidence_to_score(1.0) == 1.0
    assert math.isnan(confidence_to_score(float("nan")))


def test_box_message_and_fitting() -> None:
    """BoundingBox2D centre/size -> xywh; rotated boxes give their hull; outside boxes clip or reject."""
    msg = BoundingBox2D()
    msg.center.position.x, msg.center.position.y, msg.size_x, msg.size_y = 50.0, 40.0, 20.0, 10.0
    assert box_msg_to_xywh(msg) == (40.0, 35.0, 20.0, 10.0)
    msg.center.theta = math.pi / 2
    x, y, w, h = box_msg_to_xywh(msg)
    assert (w, h) == pytest.approx((10.0, 20.0)) and (x + w / 2, y + h / 2) == pytest.approx((50.0, 40.0))
    msg.size_x = -1.0
    with pytest.raises(ValueError, match="positive"):
        box_msg_to_xywh(msg)
    msg.size_x, msg.center.position.x = 10.0, float("nan")
    with pytest.raises(ValueError, match="finite"):
        box_msg_to_xywh(msg)
    inside = fit_box_to_image((10, 10, 20, 20), W, H)
    assert not inside.clipped and inside.box == (10.0, 10.0, 20.0, 20.0)
    partial = fit_box_to_image((W - 10, 5, 30, 20), W, H)
    assert partial.clipped and partial.box == (W - 10.0, 5.0, 10.0, 20.0) and "clipped" in partial.note
    with pytest.raises(ValueError, match="outside"):
        fit_box_to_image((W + 5, 5, 30, 20), W, H)


def test_status_and_diagnostics_fields() -> None:
    """TrackStatus and DiagnosticArray carry what they were given and serialise."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    from mamba_tracking_msgs.msg import TrackStatus

    header = Header(stamp=Time(sec=3), frame_id="cam")
    msg = track_status(
        header,
        "tracking",
        "local",
        0.8,
        5.0,
        9.0,
        ("rgb",),
        ("thermal",),
        "the red car",
        11,
        2,
        "note",
    )
    msg = deserialize_message(serialize_message(msg), TrackStatus)
    assert (msg.state, msg.search_mode, msg.sentence, msg.message) == (
        "tracking",
        "local",
        "the red car",
        "note",
    )
    assert list(msg.modalities_used) == ["rgb"] and list(msg.modalities_missing) == ["thermal"]
    assert (msg.frames_processed, msg.frames_dropped) == (11, 2)
    assert msg.confidence == pytest.approx(0.8)
    diag = diagnostic_array(Time(sec=3), "n", "cpu", "warn", "missing", {"fps": 3.5, "a": "b"})
    diag = deserialize_message(serialize_message(diag), DiagnosticArray)
    assert diag.status[0].level == DiagnosticStatus.WARN
    assert {kv.key: kv.value for kv in diag.status[0].values} == {"fps": "3.5", "a": "b"}
    with pytest.raises(ValueError, match="level"):
        diagnostic_array(Time(), "n", "cpu", "fatal", "", {})


def test_debug_image_draws_the_box_outline() -> None:
    """The outline has the state's colour; pixels inside and outside the box are the source image's."""
    frame = Frame(rgb=RGB, timestamp=0.0)
    box = (20.0, 30.0, 50.0, 40.0)
    image = debug_image(frame, box, "tracking", thickness=2)
    colour = np.array(STATE_COLOURS["tracking"], np.uint8)
    assert (image[30, 20:70] == colour).all() and (image[69, 20:70] == colour).all()
    assert (image[30:70, 20] == colour).all() and (image[30:70, 69] == colour).all()
    np.testing.assert_array_equal(image[40:60, 30:60], RGB[40:60, 30:60])  # interior untouched
    np.testing.assert_array_equal(image[:25], RGB[:25])
    assert not (RGB[30, 20:70] == colour).all()  # the outline really changed pixels
    np.testing.assert_array_equal(debug_image(frame, None, "tracking"), RGB)
    thermal = Frame(thermal=(RGB[:, :, 0].astype(np.uint16) * 100), timestamp=0.0)
    grey = debug_image(thermal, None, "lost")
    assert grey.shape == (H, W, 3) and grey.min() == 0 and grey.max() == 255
    ev = EventWindow(
        x=np.array([3, 5], np.uint16), y=np.array([4, 6], np.uint16), t=np.array([0, 1]), p=np.array([1, 0])
    )
    events = debug_image(Frame(events=ev, size=(10, 12), timestamp=0.0), None, "lost")
    assert tuple(events[4, 3]) == (255, 0, 0) and tuple(events[6, 5]) == (0, 0, 255) and events.sum() == 510
    msg = image_msg(image, Header(frame_id="cam"))
    assert (msg.height, msg.width, msg.encoding, msg.step) == (H, W, "rgb8", 3 * W)
    assert stamp_to_seconds(Time(sec=2, nanosec=500_000_000)) == 2.5
