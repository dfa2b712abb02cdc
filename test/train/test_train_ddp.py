"""Distributed training: `torchrun --nproc_per_node 2` (gloo, CPU) keeps both ranks' weights identical."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tiny_model import write_tiny_yaml
from train_fixtures import write_project_tree

from mamba_tracking_ros.model.checkpoint import read_checkpoint


def test_torchrun_two_ranks_keep_identical_weights(tmp_path):
    """Two gloo ranks train on different clips; gradients are averaged, so both end bit-identical."""
    data = write_project_tree(tmp_path / "data", 2, 10, modalities=("rgb", "events"))
    cfg = tmp_path / "tiny.yaml"
    write_tiny_yaml(cfg, d_model=32, n_layers=1, global_search_size=64, ofm_hidden=8, head_channels=8)
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")  # the offline setting comes from conftest.py
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--standalone",
        "-m",
        "mamba_tracking_ros.cli.main",
        "train",
        "--config",
        str(cfg),
        "--data",
        f"project:{data}",
        "--out",
        str(out),
        "--steps",
        "3",
        "--batch-size",
        "2",
        "--clip-len",
        "2",
        "--init-modes",
        "box",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--log-every",
        "1",
        "--no-progress",
    ]
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        cmd,
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both of its workers
        output, _ = proc.communicate()
        raise AssertionError("torchrun did not finish in 120 s:\n" + output[-3000:]) from None
    assert proc.returncode == 0, output[-3000:]
    ranks = json.loads((out / "ranks.json").read_text())
    assert sorted(r["rank"] for r in ranks) == [0, 1]
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert ranks[0]["first_batch"] != ranks[1]["first_batch"]  # each rank drew its own clips
    payload = read_checkpoint(out / "model.pt")
    assert payload["meta"]["weights_sha256"] == ranks[0]["weights"]
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["world_size"] == 2
    rows = (out / "train_log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]  # rank 0 alone writes the log
