"""Runtime single-target tracker over RGB / thermal / event frames, steered by a sentence (no ROS).

One :class:`Tracker` owns one track: its SSM state memory (MambaVLT ``TrackMemory``), its template clip and
the MVLM confidence memory. The network holds no per-track state, so several trackers may share one network.

Per frame:

1. search region: LOCAL = a square of side ``search_factor * sqrt(w * h)`` around the last box, resized to
   ``search_size``; GLOBAL = the whole frame padded (centred) to a square, resized to ``global_search_size``;
2. one network pass with the cached template-clip tokens, the sentence and the carried SSM memory;
3. candidates = the ``top_k`` local maxima of the sigmoid score map (blended with a Hanning window in LOCAL
   mode, centred on the constant-velocity prediction; optionally scaled by a size-change penalty, a global
   position prior and a colour-histogram check against look-alikes), each decoded to a box; every grid cell's
   box is a potential competitor (by default its margin is taken on the same prior-weighted values);
4. MVLM margin confidence per candidate (:mod:`.confidence`); the ROI subset ``S_t = {kappa >= tau}``: when
   non-empty its best-ranked candidate is the result and the next frame searches locally (TRACKING),
   otherwise the best-ranked candidate (or, per ``low_confidence_box``, the held / predicted box) is reported
   and, after ``relocalise_after`` such frames, the next frame searches the whole image (RELOCALISING;
   LOST after ``lost_after`` such frames in a row; WAITING_FOR_TARGET while a sentence-only track has never
   been acquired); in GLOBAL mode, once the target was acquired, ``S_t`` keeps only candidates whose colour /
   texture factor reaches ``reacquire_appearance_ratio`` times the track's usual one (a look-alike of
   another colour neither re-acquires the track nor teaches its appearance model);
5. template clip (MambaVLT): when ``kappa >= template_update_threshold`` the crop around the result joins
   the clip (the initial template is kept; the other ``K - 1`` slots are a FIFO); tokens are computed once
   per refresh.

Time going backwards (a bag replayed in a loop) is not an error: the SSM memory and the confidence memory are
reset, a warning is logged and that frame is searched globally; the template clip and the sentence are kept.
"""

from __future__ import annotations

import logging
import math
import os
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mamba_tracking_ros.constants import MODALITIES, SearchMode, TrackState
from mamba_tracking_ros.frame import Frame
from mamba_tracking_ros.model.language import check_sentence
from mamba_tracking_ros.model.types import TextFeatures, TrackMemory
from mamba_tracking_ros.tracking.appearance import AppearanceModel
from mamba_tracking_ros.tracking.box_refinement import BoxRefiner, grey_image
from mamba_tracking_ros.tracking.confidence import MarginConfidence
from mamba_tracking_ros.tracking.config import TrackerConfig, load_tracker_config
from mamba_tracking_ros.tracking.geometry import (
    Box,
    CropWindow,
    DeviceEventWindow,
    cell_boxes,
    clip_box,
    crop_and_resize,
    crop_event_voxels,
    crop_event_voxels_device,
    full_frame_window,
    hanning_window,
    inside_fraction,
    size_change_penalty,
    square_window,
    validate_box,
    xyxy_to_xywh,
)
from mamba_tracking_ros.tracking.inference import InferenceEngine, unpack_outputs

LOG = logging.getLogger(__name__)


#: Best-ranked cells whose colour histogram is compared with the target's (appearance re-ranking).
APPEARANCE_CELLS = 12


@dataclass(frozen=True)
class TrackResult:
    """The tracker's answer for one frame; ``box`` is (x, y, w, h) in image pixels, clipped to the image."""

    box: Box
    confidence: float  # MVLM kappa in [-1, 1]
    score: float  # raw sigmoid score of the selected peak (NaN when no network pass ran)
    search_mode: SearchMode  # how THIS frame was searched
    state: TrackState
    modalities: tuple[str, ...]  # modalities that went through the network this frame
    timestamp: float
    frame_index: int  # 0 for the start() frame
    note: str = ""  # why this frame was not tracked normally (e.g. its image size changed); "" otherwise


@dataclass
class _Prepared:
    """Per-frame inputs ready for cropping: sources, value mapping and padding value per modality."""

    frame: Frame
    height: int
    width: int
    sources: dict[str, Any]  # modality -> HxW(xC) array/tensor (events: the EventWindow)
    transforms: dict[str, tuple[float, float, tuple[float, float] | None]]  # scale, offset, clamp
    pads: dict[str, Any]
    thermal_norm: tuple[float, float] = (1.0, 0.0)  # thermal value -> [0, 1]: scale, offset (before clamping)
    rgb_level: float | None = None  # RGB exposure level: 99th-percentile grey (when rgb_gain_max > 1)
    grey: np.ndarray | None = None  # the box refiner's grey image, made on first use (see Tracker._grey)
    exposed_rgb: np.ndarray | None = None  # the gained RGB for the appearance check (Tracker._appearance_rgb)


#: Frames less than this much darker than the start frame keep their exposure (no gain below it).
RGB_GAIN_DEADBAND = 1.25


class _TemplateClip:
    """One modality's template clip (MambaVLT): the initial template plus a FIFO of K - 1 refreshed ones."""

    def __init__(self, length: int, crop: torch.Tensor, tokens: torch.Tensor) -> None:
        """Start the clip from its initial crop and tokens (they also fill the empty slots)."""
        self.length = length
        self.initial_crop, self.initial_tokens = crop, tokens
        self.crops: deque[torch.Tensor] = deque(maxlen=length - 1)
        self.tokens: deque[torch.Tensor] = deque(maxlen=length - 1)
        self._cache: torch.Tensor | None = None

    def push(self, crop: torch.Tensor, tokens: torch.Tensor) -> None:
        """Add a refreshed template (dropping the oldest refreshed one when full)."""
        if self.length > 1:
            self.crops.append(crop)
            self.tokens.append(tokens)
            self._cache = None

    def clip_tokens(self) -> torch.Tensor:
        """(1, K * Nt, d) tokens in time order; empty slots repeat the initial template (cached)."""
        if self._cache is None:
            fill = [self.initial_tokens] * (self.length - 1 - len(self.tokens))
            self._cache = torch.cat([self.initial_tokens, *fill, *self.tokens], dim=1)
        return self._cache


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' -> CUDA when available else CPU; others via torch.device; ValueError if bad or not present."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device: not a torch device: {device!r}") from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise ValueError(f"device: {device!r} requested but {why}; use 'cpu' or 'auto'")
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise ValueError(f"device: {device!r} requested but only {count} CUDA device(s) are visible")
    return resolved


class Tracker:
    """Language-steered multimodal single-target tracker (MambaVLT template clip + MVLM gated search)."""

    def __init__(
        self,
        config: str | os.PathLike[str] | Any = "small",
        checkpoint: str | os.PathLike[str] | None = "default",
        device: str | torch.device = "auto",
        tracker_config: TrackerConfig | Mapping[str, Any] | None = None,
        model: torch.nn.Module | None = None,
        precision: str | None = None,
        compile: str | None = None,
    ) -> None:
        """Build (or share) the network and read the ``tracker:`` section of ``config`` (name or YAML path).

        ``tracker_config``: a TrackerConfig replaces the YAML section, a mapping overrides some of its keys.
        ``model``: an already built network to share between trackers (it keeps no per-track state); then
        ``checkpoint`` must be None or "default" and ``device`` follows the model's parameters.
        ``checkpoint``: a file, "default" (the weights shipped for the config's name) or None (random init).
        ``precision`` ("fp32" | "bf16" | "fp16") and ``compile`` ("off" | "default" | "reduce-overhead" | a
        torch.compile backend name) override the TrackerConfig fields of the same name (see
        :mod:`.inference`); a compiled network is shared by the trackers sharing the model.
        """
        if model is None:
            from mamba_tracking_ros.model import build_model

            self.device = resolve_device(device)
            model = build_model(config, checkpoint=checkpoint, device=self.device)
        else:
            if checkpoint is not None and str(checkpoint) != "default":
                raise ValueError("checkpoint: give either a shared model or a checkpoint, not both")
            self.device = next(model.parameters()).device
        self.net = model.eval()
        stem = getattr(self.net, "image_stem", None)
        if stem is not None and hasattr(stem, "set_fused_inference"):
            stem.set_fused_inference(True)  # BatchNorm folded, channels-last: eval-mode only, ~2x on CPU
        self.model_config = model.cfg
        yaml_source = config if isinstance(config, (str, os.PathLike)) else None
        if isinstance(tracker_config, TrackerConfig):
            self.config = tracker_config
        else:
            self.config = load_tracker_config(yaml_source, overrides=tracker_config)
        options = {k: v for k, v in (("precision", precision), ("compile", compile)) if v is not None}
        if options:
            self.config = self.config.updated(**options)
        cfg = self.config
        self._engine = InferenceEngine(self.net, self.device, cfg.precision, cfg.compile)
        self._confidence = MarginConfidence(
            alpha_corr=cfg.alpha_corr,
            psi_out=cfg.psi_out,
            ewma_lambda=cfg.ewma_lambda,
            omega=cfg.omega,
            corr_scale_floor=cfg.corr_scale_floor,
            cls_scale_floor=cfg.cls_scale_floor,
            scale_momentum=cfg.scale_momentum,
        )
        self._appearance = AppearanceModel(
            update_rate=cfg.appearance_update_rate, texture=cfg.texture_weight > 0.0
        )
        self._thermal_appearance = (
            AppearanceModel(  # the same check on the thermal image (thermal_appearance)
                update_rate=cfg.appearance_update_rate, texture=cfg.texture_weight > 0.0
            )
        )
        self._refiner = BoxRefiner(learning_rate=cfg.refine_learning_rate)
        self._text: TextFeatures | None = None
        self.reset()

    # ------------------------------------------------------------------ public API
    @property
    def state(self) -> TrackState:
        """Current track state (IDLE before start)."""
        return self._state

    @property
    def text(self) -> str | None:
        """The sentence steering the track, or None."""
        return None if self._text is None else self._text.sentence

    @property
    def next_search_mode(self) -> SearchMode:
        """How the next update() searches (GLOBAL after low confidence, set_text or time going backwards)."""
        return SearchMode.GLOBAL if self._force_global or self._box is None else self._next_mode

    @property
    def memory(self) -> TrackMemory:
        """This track's SSM state memory (read it, do not share it)."""
        return self._memory

    @property
    def confidence_memory(self) -> float | None:
        """The MVLM EWMA memory m_t (None right after a reset of the confidence memory)."""
        return self._confidence.memory

    def template_tokens(self, modality: str) -> torch.Tensor | None:
        """The cached (1, K * Nt, d) template-clip tokens of one modality (None when it has no template)."""
        clip = self._clips.get(modality)
        return None if clip is None else clip.clip_tokens()

    @property
    def template_refreshes(self) -> int:
        """Number of template-clip refreshes since start (the initial template is not counted)."""
        return self._refreshes

    @property
    def template_modalities(self) -> tuple[str, ...]:
        """Modalities that currently have a template clip."""
        return tuple(m for m in MODALITIES if m in self._clips)

    @property
    def frame_index(self) -> int:
        """Index of the last processed frame (-1 before start)."""
        return self._frame_index

    def reset(self) -> None:
        """Forget the track (box, sentence, templates, SSM and confidence memory): as freshly built."""
        self._text = None
        self._box: Box | None = None
        self._memory = TrackMemory()
        self._confidence.reset()
        self._clips: dict[str, _TemplateClip] = {}
        self._state = TrackState.IDLE
        self._next_mode = SearchMode.GLOBAL
        self._force_global = False
        self._acquired = False
        self._low_count = 0
        self._frame_index = -1
        self._last_timestamp: float | None = None
        self._refreshes = 0
        self._last_refresh = -1
        self._started = False
        self._velocity = (0.0, 0.0)  # constant-velocity model: centre displacement per frame (pixels)
        self._appearance.reset()
        self._thermal_appearance.reset()
        self._refiner.reset()
        self._image_size: tuple[int, int] | None = None  # (width, height) of the track's frames
        self._rgb_level: float | None = None  # the start frame's RGB exposure level (rgb_gain_max > 1)
        self._size_changes = 0  # consecutive frames of another size (see _size_changed)
        # log(w / h) of the given start box (aspect_update_rate < 1); None on a sentence-only track, whose
        # only aspect estimate is the network's own (pulling towards its first box lost 1.7 AUC on test)
        self._aspect_ref: float | None = None
        self._score_ref: float | None = None  # the track's usual peak score (score_floor_ratio > 0)
        # the track's usual appearance factor of its pick (reacquire_appearance_ratio > 0)
        self._appearance_ref: float | None = None
        self._size_from_global = False  # the box's size came from a global search (adopt_size_after_global)

    def reset_memory(self) -> None:
        """Forget the temporal memory only (SSM state and MVLM confidence) and relocalise globally next frame.

        Templates and sentence are kept. update() calls this itself when time goes backwards (looped bags).
        """
        self._memory = TrackMemory()
        self._confidence.reset()
        self._force_global = True
        self._low_count = 0

    def set_text(self, text: str, keep_template: bool = False) -> None:
        """Steer the track with a (new) sentence, encoded once; the next frame searches globally (MVLM).

        The confidence memory is reset. Unless ``keep_template`` (the sentence refines the same target), the
        template clip and the SSM memory, which describe the previous target, are dropped and the track waits
        for the new target. Before start() this only stores the sentence for a later start()/update().
        """
        sentence = check_sentence(text, "text")
        with torch.inference_mode():
            self._text = self.net.encode_text(sentence)
        if not self._started:
            return
        self._confidence.reset()
        self._force_global = True
        self._low_count = 0
        if not keep_template:
            self._clips.clear()
            self._appearance.reset()
            self._thermal_appearance.reset()
            self._memory = TrackMemory()
            self._acquired = False
            self._aspect_ref = None
            self._score_ref = None
            self._appearance_ref = None
            self._state = TrackState.WAITING_FOR_TARGET

    def start(self, frame: Frame, box: Sequence[float] | None = None, text: str | None = None) -> TrackResult:
        """Begin a track on ``frame`` from a box (x, y, w, h), a sentence, or both (a stored one counts)."""
        if not isinstance(frame, Frame):
            raise ValueError(f"frame: expected a Frame, got {type(frame).__name__}")
        if text is not None:
            check_sentence(text, "text")
        elif box is None and self._text is None:
            raise ValueError("box: start() needs a box, a text, or both")
        prep = self._prepare(frame)
        init_box = None if box is None else validate_box(box, prep.width, prep.height, "box")
        features = self._text
        if text is not None and (features is None or features.sentence != text):
            with torch.inference_mode():
                features = self.net.encode_text(text)
        self.reset()
        self._text = features
        self._started = True
        self._frame_index = 0
        self._last_timestamp = frame.timestamp
        self._image_size = (prep.width, prep.height)
        self._rgb_level = prep.rgb_level
        if init_box is None:  # sentence only (MVLM template-free): search the whole frame
            return self._track(prep, SearchMode.GLOBAL)
        cfg = self.config
        self._box = clip_box(init_box, prep.width, prep.height, cfg.min_box_size)
        self._aspect_ref = math.log(init_box[2] / init_box[3])
        self._acquired = True
        self._add_templates(prep, self._box, initial=True)
        for model, image in self._appearance_images(prep):
            model.set(image, self._box)
        grey = self._grey(prep)
        if self._uses_refiner and grey is not None:
            self._refiner.start(grey, self._box)
        self._confidence.reset(memory=cfg.init_box_confidence)
        score, modalities = float("nan"), prep.frame.modalities
        if cfg.warm_memory_on_start:  # seed the SSM memory with the target at a known place
            with torch.inference_mode():
                packed, modalities, _, self._memory = self._forward(prep, SearchMode.LOCAL)
            logits = unpack_outputs(self._engine.to_host(packed))[0].astype(np.float64)
            scores = 1.0 / (1.0 + np.exp(-logits))
            score = float(scores.ravel()[int(np.argmax(self._rank(scores, SearchMode.LOCAL, None)))])
        self._state = TrackState.TRACKING
        self._next_mode = SearchMode.LOCAL
        return TrackResult(
            box=self._box,
            confidence=float(cfg.init_box_confidence),
            score=score,
            search_mode=SearchMode.LOCAL,
            state=self._state,
            modalities=tuple(modalities),
            timestamp=frame.timestamp,
            frame_index=0,
        )

    def update(self, frame: Frame) -> TrackResult:
        """Track the target in the next frame (starts a sentence-only track if only set_text was called)."""
        if not isinstance(frame, Frame):
            raise ValueError(f"frame: expected a Frame, got {type(frame).__name__}")
        if not self._started:
            if self._text is None:
                raise RuntimeError("update() before start(): give a box or a sentence to start() first")
            return self.start(frame)
        prep = self._prepare(frame)
        if self._last_timestamp is not None and frame.timestamp < self._last_timestamp:
            LOG.warning(
                "time went backwards (%.6f s after %.6f s): resetting the SSM and confidence memory and "
                "relocalising globally (looped bag?)",
                frame.timestamp,
                self._last_timestamp,
            )
            self.reset_memory()
        self._last_timestamp = frame.timestamp
        self._frame_index += 1
        note = ""
        if self._image_size is not None and (prep.width, prep.height) != self._image_size:
            unseen, note = self._size_changed(prep)
            if unseen is not None:
                return unseen
        else:
            self._size_changes = 0
        mode = self.next_search_mode
        result = self._track(prep, mode)
        return replace(result, note=note) if note else result

    def _size_changed(self, prep: _Prepared) -> tuple[TrackResult | None, str]:
        """A frame of another image size than the track's: a discontinuity, handled on purpose.

        The first ``size_change_frames - 1`` such frames in a row are not tracked (a glitch: one odd frame
        in a stream): the result is LOST with the lowest confidence and the last box scaled to the frame;
        memory and templates are untouched, so the track goes on when the usual size comes back. When the
        new size persists, it becomes the track's size: the box is rescaled, the temporal memory reset and
        the target relocalised over the whole image from this frame on. Returns (that result or None, note).
        """
        old_w, old_h = self._image_size
        sx, sy = prep.width / old_w, prep.height / old_h
        box = self._box
        scaled = None if box is None else (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
        self._size_changes += 1
        change = f"image size changed from {old_w}x{old_h} to {prep.width}x{prep.height}"
        if self._size_changes < self.config.size_change_frames:
            shown = (0.0, 0.0, 1.0, 1.0) if scaled is None else scaled
            note = (
                f"{change}: frame not tracked (the track keeps its size until "
                f"{self.config.size_change_frames} frames in a row have the new one)"
            )
            result = TrackResult(
                box=clip_box(shown, prep.width, prep.height, self.config.min_box_size),
                confidence=-1.0,
                score=float("nan"),
                search_mode=self._next_mode,
                state=TrackState.LOST,
                modalities=(),
                timestamp=prep.frame.timestamp,
                frame_index=self._frame_index,
                note=note,
            )
            return result, note
        self._size_changes = 0
        self._image_size = (prep.width, prep.height)
        if scaled is not None:
            self._box = clip_box(scaled, prep.width, prep.height, self.config.min_box_size)
        if self._aspect_ref is not None:  # the reference aspect is in pixels: it scales like the box
            self._aspect_ref += math.log(sx / sy)
        self._velocity = (0.0, 0.0)
        self._refiner.reset()  # its geometry is in old pixels: relearnt at the next confident frame
        self.reset_memory()
        frames = self.config.size_change_frames
        return None, f"{change} ({frames} frame(s) in a row): box rescaled, memory reset, relocalising"

    # ------------------------------------------------------------------ per-frame steps
    def _prepare(self, frame: Frame) -> _Prepared:
        """Validate cross-modal sizes; derive per-modality value mappings (thermal normalisation, padding)."""
        cfg = self.config
        frame.validate(cfg.resize_thermal_to_rgb)
        height, width = frame.size
        step = cfg.stats_stride
        sources: dict[str, Any] = {}
        transforms: dict[str, tuple[float, float, tuple[float, float] | None]] = {}
        pads: dict[str, Any] = {}
        on_device = self.device.type != "cpu"  # CUDA: upload each image once (pinned), crop on the device
        rgb_level = None
        if frame.rgb is not None:
            sources["rgb"] = self._engine.upload("rgb", frame.rgb) if on_device else frame.rgb
            sample = frame.rgb[::step, ::step]
            gain = 1.0
            if cfg.rgb_gain_max > 1.0:
                rgb_level = float(np.percentile(sample.mean(axis=2), 99.0))
                gain = self._exposure_gain(rgb_level)
            transforms["rgb"] = (gain, 0.0, (0.0, 255.0)) if gain > 1.0 else (1.0, 0.0, None)
            mean = sample.mean(axis=(0, 1)) * gain
            pads["rgb"] = mean if cfg.pad_mode == "mean" else np.zeros(3)
        if frame.thermal is not None:
            th = frame.thermal
            sample = th[::step, ::step]
            if th.dtype == np.uint8:
                scale, offset = 1.0 / 255.0, 0.0
            else:  # uint16 / float32: robust per-frame min-max between two percentiles
                lo, hi = np.percentile(sample, cfg.thermal_percentiles)
                span = float(hi - lo) if hi > lo else 1.0
                scale, offset = 1.0 / span, -float(lo) / span
            clamp = (0.0, 1.0)
            mean = float(np.clip(sample.astype(np.float64) * scale + offset, 0.0, 1.0).mean())
            pads["thermal"] = mean if cfg.pad_mode == "mean" else 0.0
            if th.shape != (height, width):  # resize_thermal_to_rgb is on (validate() checked it)
                t = self._upload_thermal(th).to(torch.float32)[None, None]
                t = (t * scale + offset).clamp(0.0, 1.0)
                t = F.interpolate(
                    t, size=(height, width), mode="bilinear", align_corners=False, antialias=True
                )
                sources["thermal"] = t[0, 0]
                transforms["thermal"] = (1.0, 0.0, None)
            else:
                sources["thermal"] = self._upload_thermal(th) if on_device else th
                transforms["thermal"] = (scale, offset, clamp)
        if frame.events is not None:
            events = frame.events
            sources["events"] = (
                DeviceEventWindow.from_window(events, self._engine.upload) if on_device else events
            )
        norm = (scale, offset) if frame.thermal is not None else (1.0, 0.0)
        return _Prepared(frame, height, width, sources, transforms, pads, norm, rgb_level=rgb_level)

    def _exposure_gain(self, level: float) -> float:
        """Software auto-exposure for the network's RGB input: the gain that brings a frame darker than the
        track's start frame back to its exposure (99th-percentile grey), at most ``rgb_gain_max``; 1 when the
        frame is as bright or brighter, or before a track has started."""
        if self._rgb_level is None:
            return 1.0
        gain = self._rgb_level / max(level, 1.0)
        return min(gain, self.config.rgb_gain_max) if gain > RGB_GAIN_DEADBAND else 1.0

    def _upload_thermal(self, thermal: np.ndarray) -> torch.Tensor:
        """A thermal image on the device (uint16 goes up as int16 bits and is widened there to int32)."""
        if thermal.dtype != np.uint16:
            return self._engine.upload("thermal", thermal)
        bits = self._engine.upload("thermal", thermal.view(np.int16))
        return bits.to(torch.int32).bitwise_and_(0xFFFF)

    def _crops(self, prep: _Prepared, window: CropWindow) -> dict[str, torch.Tensor]:
        """Crop + resize every present modality to the window: the network's input dict."""
        images: dict[str, torch.Tensor] = {}
        for m in MODALITIES:
            if m not in prep.sources:
                continue
            if m == "events":
                source, bins = prep.sources[m], self.model_config.event_bins
                if isinstance(source, DeviceEventWindow):
                    images[m] = crop_event_voxels_device(source, window, bins).unsqueeze(0)
                else:
                    grid = crop_event_voxels(source, window, bins)
                    images[m] = torch.from_numpy(grid).unsqueeze(0).to(self.device)
            else:
                scale, offset, clamp = prep.transforms[m]
                images[m] = crop_and_resize(
                    prep.sources[m],
                    window,
                    prep.pads[m],
                    self.device,
                    scale=scale,
                    offset=offset,
                    clamp=clamp,
                )
        return images

    def _search_window(self, prep: _Prepared, mode: SearchMode) -> CropWindow:
        """LOCAL: square of side search_factor*sqrt(w*h) around the last box; GLOBAL: the padded frame."""
        mcfg, cfg = self.model_config, self.config
        if mode == SearchMode.GLOBAL or self._box is None:
            return full_frame_window(prep.width, prep.height, mcfg.global_search_size)
        x, y, w, h = self._predicted_box()
        side = max(cfg.search_factor * math.sqrt(w * h), cfg.min_search_side)
        side = min(side, 1.5 * max(prep.width, prep.height))  # a huge box gains nothing from more padding
        return square_window(x + 0.5 * w, y + 0.5 * h, side, mcfg.search_size)

    def _predicted_box(self) -> Box:
        """The last box moved by the constant-velocity model (the last box itself when it is off)."""
        x, y, w, h = self._box
        return (x + self._velocity[0], y + self._velocity[1], w, h)

    def _template_tokens(self, present: Sequence[str]) -> dict[str, torch.Tensor] | None:
        """Cached template-clip tokens of the present modalities that have a template (None when none has)."""
        tokens = {m: self._clips[m].clip_tokens() for m in present if m in self._clips}
        return tokens or None

    def _forward(
        self, prep: _Prepared, mode: SearchMode
    ) -> tuple[torch.Tensor, tuple[str, ...], CropWindow, TrackMemory]:
        """One network pass over the search window, starting from this track's SSM memory.

        Returns the packed (C, Hs, Ws) output maps still on the device (see :mod:`.inference`), the
        modalities that went through the network, the window and the new SSM memory (the caller decides
        whether the track carries it on).
        """
        window = self._search_window(prep, mode)
        images = self._crops(prep, window)
        packed, memory = self._engine.forward(
            images, self._template_tokens(tuple(images)), self._text, self._memory
        )
        return packed, tuple(m for m in MODALITIES if m in images), window, memory

    def _rank(self, scores: np.ndarray, mode: SearchMode, window: CropWindow | None) -> np.ndarray:
        """Ranking map: sigmoid scores blended with a position prior.

        LOCAL: the Hanning window (cosine prior) centred on the predicted position, weight
        ``window_influence``. GLOBAL (``window`` given, the target acquired before): a broad Gaussian
        (sigma = a quarter of the frame's longer side) centred on the predicted position, weight
        ``global_window_influence``, so a far-away look-alike must score clearly higher to win.
        """
        cfg = self.config
        if mode == SearchMode.LOCAL:
            if cfg.window_influence > 0.0:
                influence = cfg.window_influence
                return (1.0 - influence) * scores + influence * hanning_window(*scores.shape)
            return scores
        influence = cfg.global_window_influence
        if influence <= 0.0 or window is None or self._box is None or not self._acquired:
            return scores
        hs, ws = scores.shape
        x, y, w, h = self._predicted_box()
        cell = window.side / ws  # image pixels per cell
        cx, cy = (x + 0.5 * w - window.x0) / cell - 0.5, (y + 0.5 * h - window.y0) / cell - 0.5
        sigma = 0.25 * ws
        rows, cols = np.arange(hs)[:, None], np.arange(ws)[None, :]
        prior = np.exp(-((cols - cx) ** 2 + (rows - cy) ** 2) / (2.0 * sigma * sigma))
        return (1.0 - influence) * scores + influence * prior

    def _penalty(self, boxes: np.ndarray, window: CropWindow, prep: _Prepared) -> np.ndarray:
        """Per-cell factor on the scores before ranking (1: none): SiamRPN's size-change penalty
        (``size_penalty_k``) times the share of the cell's box inside the image to the ``border_penalty``."""
        cfg = self.config
        penalty = np.ones(len(boxes), dtype=np.float64)
        if self._box is not None and self._acquired and cfg.size_penalty_k > 0.0:
            last_wh = (self._box[2] / window.scale, self._box[3] / window.scale)  # in crop pixels
            penalty = size_change_penalty(boxes, last_wh, cfg.size_penalty_k)
        if cfg.border_penalty > 0.0:  # a box mostly in the padding around the image: clipped, it is a sliver
            inside = inside_fraction(window.crop_to_image(boxes), prep.width, prep.height)
            penalty = penalty * inside**cfg.border_penalty
        return penalty

    def _weigh_by_evidence(self, estimate: Any, candidate_scores: np.ndarray) -> Any:
        """With ``score_floor_ratio`` > 0: each candidate's kappa times ``min(1, score / (ratio * usual))``,
        ``usual`` being the EWMA of the track's confident local peak scores. The MVLM margin is relative: a
        peak of 0.02 over competitors of 0.00 has a large margin, yet is no evidence of the target."""
        ratio = self.config.score_floor_ratio
        if ratio <= 0.0 or self._score_ref is None or self._score_ref <= 0.0:
            return estimate
        evidence = np.clip(
            np.asarray(candidate_scores, dtype=np.float64) / (ratio * self._score_ref), 0.0, 1.0
        )
        return replace(estimate, kappa=estimate.kappa * evidence)

    def _reacquirable(self, passing: np.ndarray, factors: np.ndarray) -> np.ndarray:
        """The passing candidates (indices into the candidate list) of a global search that may re-acquire the
        track: with ``reacquire_appearance_ratio`` > 0 and the target acquired before, those whose appearance
        factor is at least the ratio times the track's usual one (all of them otherwise)."""
        ratio = self.config.reacquire_appearance_ratio
        if ratio <= 0.0 or not self._acquired or self._appearance_ref is None:
            return passing
        return passing[factors[passing] >= ratio * self._appearance_ref]

    def _candidates(self, ranked: np.ndarray) -> np.ndarray:
        """Flat indices of the top-k local maxima (3x3) of the ranking map, best first."""
        hs, ws = ranked.shape
        padded = np.pad(ranked, 1, mode="constant", constant_values=-np.inf)
        neighbours = np.lib.stride_tricks.sliding_window_view(padded, (3, 3)).max(axis=(-1, -2))
        peaks = np.flatnonzero(ranked.ravel() >= neighbours.ravel())
        order = peaks[np.argsort(-ranked.ravel()[peaks], kind="stable")]
        return order[: self.config.top_k]

    def _smooth_size(self, box: list[float], score: float) -> list[float]:
        """Move the last box's size towards the predicted one by ``size_update_rate * score`` (SiamRPN-style).

        The predicted centre is kept. Damping the size stops the search-crop/size feedback loop (a size
        under-estimate shrinks the next crop, which biases the next estimate) from collapsing the box.
        """
        rate = self.config.size_update_rate
        if self.config.size_rate_from_score:
            rate *= min(max(score, 0.0), 1.0)
        cx, cy = box[0] + box[2] / 2.0, box[1] + box[3] / 2.0
        w = self._box[2] + rate * (box[2] - self._box[2])
        h = self._box[3] + rate * (box[3] - self._box[3])
        return [cx - w / 2.0, cy - h / 2.0, w, h]

    def _pull_aspect(self, box: list[float]) -> list[float]:
        """Pull the box's log aspect ratio towards the given start box's so that only ``aspect_update_rate``
        of the network's deviation remains; centre and area are kept (no pull on sentence-only tracks)."""
        keep = self.config.aspect_update_rate
        if self._aspect_ref is None or keep >= 1.0 or box[2] <= 0.0 or box[3] <= 0.0:
            return box
        log_aspect = math.log(box[2] / box[3])
        shift = 0.5 * (self._aspect_ref + keep * (log_aspect - self._aspect_ref) - log_aspect)
        w, h = box[2] * math.exp(shift), box[3] * math.exp(-shift)
        cx, cy = box[0] + box[2] / 2.0, box[1] + box[3] / 2.0
        return [cx - w / 2.0, cy - h / 2.0, w, h]

    def _track(self, prep: _Prepared, mode: SearchMode) -> TrackResult:
        """Search, score candidates with the MVLM confidence, gate, and update box, state and templates."""
        cfg = self.config
        with torch.inference_mode():
            packed, modalities, window, memory = self._forward(prep, mode)
        self._force_global = False
        # The frame's one device->host copy; decoding and confidence run on the host (a small grid).
        logits, offset, size, corr = unpack_outputs(self._engine.to_host(packed))
        scores = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
        stride = window.out_size / scores.shape[1]
        boxes, _ = cell_boxes(offset, size, stride, window.out_size)
        penalty = self._penalty(boxes, window, prep).reshape(scores.shape)
        ranked = self._rank(scores * penalty, mode, window)
        margin_values = ranked if cfg.margin_on_prior and mode == SearchMode.LOCAL else None
        images = self._appearance_images(prep)
        checks = [(model, image) for model, image in images if model.ready]
        factor = None
        if checks:
            # a look-alike of another colour drops in the ranking and in the margin (its competitor value)
            factor = self._appearance_factor(checks, ranked, boxes, window)
            margin_values = (scores.ravel() if margin_values is None else margin_values.ravel()) * factor
            ranked = ranked * factor.reshape(ranked.shape)
        cand = self._candidates(ranked)
        estimate = self._confidence.evaluate(
            scores.ravel(),
            boxes,
            cand,
            corr,
            stride,
            margin_values=None if margin_values is None else margin_values.ravel(),
        )
        estimate = self._weigh_by_evidence(estimate, scores.ravel()[cand])
        passing = np.flatnonzero(estimate.kappa >= cfg.tau)
        kept = passing
        if factor is not None and mode == SearchMode.GLOBAL:
            kept = self._reacquirable(passing, factor[cand])
        refused = kept.size < passing.size  # look-alikes refused: none of them may teach the appearance model
        passing = kept
        pick = int(passing[0]) if passing.size else 0  # candidates are sorted by rank: best of S_t, else best
        kappa = self._confidence.commit(estimate, pick)
        score = float(scores.ravel()[cand[pick]])
        if passing.size and mode == SearchMode.LOCAL:
            self._score_ref = score if self._score_ref is None else 0.9 * self._score_ref + 0.1 * score
            if factor is not None:
                usual, own = self._appearance_ref, float(factor[cand[pick]])
                self._appearance_ref = own if usual is None else 0.9 * usual + 0.1 * own
        if passing.size or kappa >= cfg.memory_update_min_kappa:
            self._memory = memory  # MambaVLT: the final state becomes the next frame's initial state
        image_box = [float(v) for v in xyxy_to_xywh(window.crop_to_image(boxes[cand[pick]]))]
        adopt = cfg.adopt_size_after_global and self._size_from_global and passing.size > 0
        if mode == SearchMode.LOCAL and self._box is not None and cfg.size_update_rate < 1.0 and not adopt:
            image_box = self._smooth_size(image_box, score * float(penalty.ravel()[cand[pick]]))
        if passing.size:  # a confident local frame fixes the size; a confident global one leaves it coarse
            self._size_from_global = mode == SearchMode.GLOBAL
        image_box = self._pull_aspect(image_box)
        if mode == SearchMode.LOCAL and passing.size and self._refiner.ready:
            image_box = self._refine(prep, image_box, cell=window.side / scores.shape[1])
        holding = not passing.size and self._acquired and cfg.low_confidence_box != "candidate"
        if holding:  # an ambiguous frame: report the last (or predicted) box, not a jump to a look-alike
            box = self._predicted_box() if cfg.low_confidence_box == "predict" else self._box
            self._velocity = tuple(cfg.motion_momentum * v for v in self._velocity)
        else:
            box = tuple(image_box)
            if self._box is not None and mode == SearchMode.LOCAL and passing.size:
                self._update_velocity(box)
            else:
                self._velocity = (0.0, 0.0)
        self._box = clip_box(box, prep.width, prep.height, cfg.min_box_size)
        if passing.size:
            self._acquired = True
            self._low_count = 0
            self._state = TrackState.TRACKING
            self._next_mode = SearchMode.LOCAL
        else:
            self._low_count += 1
            relocalise = not self._acquired or self._low_count >= cfg.relocalise_after
            self._next_mode = SearchMode.GLOBAL if relocalise else SearchMode.LOCAL
            if not self._acquired:
                self._state = TrackState.WAITING_FOR_TARGET
            elif self._low_count >= cfg.lost_after:
                self._state = TrackState.LOST
            else:
                self._state = TrackState.RELOCALISING
        learn = kappa >= cfg.template_update_threshold and not refused
        if learn:
            for model, image in images:
                model.update(image, self._box)
            self._learn_refiner(prep)
        if learn:
            due = self._frame_index - self._last_refresh >= cfg.template_update_interval
            if (self._clips and due) or (not self._clips and cfg.seed_template_from_text):
                self._add_templates(prep, self._box, initial=False)
        return TrackResult(
            box=self._box,
            confidence=kappa,
            score=score,
            search_mode=mode,
            state=self._state,
            modalities=modalities,
            timestamp=prep.frame.timestamp,
            frame_index=self._frame_index,
        )

    def _appearance_images(self, prep: _Prepared) -> list[tuple[AppearanceModel, np.ndarray]]:
        """The (appearance model, HxWx3 uint8 image) pairs this frame is checked on: RGB when present, and
        the thermal image as grey per ``thermal_appearance`` (``no_rgb``: only for frames without RGB)."""
        if not self._uses_appearance:
            return []
        out = []
        if prep.frame.rgb is not None:
            out.append((self._appearance, self._appearance_rgb(prep)))
        mode = self.config.thermal_appearance
        if prep.frame.thermal is not None and (mode == "always" or (mode == "no_rgb" and not out)):
            out.append((self._thermal_appearance, self._thermal_grey(prep)))
        return out

    def _appearance_rgb(self, prep: _Prepared) -> np.ndarray:
        """The RGB image the appearance check reads: the frame, or with ``appearance_exposed`` the frame
        gained like the network's input (software auto-exposure), made once per frame."""
        gain = prep.transforms["rgb"][0]
        if not self.config.appearance_exposed or gain <= 1.0:
            return prep.frame.rgb
        if prep.exposed_rgb is None:
            lit = prep.frame.rgb.astype(np.float32) * np.float32(gain)
            prep.exposed_rgb = np.minimum(lit, 255.0).astype(np.uint8)
        return prep.exposed_rgb

    @staticmethod
    def _thermal_grey(prep: _Prepared) -> np.ndarray:
        """The thermal image mapped like the network's input ([0, 1] between the frame's percentiles), at the
        reference size, as HxWx3 uint8 grey (what the colour / texture histograms read)."""
        scale, offset = prep.thermal_norm
        th = prep.frame.thermal.astype(np.float32) * np.float32(scale) + np.float32(offset)
        if th.shape != (prep.height, prep.width):
            t = torch.from_numpy(np.ascontiguousarray(th))[None, None]
            th = F.interpolate(t, size=(prep.height, prep.width), mode="bilinear", align_corners=False)[0, 0]
            th = th.numpy()
        grey = (np.clip(th, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)

    def _appearance_factor(
        self,
        checks: Sequence[tuple[AppearanceModel, np.ndarray]],
        ranked: np.ndarray,
        boxes: np.ndarray,
        window: CropWindow,
    ) -> np.ndarray:
        """Per-cell ``exp(-appearance_weight * (1 - BC))`` for the ``APPEARANCE_CELLS`` best-ranked cells.

        With several images (RGB and thermal) the exponent is their mean. The other cells (ranked too low to
        become the pick or the competitor) keep a factor of 1 (or the lowest checked one, with the floor).
        """
        factor = np.ones(ranked.size, dtype=np.float64)
        top = np.argsort(-ranked.ravel(), kind="stable")[:APPEARANCE_CELLS]
        cells = [xyxy_to_xywh(window.crop_to_image(boxes[c])) for c in top]
        cfg = self.config
        exponent = np.zeros(len(cells), dtype=np.float64)
        for model, image in checks:
            if cfg.appearance_weight > 0.0:
                exponent += cfg.appearance_weight * (1.0 - model.similarity(image, cells))
            if cfg.texture_weight > 0.0:
                exponent += cfg.texture_weight * (1.0 - model.texture_similarity(image, cells))
        factor[top] = np.exp(-exponent / len(checks))
        if self.config.appearance_floor_rest:  # an unchecked cell must not overtake the checked ones
            rest = np.ones(ranked.size, dtype=bool)
            rest[top] = False
            factor[rest] = factor[top].min()
        return factor

    @property
    def _uses_refiner(self) -> bool:
        """Whether the DSST filters refine the box (see tracking/box_refinement.py)."""
        return self.config.refine_translation or self.config.refine_scale > 0.0

    def _grey(self, prep: _Prepared) -> np.ndarray | None:
        """The frame's grey image for the box refiner (RGB, else the mapped thermal image; None for events
        only), made once per frame."""
        if prep.grey is None:
            if prep.frame.rgb is not None:
                prep.grey = grey_image(prep.frame.rgb)
            elif prep.frame.thermal is not None:
                prep.grey = self._thermal_grey(prep)[:, :, 0].astype(np.float32) * np.float32(1 / 255)
        return prep.grey

    def _refine(self, prep: _Prepared, box: list[float], cell: float) -> list[float]:
        """The network's box moved by the DSST translation filter (at most ``refine_max_shift`` search cells
        of ``cell`` image pixels) and rescaled by ``refine_scale`` times the scale filter's log factor (the
        network keeps the aspect ratio)."""
        grey = self._grey(prep)
        if grey is None:
            return box
        cfg = self.config
        result = self._refiner.refine(
            grey,
            box,
            translate=cfg.refine_translation,
            scale=cfg.refine_scale > 0.0,
            max_shift=cfg.refine_max_shift * cell,
        )
        cx, cy = result.box[0] + 0.5 * result.box[2], result.box[1] + 0.5 * result.box[3]
        factor = result.scale**cfg.refine_scale
        w, h = box[2] * factor, box[3] * factor
        return [cx - 0.5 * w, cy - 0.5 * h, w, h]

    def _learn_refiner(self, prep: _Prepared) -> None:
        """Train the refiner on the confident frame's box (start it first on a sentence-only track)."""
        if not self._uses_refiner:
            return
        grey = self._grey(prep)
        if grey is None:
            return
        if self._refiner.ready:
            self._refiner.update(grey, self._box)
        else:
            self._refiner.start(grey, self._box)

    @property
    def _uses_appearance(self) -> bool:
        """Whether candidates are re-ranked by colour and / or texture (see tracking/appearance.py)."""
        return self.config.appearance_weight > 0.0 or self.config.texture_weight > 0.0

    def _update_velocity(self, box: Sequence[float]) -> None:
        """Constant-velocity model: EWMA of the centre displacement between two confident local frames."""
        m = self.config.motion_momentum
        if m <= 0.0:
            return
        x, y, w, h = self._box
        dx = box[0] + 0.5 * box[2] - (x + 0.5 * w)
        dy = box[1] + 0.5 * box[3] - (y + 0.5 * h)
        self._velocity = (m * self._velocity[0] + (1.0 - m) * dx, m * self._velocity[1] + (1.0 - m) * dy)

    def _add_templates(self, prep: _Prepared, box: Box, initial: bool) -> None:
        """Crop templates around ``box`` for the present modalities and embed them once (one network call).

        ``initial`` starts new clips (start by box); otherwise the crops refresh existing clips, and a
        modality seen for the first time gets its clip started from this crop.
        """
        cfg, mcfg = self.config, self.model_config
        x, y, w, h = box
        side = max(cfg.template_factor * math.sqrt(w * h), 1.0)
        window = square_window(x + 0.5 * w, y + 0.5 * h, side, mcfg.template_size)
        crops = self._crops(prep, window)
        with torch.inference_mode(), self._engine.autocast():
            tokens = self.net.embed_images(crops, role="template")
        for m, tok in tokens.items():
            if initial or m not in self._clips:
                self._clips[m] = _TemplateClip(cfg.template_clip_len, crops[m], tok)
            else:
                self._clips[m].push(crops[m], tok)
        self._last_refresh = self._frame_index
        if not initial:
            self._refreshes += 1
