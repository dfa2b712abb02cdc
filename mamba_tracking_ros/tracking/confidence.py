"""MVLM margin confidence with EWMA memory (MVLM, CVPR 2026: "MVLM Confidence", gating).

For a candidate box ``b`` on the search grid:

* region correlation ``rho(b) = mean_{x in R(b)} <v_x, u_t>`` over the tokens whose cell centres lie in ``b``;
* correlation margin ``rho(b) - max rho(b')`` over competitors ``b'`` outside the exclusion zone
  ``IoU(b', b) < psi_out``, divided by a robust running scale (floor-clamped), squashed with ``tanh``;
* classification margin likewise from the sigmoid scores;
* ``kappa_vlm = alpha_corr * corr_margin + alpha_cls * cls_margin`` (``alpha_cls = 1 - alpha_corr``; without a
  correlation map only the classification margin counts);
* ``m_t = (1 - lambda) * kappa_vlm + lambda * m_{t-1}`` and ``kappa = (1 - omega) * kappa_vlm + omega * m_t``.

Every term is in ``[-1, 1]`` so ``kappa`` is too. Competitors are *all* grid cells decoded to boxes (the
dense candidate set ``B_t``), so a competitor exists whenever any predicted box lies outside the exclusion
zone; when none does (the target fills the crop) the competitor value is the median over the dense set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mamba_tracking_ros.tracking.geometry import box_iou

#: 1 / Phi^-1(3/4): turns a median absolute deviation into a standard-deviation estimate for Gaussian noise.
MAD_TO_STD = 1.4826


def robust_scale(values: np.ndarray) -> float:
    """Robust spread of a set of values: ``1.4826 * median(|v - median(v)|)`` (MAD as a std estimate)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return 0.0
    return float(MAD_TO_STD * np.median(np.abs(v - np.median(v))))


def region_cells(boxes_xyxy: np.ndarray, stride: float, grid_shape: tuple[int, int]) -> np.ndarray:
    """Inclusive cell ranges ``(c0, r0, c1, r1)`` of tokens with centres ``(k + 0.5) * stride`` in each box.

    A box containing no cell centre falls back to the single cell under its centre (clamped to the grid), so
    every region ``R(b)`` is non-empty (MVLM region-average correlation).
    """
    hs, ws = grid_shape
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4) / float(stride)
    c0 = np.maximum(np.ceil(b[:, 0] - 0.5), 0)
    r0 = np.maximum(np.ceil(b[:, 1] - 0.5), 0)
    c1 = np.minimum(np.floor(b[:, 2] - 0.5), ws - 1)
    r1 = np.minimum(np.floor(b[:, 3] - 0.5), hs - 1)
    empty = (c1 < c0) | (r1 < r0)
    cc = np.clip(np.floor(0.5 * (b[:, 0] + b[:, 2])), 0, ws - 1)
    rc = np.clip(np.floor(0.5 * (b[:, 1] + b[:, 3])), 0, hs - 1)
    c0, c1 = np.where(empty, cc, c0), np.where(empty, cc, c1)
    r0, r1 = np.where(empty, rc, r0), np.where(empty, rc, r1)
    return np.stack([c0, r0, c1, r1], axis=-1).astype(np.int64)


def region_average(corr: np.ndarray, boxes_xyxy: np.ndarray, stride: float) -> np.ndarray:
    """MVLM ``rho(b)``: mean of the ``(Hs, Ws)`` correlation map over each box's cells (summed-area table)."""
    c = np.asarray(corr, dtype=np.float64)
    hs, ws = c.shape
    sat = np.zeros((hs + 1, ws + 1), dtype=np.float64)
    sat[1:, 1:] = c.cumsum(0).cumsum(1)
    cells = region_cells(boxes_xyxy, stride, (hs, ws))
    c0, r0, c1, r1 = cells[:, 0], cells[:, 1], cells[:, 2] + 1, cells[:, 3] + 1
    total = sat[r1, c1] - sat[r0, c1] - sat[r1, c0] + sat[r0, c0]
    return total / ((r1 - r0) * (c1 - c0))


def exclusion_margin(
    values: np.ndarray, boxes_xyxy: np.ndarray, query: np.ndarray, psi_out: float
) -> tuple[np.ndarray, np.ndarray]:
    """Margin of each queried box over its best competitor outside the IoU exclusion zone (MVLM ``B_t^out``).

    ``values[j]`` scores box ``j``; for each index ``q`` in ``query`` the competitor is
    ``argmax_j values[j]`` over ``IoU(box_j, box_q) < psi_out``. Returns ``(margins (K,), competitor (K,))``;
    where no box lies outside the zone the competitor index is ``-1`` and the median of ``values`` stands in.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    q = np.asarray(query, dtype=np.int64).ravel()
    iou = box_iou(np.asarray(boxes_xyxy)[q], boxes_xyxy)  # (K, M)
    outside = iou < psi_out
    masked = np.where(outside, v[None, :], -np.inf)
    comp = np.argmax(masked, axis=1)
    has = outside.any(axis=1)
    comp_value = np.where(has, v[comp], np.median(v) if v.size else 0.0)
    return v[q] - comp_value, np.where(has, comp, -1)


@dataclass
class ConfidenceEstimate:
    """Per-candidate MVLM confidence terms for one frame (not yet committed to the memory)."""

    kappa: np.ndarray  # (K,) final confidence kappa_mvlm in [-1, 1]
    kappa_vlm: np.ndarray  # (K,) single-frame confidence
    memory: np.ndarray  # (K,) m_t if that candidate is selected
    cls_margin: np.ndarray  # (K,) tanh-normalised classification margin
    corr_margin: np.ndarray | None  # (K,) tanh-normalised correlation margin, None without a sentence
    cls_competitor: np.ndarray  # (K,) dense index of the classification competitor (-1 if none)
    corr_competitor: np.ndarray | None  # (K,) dense index of the correlation competitor
    cls_scale: float  # running robust scale of the sigmoid scores after this frame
    corr_scale: float | None  # running robust scale of the correlation values after this frame


class MarginConfidence:
    """MVLM margin confidence with EWMA temporal memory; one instance per track (it holds ``m_{t-1}``)."""

    def __init__(
        self,
        alpha_corr: float = 0.5,
        psi_out: float = 0.3,
        ewma_lambda: float = 0.7,
        omega: float = 0.5,
        corr_scale_floor: float = 0.02,
        cls_scale_floor: float = 0.02,
        scale_momentum: float = 0.9,
    ) -> None:
        """Store the MVLM hyper-parameters (documented in ``TrackerConfig``)."""
        for name, value in (
            ("alpha_corr", alpha_corr),
            ("ewma_lambda", ewma_lambda),
            ("omega", omega),
            ("scale_momentum", scale_momentum),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: must be in [0, 1], got {value}")
        if not 0.0 < psi_out <= 1.0:
            raise ValueError(f"psi_out: must be in (0, 1], got {psi_out}")
        for name, value in (("corr_scale_floor", corr_scale_floor), ("cls_scale_floor", cls_scale_floor)):
            if not value > 0.0:
                raise ValueError(f"{name}: must be positive, got {value}")
        self.alpha_corr = float(alpha_corr)
        self.psi_out = float(psi_out)
        self.ewma_lambda = float(ewma_lambda)
        self.omega = float(omega)
        self.corr_scale_floor = float(corr_scale_floor)
        self.cls_scale_floor = float(cls_scale_floor)
        self.scale_momentum = float(scale_momentum)
        self._memory: float | None = None
        self._cls_scale: float | None = None
        self._corr_scale: float | None = None

    @property
    def memory(self) -> float | None:
        """The EWMA memory ``m_{t-1}`` (None after a reset: the next frame starts it at ``kappa_vlm``)."""
        return self._memory

    def reset(self, memory: float | None = None) -> None:
        """Forget the memory and running scales; optionally seed ``m`` (e.g. 1.0 for a user-given box)."""
        if memory is not None and not -1.0 <= memory <= 1.0:
            raise ValueError(f"memory: must be in [-1, 1], got {memory}")
        self._memory = None if memory is None else float(memory)
        self._cls_scale = None
        self._corr_scale = None

    def _running(self, previous: float | None, current: float) -> float:
        """Exponential running average of a per-frame robust scale (first frame: the frame's own value)."""
        if previous is None:
            return current
        return self.scale_momentum * previous + (1.0 - self.scale_momentum) * current

    def evaluate(
        self,
        cls_scores: np.ndarray,
        boxes_xyxy: np.ndarray,
        candidates: np.ndarray,
        corr_map: np.ndarray | None = None,
        stride: float = 16.0,
        margin_values: np.ndarray | None = None,
    ) -> ConfidenceEstimate:
        """Score candidates (indices into the dense set) without changing the memory (MVLM kappa_mvlm).

        ``cls_scores`` are sigmoid scores of the dense cell boxes ``boxes_xyxy`` (``(M,)`` and ``(M, 4)`` in
        crop pixels, row-major over the ``(Hs, Ws)`` grid of ``corr_map``); ``stride``: crop pixels per cell.
        ``margin_values`` (``(M,)``, default the scores): the values whose margin over the competitors is the
        classification margin, e.g. the prior-weighted ranking map, so that a distractor must beat the target
        by more than the motion prior's difference; the robust scale is always that of the raw scores.
        """
        scores = np.asarray(cls_scores, dtype=np.float64).ravel()
        cand = np.asarray(candidates, dtype=np.int64).ravel()
        cls_scale = self._running(self._cls_scale, robust_scale(scores))
        values = scores if margin_values is None else np.asarray(margin_values, dtype=np.float64).ravel()
        if values.shape != scores.shape:
            raise ValueError(f"margin_values: expected shape {scores.shape}, got {values.shape}")
        raw_cls, cls_comp = exclusion_margin(values, boxes_xyxy, cand, self.psi_out)
        cls_margin = np.tanh(raw_cls / max(cls_scale, self.cls_scale_floor))
        corr_margin = corr_comp = corr_scale = None
        if corr_map is not None:
            corr = np.asarray(corr_map, dtype=np.float64)
            rho = region_average(corr, boxes_xyxy, stride)
            corr_scale = self._running(self._corr_scale, robust_scale(corr))
            raw_corr, corr_comp = exclusion_margin(rho, boxes_xyxy, cand, self.psi_out)
            corr_margin = np.tanh(raw_corr / max(corr_scale, self.corr_scale_floor))
            kappa_vlm = self.alpha_corr * corr_margin + (1.0 - self.alpha_corr) * cls_margin
        else:
            kappa_vlm = cls_margin
        previous = kappa_vlm if self._memory is None else self._memory
        memory = (1.0 - self.ewma_lambda) * kappa_vlm + self.ewma_lambda * previous
        kappa = np.clip((1.0 - self.omega) * kappa_vlm + self.omega * memory, -1.0, 1.0)
        return ConfidenceEstimate(
            kappa=kappa,
            kappa_vlm=kappa_vlm,
            memory=memory,
            cls_margin=cls_margin,
            corr_margin=corr_margin,
            cls_competitor=cls_comp,
            corr_competitor=corr_comp,
            cls_scale=cls_scale,
            corr_scale=corr_scale,
        )

    def commit(self, estimate: ConfidenceEstimate, index: int) -> float:
        """Adopt candidate ``index``: update ``m_t`` and the running scales; return its kappa."""
        self._memory = float(estimate.memory[index])
        self._cls_scale = estimate.cls_scale
        if estimate.corr_scale is not None:
            self._corr_scale = estimate.corr_scale
        return float(estimate.kappa[index])


def passes_gate(kappa: float, tau: float) -> bool:
    """MVLM gating: a candidate joins the ROI subset ``S_t(tau)`` (local search next) iff ``kappa >= tau``."""
    return bool(kappa >= tau)
