"""The sample bag: EVT 3.0 / mono encoders (round trip through the decoders) and the written rosbag2 files."""

from __future__ import annotations

import numpy as np
import pytest

from mamba_tracking_ros.codecs.event_decoding import decode_evt3, decode_mono
from mamba_tracking_ros.codecs.event_encoding import EVT3_MAX_GAP_US, encode_evt3, encode_mono

SMALL = {"n_frames": 8, "width": 192, "height": 144, "object_height": 40}


def _random_events(n: int, seed: int, span_us: int) -> tuple[np.ndarray, ...]:
    """Random events plus a burst of same-time, same-row events (vectors) and exact duplicates."""
    rng = np.random.default_rng(seed)
    x, y = rng.integers(0, 640, n), rng.integers(0, 480, n)
    t, p = np.sort(rng.integers(0, span_us, n)), rng.integers(0, 2, n)
    x[:300], y[:300], t[:300], p[:300] = np.arange(300) % 100, 7, 5, 1  # dense row: VECT_12 words, duplicates
    return x, y, np.sort(t), p


def test_evt3_round_trip_with_vectors_duplicates_and_clock_wraps():
    """decode_evt3(encode_evt3(events)) gives back every event (sorted by t, y, p, x) across 24-bit wraps."""
    x, y, t, p = _random_events(50_000, 0, 40_000_000)  # 40 s: the 24-bit us clock wraps twice
    data = encode_evt3(x, y, t, p)
    assert len(data) < 8 * len(x)  # more compact than mono
    words = np.frombuffer(data, "<u2") >> 12
    assert (words == 4).any() and (words == 2).any()  # both vector and single-event words are used
    dec, _ = decode_evt3(data)
    order = np.lexsort((x, p, y, t))
    for got, want in ((dec.x, x), (dec.y, y), (dec.t, t), (dec.p, p)):
        np.testing.assert_array_equal(got, want[order])


def test_evt3_packets_decode_with_carried_state():
    """Packets encoded separately decode in sequence with the decoder state carried (as ingest does)."""
    x, y, t, p = _random_events(20_000, 1, 5_000_000)
    state, got = None, []
    for idx in np.array_split(np.arange(x.shape[0]), 5):
        dec, state = decode_evt3(encode_evt3(x[idx], y[idx], t[idx], p[idx]), state=state)
        got.append(dec.t)
    np.testing.assert_array_equal(np.sort(np.concatenate(got)), np.sort(t))


def test_evt3_encoder_rejects_what_it_cannot_represent():
    """Out-of-range addresses, bad polarity and clock gaps beyond the rollover rule are errors."""
    with pytest.raises(ValueError, match="x"):
        encode_evt3([2048], [0], [0], [1])
    with pytest.raises(ValueError, match="polarity"):
        encode_evt3([1], [0], [0], [2])
    with pytest.raises(ValueError, match="gap"):
        encode_evt3([1, 2], [0, 0], [0, EVT3_MAX_GAP_US + 1], [1, 1])
    assert encode_evt3([], [], [], []) == b""


def test_mono_round_trip():
    """decode_mono(encode_mono(events)) gives back x, y, p and the times (us)."""
    x, y, t, p = _random_events(1000, 2, 1_000_000)
    base = 1_700_000_000_000_000_000
    dec = decode_mono(encode_mono(x, y, base + t * 1000, p, base), base)
    np.testing.assert_array_equal(dec.x, x)
    np.testing.assert_array_equal(dec.t, base // 1000 + t)
    np.testing.assert_array_equal(dec.p, p)


@pytest.fixture(scope="module", params=["mcap", "sqlite3"])
def sample(request, tmp_path_factory):
    """A small sample bag in each storage."""
    from mamba_tracking_ros.apps.sample_bag import SampleBagConfig, write_sample_bag

    cfg = SampleBagConfig(storage=request.param, **SMALL)
    return write_sample_bag(tmp_path_factory.mktemp(request.param) / "bag", cfg)


def test_sample_bag_topics_types_counts_and_order(sample):
    """Every topic with its type and count; log times in order; stamps consistent across topics."""
    from rosbags.rosbag2 import Reader

    from mamba_tracking_ros.apps.sample_bag import TOPICS
    from mamba_tracking_ros.ros_adapters.bags import make_typestore

    n = sample.config.n_frames
    expected = {
        TOPICS["rgb"]: ("sensor_msgs/msg/Image", n),
        TOPICS["thermal"]: ("sensor_msgs/msg/Image", n),
        TOPICS["events"]: ("event_camera_msgs/msg/EventPacket", n - 1),
        TOPICS["ground_truth"]: ("vision_msgs/msg/Detection2D", n),
        TOPICS["command"]: ("std_msgs/msg/String", 2),
        TOPICS["box"]: ("vision_msgs/msg/BoundingBox2D", 1),
    }
    store = make_typestore()
    with Reader(sample.path) as reader:
        suffix = {"mcap": ".mcap", "sqlite3": ".db3"}[sample.config.storage]
        assert [f.suffix for f in sample.path.iterdir() if f.suffix in (".mcap", ".db3")] == [suffix]
        got = {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}
        assert got == expected
        log_times, stamps = [], {}
        for conn, ts, data in reader.messages():
            log_times.append(ts)
            msg = store.deserialize_cdr(data, conn.msgtype)
            if hasattr(msg, "header"):
                stamps.setdefault(conn.topic, []).append(
                    msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
                )
    assert log_times == sorted(log_times)
    assert stamps[TOPICS["rgb"]] == stamps[TOPICS["thermal"]] == stamps[TOPICS["ground_truth"]]
    frame_stamps = stamps[TOPICS["rgb"]]
    assert all(b > a for a, b in zip(frame_stamps, frame_stamps[1:], strict=False))
    # each event packet starts after the previous frame and before its own frame
    for k, s in enumerate(stamps[TOPICS["events"]], start=1):
        assert frame_stamps[k - 1] <= s < frame_stamps[k]


def test_sample_bag_deserialises_with_rclpy_and_events_decode(sample):
    """rclpy reads every message; the evt3 packets decode to the events written; ground truth retargets."""
    from mamba_tracking_ros.apps.sample_bag import TOPICS
    from mamba_tracking_ros.ros_adapters.bags import read_messages

    n_events, gt_ids, sentences, state = 0, [], [], None
    for rec, msg in read_messages(sample.path):
        if rec.topic == TOPICS["events"]:
            assert msg.encoding == "evt3" and (msg.width, msg.height) == (192, 144)
            dec, state = decode_evt3(msg.events, 0, state)
            dec.check_bounds(msg.width, msg.height)
            # header stamp = ROS time of the first event (sensor clock 0 at the first frame)
            first_ns = sample.config.start_time_ns + int(dec.t[0]) * 1000
            assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == first_ns
            n_events += len(dec)
        elif rec.topic == TOPICS["ground_truth"]:
            gt_ids.append(msg.id)
            assert msg.bbox.size_x > 0 and msg.bbox.size_y > 0
        elif rec.topic == TOPICS["thermal"]:
            assert msg.encoding == "mono16" and msg.step == 2 * msg.width
        elif rec.topic == TOPICS["rgb"]:
            assert msg.encoding == "rgb8" and (msg.width, msg.height) == (192, 144)
        elif rec.topic == TOPICS["command"]:
            sentences.append(msg.data)
    assert n_events == sample.event_count > 0
    r = sample.config.retarget_at
    assert gt_ids == ["A"] * r + ["B"] * (sample.config.n_frames - r)
    assert sentences == [sample.sentence_a, sample.sentence_b] and sentences[0] != sentences[1]


def test_composited_boxes_are_exact():
    """Pixels changed by compositing lie inside the two boxes and reach each box's edges (tight boxes)."""
    from mamba_tracking_ros.apps.sample_bag import SampleBagConfig, compose_sample_scene
    from mamba_tracking_ros.data.footage import read_clip

    cfg = SampleBagConfig(**{**SMALL, "n_frames": 3})
    frames, _, _ = compose_sample_scene(cfg)
    background = read_clip(cfg.background, cfg.n_frames, size=(cfg.width, cfg.height))
    for fr, bg in zip(frames, background, strict=True):
        changed = (fr.rgb != bg).any(axis=2)
        inside = np.zeros_like(changed)
        for x, y, w, h in fr.boxes.values():
            x, y, w, h = int(x), int(y), int(w), int(h)
            inside[y : y + h, x : x + w] = True
            ys, xs = np.nonzero(changed[y : y + h, x : x + w])
            assert xs.min() <= 1 and ys.min() <= 1 and xs.max() >= w - 2 and ys.max() >= h - 2
        assert not (changed & ~inside).any()
        t = fr.thermal.astype(float)
        x, y, w, h = (int(v) for v in fr.boxes["A"])
        assert t[y + h // 3 : y + 2 * h // 3, x + w // 3 : x + 2 * w // 3].mean() > np.median(t) + 100  # warm
