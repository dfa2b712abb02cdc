"""Evaluation outputs: ``summary.json``, ``summary.md`` (Markdown report), ``success.png``, ``precision.png``.

The summary is the dict :func:`mamba_tracking_ros.eval.runner.run_evaluation` returns. :func:`render_report`
turns it into a Markdown page: an overview, one table per init mode x modality set with the OpenCV baselines
beside the Mamba tracker (or marked N/A where they cannot run), a per-attribute AUC table and the plots.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mamba_tracking_ros.eval.metrics import CENTER_THRESHOLDS, OVERLAP_THRESHOLDS

SUCCESS_PLOT = "success.png"
PRECISION_PLOT = "precision.png"


def _fmt(value: float | None, digits: int = 1) -> str:
    """A score for a table cell ('-' when missing)."""
    return "-" if value is None else f"{value:.{digits}f}"


def _cell(text: str) -> str:
    """Escape a pipe for a Markdown table cell (tracker names contain ``|``)."""
    return text.replace("|", "\\|")


def _row(entry: dict[str, Any], label: str | None = None) -> str:
    """One Markdown table row of a tracker config's overall scores."""
    extra = ""
    if entry.get("lost_frames") is not None:
        extra = f"lost frames: {entry['lost_frames']}, init failures: {entry['init_failures']}"
    return (
        f"| {_cell(label or entry['name'])} | {_fmt(entry['auc'])} | {_fmt(entry['precision_20'])} | "
        f"{_fmt(entry['normalized_precision_20'])} | {entry['num_sequences']} | {entry['frames']} | "
        f"{_fmt(entry['fps'])} | {_fmt(entry.get('init_ms'))} | {extra} |"
    )


_HEADER = (
    "| Tracker | AUC | P@20 | NP@0.2 | Sequences | Frames | FPS | Init ms | Notes |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---|"
)


def _sections(summary: dict[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    """(init, modalities) pairs of the Mamba configs in run order (or box|rgb when only baselines ran)."""
    pairs = [(t["init"], tuple(t["modalities"])) for t in summary["trackers"] if t["kind"] == "mamba"]
    if not pairs:
        pairs = [("box", ("rgb",))]
    return list(dict.fromkeys(pairs))


def render_report(summary: dict[str, Any], plot_dir: str = ".", title: str | None = None) -> str:
    """Markdown report of a summary; ``plot_dir`` is the plots' folder relative to where the page lives."""
    trackers = summary["trackers"]
    baselines = [t for t in trackers if t["kind"] != "mamba"]
    na = summary.get("not_applicable", [])
    ds = summary["dataset"]
    model = summary["model"]
    lines = [f"# {title or 'Tracking evaluation'}", ""]
    split = f" (split `{ds['split']}`)" if ds.get("split") else ""
    lines.append(
        f"Dataset: `{ds['format']}` at `{ds['root']}`{split}, {len(summary['sequences'])} sequences, "
        f"{sum(s['frames'] for s in summary['sequences'].values())} frames."
    )
    lines.append("")
    if model.get("random_init"):
        lines += [
            f"**Model: config `{model['config']}` with no checkpoint: the network is randomly initialised "
            f"(seed {model['seed']}), so the Mamba rows measure the pipeline, not a trained tracker.**",
            "",
        ]
    else:
        lines += [f"Model: config `{model['config']}`, checkpoint `{model['checkpoint']}`.", ""]
    lines += [f"Protocol: {summary['protocol']}.", ""]
    threads = summary.get("threads")
    lines += [
        "FPS = tracked frames (frame 1 on) / seconds spent in the tracker (image loading excluded); "
        "Init ms = mean time of the start frame (template embedding, sentence encoding, first-use loading); "
        f"device `{model['device']}`, "
        f"{summary.get('workers', 1)} worker process(es)"
        + (f" with {threads} torch thread(s) each" if threads else "")
        + "; workers share the machine's cores.",
        "",
        "Tracker names: `kind[init|modalities]`. OpenCV baselines (CSRT, KCF, MIL) start from the first "
        "ground-truth box and read one image: RGB (`[box|rgb]`), or thermal shown as grey (`[box|thermal]`).",
        "",
        "## Overview",
        "",
        _HEADER,
    ]
    lines += [_row(t) for t in trackers]
    lines.append("")
    for init, mods in _sections(summary):
        mod_text = "+".join(mods)
        lines += [f"## Init `{init}`, modalities `{mod_text}`", "", _HEADER]
        for t in trackers:
            if t["kind"] == "mamba" and t["init"] == init and tuple(t["modalities"]) == mods:
                lines.append(_row(t))
        for b in baselines:
            image = b["modalities"][0]
            if init == "text" or image not in mods:
                continue
            note = f"box init, {'RGB' if image == 'rgb' else 'thermal'} only"
            note += "; ignores the sentence" if init == "both" else ""
            lines.append(_row(b, f"{b['name']} ({note})"))
        for item in na:
            if item["init"] == init and item["modalities"] == mod_text:
                lines.append(f"| {item['tracker']} | N/A | N/A | N/A | - | - | - | - | {item['reason']} |")
        lines.append("")
    attrs = sorted({a for t in trackers for a in t["attributes"]})
    if attrs:
        names = [t["name"] for t in trackers]
        lines += [
            "## Per-attribute AUC",
            "",
            "Each cell: AUC over the sequences carrying the attribute (sequence count in brackets).",
            "",
            "| Attribute | " + " | ".join(f"`{_cell(n)}`" for n in names) + " |",
            "|---|" + "---:|" * len(names),
        ]
        for a in attrs:
            cells = []
            for t in trackers:
                s = t["attributes"].get(a)
                cells.append("-" if s is None else f"{s['auc']:.1f} ({s['num_sequences']})")
            lines.append(f"| {a} | " + " | ".join(cells) + " |")
        lines.append("")
    else:
        lines += ["No sequence carries attributes, so there is no per-attribute table.", ""]
    skipped = summary.get("skipped", [])
    if skipped:
        lines += ["## Skipped (missing inputs)", "", "| Tracker | Sequence | Reason |", "|---|---|---|"]
        lines += [f"| {_cell(s['tracker'])} | {s['sequence']} | {s['reason']} |" for s in skipped]
        lines.append("")
    base = plot_dir.rstrip("/") + "/" if plot_dir not in ("", ".") else ""
    lines += [
        "## Plots",
        "",
        f"![Success plot]({base}{SUCCESS_PLOT})",
        "",
        f"![Precision plot]({base}{PRECISION_PLOT})",
        "",
        "Per-sequence scores and curves: `summary.json`; per-frame boxes: `<tracker>/<sequence>.txt`.",
        "",
    ]
    return "\n".join(lines)


def plot_curves(summary: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write the OPE success and precision plots (legend sorted by AUC / P@20, as the toolkits draw them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    trackers = summary["trackers"]
    styles = ["-", "--", "-.", ":"]
    paths = []
    for key, score, xs, xlabel, fname, title in (
        ("success", "auc", OVERLAP_THRESHOLDS, "Overlap threshold", SUCCESS_PLOT, "Success plot (AUC)"),
        (
            "precision",
            "precision_20",
            CENTER_THRESHOLDS,
            "Location error threshold [px]",
            PRECISION_PLOT,
            "Precision plot (P@20)",
        ),
    ):
        fig, ax = plt.subplots(figsize=(7.0, 5.0), dpi=100)
        ordered = sorted(trackers, key=lambda t: -t[score])
        for k, t in enumerate(ordered):
            ax.plot(
                xs,
                t["curves"][key],
                linestyle=styles[(k // 10) % len(styles)],
                color=f"C{k % 10}",
                label=f"{t['name']} [{t[score]:.1f}]",
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel("Success rate" if key == "success" else "Precision")
        ax.set_title(title)
        ax.set_xlim(float(xs[0]), float(xs[-1]))
        ax.set_ylim(0.0, 1.0)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower left" if key == "success" else "lower right", fontsize=8)
        fig.tight_layout()
        path = out_dir / fname
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths[0], paths[1]


def write_outputs(
    summary: dict[str, Any], results_dir: str | Path, report_md: str | Path | None = None
) -> list[Path]:
    """Write summary.json, the two plots and summary.md into ``results_dir`` (and ``report_md`` if given)."""
    results_dir = Path(results_dir)
    written = []
    json_path = results_dir / "summary.json"
    json_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    written.append(json_path)
    written += list(plot_curves(summary, results_dir))
    md_path = results_dir / "summary.md"
    md_path.write_text(render_report(summary), encoding="utf-8")
    written.append(md_path)
    if report_md is not None:
        report_md = Path(report_md)
        report_md.parent.mkdir(parents=True, exist_ok=True)
        rel = os.path.relpath(results_dir.resolve(), report_md.parent.resolve())
        report_md.write_text(render_report(summary, plot_dir=Path(rel).as_posix()), encoding="utf-8")
        written.append(report_md)
    return written
