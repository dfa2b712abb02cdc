"""Runtime knobs of the tracker: the ``tracker:`` section of ``config/<name>.yaml``.

The ``model:`` section is the network's, see :mod:`mamba_tracking_ros.model.config`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

#: What a frame below tau reports: the best candidate (MVLM), the last box, or the motion model's prediction.
LOW_CONFIDENCE_BOXES: tuple[str, ...] = ("candidate", "hold", "predict")
#: When the appearance check also reads the thermal image (see TrackerConfig.thermal_appearance).
THERMAL_APPEARANCE: tuple[str, ...] = ("off", "no_rgb", "always")


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker hyper-parameters; each default is documented next to its field (MVLM / MambaVLT named)."""

    # --- search regions
    search_factor: float = 4.0  # local search square side = search_factor * sqrt(w * h) of the last box
    template_factor: float = 2.0  # template square side = template_factor * sqrt(w * h)
    min_search_side: float = 32.0  # lower bound (pixels) of the local search side, for tiny boxes
    min_box_size: float = 2.0  # reported / carried boxes are at least this many pixels wide and high
    pad_mode: str = "mean"  # crop padding outside the image: "mean" (per-channel image mean) or "zero"
    window_influence: float = 0.35  # local mode: ranked = (1 - w) * sigmoid + w * hanning (0 disables)
    top_k: int = 5  # candidates (local maxima of the score map) scored by the MVLM confidence
    size_update_rate: float = 0.5  # local: w,h move towards the predicted size by rate (* score); 1: off
    size_penalty_k: float = 0.0  # local: SiamRPN scale/aspect change penalty on scores (0: off)
    # candidates are ranked by score * (share of the box inside the image) ** border_penalty: a box predicted
    # mostly in the padding around the image is clipped to a sliver that collapses the next search (0: off)
    border_penalty: float = 0.0
    size_rate_from_score: bool = True  # multiply size_update_rate by the peak's sigmoid score (SiamRPN-style)
    # share of the network's aspect-ratio (w/h) deviation from the given start box's that the box keeps (log
    # space, centre and area kept; sentence-only tracks: no pull); 1: the network's aspect; 0: the start box's
    aspect_update_rate: float = 1.0
    # --- runtime policy (what happens on ambiguous / low-confidence frames)
    margin_on_prior: bool = True  # local mode: the classification margin is taken on the prior-weighted map
    relocalise_after: int = 1  # consecutive frames below tau before the next frame searches the whole image
    low_confidence_box: str = "candidate"  # box reported below tau: "candidate" | "hold" (last) | "predict"
    motion_momentum: float = 0.5  # constant-velocity model: v = m*v + (1-m)*displacement (0: no motion model)
    global_window_influence: float = 0.0  # global mode: weight of a broad prior centred on the last position
    appearance_weight: float = 5.0  # re-rank candidates by exp(-w * (1 - colour-histogram BC)) (0: off)
    appearance_floor_rest: bool = True  # cells outside the checked top 12 get the lowest checked factor
    texture_weight: float = 3.0  # also re-rank by exp(-w * (1 - gradient-histogram intersection)) (0: off)
    # check candidates on the thermal image too (grey histograms): "off" | "no_rgb" (only when a frame has no
    # RGB: thermal-only tracks) | "always"
    thermal_appearance: str = "no_rgb"
    appearance_update_rate: float = 0.05  # EWMA weight of a confident frame's colour / texture histograms
    # --- pixel-accurate box (DSST correlation filters after the network, tracking/box_refinement.py)
    refine_translation: bool = False  # confident local frames: centre at the translation filter's peak
    refine_max_shift: float = 1.0  # ... unless its peak is further than this many search cells away (.inf ok)
    refine_scale: float = 0.0  # ... and rescale by the scale filter's factor ** this (0: network size only)
    refine_learning_rate: float = 0.025  # running-average weight of a confident frame in the filters (DSST)
    memory_update_min_kappa: float = -1.0  # carry the SSM final state only when kappa >= this (-1: always)
    # --- template clip (MambaVLT)
    template_clip_len: int = 3  # K template frames: the initial one is kept, the other K-1 refreshed (FIFO)
    template_update_threshold: float = (
        0.6  # refresh a slot only when kappa >= this (<= -1: always, > 1: never)
    )
    template_update_interval: int = 1  # at least this many frames between two refreshes (seeding excepted)
    seed_template_from_text: bool = True  # text-only start: the first refresh seeds the (empty) template clip
    # --- MVLM margin confidence and gating
    alpha_corr: float = 0.5  # weight of the correlation margin; alpha_cls = 1 - alpha_corr
    psi_out: float = 0.3  # competitors must have IoU < psi_out with the candidate (exclusion zone B_out)
    ewma_lambda: float = 0.7  # forgetting factor lambda of m_t = (1 - lambda) * kappa_vlm + lambda * m_{t-1}
    omega: float = 0.5  # kappa = (1 - omega) * kappa_vlm + omega * m_t
    corr_scale_floor: float = 0.05  # floor of the robust scale dividing the correlation margin
    cls_scale_floor: float = 0.05  # floor of the robust scale dividing the classification margin
    scale_momentum: float = 0.9  # running average of the per-frame robust scales (MAD * 1.4826)
    # a candidate's kappa is scaled by min(1, its peak score / (this ratio * the track's usual confident peak
    # score)): a near-zero peak is no evidence of the target however large its margin (0: off)
    score_floor_ratio: float = 0.0
    # a globally searched candidate re-acquires a lost track only when its colour / texture factor is at
    # least this ratio times the track's usual one (EWMA over confident local frames): a look-alike of
    # another colour found while the target is away takes neither the track nor its appearance model (0: off)
    reacquire_appearance_ratio: float = 0.0
    # the first confident local frame after a global pick takes the network's size as it is (no
    # size_update_rate damping): a global search's box is coarse (the whole frame on one grid) and damping
    # would keep it for many frames
    adopt_size_after_global: bool = False
    tau: float = 0.25  # gate: kappa >= tau -> TRACKING and local search next, else global relocalisation
    lost_after: int = 10  # consecutive frames below tau after which the state is LOST (search stays global)
    init_box_confidence: float = 1.0  # confidence reported for, and EWMA memory seeded by, a user-given box
    warm_memory_on_start: bool = (
        True  # run the first frame through the network at start() to seed the SSM memory
    )
    # --- inputs
    resize_thermal_to_rgb: bool = (
        True  # resize a thermal image of another size (a 640x512 Boson) to the RGB size; False: ValueError
    )
    thermal_percentiles: tuple[float, float] = (1.0, 99.0)  # robust min-max for uint16 / float32 thermal
    # software auto-exposure: an RGB frame darker than the start frame is gained back to its exposure
    # (99th-percentile grey) for the network, by at most this factor (1: off; within 1.25x: no gain)
    rgb_gain_max: float = 1.0
    # the colour / texture check reads the RGB gained like the network's input (else the raw, dark frame)
    appearance_exposed: bool = False
    stats_stride: int = 4  # pixel subsampling for per-frame statistics (thermal percentiles, padding mean)
    size_change_frames: int = 3  # frames in a row of a new image size before the track adopts it (see update)
    # --- inference (see mamba_tracking_ros.tracking.inference)
    precision: str = "fp32"  # network pass under autocast: "fp32" (off), "bf16" or "fp16"; boxes stay fp32/64
    compile: str = "off"  # torch.compile: "off", "default", "reduce-overhead" (CUDA graphs), ... or a backend

    def __post_init__(self) -> None:
        """Validate ranges; a bad value raises ValueError naming the field."""
        positive = ("search_factor", "template_factor", "min_search_side", "min_box_size")
        for name in ("size_penalty_k", "appearance_weight", "texture_weight", "border_penalty"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value < 100.0):
                raise ValueError(f"{name}: must be in [0, 100), got {value!r}")
        shift = self.refine_max_shift
        if not (isinstance(shift, (int, float)) and not math.isnan(shift) and shift > 0):
            raise ValueError(f"refine_max_shift: must be a positive number or .inf, got {shift!r}")
        gain = self.rgb_gain_max
        if not (isinstance(gain, (int, float)) and math.isfinite(gain) and 1.0 <= gain <= 256.0):
            raise ValueError(f"rgb_gain_max: must be in [1, 256] (1: off), got {gain!r}")
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: must be a positive number, got {value!r}")
        unit = (
            "window_influence",
            "alpha_corr",
            "ewma_lambda",
            "omega",
            "scale_momentum",
            "size_update_rate",
            "aspect_update_rate",
            "motion_momentum",
            "global_window_influence",
            "appearance_update_rate",
            "score_floor_ratio",
            "reacquire_appearance_ratio",
            "refine_scale",
            "refine_learning_rate",
        )
        for name in unit:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name}: must be in [0, 1], got {value!r}")
        if not (isinstance(self.psi_out, (int, float)) and 0.0 < self.psi_out <= 1.0):
            raise ValueError(f"psi_out: must be in (0, 1], got {self.psi_out!r}")
        for name in ("corr_scale_floor", "cls_scale_floor"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"{name}: must be positive, got {value!r}")
        for name in ("tau", "template_update_threshold", "memory_update_min_kappa"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ValueError(f"{name}: must be a finite number, got {value!r}")
        if not -1.0 <= self.init_box_confidence <= 1.0:
            raise ValueError(f"init_box_confidence: must be in [-1, 1], got {self.init_box_confidence!r}")
        ints = ("top_k", "template_clip_len", "template_update_interval", "lost_after", "stats_stride")
        ints += ("size_change_frames",)
        for name in (*ints, "relocalise_after"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")
        if self.thermal_appearance not in THERMAL_APPEARANCE:
            raise ValueError(
                f"thermal_appearance: must be one of {THERMAL_APPEARANCE}, got {self.thermal_appearance!r}"
            )
        if self.low_confidence_box not in LOW_CONFIDENCE_BOXES:
            raise ValueError(
                f"low_confidence_box: must be one of {LOW_CONFIDENCE_BOXES}, got {self.low_confidence_box!r}"
            )
        if self.pad_mode not in ("mean", "zero"):
            raise ValueError(f"pad_mode: must be 'mean' or 'zero', got {self.pad_mode!r}")
        lo_hi = tuple(self.thermal_percentiles)
        if len(lo_hi) != 2 or not 0.0 <= lo_hi[0] < lo_hi[1] <= 100.0:
            raise ValueError(
                f"thermal_percentiles: need 0 <= low < high <= 100, got {self.thermal_percentiles!r}"
            )
        object.__setattr__(self, "thermal_percentiles", (float(lo_hi[0]), float(lo_hi[1])))
        from mamba_tracking_ros.tracking.inference import check_compile, check_precision

        check_precision(self.precision)
        check_compile(self.compile)
        flags = ("seed_template_from_text", "warm_memory_on_start", "resize_thermal_to_rgb")
        checks = (
            "size_rate_from_score",
            "margin_on_prior",
            "appearance_floor_rest",
            "refine_translation",
            "appearance_exposed",
            "adopt_size_after_global",
        )
        for name in (*flags, *checks):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: must be true or false, got {getattr(self, name)!r}")

    @property
    def alpha_cls(self) -> float:
        """Weight of the classification margin (MVLM: alpha_corr + alpha_cls = 1)."""
        return 1.0 - self.alpha_corr

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for logs, results and YAML)."""
        data = asdict(self)
        data["thermal_percentiles"] = list(self.thermal_percentiles)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrackerConfig:
        """Build from a mapping, rejecting unknown keys (a typo must not be silently ignored)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"tracker: the 'tracker' section must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"tracker: unknown key(s) {unknown}; known: {sorted(known)}")
        values = dict(data)
        if "thermal_percentiles" in values:
            values["thermal_percentiles"] = tuple(values["thermal_percentiles"])
        return cls(**values)

    def updated(self, **changes: Any) -> TrackerConfig:
        """A copy with some fields changed (validated again)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"tracker: unknown key(s) {unknown}")
        return replace(self, **changes)


def load_tracker_config(
    source: str | os.PathLike[str] | Mapping[str, Any] | TrackerConfig | None = "small",
    overrides: Mapping[str, Any] | None = None,
) -> TrackerConfig:
    """Read the ``tracker:`` section of a config name ('small', 'base') or YAML path (defaults when absent).

    ``source`` may also be a TrackerConfig or a mapping of tracker keys; ``overrides`` (e.g. ROS parameters)
    are applied on top and validated.
    """
    if source is None:
        config = TrackerConfig()
    elif isinstance(source, TrackerConfig):
        config = source
    elif isinstance(source, Mapping):
        config = TrackerConfig.from_dict(source)
    else:
        from mamba_tracking_ros.model.config import load_config_file

        section = load_config_file(source).get("tracker") or {}
        config = TrackerConfig.from_dict(section)
    if overrides:
        config = config.updated(**dict(overrides))
    return config
