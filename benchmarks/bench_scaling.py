"""Network forward time and activation memory against search resolution and depth: Mamba vs attention.

The same tracker network with the `base` widths (config/base.yaml's model section) is built with each token
mixer (ModelConfig.mixer): Mamba-2 (SSD scan, linear in the token count) and same-width multi-head
self-attention (ViT/OSTrack one-stream, quadratic). Attention is measured twice: with PyTorch's default SDPA
kernel choice (on CPU a fused flash kernel that never materialises the L x L scores: memory stays linear, time
is still quadratic) and forced to the MATH backend (``torch.nn.attention.sdpa_kernel(SDPBackend.MATH)``: the
scores are materialised, as in a plain ViT/OSTrack implementation).

Every case is one forward of ``MultimodalMambaTracker`` (batch 1, ``torch.inference_mode``) with all fusion
modules active: RGB + thermal + events search crops, a template clip of 3 templates per modality (cached
template tokens, as the tracker passes them) and the sentence's tokens (``text_max_tokens`` of them; synthetic
TextFeatures of the encoder's output shape: the sentence encoder runs once per sentence, not per frame).
Per stream the backbone sees L = text + 3 * template + search tokens; the AINet OFM attends/scans over
n_layers * search tokens. The image stem is the `patch` stem (stem_pretrained false) rather than base's
EfficientNet: its cost is the same for both mixers and only adds a linear term that would hide the mixers'
growth (and the patch stem needs no weights).

Sweeps: search resolution (256, 384, 512, plus ``--extra``) at a fixed depth, and depth (2, 4, 8, 12) at a
fixed resolution. Each case runs in a fresh subprocess of this script (``--case``) so that its memory is its
own. CPU memory: the peak RSS is reset (``/proc/self/clear_refs`` 5) after building the model and inputs; the
activation memory is ``ru_maxrss`` after the first forward minus the RSS before it (if the reset is not
allowed, ru_maxrss before is the baseline and the row says so). CUDA: ``torch.cuda.max_memory_allocated``
during the forward minus ``memory_allocated`` before it. The growth is fitted as the log-log slope of time and
memory against the number of token passes through a mixer per forward (``tokens_mixed`` = n_layers * (3 L +
2 S): backbone, DFM and OFM) and against the per-stream token count L (resolution sweep), and against n_layers
(depth sweep): ~1 linear, ~2 quadratic. Costs that do not grow with the tokens (weights) or grow linearly
(projections, stems, heads) pull measured slopes below the mixers' asymptotes; search-only parts (stem, head,
OFM) grow with S faster than L, so the slope against L overstates a linear part (up to log 4 / log 2.6 = 1.4
over 256..512). benchmarks/bench_ssm.py times the bare scan against bare attention per length.

Usage: ``python benchmarks/bench_scaling.py [--quick] [--device cpu|cuda] [--extra 768 1024] [--threads N]``.
Writes ``benchmarks/results/bench_scaling.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from bench_common import loglog_slope  # noqa: E402

from mamba_tracking_ros.model import ModelConfig, MultimodalMambaTracker, load_model_config  # noqa: E402
from mamba_tracking_ros.model.types import TextFeatures  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bench_scaling.json"
#: (label, ModelConfig.mixer, SDPA backend: None = PyTorch's choice, "math" = materialised scores)
VARIANTS: dict[str, tuple[str, str | None]] = {
    "mamba": ("mamba", None),
    "attention": ("attention", None),
    "attention-math": ("attention", "math"),
}
TEMPLATES = 3
MODALITIES = ("rgb", "thermal", "events")


# ----------------------------------------------------------------------------- one case (child process)
def case_config(config: str, search_size: int, n_layers: int, mixer: str) -> ModelConfig:
    """The config's model section at one resolution and depth, with the patch stem and the given mixer."""
    base = load_model_config(config)
    return dataclasses.replace(
        base,
        search_size=search_size,
        n_layers=n_layers,
        mixer=mixer,
        stem="patch",
        stem_pretrained=False,
    )


def token_counts(cfg: ModelConfig) -> dict[str, int]:
    """Tokens per stream and per segment, and the OFM's sequence length (n_layers * search tokens)."""
    search = (cfg.search_size // cfg.stride) ** 2
    template = TEMPLATES * (cfg.template_size // cfg.stride) ** 2
    text = cfg.text_max_tokens
    return {
        "tokens_text": text,
        "tokens_template": template,
        "tokens_search": search,
        "tokens_stream": text + template + search,
        "streams": len(MODALITIES),
        "tokens_ofm": cfg.n_layers * search,
        # token passes through a mixer: backbone (streams x L per layer), DFM (S per layer), OFM (N * S)
        "tokens_mixed": cfg.n_layers * (len(MODALITIES) * (text + template + search) + 2 * search),
    }


def rss_bytes() -> int:
    """Current resident set size of this process (VmRSS)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM, ru_maxrss) to the current RSS; False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def run_case(spec: dict[str, Any]) -> dict[str, Any]:
    """Build one network and its inputs, measure the first forward's memory, then time the forward."""
    if spec["threads"] > 0:
        torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    mixer, sdpa = VARIANTS[spec["variant"]]
    cfg = case_config(spec["config"], spec["search_size"], spec["n_layers"], mixer)
    torch.manual_seed(0)
    net = MultimodalMambaTracker(cfg).to(device).eval()
    g = torch.Generator().manual_seed(0)
    s, t = cfg.search_size, cfg.template_size

    def crops(size: int, batch: int) -> dict[str, torch.Tensor]:
        """RGB in [0, 255], thermal in [0, 1], non-negative event voxels."""
        return {
            "rgb": (torch.rand(batch, 3, size, size, generator=g) * 255).to(device),
            "thermal": torch.rand(batch, 1, size, size, generator=g).to(device),
            "events": torch.randn(batch, cfg.event_channels, size, size, generator=g).clamp(min=0).to(device),
        }

    search = crops(s, 1)
    with torch.inference_mode():
        clip = net.embed_images(crops(t, TEMPLATES), role="template")  # the tracker caches these tokens
        template_tokens = {m: x.reshape(1, -1, cfg.d_model).clone() for m, x in clip.items()}
        text_tokens = torch.randn(1, cfg.text_max_tokens, cfg.d_model, generator=g).to(device)
        embedding = torch.nn.functional.normalize(torch.randn(1, cfg.d_model, generator=g), dim=-1).to(device)
    text = TextFeatures(sentence="synthetic", tokens=text_tokens, embedding=embedding)
    cuda = device.type == "cuda"
    if sdpa == "math":
        from torch.nn.attention import SDPBackend, sdpa_kernel

        kernel = sdpa_kernel(SDPBackend.MATH)
    else:
        kernel = contextlib.nullcontext()

    def forward() -> None:
        """One network forward (what Tracker.update runs per frame, minus cropping and decoding)."""
        with torch.inference_mode():
            net(search, template_tokens, text, None)
        if cuda:
            torch.cuda.synchronize()

    row: dict[str, Any] = {k: spec[k] for k in ("variant", "sweep", "search_size", "n_layers")}
    row.update(mixer=mixer, sdpa=sdpa or "default", **token_counts(cfg))
    row["params_m"] = round(sum(p.numel() for p in net.parameters()) / 1e6, 3)
    with kernel:
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
            forward()
            row["act_mem_mb"] = round((torch.cuda.max_memory_allocated(device) - before) / 2**20, 1)
            row["mem_method"] = "cuda.max_memory_allocated"
        else:
            reset = reset_peak_rss()
            before = rss_bytes() if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            forward()
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
            row["act_mem_mb"] = round(max(0, peak - before) / 2**20, 1)
            row["mem_method"] = "ru_maxrss - rss (peak reset)" if reset else "ru_maxrss delta (no reset)"
        for _ in range(spec["warmup"]):
            forward()
        samples: list[float] = []
        for _ in range(spec["repeats"]):
            start = time.perf_counter()
            forward()
            samples.append((time.perf_counter() - start) * 1e3)
            if len(samples) >= 3 and sum(samples) > 1e3 * spec.get("budget_s", math.inf):
                break  # slow case: three samples or more within the time budget are enough for a median
    row["median_ms"] = round(statistics.median(samples), 2)
    row["min_ms"] = round(min(samples), 2)
    row["repeats"] = len(samples)
    row["torch_threads"] = torch.get_num_threads()
    return row


# ----------------------------------------------------------------------------- driver (parent process)
def score_matrix_gb(cfg_tokens: dict[str, int], nheads: int) -> float:
    """Size of the largest materialised attention score matrix of a case (float32, MATH backend), in GB."""
    backbone = cfg_tokens["streams"] * nheads * cfg_tokens["tokens_stream"] ** 2
    ofm = nheads * cfg_tokens["tokens_ofm"] ** 2
    return 4.0 * max(backbone, ofm) / 1e9


def run_child(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one case in a fresh interpreter (its own peak RSS) and return its row, or an error row."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--case", json.dumps(spec)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if spec["threads"] > 0:
        env["OMP_NUM_THREADS"] = str(spec["threads"])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        return {**spec, "error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {**spec, "error": f"exit {proc.returncode}: {' | '.join(tail)}"}
    return json.loads(lines[-1])


def fits(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Log-log slopes of time and memory per variant vs mixed tokens, tokens per stream and n_layers."""
    out = []
    for variant in VARIANTS:
        for sweep, x_key in (
            ("resolution", "tokens_mixed"),
            ("resolution", "tokens_stream"),
            ("layers", "n_layers"),
        ):
            pts = [r for r in rows if r["variant"] == variant and sweep in r["sweeps"] and "median_ms" in r]
            if len(pts) < 2:
                continue
            out.append(
                {
                    "variant": variant,
                    "sweep": sweep,
                    "x": x_key,
                    "points": len(pts),
                    "time_slope": loglog_slope([(r[x_key], r["median_ms"]) for r in pts]),
                    "time_slope_min": loglog_slope([(r[x_key], r["min_ms"]) for r in pts]),
                    "mem_slope": loglog_slope([(r[x_key], r["act_mem_mb"]) for r in pts]),
                }
            )
    return out


def machine_info(args: argparse.Namespace) -> dict[str, Any]:
    """CPU/GPU/torch facts recorded with the numbers."""
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": args.threads if args.threads > 0 else torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
    }
    if args.device == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def print_table(rows: list[dict[str, Any]], slopes: list[dict[str, Any]], header_line: str) -> None:
    """Human-readable table of every case and the fitted growth exponents."""
    print(header_line)
    head = (
        f"{'variant':<16}{'res':>5}{'layers':>7}{'L/stream':>9}{'OFM L':>7}{'mixed':>7}{'params M':>9}"
        f"{'median ms':>11}{'act MB':>9}  sweep"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        left = f"{r['variant']:<16}{r['search_size']:>5}{r['n_layers']:>7}"
        if "error" in r or "skipped" in r:
            print(f"{left}  {r.get('error') or r.get('skipped')}")
            continue
        print(
            f"{left}{r['tokens_stream']:>9}{r['tokens_ofm']:>7}{r['tokens_mixed']:>7}{r['params_m']:>9.2f}"
            f"{r['median_ms']:>11.1f}{r['act_mem_mb']:>9.1f}  {'+'.join(r['sweeps'])}"
        )
    print("\nlog-log growth (1 = linear, 2 = quadratic)")
    print(f"{'variant':<16}{'sweep':<12}{'x':<15}{'time (median)':>14}{'time (min)':>11}{'memory':>8}")
    for s in slopes:
        ts, tm, ms = (
            "n/a" if v is None else f"{v:.2f}" for v in (s["time_slope"], s["time_slope_min"], s["mem_slope"])
        )
        print(f"{s['variant']:<16}{s['sweep']:<12}{s['x']:<15}{ts:>14}{tm:>11}{ms:>8}")


def main(argv: list[str] | None = None) -> int:
    """Parse flags; run every case in its own subprocess (or one case with --case); print and write JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="resolutions 256/384/512, layers 2/4, few repeats")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--config", default="base", help="model widths from this config (default: base)")
    ap.add_argument("--resolutions", type=int, nargs="+", default=[256, 384, 512])
    ap.add_argument("--extra", type=int, nargs="*", default=[], help="more resolutions, e.g. 768 1024")
    ap.add_argument("--layers", type=int, nargs="+", default=None, help="depth sweep (default 2 4 8 12)")
    ap.add_argument(
        "--layers-at",
        type=int,
        default=None,
        help="depth of the resolution sweep (default: config's; quick: 2)",
    )
    ap.add_argument("--resolution-at", type=int, default=256, help="resolution of the depth sweep")
    ap.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), default=list(VARIANTS))
    ap.add_argument("--repeats", type=int, default=None, help="timed forwards per case (default 10, quick 3)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed forwards per case (default 2, quick 0)")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per case (default 1: stable on shared cores; 0: torch's)",
    )
    ap.add_argument("--max-score-gb", type=float, default=4.0, help="skip MATH cases above this")
    ap.add_argument("--budget-s", type=float, default=60.0, help="stop timing a case after this (>= 3 runs)")
    ap.add_argument("--case-timeout", type=float, default=600.0, help="seconds per case subprocess")
    ap.add_argument("--out", type=Path, default=RESULTS, help="JSON output path")
    ap.add_argument("--case", default=None, help=argparse.SUPPRESS)  # internal: run one case, print its row
    args = ap.parse_args(argv)
    if args.case is not None:
        print(json.dumps(run_case(json.loads(args.case))))
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device is available")

    base_cfg = load_model_config(args.config)
    layers = args.layers or ([2, 4] if args.quick else [2, 4, 8, 12])
    layers_at = args.layers_at or (2 if args.quick else base_cfg.n_layers)
    resolutions = sorted(set(args.resolutions + list(args.extra)))
    repeats = args.repeats or (3 if args.quick else 10)
    warmup = args.warmup if args.warmup is not None else (0 if args.quick else 2)  # + the memory forward
    for value in (*resolutions, args.resolution_at):
        if value <= 0 or value % base_cfg.stride:
            ap.error(f"resolution {value} must be a positive multiple of the stride ({base_cfg.stride})")
    if any(n < 1 for n in (*layers, layers_at)):
        ap.error("layer counts must be positive")

    cases: dict[tuple[int, int], list[str]] = {}
    for res in resolutions:
        cases.setdefault((res, layers_at), []).append("resolution")
    for n in layers:
        cases.setdefault((args.resolution_at, n), []).append("layers")
    load_before = list(os.getloadavg())  # other processes on a shared machine distort the numbers
    info = machine_info(args)
    header = (
        f"{args.config} widths (d_model {base_cfg.d_model}, d_state {base_cfg.d_state}, heads "
        f"{base_cfg.nheads}x{base_cfg.headdim}), patch stem, {args.device}, torch {info['torch']}, "
        f"{info['torch_threads']} threads, {info['cpu_count']} CPUs, load {load_before[0]:.2f}"
    )
    print(header, flush=True)
    rows = []
    started = time.perf_counter()
    for (res, n), sweeps in sorted(cases.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        for variant in args.variants:
            spec = {
                "variant": variant,
                "sweep": sweeps[0],
                "search_size": res,
                "n_layers": n,
                "config": args.config,
                "device": args.device,
                "threads": args.threads,
                "repeats": repeats,
                "warmup": warmup,
                "budget_s": args.budget_s,
            }
            tokens = token_counts(case_config(args.config, res, n, VARIANTS[variant][0]))
            gb = score_matrix_gb(tokens, base_cfg.nheads)
            if VARIANTS[variant][1] == "math" and gb > args.max_score_gb:
                row = {
                    **spec,
                    **tokens,
                    "skipped": f"scores {gb:.1f} GB > --max-score-gb {args.max_score_gb:g}",
                }
            else:
                row = run_child(spec, args.case_timeout)
            row["sweeps"] = sweeps
            rows.append(row)
            shown = row.get("error") or row.get("skipped")
            if shown is None:
                shown = f"{row['median_ms']:.1f} ms, {row['act_mem_mb']} MB"
            print(f"  {variant:<15} res {res:>4} layers {n:>2}: {shown}", flush=True)
    slopes = fits(rows)
    print()
    print_table(rows, slopes, header)
    payload = {
        "benchmark": "network_forward_scaling_mamba_vs_attention",
        "config": args.config,
        "widths": {k: getattr(base_cfg, k) for k in ("d_model", "d_state", "headdim", "expand", "ngroups")},
        "nheads": base_cfg.nheads,
        "stem": "patch (stem_pretrained false): same cost for both mixers, keeps the mixers' growth visible",
        "inputs": f"batch 1, {'+'.join(MODALITIES)} search crops, {TEMPLATES} templates, "
        f"{base_cfg.text_max_tokens} sentence tokens",
        "device": args.device,
        "quick": args.quick,
        "repeats": repeats,
        "warmup": warmup,
        "memory": "CPU: peak RSS of the first forward minus RSS before it, fresh process per case; "
        "CUDA: max_memory_allocated minus memory_allocated before the forward",
        "machine": info,
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "wall_s": round(time.perf_counter() - started, 1),
        "rows": rows,
        "fits": slopes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {args.out} ({payload['wall_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
