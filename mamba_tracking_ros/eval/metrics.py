"""One-pass-evaluation (OPE) metrics: success (AUC), precision (P@20) and normalised precision (NP@0.2).

Conventions follow the OTB protocol (Wu et al., "Online Object Tracking: A Benchmark", CVPR 2013) as
computed by pytracking's analysis code, written here in numpy:

* Boxes are ``(x, y, w, h)`` in pixels, arrays of shape ``(N, 4)``.
* IoU of two boxes; pytracking's inclusive-pixel formula (``x + w - 1`` corners, ``+ 1`` extents) is
  algebraically the same as the continuous one used here.
* Centre error is the Euclidean distance of the box centres; the normalised centre error divides both centre
  coordinates by the ground-truth width / height before taking the distance (LaSOT / TrackingNet style).
* Success curve: fraction of counted frames with IoU **strictly greater** than each of
  ``np.linspace(0, 1, 21)``. Precision curves: fraction of counted frames with error **less than or equal
  to** each of ``0..50`` px and ``0..0.50`` (normalised), 51 steps each (``np.arange(51)`` and
  ``np.arange(51) / 100``).
* Units: curves are fractions in [0, 1]; the scalar scores ``auc``, ``precision_20`` and
  ``normalized_precision_20`` are in **percent** (0..100), as pytracking reports them.
* Aggregation over a dataset averages the per-sequence curves (each sequence weighted equally, not each
  frame).

Frame bookkeeping (``sequence_errors``):

* ``exclude_first=True`` removes frame 0 (the initialisation frame) from the evaluation. (pytracking instead
  overwrites the frame-0 prediction with the ground truth, i.e. counts it as a perfect frame.)
* Frames whose ground truth is invalid (non-finite, ``w <= 0`` or ``h <= 0``, or ``valid[i]`` False) are left
  out of the evaluation.
* A prediction that is non-finite or has ``w <= 0`` / ``h <= 0`` is a failure on that frame (IoU 0,
  infinite errors). (pytracking raises on NaN / negative sizes and carries a zero-size box over from the
  previous frame.)
* ``lasot_rules=True`` follows pytracking's LaSOT branch: a frame is *visible* unless ``full_occlusion`` or
  ``out_of_view`` is set; frames that are not visible (and frames with invalid ground truth) stay in the
  denominator (pytracking uses the full sequence length for LaSOT) but can never be successes. So a perfect
  box on an invisible frame still counts as a miss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "OVERLAP_THRESHOLDS",
    "CENTER_THRESHOLDS",
    "NORM_CENTER_THRESHOLDS",
    "SequenceErrors",
    "SequenceResult",
    "OPESummary",
    "iou",
    "center_error",
    "normalized_center_error",
    "sequence_errors",
    "success_curve",
    "precision_curve",
    "normalized_precision_curve",
    "evaluate_sequence",
    "aggregate",
    "per_attribute",
]

OVERLAP_THRESHOLDS: np.ndarray = np.linspace(0.0, 1.0, 21)
CENTER_THRESHOLDS: np.ndarray = np.arange(51, dtype=np.float64)
NORM_CENTER_THRESHOLDS: np.ndarray = np.arange(51, dtype=np.float64) / 100.0
_P20_INDEX = 20  # CENTER_THRESHOLDS[20] == 20 px
_NP20_INDEX = 20  # NORM_CENTER_THRESHOLDS[20] == 0.2


def _as_boxes(value: object, name: str) -> np.ndarray:
    """Convert ``value`` to a float64 (N, 4) array or raise ValueError naming ``name``."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric boxes of shape (N, 4): {exc}") from exc
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4) of (x, y, w, h) boxes, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must contain at least one box")
    return arr


def _pair(pred: object, gt: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate a prediction / ground-truth pair of box arrays with equal length."""
    p = _as_boxes(pred, "pred")
    g = _as_boxes(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred and gt must have the same shape, got pred {p.shape} and gt {g.shape}")
    return p, g


def _as_mask(value: object, name: str, n: int) -> np.ndarray:
    """Convert a per-frame flag array to bool of shape (n,) or raise ValueError naming ``name``."""
    arr = np.asarray(value)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one flag per frame), got shape {arr.shape}")
    if arr.dtype == np.bool_:
        return arr.copy()
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isin(arr, (0, 1))):
        raise ValueError(f"{name} must hold booleans or 0/1 values")
    return arr.astype(bool)


def _centres(boxes: np.ndarray) -> np.ndarray:
    """Box centres (N, 2) of (x, y, w, h) boxes."""
    return boxes[:, :2] + 0.5 * boxes[:, 2:]


def iou(pred: object, gt: object) -> np.ndarray:
    """Per-row intersection over union of (N, 4) xywh boxes (OTB overlap score, Wu et al. 2013, Eq. 1).

    Rows where either box has ``w <= 0`` or ``h <= 0`` give 0; rows with a non-finite value give NaN.
    """
    p, g = _pair(pred, gt)
    with np.errstate(invalid="ignore"):
        iw = np.minimum(p[:, 0] + p[:, 2], g[:, 0] + g[:, 2]) - np.maximum(p[:, 0], g[:, 0])
        ih = np.minimum(p[:, 1] + p[:, 3], g[:, 1] + g[:, 3]) - np.maximum(p[:, 1], g[:, 1])
        inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
        union = p[:, 2] * p[:, 3] + g[:, 2] * g[:, 3] - inter
        degenerate = (p[:, 2] <= 0) | (p[:, 3] <= 0) | (g[:, 2] <= 0) | (g[:, 3] <= 0)
        out = np.where(degenerate, 0.0, inter / np.where(degenerate, 1.0, union))
    out[~(np.isfinite(p).all(1) & np.isfinite(g).all(1))] = np.nan
    return out


def center_error(pred: object, gt: object) -> np.ndarray:
    """Per-row Euclidean distance in pixels between box centres (OTB precision, Wu et al. 2013)."""
    p, g = _pair(pred, gt)
    return np.sqrt(((_centres(p) - _centres(g)) ** 2).sum(1))


def normalized_center_error(pred: object, gt: object) -> np.ndarray:
    """Per-row centre distance with x / y divided by the ground-truth w / h (normalised precision, LaSOT)."""
    p, g = _pair(pred, gt)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = (_centres(p) - _centres(g)) / g[:, 2:]
    return np.sqrt((diff**2).sum(1))


@dataclass(frozen=True)
class SequenceErrors:
    """Per-frame OPE errors of one sequence and which frames enter the evaluation.

    ``valid``: frames scored normally (usable, visible ground truth and not an excluded first frame).
    ``counted``: frames in the denominator of the curves (``valid`` plus, under LaSOT rules, the frames that
    are forced failures). Frames that are not ``valid`` hold IoU -1 and infinite errors, so they never
    succeed. A failed prediction on a valid frame holds IoU 0 and infinite errors.
    """

    iou: np.ndarray
    center_error: np.ndarray
    normalized_center_error: np.ndarray
    valid: np.ndarray
    counted: np.ndarray


def sequence_errors(
    pred: object,
    gt: object,
    valid: object | None = None,
    exclude_first: bool = True,
    lasot_rules: bool = False,
    full_occlusion: object | None = None,
    out_of_view: object | None = None,
) -> SequenceErrors:
    """Per-frame IoU, centre error and normalised centre error of a sequence under pytracking's OPE rules."""
    p, g = _pair(pred, gt)
    n = p.shape[0]
    gt_ok = np.isfinite(g).all(1) & (g[:, 2] > 0) & (g[:, 3] > 0)
    if valid is not None:
        gt_ok &= _as_mask(valid, "valid", n)
    if lasot_rules:
        if full_occlusion is None and out_of_view is None:
            raise ValueError("lasot_rules=True needs full_occlusion and/or out_of_view flags")
        hidden = np.zeros(n, dtype=bool)
        if full_occlusion is not None:
            hidden |= _as_mask(full_occlusion, "full_occlusion", n)
        if out_of_view is not None:
            hidden |= _as_mask(out_of_view, "out_of_view", n)
    else:
        if full_occlusion is not None:
            raise ValueError("full_occlusion is only used with lasot_rules=True")
        if out_of_view is not None:
            raise ValueError("out_of_view is only used with lasot_rules=True")
        hidden = np.zeros(n, dtype=bool)

    scored = gt_ok & ~hidden
    counted = np.ones(n, dtype=bool) if lasot_rules else gt_ok.copy()
    if exclude_first:
        scored[0] = False
        counted[0] = False

    pred_ok = np.isfinite(p).all(1) & (p[:, 2] > 0) & (p[:, 3] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ov = iou(p, g)
        ce = center_error(p, g)
        nce = normalized_center_error(p, g)
    ov = np.where(pred_ok, ov, 0.0)
    ce = np.where(pred_ok, ce, np.inf)
    nce = np.where(pred_ok, nce, np.inf)
    ov[~scored] = -1.0
    ce[~scored] = np.inf
    nce[~scored] = np.inf
    return SequenceErrors(iou=ov, center_error=ce, normalized_center_error=nce, valid=scored, counted=counted)


def _counted_frames(errors: SequenceErrors) -> int:
    """Number of frames in the denominator; raises ValueError when there are none."""
    m = int(errors.counted.sum())
    if m == 0:
        raise ValueError("gt has no frame left to evaluate (all excluded as first / invalid frames)")
    return m


def success_curve(errors: SequenceErrors) -> np.ndarray:
    """Fraction of counted frames with IoU strictly above each of ``OVERLAP_THRESHOLDS`` (OTB success)."""
    m = _counted_frames(errors)
    ov = errors.iou[errors.counted]
    return (ov[:, None] > OVERLAP_THRESHOLDS[None, :]).sum(0) / m


def precision_curve(errors: SequenceErrors) -> np.ndarray:
    """Fraction of counted frames with centre error <= each of ``CENTER_THRESHOLDS`` px (OTB precision)."""
    m = _counted_frames(errors)
    ce = errors.center_error[errors.counted]
    return (ce[:, None] <= CENTER_THRESHOLDS[None, :]).sum(0) / m


def normalized_precision_curve(errors: SequenceErrors) -> np.ndarray:
    """Fraction of counted frames with normalised centre error <= each of ``NORM_CENTER_THRESHOLDS``."""
    m = _counted_frames(errors)
    nce = errors.normalized_center_error[errors.counted]
    return (nce[:, None] <= NORM_CENTER_THRESHOLDS[None, :]).sum(0) / m


@dataclass(frozen=True)
class SequenceResult:
    """OPE curves (fractions) and scores (percent) of one sequence."""

    name: str
    num_frames: int
    success: np.ndarray
    precision: np.ndarray
    normalized_precision: np.ndarray
    auc: float
    precision_20: float
    normalized_precision_20: float


@dataclass(frozen=True)
class OPESummary:
    """OPE curves (fractions) and scores (percent) averaged over sequences, each weighted equally."""

    num_sequences: int
    success: np.ndarray
    precision: np.ndarray
    normalized_precision: np.ndarray
    auc: float
    precision_20: float
    normalized_precision_20: float


def _curves_and_scores(succ: np.ndarray, prec: np.ndarray, nprec: np.ndarray) -> dict[str, Any]:
    """The curve and score fields shared by SequenceResult and OPESummary: AUC, P@20, NP@0.2 in percent."""
    return {
        "success": succ,
        "precision": prec,
        "normalized_precision": nprec,
        "auc": float(succ.mean() * 100.0),
        "precision_20": float(prec[_P20_INDEX] * 100.0),
        "normalized_precision_20": float(nprec[_NP20_INDEX] * 100.0),
    }


def evaluate_sequence(
    pred: object,
    gt: object,
    name: str = "",
    valid: object | None = None,
    exclude_first: bool = True,
    lasot_rules: bool = False,
    full_occlusion: object | None = None,
    out_of_view: object | None = None,
) -> SequenceResult:
    """OPE success / precision / normalised-precision curves, AUC, P@20 and NP@0.2 of one sequence."""
    if not isinstance(name, str):
        raise ValueError(f"name must be a str, got {type(name).__name__}")
    err = sequence_errors(pred, gt, valid, exclude_first, lasot_rules, full_occlusion, out_of_view)
    curves = _curves_and_scores(success_curve(err), precision_curve(err), normalized_precision_curve(err))
    return SequenceResult(name=name, num_frames=int(err.counted.sum()), **curves)


def aggregate(results: Sequence[SequenceResult]) -> OPESummary:
    """Dataset OPE summary: mean of the per-sequence curves (sequences weighted equally), as in pytracking."""
    if isinstance(results, SequenceResult) or len(results) == 0:
        raise ValueError("results must be a non-empty sequence of SequenceResult")
    for i, r in enumerate(results):
        if not isinstance(r, SequenceResult):
            raise ValueError(f"results[{i}] must be a SequenceResult, got {type(r).__name__}")
    curves = _curves_and_scores(
        np.mean([r.success for r in results], axis=0),
        np.mean([r.precision for r in results], axis=0),
        np.mean([r.normalized_precision for r in results], axis=0),
    )
    return OPESummary(num_sequences=len(results), **curves)


def per_attribute(
    results: Sequence[SequenceResult], attributes: Mapping[str, Sequence[str]]
) -> dict[str, OPESummary]:
    """OPE summary for every attribute (e.g. OTB / LaSOT challenge tags) over the sequences that carry it.

    ``attributes`` maps a sequence name to its attribute tags; names not among ``results`` are ignored and
    sequences without an entry carry no attribute. The returned dict is keyed by attribute, sorted by name.
    """
    if not isinstance(attributes, Mapping):
        raise ValueError("attributes must be a mapping of sequence name -> list of attribute names")
    by_name: dict[str, SequenceResult] = {}
    for i, r in enumerate(results):
        if not isinstance(r, SequenceResult):
            raise ValueError(f"results[{i}] must be a SequenceResult, got {type(r).__name__}")
        if r.name in by_name:
            raise ValueError(f"results has two sequences named {r.name!r}")
        by_name[r.name] = r
    groups: dict[str, list[SequenceResult]] = {}
    for seq_name, tags in attributes.items():
        if isinstance(tags, str):
            raise ValueError(f"attributes[{seq_name!r}] must be a list of attribute names, not a str")
        if seq_name not in by_name:
            continue
        for tag in dict.fromkeys(tags):
            groups.setdefault(tag, []).append(by_name[seq_name])
    return {tag: aggregate(groups[tag]) for tag in sorted(groups)}
