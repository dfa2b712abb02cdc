"""MVLM margin confidence: margins from hand-made maps, IoU exclusion, EWMA recurrence, bounds and gating."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mamba_tracking_ros.tracking.confidence import (
    MarginConfidence,
    exclusion_margin,
    passes_gate,
    region_average,
    region_cells,
    robust_scale,
)
from mamba_tracking_ros.tracking.geometry import cell_boxes

STRIDE, CROP = 16, 64  # a 4 x 4 grid of 16-pixel cells


def grid_boxes(size_fraction: float) -> np.ndarray:
    """Dense boxes centred on every cell centre of the 4x4 grid, all of side size_fraction * CROP."""
    offset = np.full((2, 4, 4), 0.5)
    size = np.full((2, 4, 4), size_fraction)
    return cell_boxes(offset, size, STRIDE, CROP)[0]


def test_robust_scale_by_hand() -> None:
    # median 3, absolute deviations [2, 1, 0, 1, 97] -> median 1
    assert robust_scale(np.array([1.0, 2.0, 3.0, 4.0, 100.0])) == pytest.approx(1.4826)
    assert robust_scale(np.full(9, 0.3)) == 0.0


def test_region_average_by_hand() -> None:
    corr = np.arange(16, dtype=np.float64).reshape(4, 4)  # cell centres at 8, 24, 40, 56 px
    boxes = np.array(
        [
            [0.0, 0.0, 32.0, 32.0],  # cells rows 0-1, cols 0-1
            [30.0, 30.0, 33.0, 33.0],  # no cell centre inside -> the cell under its centre, (1, 1)
            [-100.0, -100.0, 500.0, 500.0],  # everything
            [20.0, 36.0, 60.0, 45.0],  # centres x in {24, 40, 56}, y in {40} -> row 2, cols 1..3
        ]
    )
    want = [np.mean([0, 1, 4, 5]), 5.0, np.mean(np.arange(16)), np.mean([9, 10, 11])]
    np.testing.assert_allclose(region_average(corr, boxes, STRIDE), want)
    np.testing.assert_array_equal(region_cells(boxes, STRIDE, (4, 4))[3], [1, 2, 3, 2])


def test_exclusion_margin_skips_overlapping_competitor() -> None:
    boxes = np.array([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    values = np.array([0.9, 0.8, 0.3])  # box 1 overlaps box 0 with IoU 81/119 = 0.68
    margin, comp = exclusion_margin(values, boxes, np.array([0]), psi_out=0.3)
    assert comp[0] == 2 and margin[0] == pytest.approx(0.6)
    margin, comp = exclusion_margin(values, boxes, np.array([0]), psi_out=0.9)  # zone too small to exclude it
    assert comp[0] == 1 and margin[0] == pytest.approx(0.1)
    # every box inside the zone: the median stands in for the competitor
    same = np.array([[0.0, 0.0, 10.0, 10.0]] * 3)
    margin, comp = exclusion_margin(np.array([0.9, 0.5, 0.1]), same, np.array([0]), psi_out=0.3)
    assert comp[0] == -1 and margin[0] == pytest.approx(0.4)


def hand_maps() -> tuple[np.ndarray, np.ndarray]:
    """Scores 0.9 at cell 5, 0.6 at 11, seven 0.1, seven 0.3; correlation 0.5 at 5, 0.2 at 11, else 0."""
    scores = np.array([0.1, 0.3] * 7 + [0.9, 0.6])
    scores = np.concatenate([scores[:5], [0.9], scores[5:10], [0.6], scores[10:14]])
    corr = np.zeros(16)
    corr[5], corr[11] = 0.5, 0.2
    return scores, corr.reshape(4, 4)


def test_margins_match_hand_computation() -> None:
    scores, corr = hand_maps()
    assert scores[5] == 0.9 and scores[11] == 0.6 and sorted(scores)[:7] == [0.1] * 7
    boxes = grid_boxes(0.25)  # each box is exactly its own cell: no overlaps, rho(b) = corr at the cell
    conf = MarginConfidence(alpha_corr=0.4, psi_out=0.3, ewma_lambda=0.7, omega=0.5, corr_scale_floor=0.05)
    est = conf.evaluate(scores, boxes, np.array([5, 11]), corr, STRIDE)
    # scores: median 0.3; |s - 0.3| = seven 0.2, seven 0, 0.6, 0.3 -> MAD 0.2 -> scale 1.4826 * 0.2
    cls_scale = 1.4826 * 0.2
    assert est.cls_scale == pytest.approx(cls_scale)
    cls_top = math.tanh((0.9 - 0.6) / cls_scale)
    cls_second = math.tanh((0.6 - 0.9) / cls_scale)
    np.testing.assert_allclose(est.cls_margin, [cls_top, cls_second])
    # correlation: median 0 and MAD 0 -> the floor 0.05 is used
    assert est.corr_scale == 0.0
    np.testing.assert_allclose(est.corr_margin, [math.tanh(0.3 / 0.05), math.tanh(-0.3 / 0.05)])
    kvlm = 0.4 * math.tanh(6.0) + 0.6 * cls_top
    assert est.kappa_vlm[0] == pytest.approx(kvlm)
    assert est.kappa[0] == pytest.approx(kvlm)  # empty memory: m_0 = kappa_vlm, so kappa = kappa_vlm
    np.testing.assert_array_equal(est.cls_competitor, [11, 5])
    assert conf.memory is None  # evaluate does not change the memory


def test_competitor_inside_iou_zone_is_excluded() -> None:
    scores = np.full(16, 0.05)
    scores[5], scores[6], scores[15] = 0.9, 0.8, 0.5  # 6 is right next to 5, 15 is far away
    boxes = grid_boxes(0.5)  # 32 px boxes: horizontal neighbours overlap with IoU 1/3
    conf = MarginConfidence(psi_out=0.3, cls_scale_floor=1.0)
    est = conf.evaluate(scores, boxes, np.array([5]), None, STRIDE)
    assert est.cls_competitor[0] == 15
    assert est.cls_margin[0] == pytest.approx(math.tanh(0.9 - 0.5))
    wide = MarginConfidence(psi_out=0.5, cls_scale_floor=1.0).evaluate(
        scores, boxes, np.array([5]), None, STRIDE
    )
    assert wide.cls_competitor[0] == 6  # IoU 1/3 < 0.5: the neighbour now counts as a competitor
    assert wide.cls_margin[0] == pytest.approx(math.tanh(0.9 - 0.8))


def test_ewma_recurrence_over_frames() -> None:
    lam, omega = 0.6, 0.3
    conf = MarginConfidence(alpha_corr=0.5, ewma_lambda=lam, omega=omega, scale_momentum=0.8)
    conf.reset(memory=0.2)
    rng = np.random.default_rng(3)
    boxes = grid_boxes(0.25)
    memory, scale = 0.2, None
    for _ in range(6):
        scores = rng.uniform(0.0, 1.0, 16)
        corr = rng.uniform(-0.5, 0.5, (4, 4))
        est = conf.evaluate(scores, boxes, np.array([int(np.argmax(scores))]), corr, STRIDE)
        kvlm = float(est.kappa_vlm[0])
        memory = (1 - lam) * kvlm + lam * memory
        assert est.kappa[0] == pytest.approx((1 - omega) * kvlm + omega * memory)
        frame_scale = robust_scale(scores)
        scale = frame_scale if scale is None else 0.8 * scale + 0.2 * frame_scale
        assert est.cls_scale == pytest.approx(scale)
        assert conf.commit(est, 0) == pytest.approx(est.kappa[0])
        assert conf.memory == pytest.approx(memory)
    conf.reset()
    assert conf.memory is None


def test_without_sentence_only_classification_counts() -> None:
    scores, corr = hand_maps()
    boxes = grid_boxes(0.25)
    est = MarginConfidence(alpha_corr=0.9).evaluate(scores, boxes, np.array([5]), None, STRIDE)
    assert est.corr_margin is None
    assert est.kappa_vlm[0] == pytest.approx(est.cls_margin[0])


def test_kappa_stays_in_bounds() -> None:
    rng = np.random.default_rng(4)
    conf = MarginConfidence(corr_scale_floor=1e-6, cls_scale_floor=1e-6)
    for trial in range(200):
        scores = rng.uniform(0.0, 1.0, 16) ** rng.uniform(0.1, 10.0)
        corr = rng.uniform(-1.0, 1.0, (4, 4)) * rng.choice([1e-6, 1.0])
        boxes = grid_boxes(float(rng.uniform(0.05, 1.5)))
        est = conf.evaluate(scores, boxes, np.arange(16), corr if trial % 2 else None, STRIDE)
        assert np.all(est.kappa >= -1.0) and np.all(est.kappa <= 1.0)
        assert np.all(np.abs(est.kappa_vlm) <= 1.0)
        conf.commit(est, int(rng.integers(16)))


def test_tau_gating() -> None:
    assert passes_gate(0.3, 0.3) and passes_gate(0.9, 0.3)
    assert not passes_gate(0.29, 0.3)
    scores, corr = hand_maps()
    est = MarginConfidence().evaluate(scores, grid_boxes(0.25), np.array([5, 11]), corr, STRIDE)
    kept = [passes_gate(k, 0.0) for k in est.kappa]
    assert kept == [True, False]  # the peak has a positive margin, its competitor a negative one


def test_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match="alpha_corr"):
        MarginConfidence(alpha_corr=1.5)
    with pytest.raises(ValueError, match="psi_out"):
        MarginConfidence(psi_out=0.0)
    with pytest.raises(ValueError, match="cls_scale_floor"):
        MarginConfidence(cls_scale_floor=0.0)
    with pytest.raises(ValueError, match="memory"):
        MarginConfidence().reset(memory=2.0)
