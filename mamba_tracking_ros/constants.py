"""Shared names without torch or ROS: the modalities, the tracker's search modes and track states.

Every layer may import this module (it imports nothing else from the package), so ROS nodes and message
codecs compare against these enums instead of spelling the strings out. ``SearchMode`` and ``TrackState`` are
``str`` enums: a member equals its string value (``TrackState.LOST == "lost"``).
"""

from __future__ import annotations

from enum import Enum

#: Modalities the network understands, in the canonical order used everywhere (batch stacking, configs, docs).
MODALITIES: tuple[str, ...] = ("rgb", "thermal", "events")
#: The image modalities (events are not images).
IMAGE_MODALITIES: tuple[str, ...] = ("rgb", "thermal")
#: How a track starts: from a box, from a sentence only (MVLM, template-free) or from both (MambaVLT).
INIT_MODES: tuple[str, ...] = ("box", "text", "both")


class SearchMode(str, Enum):
    """Where a frame was searched: around the last box (LOCAL) or over the whole image (GLOBAL, MVLM)."""

    LOCAL = "local"
    GLOBAL = "global"


class TrackState(str, Enum):
    """Track status after a frame (IDLE only before start / after reset, never in a TrackResult)."""

    IDLE = "idle"
    TRACKING = "tracking"
    RELOCALISING = "relocalising"
    LOST = "lost"
    WAITING_FOR_TARGET = "waiting_for_target"
