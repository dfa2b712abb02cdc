"""Training targets and losses (no ROS): centre heatmap, box regression, MVLM L_CM, MambaVLT contrast."""

from __future__ import annotations

from mamba_tracking_ros.train.losses import (
    LossWeights,
    TrackingLoss,
    box_losses,
    correlation_margin_loss,
    focal_loss,
    generalized_box_iou,
    giou_loss,
    inter_video_contrastive_loss,
    intra_video_contrastive_loss,
)
from mamba_tracking_ros.train.targets import (
    DEFAULT_MIN_OVERLAP,
    TrackingTargets,
    build_targets,
    decode_at,
    gaussian_radius,
    heatmap_sigma,
)

__all__ = [
    "DEFAULT_MIN_OVERLAP",
    "LossWeights",
    "TrackingLoss",
    "TrackingTargets",
    "box_losses",
    "build_targets",
    "correlation_margin_loss",
    "decode_at",
    "focal_loss",
    "gaussian_radius",
    "generalized_box_iou",
    "giou_loss",
    "heatmap_sigma",
    "inter_video_contrastive_loss",
    "intra_video_contrastive_loss",
]
