"""Frame + event-camera readers: FE108, COESOT and FELT.

These releases store the DVS output that trackers use as *event images* (frames rendered from the events
by the dataset authors), next to the APS intensity frames. Those images are exposed as
``TrackingSequence.event_frame_paths`` / ``event_frame(i)``; without a raw stream they are the ``events``
modality, converted to pseudo-events per frame (:mod:`mamba_tracking_ros.data.event_frames`).

FE108's raw ``events.aedat4`` (when present next to the frames) is read with ``dv-processing`` as the raw
event stream: ``TrackingSequence.events`` is an :class:`~mamba_tracking_ros.data.aedat.AedatEventStream`
and ``frame(i).events`` holds the DVS events between APS frame ``i-1`` and frame ``i``. The frame times are
the timestamps of the recording's own APS frame stream (one per image; a count mismatch is an error), so
events and images share the camera clock. The events are read on first use; the frame stream's timestamps
are read when the sequence is opened. A zero-byte ``events.aedat4`` (a placeholder) is skipped with a warning.

Layouts (as read by the frame-event trackers' dataset loaders and the dataset READMEs)::

    FE108 (Zhang et al., ICCV 2021), converted layout
        <root>[/<split>]/<seq>/aps/frame0000.png|bmp   0-based APS frames (grey or colour)
        <root>[/<split>]/<seq>/dvs/frame0000.png|bmp   0-based event images
        <root>[/<split>]/<seq>/groundtruth_rect.txt    x,y,w,h, comma-separated
        <root>[/<split>]/<seq>/events.aedat4           optional raw DVS events + APS frame stream
    FE108 original layout (no event images)
        <root>[/<split>]/<seq>/img/0001.jpg            1-based APS frames
        <root>[/<split>]/<seq>/events.aedat4           raw DVS events + APS frame stream (timestamps)
    COESOT (Tang et al., 2022) and FELT (Wang et al., 2024)
        <root>[/<split>]/<seq>/<seq>_aps/frame0000.png|bmp
        <root>[/<split>]/<seq>/<seq>_dvs/frame0000.png|bmp
        <root>[/<split>]/<seq>/groundtruth.txt         x,y,w,h, comma-separated
        <root>[/<split>]/<seq>/absent.txt              optional per-frame 0/1 (1: target absent)
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..aedat import AedatEventStream, read_frame_timestamps, read_sensor_size
from .base import (
    SequenceFolderReader,
    TrackingSequence,
    check_count,
    list_images,
    read_boxes,
    read_flags,
    require_dir,
)

_LOG = logging.getLogger(__name__)


def _raw_events(seq_dir: Path, n_frames: int) -> tuple[AedatEventStream, np.ndarray, tuple[int, int]] | None:
    """FE108's ``events.aedat4``: the lazy event stream, frame times (s) and sensor size; None if absent."""
    path = seq_dir / "events.aedat4"
    if not path.is_file():
        return None
    if path.stat().st_size == 0:
        _LOG.warning("events: %s is empty; the sequence has no raw event stream", path)
        return None
    stamps = read_frame_timestamps(path)
    if len(stamps) != n_frames:
        raise ValueError(
            f"events: {path} has {len(stamps)} APS frame timestamps but the sequence has {n_frames} frames"
        )
    return AedatEventStream(path), stamps.astype(np.float64) * 1e-6, read_sensor_size(path)


def _paired(aps_dir: Path, dvs_dir: Path) -> tuple[list[Path], list[Path]]:
    """APS frames and event images, checked to be equally many."""
    aps = list_images(aps_dir, "aps")
    dvs = list_images(dvs_dir, "dvs")
    if len(aps) != len(dvs):
        raise ValueError(f"frames: {aps_dir} has {len(aps)} frames but {dvs_dir} has {len(dvs)} event images")
    return aps, dvs


class FE108Reader(SequenceFolderReader):
    """FE108: ``aps``/``dvs`` image folders or the original ``img`` folder, plus raw ``events.aedat4``."""

    name = "fe108"

    markers = ("groundtruth_rect.txt",)

    def sequence(self, name: str) -> TrackingSequence:
        """Load one sequence: APS frames as RGB (grey replicated), event images, raw events, boxes."""
        seq_dir = require_dir(self.root / name, "sequence")
        gt_path = seq_dir / "groundtruth_rect.txt"
        boxes = read_boxes(gt_path)
        if (seq_dir / "aps").is_dir():
            aps, dvs = _paired(seq_dir / "aps", seq_dir / "dvs")
            frames_dir = seq_dir / "aps"
        elif (seq_dir / "img").is_dir():
            aps, dvs = list_images(seq_dir / "img", "img"), None
            frames_dir = seq_dir / "img"
        else:
            raise FileNotFoundError(f"aps: neither {seq_dir / 'aps'} nor {seq_dir / 'img'} exists")
        check_count(len(aps), len(boxes), frames_dir, gt_path)
        raw = _raw_events(seq_dir, len(aps))
        events, timestamps, sensor_size = raw if raw is not None else (None, None, None)
        return TrackingSequence(
            name=name,
            dataset=self.name,
            boxes=boxes,
            rgb_paths=aps,
            event_frame_paths=dvs,
            events=events,
            timestamps=timestamps,
            sensor_size=sensor_size,
            nominal_fps=20.0,
        )


class COESOTReader(SequenceFolderReader):
    """COESOT: ``<seq>_aps`` frames, ``<seq>_dvs`` event images, ``groundtruth.txt``, ``absent.txt``."""

    name = "coesot"

    markers = ("{seq}_aps",)

    def sequence(self, name: str) -> TrackingSequence:
        """Load one sequence: APS frames, event images, boxes and the absent flags when present."""
        seq_dir = require_dir(self.root / name, "sequence")
        gt_path = seq_dir / "groundtruth.txt"
        boxes = read_boxes(gt_path)
        aps, dvs = _paired(seq_dir / f"{name}_aps", seq_dir / f"{name}_dvs")
        check_count(len(aps), len(boxes), seq_dir / f"{name}_aps", gt_path)
        absent_path = seq_dir / "absent.txt"
        absent = read_flags(absent_path, len(boxes), "absent") if absent_path.is_file() else None
        return TrackingSequence(
            name=name,
            dataset=self.name,
            boxes=boxes,
            rgb_paths=aps,
            event_frame_paths=dvs,
            absent=absent,
            nominal_fps=30.0,
        )


class FELTReader(COESOTReader):
    """FELT long-term frame-event benchmark: same per-sequence layout as COESOT."""

    name = "felt"
