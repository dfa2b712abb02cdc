"""Offline evaluation of trackers: one-pass-evaluation (OPE) success / precision metrics."""

from mamba_tracking_ros.eval.metrics import (
    CENTER_THRESHOLDS,
    NORM_CENTER_THRESHOLDS,
    OVERLAP_THRESHOLDS,
    OPESummary,
    SequenceErrors,
    SequenceResult,
    aggregate,
    center_error,
    evaluate_sequence,
    iou,
    normalized_center_error,
    normalized_precision_curve,
    per_attribute,
    precision_curve,
    sequence_errors,
    success_curve,
)

__all__ = [
    "CENTER_THRESHOLDS",
    "NORM_CENTER_THRESHOLDS",
    "OVERLAP_THRESHOLDS",
    "OPESummary",
    "SequenceErrors",
    "SequenceResult",
    "aggregate",
    "center_error",
    "evaluate_sequence",
    "iou",
    "normalized_center_error",
    "normalized_precision_curve",
    "per_attribute",
    "precision_curve",
    "sequence_errors",
    "success_curve",
]
