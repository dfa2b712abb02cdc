"""Frame + event-camera readers: FE108, COESOT and FELT.

These releases store the DVS output that trackers use as *event images* (frames rendered from the events
by the dataset authors), next to the APS intensity frames. Those images are exposed as
``TrackingSequence.event_frame_paths`` / ``event_frame(i)``; they are NOT turned into an event stream
(``events`` stays None and ``Frame.events`` is None). The raw ``.aedat4`` recordings that come with the
releases are not read: that needs the ``dv-processing`` package, which this project does not depend on.

Layouts (as read by the frame-event trackers' dataset loaders and the dataset READMEs)::

    FE108 (Zhang et al., ICCV 2021), converted layout
        <root>[/<split>]/<seq>/aps/frame0000.png|bmp   0-based APS frames (grey or colour)
        <root>[/<split>]/<seq>/dvs/frame0000.png|bmp   0-based event images
        <root>[/<split>]/<seq>/groundtruth_rect.txt    x,y,w,h, comma-separated
    FE108 original layout (no event images; events.aedat4 is skipped)
        <root>[/<split>]/<seq>/img/0001.jpg            1-based APS frames
    COESOT (Tang et al., 2022) and FELT (Wang et al., 2024)
        <root>[/<split>]/<seq>/<seq>_aps/frame0000.png|bmp
        <root>[/<split>]/<seq>/<seq>_dvs/frame0000.png|bmp
        <root>[/<split>]/<seq>/groundtruth.txt         x,y,w,h, comma-separated
        <root>[/<split>]/<seq>/absent.txt              optional per-frame 0/1 (1: target absent)
"""

from __future__ import annotations

from pathlib import Path

from .base import (
    SequenceFolderReader,
    TrackingSequence,
    check_count,
    list_images,
    read_boxes,
    read_flags,
    require_dir,
)


def _paired(aps_dir: Path, dvs_dir: Path) -> tuple[list[Path], list[Path]]:
    """APS frames and event images, checked to be equally many."""
    aps = list_images(aps_dir, "aps")
    dvs = list_images(dvs_dir, "dvs")
    if len(aps) != len(dvs):
        raise ValueError(f"frames: {aps_dir} has {len(aps)} frames but {dvs_dir} has {len(dvs)} event images")
    return aps, dvs


class FE108Reader(SequenceFolderReader):
    """FE108 converted to ``aps``/``dvs`` image folders (or the original ``img`` folder, APS only)."""

    name = "fe108"

    markers = ("groundtruth_rect.txt",)

    def sequence(self, name: str) -> TrackingSequence:
        """Load one sequence: APS frames as RGB (grey replicated), event images, boxes."""
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
        return TrackingSequence(
            name=name, dataset=self.name, boxes=boxes, rgb_paths=aps, event_frame_paths=dvs, nominal_fps=20.0
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
