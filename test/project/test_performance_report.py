"""benchmarks/performance_report.py on a real (tiny) benchmark run: tables, plots, and honest gaps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_common import loglog_slope  # noqa: E402
from performance_report import load_results, write_report  # noqa: E402


@pytest.fixture(scope="module")
def ssm_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder holding one real bench_ssm.py run at two short lengths."""
    root = tmp_path_factory.mktemp("results")
    (root / "cpu").mkdir()
    out = root / "cpu" / "bench_ssm.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_ssm.py"), "--quick", "--lengths", "64", "160"]
    subprocess.run([*cmd, "--out", str(out)], check=True, capture_output=True, timeout=300, cwd=ROOT)
    return root


def test_report_tables_come_from_the_json_and_gaps_are_named(ssm_results: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    path = write_report(ssm_results, docs)
    text = path.read_text()
    rows = json.loads((ssm_results / "cpu" / "bench_ssm.json").read_text())["rows"]
    scan = {r["length"]: r["ms"] for r in rows if r["kind"] == "scan" and r["pass"] == "fwd"}
    assert set(scan) == {64, 160}
    assert "| L=64 | L=160 |" in text
    assert f"{scan[160]:.2f}" in text  # the measured value, not a constant
    assert (docs / "performance" / "scan_kernels.png").stat().st_size > 1000
    assert (docs / "performance" / "cpu" / "bench_ssm.json").is_file()  # raw JSON kept beside the report
    # Benchmarks that did not run are reported as not measured, never as numbers.
    assert "Not measured (no `bench_scaling.json`)" in text
    assert "| `base`, RGB+T+E + sentence, H100 (batch 1) | >= 150 FPS | not measured | - |" in text
    assert "GPU: **not measured**" in text


def test_broken_json_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "bench_tracker.json").write_text("{not json")
    with pytest.raises(ValueError, match="bench_tracker.json"):
        load_results(tmp_path)


def test_loglog_slope_recovers_the_exponent() -> None:
    xs = [100.0, 200.0, 400.0, 800.0]
    assert loglog_slope([(x, 3.0 * x) for x in xs]) == pytest.approx(1.0)
    assert loglog_slope([(x, 0.5 * x * x) for x in xs]) == pytest.approx(2.0)
    assert loglog_slope([(100.0, 1.0)]) is None
