"""Benchmark the SSD scan backends: milliseconds per `ssd_scan` call (median of repeats after warm-up).

Lengths 320 to 16,384 tokens (batch 1). Beside each scan, the same heads through softmax attention
(`scaled_dot_product_attention`, the operator a ViT/OSTrack tracker mixes tokens with) show linear against
quadratic growth at the kernel level. Backends: the pure-PyTorch chunked scan on CPU (and CUDA when present),
mamba_ssm's Triton kernel when it imports (CUDA only).

Run: .venv/bin/python benchmarks/bench_ssm.py [--quick] [--lengths 320 1024 ...] [--no-attention]
     [--sweep-chunks] [--tune-allocator]
Writes benchmarks/results/bench_ssm.json (machine info + every measured row).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import loglog_slope, time_ms  # noqa: E402

from mamba_tracking_ros.ssm import (  # noqa: E402
    DEFAULT_CHUNK_SIZE_TORCH,
    available_backends,
    ssd_scan,
    tune_cpu_allocator,
)

RESULTS = Path(__file__).resolve().parent / "results" / "bench_ssm.json"


def make_inputs(
    length: int, nheads: int, headdim: int, d_state: int, device: str, dtype: torch.dtype
) -> dict:
    """Scan inputs distributed like a fresh Mamba-2 layer's (dt in [1e-3, 0.1], A in [-16, -1])."""
    gen = torch.Generator().manual_seed(0)
    dt0 = torch.exp(torch.rand(nheads, generator=gen) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
    tensors = {
        "x": torch.randn(1, length, nheads, headdim, generator=gen),
        "dt": 0.5 * torch.randn(1, length, nheads, generator=gen),
        "A": -torch.empty(nheads).uniform_(1.0, 16.0, generator=gen),
        "B": torch.randn(1, length, 1, d_state, generator=gen),
        "C": torch.randn(1, length, 1, d_state, generator=gen),
        "D": torch.ones(nheads),
        "dt_bias": dt0 + torch.log(-torch.expm1(-dt0)),
    }
    out = {}
    for name, t in tensors.items():
        keep_fp32 = name in ("A", "D", "dt_bias", "dt")
        out[name] = t.to(device=device, dtype=torch.float32 if keep_fp32 else dtype)
    return out


def bench_case(
    backend: str,
    device: str,
    length: int,
    nheads: int,
    headdim: int,
    chunk: int | None,
    backward: bool,
    repeats: int,
    warmup: int,
    dtype: torch.dtype = torch.float32,
) -> tuple[float, float]:
    """(median, min) milliseconds per scan call (forward, or forward + backward) for one configuration."""
    inp = make_inputs(length, nheads, headdim, 16, device, dtype)
    if backward:
        for name in ("x", "dt", "B", "C"):
            inp[name].requires_grad_(True)

    def run() -> None:
        with torch.set_grad_enabled(backward):
            y, final = ssd_scan(
                inp["x"],
                inp["dt"],
                inp["A"],
                inp["B"],
                inp["C"],
                D=inp["D"],
                dt_bias=inp["dt_bias"],
                dt_softplus=True,
                chunk_size=chunk,
                backend=backend,
            )
            if backward:
                (y.float().square().mean() + final.square().mean()).backward()

    return time_ms(run, repeats, warmup, device == "cuda")


def bench_attention(
    device: str, length: int, nheads: int, headdim: int, repeats: int, warmup: int
) -> tuple[float, float]:
    """(median, min) ms of non-causal softmax attention over the scan's heads (same q/k/v widths)."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, nheads, length, headdim, generator=gen).to(device) for _ in range(3))

    def run() -> None:
        with torch.inference_mode():
            torch.nn.functional.scaled_dot_product_attention(q, k, v)

    return time_ms(run, repeats, warmup, device == "cuda")


def growth_exponent(rows: list[dict], kind: str, backend: str, device: str, heads: str) -> float | None:
    """Log-log slope of time against length for one series (1: linear, 2: quadratic); None when < 2 points."""
    pts = [
        (r["length"], r["ms"])
        for r in rows
        if r["kind"] == kind
        and r["backend"] == backend
        and r["device"] == device
        and r["heads"] == heads
        and r["pass"] == "fwd"
        and r["chunk"] == "default"
        and r["length"] >= 1024  # below ~1k tokens fixed per-call overhead hides the growth
    ]
    return loglog_slope(pts)


def machine_info(args: argparse.Namespace, allocator_tuned: bool) -> dict:
    """CPU/GPU/torch facts recorded with the timings."""
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_num_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "backends": available_backends(),
        "default_chunk_size_torch": DEFAULT_CHUNK_SIZE_TORCH,
        "allocator_tuned": allocator_tuned,
        "quick": args.quick,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main() -> None:
    """Parse flags, run the table, print it and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="few repeats, fewer cases")
    ap.add_argument(
        "--lengths", type=int, nargs="+", default=[320, 1024, 2048, 4096, 8192, 16384], help="tokens per call"
    )
    ap.add_argument("--no-attention", action="store_true", help="skip the softmax-attention reference rows")
    ap.add_argument(
        "--sweep-chunks", action="store_true", help="also time the torch path at chunk 16/32/64/128"
    )
    ap.add_argument("--tune-allocator", action="store_true", help="call tune_cpu_allocator() first (opt-in)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="JSON output path")
    args = ap.parse_args()

    tuned = tune_cpu_allocator() if args.tune_allocator else False
    lengths = sorted(set(args.lengths))
    if any(length < 1 for length in lengths):
        ap.error("--lengths must be positive")
    shapes = [(6, 64), (12, 32)]
    info = machine_info(args, tuned)
    print(
        f"torch {info['torch']} | cpu_count {info['cpu_count']} | "
        f"torch threads {info['torch_num_threads']} | "
        f"backends {info['backends']} | allocator tuned: {tuned}"
    )

    devices = [("torch", "cpu")]
    if torch.cuda.is_available():
        devices.append(("torch", "cuda"))
        if "cuda" in info["backends"]:
            devices.append(("cuda", "cuda"))
    rows = []

    def repeats_for(device: str, length: int) -> tuple[int, int]:
        """(repeats, warm-up calls) for one length: fewer for the long CPU calls."""
        if device == "cpu":
            reps = (3 if length >= 8192 else 7) if args.quick else (5 if length >= 8192 else 25)
        else:
            reps = 10 if args.quick else 50
        return reps, 1 if args.quick else 2

    def record(
        backend: str,
        device: str,
        length: int,
        nh: int,
        hd: int,
        chunk: int | None,
        bwd: bool,
        kind: str = "scan",
    ) -> None:
        """Time one case, print it as a table row and keep it for the JSON."""
        reps, warm = repeats_for(device, length)
        if kind == "attention":
            ms, ms_min = bench_attention(device, length, nh, hd, reps, warm)
        else:
            ms, ms_min = bench_case(backend, device, length, nh, hd, chunk, bwd, reps, warm)
        row = {
            "kind": kind,
            "backend": backend,
            "device": device,
            "length": length,
            "heads": f"{nh}x{hd}",
            "d_state": 16 if kind == "scan" else None,
            "chunk": chunk if chunk is not None else "default",
            "pass": "fwd+bwd" if bwd else "fwd",
            "ms": round(ms, 3),
            "ms_min": round(ms_min, 3),
            "repeats": reps,
        }
        rows.append(row)
        print(
            f"{kind:9s} {backend:6s} {device:5s} {length:6d} {row['heads']:6s} {str(row['chunk']):8s} "
            f"{row['pass']:8s} {ms:10.3f} {ms_min:10.3f}",
            flush=True,
        )

    # One untimed pass over every length, longest first: glibc raises its mmap threshold after the first
    # large frees, so without it the first rows measure page faults that later rows (and a long-running
    # process) avoid.
    for backend, device in devices:
        for length in sorted(lengths, reverse=True):
            bench_case(backend, device, length, 6, 64, None, False, repeats=1, warmup=1)

    print(
        f"{'kind':9s} {'backend':6s} {'dev':5s} {'L':>6s} {'heads':6s} {'chunk':8s} {'pass':8s} "
        f"{'median ms':>10s} {'min ms':>10s}"
    )
    for backend, device in devices:
        for nh, hd in shapes if not args.quick else shapes[:1]:
            for length in lengths:
                record(backend, device, length, nh, hd, None, False)
            record(backend, device, min(lengths), nh, hd, None, True)
    if not args.no_attention:
        for device in sorted({d for _, d in devices}):
            for length in lengths:
                record("sdpa", device, length, 6, 64, None, False, kind="attention")
    if args.sweep_chunks:
        for length in lengths:
            for chunk in (16, 32, 64, 128):
                record("torch", "cpu", length, 6, 64, chunk, False)
        for chunk in (16, 32, 64):
            record("torch", "cpu", min(lengths), 6, 64, chunk, True)

    growth = []
    series = {(r["kind"], r["backend"], r["device"], r["heads"]) for r in rows}
    for kind, backend, device, heads in sorted(series):
        slope = growth_exponent(rows, kind, backend, device, heads)
        if slope is not None:
            growth.append(
                {"kind": kind, "backend": backend, "device": device, "heads": heads, "time_vs_length": slope}
            )
            print(f"growth exponent (time ~ L^k, L >= 1024): {kind} {backend} {device} {heads}: k = {slope}")
    info["growth"] = growth

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": info, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
