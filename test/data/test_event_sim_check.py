"""The event simulator vs the real DAVIS346 recording: calibrated on the first half, judged on the second."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mamba_tracking_ros.cli.main import main
from mamba_tracking_ros.data.aedat import read_aedat
from mamba_tracking_ros.data.event_sim_check import DEFAULT_AEDAT, CheckResult, Tolerance, run_check


@pytest.fixture(scope="module")
def result() -> CheckResult:
    """One calibrated check run on the bundled recording."""
    return run_check(DEFAULT_AEDAT)


def test_simulator_matches_real_recording_within_stated_tolerance(result: CheckResult) -> None:
    tol = Tolerance()
    val = result.validate
    assert abs(val.sim_rate / val.real_rate - 1) <= tol.rate_rel, result.failures
    assert abs(val.sim_on_fraction - val.real_on_fraction) <= tol.on_fraction_abs, result.failures
    assert val.block_corr >= tol.min_block_corr, result.failures
    assert result.passed and result.failures == []
    # The fit reproduces the first half's event count (bisection on the threshold).
    assert result.fit.sim_rate == pytest.approx(result.fit.real_rate, rel=0.02)


def test_statistics_agree_with_an_independent_count_of_the_real_events(result: CheckResult) -> None:
    rec = read_aedat(DEFAULT_AEDAT)
    assert len(result.windows) == len(rec.frame_t) - 1
    t0, t1 = rec.frame_t[len(result.windows) // 2], rec.frame_t[-1]
    inside = (rec.t >= t0) & (rec.t < t1)
    assert result.validate.real_rate == pytest.approx(inside.sum() / ((t1 - t0) * 1e-6))
    assert result.validate.real_on_fraction == pytest.approx(rec.p[inside].mean())
    # Per-window real rates average (time-weighted, equal windows) to the overall rate.
    rates = np.array([w.real_rate for w in result.windows])
    durations = np.diff(rec.frame_t) * 1e-6
    assert (rates * durations).sum() / durations.sum() == pytest.approx(result.overall.real_rate)


@pytest.mark.parametrize(
    ("change", "metric"),
    [
        (lambda c: replace(c, threshold=c.threshold * 1.5), "rate"),
        (lambda c: replace(c, threshold=c.threshold / 1.5), "rate"),
        (lambda c: replace(c, on_off_ratio=1.0 / c.on_off_ratio**2), "on_fraction"),
        (lambda c: replace(c, log_eps=1.0), "block_corr"),
    ],
)
def test_wrong_simulator_settings_fail_the_check(result: CheckResult, change, metric: str) -> None:
    bad = run_check(DEFAULT_AEDAT, calibration=change(result.calibration))
    assert not bad.passed
    assert any(f.startswith(metric) for f in bad.failures), bad.failures


def test_cli_prints_table_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "check.json"
    assert main(["check-events", "--aedat", str(DEFAULT_AEDAT), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "val half" in text and "PASS" in text
    data = json.loads(out.read_text())
    assert data["passed"] is True
    assert len(data["windows"]) == len(read_aedat(DEFAULT_AEDAT).frame_t) - 1
    assert abs(data["validation_half"]["rate_error"]) <= data["tolerance"]["rate_rel"]


def test_cli_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-events", "--aedat", str(tmp_path / "none.aedat4")]) == 2
    assert "file not found" in capsys.readouterr().err
