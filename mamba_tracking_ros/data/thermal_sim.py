"""Physically based simulation of an uncooled LWIR (8-14 um) radiometric camera producing 16-bit counts.

No thermal recording of the project's footage exists, so thermal frames are SIMULATED from a per-pixel
temperature map (kelvin) and emissivity map:

1. In-band radiance of each surface, integrating Planck's law over the 8-14 um band numerically
   (Gauss-Legendre quadrature, W m^-2 sr^-1):
   ``L_band(T) = int_{8um}^{14um} 2 h c^2 / lambda^5 / (exp(h c / (lambda k T)) - 1) dlambda``.
2. Grey-body surface model: ``L = eps * L_band(T) + (1 - eps) * L_band(T_ambient)`` (emitted plus
   reflected ambient radiance).
3. Optics: gaussian point-spread function of ``blur_sigma_px`` and an optional radial (cos^4-like, here
   quadratic) vignetting falloff.
4. Detector: linear response ``counts = g_ij * gain * L + offset + o_ij`` with a fixed-pattern per-pixel gain
   map ``g_ij ~ N(1, gain_nonuniformity)`` and offset map ``o_ij ~ N(0, offset_nonuniformity)`` drawn from
   ``fpn_seed`` (identical for every frame of a camera), plus temporal gaussian noise
   (``noise_sigma`` counts).
5. Quantisation (round to nearest count) and clipping to ``[0, max_count]`` (14-bit by default) in ``uint16``.

The defaults give roughly an uncooled microbolometer in high-gain mode: about 78 counts/K at 293 K, a noise of
4 counts (NETD ~ 50 mK), a 2000-count offset, and saturation at the 14-bit ceiling near 378 K (105 C).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

PLANCK_H = 6.62607015e-34  # J s
LIGHT_C = 299_792_458.0  # m / s
BOLTZMANN_K = 1.380649e-23  # J / K
LWIR_BAND_M = (8e-6, 14e-6)  # integration band of the simulated camera, metres

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(48)
_CHUNK = 1 << 16  # pixels per quadrature chunk (bounds the (chunk, nodes) temporary to a few MiB)


@dataclass(frozen=True)
class ThermalSceneConfig:
    """Scene, optics and detector parameters of the simulated LWIR microbolometer (see module docstring)."""

    ambient_temperature_k: float = 293.15
    background_emissivity: float = 0.95
    background_temperature_span_k: float = 6.0  # background T = ambient + span * (gray / gray_max - 0.5)
    gain: float = 100.0  # counts per W m^-2 sr^-1 of in-band radiance
    offset: float = 2000.0  # counts at zero radiance
    blur_sigma_px: float = 0.8
    noise_sigma: float = 4.0  # temporal noise, counts (1 sigma)
    gain_nonuniformity: float = 0.02  # fixed-pattern relative gain spread (1 sigma)
    offset_nonuniformity: float = 30.0  # fixed-pattern offset spread, counts (1 sigma)
    fpn_seed: int = 0
    vignetting: float = 0.0  # fractional radiance loss at the image corners (0 = off)
    max_count: int = 16383  # 14-bit range inside uint16

    def __post_init__(self) -> None:
        """Validate every field, naming the offending one."""
        if not (np.isfinite(self.ambient_temperature_k) and self.ambient_temperature_k > 0):
            raise ValueError(
                f"ambient_temperature_k: must be finite and > 0, got {self.ambient_temperature_k}"
            )
        if not 0.0 <= self.background_emissivity <= 1.0:
            raise ValueError(f"background_emissivity: must be in [0, 1], got {self.background_emissivity}")
        for name in (
            "background_temperature_span_k",
            "blur_sigma_px",
            "noise_sigma",
            "gain_nonuniformity",
            "offset_nonuniformity",
        ):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: must be finite and >= 0, got {value}")
        if not (np.isfinite(self.gain) and self.gain > 0):
            raise ValueError(f"gain: must be finite and > 0, got {self.gain}")
        if not np.isfinite(self.offset):
            raise ValueError(f"offset: must be finite, got {self.offset}")
        if not 0.0 <= self.vignetting < 1.0:
            raise ValueError(f"vignetting: must be in [0, 1), got {self.vignetting}")
        if not 1 <= int(self.max_count) <= 65535 or int(self.max_count) != self.max_count:
            raise ValueError(f"max_count: must be an integer in [1, 65535], got {self.max_count}")


def band_radiance(temperature_K: np.ndarray | float, band_m: tuple[float, float] = LWIR_BAND_M) -> np.ndarray:
    """In-band black-body radiance (W m^-2 sr^-1): Planck's law over ``band_m`` (Gauss-Legendre)."""
    T = np.asarray(temperature_K, dtype=np.float64)
    if not np.isfinite(T).all() or (T <= 0).any():
        raise ValueError("temperature_K: must be finite and > 0 kelvin everywhere")
    lo, hi = float(band_m[0]), float(band_m[1])
    if not 0 < lo < hi:
        raise ValueError(f"band_m: expected 0 < low < high, got {band_m}")
    lam = 0.5 * (hi - lo) * _GL_NODES + 0.5 * (hi + lo)  # (nodes,)
    weights = 0.5 * (hi - lo) * _GL_WEIGHTS
    c1 = 2.0 * PLANCK_H * LIGHT_C**2 / lam**5
    c2 = PLANCK_H * LIGHT_C / (lam * BOLTZMANN_K)
    flat = T.reshape(-1)
    out = np.empty_like(flat)
    with np.errstate(over="ignore"):  # exp overflow at very low T -> inf -> zero spectral radiance (correct)
        for start in range(0, flat.size, _CHUNK):
            t = flat[start : start + _CHUNK, None]
            out[start : start + _CHUNK] = (c1 / np.expm1(c2 / t)) @ weights
    return out.reshape(T.shape)


def _band_radiance_of_map(T: np.ndarray) -> np.ndarray:
    """``band_radiance`` of a temperature map, evaluated once per distinct temperature when few are distinct
    (a luminance-driven background has at most a few hundred levels): same values, far less quadrature."""
    unique, inverse = np.unique(T, return_inverse=True)
    if unique.size * 4 > T.size:
        return band_radiance(T)
    return band_radiance(unique)[inverse.reshape(-1)].reshape(T.shape)


def fixed_pattern(shape: tuple[int, int], cfg: ThermalSceneConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel detector gain (around 1) and offset (counts) maps, reproducible from ``cfg.fpn_seed``.

    Cached per (shape, cfg) (a camera's pattern is fixed), so the maps are returned read-only.
    """
    return _fixed_pattern_cached((int(shape[0]), int(shape[1])), cfg)


@functools.lru_cache(maxsize=8)
def _fixed_pattern_cached(shape: tuple[int, int], cfg: ThermalSceneConfig) -> tuple[np.ndarray, np.ndarray]:
    """Draw the fixed-pattern maps once per (shape, cfg)."""
    h, w = shape
    rng = np.random.default_rng(cfg.fpn_seed)
    gain_map = 1.0 + cfg.gain_nonuniformity * rng.standard_normal((h, w))
    offset_map = cfg.offset_nonuniformity * rng.standard_normal((h, w))
    gain_map.setflags(write=False)
    offset_map.setflags(write=False)
    return gain_map, offset_map


def vignetting_map(shape: tuple[int, int], strength: float) -> np.ndarray:
    """Radial optical transmission ``1 - strength * (r / r_corner)^2`` (1 centre, 1-strength corners)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    r2 = (yy - cy) ** 2 + (xx - cx) ** 2
    r2_corner = max(cy**2 + cx**2, 1e-12)
    return 1.0 - strength * r2 / r2_corner


def simulate_thermal(
    temperature_map_K: np.ndarray,
    emissivity_map: np.ndarray | float,
    cfg: ThermalSceneConfig,
    rng: np.random.Generator | None,
) -> np.ndarray:
    """One uint16 (H, W) frame of radiometric counts from temperature/emissivity maps (module steps 1-5)."""
    T = np.asarray(temperature_map_K, dtype=np.float64)
    if T.ndim != 2 or T.size == 0:
        raise ValueError(f"temperature_map_K: expected a non-empty (H, W) array, got shape {T.shape}")
    eps = np.asarray(emissivity_map, dtype=np.float64)
    if eps.ndim == 0:
        eps = np.full(T.shape, float(eps))
    if eps.shape != T.shape:
        raise ValueError(f"emissivity_map: shape {eps.shape} does not match temperature_map_K {T.shape}")
    if not np.isfinite(eps).all() or (eps < 0).any() or (eps > 1).any():
        raise ValueError("emissivity_map: values must be finite and in [0, 1]")
    if rng is None and cfg.noise_sigma > 0:
        raise ValueError("rng: a numpy Generator is required when cfg.noise_sigma > 0")

    ambient = float(band_radiance(cfg.ambient_temperature_k))
    radiance = eps * _band_radiance_of_map(T) + (1.0 - eps) * ambient
    if cfg.blur_sigma_px > 0:
        radiance = ndimage.gaussian_filter(radiance, sigma=cfg.blur_sigma_px, mode="reflect")
    if cfg.vignetting > 0:
        radiance = radiance * vignetting_map(T.shape, cfg.vignetting)
    gain_map, offset_map = fixed_pattern(T.shape, cfg)
    counts = gain_map * (cfg.gain * radiance) + cfg.offset + offset_map
    if cfg.noise_sigma > 0:
        counts = counts + rng.normal(0.0, cfg.noise_sigma, size=T.shape)
    return np.clip(np.rint(counts), 0, cfg.max_count).astype(np.uint16)


def compose_thermal_scene(
    background_gray: np.ndarray,
    objects: Sequence[tuple[np.ndarray, float, float]],
    cfg: ThermalSceneConfig,
    gray_max: float = 255.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Temperature (K) and emissivity maps: a luminance-driven background near ambient plus masked objects.

    The background is ``ambient + span * (gray / gray_max - 0.5)`` with ``cfg.background_emissivity``. Each
    object ``(mask, temperature_K, emissivity)`` is painted in list order (later objects cover earlier ones);
    a boolean mask replaces the pixels, a float mask in [0, 1] blends them as an alpha (soft edges).
    """
    gray = np.asarray(background_gray, dtype=np.float64)
    if gray.ndim != 2 or gray.size == 0:
        raise ValueError(f"background_gray: expected a non-empty (H, W) array, got shape {gray.shape}")
    if not np.isfinite(gray).all():
        raise ValueError("background_gray: contains NaN or infinite values")
    if not (np.isfinite(gray_max) and gray_max > 0):
        raise ValueError(f"gray_max: must be finite and > 0, got {gray_max}")
    g = np.clip(gray / gray_max, 0.0, 1.0)
    T = cfg.ambient_temperature_k + cfg.background_temperature_span_k * (g - 0.5)
    eps = np.full(gray.shape, cfg.background_emissivity, dtype=np.float64)
    for i, obj in enumerate(objects):
        if len(obj) != 3:
            raise ValueError(f"objects[{i}]: expected (mask, temperature_K, emissivity)")
        mask, t_obj, e_obj = obj
        alpha = np.asarray(mask)
        if alpha.shape != gray.shape:
            raise ValueError(f"objects[{i}]: mask shape {alpha.shape} does not match background {gray.shape}")
        alpha = alpha.astype(np.float64)
        if not np.isfinite(alpha).all() or (alpha < 0).any() or (alpha > 1).any():
            raise ValueError(f"objects[{i}]: mask values must be in [0, 1]")
        if not (np.isfinite(t_obj) and t_obj > 0):
            raise ValueError(f"objects[{i}]: temperature_K must be finite and > 0, got {t_obj}")
        if not 0.0 <= e_obj <= 1.0:
            raise ValueError(f"objects[{i}]: emissivity must be in [0, 1], got {e_obj}")
        T = (1.0 - alpha) * T + alpha * float(t_obj)
        eps = (1.0 - alpha) * eps + alpha * float(e_obj)
    return T, eps
