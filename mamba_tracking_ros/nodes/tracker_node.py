"""ROS 2 lifecycle node running the language-steered multimodal tracker on ``mamba_tracking_msgs/FrameSet``.

Lifecycle: *configure* loads the model (a missing or corrupt checkpoint logs the reason and the transition
FAILS; the node stays unconfigured and can be configured again), *activate* creates the subscriptions and
starts the inference worker, *deactivate* removes them (the track is kept), *cleanup* drops the model and the
track. The constructor leaves the node unconfigured: ``tracker_node`` / ``tracking_pipeline`` (their
``main()``) configure and activate it when ``autostart:=true``; the launch file drives the transitions itself
(``LifecycleNode`` action: configure, then activate), as a lifecycle manager would.

Freshness: the frame-set callback only stores the message in a depth-1 "latest" slot; a worker thread takes
the newest frame set, runs :class:`~mamba_tracking_ros.tracking.Tracker` (which keeps its SSM and confidence
memory between frames) and publishes. A frame set that is replaced in the slot before the worker took it is
dropped and counted (``TrackStatus.frames_dropped``); stale frame sets are never queued.

Commands: ``~/command`` (``std_msgs/String``): a sentence retargets the tracker (MVLM: the new target is found
by global relocalisation); the reserved words ``reset`` (forget the target) and ``relocalise`` /
``relocalize`` (keep the target, forget the temporal memory and search the whole image) are commands.
``~/box`` (``vision_msgs/BoundingBox2D``, pixels of the reference image) (re)initialises the track on the next
frame set.
``~/reset`` (``std_srvs/Trigger``) forgets the target; ``~/set_target`` (``mamba_tracking_msgs/SetTarget``)
sets a sentence, a box or both and answers whether the target was accepted. Every command and its effect is
logged. Detection2D.id is ``track_id-N``; N grows whenever the target changes (sentence, box, reset).

Outputs: ``~/detection`` (``vision_msgs/Detection2D``, only while the target is tracked or being relocalised),
``~/detections`` (``vision_msgs/Detection2DArray``, every processed frame set, empty without a target), both
stamped with the input frame set's header; ``~/status`` (``mamba_tracking_msgs/TrackStatus``, every processed
frame set, every command, and every ``status_period_s`` while no frame set arrives); ``/diagnostics``;
optional ``~/debug_image``. Bad input is logged once (per kind, then at most once per
``bad_input_log_period_s`` with a count) and the node keeps going.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSPolicyKind,
    QoSProfile,
    ReliabilityPolicy,
)

from mamba_tracking_ros.codecs.stamps import stamp_to_ns, stamp_to_text
from mamba_tracking_ros.constants import MODALITIES, TrackState
from mamba_tracking_ros.nodes.entry_point import spin_nodes
from mamba_tracking_ros.nodes.parameters import reject_unknown_parameters

#: Words on ``~/command`` that are commands, not sentences (compared after strip() and lower()).
RESERVED_COMMANDS: dict[str, str] = {
    "reset": "forget the target (box, sentence, templates, memory) and wait for a new one",
    "relocalise": "keep the target, forget the temporal memory and search the whole image",
    "relocalize": "same as relocalise",
}

_RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}
_DURABILITY = {"volatile": DurabilityPolicy.VOLATILE, "transient_local": DurabilityPolicy.TRANSIENT_LOCAL}
_UC3 = ("bgr", "rgb")
_NAN_POLICIES = ("fill", "raise")
_STATES_WITH_DETECTION = (TrackState.TRACKING.value, TrackState.RELOCALISING.value)
MODALITY_ORDER = MODALITIES
WAITING_MESSAGE = "waiting for target: publish a sentence on ~/command or a box on ~/box"


@dataclass(frozen=True)
class _Param:
    """One node parameter: default, description and optional range / choices."""

    default: Any
    description: str
    choices: tuple[str, ...] = ()
    int_range: tuple[int, int] | None = None
    float_range: tuple[float, float] | None = None


#: Every node parameter (documented in README; defaults in config/tracker_node.yaml).
PARAMETERS: dict[str, _Param] = {
    "config": _Param("small", "model/tracker config: a name in config/ ('small', 'base') or a YAML path"),
    "checkpoint": _Param(
        "default",
        "checkpoint file; 'default' = the weights shipped for `config`; '' or 'none' = random init (testing)",
    ),
    "device": _Param("auto", "torch device: 'auto' (cuda when present, else cpu), 'cpu', 'cuda', 'cuda:1'"),
    "threads": _Param(0, "torch CPU threads (0 = torch default)", int_range=(0, 256)),
    "seed": _Param(0, "torch seed applied before the model is built (reproducible random init)"),
    "autostart": _Param(False, "configure and activate at start (no lifecycle manager needed)"),
    "frame_set_topic": _Param("frame_set", "input mamba_tracking_msgs/FrameSet topic"),
    "input_qos.reliability": _Param("best_effort", "input QoS reliability", choices=tuple(_RELIABILITY)),
    "input_qos.durability": _Param("volatile", "input QoS durability", choices=tuple(_DURABILITY)),
    "input_qos.depth": _Param(1, "input QoS history depth (keep last)", int_range=(1, 100)),
    "uc3_order": _Param("bgr", "channel order assumed for 8UC3 RGB images", choices=_UC3),
    "thermal_nan_policy": _Param(
        "fill",
        "NaN/inf pixels of float thermal images: fill with the minimum or reject",
        choices=_NAN_POLICIES,
    ),
    "initial_sentence": _Param("", "sentence set at configure ('' = none; wait for ~/command or ~/box)"),
    "max_sentence_chars": _Param(
        512, "longer sentences are rejected (the encoder would silently truncate them)", int_range=(1, 100000)
    ),
    "class_id": _Param("target", "Detection2D hypothesis class_id"),
    "track_id": _Param("target", "Detection2D id prefix: boxes carry track_id-N, N grows per new target"),
    "publish_debug_image": _Param(False, "publish ~/debug_image (rgb8, box drawn in the state's colour)"),
    "status_period_s": _Param(
        1.0, "status / diagnostics period while no frame set arrives", float_range=(0.05, 60.0)
    ),
    "bad_input_log_period_s": _Param(
        60.0,
        "after the first log of a bad-input kind, repeats are logged at most this often",
        float_range=(0.0, 3600.0),
    ),
    "preload_text_encoder": _Param(
        True, "load the sentence encoder at configure (first sentence is not slow)"
    ),
    "input_timeout_s": _Param(
        1.0,
        "no frame set for this long while active: state no_input, diagnostics WARN, fps decays to 0",
        float_range=(0.05, 3600.0),
    ),
    "loss_warn_ratio": _Param(
        0.2,
        "diagnostics WARN when more than this share of frame sets (FrameSet.seq gaps) or camera images "
        "(FrameSet.images_lost) was lost over the last 5 s",
        float_range=(0.0, 1.0),
    ),
    "command_settle_ms": _Param(
        50.0,
        "commands (~/command, ~/box) wait this long after arrival, then all waiting ones are applied in the "
        "order they were published (source timestamps): a box and a reset sent together cannot swap",
        float_range=(0.0, 1000.0),
    ),
    "command_queue_depth": _Param(
        100, "subscription queue of ~/command and ~/box (reliable, keep last)", int_range=(1, 10000)
    ),
}

#: Seconds over which fps and the loss ratios are measured.
_FPS_WINDOW_S = 2.0
_LOSS_WINDOW_S = 5.0


def _descriptor(name: str, spec: _Param) -> ParameterDescriptor:
    """A ParameterDescriptor with the type, description and constraints of one parameter."""
    types = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER}
    types |= {float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}
    desc = ParameterDescriptor(name=name, type=types[type(spec.default)], description=spec.description)
    if spec.choices:
        desc.additional_constraints = "one of: " + ", ".join(spec.choices)
    if spec.int_range is not None:
        desc.integer_range = [IntegerRange(from_value=spec.int_range[0], to_value=spec.int_range[1], step=1)]
    if spec.float_range is not None:
        desc.floating_point_range = [
            FloatingPointRange(from_value=spec.float_range[0], to_value=spec.float_range[1], step=0.0)
        ]
    return desc


class _BadInputLog:
    """Logs the first occurrence of each kind of bad input, then at most once per period with a count."""

    def __init__(self, log: Callable[[str], None], period_s: float) -> None:
        """``log`` writes one line (the node logger's warn)."""
        self._log, self.period_s = log, period_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        self.latest: tuple[float, str] | None = None  # (monotonic time, text) of the newest bad input
        self._lock = threading.Lock()

    def __call__(self, kind: str, text: str) -> bool:
        """Record one bad input of ``kind``; log ``text`` when due. Returns whether it was logged."""
        now = time.monotonic()
        with self._lock:
            self.latest = (now, text)
            self.counts[kind] = self.counts.get(kind, 0) + 1
            last = self._last.get(kind)
            if last is not None and (self.period_s <= 0.0 or now - last < self.period_s):
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return False
            repeats = self._suppressed.pop(kind, 0)
            self._last[kind] = now
        suffix = f" ({repeats} more of this kind since the last report)" if repeats else ""
        self._log(text + suffix)
        return True

    @property
    def total(self) -> int:
        """Number of bad inputs seen (logged or not)."""
        return sum(self.counts.values())


@dataclass
class _Counters:
    """Frame bookkeeping reported in TrackStatus and /diagnostics."""

    received: int = 0
    processed: int = 0
    dropped: int = 0
    rejected: int = 0
    lost: int = 0  # frame sets lost in transport (FrameSet.seq gaps)
    images_lost: int = 0  # camera images lost before ingest_node (FrameSet.images_lost summed)
    commands_applied: int = 0
    commands_rejected: int = 0
    commands_lost: int = 0
    last_received_wall: float = math.nan
    last_model_ms: float = math.nan
    last_pipeline_ms: float = math.nan
    last_node_ms: float = math.nan
    model_ms_sum: float = 0.0
    last_processed_wall: float = 0.0
    started: float = field(default_factory=time.monotonic)
    processed_times: deque[float] = field(default_factory=deque)  # of the last _FPS_WINDOW_S
    arrivals: deque[tuple[float, int, int, int]] = field(
        default_factory=deque
    )  # (t, sets, lost, images lost)

    def fps(self, now: float) -> float:
        """Frame sets processed per second over the last _FPS_WINDOW_S; decays to 0 when they stop."""
        times = self.processed_times
        while times and times[0] < now - _FPS_WINDOW_S:
            times.popleft()
        return len(times) / min(_FPS_WINDOW_S, max(now - self.started, 1e-3))

    def loss_ratios(self, now: float) -> tuple[float, float, int, int]:
        """(share of sets lost, share of images lost, sets lost, images lost) over the last _LOSS_WINDOW_S."""
        rows = self.arrivals
        while rows and rows[0][0] < now - _LOSS_WINDOW_S:
            rows.popleft()
        sets = sum(r[1] for r in rows)
        lost = sum(r[2] for r in rows)
        images = sum(r[3] for r in rows)
        return lost / max(sets + lost, 1), images / max(sets + images, 1), lost, images


@dataclass(order=True)
class _Command:
    """One command waiting to be applied; ordered by publication time (source timestamp), then arrival."""

    source_ns: int
    arrival: int
    received: float = field(compare=False)  # monotonic arrival time
    kind: str = field(compare=False)  # "sentence", "reset", "relocalise", "box", "reset_service"
    payload: Any = field(compare=False, default=None)
    accepted: bool | None = field(compare=False, default=None)  # set by _apply (None: not applied yet)
    note: str = field(compare=False, default="")  # what applying it did, or why it was rejected


class TrackerNode(LifecycleNode):
    """Lifecycle node: FrameSet in, Detection2D / Detection2DArray / TrackStatus / diagnostics out."""

    def __init__(self, node_name: str = "tracker", sibling_parameters: Any = (), **kwargs: Any) -> None:
        """Declare parameters, the diagnostics publisher and timers; the node starts unconfigured.

        The ``autostart`` parameter is read by :meth:`start_if_requested` (called from ``main()``), not here.

        ``sibling_parameters``: names another node of the same process declares (``tracking_pipeline``):
        process-wide overrides meant for it are not unknown here.
        """
        super().__init__(node_name, **kwargs)
        for name, spec in PARAMETERS.items():
            self.declare_parameter(name, spec.default, _descriptor(name, spec))
        where = "docs/ros.md (tracker node, Parameters)"
        reject_unknown_parameters(self, [*PARAMETERS, *sibling_parameters], where)
        self.add_on_set_parameters_callback(self._check_parameters)
        self._log = self.get_logger()
        self._bad = _BadInputLog(self._log.warning, float(self.get_parameter("bad_input_log_period_s").value))
        self._lifecycle = "unconfigured"
        self._error = ""  # last configure error (reported in diagnostics)
        self._tracker: Any = None
        self._device = ""
        self._track_lock = threading.RLock()  # the Tracker is used by the worker and by command callbacks
        self._slot_cv = threading.Condition()
        self._slot: tuple[Any, float] | None = None  # (FrameSet, monotonic receive time)
        self._stop = True
        self._worker: threading.Thread | None = None
        self._pending_box: tuple[float, float, float, float] | None = None
        self._counters = _Counters()
        self._last_stamp: float | None = None
        self._expected: set[str] = set()
        self._missing: tuple[str, ...] = ()
        self._last_result: Any = None
        self._last_note = WAITING_MESSAGE
        self._subs: list[Any] = []
        self._pubs: dict[str, Any] = {}
        self._reset_srv: Any = None
        self._set_target_srv: Any = None
        self._resize_noted: set[tuple[tuple[int, ...], tuple[int, ...]]] = (
            set()
        )  # (rgb, thermal) sizes logged
        self._target_serial = 0  # grows whenever the target changes (Detection2D.id = track_id-serial)
        self._last_size: tuple[int, int] | None = None  # reference image size of the last frame set
        self._qos_warned = False
        self._last_seq: int | None = None  # FrameSet.seq of the last frame set received
        self._commands: list[_Command] = []  # waiting commands (see _drain_commands)
        self._command_lock = threading.Lock()  # guards _commands and orders their application
        self._arrivals = 0
        self._publisher_seqs: dict[tuple[str, bytes], int] = {}  # (topic, publisher gid) -> last seq
        self._outage = False
        from diagnostic_msgs.msg import DiagnosticArray

        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        period = float(self.get_parameter("status_period_s").value)
        self._timer = self.create_timer(period, self._on_timer)
        self._command_timer = self.create_timer(0.02, self._on_command_timer)

    def configure_and_activate(self) -> str:
        """Run the configure and activate transitions in-process; '' on success, else the reason (logged)."""
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            return self._error or "configure failed (see the log)"
        if self.trigger_activate() != TransitionCallbackReturn.SUCCESS:
            return "activate failed (see the log)"
        return ""

    def start_if_requested(self) -> bool:
        """Configure and activate when the ``autostart`` parameter is true; True when the node is active."""
        if not bool(self._p("autostart")):
            return False
        reason = self.configure_and_activate()
        if reason:
            self._log.error(f"autostart: {reason}; the node stays {self._lifecycle} (see above)")
        return not reason

    # ------------------------------------------------------------------------------------ parameters
    def _check_parameters(self, params: list[Any]) -> SetParametersResult:
        """Reject parameter values outside their choices (ranges are enforced by the descriptors)."""
        for param in params:
            spec = PARAMETERS.get(param.name)
            if spec is not None and spec.choices and param.value not in spec.choices:
                reason = f"{param.name}: {param.value!r} is not one of {', '.join(spec.choices)}"
                return SetParametersResult(successful=False, reason=reason)
            if param.name == "device" and isinstance(param.value, str):
                from mamba_tracking_ros.tracking.tracker import resolve_device

                try:
                    resolve_device(param.value)
                except ValueError as exc:
                    return SetParametersResult(successful=False, reason=str(exc))
            if param.name == "bad_input_log_period_s":
                self._bad.period_s = float(param.value)
        return SetParametersResult(successful=True)

    def _p(self, name: str) -> Any:
        """Current value of a declared parameter."""
        return self.get_parameter(name).value

    # ------------------------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the model; a missing/corrupt model logs the reason and FAILS (the node stays unconfigured)."""
        import torch

        from mamba_tracking_ros.model.checkpoint import CheckpointError, checkpoint_choice
        from mamba_tracking_ros.tracking import Tracker
        from mamba_tracking_ros.tracking.tracker import resolve_device

        config, checkpoint = str(self._p("config")), checkpoint_choice(self._p("checkpoint"))
        started = time.perf_counter()
        try:
            device = resolve_device(str(self._p("device")))
            threads = int(self._p("threads"))
            if threads > 0:
                torch.set_num_threads(threads)
            torch.manual_seed(int(self._p("seed")))
            tracker = Tracker(config, checkpoint=checkpoint, device=device)
            if bool(self._p("preload_text_encoder")):
                from mamba_tracking_ros.model.language import get_sentence_encoder

                get_sentence_encoder(max_tokens=tracker.model_config.text_max_tokens)
            sentence = str(self._p("initial_sentence"))
            if sentence:
                self._check_sentence(sentence)
                tracker.set_text(sentence)
        except Exception as exc:  # any failure (CheckpointError, a CUDA assertion, ...) fails with its reason
            known = (CheckpointError, FileNotFoundError, ValueError, OSError, RuntimeError, ImportError)
            reason = str(exc) if isinstance(exc, known) else f"{type(exc).__name__}: {exc}"
            self._error = (
                f"configure failed (config={config!r}, checkpoint={checkpoint!r}, "
                f"device={self._p('device')!r}): {reason}"
            )
            self._log.error(
                self._error + "; the node stays unconfigured: fix the parameter and configure again"
            )
            self._publish_diagnostics()
            return TransitionCallbackReturn.FAILURE
        self._tracker, self._device, self._error = tracker, str(device), ""
        if checkpoint is None:
            self._log.warning(
                f"no checkpoint given: config {config!r} is randomly initialised, boxes are not meaningful"
            )
        self._log.info(
            f"model loaded: config={config!r} checkpoint={checkpoint!r} device={device} "
            f"in {time.perf_counter() - started:.2f} s"
        )
        self._create_outputs()
        self._counters = _Counters()
        self._last_seq, self._outage = None, False
        with self._command_lock:
            self._commands, self._publisher_seqs = [], {}
        self._last_stamp, self._expected, self._missing = None, set(), ()
        self._last_result, self._pending_box = None, None
        self._last_note = WAITING_MESSAGE if tracker.text is None else f"searching for {tracker.text!r}"
        self._lifecycle = "inactive"
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Create the input and command subscriptions and start the inference worker."""
        result = super().on_activate(state)  # enables the lifecycle publishers
        self._create_subscriptions()
        self._stop = False
        self._counters.started = time.monotonic()
        self._worker = threading.Thread(target=self._work, name=f"{self.get_name()}_worker", daemon=True)
        self._worker.start()
        self._lifecycle = "active"
        topic = self.resolve_topic_name(str(self._p("frame_set_topic")))
        self._log.info(f"active: tracking frame sets from {topic} on {self._device}")
        self._publish_status(self._status_header(), note=self._last_note)
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Remove the subscriptions and stop the worker (the track and model are kept)."""
        self._stop_worker()
        self._destroy_subscriptions()
        self._lifecycle = "inactive"
        self._log.info("inactive: subscriptions released, track kept")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Drop the model, the track and the outputs."""
        self._release()
        self._lifecycle = "unconfigured"
        self._log.info("cleaned up: model and track released")
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything whatever the state."""
        self._release()
        self._lifecycle = "finalized"
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything and go back to unconfigured."""
        self._error = f"error during a transition from {state.label!r}: model and track released"
        self._log.error(self._error)
        self._release()
        self._lifecycle = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def _release(self) -> None:
        """Stop the worker, destroy subscriptions, publishers and the reset service, drop the tracker."""
        self._stop_worker()
        self._destroy_subscriptions()
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        for srv in (self._reset_srv, self._set_target_srv):
            if srv is not None:
                self.destroy_service(srv)
        self._reset_srv = self._set_target_srv = None
        with self._track_lock:
            self._tracker = None

    def close(self) -> None:
        """Stop the worker thread (call before destroy_node when the node is not shut down by lifecycle)."""
        self._stop_worker()

    def _create_outputs(self) -> None:
        """Lifecycle publishers (enabled on activate), the reset and set_target services."""
        from mamba_tracking_msgs.msg import TrackStatus
        from mamba_tracking_msgs.srv import SetTarget
        from sensor_msgs.msg import Image
        from std_srvs.srv import Trigger
        from vision_msgs.msg import Detection2D, Detection2DArray

        self._pubs = {
            "detection": self.create_lifecycle_publisher(Detection2D, "~/detection", 10),
            "detections": self.create_lifecycle_publisher(Detection2DArray, "~/detections", 10),
            "status": self.create_lifecycle_publisher(TrackStatus, "~/status", 10),
        }
        if bool(self._p("publish_debug_image")):
            self._pubs["debug_image"] = self.create_lifecycle_publisher(Image, "~/debug_image", 1)
        self._reset_srv = self.create_service(Trigger, "~/reset", self._on_reset_service)
        self._set_target_srv = self.create_service(SetTarget, "~/set_target", self._on_set_target_service)

    def _input_qos(self) -> QoSProfile:
        """The FrameSet subscription's QoS from the input_qos.* parameters (keep last)."""
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=int(self._p("input_qos.depth")),
            reliability=_RELIABILITY[str(self._p("input_qos.reliability"))],
            durability=_DURABILITY[str(self._p("input_qos.durability"))],
        )

    def _create_subscriptions(self) -> None:
        """FrameSet input (QoS from parameters, incompatible QoS warned), ~/command, ~/box."""
        from mamba_tracking_msgs.msg import FrameSet
        from std_msgs.msg import String
        from vision_msgs.msg import BoundingBox2D

        events = SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_qos)
        self._qos_warned = False
        self._subs = [
            self.create_subscription(
                FrameSet,
                str(self._p("frame_set_topic")),
                self._on_frame_set,
                self._input_qos(),
                event_callbacks=events,
            ),
            self.create_subscription(String, "~/command", self._on_command, self._command_qos()),
            self.create_subscription(BoundingBox2D, "~/box", self._on_box, self._command_qos()),
        ]

    def _command_qos(self) -> QoSProfile:
        """Commands: reliable, keep last command_queue_depth (a burst beyond it is counted as lost)."""
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=int(self._p("command_queue_depth")),
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.VOLATILE,
        )

    def _destroy_subscriptions(self) -> None:
        """Release the subscriptions (deactivate / cleanup)."""
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        with self._slot_cv:
            self._slot = None
        with self._command_lock:
            self._commands = []

    def _on_incompatible_qos(self, event: Any) -> None:
        """A publisher on the input topic offers a QoS this subscription cannot match: warn (once)."""
        policy = QoSPolicyKind(event.last_policy_kind).name
        topic = self.resolve_topic_name(str(self._p("frame_set_topic")))
        text = (
            f"incompatible QoS on {topic}: a publisher's {policy} policy does not match this node's "
            f"input_qos.reliability={self._p('input_qos.reliability')!r}, input_qos.durability="
            f"{self._p('input_qos.durability')!r}; no frame sets arrive from it (set the input_qos.* "
            "parameters to match, e.g. input_qos.reliability:=best_effort)"
        )
        self._bad("qos", text)
        self._last_note = text

    # ------------------------------------------------------------------------------------ inputs
    def _on_frame_set(self, msg: Any) -> None:
        """Put the newest frame set in the depth-1 slot; an unprocessed older one is dropped and counted."""
        now = time.monotonic()
        self._count_losses(msg, now)
        with self._slot_cv:
            self._counters.received += 1
            if self._slot is not None:
                self._counters.dropped += 1
            self._slot = (msg, now)
            self._slot_cv.notify()

    def _count_losses(self, msg: Any, now: float) -> None:
        """Count frame sets lost in transport (FrameSet.seq gaps) and camera images lost before the ingest."""
        c = self._counters
        seq, images = int(msg.seq), int(msg.images_lost)
        lost = 0
        if seq > 0:  # 0: a publisher that does not number its sets
            last = self._last_seq
            if last is not None and seq > last + 1:
                lost = seq - last - 1
                self._bad(
                    "frame_sets_lost",
                    f"{lost} frame set(s) lost in transport before this node (FrameSet.seq {last} -> {seq}); "
                    "counted in TrackStatus.frames_lost (large best-effort messages? see docs/ros.md)",
                )
            elif last is not None and seq <= last:
                self._log.info(f"FrameSet.seq restarted ({last} -> {seq}): the ingest restarted")
            self._last_seq = seq
        if images:
            self._bad(
                "images_lost",
                f"the ingest inferred {images} camera image(s) lost before it (FrameSet.images_lost); "
                "counted in TrackStatus.images_lost",
            )
        c.lost += lost
        c.images_lost += images
        c.last_received_wall = now
        c.arrivals.append((now, 1, lost, images))

    def _stop_worker(self) -> None:
        """Ask the worker to stop and wait for it (it finishes the frame set in progress)."""
        with self._slot_cv:
            self._stop = True
            self._slot_cv.notify_all()
        worker, self._worker = self._worker, None
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=30.0)

    def _work(self) -> None:
        """Worker loop: take the newest frame set, track, publish; never raises."""
        while True:
            with self._slot_cv:
                while self._slot is None and not self._stop:
                    self._slot_cv.wait()
                if self._stop:
                    return
                item, self._slot = self._slot, None
            try:
                self._process(*item)
            except Exception as exc:  # keep the node alive whatever one frame set does
                self._bad(f"internal:{type(exc).__name__}", f"frame set skipped: unexpected {exc!r}")

    def _process(self, msg: Any, received: float) -> None:
        """Convert, run the tracker (applying a pending box) and publish for one frame set."""
        from mamba_tracking_ros.ros_adapters.frame_set_conversion import frameset_to_frame
        from mamba_tracking_ros.ros_adapters.ros_conversion import fit_box_to_image

        self._drain_commands()
        left_out: list[str] = []
        try:
            frame = frameset_to_frame(
                msg,
                uc3_order=str(self._p("uc3_order")),
                thermal_nan_policy=str(self._p("thermal_nan_policy")),
                left_out=left_out,
            )
        except ValueError as exc:
            self._counters.rejected += 1
            kind = "frame_set:" + str(exc).split(":", 1)[0]
            self._bad(kind, f"frame set rejected (stamp {stamp_to_text(msg.header.stamp)}): {exc}")
            return
        for reason in left_out:
            kind = "frame_set_part:" + reason.split(":", 2)[1].strip()
            self._bad(kind, f"frame set {stamp_to_text(msg.header.stamp)}: {reason}; tracking on the rest")
        self._track_streams(msg, frame.modalities)
        sizes = (
            None if frame.rgb is None or frame.thermal is None else (frame.rgb.shape[:2], frame.thermal.shape)
        )
        if sizes is not None and sizes[0] != sizes[1] and sizes not in self._resize_noted:
            self._resize_noted.add(sizes)  # a fixed camera setup: said once per pair of sizes, not per period
            self._log.warning(
                f"thermal {frame.thermal.shape[1]}x{frame.thermal.shape[0]} differs from RGB "
                f"{frame.rgb.shape[1]}x{frame.rgb.shape[0]}: resized to it, which assumes co-registered "
                "cameras with the same field of view (register them, or set resize_thermal_to_rgb: false in "
                "the config to reject such frame sets)"
            )
        self._last_size = (frame.width, frame.height)
        if self._last_stamp is not None and frame.timestamp < self._last_stamp:
            self._bad(
                "time_backwards",
                f"time went backwards: frame set at {frame.timestamp:.6f} s after {self._last_stamp:.6f} s "
                "(looped bag or restarted source?): the SSM and confidence memory are reset and the target "
                "is relocalised over the whole image; templates and sentence are kept",
            )
            self._last_note = "time went backwards: temporal memory reset, relocalising"
        self._last_stamp = frame.timestamp
        result = None
        model_ms = math.nan
        notes: list[str] = []
        with self._track_lock:
            tracker = self._tracker
            if tracker is None:
                return
            box, self._pending_box = self._pending_box, None
            try:
                started = time.perf_counter()
                if box is not None:
                    try:
                        fit = fit_box_to_image(box, frame.width, frame.height, tracker.config.min_box_size)
                    except ValueError as exc:  # every rejected command is logged and counted
                        self._counters.commands_rejected += 1
                        self._log.warning(
                            f"box command rejected on the frame set stamped {frame.timestamp:.6f} s "
                            f"({frame.width}x{frame.height}): {exc}; the track is unchanged"
                        )
                        notes.append(f"box rejected: {exc}")
                        fit = None
                    if fit is not None:
                        if fit.clipped:
                            self._bad("box_clipped", f"box command: {fit.note}")
                        result = tracker.start(frame, box=fit.box)
                        text = f" with sentence {tracker.text!r}" if tracker.text else ""
                        self._log.info(
                            f"box applied: track initialised at ({', '.join(f'{v:.1f}' for v in fit.box)})"
                            f"{text} on the frame set stamped {frame.timestamp:.6f} s"
                        )
                        self._last_note = "initialised by box" + (" (clipped)" if fit.clipped else "")
                if result is None and (tracker.state != TrackState.IDLE or tracker.text is not None):
                    result = tracker.update(frame)
                if result is not None:
                    model_ms = (time.perf_counter() - started) * 1000.0
                    if result.note:  # a frame the tracker could not use as usual (e.g. another image size)
                        self._bad("frame_size", f"frame set {stamp_to_text(msg.header.stamp)}: {result.note}")
                        notes.append(result.note)
            except ValueError as exc:
                self._counters.rejected += 1
                self._bad("tracker:" + str(exc).split(":", 1)[0], f"frame set rejected by the tracker: {exc}")
                return
            sentence = tracker.text or ""
        notes += left_out
        self._publish_result(msg, frame, result, model_ms, received, sentence, notes)

    def _track_streams(self, msg: Any, present: tuple[str, ...]) -> None:
        """Update the expected streams (FrameSet.modalities and every stream seen) and log changes once."""
        self._expected |= {str(m) for m in msg.modalities} | set(present)
        missing = tuple(m for m in MODALITY_ORDER if m in self._expected and m not in present)
        for m in missing:
            if m not in self._missing:
                self._bad(
                    f"stream:{m}",
                    f"stream '{m}' stopped arriving: tracking continues on {', '.join(present)} "
                    "(reported in TrackStatus.modalities_missing)",
                )
        for m in self._missing:
            if m not in missing:
                self._log.info(f"stream '{m}' is back")
        self._missing = missing

    # ------------------------------------------------------------------------------------ commands
    def _check_sentence(self, text: str) -> str:
        """A sentence must be non-empty and at most max_sentence_chars long; ValueError with the reason."""
        if not text.strip():
            raise ValueError("the sentence is empty (publish the words describing the target)")
        limit = int(self._p("max_sentence_chars"))
        if len(text) > limit:
            raise ValueError(
                f"the sentence has {len(text)} characters, more than max_sentence_chars={limit} "
                "(the sentence encoder would silently truncate it)"
            )
        return text

    def _on_command(self, msg: Any, info: Any) -> None:
        """``~/command``: a reserved word (reset, relocalise) or a sentence; queued in publication order."""
        text = str(msg.data)
        self._count_command_losses("command", info)
        word = text.strip().lower()
        if word in RESERVED_COMMANDS:
            kind = "reset" if word == "reset" else "relocalise"
            self._enqueue(_Command(_source_ns(info), 0, time.monotonic(), kind, word))
            return
        try:
            self._check_sentence(text)
        except ValueError as exc:  # every rejected command is logged and counted
            self._counters.commands_rejected += 1
            self._log.warning(f"command rejected: {exc}; the current target is kept")
            self._last_note = f"sentence rejected: {exc}"
            self._publish_status(self._status_header(), note=self._last_note)
            return
        self._enqueue(_Command(_source_ns(info), 0, time.monotonic(), "sentence", text))

    def _on_box(self, msg: Any, info: Any) -> None:
        """``~/box``: validate a BoundingBox2D and queue it; it (re)initialises the track on a frame set."""
        from mamba_tracking_ros.ros_adapters.ros_conversion import box_msg_to_xywh

        self._count_command_losses("box", info)
        try:
            box = box_msg_to_xywh(msg)
        except ValueError as exc:
            self._counters.commands_rejected += 1
            self._log.warning(f"box command rejected: {exc}; the track is unchanged")
            self._last_note = f"box rejected: {exc}"
            self._publish_status(self._status_header(), note=self._last_note)
            return
        self._enqueue(_Command(_source_ns(info), 0, time.monotonic(), "box", box))

    def _count_command_losses(self, topic: str, info: Any) -> None:
        """Infer commands lost in the queue or in DDS from gaps in each publisher's sequence numbers."""
        if not info:
            return
        seq, gid = info.get("publication_sequence_number"), info.get("publisher_gid")
        if not seq or not gid:
            return
        key = (topic, bytes(gid.get("data", b"")) if isinstance(gid, dict) else bytes(gid))
        with self._command_lock:
            last = self._publisher_seqs.get(key)
            self._publisher_seqs[key] = int(seq)
        if last is not None and seq > last + 1:
            lost = int(seq) - last - 1
            self._counters.commands_lost += lost
            self._log.warning(
                f"{lost} command(s) on ~/{topic} lost before this node (publisher sequence {last} -> {seq}: "
                "a burst longer than command_queue_depth, or lost in transport); the newer ones are applied"
            )

    def _enqueue(self, command: _Command) -> None:
        """Add a command to the waiting list (applied by _drain_commands once it has settled)."""
        with self._command_lock:
            self._arrivals += 1
            command.arrival = self._arrivals
            if command.source_ns <= 0:
                command.source_ns = self.get_clock().now().nanoseconds
            self._commands.append(command)

    def _on_command_timer(self) -> None:
        """Apply settled commands even while no frame set arrives (the worker also applies them)."""
        if self._commands:
            self._drain_commands()

    def _drain_commands(self, everything: bool = False) -> None:
        """Apply waiting commands in publication order (source timestamp, then arrival).

        A command waits ``command_settle_ms`` after arrival, so one published just after it on another topic
        (a reset right after a box) has arrived and is ordered after it. ``everything``: apply all now.
        """
        settle = float(self._p("command_settle_ms")) / 1000.0
        with self._command_lock:
            if not self._commands:
                return
            now = time.monotonic()
            self._commands.sort()
            n = 0  # apply in order, up to the first command still settling (one published before it may come)
            while n < len(self._commands) and (everything or now - self._commands[n].received >= settle):
                n += 1
            due, self._commands = self._commands[:n], self._commands[n:]
            for command in due:
                self._apply(command)

    def _apply(self, command: _Command) -> None:
        """Apply one command to the tracker, log its effect and publish a status."""
        kind = command.kind
        self._counters.commands_applied += 1
        if kind in ("reset", "reset_service"):
            command.accepted = self._reset("command 'reset'" if kind == "reset" else "service ~/reset")
            command.note = WAITING_MESSAGE if command.accepted else "not configured"
            return
        command.accepted = True
        with self._track_lock:
            tracker = self._tracker
            if tracker is None:
                command.accepted, command.note = False, "not configured: no tracker"
                return
            if kind == "relocalise":
                tracker.reset_memory()
                note = "relocalising over the whole image (command)"
                self._log.info(
                    f"command {command.payload!r}: temporal memory reset, relocalising over the whole image"
                )
            elif kind == "box":
                self._pending_box = command.payload
                self._target_serial += 1
                note = "box received: initialising on the next frame set"
                self._log.info(
                    f"command: box ({', '.join(f'{v:.1f}' for v in command.payload)}) (x, y, w, h) -> the "
                    "track is (re)initialised on the next frame set"
                )
            else:
                text = command.payload
                preview = text if len(text) <= 80 else text[:77] + "..."
                try:
                    tracker.set_text(text)
                except ValueError as exc:
                    self._counters.commands_rejected += 1
                    self._log.warning(f"command rejected: {exc}; the current target is kept")
                    note = f"sentence rejected: {exc}"
                    command.accepted = False
                else:
                    self._target_serial += 1
                    effect = (
                        "retargeting: the new target is searched over the whole image (relocalisation)"
                        if tracker.state != TrackState.IDLE
                        else "the track starts from this sentence on the next frame set"
                    )
                    self._log.info(f"command: sentence {preview!r} -> {effect}")
                    note = f"searching for {preview!r}"
        command.note = note
        self._last_note = note
        self._publish_status(self._status_header(), note=note)

    def _on_reset_service(self, request: Any, response: Any) -> Any:
        """``~/reset`` (std_srvs/Trigger): forget the target after applying every command waiting."""
        if self._tracker is None:
            response.success, response.message = False, "not configured: nothing to reset"
            return response
        self._enqueue(_Command(self.get_clock().now().nanoseconds, 0, time.monotonic(), "reset_service"))
        self._drain_commands(everything=True)
        response.success, response.message = True, WAITING_MESSAGE
        return response

    def _on_set_target_service(self, request: Any, response: Any) -> Any:
        """``~/set_target``: sentence and/or box, after every command waiting; answers accepted + track id."""
        from mamba_tracking_ros.ros_adapters.ros_conversion import box_msg_to_xywh, fit_box_to_image

        response.accepted, response.track_id = False, ""
        sentence = str(request.sentence)
        try:
            if self._tracker is None:
                raise ValueError("not configured: configure (and activate) the node first")
            if not sentence and not request.use_box:
                raise ValueError("neither a sentence nor a box (use_box: true) was given")
            if sentence:
                if sentence.strip().lower() in RESERVED_COMMANDS:
                    raise ValueError(
                        f"{sentence.strip()!r} is a command, not a target: use ~/command or ~/reset"
                    )
                self._check_sentence(sentence)
            box = None
            if request.use_box:
                box = box_msg_to_xywh(request.box)
                if self._last_size is not None:  # a box fully outside the last image can never be applied
                    fit_box_to_image(box, *self._last_size, self._tracker.config.min_box_size)
        except ValueError as exc:
            self._counters.commands_rejected += 1
            self._log.warning(f"service ~/set_target rejected: {exc}; the current target is kept")
            self._last_note = f"set_target rejected: {exc}"
            self._publish_status(self._status_header(), note=self._last_note)
            response.message = str(exc)
            return response
        now_ns = self.get_clock().now().nanoseconds
        commands = [_Command(now_ns, 0, time.monotonic(), "sentence", sentence)] if sentence else []
        if box is not None:
            commands.append(_Command(now_ns, 0, time.monotonic(), "box", box))
        for command in commands:
            self._enqueue(command)
        self._drain_commands(everything=True)
        failed = [c for c in commands if not c.accepted]
        response.accepted = not failed
        response.message = failed[0].note if failed else "; ".join(c.note for c in commands)
        response.track_id = self._current_track_id() if response.accepted else ""
        return response

    def _current_track_id(self) -> str:
        """Detection2D.id of the current target: the ``track_id`` parameter and the target serial."""
        return f"{self._p('track_id')}-{self._target_serial}"

    def _reset(self, source: str) -> bool:
        """Forget box, sentence, templates and memory; the node waits for a new target."""
        with self._track_lock:
            if self._tracker is None:
                return False
            self._tracker.reset()
            self._target_serial += 1
            self._pending_box = None
            self._last_result = None
        self._log.info(f"{source}: target forgotten, waiting for a sentence or a box")
        self._last_note = WAITING_MESSAGE
        self._publish_status(self._status_header(), note=self._last_note)
        return True

    # ------------------------------------------------------------------------------------ outputs
    def _status_header(self) -> Any:
        """A header stamped now (status published outside a frame set)."""
        from std_msgs.msg import Header

        return Header(stamp=self.get_clock().now().to_msg())

    def _publish_result(
        self,
        msg: Any,
        frame: Any,
        result: Any,
        model_ms: float,
        received: float,
        sentence: str,
        notes: list[str] | None = None,
    ) -> None:
        """Detection2D (+array), status and the debug image for one processed frame set."""
        from mamba_tracking_ros.ros_adapters.ros_conversion import (
            debug_image,
            detection_array,
            image_msg,
            track_result_to_detection,
        )

        header = msg.header
        state = TrackState.WAITING_FOR_TARGET.value if result is None else result.state.value
        detections = []
        if result is not None and state in _STATES_WITH_DETECTION:
            det = track_result_to_detection(
                result, header, class_id=str(self._p("class_id")), track_id=self._current_track_id()
            )
            detections.append(det)
            self._pubs["detection"].publish(det)
        self._pubs["detections"].publish(detection_array(header, detections))
        c = self._counters
        now = time.monotonic()
        c.processed += 1
        stamp_ns = stamp_to_ns(header.stamp)
        c.last_model_ms = model_ms
        c.last_pipeline_ms = (self.get_clock().now().nanoseconds - stamp_ns) * 1e-6
        c.last_node_ms = (now - received) * 1000.0
        if math.isfinite(model_ms):
            c.model_ms_sum += model_ms
        c.last_processed_wall = now
        c.processed_times.append(now)
        self._last_result = result
        if result is None:
            note = WAITING_MESSAGE
        elif state == TrackState.WAITING_FOR_TARGET:
            note = f"searching for {sentence!r}"
        elif state == TrackState.TRACKING:
            note = "tracking"
        else:
            note = state
        if self._missing:
            note += (
                f"; missing streams: {', '.join(self._missing)} (tracking on {', '.join(frame.modalities)})"
            )
        if notes:
            note += "; " + "; ".join(notes)
        self._last_note = note
        self._publish_status(header, note=note, result=result, sentence=sentence, used=frame.modalities)
        pub = self._pubs.get("debug_image")
        if pub is not None:
            box = None if result is None or state == TrackState.WAITING_FOR_TARGET else result.box
            pub.publish(image_msg(debug_image(frame, box, state), header))

    def _publish_status(
        self,
        header: Any,
        note: str,
        result: Any = None,
        sentence: str | None = None,
        used: tuple[str, ...] = (),
        state: str | None = None,
        missing: tuple[str, ...] | None = None,
    ) -> None:
        """Publish ~/status (state, confidence, latencies, streams, counters, a human-readable message)."""
        from mamba_tracking_ros.ros_adapters.ros_conversion import confidence_to_score, track_status

        pub = self._pubs.get("status")
        if pub is None:
            return
        with self._track_lock:
            tracker = self._tracker
            if tracker is None:
                return
            if sentence is None:
                sentence = tracker.text or ""
            tracker_state = tracker.state.value
        if result is not None:
            state, mode = result.state.value, result.search_mode.value
            conf = confidence_to_score(result.confidence)
        else:
            if state is None:
                idle = tracker_state == TrackState.IDLE
                state = TrackState.WAITING_FOR_TARGET.value if idle else tracker_state
            mode, conf = "", math.nan
        c = self._counters
        now = time.monotonic()
        age = now - c.last_received_wall if math.isfinite(c.last_received_wall) else math.nan
        pub.publish(
            track_status(
                header,
                state=state,
                search_mode=mode,
                confidence=conf,
                model_latency_ms=c.last_model_ms if result is not None else math.nan,
                pipeline_latency_ms=c.last_pipeline_ms if result is not None else math.nan,
                modalities_used=used,
                modalities_missing=self._missing if missing is None else missing,
                sentence=sentence,
                track_id=self._current_track_id(),
                frames_processed=c.processed,
                frames_dropped=c.dropped + c.rejected,
                message=note,
                frames_rejected=c.rejected,
                frames_lost=c.lost,
                images_lost=c.images_lost,
                commands_rejected=c.commands_rejected,
                commands_lost=c.commands_lost,
                commands_applied=c.commands_applied,
                fps=c.fps(now),
                input_age_s=age,
            )
        )

    def _on_timer(self) -> None:
        """Periodic /diagnostics; ~/status too while no frame set has been processed for a period."""
        self._publish_diagnostics()
        if self._lifecycle != "active":
            return
        period = float(self._p("status_period_s"))
        c = self._counters
        now = time.monotonic()
        idle = now - c.last_processed_wall if c.processed else now - c.started
        outage = self._input_outage(now)
        if outage and not self._outage:
            self._log.warning(f"{outage}: state no_input until frame sets arrive again")
        elif self._outage and not outage:
            self._log.info("frame sets arrive again")
        self._outage = bool(outage)
        if idle >= period:
            note = self._last_note
            if outage:
                note = f"{outage}; " + note
            elif c.processed:
                note = f"no frame set for {idle:.1f} s; " + note
            missing = tuple(m for m in MODALITY_ORDER if m in self._expected) if outage else None
            state = "no_input" if outage else None
            self._publish_status(self._status_header(), note=note, state=state, missing=missing)

    def _input_outage(self, now: float) -> str:
        """Why the node counts as having no input ('' while frame sets arrive within input_timeout_s)."""
        timeout = float(self._p("input_timeout_s"))
        last = self._counters.last_received_wall
        topic = str(self._p("frame_set_topic"))
        if not math.isfinite(last):
            waited = now - self._counters.started
            return f"no frame set received on {topic} for {waited:.1f} s" if waited >= timeout else ""
        return f"no frame set on {topic} for {now - last:.1f} s" if now - last >= timeout else ""

    def _health(self, now: float) -> tuple[str, str]:
        """(diagnostic level, message): the most severe current problem, else the last note."""
        if self._error:
            return "error", self._error
        if self._lifecycle != "active":
            return "warn", f"lifecycle state {self._lifecycle}"
        outage = self._input_outage(now)
        if outage:
            return "warn", outage
        sets_ratio, images_ratio, sets_lost, images_lost = self._counters.loss_ratios(now)
        limit = float(self._p("loss_warn_ratio"))
        if sets_ratio > limit:
            return "warn", (
                f"{100 * sets_ratio:.0f} % of frame sets lost in transport over the last "
                f"{_LOSS_WINDOW_S:.0f} s ({sets_lost} lost, FrameSet.seq gaps): see docs/ros.md "
                "(transport of large messages)"
            )
        if images_ratio > limit:
            return "warn", (
                f"{100 * images_ratio:.0f} % of camera images lost before the ingest over the last "
                f"{_LOSS_WINDOW_S:.0f} s ({images_lost} lost, FrameSet.images_lost)"
            )
        if self._missing:
            return "warn", f"missing streams: {', '.join(self._missing)}"
        return "ok", self._last_note

    def _publish_diagnostics(self) -> None:
        """One DiagnosticStatus: health level, lifecycle, device, counters, latency, state, latest problem."""
        from mamba_tracking_ros.ros_adapters.ros_conversion import diagnostic_array

        c = self._counters
        tracker = self._tracker
        state = "none" if tracker is None else tracker.state.value
        now = time.monotonic()
        level, text = self._health(now)
        latest = self._bad.latest
        values = {
            "lifecycle": self._lifecycle,
            "device": self._device,
            "config": self._p("config"),
            "checkpoint": self._p("checkpoint"),
            "track_state": "no_input" if self._outage else state,
            "sentence": "" if tracker is None else (tracker.text or ""),
            "frames_received": c.received,
            "frames_processed": c.processed,
            "frames_dropped": c.dropped,
            "frames_rejected": c.rejected,
            "frames_lost": c.lost,
            "images_lost": c.images_lost,
            "commands_rejected": c.commands_rejected,
            "commands_lost": c.commands_lost,
            "commands_applied": c.commands_applied,
            "bad_inputs": self._bad.total,
            "latest_problem": "" if latest is None else latest[1],
            "latest_problem_age_s": "nan" if latest is None else f"{now - latest[0]:.1f}",
            "fps": f"{c.fps(now):.2f}",
            "input_age_s": f"{now - c.last_received_wall:.2f}",
            "model_latency_ms": f"{c.last_model_ms:.2f}",
            "mean_model_latency_ms": f"{c.model_ms_sum / c.processed:.2f}" if c.processed else "nan",
            "pipeline_latency_ms": f"{c.last_pipeline_ms:.2f}",
            "node_latency_ms": f"{c.last_node_ms:.2f}",
            "modalities_missing": ",".join(self._missing),
        }
        self._diag_pub.publish(
            diagnostic_array(
                self.get_clock().now().to_msg(),
                name=f"{self.get_fully_qualified_name()}: tracker",
                hardware_id=self._device or "none",
                level=level,
                message=text,
                values=values,
            )
        )

    # ------------------------------------------------------------------------------------ test hooks
    @property
    def lifecycle_state(self) -> str:
        """The lifecycle state label as this node sees it (unconfigured, inactive, active, finalized)."""
        return self._lifecycle

    @property
    def frames_dropped(self) -> int:
        """Frame sets replaced in the latest slot before the worker took them."""
        return self._counters.dropped

    @property
    def frames_processed(self) -> int:
        """Frame sets run through the tracker (or published as 'waiting for target')."""
        return self._counters.processed

    @property
    def commands_applied(self) -> int:
        """Commands taken from the queue and applied (a sentence the encoder refuses is also rejected)."""
        return self._counters.commands_applied

    @property
    def commands_rejected(self) -> int:
        """Commands rejected as invalid (each one logged)."""
        return self._counters.commands_rejected

    @property
    def commands_lost(self) -> int:
        """Commands inferred lost before this node (publisher sequence-number gaps)."""
        return self._counters.commands_lost

    @property
    def bad_input_counts(self) -> dict[str, int]:
        """Bad inputs seen per kind (logged or suppressed)."""
        return dict(self._bad.counts)


def _source_ns(info: Any) -> int:
    """The publication time (source timestamp, ns) of a message from its MessageInfo; 0 when unknown."""
    if not info:
        return 0
    return int(info.get("source_timestamp") or 0)


def main(args: list[str] | None = None) -> int:
    """Run the tracker node until Ctrl-C or an external shutdown (exit 0; 2 on a bad parameter)."""

    def build(nodes: list[Node]) -> None:
        node = TrackerNode()
        nodes.append(node)
        node.start_if_requested()

    return spin_nodes("tracker_node", build, args)


if __name__ == "__main__":
    raise SystemExit(main())
