"""`mamba-tracking`: the project's command line (`demo`, and one module per further sub-command)."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Sequence

import numpy as np


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def run_demo(args: argparse.Namespace) -> int:
    """Track the embedded default sequence with box + sentence, retarget midway, print per-frame results."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    from ..data.demo_sequence import RETARGET_SENTENCE, SENTENCE, demo_sequence
    from ..tracking import Tracker

    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    tracker = Tracker(args.config, checkpoint=args.checkpoint, device=args.device)
    if args.checkpoint is None:
        print(
            "note: no trained checkpoint is available yet; the backbone is randomly initialised, so boxes are"
        )
        print("      not meaningful. This run shows the pipeline end to end (inputs, gating, retargeting).")
    frames = list(demo_sequence(args.frames, seed=args.seed))
    retarget_at = len(frames) // 2 if args.retarget else -1
    print(f"{'frame':>5} {'state':<19} {'mode':<6} {'conf':>6} {'IoU':>5} {'ms':>6}  modalities")
    ious, times = [], []
    for i, item in enumerate(frames):
        if i == retarget_at:
            tracker.set_text(RETARGET_SENTENCE)
            print(f"  -- retarget: {RETARGET_SENTENCE!r}")
        t0 = time.perf_counter()
        if i == 0:
            result = tracker.start(item.frame, box=item.box, text=SENTENCE)
        else:
            result = tracker.update(item.frame)
        ms = (time.perf_counter() - t0) * 1e3
        before_retarget = retarget_at < 0 or i < retarget_at
        iou_text = "    -"  # the ground truth follows the first target only
        if before_retarget:
            iou = _iou(result.box, item.box)
            iou_text = f"{iou:>5.2f}"
            if i > 0:
                ious.append(iou)
        if i > 0:
            times.append(ms)
        print(
            f"{i:>5} {result.state.value:<19} {result.search_mode.value:<6} {result.confidence:>6.3f} "
            f"{iou_text} {ms:>6.1f}  {'+'.join(result.modalities)}"
        )
    summary = {
        "frames": len(frames),
        "mean_iou_before_retarget": float(np.mean(ious)) if ious else None,
        "median_ms": float(np.median(times)) if times else None,
        "checkpoint": args.checkpoint,
        "config": args.config,
    }
    print(json.dumps(summary))
    return 0


# Each module here defines `add_parser(subparsers) -> None`, which adds one sub-command and sets its `func`.
_COMMAND_MODULES: tuple[str, ...] = ()


def build_parser() -> argparse.ArgumentParser:
    """The `mamba-tracking` argument parser."""
    parser = argparse.ArgumentParser(prog="mamba-tracking", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="track the embedded default sequence (no robot, no GPU)")
    demo.add_argument("--config", default="small", help="config name or YAML path (default: small)")
    demo.add_argument("--checkpoint", default=None, help="model checkpoint (default: none yet)")
    demo.add_argument("--device", default="auto", help="auto, cpu or cuda")
    demo.add_argument("--frames", type=int, default=40, help="sequence length (default: 40)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    demo.add_argument("--no-retarget", dest="retarget", action="store_false", help="skip the midway sentence")
    demo.set_defaults(func=run_demo)
    for module_name in _COMMAND_MODULES:
        importlib.import_module(f"{__package__}.{module_name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mamba-tracking` console script."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"mamba-tracking {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
