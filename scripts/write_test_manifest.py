"""Maintainers: write a NEW fixed test split manifest (``data/splits/<version>.json``), once per version.

``make-data --split test|test2`` verifies what it renders against the committed manifest; when the generator,
crops or footage change on purpose, the split gets a new version name and this script writes its manifest
(it refuses to overwrite an existing one). Example::

    .venv/bin/python scripts/write_test_manifest.py --version test_v2 --out DATA/test_v2 --workers 2
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> int:
    """Parse the arguments and write the manifest (and the sequences with --out)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--version", required=True, help="new split version, test_vN or test2_vN")
    p.add_argument("--out", type=Path, default=None, help="also write the rendered sequences here")
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args()
    if not (args.version.startswith("test_v") or args.version.startswith("test2_v")):
        p.error(f"--version: expected test_vN or test2_vN, got {args.version!r}")
    from mamba_tracking_ros.data.splits import write_test_manifest

    try:
        path = write_test_manifest(args.version, workers=args.workers, out=args.out)
    except ValueError as exc:
        print(f"write_test_manifest: {exc}")
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
