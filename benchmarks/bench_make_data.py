"""Cost per frame of the composited-sequence generator (``data/composite_sequences.py``) on one core.

For each background clip, renders one plain sequence and one with every hard case (occlusion, distractor,
scale change, fast motion with blur, low light, out of view) at the requested size, and reports per frame:
render CPU time (RGB compositing + simulated thermal + simulated events, incl. decoding the clip), render
wall time, write CPU time (PNG + events.npz + text files) and events per frame. CPU time is
``time.process_time`` (this process only), so a busy machine inflates wall time but not CPU time.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_make_data.py [--frames 120] [--size 320x240]``.
Writes ``benchmarks/results/bench_make_data.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import cv2

from mamba_tracking_ros.data.composite_sequences import (
    HARD_CASES,
    SequenceSpec,
    distractor_for,
    min_length,
    render_sequence,
    write_sequence,
)
from mamba_tracking_ros.data.footage import list_clips
from mamba_tracking_ros.data.object_crops import list_crop_ids


def main() -> None:
    """Run the cases, print a table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--size", default="320x240")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "bench_make_data.json"
    )
    args = parser.parse_args()
    cv2.setNumThreads(1)
    size = tuple(int(v) for v in args.size.split("x"))
    import numpy as np

    rng = np.random.default_rng(0)
    distractor = distractor_for("still/cup", list_crop_ids(), rng)
    render_sequence(
        SequenceSpec(seed=0, background="opencv/tree", target="still/cup", size=size)
    )  # warm caches
    rows = []
    print(
        f"{'background':<28} {'case':<6} {'render cpu':>10} {'render wall':>11} {'write cpu':>9} "
        f"{'ev/frame':>9}"
    )
    for k, clip in enumerate(list_clips()):
        for case, hard in (("plain", ()), ("hard", HARD_CASES)):
            spec = SequenceSpec(
                seed=100 + k,
                background=clip,
                target="still/cup",
                distractors=(distractor,) if hard else (),
                occluders=("still/helmet",) if hard else (),
                hard_cases=hard,
                length=max(args.frames, min_length(hard)),
                size=size,
            )
            c0, w0 = time.process_time(), time.perf_counter()
            rendered = render_sequence(spec)
            c1, w1 = time.process_time(), time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                write_sequence(rendered, tmp)
            c2 = time.process_time()
            n = len(rendered)
            row = {
                "background": clip,
                "case": case,
                "frames": n,
                "render_cpu_ms_per_frame": 1e3 * (c1 - c0) / n,
                "render_wall_ms_per_frame": 1e3 * (w1 - w0) / n,
                "write_cpu_ms_per_frame": 1e3 * (c2 - c1) / n,
                "events_per_frame": len(rendered.events.t) / n,
            }
            rows.append(row)
            print(
                f"{clip:<28} {case:<6} {row['render_cpu_ms_per_frame']:>8.1f}ms "
                f"{row['render_wall_ms_per_frame']:>9.1f}ms {row['write_cpu_ms_per_frame']:>7.1f}ms "
                f"{row['events_per_frame']:>9.0f}"
            )
    median_render = statistics.median(r["render_cpu_ms_per_frame"] for r in rows)
    median_write = statistics.median(r["write_cpu_ms_per_frame"] for r in rows)
    print(
        f"median render CPU {median_render:.1f} ms/frame, write CPU {median_write:.1f} ms/frame "
        f"at {args.size}"
    )
    payload = {
        "benchmark": "bench_make_data",
        "size": list(size),
        "platform": platform.platform(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "median_render_cpu_ms_per_frame": median_render,
        "median_write_cpu_ms_per_frame": median_write,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
