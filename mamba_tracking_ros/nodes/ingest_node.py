"""ROS 2 ingest node: RGB, thermal and event inputs in, synchronised ``mamba_tracking_msgs/FrameSet`` out.

Glue only: image checks use :mod:`mamba_tracking_ros.codecs.image_conversion`, event decoding
:mod:`mamba_tracking_ros.codecs.event_decoding`, pairing and event windows
:mod:`mamba_tracking_ros.codecs.frame_sync`. Every problem with the input is logged once per reason (with the
reason's name; later occurrences are only counted in ``IngestNode.counters`` and in the periodic summary) and
the node keeps running.

Run: ``python -m mamba_tracking_ros.nodes.ingest_node --ros-args -p required_modalities:="['rgb']"``.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter, deque
from typing import Any

import numpy as np
from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import (
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_policy_name_from_kind,
)
from sensor_msgs.msg import Image

from mamba_tracking_ros.codecs.dvs_cdr import parse_dvs_event_array
from mamba_tracking_ros.codecs.event_decoding import (
    SUPPORTED_ENCODINGS,
    EventDecodeError,
    Evt3Clock,
    Evt3State,
    decode_packet,
)
from mamba_tracking_ros.codecs.frame_sync import FrameSynchronizer, SyncConfig, SyncedFrameSet
from mamba_tracking_ros.codecs.image_conversion import (
    RGB_ENCODINGS,
    THERMAL_ENCODINGS,
    ImageConversionError,
    bytes_per_pixel,
    image_to_numpy,
    numpy_to_image_fields,
    to_thermal,
)
from mamba_tracking_ros.codecs.stamps import stamp_to_ns
from mamba_tracking_ros.constants import IMAGE_MODALITIES, MODALITIES
from mamba_tracking_ros.nodes.entry_point import spin_nodes
from mamba_tracking_ros.nodes.parameters import reject_unknown_parameters

__all__ = ["PARAMETERS", "RGB_ENCODINGS", "THERMAL_ENCODINGS", "IngestNode", "main"]

EVENT_ENCODINGS: tuple[str, ...] = SUPPORTED_ENCODINGS  # what codecs.event_decoding.decode_packet decodes

_MS = 1_000_000
_WARN, _INFO, _ERROR = "warning", "info", "error"


class _StampGaps:
    """Infers images lost before the node from gaps in one input's header stamps (see docs/ros.md)."""

    HISTORY = 8  # positive stamp deltas the frame period is the median of
    MIN_DELTAS = 4  # deltas needed before any loss is inferred
    GAP_FACTOR = 1.5  # a delta longer than this many periods is a gap

    def __init__(self, jump_ns: int) -> None:
        """``jump_ns``: a stamp this far behind the newest one resets the estimate (bag loop)."""
        self._jump_ns = jump_ns
        self._deltas: deque[int] = deque(maxlen=self.HISTORY)
        self._last: int | None = None

    def push(self, stamp: int) -> tuple[int, int, int]:
        """Record one stamp; return (images lost before it, previous stamp, period ns); (0, 0, 0) if none."""
        last = self._last
        if last is None or stamp < last - self._jump_ns:  # first stamp, or a new recording: start over
            self._deltas.clear()
            self._last = stamp
            return 0, 0, 0
        delta = stamp - last
        if delta <= 0:  # duplicate or slightly out of order: the newest stamp stays the reference
            return 0, 0, 0
        self._last = stamp
        lost, period = 0, 0
        if len(self._deltas) >= self.MIN_DELTAS:
            period = int(statistics.median(self._deltas))
            if period > 0 and delta > self.GAP_FACTOR * period:
                lost = max(round(delta / period) - 1, 0)
        self._deltas.append(delta)  # gaps too: the median ignores a few, and follows a real rate change
        return lost, last, period


# name -> (type, default, description); QoS parameters are added per input below.
PARAMETERS: dict[str, tuple[int, Any, str]] = {
    "rgb_topic": (
        ParameterType.PARAMETER_STRING,
        "rgb/image_raw",
        "RGB camera input (sensor_msgs/Image).",
    ),
    "thermal_topic": (
        ParameterType.PARAMETER_STRING,
        "thermal/image_raw",
        "sensor_msgs/Image input of the thermal camera (mono8, mono16, 16UC1, 32FC1; see thermal_encodings).",
    ),
    "events_topic": (ParameterType.PARAMETER_STRING, "events", "Event camera input (see events_type)."),
    "output_topic": (ParameterType.PARAMETER_STRING, "frame_set", "mamba_tracking_msgs/FrameSet output."),
    "events_type": (
        ParameterType.PARAMETER_STRING,
        "event_packet",
        "Message type on events_topic: 'event_packet' (event_camera_msgs/EventPacket: mono, evt3, libcaer or "
        "libcaer_cmp) or 'dvs_array' (dv_ros2_msgs/EventArray, read as raw CDR bytes).",
    ),
    "modalities": (
        ParameterType.PARAMETER_STRING_ARRAY,
        list(MODALITIES),
        "Inputs to subscribe, subset of rgb, thermal, events.",
    ),
    "required_modalities": (
        ParameterType.PARAMETER_STRING_ARRAY,
        ["rgb"],
        "A frame set goes out only when all of these are there; the first image one (rgb, then thermal) is "
        "the reference clock; with only events required, sets are cut every event_period_ms.",
    ),
    "slop_ms": (ParameterType.PARAMETER_DOUBLE, 20.0, "Max stamp difference for pairing RGB and thermal."),
    "optional_wait_ms": (
        ParameterType.PARAMETER_DOUBLE,
        -1.0,
        "How long (arrival time) a ready set waits for an optional modality; < 0 means slop_ms.",
    ),
    "max_buffered_events": (
        ParameterType.PARAMETER_INTEGER,
        5_000_000,
        "Event buffer bound; beyond it the oldest events are dropped (counted as events_overflow).",
    ),
    "max_events_per_set": (
        ParameterType.PARAMETER_INTEGER,
        1_000_000,
        "Cap of events per frame set (evenly thinned above it, counted as events_window_cap); 0 = no cap.",
    ),
    "max_event_window_ms": (
        ParameterType.PARAMETER_DOUBLE,
        200.0,
        "Longest event window (first set, and after a gap); older events count as events_stale.",
    ),
    "event_period_ms": (
        ParameterType.PARAMETER_DOUBLE,
        33.0,
        "Set period when only events are required.",
    ),
    "max_queue": (
        ParameterType.PARAMETER_INTEGER,
        10,
        "Images queued per image input for pairing.",
    ),
    "stale_after_s": (
        ParameterType.PARAMETER_DOUBLE,
        1.0,
        "An input silent for this long is reported as stopped (and is not waited for).",
    ),
    "time_jump_reset_s": (
        ParameterType.PARAMETER_DOUBLE,
        0.5,
        "A stamp this far behind the newest one of its input (bag loop) resets the synchroniser.",
    ),
    "max_image_bytes": (
        ParameterType.PARAMETER_INTEGER,
        32 * 1024 * 1024,
        "Maximum frame size: an image whose data (or step * height) exceeds this many bytes is dropped "
        "(counted as <modality>_too_large, logged once as an error).",
    ),
    "thermal_encodings": (
        ParameterType.PARAMETER_STRING_ARRAY,
        ["mono8", "mono16", "16UC1", "32FC1"],
        "Thermal encodings accepted (others are rejected); may add 8UC1, 16SC1, 64FC1.",
    ),
    "thermal_nan_policy": (
        ParameterType.PARAMETER_STRING,
        "fill",
        "NaN/inf in float thermal images: 'fill' (finite minimum), 'drop' (leave thermal out), 'pass'.",
    ),
    "allow_size_mismatch": (
        ParameterType.PARAMETER_BOOL,
        False,
        "Pass thermal images whose size differs from RGB (tracker resizes); false: leave thermal out.",
    ),
    "evt3_resync_ms": (
        ParameterType.PARAMETER_DOUBLE,
        100.0,
        "evt3: re-anchor sensor time to header stamps when they disagree by more than this.",
    ),
    "poll_period_ms": (
        ParameterType.PARAMETER_DOUBLE,
        5.0,
        "Timer releasing sets after the optional wait.",
    ),
    "report_period_s": (
        ParameterType.PARAMETER_DOUBLE,
        10.0,
        "Period of the stopped-stream check and of the dropped/counted summary (when it changed).",
    ),
    "output_qos.reliability": (ParameterType.PARAMETER_STRING, "reliable", "FrameSet publisher reliability."),
    "output_qos.depth": (ParameterType.PARAMETER_INTEGER, 5, "FrameSet publisher queue depth."),
}
for _mod, _depth in (("rgb", 5), ("thermal", 5), ("events", 100)):
    PARAMETERS[f"{_mod}_qos.reliability"] = (
        ParameterType.PARAMETER_STRING,
        "best_effort",
        f"{_mod} subscription reliability: 'best_effort' (sensor-data QoS, default) or 'reliable'.",
    )
    PARAMETERS[f"{_mod}_qos.history"] = (
        ParameterType.PARAMETER_STRING,
        "keep_last",
        f"{_mod} subscription history: 'keep_last' or 'keep_all'.",
    )
    PARAMETERS[f"{_mod}_qos.depth"] = (
        ParameterType.PARAMETER_INTEGER,
        _depth,
        f"{_mod} subscription queue depth (keep_last).",
    )


class IngestNode(Node):
    """Subscribes RGB, thermal and event inputs, synchronises them by stamp, publishes FrameSet messages."""

    def __init__(self, node_name: str = "ingest_node", sibling_parameters: Any = (), **kwargs: Any) -> None:
        """Declare parameters, build the synchroniser, create subscriptions, the publisher and timers.

        ``sibling_parameters``: names another node of the same process declares (``tracking_pipeline``):
        process-wide overrides meant for it are not unknown here.
        """
        super().__init__(node_name, **kwargs)
        p = {name: self._declare(name, *spec) for name, spec in PARAMETERS.items()}
        where = "docs/ros.md (ingest node, Parameters)"
        reject_unknown_parameters(self, [*PARAMETERS, *sibling_parameters], where)
        self.counters: Counter[str] = Counter()  # every reported reason -> occurrences
        self.frame_sets_published = 0
        self._reported_sync: set[str] = set()
        self._reordered_seen = 0
        self._summary_seen: dict[str, int] = {}
        self._stopped: set[str] = set()
        self._started_ns = time.monotonic_ns()

        enabled = tuple(p["modalities"])
        required = tuple(p["required_modalities"])
        try:
            self.sync = FrameSynchronizer(
                SyncConfig(
                    enabled=enabled,
                    required=required,
                    slop_ns=int(p["slop_ms"] * _MS),
                    optional_wait_ns=None if p["optional_wait_ms"] < 0 else int(p["optional_wait_ms"] * _MS),
                    max_buffered_events=int(p["max_buffered_events"]),
                    max_events_per_set=int(p["max_events_per_set"]),
                    max_event_window_ns=int(p["max_event_window_ms"] * _MS),
                    event_period_ns=int(p["event_period_ms"] * _MS),
                    max_queue=int(p["max_queue"]),
                    stale_after_ns=int(p["stale_after_s"] * 1e9),
                    backwards_reset_ns=int(p["time_jump_reset_s"] * 1e9),
                )
            )
        except ValueError as exc:
            raise ValueError(f"ingest_node parameters: {exc}") from exc
        bad = [e for e in p["thermal_encodings"] if e not in THERMAL_ENCODINGS]
        if bad:
            raise ValueError(f"thermal_encodings: {bad} unsupported; choose from {list(THERMAL_ENCODINGS)}")
        self._thermal_encodings = tuple(p["thermal_encodings"])
        if p["thermal_nan_policy"] not in ("fill", "drop", "pass"):
            raise ValueError(
                f"thermal_nan_policy: expected fill, drop or pass, got {p['thermal_nan_policy']!r}"
            )
        self._nan_policy = p["thermal_nan_policy"]
        self._allow_size_mismatch = bool(p["allow_size_mismatch"])
        self._evt3_clock = Evt3Clock(int(p["evt3_resync_ms"] * _MS))
        self._jump_ns = int(p["time_jump_reset_s"] * 1e9)
        self._max_image_bytes = int(p["max_image_bytes"])
        if self._max_image_bytes < 1:
            raise ValueError(f"max_image_bytes: must be >= 1, got {self._max_image_bytes}")
        self._stamp_gaps = {mod: _StampGaps(self._jump_ns) for mod in IMAGE_MODALITIES}
        self._images_lost_pending = 0  # inferred lost since the previous published set (FrameSet.images_lost)
        self._evt3_state: Evt3State | None = None
        self._last_seq: int | None = None
        self._last_packet_stamp: int | None = None
        self._event_size = (0, 0)

        self.publisher = self.create_publisher(
            self._frame_set_type(),
            p["output_topic"],
            self._qos("output_qos", p),
            event_callbacks=PublisherEventCallbacks(
                incompatible_qos=lambda info: self._on_incompatible_qos(p["output_topic"], "publisher", info)
            ),
        )
        self._input_subscriptions: list[Any] = []
        for mod in IMAGE_MODALITIES:
            if mod in enabled:
                self._subscribe(
                    Image, p[f"{mod}_topic"], self._image_callback(mod), self._qos(f"{mod}_qos", p)
                )
        if "events" in enabled:
            qos = self._qos("events_qos", p)
            if p["events_type"] == "event_packet":
                from event_camera_msgs.msg import EventPacket

                self._subscribe(EventPacket, p["events_topic"], self._on_event_packet, qos)
            elif p["events_type"] == "dvs_array":
                try:
                    from dv_ros2_msgs.msg import EventArray
                except ImportError as exc:
                    raise ValueError(
                        "events_type: 'dvs_array' needs dv_ros2_msgs (build interfaces/ with "
                        f"scripts/setup_ros.sh or install the dv-ros2 driver): {exc}"
                    ) from exc
                # raw=True: CDR bytes are parsed vectorised (rclpy would build one object per event)
                self._subscribe(EventArray, p["events_topic"], self._on_dvs_array, qos, raw=True)
            else:
                raise ValueError(
                    f"events_type: {p['events_type']!r} is not supported; use 'event_packet' "
                    "(event_camera_msgs/EventPacket: mono, evt3, libcaer or libcaer_cmp) or 'dvs_array' "
                    "(dv_ros2_msgs/EventArray)"
                )
        self.create_timer(p["poll_period_ms"] / 1000.0, self._on_poll)
        self.create_timer(p["report_period_s"], self._on_report)
        self.get_logger().info(
            f"ingest_node: inputs {list(enabled)}, required {list(required)}, slop {p['slop_ms']} ms, "
            f"publishing {self.publisher.topic_name}"
        )

    # ------------------------------------------------------------------ setup helpers
    def _declare(self, name: str, ptype: int, default: Any, description: str) -> Any:
        """Declare one read-only parameter with a descriptor and return its value."""
        descriptor = ParameterDescriptor(description=description, type=ptype, read_only=True)
        return self.declare_parameter(name, default, descriptor).value

    @staticmethod
    def _frame_set_type() -> type:
        """The FrameSet message class (imported lazily so the module imports without the interfaces)."""
        from mamba_tracking_msgs.msg import FrameSet

        return FrameSet

    def _qos(self, prefix: str, p: dict[str, Any]) -> QoSProfile:
        """QoS profile from ``<prefix>.reliability``, ``.depth`` and (inputs) ``.history`` parameters."""
        reliability = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}
        history = {"keep_last": HistoryPolicy.KEEP_LAST, "keep_all": HistoryPolicy.KEEP_ALL}
        rel = p[f"{prefix}.reliability"]
        hist = p.get(f"{prefix}.history", "keep_last")
        if rel not in reliability:
            raise ValueError(f"{prefix}.reliability: expected best_effort or reliable, got {rel!r}")
        if hist not in history:
            raise ValueError(f"{prefix}.history: expected keep_last or keep_all, got {hist!r}")
        depth = int(p[f"{prefix}.depth"])
        if depth < 1:
            raise ValueError(f"{prefix}.depth: must be >= 1, got {depth}")
        return QoSProfile(reliability=reliability[rel], history=history[hist], depth=depth)

    def _subscribe(
        self, msg_type: type, topic: str, callback: Any, qos: QoSProfile, raw: bool = False
    ) -> None:
        """Create a subscription that reports an incompatible publisher QoS as a warning."""
        events = SubscriptionEventCallbacks(
            incompatible_qos=lambda info: self._on_incompatible_qos(topic, "subscription", info)
        )
        self._input_subscriptions.append(
            self.create_subscription(msg_type, topic, callback, qos, event_callbacks=events, raw=raw)
        )

    def _on_incompatible_qos(self, topic: str, side: str, info: Any) -> None:
        """Warn (once per topic and policy) when a peer's QoS cannot match ours: nothing would flow."""
        policy = qos_policy_name_from_kind(info.last_policy_kind)
        self._report(
            f"incompatible_qos_{topic}_{policy}",
            f"{side} on '{topic}': a peer with incompatible QoS ({policy}) was found "
            f"({info.total_count} so far); no messages will flow between them. Check '*_qos.*' parameters "
            "(sensor drivers usually publish best_effort; a reliable subscription cannot receive those).",
            _WARN,
        )

    # ------------------------------------------------------------------ reporting
    def _report(self, reason: str, text: str, level: str = _WARN, count: int = 1) -> None:
        """Count ``reason`` (``count`` times); log it the first time only (later: the periodic summary)."""
        first = self.counters[reason] == 0
        self.counters[reason] += count
        if not first:
            return
        line = f"[{reason}] {text} (logged once; further occurrences are counted)"
        # one call site per severity: rclpy refuses a severity change at the same call site
        if level == _ERROR:
            self.get_logger().error(line)
        elif level == _WARN:
            self.get_logger().warning(line)
        else:
            self.get_logger().info(line)

    def _report_sync(self) -> None:
        """Log each new drop reason and reset notice of the synchroniser once."""
        for notice in self.sync.pop_notices():
            self._report("time_backwards", notice, _WARN)
        if self.sync.reordered_events > self._reordered_seen:
            n = self.sync.reordered_events - self._reordered_seen
            self._reordered_seen = self.sync.reordered_events
            self._report(
                "events_out_of_order", f"{n} events arrived out of time order; they were sorted in", _WARN
            )
        for reason in self.sync.dropped:
            if reason not in self._reported_sync:
                self._reported_sync.add(reason)
                self.get_logger().warning(
                    f"[{reason}] synchroniser dropped data: {self.sync.dropped[reason]} so far "
                    "(logged once; see the periodic summary)"
                )

    def _on_report(self) -> None:
        """Report stopped/resumed inputs and a summary of counts when they changed."""
        now = time.monotonic_ns()
        ages = self.sync.stream_ages(now)
        stale = set(self.sync.stale_streams(now))
        for mod in sorted(stale - self._stopped):
            age = ages[mod]
            if age is None:  # never seen: say so once, after the stale time has passed since start
                if now - self._started_ns > self.sync.config.stale_after_ns:
                    self._report(f"stream_waiting_{mod}", f"{mod}: no message received yet", _WARN)
                continue
            self.get_logger().warning(
                f"[stream_stopped] {mod}: no message for {age:.1f} s; frame sets go out without it"
            )
        stale = {m for m in stale if ages[m] is not None}
        for mod in sorted(self._stopped - stale):
            self.get_logger().info(f"[stream_resumed] {mod}: messages arrive again")
        self._stopped = stale
        summary = dict(self.counters) | {f"sync:{k}": v for k, v in self.sync.dropped.items()}
        if summary != self._summary_seen:
            self._summary_seen = summary
            self.get_logger().info(f"counts since start: {summary}")

    def stream_ages(self) -> dict[str, float | None]:
        """Seconds since each input last delivered a message (None: never), for status reporting."""
        return self.sync.stream_ages(time.monotonic_ns())

    # ------------------------------------------------------------------ images
    def _image_callback(self, modality: str) -> Any:
        """A subscription callback bound to one image modality."""
        return lambda msg: self._on_image(modality, msg)

    def _on_image(self, modality: str, msg: Image) -> None:
        """Validate one image, fix what policy allows, queue it for pairing and publish completed sets."""
        now = time.monotonic_ns()
        self._count_lost_images(modality, stamp_to_ns(msg.header.stamp))
        size = len(msg.data)
        if size > self._max_image_bytes:
            self._report(
                f"{modality}_too_large",
                f"{modality}: {msg.width}x{msg.height} {msg.encoding} image of {size} bytes exceeds "
                f"max_image_bytes ({self._max_image_bytes}); image dropped (raise max_image_bytes if frames "
                "this large are intended; see docs/ros.md)",
                _ERROR,
            )
            return
        enc = msg.encoding
        allowed = RGB_ENCODINGS if modality == "rgb" else self._thermal_encodings
        if enc not in allowed:
            self._report(
                f"{modality}_bad_encoding",
                f"{modality}: image encoding {enc!r} is not accepted (accepted: {', '.join(allowed)}); "
                "image dropped",
                _ERROR,
            )
            return
        try:
            arr = image_to_numpy(msg.height, msg.width, enc, msg.is_bigendian, msg.step, msg.data)
        except ImageConversionError as exc:
            self._report(f"{modality}_malformed", f"{modality}: malformed image dropped: {exc}", _ERROR)
            return
        packed = msg.width * bytes_per_pixel(enc)
        if msg.step > packed:
            self._report(
                f"{modality}_row_padding",
                f"{modality}: rows are padded (step {msg.step} > width * bytes_per_pixel = {packed}); "
                "accepted and passed on unchanged (consumers decode with step)",
                _INFO,
            )
        if msg.is_bigendian and arr.dtype.itemsize > 1:
            self._report(
                f"{modality}_big_endian",
                f"{modality}: big-endian {enc} image; accepted and passed on unchanged (is_bigendian=1)",
                _INFO,
            )
        if modality == "thermal" and arr.dtype.kind == "f":
            msg = self._thermal_nan(msg, arr)
            if msg is None:
                return
        self._publish(self.sync.push_image(modality, stamp_to_ns(msg.header.stamp), msg, now))

    def _count_lost_images(self, modality: str, stamp: int) -> None:
        """Infer images lost before the node (driver, DDS) from this input's stamp gaps; count and log them.

        Every received image counts as arrived, also one the node drops itself (that has its own reason).
        """
        lost, previous, period = self._stamp_gaps[modality].push(stamp)
        if not lost:
            return
        self._images_lost_pending += lost
        self._report(
            f"{modality}_images_lost",
            f"{modality}: {lost} image{'s' if lost > 1 else ''} missing between stamps "
            f"{previous / 1e9:.3f} and {stamp / 1e9:.3f} (frame period ~{period / _MS:.0f} ms): lost in the "
            "driver or in DDS (large best-effort images?, see docs/ros.md)",
            _WARN,
            count=lost,
        )

    def _thermal_nan(self, msg: Image, arr: np.ndarray) -> Image | None:
        """Apply ``thermal_nan_policy`` to a float thermal image with NaN/inf; None drops it."""
        finite = np.isfinite(arr)
        if finite.all():
            return msg
        bad = arr.size - int(np.count_nonzero(finite))
        text = f"thermal: {bad} of {arr.size} pixels are NaN/inf in a {msg.encoding} image"
        if self._nan_policy == "pass":
            self._report("thermal_nan", f"{text}; passed on (thermal_nan_policy=pass)", _WARN)
            return msg
        if self._nan_policy == "drop":
            self._report("thermal_nan", f"{text}; thermal dropped (thermal_nan_policy=drop)", _WARN)
            return None
        try:
            filled = to_thermal(arr, msg.encoding, nan_policy="fill")
        except ImageConversionError as exc:
            self._report("thermal_all_nan", f"{text}; nothing to fill with ({exc}); thermal dropped", _ERROR)
            return None
        self._report("thermal_nan", f"{text}; filled with the finite minimum (policy fill)", _WARN)
        out = Image(header=msg.header, **numpy_to_image_fields(filled, "32FC1"))
        return out

    # ------------------------------------------------------------------ events
    def _on_event_packet(self, msg: Any) -> None:
        """Decode an EventPacket (mono, evt3, libcaer, libcaer_cmp) to ROS-time events and buffer them."""
        now = time.monotonic_ns()
        stamp = stamp_to_ns(msg.header.stamp)
        if self._last_packet_stamp is not None and stamp < self._last_packet_stamp - self._jump_ns:
            self._evt3_state, self._evt3_clock.offset_ns, self._last_seq = None, None, None  # new recording
        self._last_packet_stamp = stamp
        seq = int(msg.seq)
        if self._last_seq is not None and seq > self._last_seq + 1:
            self._report(
                "events_packet_gap",
                f"events: packet seq jumped from {self._last_seq} to {seq} ({seq - self._last_seq - 1} lost)",
                _WARN,
            )
        self._last_seq = seq
        enc = msg.encoding
        if enc not in EVENT_ENCODINGS:
            self._report(
                "events_bad_encoding",
                f"events: encoding {enc!r} is not supported (supported: {', '.join(EVENT_ENCODINGS)}); "
                "packet dropped",
                _ERROR,
            )
            return
        width, height = int(msg.width), int(msg.height)
        if not self._valid_event_size(width, height, "packet"):
            return
        if len(msg.events) == 0:
            self._event_size = (width, height)
            self._report("events_empty", "events: empty packet (no event bytes); ignored", _INFO)
            self._publish(self.sync.push_events(*([np.empty(0, np.int64)] * 4), now))
            return
        # time base (upstream rules): mono = header stamp + each event's offset; libcaer = time_base (host
        # time of the sensor clock, libcaer_driver) + each event's us; evt3 = the sensor clock, anchored below
        base = stamp if enc == "mono" else int(msg.time_base)
        state = self._evt3_state if enc == "evt3" else None
        try:
            dec, state = decode_packet(
                enc, msg.events, base, bool(msg.is_bigendian), width, height, state, check_bounds=False
            )
        except EventDecodeError as exc:
            self._report("events_malformed", f"events: malformed {enc} packet dropped: {exc}", _ERROR)
            return
        t_ns = dec.t * 1000
        if enc == "evt3":
            self._evt3_state = state
            t_ns = self._evt3_to_ros(t_ns, stamp)
        self._event_size = (width, height)
        self._push_decoded(t_ns, dec.x, dec.y, dec.p, width, height, now)

    def _on_dvs_array(self, raw: bytes) -> None:
        """Parse a serialised dv_ros2_msgs/EventArray (event times are absolute ROS time) and buffer it."""
        now = time.monotonic_ns()
        try:
            arr = parse_dvs_event_array(raw)
        except EventDecodeError as exc:
            self._report("events_malformed", f"events: malformed dvs event array dropped: {exc}", _ERROR)
            return
        if not self._valid_event_size(arr.width, arr.height, "event array"):
            return
        self._event_size = (arr.width, arr.height)
        if not len(arr.x):
            self._report("events_empty", "events: empty event array; ignored", _INFO)
            self._publish(self.sync.push_events(*([np.empty(0, np.int64)] * 4), now))
            return
        self._push_decoded(arr.t_ns, arr.x, arr.y, arr.p, arr.width, arr.height, now)

    def _valid_event_size(self, width: int, height: int, what: str) -> bool:
        """False (counted as events_zero_size, logged once) for a 0 sensor width or height: dropped whole."""
        if width > 0 and height > 0:
            return True
        kept = f"{self._event_size[0]}x{self._event_size[1]}" if self._event_size[0] else "none yet"
        self._report(
            "events_zero_size",
            f"events: sensor size {width}x{height} is not a valid sensor size; {what} dropped "
            f"(the last valid size is kept: {kept}; frame sets keep their images)",
            _ERROR,
        )
        return False

    def _push_decoded(
        self, t_ns: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray, width: int, height: int, now: int
    ) -> None:
        """Drop events outside the sensor (counted), then buffer the rest and publish completed sets."""
        if width and height and len(x):
            inside = (x < width) & (y < height)
            n_out = int(inside.size - np.count_nonzero(inside))
            if n_out:
                self._report(
                    "events_out_of_bounds",
                    f"events: {n_out} events outside the {width}x{height} sensor dropped",
                    _WARN,
                )
                x, y, p, t_ns = x[inside], y[inside], p[inside], t_ns[inside]
        self._publish(self.sync.push_events(t_ns, x, y, p, now))

    def _evt3_to_ros(self, sensor_ns: np.ndarray, stamp: int) -> np.ndarray:
        """Map evt3 sensor time to ROS time (codecs.event_decoding.Evt3Clock); a re-anchor is reported."""
        t_ns, resynced = self._evt3_clock.to_ros(sensor_ns, stamp)
        if resynced:
            self._report(
                "evt3_clock_resync",
                f"events: evt3 sensor time drifted more than {self._evt3_clock.resync_ns / 1e6:.0f} ms from "
                "header stamps; re-anchored",
                _WARN,
            )
        return t_ns

    # ------------------------------------------------------------------ output
    def _on_poll(self) -> None:
        """Timer: release sets that waited long enough for optional inputs."""
        self._publish(self.sync.poll(time.monotonic_ns()))

    def _publish(self, sets: list[SyncedFrameSet]) -> None:
        """Convert synchronised sets to FrameSet messages and publish them."""
        for fs in sets:
            msg = self._to_msg(fs)
            if msg is not None:
                msg.seq = self.frame_sets_published + 1
                msg.images_lost = min(self._images_lost_pending, 2**32 - 1)
                self.publisher.publish(msg)
                self.frame_sets_published += 1
                self._images_lost_pending = 0
        self._report_sync()

    def _to_msg(self, fs: SyncedFrameSet) -> Any:
        """Build a FrameSet message (None when a required modality had to be left out)."""
        images = dict(fs.images)
        if "rgb" in images and "thermal" in images:
            rgb, th = images["rgb"][1], images["thermal"][1]
            if (rgb.height, rgb.width) != (th.height, th.width):
                text = (
                    f"thermal {th.width}x{th.height} differs from rgb {rgb.width}x{rgb.height}"
                    " (set allow_size_mismatch:=true when the tracker resizes thermal to RGB)"
                )
                if not self._allow_size_mismatch:
                    if "thermal" in self.sync.config.required:
                        self._report("size_mismatch", f"{text}; frame set dropped", _ERROR)
                        return None
                    self._report("size_mismatch", f"{text}; thermal left out", _ERROR)
                    del images["thermal"]
                else:
                    self._report("size_mismatch", f"{text}; passed on", _INFO)
        from mamba_tracking_ros.ros_adapters.frame_set_conversion import frame_set_message

        return frame_set_message(fs, self._event_size, self.sync.config.reference, images)


def main(args: list[str] | None = None) -> int:
    """Console entry point: spin an IngestNode until Ctrl-C or shutdown (exit 0; 2 on a bad parameter)."""
    return spin_nodes("ingest_node", lambda nodes: nodes.append(IngestNode()), args)


if __name__ == "__main__":
    raise SystemExit(main())
