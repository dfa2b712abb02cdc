"""ROS 2 lifecycle node running the language-steered multimodal tracker on ``mamba_tracking_msgs/FrameSet``.

Lifecycle: *configure* loads the model (a missing or corrupt checkpoint logs the reason and the transition
FAILS; the node stays unconfigured and can be configured again), *activate* creates the subscriptions and
starts the inference worker, *deactivate* removes them (the track is kept), *cleanup* drops the model and the
track. ``autostart:=true`` configures and activates at start.

Freshness: the frame-set callback only stores the message in a depth-1 "latest" slot; a worker thread takes
the newest frame set, runs :class:`~mamba_tracking_ros.tracking.Tracker` (which keeps its SSM and confidence
memory between frames) and publishes. A frame set that is replaced in the slot before the worker took it is
dropped and counted (``TrackStatus.frames_dropped``); stale frame sets are never queued.

Commands: ``~/command`` (``std_msgs/String``): a sentence retargets the tracker (MVLM: the new target is found
by global relocalisation); the reserved words ``reset`` (forget the target) and ``relocalise`` /
``relocalize`` (keep the target, forget the temporal memory and search the whole image) are commands.
``~/box`` (``vision_msgs/BoundingBox2D``, pixels of the reference image) (re)initialises the track on the next
frame set.
``~/reset`` (``std_srvs/Trigger``) forgets the target. Every command and its effect is logged.

Outputs: ``~/detection`` (``vision_msgs/Detection2D``, only while the target is tracked or being relocalised),
``~/detections`` (``vision_msgs/Detection2DArray``, every processed frame set, empty without a target), both
stamped with the input frame set's header; ``~/status`` (``mamba_tracking_msgs/TrackStatus``, every processed
frame set, every command, and every ``status_period_s`` while no frame set arrives); ``/diagnostics``;
optional ``~/debug_image``. Bad input is logged once (per kind, then at most once per
``bad_input_log_period_s`` with a count) and the node keeps going.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import rclpy
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSPolicyKind,
    QoSProfile,
    ReliabilityPolicy,
)

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
_STATES_WITH_DETECTION = ("tracking", "relocalising")
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
        "default", "checkpoint file; 'default' = the weights shipped for `config`; '' = random init (testing)"
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
    "track_id": _Param("target", "Detection2D id"),
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
}


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
        self._lock = threading.Lock()

    def __call__(self, kind: str, text: str) -> bool:
        """Record one bad input of ``kind``; log ``text`` when due. Returns whether it was logged."""
        now = time.monotonic()
        with self._lock:
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
    last_model_ms: float = math.nan
    last_pipeline_ms: float = math.nan
    last_node_ms: float = math.nan
    model_ms_sum: float = 0.0
    last_processed_wall: float = 0.0
    window_start: float = field(default_factory=time.monotonic)
    window_frames: int = 0
    fps: float = 0.0


class TrackerNode(LifecycleNode):
    """Lifecycle node: FrameSet in, Detection2D / Detection2DArray / TrackStatus / diagnostics out."""

    def __init__(self, node_name: str = "tracker", **kwargs: Any) -> None:
        """Declare parameters, the diagnostics publisher and timer; configure + activate if ``autostart``."""
        super().__init__(node_name, **kwargs)
        for name, spec in PARAMETERS.items():
            self.declare_parameter(name, spec.default, _descriptor(name, spec))
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
        self._qos_warned = False
        from diagnostic_msgs.msg import DiagnosticArray

        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        period = float(self.get_parameter("status_period_s").value)
        self._timer = self.create_timer(period, self._on_timer)
        if bool(self.get_parameter("autostart").value):
            if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                self.trigger_activate()
            else:
                self._log.error("autostart: configure failed; the node stays unconfigured (see above)")

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

        from mamba_tracking_ros.model.checkpoint import CheckpointError
        from mamba_tracking_ros.tracking import Tracker
        from mamba_tracking_ros.tracking.tracker import resolve_device

        config, checkpoint = str(self._p("config")), str(self._p("checkpoint")) or None
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
        except (CheckpointError, FileNotFoundError, ValueError, OSError, RuntimeError, ImportError) as exc:
            self._error = f"configure failed (config={config!r}, checkpoint={checkpoint!r}): {exc}"
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
        self._log.error("error during a transition: releasing model and track")
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
        if self._reset_srv is not None:
            self.destroy_service(self._reset_srv)
            self._reset_srv = None
        with self._track_lock:
            self._tracker = None

    def close(self) -> None:
        """Stop the worker thread (call before destroy_node when the node is not shut down by lifecycle)."""
        self._stop_worker()

    def _create_outputs(self) -> None:
        """Lifecycle publishers (enabled on activate) and the reset service."""
        from mamba_tracking_msgs.msg import TrackStatus
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
            self.create_subscription(String, "~/command", self._on_command, 10),
            self.create_subscription(BoundingBox2D, "~/box", self._on_box, 10),
        ]

    def _destroy_subscriptions(self) -> None:
        """Release the subscriptions (deactivate / cleanup)."""
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        with self._slot_cv:
            self._slot = None

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
        with self._slot_cv:
            self._counters.received += 1
            if self._slot is not None:
                self._counters.dropped += 1
            self._slot = (msg, now)
            self._slot_cv.notify()

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
        from mamba_tracking_ros.io.ros_conversion import fit_box_to_image, frameset_to_frame

        try:
            frame = frameset_to_frame(
                msg,
                uc3_order=str(self._p("uc3_order")),
                thermal_nan_policy=str(self._p("thermal_nan_policy")),
            )
        except ValueError as exc:
            self._counters.rejected += 1
            kind = "frame_set:" + str(exc).split(":", 1)[0]
            self._bad(kind, f"frame set rejected (stamp {_stamp_str(msg.header.stamp)}): {exc}")
            return
        self._track_streams(msg, frame.modalities)
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
                    except ValueError as exc:
                        self._bad("box", f"box command rejected: {exc}; the track is unchanged")
                        self._last_note = f"box rejected: {exc}"
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
                if result is None and (tracker.state.value != "idle" or tracker.text is not None):
                    result = tracker.update(frame)
                if result is not None:
                    model_ms = (time.perf_counter() - started) * 1000.0
            except ValueError as exc:
                self._counters.rejected += 1
                self._bad("tracker:" + str(exc).split(":", 1)[0], f"frame set rejected by the tracker: {exc}")
                return
            sentence = tracker.text or ""
        self._publish_result(msg, frame, result, model_ms, received, sentence)

    def _track_streams(self, msg: Any, present: tuple[str, ...]) -> None:
        """Update the expected streams (FrameSet.modalities and every stream seen) and log changes once."""
        self._expected |= {str(m) for m in msg.modalities} | set(present)
        missing = tuple(m for m in ("rgb", "thermal", "events") if m in self._expected and m not in present)
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

    def _on_command(self, msg: Any) -> None:
        """``~/command``: a reserved word (reset, relocalise) or a sentence that retargets the tracker."""
        text = str(msg.data)
        word = text.strip().lower()
        if word in RESERVED_COMMANDS:
            if word == "reset":
                self._reset("command 'reset'")
            else:
                with self._track_lock:
                    if self._tracker is None:
                        return
                    self._tracker.reset_memory()
                self._last_note = "relocalising over the whole image (command)"
                self._log.info(f"command {word!r}: temporal memory reset, relocalising over the whole image")
                self._publish_status(self._status_header(), note=self._last_note)
            return
        preview = text if len(text) <= 80 else text[:77] + "..."
        try:
            self._check_sentence(text)
            with self._track_lock:
                if self._tracker is None:
                    return
                self._tracker.set_text(text)
                started = self._tracker.state.value != "idle"
        except ValueError as exc:
            self._bad("sentence", f"command rejected: {exc}; the current target is kept")
            self._last_note = f"sentence rejected: {exc}"
            self._publish_status(self._status_header(), note=self._last_note)
            return
        effect = (
            "retargeting: the new target is searched over the whole image (relocalisation)"
            if started
            else "the track starts from this sentence on the next frame set"
        )
        self._log.info(f"command: sentence {preview!r} -> {effect}")
        self._last_note = f"searching for {preview!r}"
        self._publish_status(self._status_header(), note=self._last_note)

    def _on_box(self, msg: Any) -> None:
        """``~/box``: validate a BoundingBox2D and (re)initialise the track with it on the next frame set."""
        from mamba_tracking_ros.io.ros_conversion import box_msg_to_xywh

        try:
            box = box_msg_to_xywh(msg)
        except ValueError as exc:
            self._bad("box", f"box command rejected: {exc}; the track is unchanged")
            self._last_note = f"box rejected: {exc}"
            self._publish_status(self._status_header(), note=self._last_note)
            return
        with self._track_lock:
            self._pending_box = box
        self._log.info(
            f"command: box ({', '.join(f'{v:.1f}' for v in box)}) (x, y, w, h) -> the track is "
            "(re)initialised on the next frame set"
        )
        self._last_note = "box received: initialising on the next frame set"
        self._publish_status(self._status_header(), note=self._last_note)

    def _on_reset_service(self, request: Any, response: Any) -> Any:
        """``~/reset`` (std_srvs/Trigger): forget the target."""
        ok = self._reset("service ~/reset")
        response.success = ok
        response.message = WAITING_MESSAGE if ok else "not configured: nothing to reset"
        return response

    def _reset(self, source: str) -> bool:
        """Forget box, sentence, templates and memory; the node waits for a new target."""
        with self._track_lock:
            if self._tracker is None:
                return False
            self._tracker.reset()
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
        self, msg: Any, frame: Any, result: Any, model_ms: float, received: float, sentence: str
    ) -> None:
        """Detection2D (+array), status and the debug image for one processed frame set."""
        from mamba_tracking_ros.io.ros_conversion import (
            debug_image,
            detection_array,
            image_msg,
            track_result_to_detection,
        )

        header = msg.header
        state = "waiting_for_target" if result is None else result.state.value
        detections = []
        if result is not None and state in _STATES_WITH_DETECTION:
            det = track_result_to_detection(
                result, header, class_id=str(self._p("class_id")), track_id=str(self._p("track_id"))
            )
            detections.append(det)
            self._pubs["detection"].publish(det)
        self._pubs["detections"].publish(detection_array(header, detections))
        c = self._counters
        now = time.monotonic()
        c.processed += 1
        stamp_ns = int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)
        c.last_model_ms = model_ms
        c.last_pipeline_ms = (self.get_clock().now().nanoseconds - stamp_ns) * 1e-6
        c.last_node_ms = (now - received) * 1000.0
        if math.isfinite(model_ms):
            c.model_ms_sum += model_ms
        c.last_processed_wall = now
        c.window_frames += 1
        if now - c.window_start >= 1.0:
            c.fps, c.window_start, c.window_frames = c.window_frames / (now - c.window_start), now, 0
        self._last_result = result
        if result is None:
            note = WAITING_MESSAGE
        elif state == "waiting_for_target":
            note = f"searching for {sentence!r}"
        elif state == "tracking":
            note = "tracking"
        else:
            note = state
        if self._missing:
            note += (
                f"; missing streams: {', '.join(self._missing)} (tracking on {', '.join(frame.modalities)})"
            )
        self._last_note = note
        self._publish_status(header, note=note, result=result, sentence=sentence, used=frame.modalities)
        pub = self._pubs.get("debug_image")
        if pub is not None:
            box = None if result is None or state == "waiting_for_target" else result.box
            pub.publish(image_msg(debug_image(frame, box, state), header))

    def _publish_status(
        self,
        header: Any,
        note: str,
        result: Any = None,
        sentence: str | None = None,
        used: tuple[str, ...] = (),
    ) -> None:
        """Publish ~/status (state, confidence, latencies, streams, counters, a human-readable message)."""
        from mamba_tracking_ros.io.ros_conversion import confidence_to_score, track_status

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
            state = "waiting_for_target" if tracker_state == "idle" else tracker_state
            mode, conf = "", math.nan
        c = self._counters
        pub.publish(
            track_status(
                header,
                state=state,
                search_mode=mode,
                confidence=conf,
                model_latency_ms=c.last_model_ms if result is not None else math.nan,
                pipeline_latency_ms=c.last_pipeline_ms if result is not None else math.nan,
                modalities_used=used,
                modalities_missing=self._missing,
                sentence=sentence,
                frames_processed=c.processed,
                frames_dropped=c.dropped + c.rejected,
                message=note,
            )
        )

    def _on_timer(self) -> None:
        """Periodic /diagnostics; ~/status too while no frame set has been processed for a period."""
        self._publish_diagnostics()
        if self._lifecycle != "active":
            return
        period = float(self._p("status_period_s"))
        idle = time.monotonic() - self._counters.last_processed_wall
        if idle >= period:
            note = self._last_note
            if self._counters.processed:
                note = f"no frame set for {idle:.1f} s; " + note
            self._publish_status(self._status_header(), note=note)

    def _publish_diagnostics(self) -> None:
        """One DiagnosticStatus: lifecycle, device, counters, latency, track state, missing streams."""
        from mamba_tracking_ros.io.ros_conversion import diagnostic_array

        c = self._counters
        tracker = self._tracker
        state = "none" if tracker is None else tracker.state.value
        if self._error:
            level, text = "error", self._error
        elif self._lifecycle != "active":
            level, text = "warn", f"lifecycle state {self._lifecycle}"
        elif self._missing:
            level, text = "warn", f"missing streams: {', '.join(self._missing)}"
        else:
            level, text = "ok", self._last_note
        values = {
            "lifecycle": self._lifecycle,
            "device": self._device,
            "config": self._p("config"),
            "checkpoint": self._p("checkpoint"),
            "track_state": state,
            "sentence": "" if tracker is None else (tracker.text or ""),
            "frames_received": c.received,
            "frames_processed": c.processed,
            "frames_dropped": c.dropped,
            "frames_rejected": c.rejected,
            "bad_inputs": self._bad.total,
            "fps": f"{c.fps:.2f}",
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
    def bad_input_counts(self) -> dict[str, int]:
        """Bad inputs seen per kind (logged or suppressed)."""
        return dict(self._bad.counts)


def _stamp_str(stamp: Any) -> str:
    """A header stamp as seconds with nanosecond digits."""
    return f"{int(stamp.sec)}.{int(stamp.nanosec):09d}"


def main(args: list[str] | None = None) -> int:
    """Run the tracker node until Ctrl-C or an external shutdown (exit code 0)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    rclpy.init(args=args)
    node: TrackerNode | None = None
    try:
        node = TrackerNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
