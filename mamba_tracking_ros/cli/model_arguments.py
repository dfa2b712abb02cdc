"""The model flags every CLI command shares: --config, --checkpoint, --device, --threads, --seed.

One definition, so every command spells "shipped weights" (``default``), "random init" (``none``; ``''`` is
accepted too) and devices the same way and rejects a bad device before any work starts.
"""

from __future__ import annotations

import argparse

__all__ = ["add_model_arguments", "checkpoint_from_args", "device_argument"]


def device_argument(text: str) -> str:
    """argparse ``type`` of ``--device`` (auto, cpu, cuda, cuda:N), checked against this machine."""
    from mamba_tracking_ros.tracking.tracker import resolve_device

    try:
        resolve_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_model_arguments(
    parser: argparse.ArgumentParser,
    *,
    checkpoint: bool = True,
    threads_help: str | None = "torch CPU threads (0: torch's default)",
    seed_help: str | None = "torch seed before the model is built (the random init without a checkpoint)",
) -> None:
    """Add ``--config``, ``--checkpoint`` (unless ``checkpoint=False``), ``--device`` and, when their help is
    given, ``--threads`` and ``--seed``."""
    parser.add_argument("--config", default="small", help="model config name or YAML path (default: small)")
    if checkpoint:
        parser.add_argument(
            "--checkpoint",
            default="default",
            help="checkpoint file, 'default' (the weights shipped for --config) or 'none' (random init)",
        )
    parser.add_argument(
        "--device", default="auto", type=device_argument, help="auto, cpu, cuda or cuda:N (default: auto)"
    )
    if threads_help is not None:
        parser.add_argument("--threads", type=int, default=0, help=threads_help)
    if seed_help is not None:
        parser.add_argument("--seed", type=int, default=0, help=seed_help)


def checkpoint_from_args(args: argparse.Namespace) -> str | None:
    """``--checkpoint`` as the library takes it: None (random init), ``"default"`` or a path."""
    from mamba_tracking_ros.model.checkpoint import checkpoint_choice

    return checkpoint_choice(args.checkpoint)
