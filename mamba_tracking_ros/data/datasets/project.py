"""The project's own multimodal sequence layout (RGB + thermal + raw events + sentence), defined here.

One folder per sequence under ``<root>`` (or ``<root>/<split>``)::

    <seq>/rgb/000000.png            RGB frames, 0-based, 6 digits (.png or .jpg), 8-bit
    <seq>/thermal/000000.png        thermal frames, 0-based, 6 digits; 8- or 16-bit grey PNG, kept as stored
    <seq>/events.npz                raw events: arrays x, y (pixels), t (int64 microseconds), p (0/1 or -1/1);
                                    optional scalars height, width (sensor size, needed without images)
    <seq>/timestamps.txt            one frame time per line, seconds (required with events.npz)
    <seq>/groundtruth.txt           x,y,w,h per line (comma/tab/space); 'nan' or an empty line: no box
    <seq>/sentence.txt              the language description (first non-empty line), optional
    <seq>/attributes.txt            challenge attributes, one per line, optional
    <seq>/full_occlusion.txt        per-frame 0/1 flags (comma/space/newline separated), optional: 1 = the
                                    target is fully occluded
    <seq>/out_of_view.txt           per-frame 0/1 flags, optional: 1 = the target is wholly outside the image

At least one of rgb/, thermal/, events.npz must exist; rgb/ and thermal/ must hold one frame per
ground-truth line, and so must timestamps.txt and the flag files. A frame flagged fully occluded or out of
view is not ``valid`` (as in LaSOT); its ground-truth line may hold a box or 'nan'. Sequences written by
``data/composite_sequences.py`` also carry ``amodal_boxes.txt`` (the full object box in every frame) and
``meta.json`` (spec, object metadata, digests); the reader ignores them.
Event coordinates refer to the RGB frame (else thermal).
Frame ``i`` receives the events with ``t`` in ``[T[i-1], T[i])`` (``T`` = timestamps in microseconds;
frame 0 gets one frame interval before ``T[0]``), so consecutive windows tile the stream with no overlap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mamba_tracking_ros.constants import IMAGE_MODALITIES

from .base import (
    NpzEventStream,
    SequenceFolderReader,
    TrackingSequence,
    check_count,
    list_images,
    read_boxes,
    read_first_line,
    read_flags,
    read_lines,
    require_dir,
)


def _read_timestamps(path: Path) -> np.ndarray:
    """One float (seconds) per non-empty line; ValueError naming the file and line otherwise."""
    values = []
    for k, line in enumerate(read_lines(path)):
        try:
            values.append(float(line.split(",")[0]))
        except ValueError as exc:
            raise ValueError(f"timestamps: {path}:{k + 1}: not a number: {line!r}") from exc
    return np.asarray(values, dtype=np.float64)


class ProjectReader(SequenceFolderReader):
    """Reads the project's own layout (see the module docstring)."""

    name = "project"

    def sequence(self, name: str) -> TrackingSequence:
        """Load one sequence's paths, boxes, flags, timestamps, sentence, attributes (events load lazily)."""
        seq_dir = require_dir(self.root / name, "sequence")
        gt_path = seq_dir / "groundtruth.txt"
        boxes = read_boxes(gt_path)
        paths: dict[str, list[Path] | None] = {}
        for modality in IMAGE_MODALITIES:
            folder = seq_dir / modality
            paths[modality] = list_images(folder, modality) if folder.is_dir() else None
            if paths[modality] is not None:
                check_count(len(paths[modality]), len(boxes), folder, gt_path)
        ts_path = seq_dir / "timestamps.txt"
        timestamps = None
        if ts_path.is_file():
            timestamps = _read_timestamps(ts_path)
            if len(timestamps) != len(boxes):
                raise ValueError(
                    f"timestamps: {ts_path} has {len(timestamps)} lines but {gt_path} has {len(boxes)} boxes"
                )
        events = None
        sensor_size = None
        if (seq_dir / "events.npz").is_file():
            if timestamps is None:
                raise FileNotFoundError(
                    f"timestamps: {ts_path} is required to slice {seq_dir / 'events.npz'}"
                )
            events = NpzEventStream(seq_dir / "events.npz")
            if paths["rgb"] is None and paths["thermal"] is None:
                sensor_size = events.sensor_size()
                if sensor_size is None:
                    raise ValueError(
                        f"events: {seq_dir / 'events.npz'} needs 'height' and 'width' when the sequence "
                        "has no rgb/ or thermal/ frames"
                    )
        if paths["rgb"] is None and paths["thermal"] is None and events is None:
            raise FileNotFoundError(f"sequence: {seq_dir} has none of rgb/, thermal/, events.npz")
        flags = {}
        for flag in ("full_occlusion", "out_of_view"):
            path = seq_dir / f"{flag}.txt"
            flags[flag] = read_flags(path, len(boxes), flag) if path.is_file() else None
        return TrackingSequence(
            name=name,
            dataset=self.name,
            boxes=boxes,
            rgb_paths=paths["rgb"],
            thermal_paths=paths["thermal"],
            events=events,
            sentence=read_first_line(seq_dir / "sentence.txt"),
            attributes=read_lines(seq_dir / "attributes.txt"),
            timestamps=timestamps,
            sensor_size=sensor_size,
            full_occlusion=flags["full_occlusion"],
            out_of_view=flags["out_of_view"],
        )
