#!/usr/bin/env python3
"""Make the real-footage labels semi-automatically, and render contact sheets to check them by eye.

This is the maintainers' tool behind ``mamba_tracking_ros/data/real_labels/`` (see docs/data.md, "Real-footage
test set"). No tracker under evaluation is used: the static cameras let background subtraction find the
moving targets, and a hand-given seed box per target picks its blob.

* ``label OUT``: recompute the labels into ``OUT/<sequence>/`` (groundtruth.txt + meta.json) from the
  fetched footage. vtest: median background of 60 evenly spaced frames, ``max_channel |frame - bg| > 30``,
  open 3x3 / close 7x7, 8-connected components (area >= 150) with the mean Lab colour of their upper 60 %;
  DAVIS346: median of the 59 APS frames, ``|frame - bg| > 25``, open 2x2 / close 5x5 (area >= 30). A
  target's component is followed from its seed forwards and backwards by distance to a constant-velocity
  prediction, size and colour; frames without an acceptable component (merged with another person, missed)
  are interpolated between measured boxes, or extrapolated at the ends; ``FIXES`` are stretches replaced by
  interpolation after the visual check. ``diff -r OUT mamba_tracking_ros/data/real_labels`` shows whether the
  committed labels still follow from the footage.
* ``sheets ROOT OUT``: for every sequence built by ``make-data --split real`` under ``ROOT``, write a PNG
  contact sheet (a crop around the box of every ``--step``-th frame, box drawn) to ``OUT``, to check by eye.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mamba_tracking_ros.data.aedat import read_aedat  # noqa: E402
from mamba_tracking_ros.data.footage import clip_path  # noqa: E402
from mamba_tracking_ros.data.real_sequences import davis_path  # noqa: E402

# name: (source, seed frame, seed box, search range, sequence range, sentence, attributes)
TARGETS: dict[str, tuple] = {
    "davis_car_near": ("davis346/test_data", 24, (132, 199, 41, 16), (0, 58), (0, 58),
                       "the white car in the near lane driving to the right",
                       ["small_target", "low_resolution", "distractor"]),
    "davis_car_far": ("davis346/test_data", 24, (229, 150, 32, 14), (0, 58), (0, 58),
                      "the small white car in the far lane driving to the right",
                      ["small_target", "low_resolution", "distractor"]),
    "vtest_red_jacket_woman": ("opencv/vtest", 455, (540, 236, 30, 94), (416, 580), (424, 575),
                               "the woman in the red jacket walking to the left",
                               ["partial_occlusion", "distractor", "scale_change"]),
    "vtest_blonde_woman": ("opencv/vtest", 600, (282, 432, 49, 144), (575, 794), (578, 750),
                           "the woman with blonde hair in a long black coat",
                           ["distractor", "deformation", "scale_change"]),
    "vtest_puffer_jacket_man": ("opencv/vtest", 590, (346, 316, 37, 122), (560, 760), (577, 677),
                                "the man in the red and navy puffer jacket",
                                ["distractor", "partial_occlusion", "scale_change"]),
    "vtest_blue_jacket_man": ("opencv/vtest", 676, (496, 254, 50, 102), (640, 760), (658, 740),
                              "the grey-haired man in the blue jacket walking to the left",
                              ["distractor", "scale_change"]),
}  # fmt: skip
# Stretches (source frames) whose automatic boxes were wrong on the contact sheets: replaced by interpolation.
FIXES: dict[str, list[tuple[int, int]]] = {"vtest_puffer_jacket_man": [(620, 627)]}
VTEST_METHOD = (
    "median background (60 evenly spaced vtest frames) subtraction, max-channel |frame-bg| > 30, "
    "open 3x3 / close 7x7, 8-connected components; the target's component followed from a hand-given "
    "seed box frame to frame by centre distance to a constant-velocity prediction, size and mean Lab "
    "colour of the upper 60% of the blob; frames where the target's blob merged with another person "
    "(or was missed) linearly interpolated between the neighbouring component boxes (or extrapolated at "
    "a sequence end)"
)
DAVIS_METHOD = (
    "median background of the 59 APS frames, |frame-bg| > 25, open 2x2 / close 5x5, 8-connected components "
    "followed from a hand-given seed box by centre distance and size"
)
CHECK = (
    "overlay contact sheets (every 3rd DAVIS frame, every 5th vtest frame, and every frame or every 2nd "
    "frame where boxes were interpolated or the target touches another person) checked by eye"
)
Component = tuple[float, ...]  # x, y, w, h, area, colour (3 values)


def components(mask: np.ndarray, colour_image: np.ndarray, min_area: int) -> list[Component]:
    """8-connected components of a mask with their mean colour over the upper 60 % of their pixels."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    out = []
    for k in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[k])
        if area < min_area:
            continue
        top = labels[y : y + int(h * 0.6), x : x + w] == k
        pix = colour_image[y : y + int(h * 0.6), x : x + w][top]
        colour = pix.reshape(len(pix), -1).mean(axis=0) if len(pix) else np.zeros(3)
        colour = np.resize(np.asarray(colour, np.float64), 3) if colour.size < 3 else colour
        out.append((x, y, w, h, area, *(float(c) for c in colour[:3])))
    return out


def vtest_components(first: int) -> dict[int, list[Component]]:
    """Background-subtraction components of every vtest frame from ``first`` on."""
    path = str(clip_path("opencv/vtest"))
    cap = cv2.VideoCapture(path)
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    wanted = set(np.linspace(0, n - 1, 60).round().astype(int).tolist())
    comps: dict[int, list[Component]] = {}
    bg = np.zeros((1, 1, 3), np.int16)  # replaced by the median after the first pass
    for stage in ("background", "components"):
        cap = cv2.VideoCapture(path)
        picked = []
        for i in range(n):
            ok, bgr = cap.read()
            if not ok:
                raise ValueError(f"footage: {path}: cannot decode frame {i}")
            if stage == "background" and i in wanted:
                picked.append(bgr)
            elif stage == "components" and i >= first:
                fg = (np.abs(bgr.astype(np.int16) - bg).max(axis=2) > 30).astype(np.uint8)
                fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
                fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
                comps[i] = components(fg, cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB).astype(np.float32), 150)
        cap.release()
        if stage == "background":
            bg = np.median(np.stack(picked), axis=0).astype(np.int16)
    return comps


def davis_components() -> dict[int, list[Component]]:
    """Background-subtraction components of every APS frame of the DAVIS346 recording."""
    frames = read_aedat(davis_path()).frames.astype(np.int16)
    bg = np.median(frames, axis=0)
    comps = {}
    for i, frame in enumerate(frames):
        fg = (np.abs(frame - bg) > 25).astype(np.uint8)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        comps[i] = components(fg, frame.astype(np.float32)[..., None], 30)
    return comps


def iou(a: np.ndarray | tuple, b: np.ndarray | tuple) -> float:
    """Intersection over union of two x, y, w, h boxes."""
    ax, ay, aw, ah = a[:4]
    bx, by, bw, bh = b[:4]
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter + 1e-9)


def follow(
    comps: dict[int, list[Component]],
    seed_frame: int,
    seed_box: tuple,
    f0: int,
    f1: int,
    size_tol: float = 0.3,
    col_tol: float = 22.0,
) -> tuple[dict[int, np.ndarray], dict[int, bool]]:
    """Follow the seed's component over ``f0..f1``: boxes and whether each was measured (else predicted)."""
    ref = np.array(max(comps[seed_frame], key=lambda c: iou(seed_box, c))[5:8])
    boxes = {seed_frame: np.array(seed_box, float)}
    measured = {seed_frame: True}
    for frames in (range(seed_frame + 1, f1 + 1), range(seed_frame - 1, f0 - 1, -1)):
        prev, vel, gap = np.array(seed_box, float), np.zeros(2), 0
        for i in frames:
            pred = prev.copy()
            pred[:2] += vel
            best, best_score = None, -1e9
            for c in comps.get(i, []):
                centre = np.array([c[0] + c[2] / 2, c[1] + c[3] / 2])
                dist = float(np.linalg.norm(pred[:2] + pred[2:] / 2 - centre))
                if dist > 0.6 * prev[2] + 4 * gap + 3:
                    continue
                if abs(c[2] / prev[2] - 1) >= 0.6 or abs(c[3] / prev[3] - 1) >= size_tol:
                    continue
                cd = float(np.linalg.norm(np.array(c[5:8]) - ref))
                if cd > col_tol:
                    continue
                score = -dist / prev[2] - cd / 20
                if score > best_score:
                    best, best_score = c, score
            if best is not None:
                box = np.array(best[:4], float)
                vel = 0.7 * vel + 0.3 * ((box[:2] + box[2:] / 2) - (prev[:2] + prev[2:] / 2)) / (gap + 1)
                boxes[i], measured[i], prev, gap = box, True, box, 0
            else:
                boxes[i], measured[i], prev, gap = pred, False, pred, gap + 1
    return boxes, measured


def interpolate(boxes: dict[int, np.ndarray], measured: dict[int, bool]) -> dict[int, np.ndarray]:
    """Replace predicted boxes lying between two measured ones by linear interpolation."""
    good = sorted(f for f, m in measured.items() if m)
    out = {}
    for f in sorted(boxes):
        lo = [g for g in good if g < f]
        hi = [g for g in good if g > f]
        if measured[f] or not lo or not hi:
            out[f] = boxes[f]
        else:
            a, b = lo[-1], hi[0]
            w = (f - a) / (b - a)
            out[f] = (1 - w) * boxes[a] + w * boxes[b]
    return out


def ranges(frames: list[int]) -> list[list[int]]:
    """Consecutive frame numbers folded into ``[first, last]`` ranges."""
    out: list[list[int]] = []
    for f in frames:
        if out and f == out[-1][1] + 1:
            out[-1][1] = f
        else:
            out.append([f, f])
    return out


def write_labels(out: Path) -> None:
    """Recompute every sequence's labels into ``out/<name>/``."""
    comps = {"opencv/vtest": vtest_components(380), "davis346/test_data": davis_components()}
    sizes = {"opencv/vtest": (768, 576), "davis346/test_data": (346, 260)}
    for name, (source, seed_f, seed_box, (f0, f1), (first, last), sentence, attrs) in TARGETS.items():
        col_tol = 80.0 if source.startswith("davis") else 22.0
        raw, measured = follow(comps[source], seed_f, seed_box, f0, f1, col_tol=col_tol)
        boxes = interpolate(raw, measured)
        fixed = []
        for a, b in FIXES.get(name, []):
            lo, hi = boxes[a - 1], boxes[b + 1]
            for f in range(a, b + 1):
                w = (f - a + 1) / (b - a + 2)
                boxes[f] = (1 - w) * lo + w * hi
                fixed.append(f)
        width, height = sizes[source]
        lines, interpolated = [], []
        for f in range(first, last + 1):
            x, y, w, h = boxes[f]
            x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
            lines.append(f"{x0:.1f},{y0:.1f},{x1 - x0:.1f},{y1 - y0:.1f}")
            if not measured[f] or f in fixed:
                interpolated.append(f)
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "groundtruth.txt").write_text("\n".join(lines) + "\n")
        meta = {
            "source": source,
            "first_frame": first,
            "last_frame": last,
            "crop": None,
            "sentence": sentence,
            "attributes": attrs,
            "full_occlusion": [],
            "out_of_view": [],
            "labelled": DAVIS_METHOD if source.startswith("davis") else VTEST_METHOD,
            "interpolated_frames": ranges(interpolated),
            "checked": CHECK,
            "hand_corrected_frames": ranges(fixed),
        }
        text = json.dumps(meta, indent=1).replace("\n   ", " ").replace("\n  ]", "]")
        (folder / "meta.json").write_text(text + "\n")
        print(f"{name}: {len(lines)} frames, {len(interpolated)} interpolated")


def write_sheets(root: Path, out: Path, step: int) -> None:
    """A contact sheet per built sequence under ``root``: a crop around the box of every ``step``-th frame."""
    out.mkdir(parents=True, exist_ok=True)
    for seq in sorted(p for p in root.iterdir() if (p / "groundtruth.txt").is_file()):
        gt = np.loadtxt(seq / "groundtruth.txt", delimiter=",", ndmin=2)
        frames = sorted((seq / "rgb").glob("*.png"))
        tiles = []
        for k in range(0, len(frames), step):
            x, y, w, h = gt[k]
            if not np.isfinite(gt[k]).all():
                continue
            image = cv2.imread(str(frames[k]))
            side = int(max(w, h) * 1.6) + 16
            pad = cv2.copyMakeBorder(image, side, side, side, side, cv2.BORDER_CONSTANT, value=(60, 0, 60))
            x0, y0 = int(x + w / 2 - side / 2) + side, int(y + h / 2 - side / 2) + side
            tile = np.ascontiguousarray(pad[y0 : y0 + side, x0 : x0 + side])
            p0 = (int(round(x + side - x0)), int(round(y + side - y0)))
            cv2.rectangle(tile, p0, (p0[0] + int(round(w)), p0[1] + int(round(h))), (0, 255, 0), 1)
            tile = cv2.resize(tile, (150, 150), interpolation=cv2.INTER_NEAREST)
            cv2.putText(tile, str(k), (2, 12), 0, 0.4, (0, 255, 255), 1)
            tiles.append(tile)
        while len(tiles) % 10:
            tiles.append(np.zeros_like(tiles[0]))
        rows = [np.hstack(tiles[i : i + 10]) for i in range(0, len(tiles), 10)]
        cv2.imwrite(str(out / f"{seq.name}.png"), np.vstack(rows))
        print(f"{seq.name}: {out / (seq.name + '.png')}")


def main() -> int:
    """Command line: ``label OUT`` or ``sheets ROOT OUT [--step N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("label", help="recompute the labels into OUT/<sequence>/")
    p.add_argument("out")
    p = sub.add_parser("sheets", help="contact sheets of the sequences built under ROOT")
    p.add_argument("root")
    p.add_argument("out")
    p.add_argument("--step", type=int, default=5)
    args = parser.parse_args()
    if args.command == "label":
        write_labels(Path(args.out))
    else:
        write_sheets(Path(args.root), Path(args.out), args.step)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
