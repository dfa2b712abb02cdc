"""`mamba-tracking eval`: one-pass evaluation of the Mamba tracker and OpenCV baselines on a dataset."""

from __future__ import annotations

import argparse

from mamba_tracking_ros.cli.model_arguments import add_model_arguments, checkpoint_from_args
from mamba_tracking_ros.eval.runner import INIT_MODES, TRACKER_KINDS


def _csv(value: str) -> list[str]:
    """Comma-separated list -> stripped non-empty items."""
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_overrides(items: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` strings -> a dict of tracker-config overrides; values are parsed as YAML scalars.

    The keys are validated by TrackerConfig when the tracker is built (unknown keys and bad values fail
    before any sequence runs).
    """
    import yaml

    from mamba_tracking_ros.tracking.config import TrackerConfig

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set: expected KEY=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    TrackerConfig().updated(**out)  # fail now, naming the key, rather than inside a worker
    return out


def run_eval(args: argparse.Namespace) -> int:
    """Run the evaluation the arguments describe, print the overview table, return the exit code."""
    from mamba_tracking_ros.eval.runner import ModelSpec, run_evaluation

    trackers = _csv(args.trackers)
    unknown = [t for t in trackers if t not in TRACKER_KINDS]
    if unknown or not trackers:
        raise ValueError(
            f"--trackers: unknown {unknown or 'empty list'}; expected some of {list(TRACKER_KINDS)}"
        )
    from mamba_tracking_ros.model.checkpoint import resolve_checkpoint
    from mamba_tracking_ros.model.config import load_model_config

    checkpoint = checkpoint_from_args(args)
    if checkpoint is not None:  # "default" -> the shipped file for --config, or None
        resolved = resolve_checkpoint(checkpoint, load_model_config(args.config))
        checkpoint = None if resolved is None else str(resolved)
    if "mamba" in trackers and checkpoint is None:
        print(
            "note: no --checkpoint given: the Mamba network is randomly initialised (seed "
            f"{args.seed}); its scores measure the pipeline, not a trained tracker."
        )
    overrides = tuple(parse_overrides(args.set or []).items())
    model = ModelSpec(
        config=args.config,
        checkpoint=checkpoint,
        device=args.device,
        seed=args.seed,
        tracker_overrides=overrides,
    )
    summary = run_evaluation(
        dataset=args.dataset,
        root=args.root,
        results_dir=args.results,
        trackers=trackers,
        inits=args.init or ["box"],
        modality_sets=args.modalities,
        model=model,
        split=args.split,
        sequences=_csv(args.sequences) if args.sequences else None,
        max_sequences=args.max_sequences,
        workers=args.workers,
        threads=args.threads or None,
        skip_missing=args.skip_missing,
        progress=not args.no_progress,
        report_md=args.report_md,
    )
    header = ("tracker", "AUC", "P@20", "NP@0.2", "seqs", "frames", "FPS", "init ms")
    print(f"{header[0]:<34}" + "".join(f" {h:>7}" for h in header[1:]))
    for t in summary["trackers"]:
        fps = "-" if t["fps"] is None else f"{t['fps']:.1f}"
        cells = (
            f"{t['auc']:.1f}",
            f"{t['precision_20']:.1f}",
            f"{t['normalized_precision_20']:.1f}",
            str(t["num_sequences"]),
            str(t["frames"]),
            fps,
            f"{t['init_ms']:.1f}",
        )
        print(f"{t['name']:<34}" + "".join(f" {c:>7}" for c in cells))
    for item in summary["not_applicable"]:
        print(f"N/A: {item['tracker']} with init {item['init']} on {item['modalities']}: {item['reason']}")
    for item in summary["skipped"]:
        print(f"skipped: {item['tracker']} on {item['sequence']}: {item['reason']}")
    print(f"results: {args.results} (summary.json, summary.md, success.png, precision.png)")
    if args.report_md:
        print(f"report: {args.report_md}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the `eval` sub-command."""
    p = subparsers.add_parser(
        "eval",
        help="one-pass evaluation (AUC, P@20, NP@0.2) of the tracker and OpenCV baselines on a dataset",
        description=(
            "Run tracker configs (kind x init mode x modality set) over a dataset's sequences; write "
            "<results>/<tracker>/<sequence>.txt, summary.json, summary.md, success.png and precision.png."
        ),
    )
    p.add_argument(
        "--dataset",
        required=True,
        metavar="FORMAT",
        help="dataset format: project, lasot, tnl2k, otb99_lang, lasher, rgbt234, vtuav, fe108, ...",
    )
    p.add_argument("--root", required=True, metavar="DIR", help="dataset root folder")
    p.add_argument("--results", required=True, metavar="DIR", help="output folder")
    p.add_argument("--split", default=None, help="sub-folder of --root to read (e.g. test)")
    p.add_argument(
        "--init",
        action="append",
        choices=INIT_MODES,
        default=None,
        help="box (first ground-truth box), text (sentence only) or both; repeat for several (default: box)",
    )
    p.add_argument(
        "--modalities",
        action="append",
        default=None,
        metavar="LIST",
        help="comma list from rgb,thermal,events fed to the tracker; repeat for several sets "
        "(default: the modalities every selected sequence has)",
    )
    p.add_argument(
        "--trackers",
        default=",".join(TRACKER_KINDS),
        metavar="LIST",
        help=f"comma list from {','.join(TRACKER_KINDS)} (default: all)",
    )
    add_model_arguments(
        p,
        threads_help="torch threads per worker (default: 1 with several workers, else torch's default)",
        seed_help="seed of the random init without a checkpoint",
    )
    p.add_argument(
        "--set",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="override a tracker: key of --config (TrackerConfig), e.g. --set relocalise_after=5; repeatable",
    )
    p.add_argument("--workers", type=int, default=1, help="worker processes, one sequence each (default: 1)")
    p.add_argument("--sequences", default=None, metavar="NAME,...", help="only these sequences")
    p.add_argument("--max-sequences", type=int, default=None, metavar="N", help="only the first N sequences")
    p.add_argument(
        "--skip-missing",
        action="store_true",
        help="leave out (and list) sequences lacking a requested modality / sentence instead of failing",
    )
    p.add_argument(
        "--report-md",
        default=None,
        metavar="PATH",
        help="also write the Markdown report here (plot links relative to it), e.g. docs/evaluation.md",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_eval)
