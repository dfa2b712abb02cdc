"""Training clips sampled from any :class:`TrackingSequence`, cropped exactly as the runtime tracker crops.

A *clip* is one template (a clip of ``template_clip_len`` crops at ``template_factor`` around ground-truth
boxes, MambaVLT's template clip; the first one is the initial template) and ``clip_len`` consecutive search
frames. Each search frame is cropped like :class:`~mamba_tracking_ros.tracking.Tracker` searches: LOCAL = a
square of side ``search_factor * sqrt(w * h)`` around the *previous* box (ground truth of the previous frame,
jittered in centre and scale like OSTrack, since the tracker's own estimate is never exact), or GLOBAL = the
whole frame padded to a square (MVLM relocalisation; every text-only clip starts with one). Targets come from
:func:`~mamba_tracking_ros.train.targets.build_targets` on the ground-truth box mapped into crop pixels; a
frame whose ground truth is invalid (occluded / out of view / missing) is kept as *absent* (negative-only
targets), as is a box whose centre falls outside the crop.

A batch shares one :class:`ClipRecipe` (the network runs every sample of a batch through the same token
layout): the modality subset (modality dropout: uniform over the non-empty subsets of a reference sequence's
modalities, so every subset is learned), the init mode (``box`` = template only, ``text`` = sentence only and
template-free as MVLM, ``both``) and the LOCAL/GLOBAL view of each frame. Sentences of different token
lengths are padded at the language-token level by the engine.

Batches are a pure function of ``(seed, rank, step)`` (:class:`StepBatches`), so any number of DataLoader
workers, a resumed run and every DDP rank see a reproducible stream.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from mamba_tracking_ros.constants import INIT_MODES, MODALITIES
from mamba_tracking_ros.data.datasets.base import TrackingSequence
from mamba_tracking_ros.model.config import ModelConfig
from mamba_tracking_ros.tracking.config import TrackerConfig
from mamba_tracking_ros.tracking.geometry import CropWindow, full_frame_window, square_window, xywh_to_xyxy
from mamba_tracking_ros.train.targets import TrackingTargets, build_targets


def modality_subsets(modalities: Sequence[str]) -> list[tuple[str, ...]]:
    """Every non-empty subset of ``modalities`` in canonical order (the modality-dropout choices)."""
    ordered = [m for m in MODALITIES if m in modalities]
    return [combo for k in range(1, len(ordered) + 1) for combo in combinations(ordered, k)]


@dataclass(frozen=True)
class ClipConfig:
    """How clips are sampled and augmented (crop geometry comes from the tracker config)."""

    clip_len: int = 3  # K consecutive search frames per clip (truncated BPTT length)
    max_frame_step: int = 2  # search frames are 1..max_frame_step frames apart (chosen per clip)
    template_gap: int = 100  # the first search frame lies 0..template_gap frames after the template frame
    p_extra_templates: float = 0.5  # probability that the template clip's other slots hold later crops
    center_jitter: float = 3.0  # OSTrack: previous-box centre moved by U(-0.5, 0.5) * this * sqrt(w * h)
    scale_jitter: float = 0.25  # OSTrack: previous-box size multiplied by exp(N(0, 1) * this)
    template_jitter: float = 0.1  # small jitter of the template boxes (fraction of sqrt(w * h))
    p_global: float = 0.15  # probability that a search frame is a GLOBAL (full-frame) view
    modality_dropout: bool = True  # False: always use all of the reference sequence's modalities
    init_modes: tuple[str, ...] = INIT_MODES  # init modes to draw from (text modes need a sentence)
    cache_frames: int = 64  # decoded frames kept per sampler (LRU), per DataLoader worker
    # --- sensor-like appearance augmentation of RGB crops, drawn once per clip (template and search alike)
    p_grey: float = 0.2  # grey frames replicated to 3 channels (monochrome / DAVIS APS cameras)
    p_noise: float = 0.3  # additive Gaussian noise, sigma U(2, 10) grey levels
    p_blur: float = 0.2  # Gaussian blur, sigma U(0.5, 1.5) crop pixels
    p_lowres: float = 0.2  # low resolution: down by U(2, 4) and back up (small or distant sensors)

    def __post_init__(self) -> None:
        """Reject impossible values with a message naming the field."""
        for name in ("clip_len", "max_frame_step"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")
        if self.template_gap < 0 or self.cache_frames < 0:
            raise ValueError("template_gap and cache_frames must be >= 0")
        for name in ("p_extra_templates", "p_global", "p_grey", "p_noise", "p_blur", "p_lowres"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: must lie in [0, 1], got {getattr(self, name)!r}")
        for name in ("center_jitter", "scale_jitter", "template_jitter"):
            if getattr(self, name) < 0.0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)!r}")
        modes = tuple(self.init_modes)
        if not modes or any(m not in INIT_MODES for m in modes):
            raise ValueError(f"init_modes: expected a non-empty subset of {INIT_MODES}, got {modes!r}")
        object.__setattr__(self, "init_modes", modes)


@dataclass(frozen=True)
class ClipRecipe:
    """What every clip of one batch shares: modalities, init mode and each search frame's view."""

    modalities: tuple[str, ...]
    init_mode: str  # "box" | "text" | "both"
    global_views: tuple[bool, ...]  # per search frame: True = GLOBAL (full frame), False = LOCAL

    @property
    def uses_template(self) -> bool:
        """Whether the clips carry a box-initialised template clip."""
        return self.init_mode in ("box", "both")

    @property
    def uses_text(self) -> bool:
        """Whether the clips carry the sequence's sentence."""
        return self.init_mode in ("text", "both")


@dataclass
class ClipBatch:
    """A batch of clips ready for the network: crops per modality, exact targets, sentences, video ids."""

    recipe: ClipRecipe
    templates: (
        dict[str, torch.Tensor] | None
    )  # modality -> (b, template_clip_len, C, St, St); None: text-only
    search: list[dict[str, torch.Tensor]]  # per search frame: modality -> (b, C, S, S)
    targets: list[TrackingTargets]  # per search frame
    boxes: list[torch.Tensor]  # per search frame: (b, 4) ground-truth (x, y, w, h) in crop pixels, NaN absent
    sentences: list[str] | None  # per clip (uses_text) else None
    video_ids: torch.Tensor  # (b,) index of each clip's sequence in the sampler's list
    frame_indices: torch.Tensor  # (b, clip_len) source frame index of each search frame
    windows: torch.Tensor  # (b, clip_len, 4) search windows (x0, y0, side, out_size) in image pixels

    @property
    def batch_size(self) -> int:
        """Number of clips."""
        return int(self.video_ids.shape[0])


@dataclass
class _Sources:
    """One frame's images (in the tracker's value ranges) and padding values, per modality."""

    height: int
    width: int
    sources: dict[str, Any]  # rgb: HxWx3 uint8; thermal: HxW float32 in [0, 1]; events: EventWindow
    pads: dict[str, Any]


def _frame_size(seq: TrackingSequence, index: int) -> tuple[int, int]:
    """(height, width) the events refer to: the sensor size, else the RGB/thermal/event image's (header)."""
    if seq.sensor_size is not None:
        return int(seq.sensor_size[0]), int(seq.sensor_size[1])
    paths = seq.rgb_paths or seq.thermal_paths or seq.event_frame_paths
    if not paths:
        raise ValueError(f"events: sequence {seq.name} has no image and no sensor size")
    with Image.open(paths[index]) as image:
        width, height = image.size
    return int(height), int(width)


def prepare_sources(
    seq: TrackingSequence, index: int, modalities: Sequence[str], tracker_cfg: TrackerConfig
) -> _Sources:
    """Load frame ``index`` of the requested modalities and map values as the tracker does (``_prepare``).

    Thermal uint8 / 255, uint16 / float by a robust percentile min-max clipped to [0, 1]; padding =
    per-channel mean (``pad_mode: mean``) or zero. A thermal image of another size than RGB is resized to
    the RGB size.
    """
    step = tracker_cfg.stats_stride
    sources: dict[str, Any] = {}
    pads: dict[str, Any] = {}
    height = width = 0
    if "rgb" in modalities:
        rgb = seq.rgb(index)
        height, width = rgb.shape[:2]
        sources["rgb"] = rgb
        mean = rgb[::step, ::step].mean(axis=(0, 1))
        pads["rgb"] = mean if tracker_cfg.pad_mode == "mean" else np.zeros(3)
    if "thermal" in modalities:
        th = seq.thermal(index)
        sample = th[::step, ::step].astype(np.float32)
        if th.dtype == np.uint8:
            scale, offset = 1.0 / 255.0, 0.0
        else:
            lo, hi = np.percentile(sample, tracker_cfg.thermal_percentiles)
            span = float(hi - lo) if hi > lo else 1.0
            scale, offset = 1.0 / span, -float(lo) / span
        norm = np.clip(th.astype(np.float32) * scale + offset, 0.0, 1.0)
        if height and norm.shape != (height, width):
            t = torch.from_numpy(norm)[None, None]
            t = F.interpolate(t, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
            norm = t[0, 0].numpy()
        height, width = norm.shape
        sources["thermal"] = norm
        pads["thermal"] = float(norm[::step, ::step].mean()) if tracker_cfg.pad_mode == "mean" else 0.0
    if "events" in modalities:
        sources["events"] = seq.event_window(index)
        if not height:
            height, width = _frame_size(seq, index)
    if not sources:
        raise ValueError(f"modalities: none of {tuple(modalities)} requested for sequence {seq.name}")
    return _Sources(height, width, sources, pads)


def crop_sources(src: _Sources, window: CropWindow, event_bins: int) -> dict[str, torch.Tensor]:
    """Crop + resize every modality to ``window`` -> ``(C, S, S)`` floats (as the tracker's ``_crops``)."""
    from mamba_tracking_ros.tracking.geometry import crop_and_resize, crop_event_voxels

    out: dict[str, torch.Tensor] = {}
    for m in MODALITIES:
        if m not in src.sources:
            continue
        if m == "events":
            out[m] = torch.from_numpy(crop_event_voxels(src.sources[m], window, event_bins))
        else:
            out[m] = crop_and_resize(src.sources[m], window, src.pads[m])[0]
    return out


def _box_window(box: Sequence[float], factor: float, min_side: float, frame_hw: tuple[int, int], size: int):
    """The tracker's square window around a box: side ``factor * sqrt(w * h)``, as ``_search_window``."""
    x, y, w, h = (float(v) for v in box)
    side = max(factor * math.sqrt(max(w * h, 1e-6)), min_side)
    side = min(side, 1.5 * max(frame_hw))
    return square_window(x + 0.5 * w, y + 0.5 * h, side, size)


def box_in_crop(box: Sequence[float] | None, window: CropWindow) -> tuple[float, float, float, float] | None:
    """Map an image ``(x, y, w, h)`` box into crop pixels (None stays None = absent)."""
    if box is None:
        return None
    x1, y1, x2, y2 = window.image_to_crop(xywh_to_xyxy(np.asarray(box, dtype=np.float64)))
    return (float(x1), float(y1), float(x2 - x1), float(y2 - y1))


@dataclass(frozen=True)
class Appearance:
    """One clip's RGB appearance augmentation: grey, noise sigma, blur sigma, down-factor (default: off)."""

    grey: bool = False
    noise_sigma: float = 0.0
    blur_sigma: float = 0.0
    down_factor: float = 1.0

    @classmethod
    def draw(cls, cfg: ClipConfig, rng: random.Random) -> Appearance:
        """Draw one clip's augmentation from the ClipConfig probabilities."""
        return cls(
            grey=rng.random() < cfg.p_grey,
            noise_sigma=rng.uniform(2.0, 10.0) if rng.random() < cfg.p_noise else 0.0,
            blur_sigma=rng.uniform(0.5, 1.5) if rng.random() < cfg.p_blur else 0.0,
            down_factor=rng.uniform(2.0, 4.0) if rng.random() < cfg.p_lowres else 1.0,
        )

    def apply(self, rgb: torch.Tensor, rng: random.Random) -> torch.Tensor:
        """Augment one ``(3, S, S)`` RGB crop in [0, 255]; the noise is drawn anew for every crop."""
        out = rgb
        if self.grey:
            out = (0.299 * out[0] + 0.587 * out[1] + 0.114 * out[2]).expand(3, -1, -1)
        if self.down_factor > 1.0:
            size = out.shape[-1]
            small = max(int(round(size / self.down_factor)), 4)
            out = F.interpolate(out[None], size=(small, small), mode="area")
            out = F.interpolate(out, size=(size, size), mode="bilinear", align_corners=False)[0]
        if self.blur_sigma > 0.0:
            radius = max(int(math.ceil(2.5 * self.blur_sigma)), 1)
            x = torch.arange(-radius, radius + 1, dtype=out.dtype)
            kernel = torch.exp(-0.5 * (x / self.blur_sigma) ** 2)
            kernel = (kernel / kernel.sum()).view(1, 1, 1, -1).expand(3, 1, 1, -1)
            padded = F.pad(out[None], (radius, radius, 0, 0), mode="replicate")
            out = F.conv2d(padded, kernel, groups=3)
            padded = F.pad(out, (0, 0, radius, radius), mode="replicate")
            out = F.conv2d(padded, kernel.transpose(-1, -2), groups=3)[0]
        if self.noise_sigma > 0.0:
            gen = torch.Generator().manual_seed(rng.getrandbits(63))
            out = out + self.noise_sigma * torch.randn(out.shape, generator=gen, dtype=out.dtype)
        return out.clamp(0.0, 255.0).contiguous() if out is not rgb else rgb


def _augment_rgb(
    crops: dict[str, torch.Tensor], look: Appearance, rng: random.Random
) -> dict[str, torch.Tensor]:
    """Apply a clip's appearance augmentation to the RGB crop of one frame (other modalities unchanged)."""
    if "rgb" in crops:
        crops["rgb"] = look.apply(crops["rgb"], rng)
    return crops


class ClipSampler:
    """Draws batches of training clips from a list of sequences (see the module docstring)."""

    def __init__(
        self,
        sequences: Sequence[TrackingSequence],
        model_cfg: ModelConfig,
        tracker_cfg: TrackerConfig,
        clip_cfg: ClipConfig | None = None,
    ) -> None:
        """Keep the sequences that have a valid box and a supported modality; ValueError if none remain."""
        self.model_cfg = model_cfg
        self.tracker_cfg = tracker_cfg
        self.clip_cfg = clip_cfg or ClipConfig()
        usable, skipped = [], []
        for seq in sequences:
            mods = seq.modalities
            if not mods or not bool(np.asarray(seq.valid).any()):
                skipped.append(seq.name)
                continue
            if not (set(self.clip_cfg.init_modes) & {"box", "both"}) and not seq.sentence:
                skipped.append(seq.name)
                continue
            usable.append(seq)
        if not usable:
            raise ValueError(
                "data: no usable training sequence (each needs rgb, thermal or an event stream, at least one "
                f"valid box, and a sentence when only text init modes are allowed); skipped: {skipped[:10]}"
            )
        self.sequences: list[TrackingSequence] = usable
        self.skipped: list[str] = skipped
        self._cache: OrderedDict[tuple[int, int, tuple[str, ...]], _Sources] = OrderedDict()

    # ------------------------------------------------------------------ recipes
    def sample_recipe(self, rng: random.Random) -> tuple[ClipRecipe, list[int]]:
        """Draw a batch recipe from a reference sequence; returns it and the compatible sequences' indices."""
        cc = self.clip_cfg
        ref = self.sequences[rng.randrange(len(self.sequences))]
        subsets = modality_subsets(ref.modalities) if cc.modality_dropout else [ref.modalities]
        modalities = tuple(rng.choice(subsets))
        modes = [m for m in cc.init_modes if m == "box" or ref.sentence]
        if not modes:  # only text modes allowed but the reference has no sentence: pick one that has
            with_text = [s for s in self.sequences if s.sentence]
            ref = with_text[rng.randrange(len(with_text))]
            subsets = modality_subsets(ref.modalities) if cc.modality_dropout else [ref.modalities]
            modalities = tuple(rng.choice(subsets))
            modes = list(cc.init_modes)
        mode = rng.choice(modes)
        views = [rng.random() < cc.p_global for _ in range(cc.clip_len)]
        if mode == "text":
            views[0] = True  # a sentence-only track starts with a full-frame search (MVLM)
        recipe = ClipRecipe(modalities=modalities, init_mode=mode, global_views=tuple(views))
        pool = [
            i
            for i, s in enumerate(self.sequences)
            if set(modalities) <= set(s.modalities) and (s.sentence or not recipe.uses_text)
        ]
        return recipe, pool

    # ------------------------------------------------------------------ frames
    def _sources(self, seq_idx: int, frame: int, modalities: tuple[str, ...]) -> _Sources:
        """Decoded, value-mapped frame (LRU-cached)."""
        key = (seq_idx, frame, modalities)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        src = prepare_sources(self.sequences[seq_idx], frame, modalities, self.tracker_cfg)
        if self.clip_cfg.cache_frames:
            self._cache[key] = src
            while len(self._cache) > self.clip_cfg.cache_frames:
                self._cache.popitem(last=False)
        return src

    @staticmethod
    def _jitter(box: np.ndarray, rng: random.Random, centre: float, scale: float) -> np.ndarray:
        """OSTrack jitter: size * exp(N(0,1) * scale), centre + U(-0.5, 0.5) * centre * sqrt(new area)."""
        x, y, w, h = (float(v) for v in box)
        w2, h2 = w * math.exp(rng.gauss(0.0, 1.0) * scale), h * math.exp(rng.gauss(0.0, 1.0) * scale)
        reach = math.sqrt(w2 * h2) * centre
        cx = x + 0.5 * w + (rng.random() - 0.5) * reach
        cy = y + 0.5 * h + (rng.random() - 0.5) * reach
        return np.array([cx - 0.5 * w2, cy - 0.5 * h2, w2, h2])

    # ------------------------------------------------------------------ clips
    def sample_clip(
        self, seq_idx: int, recipe: ClipRecipe, rng: random.Random
    ) -> tuple[
        dict[str, torch.Tensor] | None, list[dict[str, torch.Tensor]], list[Any], list[int], list[Any]
    ]:
        """One clip: template crops (Kt, C, St, St) per modality or None, search crops, crop boxes, frames,
        search windows."""
        cc, tc, mc = self.clip_cfg, self.tracker_cfg, self.model_cfg
        seq = self.sequences[seq_idx]
        n = len(seq)
        valid = np.flatnonzero(np.asarray(seq.valid))
        step = rng.randint(1, cc.max_frame_step)
        span = (cc.clip_len - 1) * step
        if span >= n:
            step, span = 1, cc.clip_len - 1
        template_frame = int(valid[rng.randrange(len(valid))])
        lo = template_frame
        hi = max(min(template_frame + cc.template_gap, n - 1 - span), 0)
        first = rng.randint(min(lo, hi), hi) if hi >= lo else hi
        frames = [min(first + k * step, n - 1) for k in range(cc.clip_len)]
        mods = recipe.modalities
        look = Appearance.draw(cc, rng)

        templates = None
        if recipe.uses_template:
            slots = [template_frame] * tc.template_clip_len
            if tc.template_clip_len > 1 and rng.random() < cc.p_extra_templates:
                later = [int(v) for v in valid if template_frame < v <= max(first, template_frame)]
                for k in range(1, tc.template_clip_len):
                    if later:
                        slots[k] = rng.choice(later)
                slots[1:] = sorted(slots[1:])
            crops: dict[str, list[torch.Tensor]] = {m: [] for m in mods}
            for k, f in enumerate(slots):
                src = self._sources(seq_idx, f, mods)
                box = seq.boxes[f]
                if k > 0:  # refreshed templates are centred on the tracker's (imperfect) estimate
                    box = self._jitter(box, rng, cc.template_jitter, cc.template_jitter)
                window = _box_window(box, tc.template_factor, 1.0, (src.height, src.width), mc.template_size)
                for m, t in _augment_rgb(crop_sources(src, window, mc.event_bins), look, rng).items():
                    crops[m].append(t)
            templates = {m: torch.stack(v, 0) for m, v in crops.items()}

        search: list[dict[str, torch.Tensor]] = []
        boxes: list[Any] = []
        windows: list[Any] = []
        last_valid = seq.boxes[template_frame]
        for k, f in enumerate(frames):
            for back in range(f - 1, -1, -1):  # the tracker's estimate follows the previous frame
                if seq.valid[back]:
                    last_valid = seq.boxes[back]
                    break
            else:
                if seq.valid[f]:
                    last_valid = seq.boxes[f]
            src = self._sources(seq_idx, f, mods)
            if recipe.global_views[k]:
                window = full_frame_window(src.width, src.height, mc.global_search_size)
            else:
                prev = self._jitter(last_valid, rng, cc.center_jitter, cc.scale_jitter)
                window = _box_window(
                    prev, tc.search_factor, tc.min_search_side, (src.height, src.width), mc.search_size
                )
            search.append(_augment_rgb(crop_sources(src, window, mc.event_bins), look, rng))
            windows.append((window.x0, window.y0, window.side, window.out_size))
            boxes.append(box_in_crop(seq.boxes[f], window) if seq.valid[f] else None)
        return templates, search, boxes, frames, windows

    def sample_batch(self, rng: random.Random, batch_size: int) -> ClipBatch:
        """A batch of ``batch_size`` clips sharing one recipe, with exact targets per search frame."""
        if batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
        recipe, pool = self.sample_recipe(rng)
        ids = [pool[rng.randrange(len(pool))] for _ in range(batch_size)]
        clips = [self.sample_clip(i, recipe, rng) for i in ids]
        k_frames = self.clip_cfg.clip_len
        templates = None
        if recipe.uses_template:
            templates = {m: torch.stack([c[0][m] for c in clips], 0) for m in recipe.modalities}
        search, targets, crop_boxes = [], [], []
        for k in range(k_frames):
            frame = {m: torch.stack([c[1][k][m] for c in clips], 0) for m in recipe.modalities}
            size = next(iter(frame.values())).shape[-1]
            grid = (size // self.model_cfg.stride, size // self.model_cfg.stride)
            boxes_k = [c[2][k] for c in clips]
            search.append(frame)
            targets.append(build_targets(boxes_k, grid, float(size)))
            crop_boxes.append(
                torch.tensor([b if b is not None else (math.nan,) * 4 for b in boxes_k], dtype=torch.float64)
            )
        sentences = [self.sequences[i].sentence or "" for i in ids] if recipe.uses_text else None
        return ClipBatch(
            recipe=recipe,
            templates=templates,
            search=search,
            targets=targets,
            boxes=crop_boxes,
            sentences=sentences,
            video_ids=torch.tensor(ids, dtype=torch.int64),
            frame_indices=torch.tensor([c[3] for c in clips], dtype=torch.int64),
            windows=torch.tensor([c[4] for c in clips], dtype=torch.int64),
        )


def step_rng(seed: int, rank: int, step: int) -> random.Random:
    """The RNG of one (seed, rank, step): batches are reproducible regardless of workers or resumption."""
    return random.Random(f"mamba-tracking-train/{int(seed)}/{int(rank)}/{int(step)}")


class StepBatches(torch.utils.data.Dataset):
    """Map-style dataset over step numbers: item ``s`` is the batch of step ``s`` for this rank."""

    def __init__(self, sampler: ClipSampler, batch_size: int, seed: int, rank: int = 0) -> None:
        """Bind a sampler to a batch size, seed and DDP rank."""
        self.sampler, self.batch_size, self.seed, self.rank = sampler, int(batch_size), int(seed), int(rank)

    def __len__(self) -> int:
        """Effectively unbounded (steps are indexed directly)."""
        return 2**62

    def __getitem__(self, step: int) -> ClipBatch:
        """The batch of ``step``."""
        return self.sampler.sample_batch(step_rng(self.seed, self.rank, step), self.batch_size)
