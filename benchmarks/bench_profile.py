"""Where a tracker frame's time goes, against the floors the device sets (FLOPs and bytes).

For each config, on RGB + thermal + events + a sentence, forced LOCAL and forced GLOBAL search:

* work per frame: FLOPs of every matmul/conv/attention op in one ``update()`` (``FlopCounterMode``) and the
  bytes of the weights, which a frame must read at least once;
* the device's measured ceilings: dense matmul FLOP/s (large square GEMM) and copy bandwidth (large tensor
  copy); on a GPU the same, in bf16 and fp32;
* the floors: ``flops / peak`` and ``bytes / bandwidth``, beside the measured time of the network forward
  (forward hooks) and of the whole frame; what is left above the floor is overhead (small-kernel dispatch,
  Python, preprocessing, host-side decoding), itemised by the top operators of ``torch.profiler``.

Usage: ``python benchmarks/bench_profile.py [--configs small base] [--frames 20] [--device cpu]``.
Writes ``benchmarks/results/bench_profile.json``.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from bench_common import time_ms  # noqa: E402
from bench_tracker import FULL, SENTENCE, TARGET, Scene  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from mamba_tracking_ros.model import build_model  # noqa: E402
from mamba_tracking_ros.tracking import Tracker  # noqa: E402
from mamba_tracking_ros.tracking.tracker import resolve_device  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bench_profile.json"
# Published dense peaks of the H100 SXM (no sparsity), used only to state the floor of the GPU target.
H100_SXM_SPEC = {"bf16_tflops": 989.0, "fp32_tflops": 67.0, "hbm_tb_per_s": 3.35}


def _sync(device: torch.device) -> None:
    """Wait for queued device work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_ceilings(device: torch.device) -> dict[str, float]:
    """Measured matmul FLOP/s (fp32, and bf16 on CUDA) and copy bandwidth (bytes/s) of the device."""
    n = 2048 if device.type == "cpu" else 8192
    out: dict[str, float] = {}
    dtypes = [torch.float32] + ([torch.bfloat16] if device.type == "cuda" else [])
    for dtype in dtypes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        seconds = time_ms(lambda a=a, b=b: a @ b, 5, 1, device.type == "cuda")[0] / 1e3
        out[f"matmul_{str(dtype).removeprefix('torch.')}_flops_per_s"] = 2.0 * n**3 / seconds
    src = torch.empty(64 * 2**20, device=device, dtype=torch.float32)  # 256 MiB
    dst = torch.empty_like(src)
    seconds = time_ms(lambda: dst.copy_(src), 5, 1, device.type == "cuda")[0] / 1e3
    out["copy_bytes_per_s"] = 2.0 * src.numel() * src.element_size() / seconds  # read + write
    return out


class ForwardTimer:
    """Times every ``net.forward`` call with forward pre/post hooks (synchronising on CUDA)."""

    def __init__(self, net: torch.nn.Module, device: torch.device) -> None:
        """Attach the hooks."""
        self.device, self.samples, self._start = device, [], 0.0
        self._handles = [
            net.register_forward_pre_hook(self._pre),
            net.register_forward_hook(self._post),
        ]

    def _pre(self, *_: object) -> None:
        _sync(self.device)
        self._start = time.perf_counter()

    def _post(self, *_: object) -> None:
        _sync(self.device)
        self.samples.append(time.perf_counter() - self._start)

    def close(self) -> None:
        """Remove the hooks."""
        for handle in self._handles:
            handle.remove()


def profile_case(
    net: torch.nn.Module, scene: Scene, device: torch.device, gate: str, frames: int, warmup: int
) -> dict[str, object]:
    """Time, count FLOPs of and profile ``frames`` update() calls in one search mode."""
    tau = -1.0 if gate == "local" else 1.5
    tracker = Tracker(model=net, tracker_config={"tau": tau})
    tracker.start(scene.frame(0, FULL), box=TARGET, text=SENTENCE)
    for i in range(1, warmup + 1):
        tracker.update(scene.frame(i, FULL))
    first = warmup + 1
    timer = ForwardTimer(net, device)
    totals = []
    for i in range(first, first + frames):
        frame = scene.frame(i, FULL)
        _sync(device)
        start = time.perf_counter()
        tracker.update(frame)
        totals.append(time.perf_counter() - start)
    timer.close()
    counter = FlopCounterMode(display=False)
    with counter:
        tracker.update(scene.frame(first + frames, FULL))
    flops = counter.get_total_flops()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    profiled_frames = min(frames, 5)
    with profile(activities=activities) as prof:
        for i in range(first + frames + 1, first + frames + 1 + profiled_frames):
            tracker.update(scene.frame(i, FULL))
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, key, 0.0), reverse=True)
    profiled = sum(getattr(e, key, 0.0) for e in events)
    top = [
        {
            "op": e.key,
            "calls_per_frame": round(e.count / profiled_frames, 1),
            "self_ms_per_frame": round(getattr(e, key, 0.0) / 1e3 / profiled_frames, 3),
            "share": round(getattr(e, key, 0.0) / profiled, 3) if profiled else 0.0,
        }
        for e in events[:12]
    ]
    calls = sum(e.count for e in events if e.key.startswith("aten::")) / profiled_frames
    return {
        "gate": gate,
        "frame_ms": round(1e3 * statistics.median(totals), 2),
        "network_ms": round(1e3 * statistics.median(timer.samples), 2) if timer.samples else None,
        "gflop_per_frame": round(flops / 1e9, 3),
        "aten_ops_per_frame": round(calls, 0),
        "top_ops": top,
    }


def main(argv: list[str] | None = None) -> int:
    """Measure ceilings, profile each config, print the floors table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["small", "base"])
    parser.add_argument("--frames", type=int, default=20, help="timed frames per case (small)")
    parser.add_argument("--large-frames", type=int, default=5, help="timed frames per case (other configs)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.frames < 1 or args.large_frames < 1:
        parser.error("--frames and --large-frames must be >= 1")
    device = resolve_device(args.device)
    load_before = list(os.getloadavg())
    ceilings = device_ceilings(device)
    peak = max(v for k, v in ceilings.items() if k.startswith("matmul"))
    bandwidth = ceilings["copy_bytes_per_s"]
    print(
        f"device {device}: matmul peak {peak / 1e9:.1f} GFLOP/s, copy {bandwidth / 1e9:.1f} GB/s "
        f"({torch.get_num_threads()} threads)"
    )
    scene = Scene(args.warmup + max(args.frames, args.large_frames) + 8)
    results = []
    header = (
        f"{'config':<7}{'gate':<7}{'GFLOP':>8}{'MB w':>7}{'flop floor':>11}{'byte floor':>11}"
        f"{'network':>9}{'frame':>8}{'ops':>6}{'eff %':>7}"
    )
    print(header)
    print("-" * len(header))
    for name in args.configs:
        torch.manual_seed(0)
        net = build_model(name, checkpoint="default" if name == "small" else None, device=device)
        weight_bytes = sum(p.numel() * p.element_size() for p in net.parameters())
        frames = args.frames if name == "small" else args.large_frames
        for gate in ("local", "global"):
            row = profile_case(net, scene, device, gate, frames, args.warmup)
            flop_floor = 1e3 * row["gflop_per_frame"] * 1e9 / peak
            byte_floor = 1e3 * weight_bytes / bandwidth
            row.update(
                config=name,
                weight_mb=round(weight_bytes / 2**20, 2),
                flop_floor_ms=round(flop_floor, 3),
                byte_floor_ms=round(byte_floor, 3),
                efficiency_network=round(max(flop_floor, byte_floor) / row["network_ms"], 3)
                if row["network_ms"]
                else None,
            )
            if name == "base":  # what the H100 target would cost at the floor (spec-sheet peaks)
                row["h100_floor_ms_bf16"] = round(
                    max(
                        row["gflop_per_frame"] / H100_SXM_SPEC["bf16_tflops"],
                        weight_bytes / 2 / (H100_SXM_SPEC["hbm_tb_per_s"] * 1e12) * 1e3,
                    ),
                    4,
                )
            results.append(row)
            eff = 100.0 * (row["efficiency_network"] or 0.0)
            print(
                f"{name:<7}{gate:<7}{row['gflop_per_frame']:>8.2f}{row['weight_mb']:>7.1f}"
                f"{flop_floor:>10.2f}m{byte_floor:>10.2f}m{row['network_ms']:>8.1f}m{row['frame_ms']:>7.1f}m"
                f"{row['aten_ops_per_frame']:>6.0f}{eff:>7.1f}",
                flush=True,
            )
    for row in results:
        ops = ", ".join(f"{o['op']} {o['self_ms_per_frame']:.1f} ms" for o in row["top_ops"][:5])
        print(f"{row['config']} {row['gate']}: top ops per frame: {ops}")
    payload = {
        "benchmark": "tracker_profile_vs_floors",
        "device": device.type,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "ceilings": ceilings,
        "h100_sxm_spec": H100_SXM_SPEC,
        "rows": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
