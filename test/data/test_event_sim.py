"""Tests of the frames-to-events DVS simulator: crossings, sub-frame timestamps, refractory period, noise."""

from __future__ import annotations

import time

import numpy as np
import pytest
import skimage.data

from mamba_tracking_ros.data.event_sim import EventSimConfig, EventSimulator

IDEAL = EventSimConfig(threshold_sigma=0.0, refractory_us=0.0, background_rate_hz=0.0, log_eps=1.0)


def intensity_for_log(level: float, eps: float = 1.0) -> float:
    """Intensity whose log(I + eps) equals ``level``."""
    return float(np.exp(level) - eps)


def as_tuples(ev) -> list[tuple[int, int, int, int]]:
    """Events as (x, y, t, p) python tuples in their emitted order."""
    return list(zip(ev.x.tolist(), ev.y.tolist(), ev.t.tolist(), ev.p.tolist()))


def test_k_threshold_rise_gives_k_on_events_at_interpolated_times():
    C = IDEAL.pos_threshold
    base = np.log(11.0)
    sim = EventSimulator(1, 3, IDEAL)
    sim.reset(np.full((1, 3), 10.0), 0)
    # Step 1 (0 -> 1000 us): +0.5 C everywhere, below threshold, no events; references stay at `base`.
    frame1 = np.full((1, 3), intensity_for_log(base + 0.5 * C))
    assert sim.step(frame1, 1000).t.size == 0
    # Step 2 (1000 -> 2000 us): pixels reach base + 3C, + 1C, + 0.9C.
    levels = np.array([[base + 3 * C, base + 1 * C, base + 0.9 * C]])
    ev = sim.step(np.vectorize(intensity_for_log)(levels), 2000)
    # Pixel 0: crossings at base + kC, log goes 0.5C -> 3C over 1000 us: s = (k - 0.5) / 2.5 -> 0.2, 0.6, 1.0.
    # Pixel 1: log goes 0.5C -> 1C: crossing k=1 at s = 0.5 / 0.5 = 1.0. Pixel 2: none.
    assert sorted(as_tuples(ev)) == sorted(
        [(0, 0, 1200, 1), (0, 0, 1600, 1), (0, 0, 2000, 1), (1, 0, 2000, 1)]
    )


def test_darkening_gives_off_events_with_off_threshold():
    cfg = EventSimConfig(
        pos_threshold=0.2, neg_threshold=0.3, threshold_sigma=0.0, refractory_us=0.0, background_rate_hz=0.0
    )
    sim = EventSimulator(2, 2, cfg)
    sim.reset(np.full((2, 2), 100.0), 5000)
    target = np.full((2, 2), 100.0)
    target[1, 0] = intensity_for_log(np.log(101.0) - 2 * 0.3)
    ev = sim.step(target, 6000)
    assert as_tuples(ev) == [(0, 1, 5500, 0), (0, 1, 6000, 0)]  # two OFF, at half and full interval


def test_no_change_without_noise_gives_no_events():
    rng = np.random.default_rng(0)
    frame = rng.uniform(0, 255, (20, 30))
    sim = EventSimulator(20, 30, EventSimConfig(background_rate_hz=0.0))
    sim.reset(frame, 0)
    for i in range(1, 5):
        assert sim.step(frame, i * 10_000).t.size == 0
    # Sub-threshold flicker (well below the smallest per-pixel threshold) also produces nothing.
    small = np.exp(np.log(frame + 1.0) + 0.004 * rng.standard_normal(frame.shape)) - 1.0
    assert sim.step(np.clip(small, 0, None), 50_000).t.size == 0


def test_refractory_period_drops_close_events_within_and_across_frames():
    C = 0.2
    cfg = EventSimConfig(threshold_sigma=0.0, refractory_us=250.0, background_rate_hz=0.0)
    sim = EventSimulator(1, 1, cfg)
    base = np.log(11.0)
    sim.reset(np.array([[10.0]]), 0)
    # 10 crossings evenly at 100, 200, ..., 1000 us; 250 us refractory keeps 100, 400, 700, 1000.
    ev = sim.step(np.array([[intensity_for_log(base + 10 * C)]]), 1000)
    assert ev.t.tolist() == [100, 400, 700, 1000]
    # Next interval: 10 more crossings at 1100 ... 2000; last emitted at 1000, so 1300, 1600, 1900 survive.
    ev = sim.step(np.array([[intensity_for_log(base + 20 * C)]]), 2000)
    assert ev.t.tolist() == [1300, 1600, 1900]
    # The reference advanced by all 20 crossings: going back to `base` gives 20 OFF crossings at 50-us steps,
    # thinned by the refractory period to every 5th starting at 2150 (>= 250 us after 1900).
    ev = sim.step(np.array([[10.0]]), 3000)
    assert ev.t.tolist() == [2150, 2400, 2650, 2900]
    assert (ev.p == 0).all()


def brute_force_events(frames, times, pos_thr, neg_thr, refractory, eps):
    """Per-pixel, per-crossing loop implementation of the documented model (reference for the test)."""
    h, w = frames[0].shape
    out = []
    for yy in range(h):
        for xx in range(w):
            i = yy * w + xx
            ref = np.log(frames[0][yy, xx] + eps)
            last = -np.inf
            for f0, f1, t0, t1 in zip(frames[:-1], frames[1:], times[:-1], times[1:]):
                l0, l1 = np.log(f0[yy, xx] + eps), np.log(f1[yy, xx] + eps)
                if l1 == l0:
                    continue
                sgn, c = (1, pos_thr[i]) if l1 > l0 else (-1, neg_thr[i])
                while sgn * (l1 - (ref + sgn * c)) >= -1e-9 * c:
                    ref = ref + sgn * c
                    t = t0 + (ref - l0) / (l1 - l0) * (t1 - t0)
                    if t - last >= refractory - 1e-6:
                        out.append((xx, yy, int(np.rint(t)), 1 if sgn > 0 else 0))
                        last = t
    return sorted(out)


def test_matches_per_event_reference_on_random_frames():
    rng = np.random.default_rng(42)
    h, w = 7, 9
    frames = [rng.uniform(0, 255, (h, w)) for _ in range(6)]
    times = [0, 30_000, 40_000, 75_000, 76_000, 110_000]
    cfg = EventSimConfig(threshold_sigma=0.05, refractory_us=900.0, background_rate_hz=0.0, log_eps=2.0)
    sim = EventSimulator(h, w, cfg, seed=3)
    sim.reset(frames[0], times[0])
    got = []
    for f, t in zip(frames[1:], times[1:]):
        got += as_tuples(sim.step(f, t))
    expected = brute_force_events(frames, times, sim.pos_thresholds, sim.neg_thresholds, 900.0, 2.0)
    assert len(expected) > 100
    assert sorted(got) == expected


def test_background_activity_rate_and_distribution():
    rate, h, w, dt, steps = 50.0, 64, 64, 10_000, 20
    sim = EventSimulator(h, w, EventSimConfig(background_rate_hz=rate), seed=1)
    frame = np.full((h, w), 80.0)
    sim.reset(frame, 0)
    xs, ts, ps, frac = [], [], [], []
    for i in range(1, steps + 1):
        ev = sim.step(frame, i * dt)
        assert ((ev.t > (i - 1) * dt) & (ev.t <= i * dt)).all()
        xs.append(ev.x)
        ps.append(ev.p)
        frac.append((ev.t - (i - 1) * dt) / dt)
        ts.append(ev.t)
    n = sum(len(x) for x in xs)
    expected = rate * h * w * steps * dt * 1e-6
    assert abs(n - expected) < 5 * np.sqrt(expected)
    p = np.concatenate(ps)
    assert abs(p.mean() - 0.5) < 5 * 0.5 / np.sqrt(n)
    assert abs(np.concatenate(frac).mean() - 0.5) < 0.01  # uniform in time within each interval
    assert abs(np.concatenate(xs).mean() - (w - 1) / 2) < 0.5  # uniform over columns


def test_output_sorted_and_typed():
    img = skimage.data.camera().astype(np.float64)
    sim = EventSimulator(96, 128, EventSimConfig(background_rate_hz=20.0), seed=0)
    sim.reset(img[:96, :128], 0)
    for i in range(1, 4):
        ev = sim.step(img[4 * i : 4 * i + 96, 3 * i : 3 * i + 128], i * 33_333)
        assert ev.t.size > 1000
        assert (np.diff(ev.t) >= 0).all()
        assert ev.t.dtype == np.int64 and ev.p.dtype == np.int8
        assert set(np.unique(ev.p).tolist()) <= {0, 1}
        assert ev.x.max() < 128 and ev.y.max() < 96 and ev.x.min() >= 0
        window = ev.to_window((i - 1) * 33_333, i * 33_333)
        assert len(window.t) == len(ev.t)


def test_threshold_mismatch_reproducible_per_seed():
    cfg = EventSimConfig(threshold_sigma=0.04)
    a, b, c = (EventSimulator(50, 60, cfg, seed=s) for s in (5, 5, 6))
    np.testing.assert_array_equal(a.pos_thresholds, b.pos_thresholds)
    np.testing.assert_array_equal(a.neg_thresholds, b.neg_thresholds)
    assert not np.array_equal(a.pos_thresholds, c.pos_thresholds)
    assert a.pos_thresholds.std() == pytest.approx(0.04, rel=0.1)
    assert a.pos_thresholds.mean() == pytest.approx(0.2, abs=0.005)
    img = skimage.data.camera().astype(np.float64)
    for sim in (a, b):
        sim.reset(img[:50, :60], 0)
    ea, eb = a.step(img[5:55, 5:65], 1000), b.step(img[5:55, 5:65], 1000)
    assert as_tuples(ea) == as_tuples(eb)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="pos_threshold"):
        EventSimConfig(pos_threshold=0.0)
    with pytest.raises(ValueError, match="refractory_us"):
        EventSimConfig(refractory_us=-1.0)
    sim = EventSimulator(4, 5)
    with pytest.raises(RuntimeError):
        sim.step(np.zeros((4, 5)), 10)
    sim.reset(np.zeros((4, 5)), 10)
    with pytest.raises(ValueError, match="frame_gray"):
        sim.step(np.zeros((5, 4)), 20)
    with pytest.raises(ValueError, match="t_us"):
        sim.step(np.zeros((4, 5)), 10)


def test_throughput_report():
    """Reports (does not assert) simulated frames and events per second on a 346x260 DAVIS-sized pan."""
    still = skimage.data.astronaut().astype(np.float64).mean(axis=2)
    sim = EventSimulator(260, 346, EventSimConfig(), seed=0)
    sim.reset(still[:260, :346], 0)
    n_frames, n_events = 20, 0
    start = time.perf_counter()
    for i in range(1, n_frames + 1):
        n_events += sim.step(still[3 * i : 3 * i + 260, 2 * i : 2 * i + 346], i * 33_333).t.size
    elapsed = time.perf_counter() - start
    print(
        f"\nevent_sim throughput: {n_frames / elapsed:.1f} frames/s, {n_events / elapsed / 1e6:.2f} Mev/s "
        f"({n_events} events, 346x260)"
    )
    assert n_events > 0


def test_background_activity_leaves_signal_events_untouched():
    """Noise events are added on top: the crossing events are the same with and without background."""
    img = skimage.data.camera().astype(np.float64)
    quiet = EventSimulator(60, 80, EventSimConfig(background_rate_hz=0.0), seed=4)
    noisy = EventSimulator(60, 80, EventSimConfig(background_rate_hz=200.0), seed=4)
    for sim in (quiet, noisy):
        sim.reset(img[100:160, 100:180], 0)
    a = as_tuples(quiet.step(img[103:163, 102:182], 20_000))
    b = as_tuples(noisy.step(img[103:163, 102:182], 20_000))
    expected_noise = 200.0 * 60 * 80 * 0.02
    assert len(a) > 100 and len(b) - len(a) > expected_noise / 2
    assert set(a) <= set(b)


def test_min_threshold_floor_applies_to_the_mismatch():
    cfg = EventSimConfig(pos_threshold=0.05, neg_threshold=0.05, threshold_sigma=0.1, min_threshold=0.04)
    sim = EventSimulator(40, 50, cfg, seed=2)
    assert sim.pos_thresholds.min() == 0.04 and sim.neg_thresholds.min() == 0.04
    assert (sim.pos_thresholds > 0.04).any()


def test_event_count_and_on_fraction_respond_monotonically_to_thresholds():
    """Higher thresholds give fewer events; a lower ON than OFF threshold raises the ON fraction."""
    img = skimage.data.camera().astype(np.float64)
    frames = [img[200 + 2 * i : 280 + 2 * i, 150 + 3 * i : 250 + 3 * i] for i in range(4)]

    def run(pos: float, neg: float) -> tuple[int, float]:
        cfg = EventSimConfig(pos_threshold=pos, neg_threshold=neg, background_rate_hz=0.0)
        sim = EventSimulator(80, 100, cfg, seed=0)
        sim.reset(frames[0], 0)
        evs = [sim.step(f, 10_000 * k) for k, f in enumerate(frames[1:], start=1)]
        p = np.concatenate([e.p for e in evs])
        return len(p), float(p.mean())

    counts = [run(c, c)[0] for c in (0.1, 0.2, 0.4)]
    assert counts[0] > counts[1] > counts[2] > 0
    assert run(0.15, 0.3)[1] > run(0.2, 0.2)[1] > run(0.3, 0.15)[1]
