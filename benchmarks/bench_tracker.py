"""Per-frame latency of ``Tracker.update`` on CPU, per modality mix, with and without a sentence.

Synthetic but realistic 640x480 input: a photograph (skimage ``coffee``) upscaled and panned across frames, a
simulated 16-bit thermal image (grey levels + a warm target blob + sensor noise) and ~100k events per frame
drawn at intensity edges and at the moving target, sorted by time in a 33 ms window. Input generation is not
timed; each timed call is one ``update()`` (cropping, voxelising, network, decoding, confidence, templates).

The network is randomly initialised (no checkpoint), so the MVLM gate picks LOCAL/GLOBAL arbitrarily: rows
are reported with the default gate (mode mix shown) and, for the full setting, forced LOCAL (tau = -1) and
forced GLOBAL (tau > 1) to bound the cost of each search mode.

Usage: ``python benchmarks/bench_tracker.py [--frames 50] [--warmup 5] [--threads N] [--config small]``.
Writes ``benchmarks/results/bench_tracker.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
import skimage.transform  # noqa: E402
import torch  # noqa: E402

from mamba_tracking_ros.model import build_model  # noqa: E402
from mamba_tracking_ros.tracking import Frame, SearchMode, Tracker  # noqa: E402
from mamba_tracking_ros.tracking.frame import EventWindow  # noqa: E402

HEIGHT, WIDTH = 480, 640
EVENTS_PER_FRAME = 100_000
FRAME_US = 33_000
TARGET = (280.0, 200.0, 80.0, 70.0)  # (x, y, w, h) of the tracked region in frame 0
SENTENCE = "the white cup on the wooden table"


class Scene:
    """A pan over an upscaled still with a drifting warm target; frames are generated once, then replayed."""

    def __init__(self, n_frames: int, seed: int = 0) -> None:
        """Pre-compute RGB, thermal and events for ``n_frames`` frames."""
        canvas = skimage.transform.resize(skimage.data.coffee(), (600, 900), anti_aliasing=True)
        self.canvas = (canvas * 255.0).astype(np.uint8)
        self.rng = np.random.default_rng(seed)
        self.frames = [self._make(i) for i in range(n_frames)]

    def _make(self, i: int) -> dict[str, object]:
        """Frame i: pan 2 px/frame right, 1 px/frame down (bouncing inside the canvas)."""
        span_x, span_y = self.canvas.shape[1] - WIDTH, self.canvas.shape[0] - HEIGHT
        x0 = int(abs((2 * i) % (2 * span_x) - span_x))
        y0 = int(abs((1 * i) % (2 * span_y) - span_y))
        rgb = np.ascontiguousarray(self.canvas[y0 : y0 + HEIGHT, x0 : x0 + WIDTH])
        gray = rgb.astype(np.float32).mean(axis=-1)
        yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
        cx, cy = TARGET[0] + TARGET[2] / 2 - 2 * i % 200, TARGET[1] + TARGET[3] / 2
        blob = np.exp(-(((xx - cx) / 40.0) ** 2 + ((yy - cy) / 35.0) ** 2))
        raw = 2500.0 + 12.0 * gray + 4000.0 * blob + self.rng.normal(0.0, 30.0, gray.shape)
        thermal = np.clip(raw, 0, 65535).astype(np.uint16)
        gy, gx = np.gradient(gray)
        weight = (np.hypot(gx, gy) + 1.0).ravel()
        idx = self.rng.choice(weight.size, size=EVENTS_PER_FRAME, p=weight / weight.sum())
        t0 = i * FRAME_US
        events = EventWindow(
            x=(idx % WIDTH).astype(np.uint16),
            y=(idx // WIDTH).astype(np.uint16),
            t=np.sort(self.rng.integers(t0, t0 + FRAME_US, EVENTS_PER_FRAME)).astype(np.int64),
            p=self.rng.integers(0, 2, EVENTS_PER_FRAME).astype(np.int8),
            t_start=t0,
            t_end=t0 + FRAME_US,
        )
        return {"rgb": rgb, "thermal": thermal, "events": events, "timestamp": i * FRAME_US * 1e-6}

    def frame(self, i: int, modalities: tuple[str, ...]) -> Frame:
        """Frame i restricted to some modalities."""
        data = self.frames[i]
        parts = {m: data[m] for m in modalities}
        return Frame(**parts, timestamp=data["timestamp"], size=(HEIGHT, WIDTH))


def run_case(
    net: torch.nn.Module,
    scene: Scene,
    modalities: tuple[str, ...],
    text: str | None,
    warmup: int,
    frames: int,
    overrides: dict[str, object] | None = None,
) -> dict[str, object]:
    """Start by box (+ sentence), warm up, then time ``frames`` update() calls."""
    tracker = Tracker(model=net, tracker_config=overrides)
    tracker.start(scene.frame(0, modalities), box=TARGET, text=text)
    for i in range(1, warmup + 1):
        tracker.update(scene.frame(i, modalities))
    latencies, modes = [], []
    for i in range(warmup + 1, warmup + 1 + frames):
        frame = scene.frame(i, modalities)
        start = time.perf_counter()
        result = tracker.update(frame)
        latencies.append((time.perf_counter() - start) * 1e3)
        modes.append(result.search_mode)
    ordered = sorted(latencies)
    median = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {
        "modalities": "+".join(modalities),
        "sentence": text is not None,
        "overrides": overrides or {},
        "median_ms": round(median, 2),
        "p95_ms": round(p95, 2),
        "mean_ms": round(statistics.fmean(latencies), 2),
        "fps_median": round(1e3 / median, 1),
        "local_frames": sum(m == SearchMode.LOCAL for m in modes),
        "global_frames": sum(m == SearchMode.GLOBAL for m in modes),
    }


def gate_label(overrides: dict[str, object]) -> str:
    """Short description of the gate setting of a row."""
    if not overrides:
        return "default"
    return "local (tau=-1)" if float(overrides["tau"]) <= -1.0 else "global (tau>1)"


def main(argv: list[str] | None = None) -> int:
    """Run every case, print a table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="small")
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "bench_tracker.json"
    )
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    load_before = list(os.getloadavg())  # other processes on a shared machine distort the numbers
    torch.manual_seed(0)
    net = build_model(args.config, device="cpu")
    scene = Scene(args.warmup + args.frames + 1)
    cases = []
    mixes = [("rgb",), ("rgb", "thermal"), ("rgb", "events"), ("rgb", "thermal", "events")]
    for mods in mixes:
        for text in (None, SENTENCE):
            cases.append((mods, text, None))
    full = ("rgb", "thermal", "events")
    cases.append((full, SENTENCE, {"tau": -1.0}))  # forced LOCAL search
    cases.append((full, SENTENCE, {"tau": 1.5}))  # forced GLOBAL search (after the first update)
    rows = [run_case(net, scene, m, t, args.warmup, args.frames, o) for m, t, o in cases]
    header = (
        f"{'modalities':<20}{'sentence':<10}{'gate':<14}{'median ms':>10}{'p95 ms':>9}{'FPS':>7}{'L/G':>8}"
    )
    threads, cpus = torch.get_num_threads(), os.cpu_count()
    print(f"{args.config} on CPU, torch {torch.__version__}, {threads} threads, {cpus} CPUs")
    print(header)
    print("-" * len(header))
    for row in rows:
        gate = gate_label(row["overrides"])
        print(
            f"{row['modalities']:<20}{'yes' if row['sentence'] else 'no':<10}{gate:<14}"
            f"{row['median_ms']:>10.1f}{row['p95_ms']:>9.1f}{row['fps_median']:>7.1f}"
            f"{row['local_frames']:>4}/{row['global_frames']:<3}"
        )
    full_rows = {
        gate_label(r["overrides"]): r["fps_median"]
        for r in rows
        if r["modalities"] == "rgb+thermal+events" and r["sentence"]
    }
    payload = {
        "benchmark": "tracker_update_latency",
        "config": args.config,
        "device": "cpu",
        "frame_size": [HEIGHT, WIDTH],
        "events_per_frame": EVENTS_PER_FRAME,
        "frames_timed": args.frames,
        "warmup_frames": args.warmup,
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "target": {
            "case": "rgb+thermal+events with sentence",
            "fps_required": 15.0,
            "fps_by_gate": full_rows,
        },
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    summary = ", ".join(f"{gate}: {fps} FPS" for gate, fps in full_rows.items())
    print(f"target small RGB+T+E + sentence >= 15 FPS; measured {summary} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
