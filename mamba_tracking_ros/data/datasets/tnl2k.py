"""TNL2K reader (Wang et al., CVPR 2021, "Towards More Flexible and Accurate Object Tracking with Natural
Language").

Layout (as read by TNL2K loaders in language-tracking toolkits)::

    <root>[/<split>]/<seq>/imgs/*.jpg|*.png     frames, ordered by the number in the file name
    <root>[/<split>]/<seq>/groundtruth.txt      x,y,w,h per line, comma-separated
    <root>[/<split>]/<seq>/language.txt         the sentence (first line; may be empty)

Stray non-image files in ``imgs`` (the release has e.g. ``00000492.pn_error``) are ignored.
"""

from __future__ import annotations

from .base import (
    SequenceFolderReader,
    TrackingSequence,
    check_count,
    list_images,
    read_boxes,
    read_first_line,
    require_dir,
)


class TNL2KReader(SequenceFolderReader):
    """Reads TNL2K sequences: RGB frames, boxes and the language description."""

    name = "tnl2k"

    def sequence(self, name: str) -> TrackingSequence:
        """Load one sequence (frames, boxes, sentence)."""
        seq_dir = require_dir(self.root / name, "sequence")
        gt_path = seq_dir / "groundtruth.txt"
        boxes = read_boxes(gt_path)
        frames = list_images(seq_dir / "imgs", "imgs")
        check_count(len(frames), len(boxes), seq_dir / "imgs", gt_path)
        return TrackingSequence(
            name=name,
            dataset=self.name,
            boxes=boxes,
            rgb_paths=frames,
            sentence=read_first_line(seq_dir / "language.txt"),
            nominal_fps=30.0,
        )
