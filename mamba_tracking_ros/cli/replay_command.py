"""`mamba-tracking replay BAG`: play a rosbag2 through the real ingest + tracker nodes, record and score."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..apps.replay import ReplayOptions, ReplayResult, parse_sentence_at
from ..constants import MODALITIES
from .model_arguments import add_model_arguments, checkpoint_from_args


def print_result(result: ReplayResult) -> None:
    """Print the per-frame table, the metrics and a JSON summary line."""
    print(f"{'t [s]':>6} {'target':<6} {'state':<19} {'score':>6} {'IoU':>5}  sentence")
    from ..eval.metrics import iou

    for f in result.frames:
        ov = "    -"
        if f.gt is not None:
            ov = f"{float(iou([f.box], [f.gt])[0]) if f.box is not None else 0.0:>5.2f}"
        score = f"{f.score:>6.2f}" if f.box is not None else "     -"
        print(f"{f.t_s:>6.2f} {f.gt_id:<6} {f.state:<19} {score} {ov}  {f.sentence}")
    if result.metrics:
        m = result.metrics["overall"]
        print(
            f"metrics: AUC {m['auc']:.1f}  P@20 {m['precision_20']:.1f}  "
            f"NP@0.2 {m['normalized_precision_20']:.1f}"
            f"  mean IoU {result.metrics['mean_iou']:.3f}  ({result.metrics['frames_with_detection']}/"
            f"{result.metrics['frames']} frames with a detection)"
        )
    print(f"note: {result.checkpoint_note}")
    print(json.dumps(result.summary()))


def run_replay(args: argparse.Namespace) -> int:
    """Run the replay sub-command."""
    options = ReplayOptions(
        out_bag=Path(args.out) if args.out else None,
        config=args.config,
        checkpoint=checkpoint_from_args(args),
        device=args.device,
        threads=args.threads,
        seed=args.seed,
        rate=args.rate,
        sentences=[parse_sentence_at(s) for s in args.sentence_at],
        storage=args.storage,
        loops=args.loop,
        rgb_topic=args.rgb_topic,
        thermal_topic=args.thermal_topic,
        events_topic=args.events_topic,
        ground_truth_topic=args.ground_truth_topic,
        frame_timeout_s=args.frame_timeout,
    )
    from ..apps.replay import replay_bag, write_gif, write_plot

    result = replay_bag(args.bag, options)
    print_result(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result.summary(), indent=1), encoding="utf-8")
    if args.gif:
        print(f"gif: {write_gif(result, args.gif)}")
    if args.plot:
        print(f"plot: {write_plot(result, args.plot)}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add `replay` to the `mamba-tracking` command line."""
    p = subparsers.add_parser(
        "replay",
        help="play a rosbag2 through the ingest + tracker nodes, record the outputs, score them",
    )
    p.add_argument("bag", help="rosbag2 directory (MCAP or SQLite3)")
    p.add_argument("--out", default=None, help="record the tracker's outputs into this new bag directory")
    add_model_arguments(p)
    p.add_argument(
        "--rate",
        type=float,
        default=1.0,
        help="playback speed (1 = real time); 0 = lock-step: wait for each frame's detections, drop nothing",
    )
    p.add_argument(
        "--sentence-at",
        action="append",
        default=[],
        metavar="SECONDS:TEXT",
        help="publish TEXT on the tracker's ~/command SECONDS after the bag start (repeatable)",
    )
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="storage of --out")
    p.add_argument("--loop", type=int, default=1, help="play the bag this many times (time jumps back)")
    p.add_argument("--gif", default=None, help="write an annotated GIF here")
    p.add_argument("--plot", default=None, help="write an IoU / confidence plot (PNG) here")
    p.add_argument("--json", default=None, help="write the summary (metrics, counts) as JSON here")
    for role in (*MODALITIES, "ground-truth"):
        p.add_argument(f"--{role}-topic", default=None, help=f"{role} topic (default: found from types)")
    p.add_argument("--frame-timeout", type=float, default=60.0, help="lock-step wait per frame, seconds")
    p.set_defaults(func=run_replay)
