"""Replay of a real sample bag through the real ingest and tracker nodes (rclpy, DDS, rosbag2 files)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_model import write_tiny_yaml

from mamba_tracking_ros.apps.replay import ReplayOptions, parse_sentence_at, replay_bag
from mamba_tracking_ros.apps.sample_bag import TOPICS, SampleBagConfig, write_sample_bag
from mamba_tracking_ros.cli.main import main


@pytest.fixture(scope="module")
def bag_and_config(tmp_path_factory):
    """A 10-frame 192x144 sample bag and a tiny model config YAML."""
    root = tmp_path_factory.mktemp("replay")
    info = write_sample_bag(
        root / "sample", SampleBagConfig(n_frames=10, width=192, height=144, object_height=40)
    )
    path = write_tiny_yaml(root / "tiny.yaml")
    return info, str(path), root


def test_lockstep_replay_records_scores_retargets_and_survives_a_loop(bag_and_config, single_thread):
    """Every frame tracked in both passes (time jumps back between them); outputs recorded and stamped like
    the inputs; metrics computed against the ground truth; the midway sentence reaches the tracker."""
    from mamba_tracking_ros.ros_adapters.bags import bag_topics, read_messages

    info, config, root = bag_and_config
    out = root / "out_sqlite"
    result = replay_bag(
        info.path,
        ReplayOptions(
            out_bag=out, config=config, checkpoint=None, rate=0, loops=2, threads=1, storage="sqlite3"
        ),
    )
    n = info.config.n_frames
    assert result.detections_per_pass == [n, n]  # the second pass (stamps went back) is tracked too
    assert result.published[TOPICS["rgb"]] == 2 * n
    # the recorded bag: detection arrays stamped exactly like the RGB frames, one per frame and pass
    assert bag_topics(out)["/tracker/detections"] == "vision_msgs/msg/Detection2DArray"
    rgb_stamps = [r.timestamp_ns - 2000 for r, _ in read_messages(info.path, [TOPICS["rgb"]])]
    det_stamps = [
        m.header.stamp.sec * 10**9 + m.header.stamp.nanosec
        for _, m in read_messages(out, ["/tracker/detections"])
    ]
    assert sorted(det_stamps) == sorted(rgb_stamps * 2)
    statuses = [m for _, m in read_messages(out, ["/tracker/status"])]
    assert len(statuses) >= 2 * n
    # lock-step loses nothing on the way: every frame's status lists all three of the bag's modalities,
    # except the run's very first frame set (the synchroniser does not wait for a stream it has never seen)
    stamped = [s for s in statuses if s.header.stamp.sec * 10**9 + s.header.stamp.nanosec in set(rgb_stamps)]
    assert len(stamped) == 2 * n
    assert [list(s.modalities_used) for s in stamped[1:]] == [["rgb", "thermal", "events"]] * (2 * n - 1)
    # metrics like `mamba-tracking eval`, over the frames matched by stamp
    m = result.metrics
    assert m is not None and m["frames"] == n
    for key in ("auc", "precision_20", "normalized_precision_20"):
        assert 0.0 <= m["overall"][key] <= 100.0
    assert m["overall"]["scored_frames"] == n - 1  # frame 0 (box init) left out
    assert set(m) >= {"target_A", "target_B"}
    assert result.frames[0].box is not None and np.allclose(result.frames[0].box, result.frames[0].gt)
    # the retarget sentence was delivered: the tracker reports it from the retarget frame on
    r = info.config.retarget_at
    assert [f.sentence for f in result.frames] == [info.sentence_a] * r + [info.sentence_b] * (n - r)
    assert result.sentences_seen[:2] == [info.sentence_a, info.sentence_b]


def test_replay_cli_sentence_at_gif_plot_and_json(bag_and_config, tmp_path, capsys, single_thread):
    """`mamba-tracking replay --sentence-at` sends an extra sentence at that time; outputs are written."""
    info, config, _ = bag_and_config
    args = [
        "replay", str(info.path), "--out", str(tmp_path / "out"), "--config", config, "--checkpoint", "none",
        "--rate", "0", "--threads", "1", "--sentence-at", "0.2:the person walking",
        "--gif", str(tmp_path / "t.gif"), "--plot", str(tmp_path / "t.png"),
        "--json", str(tmp_path / "s.json"),
    ]  # fmt: skip
    assert main(args) == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert [0.2, "the person walking"] in summary["sentences_sent"]
    assert "the person walking" in summary["sentences_seen"]
    assert summary["frames"] == info.config.n_frames and summary["metrics"] is not None
    from PIL import Image

    with Image.open(tmp_path / "t.gif") as gif:
        assert gif.n_frames == info.config.n_frames
    assert (tmp_path / "t.png").stat().st_size > 1000
    assert "metrics: AUC" in capsys.readouterr().out


def test_replay_rejects_bad_input(tmp_path, capsys):
    """A missing bag and a malformed --sentence-at are one-line errors."""
    assert main(["replay", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err
    with pytest.raises(ValueError, match="SECONDS:TEXT"):
        parse_sentence_at("soon:go")
    with pytest.raises(ValueError, match="rate"):
        ReplayOptions(rate=-1)


def test_lockstep_waits_for_the_command_not_for_any_status(rclpy_context) -> None:
    """A command counts as handled only when a status shows one more command taken up (commands_applied) or
    rejected; the input-timeout status that a slow tracker publishes meanwhile does not let the next frame
    overtake the command (seen under load: the box applied one frame late)."""
    import rclpy
    from rclpy.serialization import serialize_message

    from mamba_tracking_ros.apps.replay import _Recorder
    from mamba_tracking_ros.ros_adapters.bags import message_class

    status_type = "mamba_tracking_msgs/msg/TrackStatus"
    status_cls = message_class(status_type)
    node = rclpy.create_node("replay_ack_probe", context=rclpy_context)
    try:
        recorder = _Recorder(node, {"/tracker/status": status_type})

        def status(applied: int, rejected: int = 0, state: str = "waiting_for_target") -> None:
            """Feed one TrackStatus through the recorder's raw-message callback."""
            msg = status_cls(state=state, commands_applied=applied, commands_rejected=rejected)
            recorder._on("/tracker/status", serialize_message(msg))

        status(0)
        box = recorder.acknowledged()
        status(0, state="no_input")  # the input timeout, not the box
        assert not box()
        status(1)  # the box taken up
        assert box()
        sentence = recorder.acknowledged()
        status(1, rejected=1)  # refused at the topic: the reject count grows
        assert sentence()
        relocalise = recorder.acknowledged()  # keeps the target and its id: only the count tells
        status(1, rejected=1, state="relocalising")
        assert not relocalise()
        status(2, rejected=1, state="relocalising")
        assert relocalise()
    finally:
        node.destroy_node()
