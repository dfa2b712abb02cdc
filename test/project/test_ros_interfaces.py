"""The interface packages built from interfaces/ import, travel over real DDS and match upstream layouts."""

from __future__ import annotations

import time

import pytest
from builtin_interfaces.msg import Time
from event_camera_msgs.msg import EventPacket
from mamba_tracking_msgs.msg import FrameSet, TrackStatus
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from sensor_msgs.msg import Image
from vision_msgs.msg import (
    BoundingBox2D,
    Detection2D,
    Detection2DArray,
    ObjectHypothesis,
    ObjectHypothesisWithPose,
    Point2D,
    Pose2D,
)

# Field layouts as the upstream packages define them (vision_msgs 4.x ROS 2 branch, event_camera_msgs),
# written as .msg text independently of interfaces/, so a drift in our copies shows up as a mismatch.
UPSTREAM_MSG_TEXT = {
    "vision_msgs/msg/Point2D": "float64 x\nfloat64 y\n",
    "vision_msgs/msg/Pose2D": "vision_msgs/Point2D position\nfloat64 theta\n",
    "vision_msgs/msg/BoundingBox2D": "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n",
    "vision_msgs/msg/ObjectHypothesis": "string class_id\nfloat64 score\n",
    "vision_msgs/msg/ObjectHypothesisWithPose": (
        "vision_msgs/ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n"
    ),
    "vision_msgs/msg/Detection2D": (
        "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
        "vision_msgs/BoundingBox2D bbox\nstring id\n"
    ),
    "vision_msgs/msg/Detection2DArray": "std_msgs/Header header\nvision_msgs/Detection2D[] detections\n",
    "event_camera_msgs/msg/EventPacket": (
        "std_msgs/Header header\nuint32 height\nuint32 width\nuint64 seq\nuint64 time_base\n"
        "string encoding\nbool is_bigendian\nuint8[] events\n"
    ),
}

# The project's own messages as specified in the ROS package issue (names and rosidl field types).
SPEC_FIELDS = {
    TrackStatus: {
        "header": "std_msgs/Header",
        "state": "string",
        "search_mode": "string",
        "confidence": "float",
        "model_latency_ms": "float",
        "pipeline_latency_ms": "float",
        "modalities_used": "sequence<string>",
        "modalities_missing": "sequence<string>",
        "sentence": "string",
        "track_id": "string",
        "frames_processed": "uint64",
        "frames_dropped": "uint64",
        "frames_rejected": "uint64",
        "frames_lost": "uint64",
        "images_lost": "uint64",
        "commands_rejected": "uint64",
        "commands_lost": "uint64",
        "commands_applied": "uint64",
        "fps": "float",
        "input_age_s": "float",
        "message": "string",
    },
    FrameSet: {
        "header": "std_msgs/Header",
        "seq": "uint64",
        "images_lost": "uint32",
        "modalities": "sequence<string>",
        "rgb": "sensor_msgs/Image",
        "thermal": "sensor_msgs/Image",
        "has_rgb": "boolean",
        "has_thermal": "boolean",
        "has_events": "boolean",
        "event_width": "uint32",
        "event_height": "uint32",
        "events_start": "builtin_interfaces/Time",
        "events_end": "builtin_interfaces/Time",
        "event_x": "sequence<uint16>",
        "event_y": "sequence<uint16>",
        "event_t_ns": "sequence<int64>",
        "event_p": "sequence<uint8>",
        "events_dropped": "uint32",
    },
}

CLASSES = {
    "vision_msgs/msg/Point2D": Point2D,
    "vision_msgs/msg/Pose2D": Pose2D,
    "vision_msgs/msg/BoundingBox2D": BoundingBox2D,
    "vision_msgs/msg/ObjectHypothesis": ObjectHypothesis,
    "vision_msgs/msg/ObjectHypothesisWithPose": ObjectHypothesisWithPose,
    "vision_msgs/msg/Detection2D": Detection2D,
    "vision_msgs/msg/Detection2DArray": Detection2DArray,
    "event_camera_msgs/msg/EventPacket": EventPacket,
}


def _upstream_typestore():
    """A fresh rosbags Kilted typestore holding the upstream definitions above."""
    typestore = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for name, text in UPSTREAM_MSG_TEXT.items():
        types.update(get_types_from_msg(text, name))
    typestore.register(types)
    return typestore


def _spin_until(executor: SingleThreadedExecutor, done, publish, timeout_s: float = 10.0) -> None:
    """Publish and spin until `done()` or the timeout (discovery takes a few hundred ms)."""
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        publish()
        executor.spin_once(timeout_sec=0.05)


@pytest.mark.parametrize("msgtype", sorted(UPSTREAM_MSG_TEXT))
def test_upstream_field_names_and_types(msgtype: str) -> None:
    """Every vision_msgs/event_camera_msgs type has upstream's field names, order and types."""
    typestore = _upstream_typestore()
    expected = [name for name, _ in typestore.fielddefs[msgtype][1]]
    cls = CLASSES[msgtype]
    assert list(cls.get_fields_and_field_types()) == expected
    # Types: the rosbags view of the built .msg (installed share/) equals upstream's.
    from mamba_tracking_ros.ros_adapters.bags import make_typestore

    assert make_typestore().fielddefs[msgtype] == typestore.fielddefs[msgtype]


@pytest.mark.parametrize("cls", list(SPEC_FIELDS), ids=lambda c: c.__name__)
def test_project_messages_have_the_specified_fields(cls: type) -> None:
    """TrackStatus and FrameSet carry exactly the specified fields, in order, with the specified types."""
    assert cls.get_fields_and_field_types() == SPEC_FIELDS[cls]
    assert list(cls.get_fields_and_field_types()) == list(SPEC_FIELDS[cls])


def test_messages_travel_between_two_nodes_over_dds(rclpy_context) -> None:
    """Publish each built type from one node and receive it, field for field, in another (real DDS)."""
    talker = Node("rosenv_talker", context=rclpy_context)
    listener = Node("rosenv_listener", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(talker)
    executor.add_node(listener)
    try:
        frame = FrameSet()
        frame.header.stamp = Time(sec=12, nanosec=345)
        frame.header.frame_id = "cam"
        frame.modalities = ["rgb", "events"]
        frame.rgb = Image(height=2, width=3, encoding="rgb8", step=9, data=bytes(range(18)))
        frame.has_rgb = True
        frame.has_events = True
        frame.event_width, frame.event_height = 346, 260
        frame.events_start, frame.events_end = Time(sec=12, nanosec=0), Time(sec=12, nanosec=345)
        frame.event_x, frame.event_y = [0, 345, 7], [259, 0, 3]
        frame.event_t_ns = [12 * 10**9, 12 * 10**9 + 1, 12 * 10**9 + 344]
        frame.event_p = [1, 0, 1]
        frame.events_dropped = 2

        box = Detection2D(id="target")
        box.bbox.center.position.x, box.bbox.center.position.y, box.bbox.center.theta = 10.5, 20.25, 0.0
        box.bbox.size_x, box.bbox.size_y = 30.0, 40.0
        box.results = [ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id="person", score=0.75))]
        boxes = Detection2DArray(detections=[box])
        boxes.header.frame_id = "cam"

        status = TrackStatus(state="tracking", search_mode="local", confidence=0.5, sentence="the red car")
        status.modalities_used, status.modalities_missing = ["rgb"], ["thermal"]
        status.frames_processed, status.frames_dropped = 2**40, 3

        packet = EventPacket(height=260, width=346, seq=9, time_base=123, encoding="evt3", events=b"\x01\x02")

        sent = {"frames": frame, "boxes": boxes, "status": status, "events": packet}
        received: dict[str, object] = {}
        publishers = {}
        for topic, msg in sent.items():
            publishers[topic] = talker.create_publisher(type(msg), topic, 10)
            listener.create_subscription(type(msg), topic, lambda m, t=topic: received.setdefault(t, m), 10)

        def publish_all() -> None:
            for topic, msg in sent.items():
                if topic not in received:
                    publishers[topic].publish(msg)

        _spin_until(executor, lambda: len(received) == len(sent), publish_all)
        assert set(received) == set(sent), f"not received: {set(sent) - set(received)}"
        for topic, msg in sent.items():
            assert received[topic] == msg, topic  # generated __eq__ compares every field
        got = received["boxes"].detections[0]
        assert (got.bbox.center.position.x, got.bbox.size_y) == (10.5, 40.0)
        assert got.results[0].hypothesis.class_id == "person"
        assert list(received["frames"].event_t_ns) == [12 * 10**9, 12 * 10**9 + 1, 12 * 10**9 + 344]
        assert bytes(received["frames"].rgb.data) == bytes(range(18))
    finally:
        executor.shutdown()
        talker.destroy_node()
        listener.destroy_node()


def test_type_hash_on_the_wire_equals_upstream(rclpy_context) -> None:
    """The RIHS01 hash rclpy announces in the ROS graph equals the hash of the upstream definition text."""
    node = Node("rosenv_hashes", context=rclpy_context)
    try:
        typestore = _upstream_typestore()
        for index, (msgtype, cls) in enumerate(sorted(CLASSES.items())):
            topic = f"hash_probe_{index}"
            node.create_publisher(cls, topic, 1)
            infos = node.get_publishers_info_by_topic(topic)
            assert len(infos) == 1
            type_hash = infos[0].topic_type_hash
            assert type_hash.version == 1
            assert f"RIHS01_{type_hash.value.hex()}" == typestore.hash_rihs01(msgtype), msgtype
    finally:
        node.destroy_node()
