"""RGB-thermal readers: LasHeR, RGBT234 and VTUAV (aligned visible / infrared frame pairs).

Layouts (as read by the RGBT toolkits' BaseRgbtDataset loaders and evaluation code)::

    LasHeR  (Li et al., TIP 2021)   <root>[/<split>]/<seq>/visible/v000000.jpg, infrared/i000000.jpg,
                                    init.txt (evaluation box), visible.txt, infrared.txt
    RGBT234 (Li et al., PR 2019)    <root>/<seq>/visible/00001v.jpg, infrared/00001i.jpg,
                                    visible.txt, infrared.txt (evaluation boxes), init.txt
    VTUAV   (Zhang et al., CVPR 2022) <root>[/<split>]/<seq>/rgb/*.jpg, ir/*.jpg, rgb.txt, ir.txt;
                                    <split> is train_ST, train_LT, test_ST or test_LT

Boxes are x,y,w,h (comma, tab or space separated). LasHeR is evaluated on ``init.txt`` (falls back to
``visible.txt``); RGBT234 is evaluated against both ``visible.txt`` and ``infrared.txt`` (``boxes`` is the
visible one, both are in ``modality_boxes``). VTUAV annotates every 10th frame: ``rgb.txt`` row ``k`` is
frame ``10 k`` and the other frames get NaN boxes (``valid`` False); a dense file (one row per frame) is
also accepted. Thermal frames are JPEGs with three equal channels and are returned as HxW uint8.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .base import SequenceFolderReader, TrackingSequence, check_count, list_images, read_boxes, require_dir

VTUAV_STRIDE = 10


class _RGBTReader(SequenceFolderReader):
    """Shared logic: two aligned frame folders and per-modality box files."""

    name = "rgbt"
    rgb_dir = "visible"
    thermal_dir = "infrared"
    rgb_gt = "visible.txt"
    thermal_gt = "infrared.txt"
    eval_gt: tuple[str, ...] = ("visible.txt",)
    nominal_fps = 30.0

    @property
    def markers(self) -> tuple[str, ...]:  # type: ignore[override]
        """A sequence folder holds both frame folders."""
        return (self.rgb_dir, self.thermal_dir)

    def _expand(self, boxes: np.ndarray, n_frames: int, gt_path: Path, frames_dir: Path) -> np.ndarray:
        """Map stored rows to frames (identity for dense datasets)."""
        check_count(n_frames, len(boxes), frames_dir, gt_path)
        return boxes

    def sequence(self, name: str) -> TrackingSequence:
        """Load one sequence (paired frames, evaluation and per-modality boxes)."""
        seq_dir = require_dir(self.root / name, "sequence")
        rgb = list_images(seq_dir / self.rgb_dir, self.rgb_dir)
        thermal = list_images(seq_dir / self.thermal_dir, self.thermal_dir)
        if len(rgb) != len(thermal):
            raise ValueError(
                f"frames: {seq_dir / self.rgb_dir} has {len(rgb)} frames but "
                f"{seq_dir / self.thermal_dir} has {len(thermal)}"
            )
        gt_path = next((seq_dir / f for f in self.eval_gt if (seq_dir / f).is_file()), None)
        if gt_path is None:
            raise FileNotFoundError(f"groundtruth: none of {list(self.eval_gt)} found in {seq_dir}")
        boxes = self._expand(read_boxes(gt_path), len(rgb), gt_path, seq_dir / self.rgb_dir)
        modality_boxes = {}
        for key, fname in (("rgb", self.rgb_gt), ("thermal", self.thermal_gt)):
            path = seq_dir / fname
            if path.is_file():
                modality_boxes[key] = self._expand(read_boxes(path), len(rgb), path, seq_dir / self.rgb_dir)
        return TrackingSequence(
            name=name,
            dataset=self.name,
            boxes=boxes,
            rgb_paths=rgb,
            thermal_paths=thermal,
            modality_boxes=modality_boxes,
            nominal_fps=self.nominal_fps,
        )


class LasHeRReader(_RGBTReader):
    """LasHeR: ``visible``/``infrared`` frames, evaluation boxes from ``init.txt``."""

    name = "lasher"
    eval_gt = ("init.txt", "visible.txt")


class RGBT234Reader(_RGBTReader):
    """RGBT234: ``visible``/``infrared`` frames, boxes from ``visible.txt`` (and ``infrared.txt``)."""

    name = "rgbt234"
    eval_gt = ("visible.txt", "init.txt")


class VTUAVReader(_RGBTReader):
    """VTUAV: ``rgb``/``ir`` frames, sparse (every 10th frame) boxes from ``rgb.txt`` / ``ir.txt``."""

    name = "vtuav"
    rgb_dir = "rgb"
    thermal_dir = "ir"
    rgb_gt = "rgb.txt"
    thermal_gt = "ir.txt"
    eval_gt = ("rgb.txt",)

    def _expand(self, boxes: np.ndarray, n_frames: int, gt_path: Path, frames_dir: Path) -> np.ndarray:
        """Place row ``k`` at frame ``10 k`` (NaN elsewhere) or accept one row per frame."""
        if len(boxes) == n_frames:
            return boxes
        expected = math.ceil(n_frames / VTUAV_STRIDE)
        if len(boxes) != expected:
            raise ValueError(
                f"groundtruth: {gt_path} has {len(boxes)} boxes but {frames_dir} has {n_frames} frames "
                f"(expected {n_frames} dense or {expected} boxes, one per {VTUAV_STRIDE} frames)"
            )
        dense = np.full((n_frames, 4), np.nan)
        dense[::VTUAV_STRIDE] = boxes
        return dense
