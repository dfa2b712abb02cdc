"""The real-footage test set: real sensor footage, real target motion, hand-checked labels.

The labels are committed in ``data/real_labels/<sequence>/`` (the footage is not; it is fetched by
``scripts/fetch_footage.sh``). Each label folder holds:

* ``groundtruth.txt``: one ``x,y,w,h`` line per frame of the sequence (pixels of the written frame, top-left
  corner); ``nan`` for a frame whose target is flagged fully occluded / out of view;
* ``meta.json``: ``source`` (``opencv/vtest`` or another clip id of ``data/footage.py``, or
  ``davis346/test_data`` for the DAVIS346 recording), ``first_frame`` / ``last_frame`` (inclusive source frame
  numbers, 0-based), ``crop`` (``null`` or ``[x, y, w, h]`` cut from every source frame; boxes refer to the
  cut), ``sentence``, ``attributes``, ``full_occlusion`` / ``out_of_view`` (lists of source frame numbers),
  and free-text provenance: ``labelled`` (the method), ``interpolated_frames`` (``[first, last]`` source-frame
  ranges whose box was interpolated, not measured), ``checked``, ``hand_corrected_frames``.

:func:`build_real_sequences` writes each sequence in the project layout (``data/datasets/project.py``):
``rgb/`` frames (vtest: RGB PNG; DAVIS: the grey APS frames as grey PNG, which the reader replicates to three
channels), ``groundtruth.txt``, ``sentence.txt``, ``attributes.txt``, ``full_occlusion.txt``,
``out_of_view.txt``, ``meta.json`` and, for the DAVIS recording, ``events.npz`` (the recording's own events
with ``height``/``width`` = 260/346) and ``timestamps.txt`` (the APS frame times). DAVIS times are rebased
so that ``0`` is one frame interval before the first frame (``time_offset_us`` in ``meta.json`` gives the
recording clock of that instant). Nothing is downloaded; missing footage raises FileNotFoundError saying
how to fetch it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .footage import CLIPS, FETCH_HINT, clip_path, footage_dir

LABELS_DIR = Path(__file__).resolve().parent / "real_labels"
DAVIS_SOURCE = "davis346/test_data"
DAVIS_RELPATH = "davis346/test_data.aedat4"
SOURCES = (DAVIS_SOURCE, *sorted(CLIPS))
_META_KEYS = ("source", "first_frame", "last_frame", "sentence", "attributes")


@dataclass(frozen=True)
class RealLabels:
    """One sequence's committed labels: source range, boxes, flags, sentence, attributes, provenance."""

    name: str
    source: str
    first_frame: int
    last_frame: int
    boxes: np.ndarray  # (N, 4) float64 x, y, w, h; NaN rows allowed only on flagged frames
    full_occlusion: np.ndarray  # (N,) bool
    out_of_view: np.ndarray  # (N,) bool
    sentence: str
    attributes: list[str]
    crop: tuple[int, int, int, int] | None = None
    meta: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        """Number of frames of the sequence."""
        return self.last_frame - self.first_frame + 1


def list_real_sequences(labels_dir: str | Path | None = None) -> list[str]:
    """Names of the label folders (those holding a ``meta.json``), sorted."""
    root = Path(labels_dir) if labels_dir is not None else LABELS_DIR
    if not root.is_dir():
        raise FileNotFoundError(f"real labels: directory not found: {root}")
    return sorted(p.name for p in root.iterdir() if (p / "meta.json").is_file())


def _flags(meta: dict, key: str, first: int, last: int, path: Path) -> np.ndarray:
    """Per-frame bool flags from a list of source frame numbers in ``meta[key]``."""
    frames = meta.get(key, [])
    if not isinstance(frames, list) or not all(isinstance(f, int) for f in frames):
        raise ValueError(f"real labels: {path}: '{key}' must be a list of integer frame numbers")
    flags = np.zeros(last - first + 1, dtype=bool)
    for f in frames:
        if not first <= f <= last:
            raise ValueError(f"real labels: {path}: '{key}' frame {f} outside [{first}, {last}]")
        flags[f - first] = True
    return flags


def _read_label_boxes(path: Path) -> np.ndarray:
    """``x,y,w,h`` lines (comma separated, ``nan`` allowed) or ValueError naming the file and line."""
    if not path.is_file():
        raise FileNotFoundError(f"real labels: file not found: {path}")
    lines = path.read_text(encoding="utf-8").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    rows = np.full((len(lines), 4), np.nan)
    for k, line in enumerate(lines):
        tokens = [t for t in line.replace(",", " ").split() if t]
        if len(tokens) != 4:
            raise ValueError(f"real labels: {path}:{k + 1}: expected 4 numbers x,y,w,h, got {line!r}")
        try:
            rows[k] = [float(t) for t in tokens]
        except ValueError as exc:
            raise ValueError(f"real labels: {path}:{k + 1}: not a number in {line!r}") from exc
    return rows


def load_labels(name: str, labels_dir: str | Path | None = None) -> RealLabels:
    """Read and check one label folder (ValueError / FileNotFoundError naming the file on any problem)."""
    folder = (Path(labels_dir) if labels_dir is not None else LABELS_DIR) / name
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"real labels: file not found: {meta_path}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"real labels: {meta_path}: not valid JSON ({exc})") from exc
    missing = [k for k in _META_KEYS if k not in meta]
    if missing:
        raise ValueError(f"real labels: {meta_path}: missing keys {missing}")
    if meta["source"] not in SOURCES:
        raise ValueError(
            f"real labels: {meta_path}: unknown source {meta['source']!r}; expected one of {SOURCES}"
        )
    first, last = meta["first_frame"], meta["last_frame"]
    if not (isinstance(first, int) and isinstance(last, int) and 0 <= first <= last):
        raise ValueError(f"real labels: {meta_path}: need integers 0 <= first_frame <= last_frame")
    crop = meta.get("crop")
    if crop is not None:
        if not (isinstance(crop, list) and len(crop) == 4 and all(isinstance(v, int) for v in crop)):
            raise ValueError(f"real labels: {meta_path}: 'crop' must be null or [x, y, w, h] integers")
        if crop[0] < 0 or crop[1] < 0 or crop[2] < 1 or crop[3] < 1:
            raise ValueError(f"real labels: {meta_path}: 'crop' {crop} has a negative origin or empty size")
        crop = tuple(crop)
    if not isinstance(meta["sentence"], str) or not meta["sentence"].strip():
        raise ValueError(f"real labels: {meta_path}: 'sentence' must be a non-empty string")
    if not isinstance(meta["attributes"], list) or not all(isinstance(a, str) for a in meta["attributes"]):
        raise ValueError(f"real labels: {meta_path}: 'attributes' must be a list of strings")
    gt_path = folder / "groundtruth.txt"
    boxes = _read_label_boxes(gt_path)
    n = last - first + 1
    if len(boxes) != n:
        raise ValueError(
            f"real labels: {gt_path} has {len(boxes)} boxes but frames {first}..{last} are {n} frames"
        )
    occluded = _flags(meta, "full_occlusion", first, last, meta_path)
    out_of_view = _flags(meta, "out_of_view", first, last, meta_path)
    hidden = occluded | out_of_view
    for k in range(n):
        finite = bool(np.isfinite(boxes[k]).all())
        if not hidden[k] and not (finite and boxes[k, 2] > 0 and boxes[k, 3] > 0):
            raise ValueError(
                f"real labels: {gt_path}:{k + 1}: frame {first + k} is not flagged occluded / out of view "
                f"but its box {boxes[k].tolist()} is not a finite box with positive size"
            )
    return RealLabels(
        name=name,
        source=meta["source"],
        first_frame=first,
        last_frame=last,
        boxes=boxes,
        full_occlusion=occluded,
        out_of_view=out_of_view,
        sentence=meta["sentence"].strip(),
        attributes=list(meta["attributes"]),
        crop=crop,
        meta=meta,
    )


def check_boxes_in_image(labels: RealLabels, width: int, height: int) -> None:
    """ValueError naming the frame when a finite box leaves the ``width`` x ``height`` image."""
    for k, (x, y, w, h) in enumerate(labels.boxes):
        if not math.isfinite(x):
            continue
        if x < 0 or y < 0 or x + w > width + 1e-6 or y + h > height + 1e-6:
            raise ValueError(
                f"real labels: {labels.name}: frame {labels.first_frame + k} box {[x, y, w, h]} is outside "
                f"the {width}x{height} image"
            )


def davis_path() -> Path:
    """Path of the fetched DAVIS346 recording; FileNotFoundError with the fetch hint when absent."""
    path = footage_dir() / DAVIS_RELPATH
    if not path.is_file():
        raise FileNotFoundError(f"footage: DAVIS346 recording not found at {path}; {FETCH_HINT}")
    return path


def _cut(frame: np.ndarray, crop: tuple[int, int, int, int] | None, name: str) -> np.ndarray:
    """Apply a label crop to a frame (ValueError when the crop leaves the frame)."""
    if crop is None:
        return frame
    x, y, w, h = crop
    if x + w > frame.shape[1] or y + h > frame.shape[0]:
        raise ValueError(
            f"real labels: {name}: crop {list(crop)} exceeds the {frame.shape[1]}x{frame.shape[0]} frame"
        )
    return np.ascontiguousarray(frame[y : y + h, x : x + w])


def _video_frames(labels: RealLabels) -> Iterator[np.ndarray]:
    """Decode a clip's frames ``first_frame..last_frame`` (BGR, uncropped), one at a time."""
    path = str(clip_path(labels.source))
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise ValueError(f"footage: OpenCV cannot open {path}")
    try:
        for k in range(labels.last_frame + 1):
            if k < labels.first_frame:
                if not cap.grab():
                    raise ValueError(
                        f"footage: {path} ends at frame {k}; {labels.name} needs {labels.last_frame}"
                    )
                continue
            ok, bgr = cap.read()
            if not ok:
                raise ValueError(
                    f"footage: {path} ends at frame {k}; {labels.name} needs {labels.last_frame}"
                )
            yield bgr
    finally:
        cap.release()


def _write_common(labels: RealLabels, seq_dir: Path, extra_meta: dict) -> None:
    """Ground truth, sentence, attributes, flags and meta.json of a built sequence."""
    lines = [
        "nan,nan,nan,nan" if not np.isfinite(b).all() else ",".join(f"{v:g}" for v in b) for b in labels.boxes
    ]
    (seq_dir / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    (seq_dir / "sentence.txt").write_text(labels.sentence + "\n")
    (seq_dir / "attributes.txt").write_text("".join(a + "\n" for a in labels.attributes))
    for flag in ("full_occlusion", "out_of_view"):
        values = getattr(labels, flag)
        (seq_dir / f"{flag}.txt").write_text("\n".join(str(int(v)) for v in values) + "\n")
    meta = {"name": labels.name, **labels.meta, **extra_meta}
    (seq_dir / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")


def _build_video(labels: RealLabels, seq_dir: Path) -> dict:
    """Write the RGB frames of a clip-sourced sequence; returns extra meta."""
    rgb_dir = seq_dir / "rgb"
    rgb_dir.mkdir(parents=True, exist_ok=True)
    size = None
    for k, bgr in enumerate(_video_frames(labels)):
        frame = _cut(bgr, labels.crop, labels.name)
        if size is None:
            size = (frame.shape[1], frame.shape[0])
            check_boxes_in_image(labels, *size)
        cv2.imwrite(str(rgb_dir / f"{k:06d}.png"), frame)
    return {"image_size": list(size), "source_path": str(clip_path(labels.source))}


def _build_davis(labels: RealLabels, seq_dir: Path, recording: object | None) -> dict:
    """Write APS frames, the real events and frame timestamps of a DAVIS-sourced sequence."""
    from .aedat import read_aedat

    rec = recording if recording is not None else read_aedat(davis_path())
    n_aps = len(rec.frame_t)
    if labels.last_frame >= n_aps:
        raise ValueError(
            f"real labels: {labels.name}: last_frame {labels.last_frame} but the recording has "
            f"{n_aps} APS frames"
        )
    frames = rec.frames[labels.first_frame : labels.last_frame + 1]
    if frames.ndim == 4:
        frames = frames[..., 0] if frames.shape[-1] == 1 else frames
    frame_t = rec.frame_t[labels.first_frame : labels.last_frame + 1]
    interval = int(np.median(np.diff(rec.frame_t))) if n_aps > 1 else 40_000
    offset = int(frame_t[0]) - interval
    rgb_dir = seq_dir / "rgb"
    rgb_dir.mkdir(parents=True, exist_ok=True)
    size = None
    for k, img in enumerate(frames):
        img = _cut(np.asarray(img), labels.crop, labels.name)
        if size is None:
            size = (img.shape[1], img.shape[0])
            check_boxes_in_image(labels, *size)
        cv2.imwrite(str(rgb_dir / f"{k:06d}.png"), img)
    lo = int(np.searchsorted(rec.t, offset, side="left"))
    hi = int(np.searchsorted(rec.t, int(frame_t[-1]), side="left"))
    x, y = rec.x[lo:hi].astype(np.int32), rec.y[lo:hi].astype(np.int32)
    t, p = rec.t[lo:hi] - offset, rec.p[lo:hi].astype(np.int8)
    height, width = rec.height, rec.width
    if labels.crop is not None:
        cx, cy, cw, ch = labels.crop
        keep = (x >= cx) & (x < cx + cw) & (y >= cy) & (y < cy + ch)
        x, y, t, p = x[keep] - cx, y[keep] - cy, t[keep], p[keep]
        height, width = ch, cw
    np.savez_compressed(
        seq_dir / "events.npz", x=x, y=y, t=t.astype(np.int64), p=p, height=height, width=width
    )
    (seq_dir / "timestamps.txt").write_text("".join(f"{(int(v) - offset) * 1e-6:.6f}\n" for v in frame_t))
    return {
        "image_size": list(size),
        "source_path": str(rec.path),
        "time_offset_us": offset,
        "event_count": int(len(t)),
        "sensor_size": [int(rec.height), int(rec.width)],
    }


def build_real_sequences(
    out: str | Path,
    names: list[str] | None = None,
    labels_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write the real-footage sequences (all, or ``names``) under ``out``; return their folders.

    Every label folder is loaded and checked first, so a bad label fails before anything is written.
    """
    available = list_real_sequences(labels_dir)
    names = available if names is None else list(names)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"real labels: unknown sequences {unknown}; expected some of {available}")
    labels = [load_labels(n, labels_dir) for n in names]
    if any(lab.source == DAVIS_SOURCE for lab in labels):
        davis_path()  # fail before writing anything when the recording is missing
    for lab in labels:
        if lab.source != DAVIS_SOURCE:
            clip_path(lab.source)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    recording = None
    written = []
    for lab in labels:
        seq_dir = out / lab.name
        seq_dir.mkdir(parents=True, exist_ok=True)
        for stale in (seq_dir / "rgb").glob("*.png"):  # a rebuild must not leave frames of an older range
            stale.unlink()
        if lab.source == DAVIS_SOURCE:
            if recording is None:
                from .aedat import read_aedat

                recording = read_aedat(davis_path())
            extra = _build_davis(lab, seq_dir, recording)
        else:
            extra = _build_video(lab, seq_dir)
        _write_common(lab, seq_dir, extra)
        written.append(seq_dir)
        if progress is not None:
            progress(lab.name)
    return written
