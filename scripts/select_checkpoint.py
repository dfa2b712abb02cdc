"""Rank a training run's snapshots by OPE AUC on a validation set and name the best one.

Example (a run made with ``mamba-tracking train ... --snapshot-every 500``; the validation set is a train
split from a seed no training run used, so its sequences are neither training nor test data)::

    .venv/bin/mamba-tracking make-data --split train --out DATA/val --count 24 --seed 99 --workers 2
    .venv/bin/python scripts/select_checkpoint.py --run runs/ft3 --val project:DATA/val \\
        --modalities rgb --modalities rgb,thermal,events --workers 2
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> int:
    """Parse the arguments, evaluate every snapshot, print the ranking (best first)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, type=Path, help="training output folder (snapshots/, model.pt)")
    p.add_argument("--val", required=True, metavar="FORMAT:ROOT", help="validation set, e.g. project:DIR")
    p.add_argument("--config", default="small", help="model config name or YAML path")
    p.add_argument("--init", action="append", default=None, help="box, text or both (default box)")
    p.add_argument("--modalities", action="append", default=None, help="e.g. rgb,thermal (default rgb)")
    p.add_argument("--max-sequences", type=int, default=None, help="evaluate at most N sequences")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", type=Path, default=None, help="results folder (default <run>/selection)")
    args = p.parse_args()
    from mamba_tracking_ros.eval.selection import find_snapshots, rank_checkpoints

    dataset, sep, root = args.val.partition(":")
    if not sep:
        p.error(f"--val: expected FORMAT:ROOT, got {args.val!r}")
    rows = rank_checkpoints(
        find_snapshots(args.run),
        dataset,
        root,
        args.out or args.run / "selection",
        config=args.config,
        inits=args.init or ["box"],
        modality_sets=args.modalities or ["rgb"],
        workers=args.workers,
        max_sequences=args.max_sequences,
    )
    for row in rows:
        runs = ", ".join(f"{name} {auc:.1f}" for name, auc in row["runs"].items())
        print(f"{row['auc']:5.1f}  {row['checkpoint']}  ({runs})")
    print(f"best: {rows[0]['checkpoint']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
