"""Runtime tracker (no ROS): frames in, boxes out; MambaVLT template clip + MVLM confidence-gated search."""

from mamba_tracking_ros.frame import EventWindow, Frame
from mamba_tracking_ros.tracking.config import TrackerConfig, load_tracker_config
from mamba_tracking_ros.tracking.tracker import SearchMode, Tracker, TrackResult, TrackState

__all__ = [
    "EventWindow",
    "Frame",
    "SearchMode",
    "TrackResult",
    "TrackState",
    "Tracker",
    "TrackerConfig",
    "load_tracker_config",
]
