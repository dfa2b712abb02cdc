"""OPE metrics checked against values worked out by hand for hand-built box sequences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mamba_tracking_ros.eval import (
    CENTER_THRESHOLDS,
    NORM_CENTER_THRESHOLDS,
    OVERLAP_THRESHOLDS,
    aggregate,
    center_error,
    evaluate_sequence,
    iou,
    normalized_center_error,
    per_attribute,
    sequence_errors,
)

GT = [100.0, 100.0, 20.0, 20.0]  # centre (110, 110)

# Hand-built 5-frame sequence, ground truth GT everywhere.
#   frame 0: far away (IoU 0, error 141 px)  -> must not be evaluated
#   frame 1: identical             IoU 1     error 0              normalised 0
#   frame 2: (100,100,20,10)       IoU 0.5   centre (110,105): 5  normalised 5/20 = 0.25
#   frame 3: (100,100,10,10)       IoU 0.25  centre (105,105): sqrt(50) = 7.07  normalised sqrt(0.125) = 0.354
#   frame 4: (130,100,20,20)       IoU 0     error 30             normalised 1.5
BASE_PRED = [
    [0.0, 0.0, 20.0, 20.0],
    [100.0, 100.0, 20.0, 20.0],
    [100.0, 100.0, 20.0, 10.0],
    [100.0, 100.0, 10.0, 10.0],
    [130.0, 100.0, 20.0, 20.0],
]
# Successes (IoU strictly > t) among frames 1..4 at t = i/20:
#   i=0..4 (t<0.25): 1, 0.5, 0.25 -> 3;  i=5..9 (0.25 <= t < 0.5): 1, 0.5 -> 2 (0.25 > 0.25 is False);
#   i=10..19: only 1 -> 1 (0.5 > 0.5 is False);  i=20 (t=1): 1 > 1 is False -> 0.  Sum = 15 + 10 + 10 = 35.
BASE_SUCCESS_COUNTS = [3] * 5 + [2] * 5 + [1] * 10 + [0]
# Errors <= t px: t=0..4: {0} -> 1; t=5..7: {0, 5} -> 2 (7.07 > 7); t=8..29: 3; t=30..50: 4 (30 <= 30).
BASE_PRECISION_COUNTS = [1] * 5 + [2] * 3 + [3] * 22 + [4] * 21
# Normalised errors <= k/100: k=0..24: 1; k=25..35: 2 (0.25 <= 0.25); k=36..50: 3 (0.354 <= 0.36); 1.5 never.
BASE_NORM_COUNTS = [1] * 25 + [2] * 11 + [3] * 15


def seq(extra_pred=(), extra_gt=()):
    """Base sequence extended by extra frames; returns (pred, gt) arrays."""
    pred = np.array(BASE_PRED + [list(b) for b in extra_pred])
    gt = np.array([GT] * 5 + [list(b) for b in extra_gt])
    return pred, gt


def test_thresholds_are_the_ope_ones():
    assert OVERLAP_THRESHOLDS.shape == (21,) and CENTER_THRESHOLDS.shape == (51,)
    assert NORM_CENTER_THRESHOLDS.shape == (51,)
    # the hand-worked equality cases below rely on these being exact
    assert OVERLAP_THRESHOLDS[5] == 0.25 and OVERLAP_THRESHOLDS[10] == 0.5 and OVERLAP_THRESHOLDS[20] == 1.0
    assert CENTER_THRESHOLDS[20] == 20.0 and CENTER_THRESHOLDS[30] == 30.0
    assert NORM_CENTER_THRESHOLDS[20] == 0.2 and NORM_CENTER_THRESHOLDS[25] == 0.25


def test_iou_by_hand():
    a = np.array(
        [
            [10, 20, 30, 40],  # identical
            [0, 0, 10, 10],  # disjoint
            [0, 0, 10, 10],  # touching edge: zero-area intersection
            [0, 0, 10, 10],  # contains (2,3,4,5): 20 / 100
            [0, 0, 10, 10],  # overlap 5x5 = 25, union 175
        ],
        dtype=float,
    )
    b = np.array(
        [[10, 20, 30, 40], [20, 0, 10, 10], [10, 0, 10, 10], [2, 3, 4, 5], [5, 5, 10, 10]], dtype=float
    )
    expected = [1.0, 0.0, 0.0, 0.2, 1.0 / 7.0]
    np.testing.assert_allclose(iou(a, b), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(iou(b, a), expected, rtol=0, atol=1e-12)


def test_center_errors_by_hand():
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], dtype=float)  # centre (5, 5)
    gt = np.array([[3, 4, 10, 10], [3, 4, 6, 8]], dtype=float)  # centres (8, 9) and (6, 8)
    np.testing.assert_allclose(center_error(pred, gt), [5.0, math.hypot(1.0, 3.0)])
    # normalised: (dx / w_gt, dy / h_gt)
    np.testing.assert_allclose(
        normalized_center_error(pred, gt), [math.hypot(3 / 10, 4 / 10), math.hypot(1 / 6, 3 / 8)]
    )


def test_base_sequence_curves_and_scores():
    pred, gt = seq()
    r = evaluate_sequence(pred, gt, name="base")
    assert r.num_frames == 4
    np.testing.assert_allclose(r.success, np.array(BASE_SUCCESS_COUNTS) / 4)
    np.testing.assert_allclose(r.precision, np.array(BASE_PRECISION_COUNTS) / 4)
    np.testing.assert_allclose(r.normalized_precision, np.array(BASE_NORM_COUNTS) / 4)
    assert r.auc == pytest.approx(100 * 35 / 84)
    assert r.precision_20 == pytest.approx(75.0)
    assert r.normalized_precision_20 == pytest.approx(25.0)


def test_first_frame_is_excluded():
    pred, gt = seq()
    kept = evaluate_sequence(pred, gt, exclude_first=False)
    # frame 0 (a miss everywhere) now in the denominator: 5 frames
    assert kept.num_frames == 5
    assert kept.auc == pytest.approx(100 * 35 / 105)
    assert kept.precision_20 == pytest.approx(60.0)
    assert kept.normalized_precision_20 == pytest.approx(20.0)
    errs = sequence_errors(pred, gt)
    assert not errs.valid[0] and not errs.counted[0]


def test_invalid_ground_truth_and_failed_predictions():
    pred, gt = seq(
        extra_pred=[
            [100, 100, 20, 20],  # 5: GT has zero width -> excluded
            [100, 100, 20, 20],  # 6: GT is NaN -> excluded
            [np.nan, 100, 20, 20],  # 7: NaN prediction -> failure
            [100, 100, -5, 20],  # 8: negative width -> failure
            [100, 100, 20, 0],  # 9: zero height -> failure
        ],
        extra_gt=[[100, 100, 0, 20], [np.nan] * 4, GT, GT, GT],
    )
    errs = sequence_errors(pred, gt)
    np.testing.assert_array_equal(errs.valid, [0, 1, 1, 1, 1, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(errs.counted, [0, 1, 1, 1, 1, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(errs.iou[7:], [0.0, 0.0, 0.0])
    assert np.isinf(errs.center_error[7:]).all() and np.isinf(errs.normalized_center_error[7:]).all()

    r = evaluate_sequence(pred, gt)
    # denominator 7 (frames 1-4 and 7-9); the three failures add no success anywhere
    assert r.num_frames == 7
    np.testing.assert_allclose(r.success, np.array(BASE_SUCCESS_COUNTS) / 7)
    assert r.auc == pytest.approx(100 * 35 / 147)
    assert r.precision_20 == pytest.approx(100 * 3 / 7)
    assert r.normalized_precision_20 == pytest.approx(100 * 1 / 7)


def test_valid_mask_excludes_frames():
    pred, gt = seq()
    r = evaluate_sequence(pred, gt, valid=[True, True, False, True, True])
    # frames 1, 3, 4 with IoU 1, 0.25, 0: i=0..4 -> 2, i=5..19 -> 1, i=20 -> 0; sum 25
    assert r.num_frames == 3
    np.testing.assert_allclose(r.success, np.array([2] * 5 + [1] * 15 + [0]) / 3)
    assert r.auc == pytest.approx(100 * 25 / 63)


def test_lasot_rules_by_hand():
    pred, gt = seq(
        extra_pred=[[100, 100, 20, 20]] * 4,  # perfect boxes on frames 5-8
        extra_gt=[GT, GT, GT, [100, 100, 20, 0]],  # frame 8 has an invalid (zero-height) GT
    )
    full_occ = np.zeros(9, dtype=bool)
    oov = np.zeros(9, dtype=bool)
    full_occ[5] = True  # frame 5 fully occluded
    oov[6] = True  # frame 6 out of view; frame 7 visible

    plain = evaluate_sequence(pred, gt)
    # frames 1-7 counted (8 excluded, invalid GT); perfect frames 5, 6, 7 add 1 for i=0..19
    assert plain.num_frames == 7
    np.testing.assert_allclose(plain.success, np.array([6] * 5 + [5] * 5 + [4] * 10 + [0]) / 7)
    assert plain.auc == pytest.approx(100 * 95 / 147)
    assert plain.precision_20 == pytest.approx(100 * 6 / 7)
    assert plain.normalized_precision_20 == pytest.approx(100 * 4 / 7)

    # pytracking's LaSOT branch: hidden frames (5, 6) and the invalid-GT frame 8 stay in the denominator
    # (full sequence length less frame 0) but can never succeed, even with a perfect box
    lasot = evaluate_sequence(pred, gt, lasot_rules=True, full_occlusion=full_occ, out_of_view=oov)
    assert lasot.num_frames == 8
    np.testing.assert_allclose(lasot.success, np.array([4] * 5 + [3] * 5 + [2] * 10 + [0]) / 8)
    assert lasot.auc == pytest.approx(100 * 55 / 168)
    assert lasot.precision_20 == pytest.approx(50.0)
    assert lasot.normalized_precision_20 == pytest.approx(25.0)
    errs = sequence_errors(pred, gt, lasot_rules=True, full_occlusion=full_occ, out_of_view=oov)
    np.testing.assert_array_equal(errs.valid, [0, 1, 1, 1, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(errs.counted, [0, 1, 1, 1, 1, 1, 1, 1, 1])


def test_aggregate_averages_sequences_not_frames():
    a = evaluate_sequence(*seq(), name="a")  # 4 counted frames
    # b: 1 counted frame, a perfect box -> success 1 for t < 1, 0 at t = 1; P@20 = NP@0.2 = 1
    b = evaluate_sequence([[0, 0, 5, 5], GT], [GT, GT], name="b")
    s = aggregate([a, b])
    assert s.num_sequences == 2
    np.testing.assert_allclose(s.success, np.array([7 / 8] * 5 + [3 / 4] * 5 + [5 / 8] * 10 + [0.0]))
    # (5 * 7/8 + 5 * 3/4 + 10 * 5/8) / 21; pooling frames instead would give 55 / 105
    assert s.auc == pytest.approx(100 * 14.375 / 21)
    assert s.precision_20 == pytest.approx(87.5)  # (3/4 + 1) / 2; pooled frames would give 80
    assert s.normalized_precision_20 == pytest.approx(62.5)  # (1/4 + 1) / 2


def test_per_attribute_picks_sequences():
    a = evaluate_sequence(*seq(), name="a")
    b = evaluate_sequence([[0, 0, 5, 5], GT], [GT, GT], name="b")
    c = evaluate_sequence([[0, 0, 5, 5]] * 3, [GT] * 3, name="c")  # every frame missed
    attrs = {
        "a": ["occlusion", "fast_motion"],
        "b": ["occlusion"],
        "c": ["fast_motion", "low_resolution"],
        "not_evaluated": ["occlusion", "illumination"],
    }
    out = per_attribute([a, b, c], attrs)
    assert set(out) == {"occlusion", "fast_motion", "low_resolution"}
    assert out["occlusion"].num_sequences == 2
    assert out["occlusion"].auc == pytest.approx(100 * 14.375 / 21)  # a and b, as above
    assert out["fast_motion"].num_sequences == 2
    assert out["fast_motion"].auc == pytest.approx(100 * 35 / 84 / 2)  # a and c (c scores 0)
    assert out["fast_motion"].precision_20 == pytest.approx(37.5)
    assert out["low_resolution"].num_sequences == 1
    assert out["low_resolution"].auc == 0.0


@pytest.mark.parametrize(
    ("call", "word"),
    [
        (lambda: iou(np.zeros((3, 3)), np.zeros((3, 3))), "pred"),
        (lambda: iou(np.ones((3, 4)), np.ones((3, 5))), "gt"),
        (lambda: center_error(np.ones((3, 4)), np.ones((2, 4))), "pred and gt"),
        (lambda: sequence_errors(*seq(), valid=[True] * 4), "valid"),
        (lambda: sequence_errors(*seq(), lasot_rules=True, full_occlusion=[0] * 3), "full_occlusion"),
        (lambda: sequence_errors(*seq(), lasot_rules=True, out_of_view=[2] * 5), "out_of_view"),
        (lambda: sequence_errors(*seq(), lasot_rules=True), "lasot_rules"),
        (lambda: sequence_errors(*seq(), full_occlusion=[0] * 5), "full_occlusion"),
        (lambda: evaluate_sequence([[1, 1, 5, 5]], [GT]), "gt"),  # only frame 0: nothing to evaluate
        (lambda: aggregate([]), "results"),
        (lambda: per_attribute([evaluate_sequence(*seq(), name="x")] * 2, {"x": ["a"]}), "results"),
        (lambda: per_attribute([evaluate_sequence(*seq(), name="x")], {"x": "occlusion"}), "attributes"),
    ],
)
def test_bad_input_raises_value_error(call, word):
    with pytest.raises(ValueError, match=word):
        call()
