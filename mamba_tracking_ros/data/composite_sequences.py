"""Seeded multimodal tracking sequences with exact ground truth: real object crops on real footage.

A :class:`SequenceSpec` (seed, background clip, target crop, distractor / occluder crops, hard cases, length,
size, fps) fully determines a sequence; :func:`render_sequence` renders it in memory and
:func:`write_sequence` writes it in the project layout read by ``open_dataset("project", ...)``.

Rendering, per frame (all objects are placed at integer pixel positions and integer sizes):

* RGB: the background clip frame (``footage.read_clip``: fitted to the size, ping-pong when shorter than the
  sequence) with the object layers composited back to front: distractors, the target, occluders. Each layer
  is the crop resized to its size at that frame with its alpha thresholded at 0.5 (hard edges), so inside
  the mask the RGB equals the resized crop exactly (before illumination). Fast motion blurs a layer
  (premultiplied colour and alpha) along its motion with a line kernel of length ``speed * exposure``.
  Illumination multiplies the frame by a gain; below 1 it adds gaussian read noise of
  ``READ_NOISE_DN * (1 - gain)`` DN (darkness is noisy); the result is rounded to uint8.
* Thermal (SIMULATED, ``thermal_sim``): the background's temperature follows the *undimmed* background
  luminance; each object is painted with its crop's surface temperature and emissivity (a same-class
  distractor differs by a few kelvin); LWIR band radiance, optics blur, fixed-pattern gain/offset
  non-uniformity seeded per sequence, temporal noise. Counts are 14-bit values in a uint16 image, the format
  of radiometric microbolometer cores (e.g. FLIR Boson / Lepton deliver 14-bit counts in 16-bit words);
  written as 16-bit PNG. Low light does not change thermal.
* Events (SIMULATED, ``event_sim.EventSimulator``): fed with the luma of the dimmed composite at the frame
  times (before the RGB camera's read noise and uint8 rounding: the DVS is a separate sensor whose own noise
  is ``event_sim``'s business), so darkness lowers the events' log contrast ``log(I + eps)``; the simulator
  is seeded per sequence. Frame ``i`` is at ``t_i = round(i * 1e6 / fps)`` microseconds.

Ground truth (exact by construction):

* ``amodal_boxes``: the bounding box of the target's resized alpha mask at its placement, whether or not it is
  visible (may extend beyond the image);
* ``boxes`` (``groundtruth.txt``): the bounding box of the target's mask pixels that lie inside the image
  (equal to the amodal box while the target is wholly in view; the in-image part when it is partly outside,
  as LaSOT annotates); occluders are ignored, so during partial occlusion it is the full object box, not the
  visible part; a row of NaN when the target is fully occluded or wholly out of view (the LaSOT toolkit
  excludes such frames; our reader marks them ``valid = False``);
* ``out_of_view[i]``: no pixel of the target's mask lies inside the image (LaSOT's per-frame flag);
* ``full_occlusion[i]``: the target is (partly) in view but occluders cover at least
  ``1 - FULL_OCCLUSION_VISIBLE`` (99 %) of its in-view mask pixels;
* motion-blurred frames keep the sharp box at the frame time (the centre of the exposure).

Hard cases (``HARD_CASES``): ``occlusion`` (an occluder crop passes in front of the target, pausing over it),
``distractor`` (a same-category crop, a recoloured copy of the target's crop when that changes its colour
name, else another crop of the category), ``scale_change`` (the target's size changes by a factor of
1.7-2.2 or 0.45-0.6, i.e. its area by more than 2x), ``fast_motion`` (sweeps of 0.6-1.0 box widths per frame
with motion blur), ``low_light`` (illumination drops to 3-8 % for 20-40 frames), ``out_of_view`` (the target
leaves through a side border, stays out 8-15 frames, and returns). Attributes list what actually happened
(``full_occlusion`` and ``motion_blur`` are added when they occur).

Motion models (``SequenceSpec.motion``): ``wander`` (default; the object paths are random-walk keyframes every
20-40 frames at about 1-3 px/frame, eased) and ``zigzag`` (a triangle wave along one axis, with sharp
reversals, plus a sinusoid along the other; used by the ``test2`` split only). Fast motion and out-of-view
excursions are inserted the same way in both.

The sentence names the target's category and dominant colour, and either its position in the first frame
("the red cup at the top left") or its relation to the distractor ("the red cup left of the blue cup").
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..frame import EventWindow, Frame
from .event_sim import Events, EventSimulator
from .footage import clip_frame_count, read_clip
from .object_crops import RECOLOUR_HUES_DEG, ObjectCrop, get_crop
from .thermal_sim import ThermalSceneConfig, compose_thermal_scene, simulate_thermal

HARD_CASES = ("occlusion", "distractor", "scale_change", "fast_motion", "low_light", "out_of_view")
MOTION_MODELS = ("wander", "zigzag")  # object motion: random-walk keyframes (training) / zig-zag + sinusoid
FULL_OCCLUSION_VISIBLE = 0.01  # at most this fraction of the in-view mask visible -> fully occluded
EXPOSURE_FRACTION = 0.5  # exposure time / frame interval (sets the motion-blur length)
DEFAULT_SIZE = (320, 240)
DEFAULT_FPS = 30.0
READ_NOISE_DN = 1.0  # RGB read noise (DN, 1 sigma) at full darkness, scaled by (1 - illumination)


# Longest window (frames) each timed hard case may take; windows do not overlap (see ``_plan``).
_MAX_WINDOW = {"fast_motion": 18, "out_of_view": 15 + 24, "occlusion": 12 + 24, "low_light": 40 + 12}


def min_length(hard_cases: tuple[str, ...] | list[str]) -> int:
    """Fewest frames a sequence with these hard cases needs (all timed windows plus 14 frames; >= 30)."""
    return max(30, sum(_MAX_WINDOW.get(h, 0) for h in set(hard_cases)) + 14)


@dataclass(frozen=True)
class SequenceSpec:
    """Everything that determines one composited sequence (seed, sources, hard cases, length, size, fps)."""

    seed: int
    background: str
    target: str
    distractors: tuple[str, ...] = ()
    occluders: tuple[str, ...] = ()
    hard_cases: tuple[str, ...] = ()
    length: int = 120
    size: tuple[int, int] = DEFAULT_SIZE  # (width, height)
    fps: float = DEFAULT_FPS
    name: str = ""
    motion: str = "wander"  # one of MOTION_MODELS

    def __post_init__(self) -> None:
        """Validate fields (naming the offending one) and normalise sequences to tuples."""
        object.__setattr__(self, "distractors", tuple(self.distractors))
        object.__setattr__(self, "occluders", tuple(self.occluders))
        object.__setattr__(self, "hard_cases", tuple(self.hard_cases))
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))
        unknown = [h for h in self.hard_cases if h not in HARD_CASES]
        if unknown:
            raise ValueError(f"hard_cases: unknown {unknown}; expected a subset of {list(HARD_CASES)}")
        if "distractor" in self.hard_cases and not self.distractors:
            raise ValueError("distractors: the 'distractor' hard case needs at least one distractor crop")
        if "occlusion" in self.hard_cases and not self.occluders:
            raise ValueError("occluders: the 'occlusion' hard case needs at least one occluder crop")
        if self.length < min_length(self.hard_cases):
            raise ValueError(
                f"length: {self.hard_cases or 'a sequence'} needs >= {min_length(self.hard_cases)} frames, "
                f"got {self.length}"
            )
        if self.size[0] < 64 or self.size[1] < 48:
            raise ValueError(f"size: must be at least 64x48, got {self.size}")
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps: must be finite and > 0, got {self.fps}")
        if self.motion not in MOTION_MODELS:
            raise ValueError(f"motion: expected one of {list(MOTION_MODELS)}, got {self.motion!r}")
        if not self.name:
            object.__setattr__(self, "name", f"seq_{self.seed:08d}")

    def to_dict(self) -> dict:
        """JSON-friendly dict (lists for tuples; ``motion`` left out when it is the default ``wander``, so
        specs written before it existed keep their exact form and hashes)."""
        d = asdict(self)
        for key in ("distractors", "occluders", "hard_cases", "size"):
            d[key] = list(d[key])
        if d["motion"] == "wander":
            del d["motion"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SequenceSpec:
        """Inverse of :meth:`to_dict` (unknown keys are a ValueError)."""
        allowed = set(cls.__dataclass_fields__)
        extra = set(d) - allowed
        if extra:
            raise ValueError(f"spec: unknown keys {sorted(extra)}")
        kw = dict(d)
        for key in ("distractors", "occluders", "hard_cases", "size"):
            if key in kw:
                kw[key] = tuple(kw[key])
        return cls(**kw)


@dataclass
class RenderedSequence:
    """A rendered sequence in memory: frames of every modality, exact ground truth and language."""

    spec: SequenceSpec
    rgb: np.ndarray  # (N, H, W, 3) uint8
    thermal: np.ndarray  # (N, H, W) uint16, 14-bit counts
    events: Events  # the whole stream, sorted by time (t in microseconds)
    timestamps: np.ndarray  # (N,) seconds
    boxes: np.ndarray  # (N, 4) x, y, w, h; NaN rows when the target is invisible
    amodal_boxes: np.ndarray  # (N, 4) full object box, also outside the image / behind occluders
    full_occlusion: np.ndarray  # (N,) bool
    out_of_view: np.ndarray  # (N,) bool
    visible_fraction: np.ndarray  # (N,) visible target mask pixels / full mask pixels
    illumination: np.ndarray  # (N,) RGB gain
    target_rect: np.ndarray  # (N, 4) int x, y, w, h of the placed (resized) target crop
    blur_length: np.ndarray  # (N,) motion-blur kernel length of the target in pixels (0: sharp)
    distractor_rect: np.ndarray  # (N, 4) int placed rect of the first distractor (-1 rows when none)
    sentence: str
    attributes: list[str]
    objects: list[dict] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The sequence name (from the spec)."""
        return self.spec.name

    def __len__(self) -> int:
        """Number of frames."""
        return len(self.boxes)

    @property
    def timestamps_us(self) -> np.ndarray:
        """Frame times in integer microseconds."""
        return np.rint(self.timestamps * 1e6).astype(np.int64)

    def event_window(self, i: int) -> EventWindow:
        """Events of frame ``i``: ``[T[i-1], T[i])`` (frame 0: one interval before), as the reader slices."""
        us = self.timestamps_us
        end = int(us[i])
        start = int(us[i - 1]) if i > 0 else end - int(us[1] - us[0])
        t = self.events.t
        lo, hi = np.searchsorted(t, start, side="left"), np.searchsorted(t, end, side="left")
        e = self.events
        return EventWindow(e.x[lo:hi], e.y[lo:hi], t[lo:hi], e.p[lo:hi], t_start=start, t_end=end)

    def frame(self, i: int) -> Frame:
        """Frame ``i`` as the tracker's multimodal input."""
        return Frame(
            rgb=self.rgb[i],
            thermal=self.thermal[i],
            events=self.event_window(i),
            timestamp=self.timestamps[i],
        )


# ----------------------------------------------------------------------------------------- geometry helpers
def _smoothstep(u: np.ndarray | float) -> np.ndarray:
    """Cubic ease 3u^2 - 2u^3 on [0, 1] (clipped)."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _interp_path(keys: list[tuple[int, float, float]], n: int) -> np.ndarray:
    """(n, 2) path through keyframes ``(frame, x, y)`` with eased segments (holds before / after)."""
    keys = sorted(keys)
    out = np.empty((n, 2))
    frames = [k[0] for k in keys]
    for i in range(n):
        j = int(np.searchsorted(frames, i, side="right"))
        if j == 0:
            out[i] = keys[0][1:]
        elif j == len(keys):
            out[i] = keys[-1][1:]
        else:
            (f0, x0, y0), (f1, x1, y1) = keys[j - 1], keys[j]
            u = float(_smoothstep((i - f0) / max(f1 - f0, 1)))
            out[i] = (x0 + u * (x1 - x0), y0 + u * (y1 - y0))
    return out


def _line_kernel(dx: float, dy: float) -> np.ndarray | None:
    """Normalised line PSF along ``(dx, dy)`` of length ``hypot(dx, dy)`` pixels; None when shorter than 2."""
    length = math.hypot(dx, dy)
    if length < 2.0:
        return None
    size = int(math.ceil(length)) | 1
    k = np.zeros((size, size), np.float32)
    c = size // 2
    ux, uy = dx / length, dy / length
    for s in np.linspace(-length / 2, length / 2, 4 * size):
        k[int(round(c + s * uy)), int(round(c + s * ux))] = 1.0
    return k / k.sum()


@functools.lru_cache(maxsize=64)
def _inner_rect(crop_id: str) -> tuple[float, float, float, float]:
    """Largest axis-aligned all-foreground rectangle of a crop mask, as fractions (x, y, w, h) of its size."""
    crop = get_crop(crop_id)
    h, w = crop.alpha.shape
    s = min(1.0, 64.0 / max(h, w))
    small = cv2.resize(
        crop.alpha.astype(np.float32), (max(1, round(w * s)), max(1, round(h * s))), cv2.INTER_AREA
    )
    ones = small >= 0.999
    best, best_rect = 0, (0.0, 0.0, 1.0 / ones.shape[1], 1.0 / ones.shape[0])
    heights = np.zeros(ones.shape[1], np.int64)
    for r in range(ones.shape[0]):
        heights = np.where(ones[r], heights + 1, 0)
        stack: list[int] = []
        for c in range(len(heights) + 1):
            cur = heights[c] if c < len(heights) else 0
            while stack and heights[stack[-1]] >= cur:
                top = stack.pop()
                left = stack[-1] + 1 if stack else 0
                area = int(heights[top]) * (c - left)
                if area > best:
                    best = area
                    hh = int(heights[top])
                    best_rect = (left, r - hh + 1, c - left, hh)
            stack.append(c)
    x, y, rw, rh = best_rect
    sh, sw = ones.shape
    return (x / sw, y / sh, rw / sw, rh / sh)


# --------------------------------------------------------------------------------------------------- layers
@dataclass
class _Layer:
    """One object's placement over the sequence: crop, role, per-frame centre and scale, thermal values."""

    crop: ObjectCrop
    role: str  # target / distractor / occluder
    centre: np.ndarray  # (N, 2) float
    scale: np.ndarray  # (N,) pixels of output per crop pixel
    temperature_k: float
    emissivity: float
    present: np.ndarray | None = None  # (N,) bool; None = always

    def rect(self, i: int) -> tuple[int, int, int, int]:
        """Integer (x, y, w, h) of the resized crop at frame ``i``."""
        cw, ch = self.crop.size
        w = max(2, int(round(cw * self.scale[i])))
        h = max(2, int(round(ch * self.scale[i])))
        x = int(round(self.centre[i, 0] - w / 2))
        y = int(round(self.centre[i, 1] - h / 2))
        return x, y, w, h


@functools.lru_cache(maxsize=4096)
def _resized(crop_id: str, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """A crop resized to (w, h): float32 RGB and its hard (0/1) float32 alpha (threshold 0.5)."""
    crop = get_crop(crop_id)
    interp = cv2.INTER_AREA if w < crop.size[0] else cv2.INTER_LINEAR
    rgb = cv2.resize(crop.rgb, (w, h), interpolation=interp).astype(np.float32)
    alpha = cv2.resize(crop.alpha.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return rgb, (alpha >= 0.5).astype(np.float32)


def _paste(
    canvas: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, x: int, y: int
) -> tuple[np.ndarray, tuple[slice, slice]] | None:
    """Alpha-composite a patch onto ``canvas`` at (x, y) in place; returns the full-frame alpha and slices."""
    H, W = canvas.shape[:2]
    h, w = alpha.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x1 <= x0 or y1 <= y0:
        return None
    a = alpha[y0 - y : y1 - y, x0 - x : x1 - x, None]
    region = canvas[y0:y1, x0:x1]
    region *= 1.0 - a
    region += a * rgb[y0 - y : y1 - y, x0 - x : x1 - x]
    full = np.zeros((H, W), np.float32)
    full[y0:y1, x0:x1] = a[..., 0]
    return full, (slice(y0, y1), slice(x0, x1))


# ------------------------------------------------------------------------------------------------- sentence
def _noun(crop: ObjectCrop) -> str:
    """'the person in black' / 'the red cup'."""
    if crop.category == "person":
        return f"the person in {crop.colour}"
    return f"the {crop.colour} {crop.category}"


def describe_target(
    target: ObjectCrop,
    centre: tuple[float, float],
    size: tuple[int, int],
    distractor: ObjectCrop | None = None,
    distractor_centre: tuple[float, float] | None = None,
) -> str:
    """The sentence naming the target by category, colour and position or relation to a distractor."""
    if distractor is not None and distractor_centre is not None:
        dx, dy = distractor_centre[0] - centre[0], distractor_centre[1] - centre[1]
        if abs(dx) >= abs(dy):
            relation = "left of" if dx > 0 else "right of"
        else:
            relation = "above" if dy > 0 else "below"
        if distractor.colour != target.colour:
            other = _noun(distractor)
        else:
            other = f"the other {distractor.category}"
        return f"{_noun(target)} {relation} {other}"
    w, h = size
    col = "left" if centre[0] < w / 3 else ("right" if centre[0] > 2 * w / 3 else "centre")
    row = "top" if centre[1] < h / 3 else ("bottom" if centre[1] > 2 * h / 3 else "middle")
    if row == "middle":
        where = "in the centre" if col == "centre" else f"on the {col}"
    else:
        where = f"at the {row}" if col == "centre" else f"at the {row} {col}"
    return f"{_noun(target)} {where}"


def distractor_for(target_id: str, pool: list[str], rng: np.random.Generator) -> str:
    """A same-category distractor crop id: for a person another real person of a different colour; else a
    recoloured copy of the target with a new colour name; else another same-category crop from ``pool``."""
    target = get_crop(target_id)
    base = target_id.partition("@hue")[0]
    if target.category == "person":  # prefer a real other person of a different colour
        people = [c for c in pool if c.partition("@hue")[0] != base and get_crop(c).category == "person"]
        different = [c for c in people if get_crop(c).colour != target.colour]
        if different:
            return str(rng.choice(different))
    hues = list(RECOLOUR_HUES_DEG)
    rng.shuffle(hues)
    for hue in hues:
        cid = f"{base}@hue{int(hue)}"
        if get_crop(cid).colour not in (target.colour, "black", "grey", "white"):
            return cid
    same = [c for c in pool if c.partition("@hue")[0] != base and get_crop(c).category == target.category]
    if not same:
        raise ValueError(
            f"distractor: no same-category crop for {target_id!r} (recolouring does not change it)"
        )
    different = [c for c in same if get_crop(c).colour != target.colour]
    return str(rng.choice(different or same))


# ---------------------------------------------------------------------------------------------- trajectories
def _base_scale(
    crop: ObjectCrop, size: tuple[int, int], rng: np.random.Generator, max_growth: float
) -> float:
    """Scale giving the object 2.5-5 % of the frame area, with its largest size within the frame."""
    W, H = size
    cw, ch = crop.size
    area = rng.uniform(0.025, 0.05) * W * H
    s = math.sqrt(area / (cw * ch))
    limit = min(0.55 * H / ch, 0.45 * W / cw) / max_growth
    return float(min(s, limit))


def _wander(
    rng: np.random.Generator, n: int, half: np.ndarray, size: tuple[int, int], start: np.ndarray | None = None
) -> list[tuple[int, float, float]]:
    """Keyframes of a slow random walk (about 1-3 px/frame) keeping a box of half-size ``half`` in view."""
    W, H = size
    lo = half + 4
    hi = np.array([W, H]) - half - 4
    hi = np.maximum(hi, lo + 1)
    pos = np.clip(start if start is not None else rng.uniform(lo, hi), lo, hi)
    keys = [(0, float(pos[0]), float(pos[1]))]
    f = 0
    while f < n - 1:
        step = int(rng.integers(20, 41))
        f = min(n - 1, f + step)
        radius = rng.uniform(1.0, 3.0) * step
        angle = rng.uniform(0, 2 * np.pi)
        pos = np.clip(pos + radius * np.array([np.cos(angle), np.sin(angle)]), lo, hi)
        keys.append((f, float(pos[0]), float(pos[1])))
    return keys


def _zigzag(
    rng: np.random.Generator, n: int, half: np.ndarray, size: tuple[int, int], start: np.ndarray | None = None
) -> list[tuple[int, float, float]]:
    """Keyframes (one per frame) of a zig-zag path: a triangle wave along one axis (sweeping 30-60 % of the
    free range, period 50-110 frames: sharp reversals) and a sinusoid along the other (period 30-80 frames),
    keeping a box of half-size ``half`` in view. The ``zigzag`` motion model (training never uses it)."""
    W, H = size
    lo = half + 4
    hi = np.maximum(np.array([W, H]) - half - 4, lo + 1)
    pos = np.clip(start if start is not None else rng.uniform(lo, hi), lo, hi)
    zig_axis = int(rng.integers(0, 2))
    sine_axis = 1 - zig_axis
    t = np.arange(n, dtype=np.float64)
    span = rng.uniform(0.3, 0.6) * (hi[zig_axis] - lo[zig_axis])
    period = rng.uniform(50, 110)
    phase = rng.uniform(0, 1)
    tri = 2.0 * np.abs((t / period + phase) % 1.0 - 0.5)  # 0..1 triangle wave, reversals at 0 and 1
    centre_zig = np.clip(pos[zig_axis], lo[zig_axis] + span / 2, hi[zig_axis] - span / 2)
    zig = centre_zig + span * (tri - 0.5)
    amp = rng.uniform(0.1, 0.25) * (hi[sine_axis] - lo[sine_axis])
    centre_sine = np.clip(pos[sine_axis], lo[sine_axis] + amp, hi[sine_axis] - amp)
    sine = centre_sine + amp * np.sin(2 * np.pi * t / rng.uniform(30, 80) + rng.uniform(0, 2 * np.pi))
    xy = np.empty((n, 2))
    xy[:, zig_axis], xy[:, sine_axis] = zig, sine
    xy = np.clip(xy, lo, hi)
    return [(i, float(xy[i, 0]), float(xy[i, 1])) for i in range(n)]


def _slots(rng: np.random.Generator, n: int, events: list[tuple[str, int]]) -> dict[str, int]:
    """Start frames for timed events ``(name, duration)``, non-overlapping, in random order after frame 10."""
    order = list(range(len(events)))
    rng.shuffle(order)
    total = sum(d for _, d in events)
    free = max(0, n - 12 - total)
    gaps = np.sort(rng.uniform(0, free, size=len(events))) if events else np.array([])
    starts: dict[str, int] = {}
    t = 10.0
    prev_gap = 0.0
    for k, idx in enumerate(order):
        name, dur = events[idx]
        t += gaps[k] - prev_gap
        prev_gap = gaps[k]
        starts[name] = int(t)
        t += dur
    return starts


# ------------------------------------------------------------------------------------------------- renderer
def _plan(spec: SequenceSpec, rng: np.random.Generator) -> tuple[list[_Layer], np.ndarray, dict[str, int]]:
    """Per-object trajectories and the illumination profile for a spec."""
    n, (W, H) = spec.length, spec.size
    hard = set(spec.hard_cases)
    target = get_crop(spec.target)
    growth = 1.0
    scale_profile = np.ones(n)
    if "scale_change" in hard:
        grow = bool(rng.integers(0, 2))
        factor = rng.uniform(1.7, 2.2) if grow else rng.uniform(0.45, 0.6)
        growth = factor if grow else 1.0
        a = int(rng.integers(5, max(6, n // 4)))
        b = int(rng.integers(min(n - 2, a + n // 3), n - 1))
        u = _smoothstep((np.arange(n) - a) / max(b - a, 1))
        scale_profile = np.exp(np.log(factor) * u)
    s0 = _base_scale(target, spec.size, rng, growth)
    t_scale = s0 * scale_profile
    half_max = np.array(target.size) * t_scale.max() / 2

    # Timed events, each in its own window.
    durations: list[tuple[str, int]] = []
    if "fast_motion" in hard:
        durations.append(("fast_motion", 18))
    if "out_of_view" in hard:
        durations.append(("out_of_view", int(rng.integers(8, 16)) + 24))
    if "occlusion" in hard:
        durations.append(("occlusion", int(rng.integers(6, 13)) + 24))
    if "low_light" in hard:
        durations.append(("low_light", int(rng.integers(20, 41)) + 12))
    assert all(d <= _MAX_WINDOW[k] for k, d in durations), "window longer than _MAX_WINDOW"
    starts = _slots(rng, n, durations)

    path_keys = _zigzag if spec.motion == "zigzag" else _wander
    keys = path_keys(rng, n, half_max, spec.size)
    lo, hi = half_max + 4, np.array([W, H]) - half_max - 4
    # Keep timed motion windows free of random keyframes, then insert their keyframes.
    windows = {
        name: (starts[name], starts[name] + d)
        for name, d in durations
        if name in ("fast_motion", "out_of_view")
    }
    keys = [k for k in keys if not any(a - 2 <= k[0] <= b + 2 for a, b in windows.values()) or k[0] == 0]
    base = _interp_path(keys, n)
    extra: list[tuple[int, float, float]] = []
    if "fast_motion" in windows:
        a, b = windows["fast_motion"]
        y = float(base[a, 1])
        x_start = float(base[a, 0])
        far = float(hi[0]) if x_start < W / 2 else float(lo[0])
        extra += [(a, x_start, y), (a + 6, far, y), (a + 12, x_start, y), (b, x_start, y)]
    if "out_of_view" in windows:
        a, b = windows["out_of_view"]
        x0, y = float(base[a, 0]), float(base[a, 1])
        w_max = target.size[0] * t_scale.max()
        out_x = -w_max / 2 - 12 if x0 < W / 2 else W + w_max / 2 + 12
        extra += [(a, x0, y), (a + 12, out_x, y), (b - 12, out_x, y), (b, x0, y)]
    centre = _interp_path(keys + extra, n) if extra else base
    layers = [_Layer(target, "target", centre, t_scale, target.temperature_k, target.emissivity)]

    for k, did in enumerate(spec.distractors):
        d = get_crop(did)
        area_ratio = target.size[0] * target.size[1] / max(1, d.size[0] * d.size[1])
        ds = np.full(n, s0 * float(rng.uniform(0.85, 1.15)) * math.sqrt(area_ratio))
        dhalf = np.array(d.size) * ds.max() / 2
        side = 1.0 if (centre[0, 0] < W / 2) == (k % 2 == 0) else -1.0
        gap = half_max[0] + dhalf[0] + rng.uniform(6, 30)
        start = np.array([centre[0, 0] + side * gap, centre[0, 1] + rng.uniform(-0.2, 0.2) * H])
        dkeys = path_keys(rng, n, dhalf, spec.size, start)
        dpath = _interp_path(dkeys, n)
        t_off = float(rng.uniform(-4.0, 4.0))
        layers.insert(0, _Layer(d, "distractor", dpath, ds, d.temperature_k + t_off, d.emissivity))

    if "occlusion" in hard:
        a = starts["occlusion"]
        dur = dict(durations)["occlusion"]
        hold = dur - 24
        for k, oid in enumerate(spec.occluders):
            o = get_crop(oid)
            rx, ry, rw, rh = _inner_rect(oid)
            tw = target.size[0] * t_scale[a : a + dur].max()
            th = target.size[1] * t_scale[a : a + dur].max()
            s_need = 1.3 * max(tw / (rw * o.size[0]), th / (rh * o.size[1]))
            s_o = min(s_need, 0.95 * H / o.size[1], 0.9 * W / o.size[0])
            ow = o.size[0] * s_o
            # Offset of the inner rectangle's centre from the crop centre, in output pixels.
            inner_off = np.array([(rx + rw / 2 - 0.5) * o.size[0], (ry + rh / 2 - 0.5) * o.size[1]]) * s_o
            direction = 1.0 if k % 2 == 0 else -1.0
            if rng.integers(0, 2):
                direction = -direction
            reach = ow / 2 + tw / 2 + 6
            dx_keys = [(a, -direction * reach, 0.0), (a + 12, 0.0, 0.0), (a + 12 + hold, 0.0, 0.0)]
            dx_keys.append((a + dur, direction * reach, 0.0))
            dx = _interp_path(dx_keys, n)[:, 0]
            opath = centre - inner_off + np.stack([dx, np.zeros(n)], axis=1)
            present = np.zeros(n, bool)
            present[a : a + dur + 1] = True
            oscale = np.full(n, s_o)
            layers.append(_Layer(o, "occluder", opath, oscale, o.temperature_k, o.emissivity, present))

    illumination = np.ones(n)
    if "low_light" in hard:
        a = starts["low_light"]
        dur = dict(durations)["low_light"]
        g_min = rng.uniform(0.03, 0.08)
        idx = np.arange(n)
        down = _smoothstep((idx - a) / 6.0)
        up = _smoothstep((idx - (a + dur - 6)) / 6.0)
        illumination = 1.0 - (1.0 - g_min) * down * (1.0 - up)
    return layers, illumination, starts


def _paste_layer(
    canvas: np.ndarray, layer: _Layer, i: int, fast: bool
) -> tuple[tuple[np.ndarray, tuple[slice, slice]] | None, np.ndarray, float]:
    """Composite ``layer``'s frame ``i`` onto ``canvas`` in place, motion-blurred along its velocity with
    ``fast`` (line PSF over the exposure); returns what :func:`_paste` returns, the unblurred alpha and the
    blur length in pixels (0 without blur)."""
    x, y, w, h = layer.rect(i)
    rgb, alpha = _resized(layer.crop.crop_id, w, h)
    if fast and i > 0:
        v = layer.centre[i] - layer.centre[i - 1]
        kernel = _line_kernel(*(v * EXPOSURE_FRACTION))
        if kernel is not None:
            p = kernel.shape[0] // 2 + 1
            a_pad = np.pad(alpha, p)
            c_pad = np.pad(rgb * alpha[..., None], ((p, p), (p, p), (0, 0)))
            a_blur = cv2.filter2D(a_pad, -1, kernel, borderType=cv2.BORDER_CONSTANT)
            c_blur = cv2.filter2D(c_pad, -1, kernel, borderType=cv2.BORDER_CONSTANT)
            rgb_b = np.clip(c_blur / np.maximum(a_blur, 1e-6)[..., None], 0.0, 255.0)
            pasted = _paste(canvas, rgb_b, np.clip(a_blur, 0, 1), x - p, y - p)
            return pasted, alpha, float(np.hypot(*v) * EXPOSURE_FRACTION)
    return _paste(canvas, rgb, alpha, x, y), alpha, 0.0


def _target_mask(alpha: np.ndarray, rect: tuple[int, int, int, int], height: int, width: int) -> np.ndarray:
    """The target's (H, W) bool mask in the frame from its crop alpha placed at ``rect`` (clipped)."""
    x, y, w, h = rect
    mask = np.zeros((height, width), bool)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
    if x1 > x0 and y1 > y0:
        mask[y0:y1, x0:x1] = alpha[y0 - y : y1 - y, x0 - x : x1 - x] > 0
    return mask


def _mask_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """The tight (x, y, w, h) box of a non-empty bool mask."""
    ys, xs = np.nonzero(mask)
    return xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1


def _concat_events(chunks: list[Events]) -> Events:
    """One event stream from the per-frame chunks (empty arrays of the stream's dtypes when none)."""
    if not chunks:
        return Events(
            np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.int8)
        )
    return Events(*(np.concatenate([getattr(c, k) for c in chunks]) for k in ("x", "y", "t", "p")))


def _labels(
    spec: SequenceSpec, layers: list[_Layer], full_occ: np.ndarray, blur_len: np.ndarray
) -> tuple[str, list[str], list[dict[str, Any]]]:
    """The sequence's sentence (target vs the first distractor), attribute tags and object metadata."""
    target_layer = next(layer for layer in layers if layer.role == "target")
    distractor_layers = [layer for layer in layers if layer.role == "distractor"]
    d0 = distractor_layers[0] if distractor_layers else None
    sentence = describe_target(
        target_layer.crop,
        tuple(target_layer.centre[0]),
        spec.size,
        d0.crop if d0 is not None else None,
        tuple(d0.centre[0]) if d0 is not None else None,
    )
    attributes = [h for h in HARD_CASES if h in spec.hard_cases]
    if full_occ.any():
        attributes.insert(
            attributes.index("occlusion") + 1 if "occlusion" in attributes else 0, "full_occlusion"
        )
    if (blur_len > 0).any():
        attributes.append("motion_blur")
    objects = [
        {**layer.crop.metadata(), "role": layer.role, "thermal_temperature_k": layer.temperature_k}
        for layer in layers
    ]
    return sentence, attributes, objects


def render_sequence(spec: SequenceSpec) -> RenderedSequence:
    """Render a spec in memory: RGB, simulated thermal and events, exact boxes, flags, sentence, tags.

    Per frame: the layers are composited back to front (:func:`_paste_layer`), the ground truth comes from the
    target's own mask minus what the occluders cover, then the three sensors see the scene (RGB dimmed with
    read noise, thermal from the undimmed background and the objects, events from the dimmed luma).
    """
    rng = np.random.default_rng([spec.seed, 0])
    n, (W, H) = spec.length, spec.size
    n_clip = clip_frame_count(spec.background)
    start = int(rng.integers(0, n_clip))
    offset = (float(rng.uniform(0, 1)), float(rng.uniform(0, 1)))
    background = read_clip(spec.background, n, spec.size, start=start, offset=offset)
    layers, illumination, _ = _plan(spec, rng)
    fast = "fast_motion" in spec.hard_cases  # only fast motion exceeds the blur's 2-pixel threshold

    noise_rng = np.random.default_rng([spec.seed, 1])
    thermal_rng = np.random.default_rng([spec.seed, 2])
    thermal_cfg = ThermalSceneConfig(fpn_seed=spec.seed)
    events = EventSimulator(H, W, seed=spec.seed)
    us = np.rint(np.arange(n) * 1e6 / spec.fps).astype(np.int64)

    rgb_out = np.empty((n, H, W, 3), np.uint8)
    thermal_out = np.empty((n, H, W), np.uint16)
    amodal = np.full((n, 4), np.nan)
    boxes = np.full((n, 4), np.nan)
    full_occ = np.zeros(n, bool)
    oov = np.zeros(n, bool)
    visible_fraction = np.zeros(n)
    target_rect = np.zeros((n, 4), np.int64)
    blur_len = np.zeros(n)
    distractor_rect = np.full((n, 4), -1, np.int64)
    chunks: list[Events] = []
    for i in range(n):
        canvas = background[i].astype(np.float32)
        thermal_objects = []
        target_mask = None
        occluder_cover = np.zeros((H, W), bool)
        for layer in layers:
            if layer.present is not None and not layer.present[i]:
                continue
            pasted, alpha, length = _paste_layer(canvas, layer, i, fast)
            rect = layer.rect(i)
            if layer.role == "distractor" and distractor_rect[i, 2] < 0:
                distractor_rect[i] = rect
            if layer.role == "target":
                target_rect[i] = rect
                blur_len[i] = length
                ax, ay, aw, ah = _mask_box(alpha > 0)
                amodal[i] = (rect[0] + ax, rect[1] + ay, aw, ah)
                target_mask = _target_mask(alpha, rect, H, W)
                full_area = float(alpha.sum())
            elif layer.role == "occluder" and target_mask is not None and pasted is not None:
                occluder_cover |= pasted[0] >= 0.5
            if pasted is not None:
                thermal_objects.append((pasted[0], layer.temperature_k, layer.emissivity))
        # Ground truth from the target's own mask.
        in_view = int(target_mask.sum())
        visible = int((target_mask & ~occluder_cover).sum())
        visible_fraction[i] = visible / full_area
        oov[i] = in_view == 0
        full_occ[i] = in_view > 0 and visible <= FULL_OCCLUSION_VISIBLE * in_view
        if not (oov[i] or full_occ[i]):
            boxes[i] = _mask_box(target_mask)
        # RGB with illumination and read noise.
        g = float(illumination[i])
        lit = np.clip(canvas, 0.0, 255.0) * g  # filtering leaves tiny negative float residues
        # The event camera is a separate sensor: it sees the dimmed scene, not the RGB camera's noise.
        luma = cv2.cvtColor(lit, cv2.COLOR_RGB2GRAY).astype(np.float64)
        if g < 1.0:
            lit += noise_rng.normal(0.0, READ_NOISE_DN * (1.0 - g), size=lit.shape).astype(np.float32)
        rgb_out[i] = np.clip(np.rint(lit), 0, 255).astype(np.uint8)
        # Thermal from the undimmed background luminance plus the objects.
        gray_bg = cv2.cvtColor(background[i], cv2.COLOR_RGB2GRAY)
        temperature, emissivity = compose_thermal_scene(gray_bg, thermal_objects, thermal_cfg)
        thermal_out[i] = simulate_thermal(temperature, emissivity, thermal_cfg, thermal_rng)
        # Events from the dimmed scene's luma.
        if i == 0:
            events.reset(luma, int(us[0]))
        else:
            chunks.append(events.step(luma, int(us[i])))

    sentence, attributes, objects = _labels(spec, layers, full_occ, blur_len)
    return RenderedSequence(
        spec=spec,
        rgb=rgb_out,
        thermal=thermal_out,
        events=_concat_events(chunks),
        timestamps=us / 1e6,
        boxes=boxes,
        amodal_boxes=amodal,
        full_occlusion=full_occ,
        out_of_view=oov,
        visible_fraction=visible_fraction,
        illumination=illumination,
        target_rect=target_rect,
        blur_length=blur_len,
        distractor_rect=distractor_rect,
        sentence=sentence,
        attributes=attributes,
        objects=objects,
    )


# --------------------------------------------------------------------------------------------------- writing
def _box_lines(boxes: np.ndarray) -> str:
    """``x,y,w,h`` lines (integers as integers, NaN as 'nan')."""
    return "".join(",".join("nan" if not np.isfinite(v) else f"{v:g}" for v in row) + "\n" for row in boxes)


def ground_truth_digest(rendered: RenderedSequence) -> str:
    """sha256 over the canonical ground truth text: boxes, amodal boxes, flags, sentence, attributes."""
    h = hashlib.sha256()
    for part in (
        _box_lines(rendered.boxes),
        _box_lines(rendered.amodal_boxes),
        "".join(str(int(v)) for v in rendered.full_occlusion),
        "".join(str(int(v)) for v in rendered.out_of_view),
        rendered.sentence,
        "\n".join(rendered.attributes),
    ):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def pixel_digest(rendered: RenderedSequence) -> str:
    """sha256 over the RGB frames' bytes (thermal and events are summarised separately, see ``digest``)."""
    return hashlib.sha256(np.ascontiguousarray(rendered.rgb).tobytes()).hexdigest()


def digest(rendered: RenderedSequence) -> dict:
    """What a manifest records for one sequence: ground-truth and RGB hashes, thermal/event statistics, and
    (for reading only; covered by the ground-truth hash) frame count, sentence, attributes and flag counts.

    Thermal and events come from float simulations whose last bits may differ between BLAS/CPU builds, so
    they are checked by summary statistics with a tolerance instead of a hash.
    """
    return {
        "groundtruth_sha256": ground_truth_digest(rendered),
        "rgb_sha256": pixel_digest(rendered),
        "thermal_mean": round(float(rendered.thermal.mean()), 3),
        "event_count": int(len(rendered.events.t)),
        "frames": len(rendered),
        "sentence": rendered.sentence,
        "attributes": list(rendered.attributes),
        "full_occlusion_frames": int(rendered.full_occlusion.sum()),
        "out_of_view_frames": int(rendered.out_of_view.sum()),
    }


def _save_npz(path: Path, arrays: dict[str, np.ndarray], level: int = 1) -> None:
    """An ``.npz`` (zip of ``.npy``) deflated at zlib ``level`` (1: several times faster than numpy's
    default level on event streams, still far smaller than uncompressed); readable by ``np.load``."""
    tmp = path.with_suffix(".npz.part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for name, arr in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(arr), allow_pickle=False)
    tmp.replace(path)


def write_sequence(rendered: RenderedSequence, root: str | Path) -> Path:
    """Write one sequence in the project layout under ``root/<name>/``; returns that folder."""
    seq_dir = Path(root) / rendered.name
    (seq_dir / "rgb").mkdir(parents=True, exist_ok=True)
    (seq_dir / "thermal").mkdir(parents=True, exist_ok=True)
    for i in range(len(rendered)):
        if not cv2.imwrite(
            str(seq_dir / "rgb" / f"{i:06d}.png"), cv2.cvtColor(rendered.rgb[i], cv2.COLOR_RGB2BGR)
        ):
            raise OSError(f"rgb: cannot write {seq_dir / 'rgb'}")
        if not cv2.imwrite(str(seq_dir / "thermal" / f"{i:06d}.png"), rendered.thermal[i]):
            raise OSError(f"thermal: cannot write {seq_dir / 'thermal'}")
    e = rendered.events
    H, W = rendered.rgb.shape[1:3]
    xy_dtype = np.uint16 if max(H, W) <= 65535 else np.int32  # 2 bytes per coordinate: half the file
    arrays = {"x": e.x.astype(xy_dtype), "y": e.y.astype(xy_dtype), "t": e.t, "p": e.p}
    _save_npz(seq_dir / "events.npz", {**arrays, "height": np.asarray(H), "width": np.asarray(W)})
    (seq_dir / "timestamps.txt").write_text("".join(f"{t:.6f}\n" for t in rendered.timestamps))
    (seq_dir / "groundtruth.txt").write_text(_box_lines(rendered.boxes))
    (seq_dir / "amodal_boxes.txt").write_text(_box_lines(rendered.amodal_boxes))
    (seq_dir / "full_occlusion.txt").write_text(",".join(str(int(v)) for v in rendered.full_occlusion) + "\n")
    (seq_dir / "out_of_view.txt").write_text(",".join(str(int(v)) for v in rendered.out_of_view) + "\n")
    (seq_dir / "sentence.txt").write_text(rendered.sentence + "\n")
    (seq_dir / "attributes.txt").write_text("".join(a + "\n" for a in rendered.attributes))
    meta = {
        "spec": rendered.spec.to_dict(),
        "objects": rendered.objects,
        "illumination": [round(float(g), 4) for g in rendered.illumination],
        "thermal": "simulated (mamba_tracking_ros.data.thermal_sim), 14-bit counts in uint16",
        "events": "simulated (mamba_tracking_ros.data.event_sim) from the RGB frames",
        **digest(rendered),
    }
    (seq_dir / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return seq_dir
