"""Training throughput of `mamba-tracking train` (clips/s and sample-frames/s) for a config on this machine.

Runs the real engine (``train.engine.train``) for a few steps per case and reads the CSV log, skipping the
first logging window (sentence-encoder load, allocator warm-up). Cases: trunk frozen (``--freeze-stem``) with
0 or 1 DataLoader worker and 1 or 2 torch threads (``--full-stem``: also the whole stem trained). The
data-wait column is the share of time the loop waited for batches. On a shared machine, oversubscribed
torch threads can be several times slower than one thread: compare the rows before choosing ``--threads``.

Usage: ``OMP_NUM_THREADS=2 python benchmarks/bench_train.py [--config small] [--data project:DIR]
[--steps 12] [--batch-size 8] [--clip-len 3]``. Without ``--data``, two 320x240 composite sequences (RGB +
simulated thermal + simulated events, ``data/composite_sequences.py``) are rendered into a temporary folder.
Writes ``benchmarks/results/bench_train.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from mamba_tracking_ros.train.engine import TrainOptions, train


def _composite_data(root: Path) -> str:
    """Render two short composite sequences (RGB + thermal + events) into ``root``; return a --data spec."""
    from mamba_tracking_ros.data.composite_sequences import SequenceSpec, render_sequence, write_sequence

    for k, (background, target) in enumerate(
        (("opencv/tree", "still/cup"), ("opencv/vtest", "still/helmet"))
    ):
        spec = SequenceSpec(seed=k, background=background, target=target, length=60, name=f"bench{k}")
        write_sequence(render_sequence(spec), root)
    return f"project:{root}"


def _rates(log: Path, batch_size: int, clip_len: int) -> dict[str, float]:
    """Mean clips/s after the first window, and the data-wait share, from a train_log.csv."""
    rows = list(csv.DictReader(log.open()))[1:]
    if not rows:
        raise RuntimeError(f"{log}: too few logged windows; raise --steps")
    clips = sum(float(r["samples_per_s"]) for r in rows) / len(rows)
    t = [float(r["time_s"]) for r in list(csv.DictReader(log.open()))]
    span = t[-1] - t[0]
    data = sum(float(r["data_s"]) for r in rows)
    return {
        "clips_per_s": clips,
        "sample_frames_per_s": clips * clip_len,
        "s_per_step": batch_size / clips,
        "data_wait_share": data / span if span > 0 else float("nan"),
    }


def main() -> None:
    """Run the cases, print a table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="small")
    parser.add_argument("--data", default=None)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--clip-len", type=int, default=3)
    parser.add_argument("--full-stem", action="store_true", help="also time training the whole stem (slow)")
    args = parser.parse_args()
    cases = [
        ("frozen, 0 workers, 1 thread", True, 0, 1),
        ("frozen, 1 worker, 1 thread", True, 1, 1),
        ("frozen, 1 worker, 2 threads", True, 1, 2),
    ]
    if args.full_stem:
        cases.append(("full stem, 1 worker, 1 thread", False, 1, 1))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or _composite_data(Path(tmp) / "data")
        print(f"config {args.config}, batch {args.batch_size} clips x {args.clip_len} frames, data {data}")
        print(f"{'case':<30} {'clips/s':>8} {'frames/s':>9} {'s/step':>7} {'data wait':>9}")
        for name, frozen, workers, threads in cases:
            out = Path(tmp) / f"run{len(results)}"
            t0 = time.perf_counter()
            train(
                TrainOptions(
                    data=[data],
                    out=str(out),
                    config=args.config,
                    steps=args.steps,
                    batch_size=args.batch_size,
                    clip_len=args.clip_len,
                    freeze_stem=frozen,
                    workers=workers,
                    threads=threads,
                    log_every=max(args.steps // 4, 1),
                    save_every=10**9,
                    progress=False,
                )
            )
            rates = _rates(out / "train_log.csv", args.batch_size, args.clip_len)
            rates.update(case=name, wall_s=time.perf_counter() - t0)
            results.append(rates)
            print(
                f"{name:<30} {rates['clips_per_s']:>8.2f} {rates['sample_frames_per_s']:>9.2f} "
                f"{rates['s_per_step']:>7.2f} {rates['data_wait_share']:>8.0%}"
            )
    payload = {
        "benchmark": "bench_train",
        "config": args.config,
        "batch_size": args.batch_size,
        "clip_len": args.clip_len,
        "steps": args.steps,
        "cpu_count": os.cpu_count(),
        "load_avg_1min": os.getloadavg()[0],
        "machine": platform.platform(),
        "torch": torch.__version__,
        "results": results,
    }
    out_dir = Path(__file__).resolve().parent / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "bench_train.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
