"""Tests of the LWIR thermal-camera simulator: Planck radiance, scene, optics and detector model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.integrate import quad

from mamba_tracking_ros.data.thermal_sim import (
    ThermalSceneConfig,
    band_radiance,
    compose_thermal_scene,
    fixed_pattern,
    simulate_thermal,
)

# Constants typed in independently of the module (CODATA exact values).
H, C, KB = 6.62607015e-34, 2.99792458e8, 1.380649e-23


def planck_quad(T: float, lo: float = 8e-6, hi: float = 14e-6) -> float:
    """Reference in-band radiance by adaptive quadrature of Planck's law."""

    def spectral(lam: float) -> float:
        return 2 * H * C**2 / lam**5 / np.expm1(H * C / (lam * KB * T))

    return quad(spectral, lo, hi, epsabs=0.0, epsrel=1e-11)[0]


CLEAN = ThermalSceneConfig(
    noise_sigma=0.0, gain_nonuniformity=0.0, offset_nonuniformity=0.0, blur_sigma_px=0.0, max_count=65535
)


def test_band_radiance_matches_numerical_planck_integral():
    temps = np.array([220.0, 273.15, 300.0, 373.15, 600.0, 1200.0])
    ours = band_radiance(temps)
    ref = np.array([planck_quad(t) for t in temps])
    np.testing.assert_allclose(ours, ref, rtol=1e-8)
    # Ratio between two temperatures (not the full-spectrum T^4 law: the band fraction changes with T).
    assert ours[2] / ours[1] == pytest.approx(ref[2] / ref[1], rel=1e-9)
    assert ref[2] / ref[1] != pytest.approx((300.0 / 273.15) ** 4, rel=1e-2)
    # Another band (MWIR 3-5 um), where the integrand is far steeper.
    for t in (300.0, 800.0):
        assert band_radiance(t, (3e-6, 5e-6)) == pytest.approx(planck_quad(t, 3e-6, 5e-6), rel=1e-8)


def test_hotter_object_gives_more_counts():
    gray = np.full((32, 32), 128.0)
    mask = np.zeros((32, 32), bool)
    mask[12:20, 12:20] = True
    cfg = dataclasses.replace(ThermalSceneConfig(), noise_sigma=0.0)
    centre = []
    for t_obj in (260.0, 290.0, 300.0, 310.0, 340.0, 370.0):
        T, eps = compose_thermal_scene(gray, [(mask, t_obj, 0.98)], cfg)
        centre.append(simulate_thermal(T, eps, cfg, None)[12:20, 12:20].astype(np.int64))
    for cooler, hotter in zip(centre[:-1], centre[1:]):
        assert (hotter > cooler).all()


def test_emissivity_lowers_hot_and_raises_cold_objects():
    gray = np.full((16, 16), 128.0)
    mask = np.zeros((16, 16), bool)
    mask[4:12, 4:12] = True

    def centre_counts(t_obj: float, e_obj: float) -> float:
        T, eps = compose_thermal_scene(gray, [(mask, t_obj, e_obj)], CLEAN)
        return float(simulate_thermal(T, eps, CLEAN, None)[8, 8])

    assert centre_counts(350.0, 0.5) < centre_counts(350.0, 0.95)  # hot: less emitted, ambient reflected
    assert centre_counts(250.0, 0.5) > centre_counts(250.0, 0.95)  # cold: reflection of warmer ambient
    amb = CLEAN.ambient_temperature_k
    assert centre_counts(amb, 0.2) == centre_counts(amb, 0.99)  # at ambient a grey body is invisible


def test_blur_spreads_a_point_and_conserves_signal():
    T = np.full((41, 41), CLEAN.ambient_temperature_k)
    T[20, 20] = 500.0
    sharp = simulate_thermal(T, 1.0, CLEAN, None).astype(np.float64)
    blurred = simulate_thermal(T, 1.0, dataclasses.replace(CLEAN, blur_sigma_px=1.5), None).astype(np.float64)
    background = sharp[0, 0]
    excess_sharp, excess_blur = sharp - background, blurred - background
    assert np.count_nonzero(excess_sharp) == 1
    assert excess_blur[20, 20] < 0.3 * excess_sharp[20, 20]
    assert (excess_blur[19:22, 19:22] > 100).all()  # neighbours received signal
    assert excess_blur[20, 21] == pytest.approx(excess_blur[21, 20], abs=1.0)  # isotropic
    assert excess_blur.sum() == pytest.approx(excess_sharp.sum(), rel=5e-3)  # PSF is normalised


def test_temporal_noise_statistics():
    cfg = dataclasses.replace(ThermalSceneConfig(), noise_sigma=10.0)
    T = np.full((128, 128), 300.0)
    rng = np.random.default_rng(123)
    a = simulate_thermal(T, 0.97, cfg, rng).astype(np.float64)
    b = simulate_thermal(T, 0.97, cfg, rng).astype(np.float64)
    diff = a - b  # the fixed pattern cancels; two independent noise draws remain
    assert diff.std() == pytest.approx(np.sqrt(2.0) * 10.0, rel=0.03)
    assert abs(diff.mean()) < 0.5


def test_fixed_pattern_reproducible_per_seed():
    cfg = ThermalSceneConfig(noise_sigma=0.0, fpn_seed=7)
    g1, o1 = fixed_pattern((24, 24), cfg)
    g2, o2 = fixed_pattern((24, 24), cfg)
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(o1, o2)
    T = np.full((64, 64), cfg.ambient_temperature_k)
    f1 = simulate_thermal(T, 1.0, cfg, None)
    f2 = simulate_thermal(T, 1.0, cfg, None)
    f3 = simulate_thermal(T, 1.0, dataclasses.replace(cfg, fpn_seed=8), None)
    np.testing.assert_array_equal(f1, f2)
    assert np.count_nonzero(f1 != f3) > 0.9 * f1.size
    # Spatial spread of a flat noise-free frame = gain and offset non-uniformity combined.
    signal = cfg.gain * planck_quad(cfg.ambient_temperature_k)
    expected = np.hypot(cfg.gain_nonuniformity * signal, cfg.offset_nonuniformity)
    assert f1.astype(np.float64).std() == pytest.approx(expected, rel=0.05)


def test_uint16_output_clips_at_extreme_temperatures():
    T = np.full((8, 8), 5000.0)
    for max_count in (16383, 65535):
        cfg = dataclasses.replace(ThermalSceneConfig(), max_count=max_count)
        out = simulate_thermal(T, 1.0, cfg, np.random.default_rng(0))
        assert out.dtype == np.uint16
        assert (out == max_count).all()  # saturated, not wrapped around
    cold = simulate_thermal(np.full((8, 8), 3.0), 1.0, dataclasses.replace(CLEAN, offset=-500.0), None)
    assert cold.dtype == np.uint16 and (cold == 0).all()


def test_vignetting_darkens_corners():
    T = np.full((33, 33), 320.0)
    out = simulate_thermal(T, 1.0, dataclasses.replace(CLEAN, vignetting=0.2), None).astype(np.float64)
    assert out[0, 0] < out[16, 16]
    assert out[0, 0] - CLEAN.offset == pytest.approx(0.8 * (out[16, 16] - CLEAN.offset), rel=1e-3)


def test_compose_thermal_scene_background_and_objects():
    cfg = ThermalSceneConfig()
    gray = np.linspace(0, 255, 20 * 30).reshape(20, 30)
    hard = np.zeros((20, 30), bool)
    hard[2:6, 2:6] = True
    soft = np.zeros((20, 30))
    soft[10:14, 10:14] = 0.25
    T, eps = compose_thermal_scene(gray, [(hard, 310.0, 0.9), (soft, 400.0, 0.5)], cfg)
    bg = ~hard & (soft == 0)
    amb, span = cfg.ambient_temperature_k, cfg.background_temperature_span_k
    assert T[bg].min() >= amb - span / 2 - 1e-9 and T[bg].max() <= amb + span / 2 + 1e-9
    assert T[0, 0] < T[-1, -1]  # brighter background is warmer
    assert np.all(T[hard] == 310.0) and np.all(eps[hard] == 0.9)
    assert np.allclose(T[11, 11], 0.75 * background_t_of(gray[11, 11], cfg) + 0.25 * 400.0)
    assert eps[11, 11] == pytest.approx(0.75 * cfg.background_emissivity + 0.25 * 0.5)
    assert np.all(eps[bg] == cfg.background_emissivity)


def background_t_of(g: float, cfg: ThermalSceneConfig) -> float:
    """Background temperature the docstring promises for gray level ``g``."""
    return cfg.ambient_temperature_k + cfg.background_temperature_span_k * (g / 255.0 - 0.5)


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="background_emissivity"):
        ThermalSceneConfig(background_emissivity=1.5)
    with pytest.raises(ValueError, match="max_count"):
        ThermalSceneConfig(max_count=70000)
    with pytest.raises(ValueError, match="emissivity_map"):
        simulate_thermal(np.full((4, 4), 300.0), np.ones((3, 4)), CLEAN, None)
    with pytest.raises(ValueError, match="temperature_K"):
        simulate_thermal(np.full((4, 4), -1.0), 1.0, CLEAN, None)
    with pytest.raises(ValueError, match="rng"):
        simulate_thermal(np.full((4, 4), 300.0), 1.0, ThermalSceneConfig(), None)
    with pytest.raises(ValueError, match=r"objects\[0\]"):
        compose_thermal_scene(np.zeros((4, 4)), [(np.ones((5, 4), bool), 300.0, 0.9)], CLEAN)
