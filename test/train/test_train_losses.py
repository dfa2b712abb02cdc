"""Training targets and losses: hand-worked values, decode round trip, gradients, a tiny optimisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mamba_tracking_ros.model.types import NetOutput
from mamba_tracking_ros.tracking.geometry import cell_boxes
from mamba_tracking_ros.train import (
    LossWeights,
    TrackingLoss,
    build_targets,
    correlation_margin_loss,
    decode_at,
    focal_loss,
    gaussian_radius,
    generalized_box_iou,
    giou_loss,
    inter_video_contrastive_loss,
    intra_video_contrastive_loss,
)

GRID = (8, 8)
CROP = 128.0


# ----------------------------------------------------------------------------------------------- targets
@pytest.mark.parametrize(
    "box",
    [(10.0, 20.0, 30.0, 40.0), (0.5, 0.5, 3.0, 2.0), (60.3, 71.9, 120.0, 90.0), (100.0, 1.0, 27.9, 30.0)],
)
def test_targets_round_trip_through_tracker_decoding(box):
    t = build_targets([box], GRID, CROP)
    assert bool(t.present[0])
    hs, ws = GRID
    off = np.zeros((2, hs, ws))
    size = np.zeros((2, hs, ws))
    idx = int(t.centre_index[0])
    row, col = divmod(idx, ws)
    off[:, row, col] = t.offset[0].numpy()
    size[:, row, col] = t.size[0].numpy()
    boxes, centres = cell_boxes(off, size, t.stride, t.crop_size)
    x, y, w, h = box
    np.testing.assert_allclose(boxes[idx], [x, y, x + w, y + h], atol=1e-4)
    np.testing.assert_allclose(centres[idx], [x + w / 2, y + h / 2], atol=1e-4)
    assert float(t.offset[0].min()) >= 0.0 and float(t.offset[0].max()) < 1.0
    # the differentiable decoder used by the loss agrees with the tracker's
    dec = decode_at(torch.from_numpy(off)[None], torch.from_numpy(size)[None], t.centre_index, t.stride, CROP)
    np.testing.assert_allclose(dec[0].numpy(), boxes[idx], atol=1e-6)
    # heatmap: a single exact 1 at the centre cell, decaying away from it
    hm = t.heatmap[0, 0]
    assert int((hm == 1.0).sum()) == 1 and float(hm[row, col]) == 1.0
    assert float(hm.max()) <= 1.0 and float(hm.min()) >= 0.0
    # R(b): tokens whose cell centres lie in the box, and always the centre cell
    inside = t.inside[0, 0]
    assert bool(inside[row, col])
    for r in range(hs):
        for c in range(ws):
            cx, cy = (c + 0.5) * t.stride, (r + 0.5) * t.stride
            expect = (x <= cx < x + w and y <= cy < y + h) or (r, c) == (row, col)
            assert bool(inside[r, c]) == expect


def test_heatmap_sigma_grows_with_box_and_gaussian_shape():
    small = build_targets([(60.0, 60.0, 8.0, 8.0)], GRID, CROP).heatmap[0, 0]
    big = build_targets([(8.0, 8.0, 112.0, 112.0)], GRID, CROP).heatmap[0, 0]
    r, c = 4, 4
    assert float(big[r, c + 1]) > float(small[r, c + 1])
    # isotropic gaussian around the centre cell: equal values at equal distances, log is quadratic
    assert math.isclose(float(big[r, c + 2]), float(big[r + 2, c]), rel_tol=1e-5)
    l1, l2 = -math.log(float(big[r, c + 1])), -math.log(float(big[r, c + 2]))
    assert math.isclose(l2, 4.0 * l1, rel_tol=1e-4)


def test_gaussian_radius_keeps_min_overlap():
    w, h, o = 6.0, 3.0, 0.7
    r = gaussian_radius(w, h, o)
    assert r > 0.0
    # each displacement family at the radius has IoU >= o, and one is tight
    shift = (w - r) * (h - r) / (2 * w * h - (w - r) * (h - r))
    shrink = (w - 2 * r) * (h - 2 * r) / (w * h)
    grow = w * h / ((w + 2 * r) * (h + 2 * r))
    assert min(shift, shrink, grow) >= o - 1e-9
    assert math.isclose(min(shift, shrink, grow), o, rel_tol=1e-9)


def test_absent_targets():
    t = build_targets([None, (200.0, 10.0, 20.0, 20.0), (-40.0, 10.0, 50.0, 20.0)], GRID, CROP)
    # None; centre right of the crop; centre at x = -15 left of the crop
    assert t.present.tolist() == [False, False, False]
    assert float(t.heatmap.abs().sum()) == 0.0
    assert not bool(t.inside.any())
    t2 = build_targets(torch.tensor([[10.0, 10.0, 20.0, 20.0]]), GRID, CROP, present=[False])
    assert not bool(t2.present[0]) and float(t2.heatmap.sum()) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"boxes": [(1.0, 2.0, -3.0, 4.0)]}, "boxes[0]"),
        ({"boxes": [(1.0, 2.0, float("nan"), 4.0)]}, "boxes[0]"),
        ({"boxes": [(1.0, 2.0, 3.0)]}, "boxes[0]"),
        ({"boxes": [(1.0, 2.0, 3.0, 4.0)], "grid": (8, 4)}, "grid"),
        ({"boxes": [(1.0, 2.0, 3.0, 4.0)], "crop_size": 0.0}, "crop_size"),
        ({"boxes": [(1.0, 2.0, 3.0, 4.0)], "present": [True, False]}, "present"),
    ],
)
def test_build_targets_rejects_bad_input(kwargs, name):
    args = {"grid": GRID, "crop_size": CROP, **kwargs}
    with pytest.raises(ValueError, match=name.replace("[", r"\[").replace("]", r"\]")):
        build_targets(**args)


# ----------------------------------------------------------------------------------------------- GIoU
def test_giou_hand_worked():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 4.0, 3.0]])
    b = torch.tensor([[0.0, 0.0, 2.0, 2.0], [2.0, 0.0, 3.0, 1.0], [1.0, 1.0, 3.0, 3.0], [1.0, 1.0, 4.0, 3.0]])
    giou = generalized_box_iou(a, b)
    # identical: 1; disjoint unit squares 1 apart: IoU 0, union 2, enclosing 3 -> -1/3;
    # 2x2 squares overlapping in a unit square: IoU 1/7, enclosing 9, union 7 -> 1/7 - 2/9
    expected = torch.tensor([1.0, -1.0 / 3.0, 1.0 / 7.0 - 2.0 / 9.0, 1.0])
    torch.testing.assert_close(giou, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(giou_loss(a, b), 1.0 - expected, atol=1e-6, rtol=0)
    # far apart boxes approach the GIoU floor of -1 (loss 2): unit squares 98 apart, enclosing 99
    far = generalized_box_iou(torch.tensor([0.0, 0.0, 1.0, 1.0]), torch.tensor([98.0, 0.0, 99.0, 1.0]))
    assert math.isclose(float(far), -(99.0 - 2.0) / 99.0, rel_tol=1e-5)


# ----------------------------------------------------------------------------------------------- focal
def test_focal_hand_worked():
    logits = torch.tensor([[[[0.0, 0.0], [math.log(3.0), -math.log(3.0)]]]])
    heat = torch.tensor([[[[1.0, 0.5], [0.0, 1.0]]]])
    # cell (0,0) pos p=.5: .25 log .5; (0,1) neg y=.5 p=.5: .5^4 .5^2 log .5;
    # (1,0) neg y=0 p=.75: .75^2 log .25; (1,1) pos p=.25: .75^2 log .25. Two positives.
    expected = -(
        0.25 * math.log(0.5)
        + 0.0625 * 0.25 * math.log(0.5)
        + 0.5625 * math.log(0.25)
        + 0.5625 * math.log(0.25)
    )
    expected /= 2.0
    assert math.isclose(float(focal_loss(logits, heat)), expected, rel_tol=1e-6)
    # no positives: normalised by 1, only the negative term
    zero = torch.zeros(1, 1, 1, 2)
    lg = torch.tensor([[[[0.0, math.log(3.0)]]]])
    assert math.isclose(
        float(focal_loss(lg, zero)), -(0.25 * math.log(0.5) + 0.5625 * math.log(0.25)), rel_tol=1e-6
    )


def test_focal_is_stable_for_extreme_logits():
    logits = torch.tensor([[[[200.0, -200.0], [-200.0, 200.0]]]], requires_grad=True)
    heat = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    loss = focal_loss(logits, heat)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    # confidently wrong cells dominate: positive at -200 costs ~200, negative at +200 costs ~200
    assert 150.0 < float(loss.detach()) < 250.0
    right = focal_loss(torch.tensor([[[[200.0, -200.0], [200.0, -200.0]]]]), heat)
    assert float(right) < 1e-6


# ----------------------------------------------------------------------------------------------- margin
def _corr_case(target_value: float, bg_value: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    t = build_targets([(32.0, 32.0, 48.0, 48.0)], GRID, CROP)
    corr = torch.full((1, 1, *GRID), bg_value)
    corr = torch.where(t.inside, torch.full_like(corr, target_value), corr)
    return corr, t.inside


def test_margin_loss_decreases_as_target_rises_above_background():
    values = [-0.5, 0.0, 0.2, 0.4, 0.8]
    losses = []
    for v in values:
        corr, inside = _corr_case(v)
        losses.append(float(correlation_margin_loss(corr, inside, tau=0.1, top_k=4)))
    assert all(a > b for a, b in zip(losses, losses[1:]))
    # equal correlation: margin 0 -> log 2; margin 0.6 / 0.1 -> softplus(-6)
    assert math.isclose(losses[2], math.log(2.0), rel_tol=1e-5)
    assert math.isclose(losses[4], math.log1p(math.exp(-6.0)), rel_tol=1e-4)


def test_margin_loss_uses_hardest_background_tokens():
    corr, inside = _corr_case(0.5, bg_value=0.0)
    flat = corr.clone().view(-1)
    bg = (~inside).view(-1).nonzero().view(-1)
    flat[bg[:3]] = torch.tensor([0.9, 0.7, 0.6])  # three hard distractors
    corr = flat.view(corr.shape)
    got = float(correlation_margin_loss(corr, inside, tau=0.1, top_k=2))
    expected = 0.5 * (math.log1p(math.exp(4.0)) + math.log1p(math.exp(2.0)))  # margins -0.4, -0.2
    assert math.isclose(got, expected, rel_tol=1e-5)
    # gradient: only the inside tokens and the two chosen background tokens receive any
    c = corr.clone().requires_grad_(True)
    correlation_margin_loss(c, inside, tau=0.1, top_k=2).backward()
    g = c.grad.view(-1)
    nz = set(g.nonzero().view(-1).tolist())
    assert nz == set(inside.view(-1).nonzero().view(-1).tolist()) | {int(bg[0]), int(bg[1])}
    assert float(g[bg[0]]) > 0.0 and float(g[inside.view(-1)].sum()) < 0.0


def test_margin_loss_skips_absent():
    corr, inside = _corr_case(0.5)
    assert correlation_margin_loss(corr, inside, present=torch.tensor([False])) is None
    with pytest.raises(ValueError, match="tau"):
        correlation_margin_loss(corr, inside, tau=0.0)


# ----------------------------------------------------------------------------------------------- contrast
def _tokens_for(t, positive_sim: float, negative_sim: float, d: int = 16) -> torch.Tensor:
    """Tokens where the target region is around direction e0, the centre token at ``positive_sim`` to e0."""
    b = t.present.shape[0]
    n = GRID[0] * GRID[1]
    e0 = torch.zeros(d)
    e0[0] = 1.0
    e1 = torch.zeros(d)
    e1[1] = 1.0
    e2 = torch.zeros(d)
    e2[2] = 1.0
    tokens = e2.expand(b, n, d).clone()  # background orthogonal to e0 and e1
    inside = t.inside.view(b, n)
    tokens[inside] = e0
    for i in range(b):
        idx = int(t.centre_index[i])
        tokens[i, idx] = positive_sim * e0 + math.sqrt(1 - positive_sim**2) * e1
        bg = (~inside[i]).nonzero().view(-1)
        tokens[i, bg[0]] = negative_sim * e0 + math.sqrt(1 - negative_sim**2) * e2  # hardest distractor
    return tokens


def test_intra_contrast_lower_when_positive_more_similar():
    t = build_targets([(32.0, 32.0, 48.0, 48.0)], GRID, CROP)
    good = intra_video_contrastive_loss(_tokens_for(t, 0.9, 0.3), t, temperature=0.1)
    bad = intra_video_contrastive_loss(_tokens_for(t, 0.3, 0.9), t, temperature=0.1)
    assert float(good) < float(bad)
    # hand value: anchor = e0 (region mean without the centre), logits 9 vs 3 (hardest negative only)
    assert math.isclose(float(good), math.log1p(math.exp(3.0 - 9.0)), rel_tol=1e-3)
    # an explicit anchor is used instead of the region mean
    anchor = torch.zeros(1, 16)
    anchor[0, 1] = 1.0  # along e1: the centre token is at sqrt(1-.81) to it, the distractor at 0
    expl = intra_video_contrastive_loss(_tokens_for(t, 0.9, 0.3), t, anchor=anchor, temperature=0.1)
    assert math.isclose(float(expl), math.log1p(math.exp(-math.sqrt(0.19) / 0.1)), rel_tol=1e-4)


def test_inter_contrast_lower_when_other_centres_dissimilar():
    boxes = [(32.0, 32.0, 48.0, 48.0), (0.0, 0.0, 40.0, 40.0), (70.0, 60.0, 40.0, 50.0)]
    t = build_targets(boxes, GRID, CROP)
    d = 16
    b, n = 3, GRID[0] * GRID[1]
    dirs = torch.eye(d)[:3]
    background = torch.zeros(d)
    background[5] = 1.0
    tokens = background + 0.01 * torch.randn(b, n, d, generator=torch.Generator().manual_seed(1))
    # each video i: target region along dirs[i] -> anchors differ, the other centre tokens are negatives
    apart = tokens.clone()
    for i in range(b):
        apart[i, t.inside[i, 0].view(-1)] = dirs[i]
    together = apart.clone()
    for i in range(b):
        together[i, int(t.centre_index[i])] = dirs.sum(0)  # centre tokens all similar to every anchor
    lo = inter_video_contrastive_loss(apart, t, temperature=0.1)
    hi = inter_video_contrastive_loss(together, t, temperature=0.1)
    assert float(lo) < float(hi)
    # hand value for 'apart': positive cosine 1, negatives cosine 0 -> -log(e^10 / (e^10 + 2))
    assert math.isclose(float(lo), math.log1p(2.0 * math.exp(-10.0)), rel_tol=1e-3)
    # same video everywhere: no negatives, the term is skipped
    assert inter_video_contrastive_loss(apart, t, video_ids=torch.tensor([5, 5, 5])) is None
    # one absent sample is neither an anchor nor a negative: two negatives -> one per sample
    t_abs = build_targets([boxes[0], boxes[1], None], GRID, CROP)
    one = inter_video_contrastive_loss(apart, t_abs, temperature=0.1)
    assert math.isclose(float(one), math.log1p(math.exp(-10.0)), rel_tol=1e-3)


# ----------------------------------------------------------------------------------------------- total
def _free_outputs(b: int, d: int = 16, seed: int = 0, with_corr: bool = True) -> dict[str, torch.Tensor]:
    """Free parameters standing in for the network outputs (optimised directly)."""
    g = torch.Generator().manual_seed(seed)
    hs, ws = GRID
    params = {
        "score": torch.full((b, 1, hs, ws), -math.log(99.0)) + 0.1 * torch.randn(b, 1, hs, ws, generator=g),
        "offset": torch.randn(b, 2, hs, ws, generator=g),
        "size": torch.randn(b, 2, hs, ws, generator=g),
        "tokens": torch.randn(b, hs * ws, d, generator=g),
        "text": torch.randn(b, d, generator=g),
    }
    if not with_corr:
        del params["text"]
    return {k: v.requires_grad_(True) for k, v in params.items()}


def _net_output(p: dict[str, torch.Tensor]) -> NetOutput:
    """Assemble a NetOutput the way the heads do (sigmoid offsets/sizes, cosine correlation)."""
    b, n, d = p["tokens"].shape
    corr = None
    if "text" in p:
        v = F.normalize(p["tokens"], dim=-1)
        corr = torch.einsum("bnd,bd->bn", v, F.normalize(p["text"], dim=-1)).view(b, 1, *GRID)
    return NetOutput(
        score_logits=p["score"],
        offset=torch.sigmoid(p["offset"]),
        size=torch.sigmoid(p["size"]),
        correlation=corr,
        search_tokens=p["tokens"],
        modalities=("rgb",),
    )


def test_total_loss_parts_and_gradients(single_thread):
    t = build_targets([(32.0, 32.0, 48.0, 48.0), None], GRID, CROP)
    p = _free_outputs(2)
    total, parts = TrackingLoss()(_net_output(p), t)
    # one present sample: no other-video centre token to contrast with, so no inter-video term
    assert set(parts) == {"focal", "l1", "giou", "cm", "intra", "total"}
    total.backward()
    for k, v in p.items():
        assert v.grad is not None and torch.isfinite(v.grad).all(), k
    # the absent sample: no regression / CM / contrast gradient; the focal loss still pushes its scores down
    assert float(p["offset"].grad[1].abs().sum()) == 0.0
    assert float(p["size"].grad[1].abs().sum()) == 0.0
    assert float(p["text"].grad[1].abs().sum()) == 0.0
    assert float(p["tokens"].grad[1].abs().sum()) == 0.0
    assert bool((p["score"].grad[1] > 0).all())
    # the present sample: regression gradient only at the centre cell (the size is always off there; the
    # offset gradient may cancel when the predicted box sits inside the ground truth)
    idx = int(t.centre_index[0])
    sg = p["size"].grad[0].reshape(2, -1).clone()
    og = p["offset"].grad[0].reshape(2, -1).clone()
    assert bool((sg[:, idx].abs() > 0).all())
    sg[:, idx] = 0.0
    og[:, idx] = 0.0
    assert float(sg.abs().sum()) == 0.0 and float(og.abs().sum()) == 0.0
    # a small target and a small predicted box off its centre: the offset gets a gradient too
    small = build_targets([(50.0, 50.0, 8.0, 8.0), None], GRID, CROP)
    idx = int(small.centre_index[0])
    with torch.no_grad():
        p["offset"][0, :, idx // GRID[1], idx % GRID[1]] = 4.0  # centre ~ (63.7, 63.7), GT centre (54, 54)
        p["size"][0, :, idx // GRID[1], idx % GRID[1]] = -3.0  # ~ 6 px wide: disjoint from the GT box
    p["offset"].grad = None
    total, _ = TrackingLoss()(_net_output(p), small)
    total.backward()
    assert bool((p["offset"].grad[0].reshape(2, -1)[:, idx] > 0).all())  # descent pulls the centre back


def test_total_loss_skips_terms(single_thread):
    # every target absent: only the focal term; offsets/sizes get exactly zero gradient
    t = build_targets([None, None], GRID, CROP)
    p = _free_outputs(2)
    total, parts = TrackingLoss()(_net_output(p), t)
    assert set(parts) == {"focal", "total"}
    total.backward()
    assert float(p["offset"].grad.abs().sum()) == 0.0 and float(p["size"].grad.abs().sum()) == 0.0
    assert math.isclose(float(total.detach()), float(parts["focal"]), rel_tol=1e-6)
    # no sentence: no CM term, everything else still there
    t = build_targets([(32.0, 32.0, 48.0, 48.0), (8.0, 70.0, 30.0, 30.0)], GRID, CROP)
    p = _free_outputs(2, with_corr=False)
    total, parts = TrackingLoss()(_net_output(p), t)
    assert "cm" not in parts and {"focal", "l1", "giou", "intra", "inter"} <= set(parts)
    w = LossWeights()
    manual = sum(getattr(w, k) * float(v) for k, v in parts.items() if k != "total")
    assert math.isclose(float(total.detach()), manual, rel_tol=1e-5)


def test_total_loss_rejects_mismatched_grid():
    t = build_targets([(32.0, 32.0, 48.0, 48.0)], (4, 4), CROP)
    with pytest.raises(ValueError, match="targets.heatmap"):
        TrackingLoss()(_net_output(_free_outputs(1)), t)
    with pytest.raises(ValueError, match="weights.l1"):
        TrackingLoss(LossWeights(l1=-1.0))


def test_tiny_optimisation_drives_total_down(single_thread):
    boxes = [(32.0, 32.0, 48.0, 48.0), (8.0, 70.0, 30.0, 36.0), None, (90.0, 10.0, 30.0, 20.0)]
    t = build_targets(boxes, GRID, CROP)
    p = _free_outputs(4, seed=3)
    crit = TrackingLoss()
    opt = torch.optim.Adam(p.values(), lr=0.05)
    first_total, first = crit(_net_output(p), t)
    for _ in range(60):
        opt.zero_grad()
        total, parts = crit(_net_output(p), t)
        total.backward()
        opt.step()
    total, last = crit(_net_output(p), t)
    assert float(total.detach()) < 0.3 * float(first_total.detach())
    for k in ("focal", "l1", "giou", "cm", "intra", "inter"):
        assert float(last[k]) < float(first[k]), k
    with torch.no_grad():
        out = _net_output(p)
    # the score peak sits on the ground-truth centre cell for present samples, the absent one scores low
    peaks = out.score_logits.view(4, -1).argmax(1)
    for i in (0, 1, 3):
        assert int(peaks[i]) == int(t.centre_index[i])
    assert float(torch.sigmoid(out.score_logits[2].detach()).max()) < 0.1


def test_loss_on_real_tiny_network(tiny_cfg, single_thread):
    """The loss accepts a real network's output and back-propagates finite gradients into its heads."""
    from mamba_tracking_ros.model import MultimodalMambaTracker

    torch.manual_seed(0)
    net = MultimodalMambaTracker(tiny_cfg).train()
    s = tiny_cfg.search_size
    search = {"rgb": torch.rand(1, 3, s, s) * 255.0}
    out, _ = net(search, text=net.encode_text("a dog"))
    grid = tuple(out.score_logits.shape[-2:])
    t = build_targets([(s * 0.3, s * 0.25, s * 0.4, s * 0.5)], grid, float(s))
    total, parts = TrackingLoss()(out, t)
    assert {"focal", "l1", "giou", "cm", "intra"} <= set(parts)
    total.backward()
    for name in (
        "head.score.4.weight",
        "head.offset.4.weight",
        "head.size.4.weight",
        "correlation.proj.weight",
    ):
        grad = dict(net.named_parameters())[name].grad
        assert grad is not None and torch.isfinite(grad).all() and float(grad.abs().sum()) > 0.0, name
