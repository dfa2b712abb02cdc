"""rosbag2 files written and read by ``ros_adapters.bags`` (rosbags), checked against rclpy's own CDR."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from builtin_interfaces.msg import Time
from event_camera_msgs.msg import EventPacket
from mamba_tracking_msgs.msg import FrameSet, TrackStatus
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesis, ObjectHypothesisWithPose

from mamba_tracking_ros.ros_adapters.bags import (
    BagError,
    BagWriter,
    bag_topics,
    make_typestore,
    message_class,
    msgtype_of,
    rclpy_type_hash,
    read_messages,
    read_raw,
)

STORAGES = ["mcap", "sqlite3"]


def _messages(n: int) -> list[tuple[str, object]]:
    """A small real multimodal stream: images, frame sets, event packets, boxes and status, n of each."""
    out: list[tuple[str, object]] = []
    for i in range(n):
        stamp = Time(sec=100 + i, nanosec=1000 * i)
        image = Image(
            height=2, width=2, encoding="mono16", is_bigendian=0, step=4, data=bytes([i, 1, 2, 3] * 2)
        )
        image.header.stamp = stamp
        frame = FrameSet(modalities=["thermal", "events"], thermal=image, has_thermal=True, has_events=True)
        frame.header.stamp = stamp
        frame.event_width, frame.event_height = 346, 260
        frame.event_x, frame.event_y, frame.event_p = [i, 2, 3], [4, 5, 6], [1, 0, 1]
        frame.event_t_ns = [(100 + i) * 10**9 + k for k in range(3)]
        packet = EventPacket(
            height=260, width=346, seq=i, time_base=10 * i, encoding="evt3", events=bytes([i] * 8)
        )
        packet.header.stamp = stamp
        det = Detection2D(id="target")
        det.bbox.center.position.x, det.bbox.size_x = 5.0 + i, 12.5
        det.results = [ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id="car", score=0.9))]
        boxes = Detection2DArray(detections=[det])
        boxes.header.stamp = stamp
        status = TrackStatus(state="tracking", confidence=0.5 + 0.125 * i, frames_processed=i)
        status.header.stamp = stamp
        out += [
            ("/thermal/image_raw", image),
            ("/tracker/frames", frame),
            ("/events", packet),
            ("/tracker/detections", boxes),
            ("/tracker/status", status),
        ]
    return out


def _write_bag(bag: Path, sent: list[tuple[str, object]], storage: str = "mcap") -> Path:
    """Write (topic, rclpy message) pairs into a new bag at ``bag``; returns ``bag``."""
    with BagWriter(bag, storage=storage) as writer:
        for topic, msg in sent:
            writer.write(topic, msg)
    return bag


def _bag_metadata(bag: Path) -> dict:
    """The ``rosbag2_bagfile_information`` mapping of a bag's metadata.yaml."""
    return yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]


@pytest.mark.parametrize("storage", STORAGES)
def test_round_trip_through_storage(tmp_path: Path, storage: str) -> None:
    """rclpy messages written to a bag read back as identical CDR bytes and equal rclpy messages."""
    sent = _messages(3)
    bag = _write_bag(tmp_path / "bag", sent, storage)

    metadata = _bag_metadata(bag)
    assert metadata["storage_identifier"] == storage
    assert metadata["message_count"] == len(sent)
    assert bag_topics(bag) == {topic: msgtype_of(msg) for topic, msg in sent}

    records = list(read_raw(bag))
    assert len(records) == len(sent)
    # Time order: every topic keeps its own order, and timestamps never decrease.
    assert [r.timestamp_ns for r in records] == sorted(r.timestamp_ns for r in records)
    by_topic: dict[str, list] = {}
    for record in records:
        by_topic.setdefault(record.topic, []).append(record)
    for topic, msg in sent:
        record = by_topic[topic].pop(0)
        # Compare decoded messages, not bytes: rclpy leaves CDR alignment padding bytes uninitialised.
        assert deserialize_message(record.data, type(msg)) == msg
        assert len(record.data) == len(serialize_message(msg))
        assert record.timestamp_ns == msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec

    decoded = [m for _, m in read_messages(bag, topics=["/tracker/detections"])]
    assert decoded == [m for t, m in sent if t == "/tracker/detections"]


@pytest.mark.parametrize("storage", STORAGES)
def test_rclpy_decodes_what_rosbags_serialised(tmp_path: Path, storage: str) -> None:
    """Messages serialised by rosbags' CDR encoder (no rclpy) deserialise in rclpy with the same fields."""
    store = make_typestore()
    Header = store.types["std_msgs/msg/Header"]
    Stamp = store.types["builtin_interfaces/msg/Time"]
    Frame = store.types["mamba_tracking_msgs/msg/FrameSet"]
    RosImage = store.types["sensor_msgs/msg/Image"]

    def image() -> object:
        return RosImage(
            header=Header(stamp=Stamp(sec=0, nanosec=0), frame_id=""),
            height=0,
            width=0,
            encoding="",
            is_bigendian=0,
            step=0,
            data=np.zeros(0, dtype=np.uint8),
        )

    frame = Frame(
        header=Header(stamp=Stamp(sec=7, nanosec=8), frame_id="dvs"),
        modalities=["events"],
        rgb=image(),
        thermal=image(),
        has_rgb=False,
        has_thermal=False,
        has_events=True,
        event_width=640,
        event_height=480,
        events_start=Stamp(sec=7, nanosec=0),
        events_end=Stamp(sec=7, nanosec=8),
        event_x=np.array([1, 639], dtype=np.uint16),
        event_y=np.array([479, 0], dtype=np.uint16),
        event_t_ns=np.array([7 * 10**9, 7 * 10**9 + 7], dtype=np.int64),
        event_p=np.array([0, 1], dtype=np.uint8),
        events_dropped=5,
        seq=41,
        images_lost=3,
    )
    raw = bytes(store.serialize_cdr(frame, "mamba_tracking_msgs/msg/FrameSet"))
    bag = tmp_path / "bag"
    with BagWriter(bag, storage=storage) as writer:
        writer.add_topic("/frames", "mamba_tracking_msgs/msg/FrameSet")
        writer.write("/frames", raw, timestamp_ns=7 * 10**9 + 8)

    ((record, msg),) = list(read_messages(bag))
    assert record.data == raw
    assert isinstance(msg, FrameSet)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id) == (7, 8, "dvs")
    assert list(msg.event_x) == [1, 639] and list(msg.event_y) == [479, 0]
    assert list(msg.event_t_ns) == [7 * 10**9, 7 * 10**9 + 7] and list(msg.event_p) == [0, 1]
    assert (msg.event_width, msg.event_height, msg.events_dropped, msg.has_events) == (640, 480, 5, True)
    assert (msg.seq, msg.images_lost) == (41, 3)
    # And the other direction: rosbags decodes rclpy's encoding of the message to the same values.
    back = store.deserialize_cdr(serialize_message(msg), "mamba_tracking_msgs/msg/FrameSet")
    assert back.event_t_ns.tolist() == [7 * 10**9, 7 * 10**9 + 7] and back.header.frame_id == "dvs"


@pytest.mark.parametrize("storage", STORAGES)
def test_bag_records_rclpy_type_hashes(tmp_path: Path, storage: str) -> None:
    """The type hash stored per topic (metadata.yaml) is the one rclpy's generated types carry."""
    sent = _messages(1)
    metadata = _bag_metadata(_write_bag(tmp_path / "bag", sent, storage))
    hashes = {
        t["topic_metadata"]["name"]: t["topic_metadata"]["type_description_hash"]
        for t in metadata["topics_with_message_count"]
    }
    for topic, msg in sent:
        assert hashes[topic] == rclpy_type_hash(type(msg)), topic
        assert hashes[topic].startswith("RIHS01_")


def test_replay_raw_bytes_over_dds(tmp_path: Path, rclpy_context) -> None:
    """Raw CDR bytes read from a bag publish as they are and arrive as equal messages at a subscriber."""
    sent = [(t, m) for t, m in _messages(2) if t == "/tracker/detections"]
    bag = _write_bag(tmp_path / "bag", sent)

    node = Node("rosenv_replay", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    try:
        received: list[object] = []
        node.create_subscription(Detection2DArray, "/tracker/detections", received.append, 10)
        records = list(read_raw(bag))
        publisher = node.create_publisher(message_class(records[0].msgtype), records[0].topic, 10)
        deadline = time.monotonic() + 10.0
        while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        for record in records:
            publisher.publish(record.data)
        while len(received) < len(records) and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        assert received == [m for _, m in sent]
    finally:
        executor.shutdown()
        node.destroy_node()


def test_clear_errors(tmp_path: Path) -> None:
    """Bad storage names, existing paths, undeclared or missing topics and non-bags raise with a reason."""
    with pytest.raises(BagError, match="unknown bag storage"):
        BagWriter(tmp_path / "a", storage="rosbag1")
    (tmp_path / "exists").mkdir()
    with pytest.raises(BagError, match="exists already"):
        BagWriter(tmp_path / "exists")
    bag = tmp_path / "bag"
    with BagWriter(bag) as writer:
        with pytest.raises(BagError, match="undeclared topic"):
            writer.write("/raw", b"\x00\x01\x00\x00", timestamp_ns=1)
        with pytest.raises(BagError, match="not in the bag typestore"):
            writer.add_topic("/x", "nonexistent_msgs/msg/Nothing")
        writer.write("/status", TrackStatus(state="lost"), timestamp_ns=5)
        with pytest.raises(BagError, match="no header stamp"):
            writer.write("/status", b"\x00", timestamp_ns=None)
    with pytest.raises(BagError, match="not in"):
        list(read_raw(bag, topics=["/missing"]))
    with pytest.raises(FileNotFoundError):
        list(read_raw(tmp_path / "nothing"))
    with pytest.raises(BagError, match="no metadata.yaml"):
        list(read_raw(tmp_path / "exists"))
    with pytest.raises(BagError, match="malformed ROS type name"):
        message_class("Detection2D")
