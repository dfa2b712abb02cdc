"""Runtime-policy ablation: each tracker-config change alone, on every test set, AUC beside the baselines.

Runs ``mamba[box|rgb]`` with the shipped (or given) checkpoint once per variant (a set of ``tracker:``
overrides, the same ones ``mamba-tracking eval --set KEY=VALUE`` takes: each change alone on top of the
policy of 02a33bc, plus the config as shipped now) on each dataset root, appends one JSON
line per (set, variant) to ``<out>/ablation.jsonl`` (a rerun skips what is there, so an interrupted run
resumes), and writes ``<out>/ablation.md``: one row per variant, one AUC column per set, plus the OpenCV
baselines read from ``--baselines SET=SUMMARY_JSON`` (an ``eval`` summary.json of the same sequences).

Example (the table in docs/evaluation.md)::

    .venv/bin/python scripts/ablate_runtime.py --out docs/evaluation/ablation \\
        --set test=DATA/test --set test2=DATA/test2 --set real=DATA/real \\
        --baselines test=docs/evaluation/test/summary.json \\
        --baselines test2=docs/evaluation/test2/summary.json \\
        --baselines real=docs/evaluation/real/summary.json --workers 2
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any


def on_base(
    base: dict[str, Any], changes: dict[str, tuple[dict[str, Any], str]]
) -> dict[str, tuple[dict[str, Any], str]]:
    """Each change's overrides laid over ``base`` (the config the grid was measured on), its text kept."""
    return {name: ({**base, **change}, what) for name, (change, what) in changes.items()}


#: The policy of main at 02a33bc (what the issue measured): every runtime knob added since then off.
OLD_POLICY: dict[str, Any] = {
    "appearance_weight": 0.0,
    "margin_on_prior": False,
    "relocalise_after": 1,
    "low_confidence_box": "candidate",
    "motion_momentum": 0.0,
    "size_penalty_k": 0.0,
    "size_rate_from_score": True,
    "global_window_influence": 0.0,
    "memory_update_min_kappa": -1.0,
    "template_update_interval": 1,
    "appearance_floor_rest": False,
    "texture_weight": 0.0,
}

#: The shipped config of 2026-12-04 (before the floor and texture checks), the base of ``--grid shipped``.
POLICY_2026_12_04: dict[str, Any] = {"appearance_floor_rest": False, "texture_weight": 0.0}

#: Each change alone on top of the old policy: name -> (changed knobs, what it tests).
CHANGES: dict[str, tuple[dict[str, Any], str]] = {
    "old policy (02a33bc)": ({}, "every new knob off: the policy the issue measured"),
    "never relocalise (tau -1)": ({"tau": -1.0}, "reference from the issue: always local search"),
    "margin on prior map": ({"margin_on_prior": True}, "cls margin on the Hanning-weighted map"),
    "relocalise after 5": ({"relocalise_after": 5}, "hysteresis before a full-frame search"),
    "relocalise after 10 + hold": (
        {"relocalise_after": 10, "low_confidence_box": "hold"},
        "long hysteresis, hold the box meanwhile",
    ),
    "hold box when unsure": ({"low_confidence_box": "hold"}, "report the last box below tau"),
    "motion model 0.5": ({"motion_momentum": 0.5}, "constant-velocity search centre"),
    "motion 0.5 + predict": (
        {"motion_momentum": 0.5, "low_confidence_box": "predict"},
        "and report the prediction below tau",
    ),
    "size penalty k=0.3": ({"size_penalty_k": 0.3}, "SiamRPN scale / aspect penalty"),
    "size rate without score": ({"size_rate_from_score": False}, "fixed size update rate 0.5"),
    "template every 10 frames": ({"template_update_interval": 10}, "fewer template refreshes"),
    "memory gated at kappa 0.25": ({"memory_update_min_kappa": 0.25}, "SSM state kept through unsure frames"),
    "global prior 0.3": ({"global_window_influence": 0.3}, "position prior in full-frame search"),
    "colour appearance w=5": ({"appearance_weight": 5.0}, "re-rank look-alikes by colour histogram"),
}

#: Variants run: every change on top of the old policy, and the config as shipped now (no overrides).
VARIANTS: dict[str, tuple[dict[str, Any], str]] = {
    **on_base(OLD_POLICY, CHANGES),
    "config as shipped": ({}, "the `tracker:` section of config/small.yaml now"),
}

#: ``--grid shipped``: each change alone on top of the config shipped on 2026-12-04 (the first row), for
#: re-tuning the runtime policy after a new checkpoint; choose on a validation set, report on the test sets.
SHIPPED_CHANGES: dict[str, tuple[dict[str, Any], str]] = {
    "config as shipped": ({}, "the `tracker:` section of config/small.yaml on 2026-12-04"),
    "no colour check": ({"appearance_weight": 0.0}, "colour re-ranking off"),
    "colour w=2.5": ({"appearance_weight": 2.5}, "weaker colour re-ranking"),
    "colour w=10": ({"appearance_weight": 10.0}, "stronger colour re-ranking"),
    "margin on raw map": ({"margin_on_prior": False}, "cls margin without the Hanning prior"),
    "no motion model": ({"motion_momentum": 0.0}, "search centred on the last box"),
    "window 0.2": ({"window_influence": 0.2}, "weaker Hanning prior in local search"),
    "window 0.5": ({"window_influence": 0.5}, "stronger Hanning prior in local search"),
    "search factor 3": ({"search_factor": 3.0}, "smaller local search region"),
    "search factor 5": ({"search_factor": 5.0}, "larger local search region"),
    "tau 0.1": ({"tau": 0.1}, "relocalise less often"),
    "tau 0.4": ({"tau": 0.4}, "relocalise more often"),
    "relocalise after 3": ({"relocalise_after": 3}, "hysteresis before a full-frame search"),
    "size rate 0.3": ({"size_update_rate": 0.3}, "slower size adaptation"),
    "size rate 0.8": ({"size_update_rate": 0.8}, "faster size adaptation"),
    "size penalty k=0.1": ({"size_penalty_k": 0.1}, "mild SiamRPN scale / aspect penalty"),
    "template threshold 0.8": ({"template_update_threshold": 0.8}, "refresh templates only when sure"),
    "memory gated at kappa 0.25": ({"memory_update_min_kappa": 0.25}, "SSM state kept through unsure frames"),
    "floor unchecked cells": (
        {"appearance_floor_rest": True},
        "cells outside the colour-checked top 12 cannot overtake them",
    ),
    "floor + texture w=1": (
        {"appearance_floor_rest": True, "texture_weight": 1.0},
        "and re-rank by gradient-orientation histograms",
    ),
    "floor + texture w=3": ({"appearance_floor_rest": True, "texture_weight": 3.0}, "stronger texture term"),
    "floor + colour w=2.5": ({"appearance_floor_rest": True, "appearance_weight": 2.5}, "weaker colour"),
    "floor + colour w=2.5 + texture w=1": (
        {"appearance_floor_rest": True, "appearance_weight": 2.5, "texture_weight": 1.0},
        "weaker colour, texture",
    ),
    "floor + colour w=2.5 + texture w=3": (
        {"appearance_floor_rest": True, "appearance_weight": 2.5, "texture_weight": 3.0},
        "weaker colour, stronger texture",
    ),
    "floor + window 0.2": (
        {"appearance_floor_rest": True, "window_influence": 0.2},
        "floor and a weaker Hanning prior",
    ),
    "floor + texture w=3 + window 0.2": (
        {"appearance_floor_rest": True, "texture_weight": 3.0, "window_influence": 0.2},
        "floor, texture and a weaker Hanning prior",
    ),
    "shipped + size rate 0.3": (
        {"appearance_floor_rest": True, "texture_weight": 3.0, "size_update_rate": 0.3},
        "the 2026-12-05 policy; slower size adaptation",
    ),
    "floor + window 0.2 + tau 0.4": (
        {"appearance_floor_rest": True, "window_influence": 0.2, "tau": 0.4},
        "and relocalise more often",
    ),
}

#: ``--grid current``: each change alone on top of config/small.yaml as it ships now (the 2026-12-05 policy),
#: chosen on the larger validation set ``make-data --split train --count 72 --seed 123``.
CURRENT_CHANGES: dict[str, tuple[dict[str, Any], str]] = {
    "as shipped": ({"search_factor": 4.0}, "config/small.yaml of 2026-12-05 morning (search factor 4.0)"),
    "size rate 0.3": ({"size_update_rate": 0.3}, "slower size adaptation"),
    "search factor 3.5": ({"search_factor": 3.5}, "smaller local search region"),
    "search factor 3": ({"search_factor": 3.0}, "smaller still"),
    "search factor 3.25": ({"search_factor": 3.25}, "between the two"),
    "search factor 3.5 + size rate 0.3": (
        {"search_factor": 3.5, "size_update_rate": 0.3},
        "smaller region, slower size adaptation",
    ),
    "window 0.25": ({"window_influence": 0.25}, "weaker Hanning prior in local search"),
    "template threshold 0.7": ({"template_update_threshold": 0.7}, "refresh templates only when surer"),
}

#: The refinement knobs as they were before it shipped: the base of ``--grid current`` and ``--grid refine``.
BEFORE_REFINE: dict[str, Any] = {
    "refine_translation": False,
    "refine_scale": 0.0,
    "refine_learning_rate": 0.025,
    "refine_max_shift": math.inf,
    "size_update_rate": 0.5,
}

#: ``--grid refine``: the DSST box refinement (tracking/box_refinement.py), each variant on top of
#: config/small.yaml with ``BEFORE_REFINE``.
REFINE_CHANGES: dict[str, tuple[dict[str, Any], str]] = {
    "no refinement": ({}, "config/small.yaml of 2026-12-05 afternoon (search factor 3.5)"),
    "translation": ({"refine_translation": True}, "centre moved to the translation filter's peak"),
    "scale": ({"refine_scale": 1.0}, "network size times the scale filter's factor"),
    "translation + scale": (
        {"refine_translation": True, "refine_scale": 1.0},
        "both filters, the network's size times the scale factor",
    ),
    "translation + half scale": (
        {"refine_translation": True, "refine_scale": 0.5},
        "both filters, the square root of the scale factor",
    ),
    "translation + scale + size rate 0.3": (
        {"refine_translation": True, "refine_scale": 1.0, "size_update_rate": 0.3},
        "both filters, the network's size followed more slowly",
    ),
    "translation + scale + filter rate 0.05": (
        {"refine_translation": True, "refine_scale": 1.0, "refine_learning_rate": 0.05},
        "both filters, learning twice as fast",
    ),
    "translation + scale + filter rate 0.0125": (
        {"refine_translation": True, "refine_scale": 1.0, "refine_learning_rate": 0.0125},
        "both filters, learning half as fast",
    ),
    "translation + scale + size rate 0.3 + filter rate 0.0125": (
        {
            "refine_translation": True,
            "refine_scale": 1.0,
            "size_update_rate": 0.3,
            "refine_learning_rate": 0.0125,
        },
        "the two single gains together",
    ),
}
#: The configuration of the last row above, shipped on 2026-12-05 without a gate on the filter's shift.
_REFINED = {
    "refine_translation": True,
    "refine_scale": 1.0,
    "size_update_rate": 0.3,
    "refine_learning_rate": 0.0125,
}
for _cells in (0.5, 1.0, 2.0):
    REFINE_CHANGES[f"refined + shift gate {_cells:g} cell"] = (
        {**_REFINED, "refine_max_shift": _cells},
        f"the filter's centre ignored when over {_cells:g} search cell(s) from the network's",
    )

#: ``--grid exposure``: software auto-exposure of dark RGB frames (``rgb_gain_max``) on the shipped config.
EXPOSURE_CHANGES: dict[str, tuple[dict[str, Any], str]] = {
    "no gain (shipped 2026-12-05)": ({"rgb_gain_max": 1.0}, "config/small.yaml with the DSST refinement"),
    **{
        f"gain up to {g:g}": (
            {"rgb_gain_max": float(g)},
            f"dark frames brought back to the start frame's level, at most x{g:g}",
        )
        for g in (4, 8, 16, 32)
    },
}

ASPECT_CHANGES: dict[str, tuple[dict[str, Any], str]] = {
    "aspect with the size (shipped 2026-12-06)": (
        {"aspect_update_rate": 1.0},
        "config/small.yaml with refinement and exposure gain",
    ),
    **{
        f"aspect rate {r:g}": (
            {"aspect_update_rate": float(r)},
            "this share of the network's aspect-ratio deviation from the start box's is kept"
            + (" (the start box's aspect ratio always)" if r == 0 else ""),
        )
        for r in (0.5, 0.25, 0.1, 0.0)
    },
}

DARK_CHANGES: dict[str, tuple[dict[str, Any], str]] = {
    "shipped 2026-12-06": ({}, "config/small.yaml with the start-box aspect pull"),
    "appearance on the gained image": (
        {"appearance_exposed": True},
        "the colour / texture check reads the RGB gained like the network's input (not the dark frame)",
    ),
}

BORDER_CHANGES: dict[str, tuple[dict[str, Any], str]] = {
    "shipped 2026-12-06 evening": ({}, "config/small.yaml with the colour check on the gained image"),
    "border penalty 0.5": ({"border_penalty": 0.5}, "rank * (share of the box inside the image) ** 0.5"),
    "border penalty 1": ({"border_penalty": 1.0}, "rank * share of the box inside the image"),
    "border penalty 2": ({"border_penalty": 2.0}, "rank * (share of the box inside the image) ** 2"),
}

#: config/small.yaml before the re-acquisition check shipped (2026-12-06, late night): the base of the
#: evidence and reacquire grids, so that both still run against what they were measured on.
BEFORE_REACQUIRE: dict[str, Any] = {"reacquire_appearance_ratio": 0.0}

EVIDENCE_CHANGES: dict[str, tuple[dict[str, Any], str]] = {
    "shipped 2026-12-06 night": ({}, "config/small.yaml with the border penalty"),
    "score floor 0.2": ({"score_floor_ratio": 0.2}, "kappa x min(1, peak / (0.2 x the track's usual peak))"),
    "score floor 0.3": ({"score_floor_ratio": 0.3}, "kappa x min(1, peak / (0.3 x the track's usual peak))"),
    "score floor 0.5": ({"score_floor_ratio": 0.5}, "kappa x min(1, peak / (0.5 x the track's usual peak))"),
}

REACQUIRE_CHANGES: dict[str, tuple[dict[str, Any], str]] = {
    "shipped 2026-12-06 night": ({}, "config/small.yaml with the border penalty"),
    **{
        f"reacquire appearance {r}": (
            {"reacquire_appearance_ratio": r},
            f"a global pick re-acquires only with an appearance factor >= {r} x the track's usual one",
        )
        for r in (0.4, 0.5, 0.6)
    },
    "adopt the size after a global pick": (
        {"adopt_size_after_global": True},
        "the first confident local frame after a global pick takes the network's size undamped",
    ),
    "reacquire appearance 0.5 + adopt": (
        {"reacquire_appearance_ratio": 0.5, "adopt_size_after_global": True},
        "the appearance check at 0.5 and the undamped size after a global pick",
    ),
}

#: Each grid's changes as the table lists them (without the base config a grid's variants start from).
CHANGES_BY_GRID: dict[str, dict[str, tuple[dict[str, Any], str]]] = {
    "shipped": SHIPPED_CHANGES,
    "current": CURRENT_CHANGES,
    "refine": REFINE_CHANGES,
    "exposure": EXPOSURE_CHANGES,
    "aspect": ASPECT_CHANGES,
    "dark": DARK_CHANGES,
    "border": BORDER_CHANGES,
    "evidence": EVIDENCE_CHANGES,
    "reacquire": REACQUIRE_CHANGES,
}

#: The variant grids: name -> (variants, the reference row the deltas are taken against).
GRIDS: dict[str, tuple[dict[str, tuple[dict[str, Any], str]], str]] = {
    "policy": (VARIANTS, "old policy (02a33bc)"),
    "shipped": (
        on_base(POLICY_2026_12_04, SHIPPED_CHANGES),
        "config as shipped",
    ),
    "current": (
        on_base(BEFORE_REFINE, CURRENT_CHANGES),
        "as shipped",
    ),
    "refine": (
        on_base(BEFORE_REFINE, REFINE_CHANGES),
        "no refinement",
    ),
    "exposure": (EXPOSURE_CHANGES, "no gain (shipped 2026-12-05)"),
    "aspect": (ASPECT_CHANGES, "aspect with the size (shipped 2026-12-06)"),
    "dark": (DARK_CHANGES, "shipped 2026-12-06"),
    "border": (BORDER_CHANGES, "shipped 2026-12-06 evening"),
    "evidence": (
        on_base(BEFORE_REACQUIRE, EVIDENCE_CHANGES),
        "shipped 2026-12-06 night",
    ),
    "reacquire": (
        on_base(BEFORE_REACQUIRE, REACQUIRE_CHANGES),
        "shipped 2026-12-06 night",
    ),
}


def run_variants(
    sets: dict[str, str],
    out: Path,
    checkpoint: str,
    workers: int,
    only: list[str] | None,
    variants: dict[str, tuple[dict[str, Any], str]] = VARIANTS,
    modalities: str = "rgb",
) -> list[dict[str, Any]]:
    """Evaluate every (set, modalities, variant) not yet in ``out/ablation.jsonl``; return all its rows."""
    from mamba_tracking_ros.eval.runner import ModelSpec, run_evaluation
    from mamba_tracking_ros.model.checkpoint import resolve_checkpoint
    from mamba_tracking_ros.model.config import load_model_config

    resolved = resolve_checkpoint(checkpoint, load_model_config("small"))
    path = out / "ablation.jsonl"
    rows = read_rows(path)
    done = {(r["set"], r.get("modalities", "rgb"), r["variant"]) for r in rows}
    for set_name, root in sets.items():
        for name, (overrides, _) in variants.items():
            if (set_name, modalities, name) in done or (only and name not in only):
                continue
            start = time.time()
            spec = ModelSpec(
                config="small",
                checkpoint=None if resolved is None else str(resolved),
                device="cpu",
                tracker_overrides=tuple(sorted(overrides.items())),
            )
            summary = run_evaluation(
                "project",
                root,
                out / "runs" / column_name(set_name, modalities).replace(" ", "_") / name.replace(" ", "_"),
                trackers=["mamba"],
                inits=["box"],
                modality_sets=[modalities.replace("+", ",")],
                model=spec,
                workers=workers,
                threads=1,
                progress=False,
            )
            tracker = summary["trackers"][0]
            row = {
                "set": set_name,
                "modalities": modalities,
                "variant": name,
                "overrides": overrides,
                "auc": tracker["auc"],
                "precision_20": tracker["precision_20"],
                "sequences": tracker["num_sequences"],
                "seconds": round(time.time() - start, 1),
            }
            label = column_name(set_name, modalities)
            print(f"{label:20s} {name:32s} AUC {row['auc']:5.1f} P@20 {row['precision_20']:5.1f}", flush=True)
            with path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            rows.append(row)
    return rows


def column_name(set_name: str, modalities: str) -> str:
    """A table column: the set's name for RGB rows, ``"<set> <modalities>"`` otherwise."""
    return set_name if modalities == "rgb" else f"{set_name} {modalities}"


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The JSON lines written so far (none when the file does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def baseline_rows(baselines: dict[str, str]) -> dict[str, dict[str, float]]:
    """``{tracker: {set: AUC}}`` for the box|rgb rows of each set's eval summary.json (OpenCV baselines)."""
    table: dict[str, dict[str, float]] = {}
    for set_name, summary_path in baselines.items():
        summary = json.loads(Path(summary_path).read_text())
        for tracker in summary["trackers"]:
            if tracker["kind"] != "mamba" and tracker["init"] == "box":
                table.setdefault(tracker["name"], {})[set_name] = tracker["auc"]
    return table


def write_table(
    rows: list[dict[str, Any]],
    sets: list[str],
    baselines: dict[str, str],
    path: Path,
    grid: str = "policy",
) -> None:
    """The Markdown ablation table: variants x sets (AUC), the change against the reference row, baselines."""
    variants, first = GRIDS[grid]
    auc = {(column_name(r["set"], r.get("modalities", "rgb")), r["variant"]): r["auc"] for r in rows}
    modality_sets = sorted({r.get("modalities", "rgb") for r in rows}, key=lambda m: (m != "rgb", m))
    present = {column for column, _ in auc}
    columns = [column_name(s, m) for m in modality_sets for s in sets if column_name(s, m) in present]
    lines = [
        "| variant (`--set` overrides) | "
        + " | ".join(f"{c} AUC (Δ)" for c in columns)
        + " | what it tests |",
        "|---|" + "---:|" * len(columns) + "---|",
    ]
    for name, (_, what) in variants.items():
        cells = []
        for s in columns:
            value = auc.get((s, name))
            if value is None:
                cells.append("—")
            elif name == first or (s, first) not in auc:
                cells.append(f"{value:.1f}")
            else:
                cells.append(f"{value:.1f} ({value - auc[(s, first)]:+.1f})")
        if grid == "policy":
            change = CHANGES[name][0] if name in CHANGES else {}
        else:
            change = CHANGES_BY_GRID[grid][name][0]
            if grid == "current" and name != first:
                change = {k: v for k, v in change.items() if k not in CURRENT_CHANGES[first][0]} or change
        knobs = ", ".join(f"{k}={v}" for k, v in change.items()) or "—"
        lines.append(f"| {name} (`{knobs}`) | " + " | ".join(cells) + f" | {what} |")
    for tracker, values in baseline_rows(baselines).items():
        cells = [f"{values[s]:.1f}" if s in values else "—" for s in columns]
        label = tracker.replace("|", "\\|")
        lines.append(f"| {label} | " + " | ".join(cells) + " | OpenCV baseline, same sequences |")
    path.write_text("\n".join(lines) + "\n")


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    """``NAME=VALUE`` arguments -> dict (ValueError naming the flag otherwise)."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{flag}: expected NAME=VALUE, got {item!r}")
        out[name] = value
    return out


def main() -> int:
    """Parse the arguments, run the missing variants, write the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path, help="output folder (ablation.jsonl, ablation.md)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=ROOT", help="a test set (repeatable)")
    p.add_argument("--baselines", action="append", default=[], metavar="NAME=SUMMARY_JSON")
    p.add_argument("--checkpoint", default="default", help="model checkpoint (default: the shipped one)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--only", default=None, help="comma list of variant names to run")
    p.add_argument(
        "--modalities",
        default="rgb",
        help="the runs' modality set, as eval's --modalities (default rgb; e.g. rgb,thermal); rows of "
        "other modality sets in the same ablation.jsonl become their own columns",
    )
    p.add_argument(
        "--grid",
        choices=sorted(GRIDS),
        default="policy",
        help="policy: each change on the policy of 02a33bc; shipped: on the 2026-12-04 config; "
        "current: on config/small.yaml of 2026-12-05 afternoon; refine: the DSST box refinement; "
        "exposure: software auto-exposure on the shipped config; aspect: how fast the box's aspect ratio "
        "follows the network's; dark: the appearance check on dark frames; border: candidates mostly "
        "outside the image; evidence: a floor on the peak score behind the confidence; reacquire: an "
        "appearance check on what a global search re-acquires",
    )
    p.add_argument("--table-only", action="store_true", help="only rewrite ablation.md from ablation.jsonl")
    args = p.parse_args()
    sets = _pairs(args.set, "--set")
    baselines = _pairs(args.baselines, "--baselines")
    args.out.mkdir(parents=True, exist_ok=True)
    only = [v.strip() for v in args.only.split(",")] if args.only else None
    if args.table_only:
        rows = read_rows(args.out / "ablation.jsonl")
    else:
        from mamba_tracking_ros.eval.runner import parse_modalities

        modalities = "+".join(parse_modalities(args.modalities.replace("+", ",")))
        variants = GRIDS[args.grid][0]
        rows = run_variants(sets, args.out, args.checkpoint, args.workers, only, variants, modalities)
    names = list(sets) or list(dict.fromkeys(r["set"] for r in rows))
    write_table(rows, names, baselines, args.out / "ablation.md", args.grid)
    print(f"table: {args.out / 'ablation.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
