"""FrameSet -> Frame, TrackResult -> vision_msgs, status/diagnostics and debug image on real message types."""

from __future__ import annotations

import math

import numpy as np
import pytest
import skimage.data
from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header
from vision_msgs.msg import BoundingBox2D, Detection2D

from mamba_tracking_ros.codecs.stamps import stamp_to_seconds
from mamba_tracking_ros.ros_adapters.ros_conversion import (
    STATE_COLOURS,
    box_msg_to_xywh,
    confidence_to_score,
    debug_image,
    detection_array,
    diagnostic_array,
    fit_box_to_image,
    image_msg,
    track_result_to_detection,
    track_status,
)
from mamba_tracking_ros.tracking import EventWindow, Frame, SearchMode, TrackResult, TrackState

RGB = np.ascontiguousarray(skimage.data.astronaut()[100:220, 150:310])  # 120 x 160 real photo
H, W = RGB.shape[:2]


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
