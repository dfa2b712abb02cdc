"""`mamba-tracking demo`: the main job on the embedded default (no robot, no GPU).

Writes the sample multimodal bag from the real footage (two real objects, simulated thermal and EVT 3.0
events, ground truth, an initial sentence and a retargeting sentence midway), replays it through the real
ingest and tracker nodes with the default checkpoint, prints the metrics and writes an annotated GIF and a
plot under the output directory.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

from .model_arguments import add_model_arguments, checkpoint_from_args
from .replay_command import print_result


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo sub-command."""
    from ..apps.replay import ReplayOptions, checkpoint_note, replay_bag, write_gif, write_plot
    from ..apps.sample_bag import SampleBagConfig, write_sample_bag

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = checkpoint_from_args(args)
    _, note = checkpoint_note(args.config, checkpoint)  # fails early on a missing checkpoint file
    print(f"demo: {note}")
    cfg = SampleBagConfig(
        n_frames=args.frames,
        fps=args.fps,
        width=args.width,
        height=args.height,
        object_height=max(8, int(round(args.height * 110 / 480))),
        storage=args.storage,
        seed=args.seed,
    )
    sample = out / "sample_bag"
    info_path = sample / "sample_info.json"
    wanted = json.loads(json.dumps(dataclasses.asdict(cfg)))
    reuse = info_path.is_file() and json.loads(info_path.read_text(encoding="utf-8")).get("config") == wanted
    if reuse and not args.regenerate:
        print(f"demo: reusing the sample bag {sample} (--regenerate to write it again)")
    else:
        shutil.rmtree(sample, ignore_errors=True)
        print(f"demo: writing the sample bag {sample} ({cfg.n_frames} frames {cfg.width}x{cfg.height})")
        info = write_sample_bag(sample, cfg)
        print(f"demo: sentences {info.sentence_a!r} -> {info.sentence_b!r}; {info.event_count} events")
    tracking = out / "tracking_bag"
    shutil.rmtree(tracking, ignore_errors=True)
    options = ReplayOptions(
        out_bag=tracking,
        config=args.config,
        checkpoint=checkpoint,
        device=args.device,
        threads=args.threads,
        seed=args.seed,
        rate=args.rate,
        storage=args.storage,
    )
    result = replay_bag(sample, options)
    print_result(result)
    (out / "metrics.json").write_text(json.dumps(result.summary(), indent=1), encoding="utf-8")
    gif = write_gif(result, out / "tracking.gif")
    plot = write_plot(result, out / "tracking.png")
    print(f"demo: outputs in {out}: {sample.name}/ {tracking.name}/ metrics.json {gif.name} {plot.name}")
    print(f"demo: {note}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add `demo` to the `mamba-tracking` command line."""
    p = subparsers.add_parser(
        "demo", help="write the sample bag from real footage, replay it through the nodes, report (no GPU)"
    )
    p.add_argument("--output-dir", default="demo_output", help="where the bags, GIF, plot, metrics go")
    add_model_arguments(p)
    p.add_argument("--frames", type=int, default=120, help="frames in the sample bag (default: 120)")
    p.add_argument("--fps", type=float, default=15.0, help="frame rate of the sample bag (default: 15)")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--rate", type=float, default=0.0, help="replay speed; 0 (default) = lock-step, no drops")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    p.add_argument("--regenerate", action="store_true", help="write the sample bag even if it exists")
    p.set_defaults(func=run_demo)
