"""The embedded default sequence, the `mamba-tracking demo` command and the README's Python example."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import skimage.data
from tiny_model import write_tiny_yaml

from mamba_tracking_ros.cli.main import main
from mamba_tracking_ros.data.demo_sequence import TARGET_IN_STILL, demo_sequence

ROOT = Path(__file__).resolve().parents[2]


def test_demo_sequence_ground_truth_is_exact():
    """Each frame's RGB inside the ground-truth box is exactly the target's pixels in the still."""
    still = skimage.data.astronaut()
    x, y, w, h = (int(v) for v in TARGET_IN_STILL)
    target = still[y : y + h, x : x + w]
    frames = list(demo_sequence(12, seed=1))
    positions = set()
    for item in frames:
        bx, by, bw, bh = (int(v) for v in item.box)
        np.testing.assert_array_equal(item.frame.rgb[by : by + bh, bx : bx + bw], target)
        positions.add((bx, by))
        thermal = item.frame.thermal.astype(np.float64)
        inside = thermal[by : by + bh, bx : bx + bw].mean()
        assert inside > thermal.mean() + 500  # the simulated warm target stands out
        if item.frame.events is not None:
            assert len(item.frame.events) > 0 and np.all(np.diff(item.frame.events.t) >= 0)
    assert len(positions) > 6  # the camera really pans
    assert frames[0].frame.events is None and all(f.frame.events is not None for f in frames[1:])


def test_demo_command_runs_and_summarises(capsys, tmp_path):
    """`mamba-tracking demo` writes the sample bag, replays it through the nodes, retargets, reports."""
    config = write_tiny_yaml(tmp_path / "tiny.yaml")
    out = tmp_path / "demo"
    args = ["demo", "--output-dir", str(out), "--frames", "6", "--width", "160", "--height", "120"]
    assert main([*args, "--config", str(config), "--checkpoint", "none", "--threads", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["frames"] == 6 and summary["metrics"] is not None
    assert len(summary["sentences_sent"]) == 2  # initial sentence + the retarget midway
    assert any("randomly initialised" in line for line in lines)
    for name in ("sample_bag/metadata.yaml", "tracking_bag/metadata.yaml", "tracking.gif", "tracking.png"):
        assert (out / name).is_file()


def test_demo_command_reports_bad_config(capsys):
    """A missing config is a one-line error and exit code 2, not a traceback."""
    assert main(["demo", "--config", "no-such-config"]) == 2
    assert "no-such-config" in capsys.readouterr().err


def test_readme_python_example_runs():
    """The README's Python API example runs as written and its last line shows the forced relocalisation."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks, "README has no python example"
    proc = subprocess.run(
        [sys.executable, "-c", blocks[0]], capture_output=True, text=True, timeout=300, cwd=ROOT, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "global"
