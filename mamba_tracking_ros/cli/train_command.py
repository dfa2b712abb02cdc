"""`mamba-tracking train`: train the tracker network on tracking sequences (CPU, one GPU, or torchrun DDP)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shlex
import sys
from typing import Any

from mamba_tracking_ros.cli.model_arguments import device_argument

LOG = logging.getLogger(__name__)


_TYPES: dict[str, Any] = {"int": int, "float": float, "str": str, "float | None": float, "str | None": str}


def add_train_options(parser: argparse.ArgumentParser) -> None:
    """One flag per ``TrainOptions`` field with ``cli`` metadata: name, default and help come from there."""
    from mamba_tracking_ros.train.engine import TrainOptions

    for f in dataclasses.fields(TrainOptions):
        spec = dict(f.metadata.get("cli", {}))
        if not spec:
            continue
        flag = spec.pop("flag", "--" + f.name.replace("_", "-"))
        if f.name == "device":  # checked against this machine like every command's --device
            spec["type"] = device_argument
        if spec.get("action") in ("append", "store_true", "store_false") or spec.get("required"):
            parser.add_argument(flag, dest=f.name, **spec)
            continue
        default = f.default
        shown = ",".join(default) if isinstance(default, tuple) else default
        if "type" not in spec and "choices" not in spec:
            spec["type"] = _TYPES[str(f.type)]
        spec["help"] = f"{spec['help']} (default: {shown})"
        parser.add_argument(flag, dest=f.name, default=default, **spec)


def train_options_from_args(args: argparse.Namespace, command: str = "") -> Any:
    """The ``TrainOptions`` a parsed ``train`` command line stands for."""
    from mamba_tracking_ros.train.engine import TrainOptions

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainOptions) if "cli" in f.metadata}
    return TrainOptions(**values, command=command)


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
    add_train_options(p)
    p.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    """Run training from parsed arguments; prints where the outputs are."""
    from mamba_tracking_ros.train.engine import train

    if os.environ.get("RANK", "0") == "0":  # under torchrun only rank 0 reports progress
        logging.getLogger("mamba_tracking_ros").setLevel(logging.INFO)
    opts = train_options_from_args(args, command=" ".join(shlex.quote(a) for a in sys.argv))
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
