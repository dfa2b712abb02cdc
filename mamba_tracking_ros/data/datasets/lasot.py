"""LaSOT reader (Fan et al., CVPR 2019; language annotations used by TNL2K/MambaVLT-style trackers).

Layout (as read by the LaSOT toolkit and pytracking's ``lasotdataset.py``)::

    <root>/<class>/<class>-<n>/img/00000001.jpg        8-digit, 1-based JPEG frames
    <root>/<class>/<class>-<n>/groundtruth.txt         x,y,w,h per line, comma-separated
    <root>/<class>/<class>-<n>/full_occlusion.txt      one line of comma-separated 0/1 per frame
    <root>/<class>/<class>-<n>/out_of_view.txt         one line of comma-separated 0/1 per frame
    <root>/<class>/<class>-<n>/nlp.txt                 the sentence
    <root>/testing_set.txt | training_set.txt          optional split lists (one sequence name a line)

``valid`` = box of positive size and neither fully occluded nor out of view (pytracking's target_visible).
"""

from __future__ import annotations

from pathlib import Path

from .base import (
    TrackingSequence,
    check_count,
    list_images,
    list_subdirs,
    read_boxes,
    read_first_line,
    read_flags,
    read_lines,
    require_dir,
    require_file,
)

_SPLIT_FILES = {"test": "testing_set.txt", "train": "training_set.txt"}


class LaSOTReader:
    """Reads LaSOT sequences ``<class>-<n>`` with sentence and occlusion / out-of-view flags."""

    name = "lasot"

    def __init__(self, root: str | Path, split: str | None = None) -> None:
        """Open ``root``; ``split`` 'test'/'train' restricts to the toolkit's testing/training_set.txt."""
        self.root = require_dir(Path(root), "root")
        if split is not None and split not in _SPLIT_FILES:
            raise ValueError(f"split: expected one of {sorted(_SPLIT_FILES)} or None, got {split!r}")
        self.split = split

    def sequences(self) -> list[str]:
        """Sequence names (``airplane-1`` ...), from the split list or every class folder."""
        if self.split is not None:
            return read_lines(require_file(self.root / _SPLIT_FILES[self.split], "split"))
        names = []
        for cls in list_subdirs(self.root):
            names += [s for s in list_subdirs(self.root / cls) if s.rsplit("-", 1)[0] == cls]
        return names

    def sequence(self, name: str) -> TrackingSequence:
        """Load one sequence: 1-based 8-digit frames, boxes, flags and ``nlp.txt`` sentence."""
        if "-" not in name:
            raise ValueError(f"name: LaSOT sequence names look like '<class>-<n>', got {name!r}")
        cls = name.rsplit("-", 1)[0]
        seq_dir = require_dir(self.root / cls / name, "sequence")
        gt_path = seq_dir / "groundtruth.txt"
        boxes = read_boxes(gt_path)
        frames = list_images(seq_dir / "img", "img")
        check_count(len(frames), len(boxes), seq_dir / "img", gt_path)
        n = len(boxes)
        occlusion = read_flags(seq_dir / "full_occlusion.txt", n, "full_occlusion")
        out_of_view = read_flags(seq_dir / "out_of_view.txt", n, "out_of_view")
        return TrackingSequence(
            name=name,
            dataset=self.name,
            boxes=boxes,
            rgb_paths=frames,
            full_occlusion=occlusion,
            out_of_view=out_of_view,
            sentence=read_first_line(seq_dir / "nlp.txt"),
            object_class=cls,
            nominal_fps=30.0,
        )
