"""Frames-to-events simulator of a DVS event camera (in the spirit of ESIM, Rebecq et al. CoRL 2018, and v2e).

Each pixel keeps a reference log intensity ``ref`` (the level of its last threshold crossing). Between two
frames at ``t0`` and ``t1`` the log intensity ``L(t) = log(I + log_eps)`` is linearly interpolated from ``L0``
to ``L1``. If it rises, it crosses the ON levels ``ref + k * C_on`` for ``k = 1 .. floor((L1 - ref) / C_on)``;
if it falls, the OFF levels ``ref - k * C_off`` for ``k = 1 .. floor((ref - L1) / C_off)`` (ESIM eq. 1:
an event fires when ``|L(t) - ref| >= C``). Crossing ``k`` happens at

    ``t_k = t0 + (ref + sign * k * C - L0) / (L1 - L0) * (t1 - t0)``

and the reference then moves by ``sign * n * C`` (the pixel resets at every crossing). ``C_on`` and ``C_off``
are per-pixel thresholds: the nominal value plus a gaussian mismatch fixed per pixel by the seed.

Refractory period: an event is dropped when it comes less than ``refractory_us`` after the previous *emitted*
event of the same pixel (the check uses the continuous crossing times). The reference still advances for a
dropped crossing. Within one frame interval a pixel's crossings are evenly spaced by
``dt_c = C / |L1 - L0| * (t1 - t0)``, so the survivors are ``k_first, k_first + m, k_first + 2m, ...`` with
``m = ceil(refractory / dt_c)`` and ``k_first`` the first crossing at least ``refractory`` after the pixel's
last emitted event: they are computed in closed form, without looping over events or pixels.

Background activity (leak / shot noise): ``Poisson(rate_hz * H * W * dt)`` extra events per interval on
uniformly random pixels, at uniformly random times in ``(t0, t1]``, each polarity with probability 1/2. They
neither move the reference nor restart the refractory timer.

Events are returned sorted by time (stable, so equal times keep pixel-major order) as ``Events`` with ``x``,
``y`` (int32 pixel column/row), ``t`` (int64 microseconds, crossing times rounded to the nearest microsecond)
and ``p`` (int8, 1 ON, 0 OFF).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..frame import EventWindow

_TOL = 1e-9  # slack (in thresholds / refractory periods) so exact multiples count as reached despite rounding


@dataclass(frozen=True)
class EventSimConfig:
    """Contrast thresholds, their per-pixel mismatch, refractory period and noise of the simulated DVS."""

    pos_threshold: float = 0.2  # ON contrast threshold, log-intensity units
    neg_threshold: float = 0.2  # OFF contrast threshold, log-intensity units
    threshold_sigma: float = 0.03  # per-pixel gaussian threshold mismatch (fixed by the seed)
    min_threshold: float = 0.01  # floor applied to the per-pixel thresholds after the mismatch
    refractory_us: float = 100.0  # minimum time between two emitted events of a pixel
    background_rate_hz: float = 0.1  # background-activity events per pixel per second
    log_eps: float = 1.0  # added before the log: L = log(I + log_eps), in the frame's intensity units

    def __post_init__(self) -> None:
        """Validate every field, naming the offending one."""
        for name in ("pos_threshold", "neg_threshold", "min_threshold", "log_eps"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name}: must be finite and > 0, got {value}")
        for name in ("threshold_sigma", "refractory_us", "background_rate_hz"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: must be finite and >= 0, got {value}")


class Events(NamedTuple):
    """A batch of events sorted by time: pixel ``x``, ``y``, time ``t`` (us), polarity ``p`` (1 ON, 0 OFF)."""

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    p: np.ndarray

    def to_window(self, t_start: int | None = None, t_end: int | None = None) -> EventWindow:
        """Wrap the batch as the tracker's ``EventWindow`` over ``[t_start, t_end]``."""
        return EventWindow(x=self.x, y=self.y, t=self.t, p=self.p, t_start=t_start, t_end=t_end)


def _empty_events() -> Events:
    """An empty, correctly typed batch."""
    return Events(np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.int8))


class EventSimulator:
    """Stateful per-pixel DVS model fed with grayscale frames in time order (see module docstring)."""

    def __init__(self, height: int, width: int, cfg: EventSimConfig | None = None, seed: int = 0) -> None:
        """Set the sensor size, configuration and the seed of the threshold mismatch and background noise."""
        if int(height) != height or height < 1:
            raise ValueError(f"height: must be a positive integer, got {height}")
        if int(width) != width or width < 1:
            raise ValueError(f"width: must be a positive integer, got {width}")
        self.height, self.width = int(height), int(width)
        self.cfg = cfg if cfg is not None else EventSimConfig()
        mismatch_rng = np.random.default_rng([seed, 0])
        shape = (self.height, self.width)
        c = self.cfg
        self.pos_thresholds = np.maximum(
            c.pos_threshold + c.threshold_sigma * mismatch_rng.standard_normal(shape), c.min_threshold
        ).reshape(-1)
        self.neg_thresholds = np.maximum(
            c.neg_threshold + c.threshold_sigma * mismatch_rng.standard_normal(shape), c.min_threshold
        ).reshape(-1)
        self._noise_rng = np.random.default_rng([seed, 1])
        self._ref: np.ndarray | None = None
        self._last_log: np.ndarray | None = None
        self._last_event_t: np.ndarray | None = None
        self._t: int | None = None

    def _log_intensity(self, frame_gray: np.ndarray) -> np.ndarray:
        """Validated flat float64 log intensity ``log(I + log_eps)`` of a frame."""
        frame = np.asarray(frame_gray)
        if frame.shape != (self.height, self.width):
            raise ValueError(f"frame_gray: expected shape {(self.height, self.width)}, got {frame.shape}")
        frame = frame.astype(np.float64).reshape(-1)
        if not np.isfinite(frame).all() or (frame < 0).any():
            raise ValueError("frame_gray: values must be finite and >= 0")
        return np.log(frame + self.cfg.log_eps)

    def reset(self, first_frame_gray: np.ndarray, t_us: int) -> None:
        """Start a stream: the references take the first frame's log intensity; no refractory history."""
        log_i = self._log_intensity(first_frame_gray)
        self._ref = log_i.copy()
        self._last_log = log_i
        self._last_event_t = np.full(log_i.size, -np.inf)
        self._t = int(t_us)

    def step(self, frame_gray: np.ndarray, t_us: int) -> Events:
        """Events between the previous frame and this one (at ``t_us`` > previous time), sorted by time."""
        if self._ref is None:
            raise RuntimeError("EventSimulator.step called before reset")
        t0, t1 = self._t, int(t_us)
        if t1 <= t0:
            raise ValueError(f"t_us: must increase, got {t1} after {t0}")
        L0, L1, ref = self._last_log, self._log_intensity(frame_gray), self._ref
        dt = float(t1 - t0)
        dL = L1 - L0
        rising = dL > 0
        thr = np.where(rising, self.pos_thresholds, self.neg_thresholds)
        sign = np.where(rising, 1.0, -1.0)
        n = np.floor(sign * (L1 - ref) / thr + _TOL).astype(np.int64)
        n[(n < 0) | (dL == 0)] = 0

        pix = np.flatnonzero(n)
        n_p, thr_p, sign_p = n[pix], thr[pix], sign[pix]
        # Crossing times are linear in k: t_k = t_1 + (k - 1) * spacing, spacing = C / |dL| * dt.
        slope = dt / dL[pix]
        t_first = t0 + (ref[pix] + sign_p * thr_p - L0[pix]) * slope
        spacing = thr_p * np.abs(slope)
        R = self.cfg.refractory_us
        if R > 0:
            gap = R - (
                t_first - self._last_event_t[pix]
            )  # how much later than t_1 the first survivor must be
            k_first = 1 + np.maximum(0, np.ceil(gap / spacing - _TOL)).astype(np.int64)
            m = np.maximum(1, np.ceil(R / spacing - _TOL)).astype(np.int64)
        else:
            k_first = np.ones_like(n_p)
            m = np.ones_like(n_p)
        n_keep = np.where(k_first <= n_p, (n_p - k_first) // m + 1, 0)

        # Expand to one row per surviving event (no Python loop over events or pixels).
        total = int(n_keep.sum())
        owner = np.repeat(np.arange(pix.size), n_keep)
        within = np.arange(total) - np.repeat(np.cumsum(n_keep) - n_keep, n_keep)
        k = k_first[owner] + within * m[owner]
        ev_pix = pix[owner]
        ev_t = t0 + (ref[ev_pix] + sign_p[owner] * k * thr_p[owner] - L0[ev_pix]) * slope[owner]
        ev_p = (sign_p[owner] > 0).astype(np.int8)

        # State: references advance by every crossing; the refractory clock keeps the last emitted time.
        self._ref = ref + sign * n * thr
        fired = n_keep > 0
        k_last = k_first[fired] + (n_keep[fired] - 1) * m[fired]
        self._last_event_t[pix[fired]] = t_first[fired] + (k_last - 1) * spacing[fired]
        self._last_log = L1
        self._t = t1

        t_int = np.clip(np.rint(ev_t), t0, t1).astype(np.int64)
        bx, by, bt, bp = self._background(t0, t1)
        x = np.concatenate([(ev_pix % self.width).astype(np.int32), bx])
        y = np.concatenate([(ev_pix // self.width).astype(np.int32), by])
        t = np.concatenate([t_int, bt])
        p = np.concatenate([ev_p, bp])
        order = np.argsort(t, kind="stable")
        return Events(x[order], y[order], t[order], p[order])

    def _background(self, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Background-activity events: Poisson count, uniform pixels, uniform times in (t0, t1], random p."""
        rate = self.cfg.background_rate_hz
        if rate <= 0:
            e = _empty_events()
            return e.x, e.y, e.t, e.p
        rng = self._noise_rng
        count = int(rng.poisson(rate * self.height * self.width * (t1 - t0) * 1e-6))
        flat = rng.integers(0, self.height * self.width, size=count)
        t = t1 - np.floor(rng.uniform(0.0, float(t1 - t0), size=count)).astype(np.int64)
        p = rng.integers(0, 2, size=count).astype(np.int8)
        return (flat % self.width).astype(np.int32), (flat // self.width).astype(np.int32), t, p
