"""Per-frame latency of ``Tracker.update``: each config, every modality subset, with and without a sentence.

Synthetic but realistic 640x480 input: a photograph (skimage ``coffee``) upscaled and panned across frames, a
simulated 16-bit thermal image (grey levels + a warm target blob + sensor noise) and ~100k events per frame
drawn at intensity edges and at the moving target, sorted by time in a 33 ms window. Input generation is not
timed; each timed call is one ``update()`` (cropping, voxelising, network, decoding, confidence, templates).

``small`` runs its shipped checkpoint; ``base`` has none yet and runs randomly initialised weights (latency
does not depend on the weights' values, only through the MVLM gate's LOCAL/GLOBAL choice). Rows use the
default gate (the mode mix is shown) and, for RGB+thermal+events with a sentence, forced LOCAL (tau = -1) and
forced GLOBAL (tau > 1) to bound the cost of each search mode; RGB and the forced-LOCAL row again with the
DSST box refinement off (its cost per frame).

Usage: ``python benchmarks/bench_tracker.py [--configs small base] [--frames 50] [--large-frames 8]
[--warmup 5] [--threads N] [--device cpu|cuda]``. Writes ``benchmarks/results/bench_tracker.json``.
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

import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
import skimage.transform  # noqa: E402
import torch  # noqa: E402

from mamba_tracking_ros.frame import EventWindow  # noqa: E402
from mamba_tracking_ros.model import build_model  # noqa: E402
from mamba_tracking_ros.tracking import Frame, SearchMode, Tracker  # noqa: E402
from mamba_tracking_ros.tracking.tracker import resolve_device  # noqa: E402

HEIGHT, WIDTH = 480, 640
EVENTS_PER_FRAME = 100_000
FRAME_US = 33_000
#: Tracker overrides of the rows that measure the cost of the DSST box refinement (off in these rows).
NO_REFINEMENT: dict[str, object] = {"refine_translation": False, "refine_scale": 0.0}
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


SUBSETS = [
    ("rgb",),
    ("thermal",),
    ("events",),
    ("rgb", "thermal"),
    ("rgb", "events"),
    ("thermal", "events"),
    ("rgb", "thermal", "events"),
]
FULL = ("rgb", "thermal", "events")
# The targets: (config, device type) -> FPS required for RGB + thermal + events + a sentence.
TARGETS = {("small", "cpu"): 15.0, ("base", "cuda"): 150.0}


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in [0, 1])."""
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_case(
    net: torch.nn.Module,
    scene: Scene,
    modalities: tuple[str, ...],
    text: str | None,
    warmup: int,
    frames: int,
    overrides: dict[str, object] | None = None,
) -> dict[str, object]:
    """Start by box (+ sentence), warm up, then time ``frames`` update() calls (synchronised per frame)."""
    tracker = Tracker(model=net, tracker_config=overrides)
    cuda = tracker.device.type == "cuda"
    tracker.start(scene.frame(0, modalities), box=TARGET, text=text)
    for i in range(1, warmup + 1):
        tracker.update(scene.frame(i, modalities))
    latencies, modes = [], []
    for i in range(warmup + 1, warmup + 1 + frames):
        frame = scene.frame(i, modalities)
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = tracker.update(frame)  # returns a host-side box: the frame's work is done
        latencies.append((time.perf_counter() - start) * 1e3)
        modes.append(result.search_mode)
    ordered = sorted(latencies)
    median = statistics.median(ordered)
    return {
        "modalities": "+".join(modalities),
        "sentence": text is not None,
        "overrides": overrides or {},
        "frames": frames,
        "median_ms": round(median, 2),
        "p95_ms": round(percentile(ordered, 0.95), 2),
        "mean_ms": round(statistics.fmean(latencies), 2),
        "fps_median": round(1e3 / median, 1),
        "local_frames": sum(m == SearchMode.LOCAL for m in modes),
        "global_frames": sum(m == SearchMode.GLOBAL for m in modes),
    }


def gate_label(overrides: dict[str, object]) -> str:
    """Short description of the gate (and refinement) setting of a row."""
    if "tau" not in overrides:
        label = "default"
    else:
        label = "local (tau=-1)" if float(overrides["tau"]) <= -1.0 else "global (tau>1)"
    if overrides.get("refine_translation") is False:
        label += ", no refinement"
    return label


def bench_config(
    name: str, device: torch.device, frames: int, warmup: int, scene: Scene
) -> tuple[list[dict[str, object]], dict[str, object]]:
    """All rows of one config: 7 modality subsets x (no sentence, sentence) + forced local/global rows."""
    torch.manual_seed(0)
    checkpoint = "default" if name == "small" else None
    net = build_model(name, checkpoint=checkpoint, device=device)
    params = sum(p.numel() for p in net.parameters())
    cases: list[tuple[tuple[str, ...], str | None, dict[str, object] | None]] = []
    for mods in SUBSETS:
        for text in (None, SENTENCE):
            cases.append((mods, text, None))
    cases.append((FULL, SENTENCE, {"tau": -1.0}))  # forced LOCAL search
    cases.append((FULL, SENTENCE, {"tau": 1.5}))  # forced GLOBAL search (after the first update)
    cases.append((("rgb",), None, NO_REFINEMENT))  # the DSST box refinement's cost: RGB ...
    cases.append((FULL, SENTENCE, {"tau": -1.0, **NO_REFINEMENT}))  # ... and the full local row without it
    rows = []
    for mods, text, overrides in cases:
        row = run_case(net, scene, mods, text, warmup, frames, overrides)
        row["config"] = name
        row["gate"] = gate_label(row["overrides"])
        rows.append(row)
        print_row(row)
    info = {
        "config": name,
        "checkpoint": "shipped" if checkpoint else "random init (no checkpoint shipped)",
        "parameters": params,
        "frames_timed": frames,
    }
    return rows, info


def print_row(row: dict[str, object]) -> None:
    """One table line."""
    gate = gate_label(row["overrides"])
    print(
        f"{row['config']:<7}{row['modalities']:<20}{'yes' if row['sentence'] else 'no':<10}{gate:<15}"
        f"{row['median_ms']:>10.1f}{row['p95_ms']:>9.1f}{row['fps_median']:>7.1f}"
        f"{row['local_frames']:>4}/{row['global_frames']:<3}",
        flush=True,
    )


def target_summary(rows: list[dict[str, object]], device: torch.device) -> list[dict[str, object]]:
    """The issue's FPS targets beside the measured full-setting rows of this device."""
    out = []
    for (config, device_type), required in TARGETS.items():
        if device_type != device.type:
            continue
        by_gate = {
            gate_label(r["overrides"]): r["fps_median"]
            for r in rows
            if r["config"] == config
            and r["modalities"] == "+".join(FULL)
            and r["sentence"]
            and r["overrides"].get("refine_translation") is not False  # the shipped setting only
        }
        if by_gate:
            worst = min(by_gate.values())
            out.append(
                {
                    "config": config,
                    "device": device_type,
                    "case": "rgb+thermal+events with sentence",
                    "fps_required": required,
                    "fps_by_gate": by_gate,
                    "met_default_gate": by_gate.get("default", 0.0) >= required,
                    "met_worst_gate": worst >= required,
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run every case, print a table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["small", "base"])
    parser.add_argument("--frames", type=int, default=50, help="timed frames per row for small")
    parser.add_argument("--large-frames", type=int, default=8, help="timed frames per row for other configs")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "bench_tracker.json"
    )
    args = parser.parse_args(argv)
    if args.frames < 1 or args.large_frames < 1 or args.warmup < 0:
        parser.error("--frames and --large-frames must be >= 1, --warmup >= 0")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    load_before = list(os.getloadavg())  # other processes on a shared machine distort the numbers
    longest = max(args.frames, args.large_frames)
    scene = Scene(args.warmup + longest + 1)
    threads, cpus = torch.get_num_threads(), os.cpu_count()
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    print(f"device {gpu or 'cpu'}, torch {torch.__version__}, {threads} threads, {cpus} CPUs")
    header = (
        f"{'config':<7}{'modalities':<20}{'sentence':<10}{'gate':<15}{'median ms':>10}{'p95 ms':>9}"
        f"{'FPS':>7}{'L/G':>8}"
    )
    print(header)
    print("-" * len(header))
    rows, configs = [], []
    for name in args.configs:
        frames = args.frames if name == "small" else args.large_frames
        config_rows, info = bench_config(name, device, frames, args.warmup, scene)
        rows += config_rows
        configs.append(info)
    targets = target_summary(rows, device)
    payload = {
        "benchmark": "tracker_update_latency",
        "device": device.type,
        "gpu": gpu,
        "configs": configs,
        "frame_size": [HEIGHT, WIDTH],
        "events_per_frame": EVENTS_PER_FRAME,
        "warmup_frames": args.warmup,
        "torch_version": torch.__version__,
        "torch_threads": threads,
        "cpu_count": cpus,
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "targets": targets,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    for t in targets:
        measured = ", ".join(f"{gate}: {fps} FPS" for gate, fps in t["fps_by_gate"].items())
        print(
            f"target {t['config']} {t['case']} >= {t['fps_required']} FPS on {t['device']}; "
            f"measured {measured}"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
