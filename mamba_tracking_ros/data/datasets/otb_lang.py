"""OTB99-lang reader: OTB-100 videos with the sentences of Li et al., CVPR 2017 ("Tracking by Natural
Language Specification").

Layout (the OTB_sentences release, as read by language-tracking toolkits)::

    <root>/OTB_videos/<seq>/img/0001.jpg          4-digit (Board: 5-digit), 1-based frames
    <root>/OTB_videos/<seq>/groundtruth_rect.txt  x,y,w,h; comma, tab or space separated (varies per file)
    <root>/OTB_query_train/<seq>.txt              sentence, first line (51 training sequences)
    <root>/OTB_query_test/<seq>.txt               sentence, first line (48 test sequences)

OTB quirks handled (from the OTB toolkit's sequence table): the ground truth of BlurCar1, BlurCar3, BlurCar4
and David starts at frame 247, 3, 18 and 300; box ``k`` belongs to frame ``start + k``. Frames after the
last box (e.g. Diving) are not part of the sequence. Two-target videos are read from ``<base>/``
with ``groundtruth_rect.<k>.txt`` when no folder ``<base>-<k>`` exists (Jogging-1, Skating2-2, ...), and a
folder with only one ``groundtruth_rect.<k>.txt`` (Human4) uses that file. A box whose frame file is
missing raises ValueError naming both paths.
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import TrackingSequence, frame_number, list_images, read_boxes, read_first_line, require_dir

START_FRAME = {"BlurCar1": 247, "BlurCar3": 3, "BlurCar4": 18, "David": 300}
_QUERY_DIRS = {
    "train": ("OTB_query_train",),
    "test": ("OTB_query_test",),
    None: ("OTB_query_train", "OTB_query_test"),
}
_MULTI = re.compile(r"^(.*)-(\d+)$")


class OTB99LangReader:
    """Reads OTB99-lang sequences: OTB frames and boxes with their natural-language query."""

    name = "otb99_lang"

    def __init__(self, root: str | Path, split: str | None = None) -> None:
        """Open ``root`` (holding OTB_videos and OTB_query_*); ``split`` 'train', 'test' or None (both)."""
        self.root = require_dir(Path(root), "root")
        if split not in _QUERY_DIRS:
            raise ValueError(f"split: expected 'train', 'test' or None, got {split!r}")
        self.videos = require_dir(self.root / "OTB_videos", "OTB_videos")
        self.query_dirs = [require_dir(self.root / d, d) for d in _QUERY_DIRS[split]]

    def _resolve(self, name: str) -> tuple[Path, Path, str] | None:
        """(video folder, ground-truth file, base name) of a sequence, or None if not on disk."""
        folder = self.videos / name
        base = name
        if folder.is_dir():
            gt = folder / "groundtruth_rect.txt"
            if not gt.is_file():
                candidates = sorted(folder.glob("groundtruth_rect.*.txt"))
                if len(candidates) != 1:
                    return None
                gt = candidates[0]
            return folder, gt, base
        match = _MULTI.match(name)
        if match and (self.videos / match.group(1)).is_dir():
            base = match.group(1)
            gt = self.videos / base / f"groundtruth_rect.{match.group(2)}.txt"
            return (self.videos / base, gt, base) if gt.is_file() else None
        return None

    def _query_file(self, name: str) -> Path | None:
        """The sentence file of ``name`` in this split's query folders."""
        for qdir in self.query_dirs:
            if (qdir / f"{name}.txt").is_file():
                return qdir / f"{name}.txt"
        return None

    def sequences(self) -> list[str]:
        """Sequences with a sentence file in the split whose video and ground truth are on disk."""
        names = {p.stem for qdir in self.query_dirs for p in qdir.glob("*.txt")}
        return sorted(n for n in names if self._resolve(n) is not None)

    def sequence(self, name: str) -> TrackingSequence:
        """Load one sequence; raises FileNotFoundError when its video, ground truth or sentence is missing."""
        query = self._query_file(name)
        if query is None:
            raise FileNotFoundError(
                f"name: no sentence file {name}.txt in {[str(q) for q in self.query_dirs]}"
            )
        resolved = self._resolve(name)
        if resolved is None:
            raise FileNotFoundError(
                f"sequence: no video folder / groundtruth_rect file for {name} in {self.videos}"
            )
        folder, gt_path, base = resolved
        boxes = read_boxes(gt_path)
        by_number = {frame_number(p): p for p in list_images(folder / "img", "img")}
        if not by_number:
            raise ValueError(
                f"groundtruth: {gt_path} has {len(boxes)} boxes but {folder / 'img'} has no frames"
            )
        start = START_FRAME.get(base, min(by_number))
        wanted = range(start, start + len(boxes))
        missing = [k for k in wanted if k not in by_number]
        if missing:
            raise ValueError(
                f"groundtruth: {gt_path} has {len(boxes)} boxes from frame {start} but {folder / 'img'} "
                f"lacks {len(missing)} of those frames (first missing: {missing[0]})"
            )
        return TrackingSequence(
            name=name,
            dataset=self.name,
            boxes=boxes,
            rgb_paths=[by_number[k] for k in wanted],
            sentence=read_first_line(query),
            nominal_fps=30.0,
        )
