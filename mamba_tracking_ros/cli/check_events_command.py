"""`mamba-tracking check-events`: compare the event simulator with a real DAVIS recording."""

from __future__ import annotations

import argparse


def run_check_events(args: argparse.Namespace) -> int:
    """Run the sim-vs-real event check, print the table, optionally write JSON; exit 1 when it fails."""
    from ..data.event_sim_check import DEFAULT_AEDAT, format_table, run_check, write_json

    result = run_check(args.aedat or DEFAULT_AEDAT, seed=args.seed)
    print(format_table(result))
    if args.json:
        print(f"wrote {write_json(result, args.json)}")
    return 0 if result.passed else 1


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the `check-events` sub-command."""
    parser = subparsers.add_parser(
        "check-events",
        help="simulate events from a recording's APS frames and compare with its real events",
        description="Fit the simulator on the first half of an .aedat4 recording, validate on the rest.",
    )
    parser.add_argument("--aedat", default=None, help="DAVIS .aedat4 file (default: bundled DAVIS346 clip)")
    parser.add_argument("--json", default=None, help="write the result as JSON to this path")
    parser.add_argument("--seed", type=int, default=0, help="seed of threshold mismatch and noise")
    parser.set_defaults(func=run_check_events)
