"""Pixel-accurate box refinement: DSST translation and scale correlation filters (no network).

The network finds the target robustly (it picks among look-alikes, relocalises, follows a sentence), but its
box is coarse: an 8x8 score grid over the search crop (16 crop pixels per cell) and one size regression per
cell. On frames where both trackers followed the target, the shipped ``small`` box overlapped the ground truth
with a mean IoU of 0.75 on the composite test split against CSRT's 0.86, losing on centre and size alike.

Classic discriminative correlation filters are precise where they are right. This module runs the two filters
of DSST (Danelljan, Haeger, Khan, Felsberg, "Accurate Scale Estimation for Robust Visual Tracking", BMVC 2014)
*after* the network, around the network's box: a 2-D translation filter moves the centre by the filter's peak
(sub-cell interpolated) and a 1-D scale filter over ``N_SCALES`` scaled samples picks the size. Both are
multi-channel MOSSE filters in closed form, ``H_l = conj(Y) F_l / (sum_k conj(F_k) F_k + lambda)``, with the
numerator and denominator kept as running averages (learning rate ``LEARNING_RATE``), on HOG-like features:
per-cell magnitude-weighted unsigned orientation histograms (``ORIENTATIONS`` bins, ``CELL`` x ``CELL``
pixels, each cell normalised by its own energy with a floor) and the cell's normalised grey mean, on the grey
image (RGB, or the thermal image mapped to grey for thermal-only frames).

The tracker decides when the filters may move the box (local search, a frame above the gate) and when they
learn (frames above the template-refresh threshold), so a look-alike the network rejected never trains them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from mamba_tracking_ros.tracking.geometry import Box

CELL = 4  # pixels per feature cell (in the resampled patch)
ORIENTATIONS = 9  # unsigned gradient-orientation bins of the HOG-like channels
TRANSLATION_CELLS = 32  # the translation window is resampled to about this many cells per side
PADDING = 1.5  # translation window = (1 + PADDING) * target size (DSST: 1.0)
SIGMA_FACTOR = 1.0 / 16.0  # desired translation response: Gaussian of sigma = factor * target side (DSST)
N_SCALES = 17  # scale samples per frame (fDSST)
SCALE_STEP = 1.02  # ratio between neighbouring scale samples (DSST)
SCALE_SIGMA = 1.0  # desired scale response: Gaussian of this many scale steps
SCALE_MODEL_AREA = 512.0  # pixels of one resampled scale sample (DSST)
LAMBDA = 1e-2  # regulariser of the closed-form filters
LEARNING_RATE = 0.025  # running-average weight of a new frame in the filters (DSST)


def grey_image(rgb: np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 image as float32 grey in [0, 1] (what the filters read)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb: expected an (H, W, 3) image, got shape {rgb.shape}")
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(
        1 / 255
    )


def sample_patches(
    grey: np.ndarray, cx: float, cy: float, sizes: Sequence[tuple[float, float]], out_w: int, out_h: int
) -> np.ndarray:
    """``(len(sizes), out_h, out_w)``: the ``w x h`` image regions centred on ``(cx, cy)``, resampled.

    Borders are replicated. When the regions are shrunk more than twice, the covering region is blurred once
    (for the middle size) so that the patches do not alias.
    """
    mid_w, mid_h = sizes[len(sizes) // 2]
    sx, sy = mid_w / out_w, mid_h / out_h
    left = top = 0
    if sx > 2.0 or sy > 2.0:
        sigma_x, sigma_y = max(0.4 * sx, 0.1), max(0.4 * sy, 0.1)
        big_w, big_h = max(w for w, _ in sizes), max(h for _, h in sizes)
        mx, my = int(math.ceil(3 * sigma_x)) + 2, int(math.ceil(3 * sigma_y)) + 2
        left, top = int(math.floor(cx - 0.5 * big_w)) - mx, int(math.floor(cy - 0.5 * big_h)) - my
        right, bottom = int(math.ceil(cx + 0.5 * big_w)) + mx, int(math.ceil(cy + 0.5 * big_h)) + my
        rows = np.clip(np.arange(top, bottom), 0, grey.shape[0] - 1)
        cols = np.clip(np.arange(left, right), 0, grey.shape[1] - 1)
        grey = cv2.GaussianBlur(grey[rows[:, None], cols[None, :]], (0, 0), sigmaX=sigma_x, sigmaY=sigma_y)
    out = np.empty((len(sizes), out_h, out_w), dtype=np.float32)
    for i, (w, h) in enumerate(sizes):
        sx, sy = w / out_w, h / out_h
        x0, y0 = cx - 0.5 * w - left, cy - 0.5 * h - top
        matrix = np.array([[sx, 0.0, x0 + 0.5 * sx - 0.5], [0.0, sy, y0 + 0.5 * sy - 0.5]], dtype=np.float64)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        cv2.warpAffine(grey, matrix, (out_w, out_h), dst=out[i], flags=flags, borderMode=cv2.BORDER_REPLICATE)
    return out


def sample_patch(
    grey: np.ndarray, cx: float, cy: float, w: float, h: float, out_w: int, out_h: int
) -> np.ndarray:
    """The ``w x h`` region centred on ``(cx, cy)`` resampled to ``out_h x out_w`` (see sample_patches)."""
    return sample_patches(grey, cx, cy, [(w, h)], out_w, out_h)[0]


def cell_features(patches: np.ndarray) -> np.ndarray:
    """HOG-like cell features of grey patches ``(..., H, W)`` -> ``(..., H/CELL, W/CELL, ORIENTATIONS + 1)``.

    Channels: magnitude-weighted orientation histograms (soft-binned between the two nearest bins), each
    cell divided by its own energy (floored at a fifth of the patch's mean energy, so flat cells stay small),
    and the cell's grey mean minus the patch mean over the patch's standard deviation (brightness and
    contrast invariant).
    """
    p = patches.astype(np.float32, copy=False)
    *lead, height, width = p.shape
    hc, wc = height // CELL, width // CELL
    gx = np.zeros_like(p)
    gy = np.zeros_like(p)
    gx[..., :, 1:-1] = p[..., :, 2:] - p[..., :, :-2]
    gy[..., 1:-1, :] = p[..., 2:, :] - p[..., :-2, :]
    gx, gy = gx[..., : hc * CELL, : wc * CELL], gy[..., : hc * CELL, : wc * CELL]
    mag = np.sqrt(gx * gx + gy * gy)
    pos = (np.arctan2(gy, gx) % np.pi) * np.float32(ORIENTATIONS / np.pi)
    floor_pos = np.floor(pos)
    frac = pos - floor_pos
    lower = floor_pos.astype(np.int64) % ORIENTATIONS
    n = int(np.prod(lead)) if lead else 1
    cells = (np.arange(hc * CELL) // CELL)[:, None] * wc + (np.arange(wc * CELL) // CELL)[None, :]
    cells = (cells[None] + (np.arange(n) * hc * wc)[:, None, None]).reshape(p.shape[:-2] + cells.shape)
    size = n * hc * wc * ORIENTATIONS
    hist = np.bincount((cells * ORIENTATIONS + lower).ravel(), (mag * (1.0 - frac)).ravel(), minlength=size)
    upper = (lower + 1) % ORIENTATIONS
    hist += np.bincount((cells * ORIENTATIONS + upper).ravel(), (mag * frac).ravel(), minlength=size)
    hist = hist.reshape(*lead, hc, wc, ORIENTATIONS)
    energy = np.sqrt((hist * hist).sum(axis=-1, keepdims=True))
    floor = 0.2 * energy.mean(axis=(-3, -2, -1), keepdims=True) + 1e-6
    hist = hist / np.maximum(energy, floor)
    grey = p[..., : hc * CELL, : wc * CELL].reshape(*lead, hc, CELL, wc, CELL).mean(axis=(-3, -1))
    mean = grey.mean(axis=(-2, -1), keepdims=True)
    std = grey.std(axis=(-2, -1), keepdims=True) + 1e-3
    return np.concatenate([hist, ((grey - mean) / std)[..., None] * 0.5], axis=-1).astype(np.float32)


@dataclass
class RefineResult:
    """One refinement: the new box, the translation filter's peak value, the centre shift and scale factor
    applied, and whether the translation filter moved the centre (false: not asked, or peak too far)."""

    box: Box
    peak: float
    shift: tuple[float, float]
    scale: float
    moved: bool = False


class BoxRefiner:
    """DSST translation + scale filters around a given box (see the module docstring)."""

    def __init__(self, learning_rate: float = LEARNING_RATE) -> None:
        """Empty filters; :meth:`start` learns them from a first box."""
        self.learning_rate = learning_rate
        self.reset()

    def reset(self) -> None:
        """Forget the target (filters and geometry)."""
        self._num_t: np.ndarray | None = None
        self._den_t: np.ndarray | None = None
        self._num_s: np.ndarray | None = None
        self._den_s: np.ndarray | None = None
        self.image_shape: tuple[int, ...] = ()

    @property
    def ready(self) -> bool:
        """Whether filters have been learnt (:meth:`start` ran)."""
        return self._num_t is not None

    def start(self, grey: np.ndarray, box: Box) -> None:
        """Set the filters' geometry from ``box`` (x, y, w, h) and learn them from this frame alone."""
        x, y, w, h = (float(v) for v in box)
        w, h = max(w, 1.0), max(h, 1.0)
        self.image_shape = grey.shape
        win_w, win_h = (1.0 + PADDING) * w, (1.0 + PADDING) * h
        per_px = math.sqrt(win_w * win_h) / (TRANSLATION_CELLS * CELL)  # image pixels per patch pixel
        self._cells = (max(round(win_h / per_px / CELL), 4), max(round(win_w / per_px / CELL), 4))
        self._aspect = w / h
        hc, wc = self._cells
        self._cos = np.outer(np.hanning(hc + 2)[1:-1], np.hanning(wc + 2)[1:-1]).astype(np.float32)[..., None]
        target_cells = math.sqrt(w * h) / per_px / CELL
        sigma = max(SIGMA_FACTOR * target_cells, 0.5)
        dy = np.minimum(np.arange(hc), hc - np.arange(hc))[:, None]
        dx = np.minimum(np.arange(wc), wc - np.arange(wc))[None, :]
        self._yf_t = np.fft.fft2(np.exp(-0.5 * (dy**2 + dx**2) / sigma**2))[..., None]
        f = math.sqrt(SCALE_MODEL_AREA / (w * h))
        self._scale_px = (max(round(h * f / CELL), 2) * CELL, max(round(w * f / CELL), 2) * CELL)
        steps = np.arange(N_SCALES) - N_SCALES // 2
        self._factors = SCALE_STEP**steps
        self._yf_s = np.fft.fft(np.exp(-0.5 * (steps / SCALE_SIGMA) ** 2))[:, None]
        self._scale_window = np.hanning(N_SCALES + 2)[1:-1].astype(np.float32)[:, None]
        self._num_t = None
        self.update(grey, (x, y, w, h), rate=1.0)

    def _translation_features(self, grey: np.ndarray, cx: float, cy: float, w: float, h: float) -> np.ndarray:
        """Windowed cell features of the translation window around (cx, cy) for a target of size w x h."""
        hc, wc = self._cells
        patch = sample_patch(grey, cx, cy, (1.0 + PADDING) * w, (1.0 + PADDING) * h, wc * CELL, hc * CELL)
        return cell_features(patch) * self._cos

    def _scale_features(self, grey: np.ndarray, cx: float, cy: float, w: float, h: float) -> np.ndarray:
        """``(N_SCALES, D)`` flattened cell features of the target region at every scale factor."""
        out_h, out_w = self._scale_px
        patches = sample_patches(grey, cx, cy, [(w * s, h * s) for s in self._factors], out_w, out_h)
        return cell_features(patches).reshape(N_SCALES, -1) * self._scale_window

    def _check_image(self, grey: np.ndarray) -> None:
        """Filters learnt in one image size cannot read another (the caller resets them on a size change)."""
        if grey.shape != self.image_shape:
            raise ValueError(
                f"grey: image of shape {grey.shape}, the filters were started on {self.image_shape}"
            )

    def _target_size(self, box: Box) -> tuple[float, float]:
        """The filters' size for ``box``: its area with the aspect ratio the filters were started with."""
        side = math.sqrt(max(box[2], 1.0) * max(box[3], 1.0))
        root = math.sqrt(self._aspect)
        return side * root, side / root

    def update(self, grey: np.ndarray, box: Box, rate: float | None = None) -> None:
        """Learn from the target at ``box`` in this frame (running average with ``rate``, default the
        refiner's learning rate; 1 replaces the filters)."""
        self._check_image(grey)
        rate = self.learning_rate if rate is None else rate
        cx, cy = box[0] + 0.5 * box[2], box[1] + 0.5 * box[3]
        w, h = self._target_size(box)
        ft = np.fft.fft2(self._translation_features(grey, cx, cy, w, h), axes=(0, 1))
        num_t = self._yf_t * np.conj(ft)
        den_t = (ft * np.conj(ft)).real.sum(axis=-1)
        fs = np.fft.fft(self._scale_features(grey, cx, cy, w, h), axis=0)
        num_s = self._yf_s * np.conj(fs)
        den_s = (fs * np.conj(fs)).real.sum(axis=-1)
        if self._num_t is None or rate >= 1.0:
            self._num_t, self._den_t, self._num_s, self._den_s = num_t, den_t, num_s, den_s
            return
        keep = 1.0 - rate
        self._num_t = keep * self._num_t + rate * num_t
        self._den_t = keep * self._den_t + rate * den_t
        self._num_s = keep * self._num_s + rate * num_s
        self._den_s = keep * self._den_s + rate * den_s

    def refine(
        self,
        grey: np.ndarray,
        box: Box,
        translate: bool = True,
        scale: bool = True,
        max_shift: float = math.inf,
    ) -> RefineResult:
        """Move ``box``'s centre to the translation filter's peak; scale it by the scale filter's best factor.

        A peak more than ``max_shift`` pixels from the centre is not taken (``shift`` is then (0, 0) and
        ``moved`` false): the filters see the background around the target too, and on a static background
        they can lock onto where the target *was*. The box's aspect ratio is kept; the caller blends the
        result with the network's box as it sees fit.
        """
        if not self.ready:
            raise RuntimeError("refine() before start()")
        self._check_image(grey)
        cx, cy = box[0] + 0.5 * box[2], box[1] + 0.5 * box[3]
        w, h = self._target_size(box)
        peak, shift, moved = float("nan"), (0.0, 0.0), translate
        if translate:
            zt = np.fft.fft2(self._translation_features(grey, cx, cy, w, h), axes=(0, 1))
            response = np.fft.ifft2((self._num_t * zt).sum(axis=-1) / (self._den_t + LAMBDA)).real
            iy, ix = np.unravel_index(int(np.argmax(response)), response.shape)
            peak = float(response[iy, ix])
            hc, wc = response.shape
            dy = _subcell(response[(iy - 1) % hc, ix], peak, response[(iy + 1) % hc, ix]) + iy
            dx = _subcell(response[iy, (ix - 1) % wc], peak, response[iy, (ix + 1) % wc]) + ix
            dy = dy - hc if dy > hc / 2 else dy
            dx = dx - wc if dx > wc / 2 else dx
            shift = (
                dx * CELL * (1.0 + PADDING) * w / (wc * CELL),
                dy * CELL * (1.0 + PADDING) * h / (hc * CELL),
            )
            if math.hypot(*shift) > max_shift:
                shift, moved = (0.0, 0.0), False
            cx, cy = cx + shift[0], cy + shift[1]
        factor = 1.0
        if scale:
            zs = np.fft.fft(self._scale_features(grey, cx, cy, w, h), axis=0)
            response_s = np.fft.ifft((self._num_s * zs).sum(axis=-1) / (self._den_s + LAMBDA)).real
            factor = float(self._factors[int(np.argmax(response_s))])
        bw, bh = box[2] * factor, box[3] * factor
        return RefineResult((cx - 0.5 * bw, cy - 0.5 * bh, bw, bh), peak, shift, factor, moved)


def _subcell(left: float, centre: float, right: float) -> float:
    """Offset in (-0.5, 0.5) of a parabola's vertex through three neighbouring samples (0 if flat)."""
    denom = left - 2.0 * centre + right
    if denom >= 0.0:
        return 0.0
    return float(np.clip(0.5 * (left - right) / denom, -0.5, 0.5))
