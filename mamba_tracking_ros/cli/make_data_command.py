"""`mamba-tracking make-data`: write the composited train or (fixed, hash-verified) test split to disk."""

from __future__ import annotations

import argparse


def _parse_size(text: str) -> tuple[int, int]:
    """'320x240' -> (320, 240)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--size: expected WxH such as 320x240, got {text!r}") from exc
    if w < 64 or h < 48:
        raise argparse.ArgumentTypeError(f"--size: must be at least 64x48, got {text!r}")
    return w, h


def run_make_data(args: argparse.Namespace) -> int:
    """Generate the split with a progress bar; print where it went and its manifest hash."""
    if args.split == "real":
        return _run_real(args)
    from tqdm import tqdm

    from ..data.composite_sequences import DEFAULT_SIZE
    from ..data.splits import (
        TEST2_VERSION,
        TEST_VERSION,
        generate_split,
        load_manifest,
        manifest_path,
        train_specs,
    )

    version = {"test": TEST_VERSION, "test2": TEST2_VERSION}.get(args.split)
    if version is not None:
        if args.count is not None or args.seed is not None:
            raise ValueError(
                f"--count/--seed: the {args.split} split is fixed; they apply to --split train only"
            )
        if args.size is not None and tuple(args.size) != DEFAULT_SIZE:
            raise ValueError(f"--size: the {args.split} split's frame sizes are fixed by its manifest")
        total = len(load_manifest(manifest_path(version))["specs"])
    else:
        total = args.count if args.count is not None else 200
        train_specs(1, seed=args.seed or 0)  # fail fast on a bad seed / missing footage
    size = tuple(args.size) if args.size is not None else DEFAULT_SIZE
    with tqdm(total=total, unit="seq", desc=f"make-data {args.split}") as bar:
        manifest = generate_split(
            args.split,
            args.out,
            count=args.count if args.split == "train" else None,
            seed=args.seed or 0,
            size=size,
            workers=args.workers,
            progress=bar.update,
        )
    n = len(manifest["sequences"])
    verified = f", verified against {manifest_path(version)}" if version is not None else ""
    print(f"wrote {n} sequences to {args.out} (manifest.json sha256 {manifest['sha256'][:16]}...{verified})")
    return 0


def _run_real(args: argparse.Namespace) -> int:
    """Write the real-footage test set (fetched footage + committed labels, data/real_sequences.py)."""
    from ..data.real_sequences import build_real_sequences, list_real_sequences

    if args.count is not None or args.seed is not None or args.size is not None:
        raise ValueError("--count/--seed/--size: the real set is fixed; they apply to --split train only")
    folders = build_real_sequences(args.out, progress=lambda name: print(f"wrote {name}", flush=True))
    print(f"wrote {len(folders)} real-footage sequences to {args.out} (labels: {len(list_real_sequences())})")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the `make-data` sub-command."""
    p = subparsers.add_parser(
        "make-data",
        help="write composited multimodal sequences (real footage + real crops, exact ground truth)",
        description="Write the train split (any count, from a seed) or the fixed test split (verified "
        "against the committed manifest) in the project layout, one folder per sequence plus manifest.json; "
        "--split real writes the real-footage test set (fetched footage + committed hand-checked labels).",
    )
    p.add_argument("--split", required=True, choices=("train", "test", "test2", "real"))
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--count", type=int, default=None, help="train: number of sequences (default 200)")
    p.add_argument("--seed", type=int, default=None, help="train: seed (default 0)")
    p.add_argument("--size", type=_parse_size, default=None, help="train: frame size WxH (default 320x240)")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.set_defaults(func=run_make_data)
