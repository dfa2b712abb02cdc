"""`mamba-tracking train`: train the tracker network on tracking sequences (CPU, one GPU, or torchrun DDP)."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys

LOG = logging.getLogger(__name__)


def _fraction(text: str) -> float:
    """argparse type: a float in [0, 1]."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the `train` sub-command."""
    p = subparsers.add_parser(
        "train",
        help="train the network on tracking sequences (CPU, GPU, or multi-GPU with torchrun)",
        description=(
            "Train the unified multimodal Mamba tracker from clips of tracking sequences (template + K "
            "search frames with carried SSM memory). Writes checkpoint_last.pt + train_state.pt (resume), "
            "model.pt (final export), train_log.csv and provenance.json into --out. Multi-GPU / multi-node: "
            "torchrun --nproc_per_node N -m mamba_tracking_ros.cli.main train ..."
        ),
    )
    p.add_argument("--config", default="small", help="model config name or YAML path (default: small)")
    p.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="FORMAT:ROOT[:SPLIT]",
        help="training sequences, e.g. project:data/train or lasot:/datasets/LaSOT (repeatable)",
    )
    p.add_argument("--out", required=True, help="output folder (checkpoints, logs, provenance)")
    p.add_argument("--steps", type=int, default=2000, help="optimizer steps (default: 2000)")
    p.add_argument("--batch-size", type=int, default=8, help="clips per step and process (default: 8)")
    p.add_argument("--clip-len", type=int, default=3, help="search frames per clip, BPTT length (default: 3)")
    p.add_argument("--lr", type=float, default=3e-4, help="peak AdamW learning rate (default: 3e-4)")
    p.add_argument("--weight-decay", type=float, default=0.05, help="AdamW weight decay (default: 0.05)")
    p.add_argument(
        "--warmup", type=_fraction, default=0.05, help="warm-up fraction of the run (default: 0.05)"
    )
    p.add_argument("--grad-clip", type=float, default=1.0, help="gradient norm clip, 0: off (default: 1.0)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--init-checkpoint", default=None, help="start from these weights (fine-tuning)")
    p.add_argument(
        "--freeze-stem",
        action="store_true",
        help="freeze the pretrained EfficientNet trunk (its projection still trains); ~10x faster on CPU",
    )
    p.add_argument(
        "--time-limit-min",
        type=float,
        default=None,
        help="stop after this many minutes (the cosine schedule then anneals by time) and export",
    )
    p.add_argument(
        "--steps-per-run",
        type=int,
        default=0,
        help="stop this invocation after N steps with a resumable state (continue with --resume); 0: off",
    )
    p.add_argument("--save-every", type=int, default=200, help="save a resumable checkpoint every N steps")
    p.add_argument(
        "--snapshot-every",
        type=int,
        default=0,
        help="also keep snapshots/step_NNNNNNN.pt every N steps, to pick one by validation AUC "
        "(scripts/select_checkpoint.py); 0: off",
    )
    p.add_argument("--log-every", type=int, default=10, help="CSV / TensorBoard row every N steps")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default: 0)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--amp", choices=("auto", "bf16", "off"), default="auto", help="auto: bf16 on CUDA")
    p.add_argument("--half", action="store_true", help="export model.pt in float16")
    p.add_argument("--max-sequences", type=int, default=0, help="at most N sequences per --data (0: all)")
    p.add_argument(
        "--init-modes",
        default="box,text,both",
        help="comma list of box, text, both: how clips initialise the track (default: all three)",
    )
    p.add_argument("--p-global", type=_fraction, default=0.15, help="share of full-frame search views")
    p.add_argument("--max-frame-step", type=int, default=2, help="search frames 1..N frames apart")
    p.add_argument(
        "--no-modality-dropout",
        dest="modality_dropout",
        action="store_false",
        help="always train with all of a sequence's modalities",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no tqdm progress bar")
    p.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    """Run training from parsed arguments; prints where the outputs are."""
    from mamba_tracking_ros.train.engine import TrainOptions, train

    if os.environ.get("RANK", "0") == "0":  # under torchrun only rank 0 reports progress
        logging.getLogger("mamba_tracking_ros").setLevel(logging.INFO)
    modes = tuple(m.strip() for m in args.init_modes.split(",") if m.strip())
    opts = TrainOptions(
        data=list(args.data),
        out=args.out,
        config=args.config,
        steps=args.steps,
        batch_size=args.batch_size,
        clip_len=args.clip_len,
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup=args.warmup,
        grad_clip=args.grad_clip,
        seed=args.seed,
        device=args.device,
        resume=args.resume,
        init_checkpoint=args.init_checkpoint,
        freeze_stem=args.freeze_stem,
        time_limit_min=args.time_limit_min,
        steps_per_run=args.steps_per_run,
        save_every=args.save_every,
        snapshot_every=args.snapshot_every,
        log_every=args.log_every,
        workers=args.workers,
        threads=args.threads,
        amp=args.amp,
        half=args.half,
        max_sequences=args.max_sequences,
        init_modes=modes,
        p_global=args.p_global,
        max_frame_step=args.max_frame_step,
        modality_dropout=args.modality_dropout,
        progress=args.progress,
        command=" ".join(shlex.quote(a) for a in sys.argv),
    )
    try:
        result = train(opts)
    finally:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
    if result.final_checkpoint is not None:
        how = "time limit" if result.stopped_by_time else "steps done"
        print(
            f"trained to step {result.step} ({how}), {result.samples_per_s:.2f} clips/s; "
            f"model: {result.final_checkpoint}; data hash {result.data_hash[:16]}"
        )
    elif os.environ.get("RANK", "0") == "0":
        print(f"paused at step {result.step} of {args.steps}; continue with the same command plus --resume")
    return 0
