"""Reduced precision (bf16 / fp16 autocast) versus fp32 on the held-out test split: do the boxes hold?

For each sequence the Mamba tracker (shipped ``small`` checkpoint by default) runs once in fp32 and once per
requested precision, with everything else equal (same network, same init). Reported per precision: the
mean / median IoU between the two runs' boxes (frames 1 on; frame 0 is the given box), the fraction of
frames with IoU > 0.9, the success AUC of each run against the ground truth (pytracking OPE, from
:mod:`mamba_tracking_ros.eval`) and the tracker's mean time per frame.

The test split comes from ``mamba-tracking make-data --split test --out DIR`` (docs/data.md).

Usage: ``python benchmarks/bench_precision.py [--data data/composite/test] [--device cpu]
[--precision bf16 fp16] [--max-sequences 3] [--max-frames 60] [--modalities rgb] [--init box] [--out FILE]``.
Writes ``benchmarks/results/bench_precision.json`` by default.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np  # noqa: E402
import torch  # noqa: E402

from mamba_tracking_ros.data.datasets import open_dataset  # noqa: E402
from mamba_tracking_ros.eval.metrics import aggregate  # noqa: E402
from mamba_tracking_ros.eval.runner import (  # noqa: E402
    ModelSpec,
    TrackerSpec,
    evaluate_run,
    parse_modalities,
    run_sequence,
)
from mamba_tracking_ros.tracking.geometry import box_iou, xywh_to_xyxy  # noqa: E402
from mamba_tracking_ros.tracking.inference import PRECISIONS  # noqa: E402

ROOT = Path(__file__).resolve().parent


class _Truncated:
    """A TrackingSequence cut to its first ``n`` frames (boxes and per-frame arrays follow)."""

    def __init__(self, seq: object, n: int) -> None:
        """Wrap ``seq``; attribute access falls through to it except the truncated per-frame fields."""
        self._seq, self._n = seq, min(n, len(seq))

    def __len__(self) -> int:
        """Number of frames kept."""
        return self._n

    def __getattr__(self, name: str) -> object:
        """Per-frame arrays (boxes, valid, occlusion flags) are cut; everything else is the sequence's."""
        value = getattr(self._seq, name)
        if name in ("boxes", "valid", "full_occlusion", "out_of_view") and value is not None:
            return value[: self._n]
        return value


def paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame IoU of two (n, 4) xywh box arrays."""
    return np.array([box_iou(xywh_to_xyxy(p), xywh_to_xyxy(q))[0, 0] for p, q in zip(a, b, strict=True)])


def main(argv: list[str] | None = None) -> int:
    """Run fp32 and the reduced precisions over the test split; print a table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default="data/composite/test", help="test split folder (make-data --split test)"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or auto")
    parser.add_argument(
        "--precision", nargs="+", default=["bf16"], choices=[p for p in PRECISIONS if p != "fp32"]
    )
    parser.add_argument("--max-sequences", type=int, default=3)
    parser.add_argument("--max-frames", type=int, default=0, help="cut each sequence (0: whole sequences)")
    parser.add_argument("--modalities", default="rgb", help="comma-separated subset of rgb,thermal,events")
    parser.add_argument("--init", default="box", choices=["box", "text", "both"])
    parser.add_argument("--config", default="small")
    parser.add_argument("--checkpoint", default="default", help="'default' (shipped), a file, or 'none'")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "results" / "bench_precision.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not Path(args.data).is_dir():
        print(f"data: {args.data} not found; run: mamba-tracking make-data --split test --out {args.data}")
        return 2
    reader = open_dataset("project", args.data)
    names = reader.sequences()[: args.max_sequences] if args.max_sequences > 0 else reader.sequences()
    spec = TrackerSpec("mamba", init=args.init, modalities=parse_modalities(args.modalities))
    checkpoint = None if args.checkpoint == "none" else args.checkpoint

    def model(precision: str) -> ModelSpec:
        """Same network for every precision (the overrides do not change the cached network)."""
        return ModelSpec(
            config=args.config,
            checkpoint=checkpoint,
            device=args.device,
            tracker_overrides=(("precision", precision),),
        )

    per_seq: list[dict[str, object]] = []
    results: dict[str, list] = {p: [] for p in ("fp32", *args.precision)}
    times: dict[str, list[float]] = {p: [] for p in results}
    all_ious: dict[str, list[np.ndarray]] = {p: [] for p in args.precision}
    for name in names:
        seq = reader.sequence(name)
        if args.max_frames > 0:
            seq = _Truncated(seq, args.max_frames)
        runs = {}
        for precision in results:
            run = run_sequence(seq, spec, model(precision))
            runs[precision] = run
            results[precision].append(evaluate_run(seq, run.boxes, args.init))
            times[precision].extend(run.times[1:].tolist())
        row: dict[str, object] = {"sequence": name, "frames": len(seq)}
        for precision in args.precision:
            overlap = paired_iou(runs["fp32"].boxes[1:], runs[precision].boxes[1:])
            all_ious[precision].append(overlap)
            row[f"{precision}_mean_iou_vs_fp32"] = float(overlap.mean())
        row.update({f"{p}_auc": results[p][-1].auc for p in results})
        per_seq.append(row)
        print(f"  {name}: " + ", ".join(f"{k}={v:.3f}" for k, v in row.items() if isinstance(v, float)))

    summary: dict[str, dict[str, float]] = {}
    for precision in results:
        entry = {
            "auc": aggregate(results[precision]).auc,
            "ms_per_frame": 1e3 * float(np.mean(times[precision])),
        }
        if precision != "fp32":
            overlap = np.concatenate(all_ious[precision])
            entry.update(
                mean_iou_vs_fp32=float(overlap.mean()),
                median_iou_vs_fp32=float(np.median(overlap)),
                frac_iou_gt_0_9=float((overlap > 0.9).mean()),
                frames=int(overlap.size),
            )
        summary[precision] = entry
    header = f"{'precision':<10}{'AUC':>8}{'mean IoU':>10}{'median IoU':>12}{'IoU>0.9':>9}{'ms/frame':>10}"
    print(header)
    print("-" * len(header))
    for precision, e in summary.items():
        mean = e.get("mean_iou_vs_fp32", 1.0)
        median = e.get("median_iou_vs_fp32", 1.0)
        frac = e.get("frac_iou_gt_0_9", 1.0)
        print(
            f"{precision:<10}{e['auc']:>8.2f}{mean:>10.3f}{median:>12.3f}{frac:>9.3f}{e['ms_per_frame']:>10.1f}"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "bench_precision",
        "device": args.device,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "threads": args.threads,
        "config": args.config,
        "checkpoint": args.checkpoint,
        "spec": spec.name,
        "max_frames": args.max_frames,
        "sequences": per_seq,
        "summary": summary,
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
