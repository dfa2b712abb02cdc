"""Write the sample multimodal rosbag2 (MCAP/SQLite3): real footage, two real objects, simulated thermal/DVS.

The scene: real background video (``opencv/vtest``, a static camera over a pedestrian plaza, from
``.cache/footage``) with two real object crops (:mod:`mamba_tracking_ros.data.object_crops`, cut from
scikit-image photographs with grabCut) composited on it along smooth paths, so each object's box is exact
(the tight box of its placed alpha mask). Target A is named by the initial sentence, target B by the sentence
sent midway; the ground truth follows A until the retarget and B after it. Thermal is SIMULATED
(:mod:`mamba_tracking_ros.data.thermal_sim`: luminance-driven background near ambient, the objects at their
surface temperatures, LWIR band radiance, optics blur, fixed-pattern and temporal noise, 14-bit counts in
``mono16``); events are SIMULATED (:mod:`mamba_tracking_ros.data.event_sim` on the composited frames) and
encoded as Prophesee EVT 3.0 (:func:`mamba_tracking_ros.codecs.event_encoding.encode_evt3`).

Topics (type, one message per frame unless said):

- ``/rgb/image_raw`` ``sensor_msgs/msg/Image`` ``rgb8``
- ``/thermal/image_raw`` ``sensor_msgs/msg/Image`` ``mono16`` (raw counts, same size as RGB)
- ``/events`` ``event_camera_msgs/msg/EventPacket`` ``evt3``: the events of ``[t_{k-1}, t_k)`` (none before
  frame 1); header.stamp = ROS time of the packet's first event; the EVT 3.0 sensor clock is 0 us at the first
  frame (ROS time = first frame stamp + sensor us * 1000); ``time_base`` = the first event's sensor time in ns
- ``/ground_truth`` ``vision_msgs/msg/Detection2D``: the current target's exact box (centre + size),
  ``id`` = ``A``/``B``, hypothesis ``class_id`` = object category, ``score`` 1
- ``/tracker/command`` ``std_msgs/msg/String``: the initial sentence (frame 0) and the retarget sentence
  (frame ``retarget_frame``); ``/tracker/box`` ``vision_msgs/msg/BoundingBox2D``: A's box at frame 0

Receive (log) times are the frame stamp plus a few microseconds in the order command/box, events, rgb,
thermal, ground truth, so the recorded order is the order a driver would deliver.
"""

from __future__ import annotations

import array
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mamba_tracking_ros.codecs.event_encoding import encode_evt3
from mamba_tracking_ros.codecs.image_conversion import numpy_to_image_fields
from mamba_tracking_ros.codecs.stamps import ns_to_time_fields

__all__ = [
    "SampleBagConfig",
    "SampleBagInfo",
    "SampleFrame",
    "TOPICS",
    "compose_sample_scene",
    "write_sample_bag",
]

#: Topic names of the sample bag (keys are roles).
TOPICS: dict[str, str] = {
    "rgb": "/rgb/image_raw",
    "thermal": "/thermal/image_raw",
    "events": "/events",
    "ground_truth": "/ground_truth",
    "command": "/tracker/command",
    "box": "/tracker/box",
}
_LOG_OFFSET_NS = {
    "command": 0,
    "box": 500,
    "events": 1000,
    "rgb": 2000,
    "thermal": 3000,
    "ground_truth": 4000,
}


@dataclass(frozen=True)
class SampleBagConfig:
    """What the sample bag holds: size, length, rate, objects, background clip, retarget frame, storage."""

    n_frames: int = 120
    fps: float = 15.0
    width: int = 640
    height: int = 480
    background: str = "opencv/vtest"
    background_start: int = 0
    target_a: str = "still/cat"
    target_b: str = "still/cup"
    object_height: int = 110  # pixels: each crop is scaled to this height (aspect kept)
    retarget_frame: int = -1  # frame of the retarget sentence; -1: n_frames // 2; 0 disables it
    start_time_ns: int = 1_700_000_000 * 1_000_000_000  # ROS time of frame 0
    storage: str = "mcap"
    seed: int = 0

    def __post_init__(self) -> None:
        """Validate the fields, naming the offending one."""
        if self.n_frames < 2:
            raise ValueError(f"n_frames: must be >= 2, got {self.n_frames}")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps: must be > 0, got {self.fps}")
        if self.width < 64 or self.height < 64 or self.width > 2048 or self.height > 2048:
            raise ValueError(
                f"width/height: must be in [64, 2048] (EVT 3.0 has 11-bit addresses), "
                f"got {self.width}x{self.height}"
            )
        if not 8 <= self.object_height <= self.height // 2:
            raise ValueError(f"object_height: must be in [8, height/2], got {self.object_height}")
        if self.storage not in ("mcap", "sqlite3"):
            raise ValueError(f"storage: expected mcap or sqlite3, got {self.storage!r}")
        if self.retarget_frame >= self.n_frames or self.retarget_frame < -1:
            raise ValueError(f"retarget_frame: must be in [-1, n_frames), got {self.retarget_frame}")

    @property
    def retarget_at(self) -> int:
        """Frame index of the retarget sentence (0 = no retarget)."""
        return self.n_frames // 2 if self.retarget_frame == -1 else self.retarget_frame

    def stamp_ns(self, k: int) -> int:
        """ROS time (ns) of frame ``k``."""
        return self.start_time_ns + self.frame_us(k) * 1000

    def frame_us(self, k: int) -> int:
        """Sensor time (us since frame 0) of frame ``k``."""
        return int(round(k * 1e6 / self.fps))


@dataclass(frozen=True)
class SampleFrame:
    """One composited frame: RGB, thermal counts, events since the previous frame, both objects' boxes."""

    rgb: np.ndarray  # (H, W, 3) uint8
    thermal: np.ndarray  # (H, W) uint16
    events: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None  # x, y, t_us, p (None on frame 0)
    boxes: dict[str, tuple[float, float, float, float]]  # "A"/"B" -> (x, y, w, h)


@dataclass(frozen=True)
class SampleBagInfo:
    """What was written: path, config, sentences, topic -> count, the ground-truth target per frame."""

    path: Path
    config: SampleBagConfig
    sentence_a: str
    sentence_b: str
    counts: dict[str, int]
    event_count: int
    targets: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly summary."""
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def _scaled_crop(crop_id: str, height: int) -> tuple[np.ndarray, np.ndarray, Any]:
    """(rgb, alpha bool, crop metadata) of a crop scaled to ``height`` pixels, cropped tight to the mask."""
    from mamba_tracking_ros.data.object_crops import get_crop

    crop = get_crop(crop_id)
    h, w = crop.alpha.shape
    new_w = max(2, int(round(w * height / h)))
    rgb = cv2.resize(crop.rgb, (new_w, height), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(crop.alpha.astype(np.uint8), (new_w, height), interpolation=cv2.INTER_NEAREST) > 0
    ys, xs = np.nonzero(alpha)
    if ys.size == 0:
        raise ValueError(f"{crop_id}: mask vanished when scaled to {height} px")
    sl = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    return np.ascontiguousarray(rgb[sl]), np.ascontiguousarray(alpha[sl]), crop


def _path(n: int, size: tuple[int, int], obj: tuple[int, int], lane: float, phase: float) -> np.ndarray:
    """Integer top-left positions along a smooth left-right sweep with a vertical wobble inside a lane."""
    (w, h), (ow, oh) = size, obj
    s = np.linspace(0.0, 1.0, n)
    x = (w - ow) * (0.5 - 0.45 * np.cos(np.pi * (1.2 * s + phase)))
    y = lane * (h - oh) + 0.08 * (h - oh) * np.sin(2 * np.pi * (0.9 * s + phase))
    return np.stack([np.clip(np.round(x), 0, w - ow), np.clip(np.round(y), 0, h - oh)], 1).astype(int)


def compose_sample_scene(cfg: SampleBagConfig) -> tuple[list[SampleFrame], str, str]:
    """Composite targets A and B on the real background, simulate thermal and events; frames and sentences."""
    from mamba_tracking_ros.data.event_sim import EventSimulator
    from mamba_tracking_ros.data.footage import read_clip
    from mamba_tracking_ros.data.thermal_sim import (
        ThermalSceneConfig,
        compose_thermal_scene,
        simulate_thermal,
    )

    if cfg.target_a == cfg.target_b:
        raise ValueError("target_a and target_b: must be two different objects")
    size = (cfg.width, cfg.height)
    background = read_clip(cfg.background, cfg.n_frames, size=size, start=cfg.background_start)
    objects = {}
    for key, crop_id, lane, phase in (("A", cfg.target_a, 0.15, 0.0), ("B", cfg.target_b, 0.8, 0.55)):
        rgb, alpha, meta = _scaled_crop(crop_id, cfg.object_height)
        oh, ow = alpha.shape
        if ow > cfg.width // 2:
            raise ValueError(f"{crop_id}: {ow} px wide after scaling, too wide for a {cfg.width} px frame")
        objects[key] = (rgb, alpha, meta, _path(cfg.n_frames, size, (ow, oh), lane, phase))
    sentences = {k: f"the {o[2].colour} {o[2].category}" for k, o in objects.items()}
    if sentences["A"] == sentences["B"]:
        sentences["B"] = f"the other {objects['B'][2].category}"
    thermal_cfg = ThermalSceneConfig(fpn_seed=cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    sim = EventSimulator(cfg.height, cfg.width, seed=cfg.seed)
    frames: list[SampleFrame] = []
    for k in range(cfg.n_frames):
        rgb = background[k].copy()
        masks, boxes = [], {}
        for key, (orgb, alpha, meta, path) in objects.items():
            x0, y0 = (int(v) for v in path[k])
            oh, ow = alpha.shape
            region = rgb[y0 : y0 + oh, x0 : x0 + ow]
            region[alpha] = orgb[alpha]
            full = np.zeros((cfg.height, cfg.width), dtype=bool)
            full[y0 : y0 + oh, x0 : x0 + ow] = alpha
            masks.append((full, meta.temperature_k, meta.emissivity))
            boxes[key] = (float(x0), float(y0), float(ow), float(oh))  # alpha is tight: the exact box
        # 8-bit luminance (as a camera delivers): at most 256 background temperatures, cheap band radiance
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)
        temperature, emissivity = compose_thermal_scene(gray, masks, thermal_cfg)
        thermal = simulate_thermal(temperature, emissivity, thermal_cfg, rng)
        t_us = cfg.frame_us(k)
        if k == 0:
            sim.reset(gray, t_us)
            events = None
        else:
            ev = sim.step(gray, t_us)
            events = (ev.x, ev.y, ev.t.astype(np.int64), ev.p)
        frames.append(SampleFrame(rgb, thermal, events, boxes))
    return frames, sentences["A"], sentences["B"]


def _time(ns: int) -> Any:
    """builtin_interfaces/Time from integer nanoseconds."""
    from builtin_interfaces.msg import Time

    return Time(**ns_to_time_fields(ns))


def _qos(reliable: bool, depth: int) -> Any:
    """A rosbags offered-QoS profile (keep last ``depth``, volatile; reliable or best effort)."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    zero = QosTime(0, 0)
    rel = QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT
    return Qos(
        QosHistory.KEEP_LAST,
        depth,
        rel,
        QosDurability.VOLATILE,
        zero,
        zero,
        QosLiveliness.AUTOMATIC,
        zero,
        False,
    )


def _box_msg(box: tuple[float, float, float, float]) -> Any:
    """vision_msgs/BoundingBox2D (centre + size) of an (x, y, w, h) box."""
    from vision_msgs.msg import BoundingBox2D

    msg = BoundingBox2D()
    x, y, w, h = box
    msg.center.position.x, msg.center.position.y = x + w / 2.0, y + h / 2.0
    msg.size_x, msg.size_y = w, h
    return msg


def write_sample_bag(path: str | Path, cfg: SampleBagConfig | None = None) -> SampleBagInfo:
    """Compose the sample scene and write it as a rosbag2 directory at ``path`` (must not exist)."""
    from event_camera_msgs.msg import EventPacket
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header, String
    from vision_msgs.msg import Detection2D, ObjectHypothesisWithPose

    from mamba_tracking_ros.ros_adapters.bags import BagWriter

    cfg = cfg or SampleBagConfig()
    path = Path(path)
    frames, sentence_a, sentence_b = compose_sample_scene(cfg)
    counts = dict.fromkeys(TOPICS.values(), 0)
    n_events, targets = 0, []
    categories = {}
    from mamba_tracking_ros.data.object_crops import get_crop

    for key, crop_id in (("A", cfg.target_a), ("B", cfg.target_b)):
        categories[key] = get_crop(crop_id).category
    with BagWriter(path, storage=cfg.storage) as bag:
        bag.add_topic(TOPICS["command"], String, [_qos(True, 10)])
        bag.add_topic(TOPICS["box"], "vision_msgs/msg/BoundingBox2D", [_qos(True, 10)])
        bag.add_topic(TOPICS["events"], EventPacket, [_qos(False, 100)])  # metavision_driver: best effort
        bag.add_topic(TOPICS["rgb"], Image, [_qos(True, 5)])
        bag.add_topic(TOPICS["thermal"], Image, [_qos(True, 5)])
        bag.add_topic(TOPICS["ground_truth"], Detection2D, [_qos(True, 10)])

        def put(role: str, msg: Any, stamp: int) -> None:
            bag.write(TOPICS[role], msg, stamp + _LOG_OFFSET_NS[role])
            counts[TOPICS[role]] += 1

        seq = 0
        for k, fr in enumerate(frames):
            stamp = cfg.stamp_ns(k)
            target = "A" if (cfg.retarget_at == 0 or k < cfg.retarget_at) else "B"
            targets.append(target)
            if k == 0:
                put("command", String(data=sentence_a), stamp)
                put("box", _box_msg(fr.boxes["A"]), stamp)
            elif k == cfg.retarget_at:
                put("command", String(data=sentence_b), stamp)
            if fr.events is not None:
                x, y, t_us, p = fr.events
                packet = EventPacket()
                first_us = int(t_us[0]) if t_us.shape[0] else cfg.frame_us(k - 1)
                packet.header = Header(
                    stamp=_time(cfg.start_time_ns + first_us * 1000), frame_id="camera_events"
                )
                packet.height, packet.width = cfg.height, cfg.width
                packet.seq, packet.time_base, packet.encoding = seq, first_us * 1000, "evt3"
                packet.is_bigendian = False
                packet.events = array.array("B", encode_evt3(x, y, t_us, p))
                put("events", packet, stamp)
                seq += 1
                n_events += int(t_us.shape[0])
            rgb = Image(
                header=Header(stamp=_time(stamp), frame_id="camera_rgb"),
                **numpy_to_image_fields(fr.rgb, "rgb8"),
            )
            put("rgb", rgb, stamp)
            th = Image(
                header=Header(stamp=_time(stamp), frame_id="camera_thermal"),
                **numpy_to_image_fields(fr.thermal, "mono16"),
            )
            put("thermal", th, stamp)
            gt = Detection2D(header=Header(stamp=_time(stamp), frame_id="camera_rgb"), id=target)
            gt.bbox = _box_msg(fr.boxes[target])
            hyp = ObjectHypothesisWithPose()
            hyp.hypothesis.class_id, hyp.hypothesis.score = categories[target], 1.0
            gt.results = [hyp]
            put("ground_truth", gt, stamp)
    info = SampleBagInfo(path, cfg, sentence_a, sentence_b, counts, n_events, targets)
    (path / "sample_info.json").write_text(json.dumps(info.to_json(), indent=1), encoding="utf-8")
    return info
