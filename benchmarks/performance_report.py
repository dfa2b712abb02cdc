"""Turn the benchmark JSON into docs/performance.md (tables, plots, targets), keeping a copy of the JSON.

Reads ``<results>/<device>/bench_*.json`` for every device folder present (``cpu``, ``cuda``), writes
``docs/performance.md``, plots to ``docs/performance/*.png`` and the raw JSON to
``docs/performance/<device>/``. Sections whose JSON is missing say so instead of showing numbers.

Usage: ``python benchmarks/performance_report.py [--results benchmarks/results] [--docs docs]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
DEVICES = ("cpu", "cuda")
CPU_TARGET_FPS = 15.0
GPU_TARGET_FPS = 150.0


def load_results(results: Path) -> dict[str, dict[str, Any]]:
    """device -> {benchmark name -> parsed JSON} for every ``bench_*.json`` found."""
    found: dict[str, dict[str, Any]] = {}
    for device in DEVICES:
        folder = results / device
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("bench_*.json")):
            try:
                found.setdefault(device, {})[path.stem.removeprefix("bench_")] = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    return found


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: Any, digits: int = 1) -> str:
    """Number formatting for tables ('-' for missing)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


# ----------------------------------------------------------------------------- sections
def section_machine(res: dict[str, dict[str, Any]]) -> str:
    """Where the numbers come from."""
    lines = ["## Machines", ""]
    for device, benches in res.items():
        tracker = benches.get("tracker", {})
        ssm = benches.get("ssm", {}).get("machine", {})
        load = tracker.get("load_average_before")
        desc = tracker.get("gpu") or f"{ssm.get('processor', tracker.get('processor', '?'))}"
        cpus = tracker.get("cpu_count", ssm.get("cpu_count", "?"))
        version = tracker.get("torch_version", ssm.get("torch", "?"))
        load_text = load if load is None else [round(v, 2) for v in load]
        lines.append(
            f"- `{device}`: {desc}, {cpus} CPUs, torch {version}, {tracker.get('torch_threads', '?')} torch "
            f"threads; load average before the tracker run {load_text}."
        )
    if "cuda" not in res:
        lines.append(
            "- GPU: **not measured**. No GPU was lent to the task that produced these numbers; every GPU row "
            "below is empty. `python benchmarks/run_all.py --device cuda` on a machine set up with "
            "`scripts/setup_gpu.sh` fills them in."
        )
    return "\n".join(lines)


def section_targets(res: dict[str, dict[str, Any]]) -> str:
    """The issue's targets beside what was measured."""
    rows = []
    cpu_tracker = res.get("cpu", {}).get("tracker")
    gpu_tracker = res.get("cuda", {}).get("tracker")
    for config, device, required, data in (
        ("small", "2-core CPU", CPU_TARGET_FPS, cpu_tracker),
        ("base", "H100 (batch 1)", GPU_TARGET_FPS, gpu_tracker),
    ):
        target = (
            None
            if data is None
            else next((t for t in data.get("targets", []) if t["config"] == config), None)
        )
        if target is None:
            rows.append(
                [f"`{config}`, RGB+T+E + sentence, {device}", f">= {required:.0f} FPS", "not measured", "-"]
            )
            continue
        gates = target["fps_by_gate"]
        measured = ", ".join(f"{gate}: {fps:.1f}" for gate, fps in gates.items())
        verdict = (
            "met"
            if target["met_worst_gate"]
            else ("met (default gate)" if target["met_default_gate"] else "NOT met")
        )
        rows.append(
            [f"`{config}`, RGB+T+E + sentence, {device}", f">= {required:.0f} FPS", measured, verdict]
        )
    scaling = res.get("cpu", {}).get("scaling")
    slope = None if scaling is None else scaling_slope(scaling, "mamba", "memory")
    if slope is None:
        rows.append(["memory grows linearly with tokens", "slope ~1", "not measured", "-"])
    else:
        rows.append(
            [
                "memory grows linearly with tokens (Mamba, log-log slope)",
                "~1",
                f"{slope:.2f}",
                "met" if slope < 1.25 else "NOT met",
            ]
        )
    return "## Targets\n\n" + table(["target", "required", "measured", "verdict"], rows)


def plot_scan(res: dict[str, dict[str, Any]], out: Path) -> str | None:
    """ms per call against length, scan and attention, every device: a log-log plot."""
    series: dict[str, list[tuple[int, float]]] = {}
    for benches in res.values():
        for row in benches.get("ssm", {}).get("rows", []):
            if row.get("pass") != "fwd" or row.get("chunk") != "default" or row.get("heads") != "6x64":
                continue
            label = f"{row.get('kind', 'scan')} ({row['backend']}, {row['device']})"
            series.setdefault(label, []).append((row["length"], row["ms"]))
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, pts in sorted(series.items()):
        pts = sorted(set(pts))
        ax.loglog([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
    ax.set_xlabel("tokens per call (batch 1, 6 heads x 64)")
    ax.set_ylabel("ms per call (median)")
    ax.set_title("SSD scan against softmax attention")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out.name


def section_scan(res: dict[str, dict[str, Any]], plots: Path) -> str:
    """Scan kernels: table per length, growth exponents, plot."""
    rows_by_key: dict[tuple[str, str, str, str], dict[int, float]] = {}
    lengths: set[int] = set()
    growth = []
    for benches in res.values():
        ssm = benches.get("ssm")
        if not ssm:
            continue
        growth += ssm.get("machine", {}).get("growth", [])
        for row in ssm["rows"]:
            if row.get("pass") != "fwd" or row.get("chunk") != "default":
                continue
            key = (row.get("kind", "scan"), row["backend"], row["device"], row["heads"])
            rows_by_key.setdefault(key, {})[row["length"]] = row["ms"]
            lengths.add(row["length"])
    if not rows_by_key:
        return "## 1. Scan kernels\n\nNot measured (no `bench_ssm.json`)."
    order = sorted(lengths)
    rows = [
        [kind, backend, device, heads, *(fmt(v.get(n), 2) for n in order)]
        for (kind, backend, device, heads), v in sorted(rows_by_key.items())
    ]
    text = [
        "## 1. Scan kernels",
        "",
        "Milliseconds per call (median), batch 1, forward only, d_state 16. `scan` is the project's SSD scan "
        "(`mamba_tracking_ros.ssm.ssd_scan`; `torch` = the pure-PyTorch chunked scan, `cuda` = mamba_ssm's "
        "Triton kernel); `attention` is `scaled_dot_product_attention` over the same heads, the token mixer "
        "a ViT/OSTrack tracker uses. (`benchmarks/bench_ssm.py`)",
        "",
        table(["kind", "backend", "device", "heads", *(f"L={n}" for n in order)], rows),
        "",
    ]
    if growth:
        text += ["Growth exponent k of time ~ L^k (log-log fit over L >= 1024):", ""]
        text += [
            f"- {g['kind']} {g['backend']} {g['device']} {g['heads']}: k = {g['time_vs_length']:.2f}"
            for g in growth
        ]
        text.append("")
    if "cuda" not in res:
        text.append("GPU rows (torch path and mamba_ssm kernel on CUDA): not measured, no GPU in this run.")
    name = plot_scan(res, plots / "scan_kernels.png")
    if name:
        text += ["", f"![scan kernels](performance/{name})"]
    return "\n".join(text)


def plot_tracker(data: dict[str, Any], out: Path) -> str | None:
    """Median latency per modality subset (with/without a sentence) per config, with the 15 FPS line."""
    rows = [r for r in data.get("rows", []) if not r.get("overrides")]
    if not rows:
        return None
    configs = sorted({r["config"] for r in rows}, key=lambda c: c != "small")
    fig, axes = plt.subplots(1, len(configs), figsize=(6.0 * len(configs), 4.2), squeeze=False)
    for ax, config in zip(axes[0], configs):
        subset = [r for r in rows if r["config"] == config]
        mods = list(dict.fromkeys(r["modalities"] for r in subset))
        for offset, sentence in ((-0.2, False), (0.2, True)):
            values = [
                next(
                    (r["median_ms"] for r in subset if r["modalities"] == m and r["sentence"] == sentence),
                    0.0,
                )
                for m in mods
            ]
            ax.barh(
                [i + offset for i in range(len(mods))],
                values,
                height=0.4,
                label="sentence" if sentence else "box only",
            )
        if data.get("device") == "cpu" and config == "small":
            ax.axvline(1e3 / CPU_TARGET_FPS, color="k", linestyle="--", linewidth=1, label="15 FPS")
        ax.set_yticks(range(len(mods)), mods, fontsize=8)
        ax.set_xlabel("median ms per frame")
        ax.set_title(f"{config} on {data.get('gpu') or data.get('device')}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out.name


def section_tracker(res: dict[str, dict[str, Any]], plots: Path) -> str:
    """Per-frame latency tables per device and config."""
    text = ["## 2. Tracker latency per frame", ""]
    text.append(
        "One `Tracker.update()` on 640x480 input (RGB; simulated 16-bit thermal; 100k events per frame), "
        "cropping, voxelising, network, decoding, MVLM confidence and template refresh included; batch 1. "
        "`gate`: the default MVLM gate, or forced LOCAL (tau=-1) / GLOBAL (tau>1) search; `L/G`: frames "
        "searched locally / globally. `small` runs the shipped checkpoint, `base` random weights (it has no "
        "checkpoint yet; latency does not depend on the values). (`benchmarks/bench_tracker.py`)"
    )
    for device in DEVICES:
        data = res.get(device, {}).get("tracker")
        if data is None:
            text += [
                "",
                f"### {device}",
                "",
                "Not measured" + (": no GPU in this run." if device == "cuda" else "."),
            ]
            continue
        text += ["", f"### {device}: {data.get('gpu') or data.get('processor')}", ""]
        rows = []
        for r in data["rows"]:
            gate = r.get("gate") or (  # rows written before the label was stored
                "default"
                if not r.get("overrides")
                else ("local" if r["overrides"].get("tau", 0) <= -1 else "global")
            )
            rows.append(
                [
                    r["config"],
                    r["modalities"],
                    "yes" if r["sentence"] else "no",
                    gate,
                    fmt(r["median_ms"]),
                    fmt(r["p95_ms"]),
                    fmt(r["fps_median"]),
                    f"{r['local_frames']}/{r['global_frames']}",
                ]
            )
        text.append(
            table(["config", "modalities", "sentence", "gate", "median ms", "p95 ms", "FPS", "L/G"], rows)
        )
        name = plot_tracker(data, plots / f"tracker_latency_{device}.png")
        if name:
            text += ["", f"![tracker latency](performance/{name})"]
    return "\n".join(text)


def scaling_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The measured rows of bench_scaling.json (variant, sweeps, sizes, tokens, time, memory)."""
    return [r for r in data.get("rows", []) if r.get("median_ms") is not None]


def scaling_slope(data: dict[str, Any], variant: str, quantity: str) -> float | None:
    """Log-log slope of time or memory against tokens mixed per forward, resolution sweep (from its fits)."""
    for fit in data.get("fits", []):
        if fit["variant"] == variant and fit["sweep"] == "resolution" and fit["x"] == "tokens_mixed":
            return fit["mem_slope" if quantity == "memory" else "time_slope"]
    return None


def plot_scaling(data: dict[str, Any], sweep: str, x_key: str, out: Path) -> str | None:
    """Forward time and activation memory against tokens (or layers) per variant."""
    rows = [r for r in scaling_rows(data) if sweep in r.get("sweeps", [r.get("sweep")])]
    if not rows:
        return None
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.0))
    for variant in variants:
        pts = sorted((r[x_key], r["median_ms"], r.get("act_mem_mb")) for r in rows if r["variant"] == variant)
        axes[0].plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=variant)
        axes[1].plot([p[0] for p in pts], [p[2] for p in pts], marker="o", label=variant)
    for ax, ylabel in zip(axes, ("forward ms (median)", "activation memory MB (peak)")):
        ax.set_xlabel("tokens through the mixers per forward" if x_key == "tokens_mixed" else "fused layers")
        ax.set_ylabel(ylabel)
        if sweep == "resolution":
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{sweep} sweep ({data.get('config', 'base')} widths, {data.get('device', '?')})")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out.name


def section_scaling(res: dict[str, dict[str, Any]], plots: Path) -> str:
    """Linear against quadratic: resolution and layer sweeps, Mamba beside attention."""
    text = ["## 3. Memory and time against tokens and fused layers", ""]
    data = res.get("cpu", {}).get("scaling") or res.get("cuda", {}).get("scaling")
    if data is None:
        return "\n".join(text + ["Not measured (no `bench_scaling.json`)."])
    text.append(
        f"One network forward (batch 1; {data.get('inputs', '')}) of the `{data.get('config')}` widths "
        f"({data.get('nheads')} heads) with `mixer: mamba` against `mixer: attention` (the same model with "
        "every Mamba mixer replaced by same-width self-attention: backbone, AINet DFM and OFM). `attention` "
        "uses `scaled_dot_product_attention`'s default kernel (fused, score matrix never stored on CPU), "
        "`attention-math` the materialised softmax(QK^T)V of a plain ViT. Stem: "
        f"{data.get('stem')}. Memory: {data.get('memory')}. `tokens`: tokens through the mixers per forward "
        "(layers x (3 streams x [text + templates + search] + DFM's search tokens) + OFM's layers x search). "
        f"{data.get('repeats')} timed forwards per case, {data.get('machine', {}).get('torch_threads', '?')} "
        "torch thread(s). (`benchmarks/bench_scaling.py`)"
    )
    rows = [
        [
            "+".join(r.get("sweeps", [r.get("sweep", "")])),
            r["variant"],
            r.get("search_size"),
            r.get("n_layers"),
            r.get("tokens_mixed"),
            fmt(r.get("median_ms")),
            fmt(r.get("act_mem_mb")),
        ]
        for r in scaling_rows(data)
    ]
    header = ["sweep", "variant", "search px", "layers", "tokens", "forward ms", "activation MB"]
    text += ["", table(header, rows), ""]
    skipped = [r for r in data.get("rows", []) if r.get("median_ms") is None]
    if skipped:
        text += [
            "Not run: "
            + ", ".join(
                f"{r['variant']} {r.get('search_size')} px x {r.get('n_layers')} layers" for r in skipped
            )
            + " (score matrix over `--max-score-gb`, or the case failed; see the JSON).",
            "",
        ]
    fits = [
        [f["variant"], f["sweep"], f["x"], f["points"], fmt(f["time_slope"], 2), fmt(f["mem_slope"], 2)]
        for f in data.get("fits", [])
    ]
    text += ["Log-log slopes (1 = linear, 2 = quadratic):", ""]
    text += [table(["variant", "sweep", "against", "points", "time slope", "memory slope"], fits)]
    for sweep, x_key in (("resolution", "tokens_mixed"), ("layers", "n_layers")):
        name = plot_scaling(data, sweep, x_key, plots / f"scaling_{sweep}.png")
        if name:
            text += ["", f"![{sweep} sweep](performance/{name})"]
    return "\n".join(text)


def section_profile(res: dict[str, dict[str, Any]]) -> str:
    """Kernel time against the FLOP and byte floors."""
    text = ["## Profile: time against the device's floors", ""]
    for device in DEVICES:
        data = res.get(device, {}).get("profile")
        if data is None:
            text += [
                f"- {device}: not measured" + (" (no GPU in this run)." if device == "cuda" else "."),
                "",
            ]
            continue
        ceil = data["ceilings"]
        peak = max(v for k, v in ceil.items() if k.startswith("matmul"))
        text += [
            f"### {device}: measured ceilings: matmul {peak / 1e9:.1f} GFLOP/s, copy "
            f"{ceil['copy_bytes_per_s'] / 1e9:.1f} GB/s ({data.get('torch_threads')} threads)",
            "",
        ]
        rows = [
            [
                r["config"],
                r["gate"],
                fmt(r["gflop_per_frame"], 2),
                fmt(r["weight_mb"], 1),
                fmt(r["flop_floor_ms"], 2),
                fmt(r["byte_floor_ms"], 2),
                fmt(r["network_ms"]),
                fmt(r["frame_ms"]),
                fmt(r["aten_ops_per_frame"], 0),
                fmt(100.0 * (r["efficiency_network"] or 0.0)),
                fmt(r.get("h100_floor_ms_bf16"), 3),
            ]
            for r in data["rows"]
        ]
        text.append(
            table(
                [
                    "config",
                    "search",
                    "GFLOP/frame",
                    "weights MB",
                    "FLOP floor ms",
                    "byte floor ms",
                    "network ms",
                    "frame ms",
                    "aten ops/frame",
                    "% of floor",
                    "H100 floor ms (spec, bf16)",
                ],
                rows,
            )
        )
        text += ["", "Top operators per frame (self time):", ""]
        for r in data["rows"]:
            ops = ", ".join(f"`{o['op']}` {o['self_ms_per_frame']:.1f} ms" for o in r["top_ops"][:6])
            text.append(f"- {r['config']} {r['gate']}: {ops}")
        text.append("")
    return "\n".join(text)


def section_precision(res: dict[str, dict[str, Any]]) -> str:
    """bf16/fp16 boxes against fp32 on the test split (benchmarks/bench_precision.py; not part of run_all)."""
    text = ["## Precision: reduced precision against fp32 on the test split", ""]
    for device in DEVICES:
        data = res.get(device, {}).get("precision")
        if data is None:
            continue
        summary = data["summary"]
        text.append(
            f"`{device}`, `{data['config']}` ({data['checkpoint']} checkpoint), `{data['spec']}`, "
            f"{len(data['sequences'])} sequences x {data['max_frames']} frames "
            "(`python benchmarks/bench_precision.py`; not in `run_all.py`: it needs the test split):"
        )
        rows = []
        for name, row in summary.items():
            rows.append(
                [
                    name,
                    fmt(row["auc"]),
                    fmt(row.get("mean_iou_vs_fp32", 1.0), 3),
                    fmt(row.get("median_iou_vs_fp32", 1.0), 3),
                    fmt(row.get("frac_iou_gt_0_9", 1.0), 3),
                    fmt(row["ms_per_frame"]),
                ]
            )
        header = ["precision", "AUC", "mean IoU vs fp32", "median IoU", "frames IoU > 0.9", "ms/frame"]
        text += ["", table(header, rows), ""]
    return "\n".join(text) if len(text) > 2 else ""


def section_ros(res: dict[str, dict[str, Any]]) -> str:
    """ROS pipeline: decode rates and the nodes' added latency."""
    data = res.get("cpu", {}).get("ros") or res.get("cuda", {}).get("ros")
    text = ["## 4. ROS pipeline", ""]
    if data is None:
        return "\n".join(text + ["Not measured (no `bench_ros.json`)."])
    rows = [
        [d["case"], d["events"], fmt(d["events_per_s"] / 1e6, 1), fmt(d["seconds"] * 1e3, 2)]
        for d in data.get("event_decode", [])
    ]
    text += ["Event decoding, one core (`benchmarks/bench_ros.py`):", ""]
    text += [table(["encoding", "events", "M events/s", "ms per packet"], rows), ""]
    lat = []
    ingest = data.get("ingest_latency")
    if ingest:
        lat.append(
            [
                "ingest_node end to end (cross-process)",
                fmt(ingest["end_to_end"]["median_ms"]),
                fmt(ingest["end_to_end"]["p90_ms"]),
            ]
        )
        lat.append(
            [
                "ingest_node added (end to end - transport)",
                fmt(ingest["added_median_ms"]),
                fmt(ingest["added_p90_ms"]),
            ]
        )
    large = (res.get("cpu", {}).get("ros_large_data") or res.get("cuda", {}).get("ros_large_data") or {}).get(
        "ingest_latency"
    )
    if large:
        e2e = large["end_to_end"]
        lat.append(
            [
                "ingest_node end to end, FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA",
                fmt(e2e["median_ms"]),
                fmt(e2e["p90_ms"]),
            ]
        )
        lat.append(
            ["ingest_node added, LARGE_DATA", fmt(large["added_median_ms"]), fmt(large["added_p90_ms"])]
        )
    proc = data.get("ingest_processing")
    if proc:
        lat.append(["ingest_node own work (in-process)", fmt(proc["median_ms"]), fmt(proc["p90_ms"])])
    node = data.get("tracker_node_latency")
    if node:
        lat.append(
            [
                "tracker_node end to end",
                fmt(node["end_to_end"]["median_ms"]),
                fmt(node["end_to_end"]["p90_ms"]),
            ]
        )
        lat.append(["tracker_node model time", fmt(node["model"]["median_ms"]), fmt(node["model"]["p90_ms"])])
        lat.append(
            [
                "tracker_node added (end to end - model)",
                fmt(node["added"]["median_ms"]),
                fmt(node["added"]["p90_ms"]),
            ]
        )
        for key, label in (
            ("echo_floor", "bare rclpy echo (transport floor)"),
            ("in_process", "tracker_node added, in-process"),
        ):
            extra = node.get(key)
            if isinstance(extra, dict) and "median_ms" in extra:
                lat.append([label, fmt(extra["median_ms"]), fmt(extra.get("p90_ms"))])
    if lat:
        text += ["Latency per frame set (ms):", "", table(["path", "median", "p90"], lat)]
    return "\n".join(text)


def write_report(results: Path, docs: Path) -> Path:
    """Write docs/performance.md, its plots and a copy of the JSON; returns the Markdown path."""
    res = load_results(results)
    plots = docs / "performance"
    plots.mkdir(parents=True, exist_ok=True)
    for device, benches in res.items():
        dest = plots / device
        dest.mkdir(exist_ok=True)
        for name in benches:
            shutil.copyfile(results / device / f"bench_{name}.json", dest / f"bench_{name}.json")
        if (results / device / "run_all.json").is_file():  # which benchmarks ran, how long, quick or full
            shutil.copyfile(results / device / "run_all.json", dest / "run_all.json")
    intro = (
        (HERE / "performance_intro.md").read_text(encoding="utf-8")
        if (HERE / "performance_intro.md").is_file()
        else ""
    )
    parts = [
        "# Performance",
        "",
        "Generated by `python benchmarks/run_all.py` (`make bench`) from the JSON in "
        "`docs/performance/<device>/`; regenerate rather than edit (the analysis below is "
        "`docs/performance/analysis.md`, written by hand for the run whose JSON is committed).",
        "",
        intro.strip(),
        section_targets(res),
        section_machine(res),
        section_scan(res, plots),
        section_tracker(res, plots),
        section_scaling(res, plots),
        section_profile(res),
        section_precision(res),
        section_ros(res),
    ]
    out = docs / "performance.md"
    out.write_text("\n\n".join(p for p in parts if p) + "\n", encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: write the report from a results folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--docs", type=Path, default=HERE.parent / "docs")
    args = parser.parse_args(argv)
    print(f"wrote {write_report(args.results, args.docs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
