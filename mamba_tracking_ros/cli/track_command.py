"""`mamba-tracking track`: run the tracker on your own footage (video file, image folder or camera), no ROS.

Start from a box, a sentence or both (MambaVLT's three initialisations); ``--retarget FRAME:SENTENCE``
switches the target by sentence at a frame (MVLM retargeting: the new target is searched over the whole
image). Writes the boxes in the evaluation result format (``<name>.txt``: ``x,y,w,h`` per frame;
``<name>_time.txt``: seconds per frame), ``<name>_states.csv`` (state, score, search mode per frame) and an
annotated ``<name>.mp4``.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mamba_tracking_ros.cli.model_arguments import add_model_arguments, checkpoint_from_args
from mamba_tracking_ros.constants import TrackState

#: Image files an image folder may hold (read in name order).
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class FrameSource:
    """Frames of a video file, image folder or camera: RGB arrays, a nominal rate and a count if known."""

    name: str
    frames: Iterator[np.ndarray]
    fps: float
    count: int | None


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``X,Y,W,H`` (pixels of the first frame tracked) -> a box; ValueError naming the flag otherwise."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values) or values[2] <= 0 or values[3] <= 0:
        raise ValueError(f"--box: expected X,Y,W,H with a positive width and height, got {text!r}")
    return values  # type: ignore[return-value]


def parse_retarget(text: str) -> tuple[int, str]:
    """``FRAME:SENTENCE`` -> (frame index counted from the first frame tracked, sentence)."""
    frame, sep, sentence = text.partition(":")
    if not sep or not frame.strip().isdigit() or not sentence.strip():
        raise ValueError(f"--retarget: expected FRAME:SENTENCE (e.g. 120:the man in blue), got {text!r}")
    return int(frame), sentence.strip()


def _video_frames(capture: Any, what: str) -> Iterator[np.ndarray]:
    """RGB frames from an opened cv2.VideoCapture until it ends; released afterwards."""
    import cv2

    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                return
            if bgr is None or bgr.ndim != 3:
                raise ValueError(f"{what}: the capture returned an unreadable frame")
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def _folder_frames(paths: list[Path]) -> Iterator[np.ndarray]:
    """RGB frames read from image files; an unreadable file is an error naming it."""
    import cv2

    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{path}: not a readable image")
        yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def open_source(source: str, fps: float | None = None) -> FrameSource:
    """Open a video file, an image folder (files in name order) or a camera (``0``, ``/dev/video0``)."""
    import cv2

    path = Path(source)
    if path.is_dir():
        paths = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise ValueError(f"{source}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return FrameSource(path.name, _folder_frames(paths), fps or 30.0, len(paths))
    camera = source.isdigit() or source.startswith("/dev/video")
    if not camera and not path.is_file():
        raise FileNotFoundError(f"{source}: no such video file, image folder or camera")
    target: Any = int(source) if source.isdigit() else source
    capture = cv2.VideoCapture(target)
    if not capture.isOpened():
        raise ValueError(f"{source}: OpenCV cannot open it as a {'camera' if camera else 'video'}")
    rate = fps or float(capture.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0
    count = None if camera else int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None
    name = f"camera{source.rsplit('video', 1)[-1]}" if camera else path.stem
    return FrameSource(name, _video_frames(capture, source), rate, count)


def annotate(frame: Any, result: Any, index: int, sentence: str | None) -> np.ndarray:
    """A BGR picture of the frame: the box as tracker_node's debug image draws it, and a line of text."""
    import cv2

    from mamba_tracking_ros.ros_adapters.ros_conversion import STATE_COLOURS, confidence_to_score, debug_image

    state = result.state.value
    box = None if state == TrackState.WAITING_FOR_TARGET else result.box
    bgr = cv2.cvtColor(debug_image(frame, box, state), cv2.COLOR_RGB2BGR)
    colour = tuple(reversed(STATE_COLOURS.get(state, (255, 255, 255))))
    text = f"#{index} {state} {confidence_to_score(result.confidence):.2f}" + (
        f" '{sentence}'" if sentence else ""
    )
    cv2.putText(bgr, text[:90], (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(bgr, text[:90], (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    return bgr


def run_track(args: argparse.Namespace) -> int:
    """Track through the source as the arguments say, write the outputs, print a one-line summary."""
    import cv2
    import torch

    from mamba_tracking_ros.frame import Frame
    from mamba_tracking_ros.ros_adapters.ros_conversion import confidence_to_score
    from mamba_tracking_ros.tracking import Tracker

    box = parse_box(args.box) if args.box else None
    sentence = args.sentence.strip() if args.sentence else None
    if args.sentence is not None and not sentence:
        raise ValueError("--sentence: the sentence is empty")
    if box is None and sentence is None:
        raise ValueError("give --box X,Y,W,H, --sentence TEXT, or both")
    retargets = dict(parse_retarget(r) for r in args.retarget or [])
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    source = open_source(args.source, args.fps)
    checkpoint = checkpoint_from_args(args)
    from mamba_tracking_ros.cli.eval_command import parse_overrides

    overrides = parse_overrides(args.set or [])
    tracker = Tracker(
        args.config, checkpoint=checkpoint, device=args.device, tracker_config=overrides or None
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = source.name
    writer = None
    boxes, times, states = [], [], []
    total = source.count
    if total is not None:
        total = max(0, total - args.start_frame)
        total = min(total, args.max_frames) if args.max_frames else total
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=f"track {name}", unit="frame", dynamic_ncols=True)
    index = -1
    try:
        for raw_index, rgb in enumerate(source.frames):
            if raw_index < args.start_frame:
                continue
            index = raw_index - args.start_frame
            if args.max_frames and index >= args.max_frames:
                break
            frame = Frame(rgb=np.ascontiguousarray(rgb), timestamp=index / source.fps)
            started = time.perf_counter()
            if index == 0:
                result = tracker.start(frame, box=box, text=sentence)
            else:
                if index in retargets:
                    tracker.set_text(retargets[index])
                result = tracker.update(frame)
            times.append(time.perf_counter() - started)
            boxes.append(tuple(float(v) for v in result.box))
            score = confidence_to_score(result.confidence)
            states.append((index, result.state.value, score, result.search_mode.value))
            if not args.no_video:
                if writer is None:
                    height, width = rgb.shape[:2]
                    fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                    writer = cv2.VideoWriter(str(out / f"{name}.mp4"), fourcc, source.fps, (width, height))
                    if not writer.isOpened():
                        raise RuntimeError(f"{out / name}.mp4: OpenCV cannot write an mp4v video here")
                writer.write(annotate(frame, result, index, tracker.text))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.release()
    if not boxes:
        raise ValueError(f"{args.source}: no frame to track (start frame {args.start_frame})")
    (out / f"{name}.txt").write_text("\n".join(",".join(f"{v:.4f}" for v in b) for b in boxes) + "\n")
    (out / f"{name}_time.txt").write_text("\n".join(f"{t:.6f}" for t in times) + "\n")
    with (out / f"{name}_states.csv").open("w", newline="") as f:
        table = csv.writer(f)
        table.writerow(["frame", "state", "score", "search_mode"])
        table.writerows((i, s, f"{c:.4f}", m) for i, s, c, m in states)
    tracked = sum(1 for _, s, _, _ in states if s == TrackState.TRACKING)
    fps = (len(times) - 1) / max(sum(times[1:]), 1e-9) if len(times) > 1 else float("nan")
    print(
        f"{len(boxes)} frames, {tracked} tracking, {fps:.1f} FPS in the tracker -> "
        f"{out / name}.txt" + ("" if args.no_video else f", {out / name}.mp4")
    )
    return 0


def add_parser(sub: Any) -> None:
    """Add the `track` sub-command."""
    p = sub.add_parser(
        "track",
        help="track a target in a video file, image folder or camera (box and/or sentence), no ROS",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", help="video file, folder of images (name order), or camera (0, /dev/video0)")
    p.add_argument("--box", default=None, help="X,Y,W,H of the target in the first frame tracked (pixels)")
    p.add_argument("--sentence", default=None, help="words describing the target")
    p.add_argument(
        "--retarget",
        action="append",
        metavar="FRAME:SENTENCE",
        help="switch to the target this sentence describes at FRAME (repeatable)",
    )
    p.add_argument("--out", default="track_output", help="output folder (default: track_output)")
    add_model_arguments(p, threads_help=None, seed_help=None)
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a key of the config's tracker: section, as in eval (repeatable)",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--start-frame", type=int, default=0, help="skip this many frames first (default 0)")
    p.add_argument("--max-frames", type=int, default=0, help="track at most N frames (0: all)")
    p.add_argument("--fps", type=float, default=None, help="source frame rate (default: read, else 30)")
    p.add_argument("--no-video", action="store_true", help="do not write the annotated video")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_track)
