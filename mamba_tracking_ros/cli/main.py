"""`mamba-tracking`: the project's command line (`demo`, and one module per further sub-command)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# Each module here defines `add_parser(subparsers) -> None`, which adds one sub-command and sets its `func`.
_COMMAND_MODULES: tuple[str, ...] = (
    "eval_command",
    "check_events_command",
    "train_command",
    "make_data_command",
    "replay_command",
    "demo_command",
    "track_command",
)


def build_parser() -> argparse.ArgumentParser:
    """The `mamba-tracking` argument parser."""
    parser = argparse.ArgumentParser(prog="mamba-tracking", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for module_name in _COMMAND_MODULES:
        importlib.import_module(f"{__package__}.{module_name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mamba-tracking` console script."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"mamba-tracking {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
