"""Common sequence type and shared parsing helpers for the dataset readers.

A reader turns one on-disk benchmark layout into :class:`TrackingSequence` objects: per-frame image paths
(RGB, thermal, event *images*), an optional raw event stream, ground-truth boxes and per-frame flags.
Images are loaded only when a frame is requested (:meth:`TrackingSequence.frame`).

Conventions shared by every reader:

* boxes are ``(N, 4)`` float64 ``x, y, w, h`` in pixels (top-left corner), exactly as stored; a missing
  annotation (a ``nan`` token, an empty line inside the file, or a frame the dataset does not annotate)
  is a row of NaN;
* ``valid[i]`` is True when box ``i`` is finite with positive width and height and the dataset's own
  visibility flags (occlusion / out-of-view / absent) do not say the target is invisible;
* frame files are ordered by the integer in their name (``v9.jpg`` before ``v10.jpg``);
* a grey image read for the RGB slot is replicated to three channels, RGBA drops alpha; a thermal image
  stored with three equal channels keeps one channel (dtype as stored: uint8 or uint16).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from mamba_tracking_ros.data.event_frames import event_image_to_window
from mamba_tracking_ros.frame import EventWindow, Frame

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
_SPLIT = re.compile(r"[,\s]+")
_DIGITS = re.compile(r"(\d+)")


# ----------------------------------------------------------------------------------------------- file helpers
def require_dir(path: Path, what: str) -> Path:
    """Return ``path`` if it is a directory, else raise FileNotFoundError naming it and its role."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{what}: directory not found: {path}")
    return path


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is a file, else raise FileNotFoundError naming it and its role."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what}: file not found: {path}")
    return path


def frame_number(path: Path) -> int:
    """The last integer in a frame file's stem (``00000001.jpg`` -> 1, ``00012v.jpg`` -> 12)."""
    numbers = _DIGITS.findall(Path(path).stem)
    if not numbers:
        raise ValueError(f"frame: no frame number in file name {path}")
    return int(numbers[-1])


def list_images(directory: Path, what: str) -> list[Path]:
    """Image files of a frame folder sorted by frame number (non-images such as ``*.pn_error`` ignored)."""
    directory = require_dir(directory, what)
    files = [p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=lambda p: (frame_number(p), p.name))


def list_subdirs(root: Path) -> list[str]:
    """Names of the sub-directories of ``root``, sorted."""
    return sorted(p.name for p in Path(root).iterdir() if p.is_dir())


def read_text(path: Path) -> str | None:
    """A text file's stripped content, or None if the file is missing or empty (tolerates stray bytes)."""
    path = Path(path)
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    return text or None


def read_first_line(path: Path) -> str | None:
    """The first non-empty line of a text file (a sentence file), or None if missing or empty."""
    text = read_text(path)
    if text is None:
        return None
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return None


def read_lines(path: Path) -> list[str]:
    """Non-empty stripped lines of a text file (empty list if the file is missing)."""
    text = read_text(path)
    return [] if text is None else [line.strip() for line in text.splitlines() if line.strip()]


def _parse_float(token: str, path: Path, line_no: int) -> float:
    """Parse one numeric token (``nan`` accepted) or raise ValueError naming file and line."""
    try:
        return float(token)
    except ValueError as exc:
        raise ValueError(f"groundtruth: {path}:{line_no}: not a number: {token!r}") from exc


def read_boxes(path: Path) -> np.ndarray:
    """Read an ``x,y,w,h`` per-line box file; comma, tab or space separated (mixed allowed).

    Eight numbers on a line are a polygon ``x1,y1,...,x4,y4`` and become its axis-aligned bounding box.
    ``nan`` tokens and empty lines inside the file are missing annotations (NaN rows); trailing empty lines
    are ignored. Any other shape or token raises ValueError naming the file and line.
    """
    path = require_file(path, "groundtruth")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    rows = np.full((len(lines), 4), np.nan, dtype=np.float64)
    for k, raw in enumerate(lines):
        line = raw.strip().strip(",")
        if not line:
            continue
        values = [_parse_float(tok, path, k + 1) for tok in _SPLIT.split(line) if tok]
        if len(values) == 4:
            rows[k] = values
        elif len(values) == 8:
            xs, ys = np.array(values[0::2]), np.array(values[1::2])
            rows[k] = (xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min())
        else:
            raise ValueError(
                f"groundtruth: {path}:{k + 1}: expected 4 (x,y,w,h) or 8 numbers, got {len(values)}"
            )
    return rows


def read_flags(path: Path, count: int, what: str) -> np.ndarray:
    """Read a 0/1 flag file (comma, space or newline separated) into a bool array of length ``count``."""
    path = require_file(path, what)
    tokens = [t for t in _SPLIT.split(path.read_text(encoding="utf-8", errors="replace").strip()) if t]
    try:
        values = np.array([int(float(t)) for t in tokens], dtype=np.int64)
    except ValueError as exc:
        raise ValueError(f"{what}: {path}: expected 0/1 flags") from exc
    if values.size and not np.isin(values, (0, 1)).all():
        raise ValueError(f"{what}: {path}: flags must be 0 or 1")
    if values.size != count:
        raise ValueError(f"{what}: {path} has {values.size} flags but the sequence has {count} frames")
    return values.astype(bool)


def check_count(n_frames: int, n_boxes: int, frames_dir: Path, gt_path: Path) -> None:
    """Raise ValueError naming both paths when the ground truth length differs from the frame count."""
    if n_frames != n_boxes:
        raise ValueError(f"groundtruth: {gt_path} has {n_boxes} boxes but {frames_dir} has {n_frames} frames")


def boxes_valid(boxes: np.ndarray) -> np.ndarray:
    """Per-frame mask of finite boxes with positive width and height."""
    finite = np.isfinite(boxes).all(axis=1)
    with np.errstate(invalid="ignore"):
        return finite & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


# ---------------------------------------------------------------------------------------------- image helpers
def load_image(path: Path) -> np.ndarray:
    """Read an image as stored: uint8 (grey, RGB, RGBA) or uint16 (16-bit grey PNG/TIFF)."""
    with Image.open(path) as img:
        if img.mode in ("I;16", "I;16B", "I;16L"):
            return np.asarray(img, dtype=np.uint16)
        if img.mode == "I":
            arr = np.asarray(img)
            if arr.size and (arr.min() < 0 or arr.max() > 65535):
                raise ValueError(f"thermal: {path}: 32-bit values outside the uint16 range")
            return arr.astype(np.uint16)
        if img.mode == "P" or img.mode == "LA" or img.mode == "CMYK" or img.mode == "YCbCr":
            img = img.convert("RGB")
        elif img.mode == "1":
            img = img.convert("L")
        return np.asarray(img)


def to_rgb(image: np.ndarray, path: Path) -> np.ndarray:
    """Make an RGB slot image HxWx3 uint8: grey is replicated, alpha dropped; 16-bit RGB is rejected."""
    if image.dtype != np.uint8:
        raise ValueError(f"rgb: {path}: expected an 8-bit image, got dtype {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 4:
        return np.ascontiguousarray(image[:, :, :3])
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"rgb: {path}: unsupported image shape {image.shape}")


def to_thermal(image: np.ndarray, path: Path) -> np.ndarray:
    """Make a thermal slot image HxW as stored (uint8/uint16); equal-channel colour files keep one channel.

    A colour file whose channels differ (a false-colour palette) is reduced to ITU-R BT.601 luma, uint8.
    """
    if image.ndim == 3:
        channels = image[:, :, :3]
        if (channels == channels[:, :, :1]).all():
            image = np.ascontiguousarray(channels[:, :, 0])
        else:
            luma = channels.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
            image = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    if image.ndim != 2 or image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"thermal: {path}: unsupported image {image.shape} {image.dtype}")
    return image


# ---------------------------------------------------------------------------------------------- event streams
class EventSource(Protocol):
    """Anything that can return the events of a time window ``[t_start, t_end)`` (microseconds)."""

    def window(self, t_start: int, t_end: int) -> EventWindow:
        """Events with ``t_start <= t < t_end`` as an EventWindow bounded by the window."""
        ...


@dataclass
class NpzEventStream:
    """A raw event stream in an ``.npz`` file with arrays ``x``, ``y``, ``t`` (int microseconds), ``p``.

    Loaded on first use and kept; sorted by time once if needed. Optional scalars ``height``/``width``
    give the sensor size (needed for an events-only sequence).
    """

    path: Path
    _data: dict[str, np.ndarray] | None = field(default=None, init=False, repr=False)

    def _load(self) -> dict[str, np.ndarray]:
        """Read and check the arrays once."""
        if self._data is None:
            path = require_file(self.path, "events")
            with np.load(path) as npz:
                missing = [k for k in ("x", "y", "t", "p") if k not in npz.files]
                if missing:
                    raise ValueError(f"events: {path} lacks arrays {missing} (needs x, y, t, p)")
                data = {k: np.asarray(npz[k]).reshape(-1) for k in ("x", "y", "t", "p")}
                for key in ("height", "width"):
                    if key in npz.files:
                        data[key] = np.asarray(npz[key])
            if data["t"].dtype.kind not in "iu":
                raise ValueError(
                    f"events.t: {path}: expected integer microseconds, got dtype {data['t'].dtype}"
                )
            data["t"] = data["t"].astype(np.int64)
            if len(data["t"]) > 1 and bool((data["t"][1:] < data["t"][:-1]).any()):
                order = np.argsort(data["t"], kind="stable")
                data = {k: (v[order] if v.ndim == 1 and len(v) == len(order) else v) for k, v in data.items()}
            self._data = data
        return self._data

    def sensor_size(self) -> tuple[int, int] | None:
        """``(height, width)`` stored in the file, or None."""
        data = self._load()
        if "height" in data and "width" in data:
            return int(data["height"]), int(data["width"])
        return None

    def time_span(self) -> tuple[int, int] | None:
        """First and last event time in microseconds, or None for an empty stream."""
        t = self._load()["t"]
        return (int(t[0]), int(t[-1])) if len(t) else None

    def window(self, t_start: int, t_end: int) -> EventWindow:
        """Events with ``t_start <= t < t_end`` (views into the loaded arrays)."""
        data = self._load()
        t = data["t"]
        lo = int(np.searchsorted(t, t_start, side="left"))
        hi = int(np.searchsorted(t, t_end, side="left"))
        return EventWindow(
            x=data["x"][lo:hi],
            y=data["y"][lo:hi],
            t=t[lo:hi],
            p=data["p"][lo:hi],
            t_start=int(t_start),
            t_end=int(max(t_end, t_start)),
        )


# ----------------------------------------------------------------------------------------------- the sequence
@dataclass
class TrackingSequence:
    """One annotated tracking sequence of any supported dataset; images load lazily in :meth:`frame`.

    ``rgb_paths``/``thermal_paths``/``event_frame_paths`` hold one path per frame (or None when the dataset
    lacks the modality). ``event_frame_paths`` are event *images* rendered by the dataset authors
    (:meth:`event_frame` as stored); without a raw stream they are the ``events`` modality, converted to
    pseudo-events by :func:`~mamba_tracking_ros.data.event_frames.event_image_to_window`. ``events`` is a raw
    stream sliced per frame by ``timestamps``; it is preferred when both exist. ``modality_boxes`` keeps
    per-modality ground truth where a dataset stores it (e.g. RGBT234 ``visible.txt``/``infrared.txt``);
    ``boxes`` is the dataset's evaluation ground truth.
    """

    name: str
    dataset: str
    boxes: np.ndarray
    rgb_paths: list[Path] | None = None
    thermal_paths: list[Path] | None = None
    event_frame_paths: list[Path] | None = None
    events: EventSource | None = None
    valid: np.ndarray | None = None
    full_occlusion: np.ndarray | None = None
    out_of_view: np.ndarray | None = None
    absent: np.ndarray | None = None
    sentence: str | None = None
    attributes: list[str] = field(default_factory=list)
    object_class: str | None = None
    timestamps: np.ndarray | None = None
    nominal_fps: float = 30.0
    sensor_size: tuple[int, int] | None = None
    modality_boxes: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check that every per-frame field has one entry per frame; derive ``valid`` when not given."""
        boxes = np.asarray(self.boxes, dtype=np.float64)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"boxes: expected shape (N, 4), got {boxes.shape} for sequence {self.name}")
        self.boxes = boxes
        n = len(boxes)
        for name in ("rgb_paths", "thermal_paths", "event_frame_paths"):
            paths = getattr(self, name)
            if paths is not None and len(paths) != n:
                raise ValueError(f"{name}: {len(paths)} entries for {n} boxes in sequence {self.name}")
        sources = (self.rgb_paths, self.thermal_paths, self.events, self.event_frame_paths)
        if all(s is None for s in sources):
            raise ValueError(f"sequence: {self.name} has no modality (rgb, thermal or events)")
        for name in ("valid", "full_occlusion", "out_of_view", "absent"):
            mask = getattr(self, name)
            if mask is None:
                continue
            mask = np.asarray(mask, dtype=bool).reshape(-1)
            if len(mask) != n:
                raise ValueError(f"{name}: {len(mask)} flags for {n} frames in sequence {self.name}")
            setattr(self, name, mask)
        for key, other in self.modality_boxes.items():
            if np.asarray(other).shape != (n, 4):
                raise ValueError(f"modality_boxes[{key}]: shape {np.asarray(other).shape}, expected ({n}, 4)")
        if self.timestamps is not None:
            ts = np.asarray(self.timestamps, dtype=np.float64).reshape(-1)
            if len(ts) != n:
                raise ValueError(f"timestamps: {len(ts)} values for {n} frames in sequence {self.name}")
            if not np.isfinite(ts).all() or (len(ts) > 1 and bool((np.diff(ts) < 0).any())):
                raise ValueError(f"timestamps: must be finite and non-decreasing in sequence {self.name}")
            self.timestamps = ts
        if self.events is not None and self.timestamps is None:
            raise ValueError(f"timestamps: sequence {self.name} has an event stream but no frame timestamps")
        if not (isinstance(self.nominal_fps, (int, float)) and math.isfinite(self.nominal_fps)):
            raise ValueError(f"nominal_fps: expected a positive number, got {self.nominal_fps!r}")
        if self.nominal_fps <= 0:
            raise ValueError(f"nominal_fps: expected a positive number, got {self.nominal_fps!r}")
        if self.valid is None:
            valid = boxes_valid(boxes)
            for flag in (self.full_occlusion, self.out_of_view, self.absent):
                if flag is not None:
                    valid &= ~flag
            self.valid = valid

    def __len__(self) -> int:
        """Number of frames."""
        return len(self.boxes)

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modalities :meth:`frame` returns, in canonical order."""
        present = (
            ("rgb", self.rgb_paths is not None),
            ("thermal", self.thermal_paths is not None),
            ("events", self.events is not None or self.event_frame_paths is not None),
        )
        return tuple(m for m, ok in present if ok)

    def _index(self, i: int) -> int:
        """Normalise a frame index or raise ValueError naming it."""
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise ValueError(f"frame: index must be an integer, got {i!r}")
        n = len(self)
        if not -n <= int(i) < n:
            raise ValueError(f"frame: index {i} out of range for {n} frames in sequence {self.name}")
        return int(i) % n

    def timestamp(self, i: int) -> float:
        """Frame time in seconds: the stored timestamp, else ``i / nominal_fps``."""
        i = self._index(i)
        if self.timestamps is not None:
            return float(self.timestamps[i])
        return i / float(self.nominal_fps)

    def event_window_us(self, i: int) -> tuple[int, int]:
        """The frame's event window ``[t_start, t_end)`` in microseconds: from the previous frame's time
        (for frame 0, one frame interval earlier) up to this frame's time, so windows tile the stream.
        Without stored timestamps the nominal frame times ``i / nominal_fps`` are used."""
        i = self._index(i)
        if self.timestamps is None:
            return (
                int(round((i - 1) * 1e6 / self.nominal_fps)),
                int(round(i * 1e6 / self.nominal_fps)),
            )
        us = np.rint(self.timestamps * 1e6).astype(np.int64)
        end = int(us[i])
        if i > 0:
            start = int(us[i - 1])
        elif len(us) > 1:
            start = end - int(us[1] - us[0])
        else:
            start = end - int(round(1e6 / self.nominal_fps))
        return start, end

    def rgb(self, i: int) -> np.ndarray:
        """The RGB (or grey APS, replicated) image of frame ``i`` as HxWx3 uint8."""
        if self.rgb_paths is None:
            raise ValueError(f"rgb: sequence {self.name} has no RGB frames")
        path = self.rgb_paths[self._index(i)]
        return to_rgb(load_image(path), path)

    def thermal(self, i: int) -> np.ndarray:
        """The thermal image of frame ``i`` as HxW uint8/uint16, as stored."""
        if self.thermal_paths is None:
            raise ValueError(f"thermal: sequence {self.name} has no thermal frames")
        path = self.thermal_paths[self._index(i)]
        return to_thermal(load_image(path), path)

    def event_frame(self, i: int) -> np.ndarray:
        """The dataset's pre-rendered event image of frame ``i`` as stored (not an event stream)."""
        if self.event_frame_paths is None:
            raise ValueError(f"event_frame: sequence {self.name} has no event images")
        return load_image(self.event_frame_paths[self._index(i)])

    def event_window(self, i: int) -> EventWindow:
        """Frame ``i``'s events (window: :meth:`event_window_us`): the raw stream, else the event image."""
        if self.events is None and self.event_frame_paths is None:
            raise ValueError(f"events: sequence {self.name} has no event stream and no event images")
        start, end = self.event_window_us(i)
        if self.events is not None:
            return self.events.window(start, end)
        path = self.event_frame_paths[self._index(i)]
        try:
            return event_image_to_window(load_image(path), start, end)
        except ValueError as exc:
            raise ValueError(f"events: {path}: {exc}") from exc

    def frame(self, i: int) -> Frame:
        """Load frame ``i`` as a tracker :class:`~mamba_tracking_ros.tracking.Frame` (lazily read)."""
        i = self._index(i)
        rgb = self.rgb(i) if self.rgb_paths is not None else None
        thermal = self.thermal(i) if self.thermal_paths is not None else None
        events = self.event_window(i) if "events" in self.modalities else None
        size = None if (rgb is not None or thermal is not None) else self.sensor_size
        if size is None and rgb is None and thermal is None and self.event_frame_paths is not None:
            with Image.open(self.event_frame_paths[i]) as img:  # events-only: the event image's size
                size = (img.height, img.width)
        return Frame(rgb=rgb, thermal=thermal, events=events, timestamp=self.timestamp(i), size=size)


class DatasetReader(Protocol):
    """What every reader offers: the sequence names and one sequence by name."""

    def sequences(self) -> list[str]:
        """Names of the sequences of this dataset (split)."""
        ...

    def sequence(self, name: str) -> TrackingSequence:
        """Load one sequence's metadata and paths (images stay on disk)."""
        ...


class SequenceFolderReader:
    """Base of readers whose ``root`` (or ``root/<split>``) holds one folder per sequence.

    A folder counts as a sequence when every path in ``markers`` (relative to it; ``{seq}`` is replaced by
    the folder name) exists.
    """

    name = ""
    markers: tuple[str, ...] = ("groundtruth.txt",)

    def __init__(self, root: str | Path, split: str | None = None) -> None:
        """Open ``root`` (or its ``split`` sub-folder, e.g. 'train' / 'test')."""
        root = require_dir(Path(root), "root")
        self.root = require_dir(root / split, "split") if split is not None else root

    def sequences(self) -> list[str]:
        """Sequence folder names, sorted."""
        return [
            s
            for s in list_subdirs(self.root)
            if all((self.root / s / marker.format(seq=s)).exists() for marker in self.markers)
        ]
