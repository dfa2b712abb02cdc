"""Replay a rosbag2 through the real ingest and tracker nodes on live topics, record the outputs, score them.

How it runs: one rclpy context in this process holds three nodes, each spun by its own single-threaded
executor thread (as if each had its own process): the real
:class:`~mamba_tracking_ros.nodes.ingest_node.IngestNode`, the real lifecycle
:class:`~mamba_tracking_ros.nodes.tracker_node.TrackerNode` (configured and activated here; its inference runs
on its own worker thread) and a player/recorder node. In-process rather than subprocesses because it needs no
installed console scripts or inherited environment (the ROS wheels' bootstrapper re-executes Python with
``LD_LIBRARY_PATH``, which a scrubbed child environment loses), a failed configure (bad checkpoint) is an
exception with the reason instead of a silent child, and start-up is paid once. The messages still travel
through DDS exactly as between processes (rclpy has no intra-process transport).

The player publishes every message's raw CDR bytes on its original topic with the QoS recorded in the bag
(``String`` commands go to the tracker's ``~/command``, ``BoundingBox2D`` to its ``~/box``). The recorder
subscribes (raw) to the tracker's ``~/detection``, ``~/detections``, ``~/status`` and ``/diagnostics`` and
writes them to a new bag (receive time = wall clock, as ``ros2 bag record`` does).

Pace: ``rate > 0`` plays at recorded time scaled by ``rate`` (1 = real time; the tracker keeps only the newest
frame set, so a slow model drops frames, as on a robot). ``rate = 0`` is lock-step: after each reference
image (RGB, else thermal) and the messages that follow it up to the next image or command, the player waits
until the tracker has published the detections stamped with that image (at most ``frame_timeout_s``), so
every frame is tracked whatever the CPU; best-effort topics are then published and subscribed as reliable so
nothing is lost on the way.

Scoring: when the bag holds a ``vision_msgs/Detection2D`` ground-truth topic, the detections are matched to it
by header stamp and scored with :mod:`mamba_tracking_ros.eval.metrics` (OPE success AUC, precision at 20 px,
normalised precision at 0.2, as ``mamba-tracking eval``); a frame without a detection counts as a failure.
Frame 0 is left out when the bag initialises the track with a box.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mamba_tracking_ros.codecs.image_conversion import THERMAL_ENCODINGS, THERMAL_ONLY_ENCODINGS
from mamba_tracking_ros.codecs.stamps import stamp_to_ns
from mamba_tracking_ros.ros_adapters.bags import BagError, BagWriter, message_class

__all__ = [
    "FrameOutcome",
    "ReplayOptions",
    "ReplayResult",
    "bag_layout",
    "parse_sentence_at",
    "replay_bag",
    "write_gif",
    "write_plot",
]

_IMAGE = "sensor_msgs/msg/Image"
_EVENTS = "event_camera_msgs/msg/EventPacket"
_STRING = "std_msgs/msg/String"
_BOX = "vision_msgs/msg/BoundingBox2D"
_DET = "vision_msgs/msg/Detection2D"


@dataclass
class ReplayOptions:
    """Settings of one replay (CLI flags of ``mamba-tracking replay``)."""

    out_bag: Path | None = None
    config: str = "small"
    checkpoint: str | None = "default"  # a file, "default" (shipped weights) or None (random init)
    device: str = "auto"
    threads: int = 0
    seed: int = 0
    rate: float = 1.0
    sentences: list[tuple[float, str]] = field(default_factory=list)  # (seconds after bag start, text)
    storage: str = "mcap"
    loops: int = 1
    rgb_topic: str | None = None
    thermal_topic: str | None = None
    events_topic: str | None = None
    ground_truth_topic: str | None = None
    frame_timeout_s: float = 60.0
    discovery_timeout_s: float = 15.0
    tracker_name: str = "tracker"
    quiet: bool = False

    def __post_init__(self) -> None:
        """Validate the pace, loops and storage."""
        if not (math.isfinite(self.rate) and self.rate >= 0):
            raise ValueError(f"rate: must be >= 0 (0 = lock-step), got {self.rate}")
        if self.loops < 1:
            raise ValueError(f"loops: must be >= 1, got {self.loops}")
        if self.storage not in ("mcap", "sqlite3"):
            raise ValueError(f"storage: expected mcap or sqlite3, got {self.storage!r}")


@dataclass(frozen=True)
class FrameOutcome:
    """One reference frame of the first pass: ground truth, the tracker's output and state."""

    stamp_ns: int
    t_s: float  # seconds after the first frame
    gt: tuple[float, float, float, float] | None
    gt_id: str
    box: tuple[float, float, float, float] | None
    score: float
    state: str
    sentence: str


@dataclass
class ReplayResult:
    """Outcome of a replay: per-frame results, metrics (None without ground truth), counts and timings."""

    bag: Path
    out_bag: Path | None
    frames: list[FrameOutcome]
    metrics: dict[str, Any] | None
    recorded: dict[str, int]
    published: dict[str, int]
    sentences_sent: list[tuple[float, str]]
    sentences_seen: list[str]
    detections_per_pass: list[int]
    wall_s: float
    checkpoint: str | None
    checkpoint_note: str
    retarget_times: list[float]

    def summary(self) -> dict[str, Any]:
        """JSON-friendly summary (no per-frame list)."""
        return {
            "bag": str(self.bag),
            "out_bag": str(self.out_bag) if self.out_bag else None,
            "frames": len(self.frames),
            "frames_with_detection": sum(f.box is not None for f in self.frames),
            "metrics": self.metrics,
            "recorded": self.recorded,
            "published": self.published,
            "sentences_sent": [list(s) for s in self.sentences_sent],
            "sentences_seen": self.sentences_seen,
            "detections_per_pass": self.detections_per_pass,
            "wall_s": round(self.wall_s, 3),
            "checkpoint": self.checkpoint,
            "checkpoint_note": self.checkpoint_note,
        }


def parse_sentence_at(value: str) -> tuple[float, str]:
    """Parse ``SECONDS:TEXT`` (seconds after the bag's first message) for ``--sentence-at``."""
    head, sep, text = value.partition(":")
    try:
        seconds = float(head)
    except ValueError:
        seconds = math.nan
    if not sep or not math.isfinite(seconds) or seconds < 0 or not text.strip():
        raise ValueError(
            f"--sentence-at: expected SECONDS:TEXT with SECONDS >= 0 and a sentence, got {value!r}"
        )
    return seconds, text


@dataclass(frozen=True)
class _Msg:
    """A message to play: topic, role, log time, raw CDR bytes, header stamp (ns, 0 when none)."""

    topic: str
    msgtype: str
    role: str  # rgb, thermal, events, command, box, ground_truth, other
    log_ns: int
    data: bytes
    stamp_ns: int


def _header_stamp(data: bytes) -> int:
    """Header stamp of a message whose first field is std_msgs/Header, read from its CDR bytes."""
    order = "<" if data[1] == 1 else ">"
    sec, nsec = (
        np.frombuffer(data[4:12], dtype=f"{order}i4")[0],
        np.frombuffer(data[8:12], dtype=f"{order}u4")[0],
    )
    return int(sec) * 1_000_000_000 + int(nsec)


def bag_layout(path: str | Path, options: ReplayOptions | None = None) -> dict[str, Any]:
    """Roles of the bag's topics (rgb, thermal, events, ground_truth, command, box) and their QoS profiles."""
    from rclpy.serialization import deserialize_message
    from rosbags.rosbag2 import Reader

    options = options or ReplayOptions()
    path = Path(path)
    if not (path / "metadata.yaml").is_file():
        raise FileNotFoundError(f"no rosbag2 at {path} (no metadata.yaml)")
    reader = Reader(path)
    reader.open()
    try:
        connections = list(reader.connections)
        types = {c.topic: c.msgtype for c in connections}
        qos = {c.topic: list(getattr(c.ext, "offered_qos_profiles", []) or []) for c in connections}
        images = [c for c in connections if c.msgtype == _IMAGE]
        encodings: dict[str, str] = {}
        image_cls = message_class(_IMAGE)
        for conn in images:
            for _, _, data in reader.messages([conn]):
                encodings[conn.topic] = deserialize_message(bytes(data), image_cls).encoding
                break
    finally:
        reader.close()
    roles: dict[str, str] = {}
    for topic, enc in encodings.items():
        thermal = enc in THERMAL_ONLY_ENCODINGS or (enc in THERMAL_ENCODINGS and "thermal" in topic.lower())
        roles.setdefault("thermal" if thermal else "rgb", topic)
    for topic, msgtype in types.items():
        if msgtype == _EVENTS:
            roles.setdefault("events", topic)
        elif msgtype == _DET:
            roles.setdefault("ground_truth", topic)
    for role in ("rgb", "thermal", "events", "ground_truth"):
        chosen = getattr(options, f"{role}_topic")
        if chosen is not None:
            if chosen not in types:
                raise BagError(
                    f"--{role.replace('_', '-')}-topic {chosen}: not in {path}; it has {sorted(types)}"
                )
            roles[role] = chosen
    if "rgb" not in roles and "thermal" not in roles and "events" not in roles:
        raise BagError(f"{path}: no sensor_msgs/Image or event_camera_msgs/EventPacket topic to replay")
    return {"roles": roles, "types": types, "qos": qos}


def _rclpy_qos(profiles: Sequence[Any], reliable: bool) -> Any:
    """An rclpy QoSProfile from a bag's offered QoS (first profile), forced reliable when asked."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    depth, rel, durable = 10, ReliabilityPolicy.RELIABLE, DurabilityPolicy.VOLATILE
    if profiles:
        q = profiles[0]
        depth = max(1, int(q.depth))
        if q.reliability.name == "BEST_EFFORT":
            rel = ReliabilityPolicy.BEST_EFFORT
        if q.durability.name == "TRANSIENT_LOCAL":
            durable = DurabilityPolicy.TRANSIENT_LOCAL
    if reliable:
        rel = ReliabilityPolicy.RELIABLE
        depth = max(depth, 50)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=rel, durability=durable)


def _load_messages(path: Path, layout: dict[str, Any], sentences: Sequence[tuple[float, str]]) -> list[_Msg]:
    """All messages of the bag in log-time order with roles, plus the ``--sentence-at`` commands."""
    from rclpy.serialization import serialize_message

    from mamba_tracking_ros.ros_adapters.bags import read_raw

    role_of = {topic: role for role, topic in layout["roles"].items()}
    out = []
    for rec in read_raw(path):
        role = role_of.get(rec.topic)
        if role is None:
            role = {"std_msgs/msg/String": "command", _BOX: "box"}.get(rec.msgtype, "other")
        stamp = _header_stamp(rec.data) if role in ("rgb", "thermal", "events", "ground_truth") else 0
        out.append(_Msg(rec.topic, rec.msgtype, role, rec.timestamp_ns, rec.data, stamp))
    if not out:
        raise BagError(f"{path}: the bag holds no messages")
    start = out[0].log_ns
    string_cls = message_class(_STRING)
    for seconds, text in sentences:
        data = serialize_message(string_cls(data=text))
        # just before any message at that time, so the sentence applies to the frame at that time
        out.append(_Msg("", _STRING, "command", start + int(round(seconds * 1e9)) - 1, data, 0))
    out.sort(key=lambda m: m.log_ns)
    return out


class _Recorder:
    """Raw subscriptions on the tracker's outputs: write them to a bag and index detections and statuses."""

    def __init__(self, node: Any, topics: dict[str, str]) -> None:
        """Subscribe to ``topics`` (topic -> ROS type name)."""
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        self.topics = dict(topics)
        self.lock, self.cv = threading.Lock(), threading.Condition()
        # kept in memory and written by the caller's thread (SQLite3 objects are bound to their thread)
        self.raw: list[tuple[str, bytes, int]] = []
        self.counts: Counter[str] = Counter()
        self.detections: dict[int, list[Any]] = defaultdict(list)  # stamp -> Detection2DArray per pass
        self.statuses: dict[int, list[Any]] = defaultdict(list)
        self.status_count = 0
        # what a command's acknowledgement changes: the count of commands the tracker has taken up, or of the
        # ones it rejected before taking them up
        self.commands_applied = 0
        self.commands_rejected = 0
        self.sentences: list[str] = []
        self._classes = {t: message_class(m) for t, m in topics.items()}
        self.subs = []
        qos = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
        for topic in topics:
            self.subs.append(
                node.create_subscription(
                    self._classes[topic], topic, lambda data, t=topic: self._on(t, data), qos, raw=True
                )
            )

    def _on(self, topic: str, data: bytes) -> None:
        """Store one raw message and index it."""
        from rclpy.serialization import deserialize_message

        now = time.time_ns()
        with self.lock:
            self.counts[topic] += 1
            self.raw.append((topic, bytes(data), now))
        if topic.endswith("/detections") or topic.endswith("/status"):
            msg = deserialize_message(bytes(data), self._classes[topic])
            stamp = stamp_to_ns(msg.header.stamp)
            with self.cv:
                if topic.endswith("/detections"):
                    self.detections[stamp].append(msg)
                else:
                    self.statuses[stamp].append(msg)
                    self.status_count += 1
                    self.commands_applied = int(msg.commands_applied)
                    self.commands_rejected = int(msg.commands_rejected)
                    if msg.sentence and (not self.sentences or self.sentences[-1] != msg.sentence):
                        self.sentences.append(str(msg.sentence))
                self.cv.notify_all()

    def acknowledged(self) -> Callable[[], bool]:
        """A predicate for :meth:`wait`: true once the tracker has handled the command published now.

        TrackStatus's ``commands_applied`` grows when the tracker takes a command up (sentence, box, reset,
        relocalise, accepted or not), ``commands_rejected`` when it refuses one before that (an empty
        sentence, say). Any other status (the input-timeout one before the first frame set, say) does not
        count, so the next frame cannot overtake the command.
        """
        with self.cv:
            applied, rejected = self.commands_applied, self.commands_rejected
        return lambda: self.commands_applied > applied or self.commands_rejected > rejected

    def wait(self, predicate: Any, timeout: float) -> bool:
        """Wait until ``predicate()`` holds (checked under the condition lock) or ``timeout`` seconds pass."""
        with self.cv:
            return self.cv.wait_for(predicate, timeout=timeout)


def _ingest_parameters(layout: dict[str, Any], reliable: bool) -> list[Any]:
    """IngestNode parameter overrides: the bag's topics, the modalities present, input QoS."""
    from rclpy.parameter import Parameter

    roles = layout["roles"]
    mods = [m for m in ("rgb", "thermal", "events") if m in roles]
    required = [next(m for m in ("rgb", "thermal", "events") if m in roles)]
    params = [
        Parameter("modalities", Parameter.Type.STRING_ARRAY, mods),
        Parameter("required_modalities", Parameter.Type.STRING_ARRAY, required),
    ]
    for mod in mods:
        params.append(Parameter(f"{mod}_topic", Parameter.Type.STRING, roles[mod]))
        profiles = layout["qos"].get(roles[mod], [])
        bag_reliable = bool(profiles) and profiles[0].reliability.name == "RELIABLE"
        rel = "reliable" if (reliable or bag_reliable) else "best_effort"
        params.append(Parameter(f"{mod}_qos.reliability", Parameter.Type.STRING, rel))
        if reliable:
            params.append(Parameter(f"{mod}_qos.depth", Parameter.Type.INTEGER, 50))
    return params


def checkpoint_note(config: str, checkpoint: str | None) -> tuple[str | None, str]:
    """(resolved checkpoint path or None, a one-line note saying which weights run)."""
    from mamba_tracking_ros.model.checkpoint import DEFAULT_CHECKPOINT, checkpoint_choice, shipped_checkpoint
    from mamba_tracking_ros.model.config import load_model_config

    checkpoint = checkpoint_choice(checkpoint)
    if checkpoint is None:
        return None, "no checkpoint: the model is randomly initialised, boxes are not meaningful"
    if checkpoint == DEFAULT_CHECKPOINT:
        name = load_model_config(config).name
        path = shipped_checkpoint(name)
        if path is None:
            return None, (
                f"no trained checkpoint ships yet for config {name!r}: the model is RANDOMLY INITIALISED, so "
                "boxes and metrics are not meaningful (this run shows the pipeline end to end)"
            )
        return str(path), f"shipped checkpoint {path}"
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    return checkpoint, f"checkpoint {checkpoint}"


def _start_nodes(
    context: Any, layout: dict[str, Any], options: ReplayOptions, checkpoint: str | None, nodes: list[Any]
) -> Any:
    """Step 1: the ingest node for the bag's inputs and the tracker node (returned), configured and active.

    Each node is appended to ``nodes`` as soon as it exists: the caller destroys it whatever fails later."""
    from rclpy.parameter import Parameter

    from mamba_tracking_ros.nodes.ingest_node import IngestNode
    from mamba_tracking_ros.nodes.tracker_node import TrackerNode

    lockstep = options.rate == 0
    nodes.append(IngestNode(context=context, parameter_overrides=_ingest_parameters(layout, lockstep)))
    tracker_params = [
        Parameter("config", Parameter.Type.STRING, options.config),
        Parameter("checkpoint", Parameter.Type.STRING, checkpoint or ""),
        Parameter("device", Parameter.Type.STRING, options.device),
        Parameter("threads", Parameter.Type.INTEGER, int(options.threads)),
        Parameter("seed", Parameter.Type.INTEGER, int(options.seed)),
    ]
    if lockstep:
        tracker_params += [
            Parameter("input_qos.reliability", Parameter.Type.STRING, "reliable"),
            Parameter("input_qos.depth", Parameter.Type.INTEGER, 10),
        ]
    tracker = TrackerNode(options.tracker_name, context=context, parameter_overrides=tracker_params)
    nodes.append(tracker)
    reason = tracker.configure_and_activate()
    if reason:
        raise RuntimeError(f"tracker node did not start: {reason}")
    return tracker


def _output_topics(tracker: Any) -> dict[str, str]:
    """The tracker outputs the replay records: resolved topic -> message type."""
    return {
        tracker.resolve_topic_name("~/detection"): _DET,
        tracker.resolve_topic_name("~/detections"): "vision_msgs/msg/Detection2DArray",
        tracker.resolve_topic_name("~/status"): "mamba_tracking_msgs/msg/TrackStatus",
        "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
    }


def _make_publishers(
    player: Any, tracker: Any, messages: Sequence[_Msg], layout: dict[str, Any], lockstep: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """Step 2: one publisher per played topic (commands and boxes go to the tracker's own topics).

    Returns (publishers by topic, bag topic -> played topic)."""
    command_topic = tracker.resolve_topic_name("~/command")
    box_topic = tracker.resolve_topic_name("~/box")
    publishers: dict[str, Any] = {}
    targets: dict[str, str] = {}
    for msg in messages:
        if msg.topic in targets:
            continue
        topic = {"command": command_topic, "box": box_topic}.get(msg.role, msg.topic)
        targets[msg.topic] = topic
        if topic not in publishers:
            qos = _rclpy_qos(layout["qos"].get(msg.topic, []), reliable=lockstep)
            publishers[topic] = player.create_publisher(message_class(msg.msgtype), topic, qos)
    return publishers, targets


def _play(
    messages: Sequence[_Msg],
    publishers: dict[str, Any],
    targets: dict[str, str],
    recorder: _Recorder,
    options: ReplayOptions,
    ref_role: str | None,
    spin_error: list[BaseException],
    say: Callable[[str], None],
) -> tuple[Counter[str], list[tuple[float, str]]]:
    """Step 3: publish the bag ``loops`` times, at ``rate`` or lock-step (each frame waits for its detection).

    Returns the messages published per topic and the sentences sent (seconds from the start, text)."""
    from rclpy.serialization import deserialize_message

    lockstep = options.rate == 0
    published: Counter[str] = Counter()
    sent: list[tuple[float, str]] = []
    t0 = messages[0].log_ns
    string_cls = message_class(_STRING)
    for loop in range(options.loops):
        wall0 = time.monotonic()
        for i, msg in enumerate(messages):
            topic = targets[msg.topic]
            if not lockstep:
                delay = wall0 + (msg.log_ns - t0) / 1e9 / options.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if spin_error:
                raise RuntimeError(f"replay: the ROS executor stopped: {spin_error[0]!r}") from spin_error[0]
            text = deserialize_message(msg.data, string_cls).data if msg.role == "command" else None
            applied = recorder.acknowledged() if msg.role in ("command", "box") else None
            publishers[topic].publish(msg.data)
            published[topic] += 1
            if text is not None and loop == 0:
                sent.append((round((msg.log_ns - t0) / 1e9, 6), text))
            if not lockstep:
                continue
            if applied is not None:  # each command is acknowledged by the status of its effect
                recorder.wait(applied, 5.0)
                continue
            nxt = messages[i + 1] if i + 1 < len(messages) else None
            pending = _last_reference(messages, i, ref_role)
            if pending is not None and (nxt is None or nxt.role in (ref_role, "command", "box")):
                stamp = messages[pending].stamp_ns
                ok = recorder.wait(
                    lambda s=stamp, n=loop + 1: len(recorder.detections.get(s, ())) >= n,
                    options.frame_timeout_s,
                )
                if not ok:
                    say(
                        f"replay: no detections for the frame stamped {stamp / 1e9:.3f} s within "
                        f"{options.frame_timeout_s:.0f} s; going on"
                    )
        # let the last frame sets through before the next pass or the end
        if ref_role is not None:
            last = max(m.stamp_ns for m in messages if m.role == ref_role)
            recorder.wait(lambda s=last, n=loop + 1: len(recorder.detections.get(s, ())) >= n, 5.0)
        if not lockstep:
            time.sleep(0.3)
    return published, sent


def _write_out_bag(options: ReplayOptions, out_topics: dict[str, str], recorder: _Recorder) -> None:
    """Step 4: the recorded tracker outputs as a rosbag2 (``out_bag``)."""
    with BagWriter(options.out_bag, storage=options.storage) as writer:
        for topic, msgtype in out_topics.items():
            writer.add_topic(topic, msgtype)
        for topic, data, stamp in recorder.raw:
            writer.write(topic, data, stamp)


def replay_bag(bag: str | Path, options: ReplayOptions | None = None) -> ReplayResult:
    """Play ``bag`` through IngestNode + TrackerNode, record their outputs, score against ground truth.

    The steps: load the bag, start the nodes, make the publishers, spin, play, write the output bag, score.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    options = options or ReplayOptions()
    bag = Path(bag)
    layout = bag_layout(bag, options)
    messages = _load_messages(bag, layout, options.sentences)
    resolved, note = checkpoint_note(options.config, options.checkpoint)
    lockstep = options.rate == 0
    roles = layout["roles"]
    ref_role = "rgb" if "rgb" in roles else ("thermal" if "thermal" in roles else None)
    say = (lambda text: None) if options.quiet else (lambda text: print(text, flush=True))

    if options.out_bag is not None and Path(options.out_bag).exists():
        raise BagError(f"--out {options.out_bag} exists already; choose a new directory")
    context = rclpy.Context()
    rclpy.init(context=context)
    # One single-threaded executor per node, each in its own thread, as if each node had its own process.
    # (A shared MultiThreadedExecutor busy-waits while the tracker's inference holds its callback group,
    # rclpy issue 1223; the spinning thread then holds the GIL and each lock-step frame took seconds.)
    executors: list[Any] = []
    nodes: list[Any] = []
    spin_threads: list[threading.Thread] = []
    started = time.monotonic()
    try:
        tracker = _start_nodes(context, layout, options, resolved, nodes)
        player = rclpy.create_node("mamba_replay", context=context)
        nodes.append(player)
        out_topics = _output_topics(tracker)
        recorder = _Recorder(player, out_topics)
        publishers, targets = _make_publishers(player, tracker, messages, layout, lockstep)
        spin_error: list[BaseException] = []

        def spin(executor: Any) -> None:
            """Spin one node's executor; keep the exception that ends it (checked by the player)."""
            try:
                executor.spin()
            except BaseException as exc:  # noqa: BLE001 - reported to the caller below
                spin_error.append(exc)
                with recorder.cv:
                    recorder.cv.notify_all()

        for node in nodes:
            executor = SingleThreadedExecutor(context=context)
            executor.add_node(node)
            executors.append(executor)
            thread = threading.Thread(
                target=spin, args=(executor,), name=f"replay_{node.get_name()}", daemon=True
            )
            spin_threads.append(thread)
            thread.start()
        _wait_for_discovery(publishers, recorder, roles, options.discovery_timeout_s)
        say(
            f"replay: {bag} ({len(messages)} messages), "
            f"{'lock-step' if lockstep else f'rate {options.rate}'}; {note}"
        )
        published, sent = _play(messages, publishers, targets, recorder, options, ref_role, spin_error, say)
        time.sleep(0.2)
        wall = time.monotonic() - started
        with recorder.cv:
            detections = {k: list(v) for k, v in recorder.detections.items()}
            statuses = {k: list(v) for k, v in recorder.statuses.items()}
            seen = list(recorder.sentences)
        recorded = {t: recorder.counts[t] for t in out_topics}
    finally:
        for executor in executors:
            executor.shutdown(timeout_sec=2.0)
        for node in reversed(nodes):
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        context.try_shutdown()
        for thread in spin_threads:
            thread.join(timeout=5.0)
    if options.out_bag is not None:
        _write_out_bag(options, out_topics, recorder)
    ref_stamps = [m.stamp_ns for m in messages if m.role == ref_role] if ref_role else []
    per_pass = [sum(1 for s in ref_stamps if len(detections.get(s, ())) > p) for p in range(options.loops)]
    frames = _frame_outcomes(bag, layout, ref_stamps, detections, statuses)
    retargets = [t for t, _ in sent[1:]] if sent else []
    has_box = any(m.role == "box" for m in messages)
    metrics = _metrics(frames, bag.name, exclude_first=has_box) if "ground_truth" in roles else None
    return ReplayResult(
        bag,
        Path(options.out_bag) if options.out_bag else None,
        frames,
        metrics,
        recorded,
        dict(published),
        sent,
        seen,
        per_pass,
        wall,
        resolved,
        note,
        retargets,
    )


def _last_reference(messages: Sequence[_Msg], i: int, ref_role: str | None) -> int | None:
    """Index of the newest reference image at or before ``i`` (None when there is none)."""
    if ref_role is None:
        return None
    for j in range(i, -1, -1):
        if messages[j].role == ref_role:
            return j
        if messages[j].role in ("command", "box"):
            return None
    return None


def _wait_for_discovery(
    publishers: dict[str, Any], recorder: _Recorder, roles: dict[str, str], timeout: float
) -> None:
    """Wait until the nodes subscribe to our publishers and the tracker's outputs reach the recorder."""
    deadline = time.monotonic() + timeout
    sensor_topics = {roles[r] for r in ("rgb", "thermal", "events") if r in roles}
    needed = [p for t, p in publishers.items() if t in sensor_topics or t.endswith(("/command", "/box"))]
    while time.monotonic() < deadline:
        if all(p.get_subscription_count() > 0 for p in needed) and all(
            s.get_publisher_count() > 0 for s in recorder.subs if not s.topic_name.endswith("/detection")
        ):
            return
        time.sleep(0.05)
    missing = [p.topic_name for p in needed if p.get_subscription_count() == 0]
    raise RuntimeError(f"replay: discovery timed out after {timeout:.0f} s (no subscriber on {missing})")


def _xywh(bbox: Any) -> tuple[float, float, float, float]:
    """(x, y, w, h) of a vision_msgs/BoundingBox2D (centre + size)."""
    w, h = float(bbox.size_x), float(bbox.size_y)
    return float(bbox.center.position.x) - w / 2, float(bbox.center.position.y) - h / 2, w, h


def _frame_outcomes(
    bag: Path,
    layout: dict[str, Any],
    stamps: list[int],
    detections: dict[int, list[Any]],
    statuses: dict[int, list[Any]],
) -> list[FrameOutcome]:
    """Per reference frame (first pass): ground truth by stamp, the first detections and status of it."""
    from mamba_tracking_ros.ros_adapters.bags import read_messages

    gt: dict[int, tuple[tuple[float, float, float, float], str]] = {}
    topic = layout["roles"].get("ground_truth")
    if topic is not None:
        for _, msg in read_messages(bag, [topic]):
            s = stamp_to_ns(msg.header.stamp)
            gt.setdefault(s, (_xywh(msg.bbox), str(msg.id)))
    out = []
    seen: set[int] = set()
    for s in stamps:
        if s in seen:
            continue
        seen.add(s)
        box, score = None, math.nan
        arrays = detections.get(s, [])
        if arrays and len(arrays[0].detections):
            det = arrays[0].detections[0]
            box = _xywh(det.bbox)
            score = float(det.results[0].hypothesis.score) if len(det.results) else math.nan
        status = statuses.get(s, [None])[0]
        g = gt.get(s)
        out.append(
            FrameOutcome(
                s,
                (s - stamps[0]) / 1e9,
                g[0] if g else None,
                g[1] if g else "",
                box,
                score,
                str(status.state) if status is not None else "no_output",
                str(status.sentence) if status is not None else "",
            )
        )
    return out


def _metrics(frames: list[FrameOutcome], name: str, exclude_first: bool) -> dict[str, Any] | None:
    """OPE scores overall and per ground-truth target segment (A before the retarget, B after)."""
    from mamba_tracking_ros.eval.metrics import evaluate_sequence, iou

    rows = [f for f in frames if f.gt is not None]
    if len(rows) < 2:
        return None
    nan = (math.nan,) * 4
    pred = np.array([f.box if f.box is not None else nan for f in rows], dtype=np.float64)
    gt = np.array([f.gt for f in rows], dtype=np.float64)

    def scores(p: np.ndarray, g: np.ndarray, first: bool, label: str) -> dict[str, Any]:
        r = evaluate_sequence(p, g, name=label, exclude_first=first)
        return {
            "auc": r.auc,
            "precision_20": r.precision_20,
            "normalized_precision_20": r.normalized_precision_20,
            "scored_frames": r.num_frames,
        }

    out: dict[str, Any] = {"overall": scores(pred, gt, exclude_first, name)}
    ids = [f.gt_id for f in rows]
    for target in dict.fromkeys(ids):
        idx = np.array([i for i, t in enumerate(ids) if t == target])
        if idx.shape[0] >= 2:
            first = exclude_first and idx[0] == 0
            out[f"target_{target}"] = scores(pred[idx], gt[idx], first, f"{name}:{target}")
    with np.errstate(invalid="ignore"):
        ov = np.where(np.isfinite(pred).all(1), iou(np.nan_to_num(pred), gt), 0.0)
    out["mean_iou"] = float(ov[1:].mean()) if exclude_first else float(ov.mean())
    out["frames_with_detection"] = int(np.isfinite(pred).all(1).sum())
    out["frames"] = len(rows)
    return out


def write_plot(result: ReplayResult, path: str | Path) -> Path:
    """IoU and confidence over time with the retarget sentences marked (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mamba_tracking_ros.eval.metrics import iou

    t = np.array([f.t_s for f in result.frames])
    score = np.array([f.score for f in result.frames])
    ious = np.array(  # a frame without a detection scores IoU 0 (as in the metrics), without ground truth NaN
        [
            np.nan if f.gt is None else (float(iou([f.box], [f.gt])[0]) if f.box is not None else 0.0)
            for f in result.frames
        ]
    )
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=110)
    ax.plot(t, ious, "-o", ms=2.5, label="IoU with ground truth")
    ax.plot(t, score, "-", label="confidence (Detection2D score)")
    for i, rt in enumerate(result.retarget_times):
        ax.axvline(rt, color="k", ls="--", lw=1)
        ax.text(
            rt, 1.02, f"retarget: {result.sentences_sent[i + 1][1]!r}", fontsize=7, ha="left", va="bottom"
        )
    ax.set_xlabel("time since first frame (s)")
    ax.set_ylim(-0.05, 1.1)
    ax.legend(loc="lower left", fontsize=7)
    ax.set_title(f"{result.bag.name}: {result.checkpoint_note[:90]}", fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_gif(result: ReplayResult, path: str | Path, scale: float = 0.5, fps: float = 10.0) -> Path:
    """Annotated GIF of the replay: RGB (or thermal) frames, ground truth (white) and the tracker's box."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    from mamba_tracking_ros.codecs.image_conversion import COLOUR_ENCODINGS, image_to_numpy, to_rgb8
    from mamba_tracking_ros.ros_adapters.bags import read_messages

    layout = bag_layout(result.bag)
    topic = layout["roles"].get("rgb") or layout["roles"].get("thermal")
    if topic is None:
        raise ValueError("gif: the bag has no image topic to draw on")
    colours = {"tracking": (0, 255, 0), "relocalising": (255, 200, 0), "lost": (255, 0, 0)}
    by_stamp = {f.stamp_ns: f for f in result.frames}
    images = []
    for _, msg in read_messages(result.bag, [topic]):
        s = stamp_to_ns(msg.header.stamp)
        f = by_stamp.get(s)
        if f is None:
            continue
        arr = image_to_numpy(msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step, msg.data)
        if msg.encoding in COLOUR_ENCODINGS:
            rgb = to_rgb8(arr, msg.encoding)
        else:
            a = arr.astype(np.float64)
            lo, hi = np.percentile(a, (1, 99))
            g = np.clip((a - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)
            rgb = np.repeat(g[..., None], 3, axis=2)
        img = PILImage.fromarray(rgb).resize((int(msg.width * scale), int(msg.height * scale)))
        draw = ImageDraw.Draw(img)
        for box, colour, width in (
            (f.gt, (255, 255, 255), 1),
            (f.box, colours.get(f.state, (160, 160, 160)), 2),
        ):
            if box is not None:
                x, y, w, h = (v * scale for v in box)
                draw.rectangle([x, y, x + w, y + h], outline=colour, width=width)
        text = f"{f.t_s:5.2f}s {f.state} {f.score:+.2f}"
        draw.rectangle([0, 0, img.width, 24], fill=(0, 0, 0))
        draw.text((3, 1), text, fill=(255, 255, 255))
        draw.text((3, 12), f.sentence[:60], fill=(255, 255, 0))
        images.append(img)
    if not images:
        raise ValueError("gif: no frame of the replay matched an image in the bag")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path
