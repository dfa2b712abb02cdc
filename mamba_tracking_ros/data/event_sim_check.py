"""Check of the frames-to-events simulator against a real DAVIS346 recording (event statistics, sim vs real).

The simulator (:mod:`mamba_tracking_ros.data.event_sim`) is fed with the recording's own APS frames; its
events between two consecutive frames are compared with the real DVS events of the same time window
``[t_i, t_{i+1})``: event rate (events/s), polarity balance (ON fraction) and where the events fall
(Pearson correlation of event counts on a coarse 13 x 17 block grid of the sensor), per window and per half.

Calibration uses the first half of the windows only; the second half validates
    * ``background_rate_hz`` (the real sensor's own noise): the median over 20 x 20-pixel blocks of the real
      per-pixel event rate (most blocks see a static scene, so the median is the noise floor);
    * ``log_eps`` (the offset in ``L = log(I + eps)``, in the role of the photodiode's dark current): picked
      from a small grid as the value whose simulated block map best matches the real one. The APS frames
      carry read noise (about 3 DN temporal std here) that the DVS pixel does not see; with a small eps
      that noise is amplified in dark pixels and becomes spurious events, a larger eps suppresses it;
    * the contrast threshold (geometric mean of ON and OFF, bisection so that the simulated event count of
      the first half equals the real one) and the ON/OFF threshold ratio (bisection on the first half's ON
      fraction; a DVS sets its ON and OFF thresholds with separate biases, so they differ).
    The second half is never used for fitting: its rate, ON fraction and block correlation are predictions.

Tolerances, on the validation half (the fit half is reported too)
    * rate within +-20 %: the real rate varies by about +-10 % between 40 ms windows and drifts by about
      -7 % between the halves as the traffic changes; frame-based simulation interpolates log intensity
      linearly over 40 ms although a car edge moves tens of pixels in that time, and APS read noise leaks
      into the simulated stream, so a simulator that follows the scene is expected within +-20 %; a
      threshold off by a factor 1.5 changes the rate by more than that (tested);
    * ON fraction within +-0.03 (absolute): the real per-window ON fraction scatters by about 0.015 (std)
      around 0.52, so 0.03 is two window standard deviations; swapping the fitted ON/OFF ratio or a
      factor-2 ON/OFF mismatch moves it by more (tested);
    * block correlation >= 0.8: events must come from where the real ones do (the moving cars), not from
      noise spread over the frame.

Frame notes: DV outputs the DAVIS APS ADC value (linear, no gamma by default); frames are divided by their
exposure time relative to the median exposure so that an auto-exposure change is not taken for a brightness
change (the bundled recording has a fixed 500 us exposure). ``Frame.timestamp`` is used as the frame time.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .aedat import AedatRecording, read_aedat
from .event_sim import EventSimConfig, EventSimulator

DEFAULT_AEDAT = Path(__file__).resolve().parents[2] / ".cache" / "footage" / "davis346" / "test_data.aedat4"
BLOCK_GRID = (13, 17)  # rows, columns of the coarse grid for the spatial comparison
EPS_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)  # candidate log_eps values, in the frame's DN


@dataclass(frozen=True)
class Tolerance:
    """Pass criteria of the check on the validation half (see module docstring for the justification)."""

    rate_rel: float = 0.20
    on_fraction_abs: float = 0.03
    min_block_corr: float = 0.8


@dataclass(frozen=True)
class Calibration:
    """Simulator settings fitted on the first half of the recording.

    ``threshold`` is the geometric mean of the ON and OFF thresholds and ``on_off_ratio`` their ratio:
    ``C_on = threshold * sqrt(ratio)``, ``C_off = threshold / sqrt(ratio)``.
    """

    threshold: float
    log_eps: float
    background_rate_hz: float
    on_off_ratio: float = 1.0
    refractory_us: float = 100.0
    threshold_sigma: float = 0.03

    def config(self) -> EventSimConfig:
        """The EventSimConfig these settings stand for."""
        root = float(np.sqrt(self.on_off_ratio))
        return EventSimConfig(
            pos_threshold=self.threshold * root,
            neg_threshold=self.threshold / root,
            threshold_sigma=self.threshold_sigma,
            refractory_us=self.refractory_us,
            background_rate_hz=self.background_rate_hz,
            log_eps=self.log_eps,
        )


@dataclass(frozen=True)
class PartStats:
    """Real vs simulated statistics over a set of windows."""

    t_start_us: int
    t_end_us: int
    real_rate: float
    sim_rate: float
    real_on_fraction: float
    sim_on_fraction: float
    block_corr: float

    @property
    def rate_error(self) -> float:
        """Relative rate error ``sim / real - 1``."""
        return self.sim_rate / self.real_rate - 1.0 if self.real_rate > 0 else float("inf")

    @property
    def on_error(self) -> float:
        """ON-fraction difference ``sim - real``."""
        return self.sim_on_fraction - self.real_on_fraction


@dataclass
class CheckResult:
    """Calibration, per-window and per-half statistics, and the verdict of one check run."""

    path: str
    calibration: Calibration
    tolerance: Tolerance
    windows: list[PartStats]
    fit: PartStats
    validate: PartStats
    overall: PartStats
    window_rate_corr: float
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when the validation half meets every tolerance."""
        return not self.failures

    def to_dict(self) -> dict:
        """JSON-ready summary (rates in events/s)."""

        def part(s: PartStats) -> dict:
            return {**asdict(s), "rate_error": s.rate_error, "on_error": s.on_error}

        return {
            "path": self.path,
            "calibration": asdict(self.calibration),
            "tolerance": asdict(self.tolerance),
            "fit_half": part(self.fit),
            "validation_half": part(self.validate),
            "overall": part(self.overall),
            "window_rate_corr": self.window_rate_corr,
            "windows": [part(w) for w in self.windows],
            "passed": self.passed,
            "failures": self.failures,
        }


@dataclass
class _SimRun:
    """Per-window simulated counts and the simulated block map of the windows run."""

    counts: np.ndarray
    on: np.ndarray
    blocks: list[np.ndarray]


def _block_map(x: np.ndarray, y: np.ndarray, height: int, width: int) -> np.ndarray:
    """Event counts on the coarse BLOCK_GRID."""
    rows, cols = BLOCK_GRID
    m = np.zeros(BLOCK_GRID)
    np.add.at(m, (y.astype(np.int64) * rows // height, x.astype(np.int64) * cols // width), 1)
    return m


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two maps (0 when one is constant)."""
    a, b = a.ravel(), b.ravel()
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _frames_for_sim(rec: AedatRecording) -> np.ndarray:
    """Grey float64 APS frames, normalised to the median exposure time."""
    frames = rec.frames.astype(np.float64)
    if frames.ndim == 4:
        frames = frames @ np.array([0.299, 0.587, 0.114])
    exposure = rec.frame_exposure_us.astype(np.float64)
    if (exposure > 0).all():
        frames *= (np.median(exposure) / exposure)[:, None, None]
    return frames


def simulate_windows(
    rec: AedatRecording, frames: np.ndarray, cfg: EventSimConfig, n: int, seed: int
) -> _SimRun:
    """Run the simulator on frames ``0 .. n`` and collect the events of the first ``n`` windows."""
    sim = EventSimulator(rec.height, rec.width, cfg, seed=seed)
    sim.reset(frames[0], int(rec.frame_t[0]))
    counts, on, blocks = np.zeros(n, np.int64), np.zeros(n, np.int64), []
    for i in range(n):
        ev = sim.step(frames[i + 1], int(rec.frame_t[i + 1]))
        counts[i], on[i] = len(ev.t), int(ev.p.sum())
        blocks.append(_block_map(ev.x, ev.y, rec.height, rec.width))
    return _SimRun(counts, on, blocks)


def _real_windows(rec: AedatRecording) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Real per-window counts, ON counts and block maps for windows ``[t_i, t_{i+1})``."""
    edges = np.searchsorted(rec.t, rec.frame_t, side="left")
    counts = np.diff(edges)
    on_cum = np.concatenate([[0], np.cumsum(rec.p.astype(np.int64))])
    on = np.diff(on_cum[edges])
    blocks = [
        _block_map(rec.x[a:b], rec.y[a:b], rec.height, rec.width)
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]
    return counts, on, blocks


def estimate_background_rate(rec: AedatRecording, t_start: int, t_end: int, block: int = 20) -> float:
    """Sensor noise floor: median over ``block`` x ``block`` pixel blocks of the real per-pixel event rate."""
    lo, hi = np.searchsorted(rec.t, [t_start, t_end], side="left")
    h, w = (rec.height // block) * block, (rec.width // block) * block
    keep = (rec.y[lo:hi] < h) & (rec.x[lo:hi] < w)
    counts = np.zeros((h // block, w // block))
    np.add.at(counts, (rec.y[lo:hi][keep] // block, rec.x[lo:hi][keep] // block), 1)
    return float(np.median(counts) / (block * block) / ((t_end - t_start) * 1e-6))


def fit_threshold(
    rec: AedatRecording, frames: np.ndarray, base: Calibration, target: int, n: int, seed: int
) -> float:
    """Contrast threshold whose simulated count over the first ``n`` windows equals ``target`` (bisection)."""
    lo, hi = 0.02, 2.0  # log-intensity units; the count decreases with the threshold
    for _ in range(14):
        mid = float(np.sqrt(lo * hi))
        count = simulate_windows(rec, frames, replace(base, threshold=mid).config(), n, seed).counts.sum()
        lo, hi = (mid, hi) if count > target else (lo, mid)
    return float(np.sqrt(lo * hi))


def fit_on_off_ratio(
    rec: AedatRecording, frames: np.ndarray, base: Calibration, target: float, n: int, seed: int
) -> float:
    """ON/OFF threshold ratio whose simulated ON fraction over the first ``n`` windows equals ``target``."""
    lo, hi = 0.25, 4.0  # the ON fraction decreases as the ON threshold grows relative to the OFF one
    for _ in range(10):
        mid = float(np.sqrt(lo * hi))
        run = simulate_windows(rec, frames, replace(base, on_off_ratio=mid).config(), n, seed)
        on_fraction = run.on.sum() / max(1, run.counts.sum())
        lo, hi = (mid, hi) if on_fraction > target else (lo, mid)
    return float(np.sqrt(lo * hi))


def calibrate(rec: AedatRecording, frames: np.ndarray, n_fit: int, seed: int = 0) -> Calibration:
    """Fit background rate, log_eps, threshold and ON/OFF ratio on the first ``n_fit`` windows only."""
    real_counts, real_on, real_blocks = _real_windows(rec)
    target = int(real_counts[:n_fit].sum())
    if target == 0:
        raise ValueError("aedat: no real events in the fit half; cannot calibrate the threshold")
    real_map = np.sum(real_blocks[:n_fit], axis=0)
    bg = estimate_background_rate(rec, int(rec.frame_t[0]), int(rec.frame_t[n_fit]))
    best: tuple[float, Calibration] | None = None
    for eps in EPS_GRID:
        base = Calibration(threshold=0.2, log_eps=eps, background_rate_hz=bg)
        cal = replace(base, threshold=fit_threshold(rec, frames, base, target, n_fit, seed))
        run = simulate_windows(rec, frames, cal.config(), n_fit, seed)
        corr = _corr(np.sum(run.blocks, axis=0), real_map)
        if best is None or corr > best[0]:
            best = (corr, cal)
    assert best is not None
    cal = best[1]
    on_target = float(real_on[:n_fit].sum() / target)
    cal = replace(cal, on_off_ratio=fit_on_off_ratio(rec, frames, cal, on_target, n_fit, seed))
    return replace(cal, threshold=fit_threshold(rec, frames, cal, target, n_fit, seed))


def _part(
    rec: AedatRecording, sim: _SimRun, real: tuple[np.ndarray, np.ndarray, list], a: int, b: int
) -> PartStats:
    """Statistics over windows ``a .. b-1``."""
    real_counts, real_on, real_blocks = real
    duration = (rec.frame_t[b] - rec.frame_t[a]) * 1e-6
    rc, sc = int(real_counts[a:b].sum()), int(sim.counts[a:b].sum())
    return PartStats(
        t_start_us=int(rec.frame_t[a]),
        t_end_us=int(rec.frame_t[b]),
        real_rate=rc / duration,
        sim_rate=sc / duration,
        real_on_fraction=float(real_on[a:b].sum() / rc) if rc else float("nan"),
        sim_on_fraction=float(sim.on[a:b].sum() / sc) if sc else float("nan"),
        block_corr=_corr(np.sum(sim.blocks[a:b], axis=0), np.sum(real_blocks[a:b], axis=0)),
    )


def run_check(
    path: str | Path = DEFAULT_AEDAT,
    tolerance: Tolerance | None = None,
    calibration: Calibration | None = None,
    seed: int = 0,
) -> CheckResult:
    """Calibrate on the first half (unless ``calibration`` is given), simulate all, judge the second half."""
    tolerance = tolerance or Tolerance()
    rec = read_aedat(path)
    if len(rec.frame_t) < 5:
        raise ValueError(f"aedat: {path}: needs at least 5 APS frames for the check, has {len(rec.frame_t)}")
    if len(rec.t) == 0:
        raise ValueError(f"aedat: {path}: has no DVS events")
    frames = _frames_for_sim(rec)
    n_windows = len(rec.frame_t) - 1
    n_fit = n_windows // 2
    if calibration is None:
        calibration = calibrate(rec, frames, n_fit, seed)
    sim = simulate_windows(rec, frames, calibration.config(), n_windows, seed)
    real = _real_windows(rec)
    windows = [_part(rec, sim, real, i, i + 1) for i in range(n_windows)]
    validate = _part(rec, sim, real, n_fit, n_windows)
    failures = []
    if not abs(validate.rate_error) <= tolerance.rate_rel:
        failures.append(f"rate: {validate.rate_error:+.1%} outside +-{tolerance.rate_rel:.0%}")
    if not abs(validate.on_error) <= tolerance.on_fraction_abs:
        failures.append(f"on_fraction: {validate.on_error:+.3f} outside +-{tolerance.on_fraction_abs}")
    if not validate.block_corr >= tolerance.min_block_corr:
        failures.append(f"block_corr: {validate.block_corr:.2f} below {tolerance.min_block_corr}")
    return CheckResult(
        path=str(path),
        calibration=calibration,
        tolerance=tolerance,
        windows=windows,
        fit=_part(rec, sim, real, 0, n_fit),
        validate=validate,
        overall=_part(rec, sim, real, 0, n_windows),
        window_rate_corr=_corr(sim.counts.astype(np.float64), real[0].astype(np.float64)),
        failures=failures,
    )


def format_table(result: CheckResult) -> str:
    """Per-window and per-half table of real vs simulated rate and ON fraction."""
    lines = [
        f"{'window':<10} {'t0 [ms]':>8} {'real ev/s':>10} {'sim ev/s':>10} {'err':>7} "
        f"{'real ON':>8} {'sim ON':>7} {'corr':>5}"
    ]
    t_ref = result.overall.t_start_us

    def row(name: str, s: PartStats) -> str:
        return (
            f"{name:<10} {(s.t_start_us - t_ref) / 1e3:>8.0f} {s.real_rate:>10.0f} {s.sim_rate:>10.0f} "
            f"{s.rate_error:>+7.1%} {s.real_on_fraction:>8.3f} {s.sim_on_fraction:>7.3f} {s.block_corr:>5.2f}"
        )

    lines += [row(f"{i:>3}", w) for i, w in enumerate(result.windows)]
    lines += [row("fit half", result.fit), row("val half", result.validate), row("overall", result.overall)]
    c, t = result.calibration, result.tolerance
    lines.append(
        f"calibration (first half): threshold={c.threshold:.4f} log_eps={c.log_eps:g} "
        f"background={c.background_rate_hz:.4f} Hz/px on/off ratio={c.on_off_ratio:.3f}; "
        f"per-window rate correlation {result.window_rate_corr:.2f}"
    )
    verdict = "PASS" if result.passed else "FAIL: " + "; ".join(result.failures)
    lines.append(
        f"tolerance (validation half): rate +-{t.rate_rel:.0%}, ON fraction +-{t.on_fraction_abs}, "
        f"block corr >= {t.min_block_corr} -> {verdict}"
    )
    return "\n".join(lines)


def write_json(result: CheckResult, out: str | Path) -> Path:
    """Write the result summary as JSON (creating parent folders)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    return out
