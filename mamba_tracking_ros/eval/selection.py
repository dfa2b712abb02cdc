"""Pick a training snapshot by OPE AUC on a validation set, not by training loss.

Training loss on CPU runs stops falling long before tracking accuracy does (docs/training.md), so a run keeps
``snapshots/step_NNNNNNN.pt`` (``train --snapshot-every``) and this module scores each one with the same OPE
evaluation as ``mamba-tracking eval`` on sequences that are neither training nor test data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def find_snapshots(run_dir: str | Path) -> list[Path]:
    """A training run's snapshots (``<run>/snapshots/step_*.pt``, by step) and its final ``model.pt``."""
    run = Path(run_dir)
    found = sorted((run / "snapshots").glob("step_*.pt"))
    if (run / "model.pt").exists():
        found.append(run / "model.pt")
    if not found:
        raise FileNotFoundError(
            f"{run}: no snapshots/step_*.pt and no model.pt (train with --snapshot-every N to keep snapshots)"
        )
    return found


def rank_checkpoints(
    checkpoints: Sequence[str | Path],
    dataset: str,
    root: str | Path,
    results_dir: str | Path,
    config: Any = "small",
    inits: Sequence[str] = ("box",),
    modality_sets: Sequence[str] = ("rgb",),
    workers: int = 1,
    device: str = "cpu",
    max_sequences: int | None = None,
) -> list[dict[str, Any]]:
    """Evaluate every checkpoint on ``root``; rows (checkpoint, mean AUC over init x modality runs, each
    run's AUC) sorted best first, also written to ``results_dir/selection.json``."""
    from mamba_tracking_ros.eval.runner import ModelSpec, run_evaluation

    if not checkpoints:
        raise ValueError("rank_checkpoints: no checkpoints given")
    results = Path(results_dir)
    rows: list[dict[str, Any]] = []
    for checkpoint in checkpoints:
        path = Path(checkpoint)
        summary = run_evaluation(
            dataset,
            root,
            results / path.stem,
            trackers=["mamba"],
            inits=list(inits),
            modality_sets=list(modality_sets),
            model=ModelSpec(config=config, checkpoint=str(path), device=device),
            max_sequences=max_sequences,
            workers=workers,
            threads=1,
            progress=False,
        )
        runs = {t["name"]: float(t["auc"]) for t in summary["trackers"]}
        rows.append({"checkpoint": str(path), "auc": sum(runs.values()) / len(runs), "runs": runs})
    rows.sort(key=lambda row: -row["auc"])
    results.mkdir(parents=True, exist_ok=True)
    (results / "selection.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return rows
