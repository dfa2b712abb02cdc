"""Real object crops with binary alpha masks and metadata, cut deterministically from real images.

Three sources, all real photographs / footage:

* scikit-image stills (``skimage.data``, shipped in the wheel): each object is segmented with
  ``cv2.grabCut`` initialised from a hand-placed rectangle (OpenCV's RNG seeded to 0, 5 iterations), then
  the largest connected component is kept and its holes are filled;
* pedestrians from OpenCV's ``vtest.avi`` (a static camera): the per-pixel median of 60 evenly spaced
  frames is the background; a frame's foreground is ``max_channel |frame - background| > 30``, cleaned by a
  morphological open (3x3) and close (7x7); connected components of plausible pedestrian size and shape
  (area, height/width ratio, solidity, not touching the image border) become crops;
* Tux Paint's stamps (Debian ``tuxpaint-stamps-default``, fetched into ``<footage>/stamps`` by
  ``scripts/fetch_footage.sh``): object cut-outs as RGBA PNGs. The mask is ``alpha >= 128`` (components
  smaller than 5 % of the largest dropped). Many stamps are photographs, some drawings; a stamp is used only
  when it is not a mirrored duplicate (``*_mirror``) and passes :func:`looks_photographic` (not in a
  ``cartoon`` folder, not marked ``colorable`` /
  ``tintable`` in its ``.dat``, a mask of >= ``STAMP_MIN_AREA`` pixels, >= 150 distinct colours at 5 bits per
  channel, its 8 most frequent colours cover <= 35 % of the mask, and <= 2 % of the mask's interior is flat,
  i.e. has a Sobel gradient magnitude < 1: flat fills and small palettes are what drawings have). Its
  category is the English name from the first line of its ``.txt`` description ("A Fuji apple." -> "fuji
  apple"), or the file name when there is no short description, with colour words removed.

Every crop has a stable id (``still/<name>``, ``vtest/f<frame>_<k>`` or ``stamp/<path without .png>``), a
category, the English name of its dominant colour (:func:`colour_name`), a surface temperature and
emissivity for the thermal simulation (stamps: by top-level folder, e.g. animals 306 K) and the source frame
number (pedestrians). :func:`recolour` makes a differently coloured copy of a crop (a
same-class distractor); the copy's metadata says it is recoloured and names its new colour.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import skimage.data

from .footage import FETCH_HINT, clip_frame_count, footage_dir, read_frames


@dataclass(frozen=True)
class ObjectCrop:
    """An object cut from a real image: RGB pixels, a binary alpha mask, and its metadata."""

    crop_id: str
    category: str
    colour: str
    rgb: np.ndarray  # (h, w, 3) uint8, tight around the mask
    alpha: np.ndarray  # (h, w) bool
    temperature_k: float
    emissivity: float
    source: str
    source_frame: int | None = None
    recoloured_hue_deg: float | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the crop in pixels."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])

    def metadata(self) -> dict:
        """JSON-friendly metadata (no pixels)."""
        return {
            "crop_id": self.crop_id,
            "category": self.category,
            "colour": self.colour,
            "size": list(self.size),
            "temperature_k": self.temperature_k,
            "emissivity": self.emissivity,
            "source": self.source,
            "source_frame": self.source_frame,
            "recoloured_hue_deg": self.recoloured_hue_deg,
        }


@dataclass(frozen=True)
class _Still:
    """A hand-placed grabCut rectangle on a scikit-image still and the object's metadata."""

    name: str
    loader: str
    rect: tuple[int, int, int, int]  # x, y, w, h in the still
    category: str
    temperature_k: float
    emissivity: float


STILLS: tuple[_Still, ...] = (
    _Still("astronaut", "astronaut", (30, 2, 330, 508), "person", 303.0, 0.98),
    _Still("shuttle", "astronaut", (352, 0, 118, 282), "space shuttle", 294.0, 0.90),
    _Still("helmet", "astronaut", (272, 338, 240, 174), "helmet", 297.0, 0.90),
    _Still("cat", "chelsea", (5, 0, 400, 300), "cat", 304.0, 0.98),
    _Still("cup", "coffee", (72, 12, 414, 378), "cup", 328.0, 0.93),
    _Still("rocket", "rocket", (296, 120, 50, 215), "rocket", 289.0, 0.85),
    _Still("cameraman", "camera", (0, 60, 280, 452), "person", 303.0, 0.98),
)
PEDESTRIAN_CLIP = "opencv/vtest"
PEDESTRIAN_TEMPERATURE_K = 303.0
PEDESTRIAN_EMISSIVITY = 0.98

# Hue bins (OpenCV hue, 0..180) and their names; achromatic pixels are handled separately.
_HUE_NAMES = (
    (0, 7, "red"),
    (7, 20, "orange"),
    (20, 34, "yellow"),
    (34, 85, "green"),
    (85, 100, "cyan"),
    (100, 130, "blue"),
    (130, 150, "purple"),
    (150, 170, "pink"),
    (170, 181, "red"),
)
# Hues (degrees) tried in order for recolouring, with the name they should produce.
RECOLOUR_HUES_DEG = (0.0, 220.0, 120.0, 55.0, 280.0)


def colour_name(rgb: np.ndarray, mask: np.ndarray) -> str:
    """English name of the dominant colour of the masked pixels (hue histogram, or black/grey/white)."""
    pix = np.asarray(rgb, dtype=np.uint8)[np.asarray(mask, dtype=bool)]
    if pix.size == 0:
        raise ValueError("mask: selects no pixels")
    hsv = cv2.cvtColor(pix.reshape(-1, 1, 3), cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(np.float64)
    h, s, v = hsv[:, 0], hsv[:, 1] / 255.0, hsv[:, 2] / 255.0
    chromatic = (s > 0.3) & (v > 0.25)
    if chromatic.mean() < 0.3:
        mean_v = float(v.mean())
        return "black" if mean_v < 0.3 else ("white" if mean_v > 0.7 else "grey")
    counts: dict[str, float] = {}
    for lo, hi, name in _HUE_NAMES:
        sel = chromatic & (h >= lo) & (h < hi)
        counts[name] = counts.get(name, 0.0) + float(s[sel].sum())
    name = max(counts, key=lambda k: counts[k])
    if name in ("red", "orange") and float(np.median(v[chromatic])) < 0.5:
        return "brown"
    return name


def recolour(crop: ObjectCrop, hue_deg: float) -> ObjectCrop:
    """A copy of ``crop`` painted with hue ``hue_deg`` (saturation raised to >= 0.55, value kept)."""
    hsv = cv2.cvtColor(crop.rgb, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = np.uint8(round((hue_deg % 360.0) / 2.0) % 180)
    hsv[..., 1] = np.maximum(hsv[..., 1], 140)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    rgb = np.where(crop.alpha[..., None], rgb, crop.rgb)
    return replace(
        crop,
        crop_id=f"{crop.crop_id}@hue{int(round(hue_deg)) % 360}",
        colour=colour_name(rgb, crop.alpha),
        rgb=np.ascontiguousarray(rgb),
        recoloured_hue_deg=float(hue_deg % 360.0),
    )


def _largest_component_filled(mask: np.ndarray, keep_fraction: float = 1.0) -> np.ndarray:
    """Largest 8-connected component of a boolean mask (plus any component at least ``keep_fraction`` of
    its area, e.g. a head separated from the body by a dark collar) with holes filled."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        raise ValueError("segmentation: empty mask")
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = 1 + np.flatnonzero(areas >= keep_fraction * areas.max())
    comp = np.isin(labels, keep).astype(np.uint8)
    # Fill holes: flood the outside from a padded border; whatever is not reached is inside.
    padded = np.pad(comp, 1)
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8), (0, 0), 1)
    holes = flood[1:-1, 1:-1] == 0
    return comp.astype(bool) | holes


def _tight(rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop image and mask to the mask's bounding box."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return np.ascontiguousarray(rgb[y0:y1, x0:x1]), np.ascontiguousarray(mask[y0:y1, x0:x1])


def _still_image(loader: str) -> np.ndarray:
    """A scikit-image still as RGB uint8."""
    img = np.asarray(getattr(skimage.data, loader)())
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3]).astype(np.uint8)


@functools.cache
def still_crop(name: str) -> ObjectCrop:
    """The crop of one scikit-image still object by name (grabCut from a fixed rectangle, cached)."""
    spec = {s.name: s for s in STILLS}.get(name)
    if spec is None:
        raise ValueError(f"name: unknown still object {name!r}; expected one of {[s.name for s in STILLS]}")
    img = _still_image(spec.loader)
    mask = np.zeros(img.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(cv2.cvtColor(img, cv2.COLOR_RGB2BGR), mask, spec.rect, bgd, fgd, 5, cv2.GC_INIT_WITH_RECT)
    fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    fg = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)).astype(bool)
    fg = _largest_component_filled(fg, keep_fraction=0.1)
    rgb, alpha = _tight(img, fg)
    return ObjectCrop(
        crop_id=f"still/{name}",
        category=spec.category,
        colour=colour_name(rgb, alpha),
        rgb=rgb,
        alpha=alpha,
        temperature_k=spec.temperature_k,
        emissivity=spec.emissivity,
        source=f"skimage.data.{spec.loader}",
    )


# Pedestrian extraction parameters (vtest.avi is 768x576, pedestrians are roughly 25-60 x 60-140 px).
PEDESTRIAN_FRAMES = tuple(range(10, 795, 25))
_PED_MIN_AREA, _PED_MAX_AREA = 1200, 9000
_PED_MIN_HEIGHT = 70
_PED_MAX_WIDTH = 55  # wider blobs (and h/w < 2.15) are mostly two people walking together


@functools.lru_cache(maxsize=1)
def _vtest_background() -> np.ndarray:
    """Per-pixel median of 60 evenly spaced vtest frames (the static camera's empty scene)."""
    n = clip_frame_count(PEDESTRIAN_CLIP)
    idx = np.linspace(0, n - 1, 60).round().astype(int)
    frames = read_frames(PEDESTRIAN_CLIP, idx)
    return np.median(np.stack([frames[int(i)] for i in idx]), axis=0).astype(np.uint8)


@functools.lru_cache(maxsize=1)
def pedestrian_crops() -> tuple[ObjectCrop, ...]:
    """Pedestrians cut from vtest.avi by background subtraction (see the module docstring), cached."""
    background = _vtest_background().astype(np.int16)
    frames = read_frames(PEDESTRIAN_CLIP, PEDESTRIAN_FRAMES)
    crops = []
    for f in PEDESTRIAN_FRAMES:
        frame = frames[f]
        fg = (np.abs(frame.astype(np.int16) - background).max(axis=2) > 30).astype(np.uint8)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        k = 0
        for lab in range(1, n):
            x, y, w, h, area = (int(v) for v in stats[lab])
            if not (_PED_MIN_AREA <= area <= _PED_MAX_AREA and h >= _PED_MIN_HEIGHT):
                continue
            if not 2.15 <= h / w <= 4.0 or w > _PED_MAX_WIDTH or area / (w * h) < 0.45:
                continue
            if x <= 1 or y <= 1 or x + w >= frame.shape[1] - 1 or y + h >= frame.shape[0] - 1:
                continue
            mask = _largest_component_filled(labels[y : y + h, x : x + w] == lab)
            rgb, alpha = _tight(frame[y : y + h, x : x + w], mask)
            crops.append(
                ObjectCrop(
                    crop_id=f"vtest/f{f:03d}_{k}",
                    category="person",
                    colour=colour_name(rgb, alpha),
                    rgb=rgb,
                    alpha=alpha,
                    temperature_k=PEDESTRIAN_TEMPERATURE_K,
                    emissivity=PEDESTRIAN_EMISSIVITY,
                    source="opencv vtest.avi",
                    source_frame=f,
                )
            )
            k += 1
    if not crops:
        raise ValueError("pedestrians: background subtraction found no pedestrian in vtest.avi")
    return tuple(crops)


# ---------------------------------------------------------------------------------------------- tux stamps
STAMP_MIN_AREA = 2500  # mask pixels
# (surface temperature K, emissivity) by the stamp's top-level folder; others get ``_STAMP_DEFAULT_THERMAL``.
_STAMP_THERMAL = {
    "animals": (306.0, 0.97),
    "people": (303.0, 0.98),
    "food": (295.0, 0.95),
    "plants": (292.0, 0.96),
    "vehicles": (312.0, 0.90),
    "military": (312.0, 0.90),
    "medical": (297.0, 0.90),
}
_STAMP_DEFAULT_THERMAL = (297.0, 0.92)
_COLOUR_WORDS = {
    "red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "brown", "black", "grey", "gray",
    "white", "silver", "golden", "gold", "colorful", "colourful",
}  # fmt: skip
_STEM_NOISE = {"photo", "mirror", "whole", "small", "big", "left", "right"}
_ARTICLES = ("a ", "an ", "the ", "some ", "our ", "two ", "a pair of ")


def stamps_dir() -> Path:
    """The extracted Tux Paint stamps (``<footage>/stamps``); FileNotFoundError naming the fetch script."""
    path = footage_dir() / "stamps"
    if not path.is_dir() or not any(path.iterdir()):
        raise FileNotFoundError(f"stamps: directory not found or empty: {path}; {FETCH_HINT}")
    return path


def stamp_name(relpath: str, description: str | None) -> str:
    """English name of a stamp: its description's first line without article, punctuation and colour words
    when that is at most 4 words, else the file name (underscores, dashes and digits removed)."""
    text = (description or "").strip().lower()
    for art in _ARTICLES:
        if text.startswith(art):
            text = text[len(art) :]
    text = re.sub(r"[^a-z ]+", " ", text)
    words = [w for w in text.split() if w not in _COLOUR_WORDS]
    while words and words[0] in ("and", "with", "of"):
        words = words[1:]
    if not words or len(words) > 4 or "!" in (description or ""):
        stem = Path(relpath).stem.lower()
        words = [w for w in re.sub(r"[^a-z]+", " ", stem).split() if w not in _COLOUR_WORDS | _STEM_NOISE]
    if not words:
        raise ValueError(f"stamp: cannot name {relpath!r}")
    return " ".join(words)


def looks_photographic(rgba: np.ndarray) -> bool:
    """Whether an RGBA stamp looks like a photograph rather than a drawing (see the module docstring)."""
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        return False
    mask = rgba[..., 3] >= 128
    if int(mask.sum()) < STAMP_MIN_AREA:
        return False
    q = (rgba[..., :3][mask] // 8).astype(np.int32)
    _, counts = np.unique(q[:, 0] * 1024 + q[:, 1] * 32 + q[:, 2], return_counts=True)
    if len(counts) < 150 or np.sort(counts)[::-1][:8].sum() > 0.35 * counts.sum():
        return False
    gray = cv2.cvtColor(np.ascontiguousarray(rgba[..., :3]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    mag = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    return bool(inner.any()) and float((mag[inner] < 1.0).mean()) <= 0.02


def _read_rgba(path: Path) -> np.ndarray:
    """A PNG as RGBA uint8 (ValueError when it has no alpha channel)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"stamp: OpenCV cannot read {path}")
    if img.ndim != 3 or img.shape[2] != 4 or img.dtype != np.uint8:
        raise ValueError(f"stamp: {path} is not an 8-bit RGBA image")
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)


def _stamp_flags(png: Path) -> str:
    """The stamp's ``.dat`` flags (empty when it has none)."""
    dat = png.with_suffix(".dat")
    return dat.read_text(errors="replace") if dat.is_file() else ""


@functools.lru_cache(maxsize=1)
def stamp_index() -> tuple[str, ...]:
    """Relative paths (no ``.png``) of the stamps that pass :func:`looks_photographic`, sorted (cached)."""
    root = stamps_dir()
    kept = []
    for png in sorted(root.rglob("*.png")):
        rel = png.relative_to(root).with_suffix("").as_posix()
        if "cartoon" in rel.split("/") or rel.endswith("_mirror"):  # drawings / mirrored duplicates
            continue
        if re.search(r"colorable|tintable", _stamp_flags(png)):
            continue
        img = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
        if img is None or img.ndim != 3 or img.shape[2] != 4:
            continue
        if looks_photographic(cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)):
            kept.append(rel)
    if not kept:
        raise ValueError(f"stamps: no photographic stamp found under {root}; {FETCH_HINT}")
    return tuple(kept)


def stamp_group(crop_id: str) -> str:
    """The folder of a stamp (``stamp/animals/birds/crow`` -> ``animals/birds``): what splits hold out."""
    rel = crop_id.partition("@hue")[0].removeprefix("stamp/")
    return rel.rpartition("/")[0]


@functools.cache
def stamp_crop(rel: str) -> ObjectCrop:
    """The crop of one stamp by relative path without ``.png`` (mask ``alpha >= 128``, cached)."""
    root = stamps_dir()
    png = root / f"{rel}.png"
    if not png.is_file():
        raise ValueError(f"crop_id: unknown stamp {rel!r} (no {png})")
    rgba = _read_rgba(png)
    mask = rgba[..., 3] >= 128
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        raise ValueError(f"stamp: {png} has an empty mask")
    areas = stats[1:, cv2.CC_STAT_AREA]
    mask = np.isin(labels, 1 + np.flatnonzero(areas >= 0.05 * areas.max()))
    rgb, alpha = _tight(np.ascontiguousarray(rgba[..., :3]), mask)
    txt = png.with_suffix(".txt")
    description = txt.read_text(encoding="utf-8", errors="replace").splitlines()[0] if txt.is_file() else None
    temperature, emissivity = _STAMP_THERMAL.get(rel.split("/")[0], _STAMP_DEFAULT_THERMAL)
    return ObjectCrop(
        crop_id=f"stamp/{rel}",
        category=stamp_name(rel, description),
        colour=colour_name(rgb, alpha),
        rgb=rgb,
        alpha=alpha,
        temperature_k=temperature,
        emissivity=emissivity,
        source=f"tuxpaint-stamps-default {rel}.png",
    )


def list_crop_ids() -> list[str]:
    """Ids of every available crop (stills, pedestrians and photographic stamps), sorted."""
    return sorted(
        [f"still/{s.name}" for s in STILLS]
        + [c.crop_id for c in pedestrian_crops()]
        + [f"stamp/{rel}" for rel in stamp_index()]
    )


def get_crop(crop_id: str) -> ObjectCrop:
    """One crop by id; ``<id>@hue<deg>`` returns the recoloured copy (ValueError for an unknown id)."""
    base, _, hue = crop_id.partition("@hue")
    if base.startswith("still/"):
        crop = still_crop(base.removeprefix("still/"))
    elif base.startswith("stamp/"):
        crop = stamp_crop(base.removeprefix("stamp/"))
    else:
        found = {c.crop_id: c for c in pedestrian_crops()}.get(base)
        if found is None:
            raise ValueError(f"crop_id: unknown object crop {crop_id!r}")
        crop = found
    if hue:
        try:
            return recolour(crop, float(hue))
        except ValueError as exc:
            raise ValueError(f"crop_id: bad recolour suffix in {crop_id!r}") from exc
    return crop
