"""The runtime policy on ambiguous frames: hysteresis, held boxes, motion model, size penalty, gated memory.

Each option is checked against the mechanism it claims, on the real `small` network with its shipped weights
(the frames are a photo panned over time, as in test_tracker.py); none of these tests asserts accuracy.
"""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch

from mamba_tracking_ros.tracking import Frame, SearchMode, Tracker, TrackerConfig, TrackState  # noqa: E402
from mamba_tracking_ros.tracking.confidence import MarginConfidence  # noqa: E402
from mamba_tracking_ros.tracking.geometry import size_change_penalty  # noqa: E402

H, W = 120, 160
BOX = (60.0, 30.0, 40.0, 36.0)
BASE = skimage.data.chelsea()
NEVER = 1.5  # kappa <= 1, so tau = 1.5 makes every frame ambiguous


def scene(i: int) -> Frame:
    """Frame i of a pan over the photo (RGB only)."""
    y0, x0 = 40 + 2 * i, 60 + 3 * i
    return Frame(rgb=np.ascontiguousarray(BASE[y0 : y0 + H, x0 : x0 + W]), timestamp=0.1 * i)


def test_policy_options_are_validated() -> None:
    """Each new knob rejects a bad value with a message naming it."""
    for bad, name in (
        ({"relocalise_after": 0}, "relocalise_after"),
        ({"low_confidence_box": "jump"}, "low_confidence_box"),
        ({"motion_momentum": 1.5}, "motion_momentum"),
        ({"global_window_influence": -0.1}, "global_window_influence"),
        ({"size_penalty_k": -1.0}, "size_penalty_k"),
        ({"memory_update_min_kappa": float("nan")}, "memory_update_min_kappa"),
        ({"margin_on_prior": 1}, "margin_on_prior"),
        ({"border_penalty": -0.5}, "border_penalty"),
        ({"score_floor_ratio": 1.5}, "score_floor_ratio"),
        ({"reacquire_appearance_ratio": -0.1}, "reacquire_appearance_ratio"),
    ):
        with pytest.raises(ValueError, match=name):
            TrackerConfig(**bad)


def test_size_change_penalty_is_one_without_change_and_falls_with_change() -> None:
    """SiamRPN penalty: 1 for the same size, symmetric in growing / shrinking, lower for a shape change."""
    last = (20.0, 40.0)
    boxes = np.array(
        [
            [0, 0, 20, 40],  # same
            [0, 0, 40, 80],  # twice as large
            [0, 0, 10, 20],  # half as large
            [0, 0, 40, 20],  # same area, aspect ratio flipped
        ],
        dtype=np.float64,
    )
    p = size_change_penalty(boxes, last, k=0.3)
    assert p[0] == pytest.approx(1.0)
    assert p[1] == pytest.approx(p[2])
    assert 0.0 < p[3] < p[1] < 1.0
    assert np.all(size_change_penalty(boxes, last, k=0.0) == 1.0)


def test_margin_on_prior_values_lets_the_centred_target_win_a_near_tie() -> None:
    """A far look-alike scoring a bit higher passes the raw-score gate; on the prior map the target does."""
    boxes = np.array([[0, 0, 10, 10], [50, 50, 60, 60], [100, 100, 110, 110]], dtype=np.float64)
    scores = np.array([0.50, 0.55, 0.05])  # target (candidate 0), distractor, background
    prior = np.array([1.0, 0.2, 0.0])  # the target sits where the motion prior expects it
    ranked = 0.65 * scores + 0.35 * prior
    conf = MarginConfidence(cls_scale_floor=0.05)
    raw = conf.evaluate(scores, boxes, np.array([0, 1]))
    weighted = conf.evaluate(scores, boxes, np.array([0, 1]), margin_values=ranked)
    assert raw.cls_margin[0] < 0 < raw.cls_margin[1]
    assert weighted.cls_margin[1] < 0 < weighted.cls_margin[0]
    with pytest.raises(ValueError, match="margin_values"):
        conf.evaluate(scores, boxes, np.array([0]), margin_values=ranked[:2])


def test_relocalise_after_keeps_searching_locally_for_n_low_frames(small_net: torch.nn.Module) -> None:
    """relocalise_after = 3: the first three ambiguous frames search locally, the later ones globally."""
    tracker = Tracker(model=small_net, tracker_config={"tau": NEVER, "relocalise_after": 3, "lost_after": 10})
    tracker.start(scene(0), box=BOX)
    results = [tracker.update(scene(i)) for i in range(1, 6)]
    assert [r.search_mode for r in results] == [SearchMode.LOCAL] * 3 + [SearchMode.GLOBAL] * 2
    assert all(r.state == TrackState.RELOCALISING for r in results)


@pytest.mark.parametrize("policy", ["hold", "predict"])
def test_ambiguous_frames_report_the_held_box_not_a_jump(small_net: torch.nn.Module, policy: str) -> None:
    """Below tau, 'hold' reports the last box (no motion learnt here) while 'candidate' reports the peak."""
    held = Tracker(model=small_net, tracker_config={"tau": NEVER, "low_confidence_box": policy})
    jumpy = Tracker(model=small_net, tracker_config={"tau": NEVER, "low_confidence_box": "candidate"})
    held.start(scene(0), box=BOX)
    jumpy.start(scene(0), box=BOX)
    for i in range(1, 4):
        a, b = held.update(scene(i)), jumpy.update(scene(i))
        assert a.box == pytest.approx(BOX)
    assert b.box != pytest.approx(BOX)  # the candidate path does move: the comparison can fail


def test_motion_model_moves_the_search_window_with_the_target(small_net: torch.nn.Module) -> None:
    """After confident frames the velocity is the EWMA of centre displacements; the next window follows it."""
    tracker = Tracker(model=small_net, tracker_config={"tau": -1.0, "motion_momentum": 0.5})
    tracker.start(scene(0), box=BOX)
    centres = []
    for i in range(1, 4):
        box = tracker.update(scene(i)).box
        centres.append((box[0] + box[2] / 2, box[1] + box[3] / 2))
    vx, vy = tracker._velocity
    assert (vx, vy) != (0.0, 0.0)
    predicted = tracker._predicted_box()
    assert predicted[0] == pytest.approx(tracker._box[0] + vx)
    assert predicted[1] == pytest.approx(tracker._box[1] + vy)
    from mamba_tracking_ros.tracking.tracker import _Prepared

    prep = _Prepared(scene(4), H, W, {}, {}, {})
    window = tracker._search_window(prep, SearchMode.LOCAL)
    assert window.x0 + window.side / 2 == pytest.approx(predicted[0] + predicted[2] / 2, abs=1.0)
    assert window.y0 + window.side / 2 == pytest.approx(predicted[1] + predicted[3] / 2, abs=1.0)


def test_memory_is_not_carried_through_low_confidence_frames(small_net: torch.nn.Module) -> None:
    """memory_update_min_kappa above any kappa keeps the start frame's SSM state; the default replaces it."""
    gated = Tracker(model=small_net, tracker_config={"tau": NEVER, "memory_update_min_kappa": 1.0})
    free = Tracker(model=small_net, tracker_config={"tau": NEVER})
    gated.start(scene(0), box=BOX)
    free.start(scene(0), box=BOX)
    before = {k: v.clone() for k, v in gated.memory.states.items()}
    for i in range(1, 3):
        gated.update(scene(i))
        free.update(scene(i))
    assert before and all(torch.equal(before[k], v) for k, v in gated.memory.states.items())
    assert any(not torch.equal(before[k], v) for k, v in free.memory.states.items())


def test_one_odd_sized_frame_is_not_tracked_and_the_track_goes_on(small_net: torch.nn.Module) -> None:
    """One 64x48 frame in a 160x120 stream: LOST with the lowest confidence, the track itself unchanged."""
    tracker = Tracker(model=small_net, tracker_config={"tau": -1.0})
    tracker.start(scene(0), box=BOX)
    tracker.update(scene(1))
    box, memory = tracker._box, {k: v.clone() for k, v in tracker.memory.states.items()}
    small = Frame(rgb=np.ascontiguousarray(BASE[:48, :64]), timestamp=0.2)
    odd = tracker.update(small)
    assert odd.state == TrackState.LOST and odd.confidence == -1.0
    assert "image size changed from 160x120 to 64x48" in odd.note
    assert odd.box[0] + odd.box[2] <= 64 and odd.box[1] + odd.box[3] <= 48  # in the odd frame's pixels
    assert odd.box[2] == pytest.approx(box[2] * 64 / 160)  # the last box, scaled
    assert tracker._box == box  # the track itself is untouched
    assert all(torch.equal(memory[k], v) for k, v in tracker.memory.states.items())
    back = tracker.update(scene(3))
    assert back.state == TrackState.TRACKING and back.note == "" and back.modalities == ("rgb",)


def test_a_lasting_size_change_rescales_the_box_and_relocalises(small_net: torch.nn.Module) -> None:
    """size_change_frames frames in a row of a new size: adopted, box rescaled, memory reset, global."""
    tracker = Tracker(model=small_net, tracker_config={"tau": -1.0, "size_change_frames": 2})
    tracker.start(scene(0), box=BOX)
    tracker.update(scene(1))

    def half(i: int) -> Frame:
        return Frame(rgb=np.ascontiguousarray(scene(i).rgb[::2, ::2]), timestamp=0.1 * i)

    first = tracker.update(half(2))
    assert first.state == TrackState.LOST and "frame not tracked" in first.note
    box = tracker._box
    adopted = tracker.update(half(3))
    assert "box rescaled, memory reset, relocalising" in adopted.note
    assert adopted.search_mode == SearchMode.GLOBAL
    assert adopted.box[0] + adopted.box[2] <= W / 2 and adopted.box[1] + adopted.box[3] <= H / 2
    assert box != tracker._box or adopted.box != box
    after = tracker.update(half(4))
    assert after.note == "" and after.state != TrackState.LOST


def test_colour_histogram_and_similarity() -> None:
    """Same colours give BC 1, disjoint colours BC 0; the inner part excludes the border; bad shapes fail."""
    from mamba_tracking_ros.tracking.appearance import AppearanceModel, bhattacharyya, colour_histogram

    image = np.zeros((40, 80, 3), dtype=np.uint8)
    image[:, :40] = (200, 30, 30)  # red half
    image[:, 40:] = (30, 30, 200)  # blue half
    image[0:2, 0:40] = (30, 200, 30)  # a green border row inside the red box, left out by inner=0.7
    red = colour_histogram(image, (0, 0, 40, 40))
    blue = colour_histogram(image, (40, 0, 40, 40))
    assert red is not None and blue is not None and red.sum() == pytest.approx(1.0)
    assert bhattacharyya(red, red) == pytest.approx(1.0)
    assert bhattacharyya(red, blue) == pytest.approx(0.0)
    assert colour_histogram(image, (200, 0, 10, 10)) is None  # outside the image
    model = AppearanceModel(update_rate=0.5)
    assert not model.ready and np.all(model.similarity(image, [(0, 0, 40, 40)]) == 1.0)
    model.set(image, (0, 0, 40, 40))
    sims = model.similarity(image, [(0, 0, 40, 40), (40, 0, 40, 40)])
    assert sims[0] == pytest.approx(1.0) and sims[1] == pytest.approx(0.0)
    model.update(image, (40, 0, 40, 40))  # half red, half blue now
    assert model.similarity(image, [(40, 0, 40, 40)])[0] == pytest.approx(np.sqrt(0.5))
    with pytest.raises(ValueError, match="rgb"):
        colour_histogram(image[..., 0], (0, 0, 10, 10))
    with pytest.raises(ValueError, match="appearance_weight"):
        TrackerConfig(appearance_weight=-1.0)


def test_appearance_reranking_keeps_the_target_against_a_brighter_look_alike(
    small_net: torch.nn.Module,
) -> None:
    """Two same-shape objects, the target red and a look-alike blue: the tracker's colour factor reverses a
    ranking that favours the blue one (the factor multiplies the ranking map and the margin values)."""
    from mamba_tracking_ros.tracking.tracker import APPEARANCE_CELLS

    assert APPEARANCE_CELLS >= 1
    canvas = np.full((H, W, 3), 90, dtype=np.uint8)
    target, other = (50, 40, 20, 30), (95, 40, 20, 30)
    canvas[40:70, 50:70] = (220, 40, 40)
    canvas[40:70, 95:115] = (40, 40, 220)
    frame = Frame(rgb=canvas, timestamp=0.0)
    on = Tracker(
        model=small_net, tracker_config={"appearance_weight": 5.0, "tau": -1.0, "window_influence": 0.0}
    )
    on.start(frame, box=target)
    red_hist_sims = on._appearance.similarity(canvas, [target, other])
    assert red_hist_sims[0] > 0.9 > 0.1 > red_hist_sims[1]
    ranked = np.zeros((8, 8))
    boxes = np.zeros((64, 4))
    window = on._search_window(on._prepare(frame), SearchMode.LOCAL)
    for cell, (x, y, w, h) in ((0, target), (1, other)):  # cell 1 ranks higher before the check
        x0, y0 = (x - window.x0) / window.scale, (y - window.y0) / window.scale
        boxes[cell] = (x0, y0, x0 + w / window.scale, y0 + h / window.scale)
    ranked.flat[0], ranked.flat[1] = 0.5, 0.6
    factor = on._appearance_factor([(on._appearance, canvas)], ranked, boxes, window)
    assert factor[0] * 0.5 > factor[1] * 0.6  # the check reverses the order
    assert np.all(factor[2:] <= 1.0)


def test_gradient_histogram_tells_texture_apart_and_tolerates_a_shift() -> None:
    """A checkered patch matches itself shifted by two pixels far better than a plain patch of its colour;
    a flat box has no edge energy; the texture similarity is 1 before a target is set."""
    from mamba_tracking_ros.tracking.appearance import AppearanceModel, gradient_histogram, intersection

    image = np.full((60, 120, 3), 120, dtype=np.uint8)
    checker = (np.indices((24, 24)).sum(axis=0) // 3) % 2  # 3-pixel squares
    image[10:34, 10:34] = np.where(checker[..., None] == 1, (230, 40, 40), (90, 15, 15))
    image[10:34, 70:94] = (200, 40, 30)  # plain, similar colour
    target = gradient_histogram(image, (10, 10, 24, 24))
    shifted = gradient_histogram(image, (12, 12, 24, 24))
    plain = gradient_histogram(image, (70, 10, 24, 24))
    assert target is not None and shifted is not None and plain is not None
    assert intersection(target, shifted) > 0.8 > 0.2 > intersection(target, plain)
    flat = gradient_histogram(np.full((30, 30, 3), 50, np.uint8), (5, 5, 20, 20))
    assert flat is not None and flat.sum() == 0.0 and intersection(flat, flat) == 1.0
    assert gradient_histogram(image, (500, 0, 10, 10)) is None
    model = AppearanceModel(texture=True)
    assert np.all(model.texture_similarity(image, [(70, 10, 24, 24)]) == 1.0)
    model.set(image, (10, 10, 24, 24))
    sims = model.texture_similarity(image, [(12, 12, 24, 24), (70, 10, 24, 24)])
    assert sims[0] > 0.8 > 0.2 > sims[1]
    with pytest.raises(ValueError, match="texture_weight"):
        TrackerConfig(texture_weight=-0.5)


def test_unchecked_cells_cannot_overtake_checked_ones(small_net: torch.nn.Module) -> None:
    """With appearance_floor_rest, a cell outside the checked top cells gets the lowest checked factor, so
    a penalised look-alike region cannot hand the pick to an unchecked cell; without it, it keeps 1."""
    from mamba_tracking_ros.tracking.tracker import APPEARANCE_CELLS

    canvas = np.full((H, W, 3), 90, dtype=np.uint8)
    canvas[40:70, 50:70] = (220, 40, 40)
    frame = Frame(rgb=canvas, timestamp=0.0)
    ranked = np.linspace(1.0, 0.0, 64).reshape(8, 8)  # cell 0 best, then 1, 2, ...
    factors = []
    for floor in (False, True):
        tracker = Tracker(
            model=small_net, tracker_config={"appearance_weight": 5.0, "appearance_floor_rest": floor}
        )
        tracker.start(frame, box=(50, 40, 20, 30))
        window = tracker._search_window(tracker._prepare(frame), SearchMode.LOCAL)
        boxes = np.tile(np.array([0.0, 0.0, 8.0, 8.0]), (64, 1))  # grey background boxes: low similarity
        factors.append(tracker._appearance_factor([(tracker._appearance, canvas)], ranked, boxes, window))
    plain, floored = factors
    checked = plain[:APPEARANCE_CELLS]
    assert checked.max() < 0.5 and np.all(plain[APPEARANCE_CELLS:] == 1.0)
    assert np.allclose(floored[:APPEARANCE_CELLS], checked)
    assert np.all(floored[APPEARANCE_CELLS:] == checked.min())


@pytest.mark.parametrize(
    ("mode", "with_rgb", "expected"),
    [
        ("off", False, []),
        ("no_rgb", False, ["thermal"]),
        ("no_rgb", True, ["rgb"]),
        ("always", True, ["rgb", "thermal"]),
    ],
)
def test_thermal_appearance_checks_the_thermal_image(
    small_net: torch.nn.Module, mode, with_rgb, expected
) -> None:
    """``thermal_appearance`` decides which images the colour / texture check reads; the thermal one is the
    frame's thermal image mapped to grey like the network's input (hot target bright)."""
    thermal = np.full((H, W), 3000, np.uint16)
    thermal[30:66, 60:100] = 9000  # the hot target under BOX
    frame = Frame(rgb=scene(0).rgb if with_rgb else None, thermal=thermal, timestamp=0.0)
    tracker = Tracker(model=small_net, tracker_config={"thermal_appearance": mode})
    prep = tracker._prepare(frame)
    pairs = tracker._appearance_images(prep)
    names = ["thermal" if model is tracker._thermal_appearance else "rgb" for model, _ in pairs]
    assert names == expected
    if "thermal" in names:
        grey = pairs[names.index("thermal")][1]
        assert grey.shape == (H, W, 3) and grey.dtype == np.uint8
        assert grey[40, 70, 0] > 200 > 50 > grey[5, 5, 0]
        tracker.start(frame, box=BOX)
        assert tracker._thermal_appearance.ready  # set at start from the thermal image
    with pytest.raises(ValueError, match="thermal_appearance"):
        TrackerConfig(thermal_appearance="sometimes")


def dimmed(frame: Frame, factor: float) -> Frame:
    """The frame's RGB scaled by ``factor`` (a darker exposure of the same scene)."""
    rgb = np.clip(frame.rgb.astype(np.float32) * factor + 0.5, 0, 255).astype(np.uint8)
    return Frame(rgb=rgb, timestamp=frame.timestamp)


def test_exposure_gain_brings_a_dark_frame_back_to_the_start_frames_level(small_net: torch.nn.Module) -> None:
    """``rgb_gain_max``: a frame 8x darker than the start frame reaches the network gained back (its search
    crop close to the bright frame's, not black); a frame about as bright is left alone; the gain is capped;
    with the option off (1) the dark crop goes in as it is."""
    bright = scene(1)
    dark = dimmed(bright, 1 / 8)
    crops = {}
    for gain_max in (1.0, 4.0, 16.0):
        tracker = Tracker(model=small_net, tracker_config={"rgb_gain_max": gain_max})
        assert tracker._exposure_gain(10.0) == 1.0  # no track yet: no reference exposure
        tracker.start(scene(0), box=BOX)
        window = tracker._search_window(tracker._prepare(bright), SearchMode.LOCAL)
        for name, frame in (("bright", bright), ("dark", dark), ("dim", dimmed(bright, 0.9))):
            crops[gain_max, name] = tracker._crops(tracker._prepare(frame), window)["rgb"].float()
    reference = crops[16.0, "bright"]
    assert torch.equal(crops[1.0, "bright"], reference) and torch.equal(crops[16.0, "dim"], crops[1.0, "dim"])
    error = (crops[16.0, "dark"] - reference).abs().mean().item()
    assert error < 0.1 * reference.mean().item(), error  # back to about the bright frame's values
    assert crops[4.0, "dark"].mean().item() == pytest.approx(reference.mean().item() / 2, rel=0.1)  # capped
    assert crops[1.0, "dark"].mean().item() == pytest.approx(reference.mean().item() / 8, rel=0.1)
    with pytest.raises(ValueError, match="rgb_gain_max"):
        TrackerConfig(rgb_gain_max=0.5)


def test_appearance_exposed_checks_the_dark_frame_gained_like_the_network_input(
    small_net: torch.nn.Module,
) -> None:
    """``appearance_exposed``: on a frame 8x darker than the start frame the colour / texture check reads the
    gained image (its target histogram then matches the start frame's far better than the dark frame's);
    off, or on a frame about as bright as the start frame, it reads the frame itself."""
    bright = scene(0)
    dark = dimmed(bright, 1 / 8)
    images = {}
    for exposed in (False, True):
        config = {"rgb_gain_max": 16.0, "appearance_exposed": exposed}
        tracker = Tracker(model=small_net, tracker_config=config)
        tracker.start(bright, box=BOX)
        for name, frame in (("dark", dark), ("bright", bright)):
            pairs = tracker._appearance_images(tracker._prepare(frame))
            assert [model for model, _ in pairs] == [tracker._appearance]
            images[exposed, name] = pairs[0][1]
        model = tracker._appearance
    assert images[False, "dark"] is dark.rgb and images[True, "bright"] is bright.rgb
    gained = images[True, "dark"]
    assert gained.dtype == np.uint8 and gained.shape == dark.rgb.shape
    assert abs(float(gained.mean()) - float(bright.rgb.mean())) < 0.1 * float(bright.rgb.mean())
    raw_match = model.similarity(dark.rgb, [BOX])[0]
    gained_match = model.similarity(gained, [BOX])[0]
    assert gained_match > 0.8 > raw_match, (gained_match, raw_match)
    with pytest.raises(ValueError, match="appearance_exposed"):
        TrackerConfig(appearance_exposed="yes")


def test_border_penalty_demotes_cells_whose_box_lies_in_the_padding(small_net: torch.nn.Module) -> None:
    """``border_penalty``: a search window reaching past the image's corner scales each cell by the share of
    its box inside the image to that power (a cell wholly in the padding cannot win); 0 leaves every cell."""
    from mamba_tracking_ros.tracking.geometry import cell_boxes, inside_fraction, square_window

    frame = scene(0)
    penalties = {}
    for k in (0.0, 2.0):
        tracker = Tracker(model=small_net, tracker_config={"border_penalty": k})
        tracker.start(frame, box=BOX)
        prep = tracker._prepare(frame)
        window = square_window(0.0, 0.0, 120.0, tracker.net.cfg.search_size)  # centred on the corner
        cells = tracker.net.cfg.search_size // tracker.net.cfg.stride
        offset = np.zeros((2, cells, cells))
        size = np.full((2, cells, cells), 0.2)
        boxes, _ = cell_boxes(offset, size, window.out_size / cells, window.out_size)
        penalties[k] = tracker._penalty(boxes, window, prep)
    inside = inside_fraction(window.crop_to_image(boxes), frame.rgb.shape[1], frame.rgb.shape[0])
    assert np.all(penalties[0.0] == 1.0)
    assert penalties[2.0] == pytest.approx(inside**2)
    assert inside.min() == 0.0 and inside.max() == 1.0  # the window holds both kinds of cell


def test_score_floor_scales_kappa_by_the_peak_against_the_tracks_usual_peak(
    small_net: torch.nn.Module,
) -> None:
    """``score_floor_ratio``: a candidate's kappa is multiplied by min(1, score / (ratio * usual peak)), the
    usual peak being learnt from the track's confident local frames; off (0) or before any confident frame,
    kappa is untouched. A near-zero peak with a large margin then fails the gate."""
    from mamba_tracking_ros.tracking.confidence import ConfidenceEstimate

    frames = [scene(i) for i in range(6)]
    kappa = np.array([0.9, 0.9, 0.9])
    estimate = ConfidenceEstimate(
        kappa=kappa,
        kappa_vlm=kappa,
        memory=kappa,
        cls_margin=kappa,
        corr_margin=None,
        cls_competitor=np.zeros(3),
        corr_competitor=None,
        cls_scale=0.1,
        corr_scale=None,
    )
    for ratio in (0.0, 0.5):
        tracker = Tracker(model=small_net, tracker_config={"score_floor_ratio": ratio})
        tracker.start(frames[0], box=BOX)
        assert tracker._weigh_by_evidence(estimate, np.ones(3)) is estimate  # no usual peak yet
        for frame in frames[1:]:
            tracker.update(frame)
        usual = tracker._score_ref
        assert usual is not None and 0.0 < usual <= 1.0  # learnt from the confident frames
        candidate_scores = usual * np.array([2.0, 0.25, 0.02])  # well above, below, far below the usual peak
        weighed = tracker._weigh_by_evidence(estimate, candidate_scores)
        if ratio == 0.0:
            assert weighed is estimate
        else:
            expected = 0.9 * np.minimum(1.0, candidate_scores / (0.5 * usual))
            assert weighed.kappa == pytest.approx(expected)
            assert weighed.kappa[2] < 0.25 <= 0.9  # the near-zero peak falls below the default tau


def test_reacquire_appearance_ratio_refuses_a_global_pick_of_another_colour(
    small_net: torch.nn.Module,
) -> None:
    """``reacquire_appearance_ratio``: after the relocalise command the whole frame is searched; on a
    frame whose colours are swapped (the cat turns blue) the pick passes the gate and teaches the colour
    model when the check is off, and is refused (RELOCALISING, the colour model untouched) when its
    appearance factor falls below the ratio times the track's usual one."""
    frames = [scene(i) for i in range(6)]
    swapped = Frame(rgb=np.ascontiguousarray(scene(6).rgb[:, :, ::-1]), timestamp=0.6)
    outcome = {}
    for ratio in (0.0, 0.9):
        config = {"reacquire_appearance_ratio": ratio, "appearance_weight": 1.0, "texture_weight": 0.0}
        tracker = Tracker(model=small_net, tracker_config=config)
        tracker.start(frames[0], box=BOX)
        assert tracker._appearance_ref is None  # learnt from confident local frames only
        for frame in frames[1:]:
            tracker.update(frame)
        usual = tracker._appearance_ref
        assert usual is not None and 0.0 < usual <= 1.0
        before = tracker._appearance._hist.copy()
        tracker.reset_memory()  # what the relocalise service does: the next frame searches globally
        result = tracker.update(swapped)
        assert result.search_mode == SearchMode.GLOBAL
        outcome[ratio] = (result.state, np.array_equal(before, tracker._appearance._hist))
    assert outcome[0.0] == (TrackState.TRACKING, False)  # re-acquired, and the blue pick was learnt
    assert outcome[0.9] == (TrackState.RELOCALISING, True)  # refused, nothing learnt from it


def test_reacquirable_keeps_candidates_by_their_appearance_factor(small_net: torch.nn.Module) -> None:
    """``_reacquirable`` keeps the passing candidates whose factor reaches ratio x usual, all of them when the
    check is off, before the target was ever acquired, or before a usual factor exists."""
    passing = np.array([0, 2, 3])
    factors = np.array([0.1, 0.9, 0.35, 0.5])
    for ratio, acquired, usual, expected in (
        (0.5, True, 0.8, [3]),  # 0.5 x 0.8 = 0.4: candidate 2 (0.35) is refused, 3 (0.5) kept
        (0.0, True, 0.8, [0, 2, 3]),
        (0.5, False, 0.8, [0, 2, 3]),
        (0.5, True, None, [0, 2, 3]),
    ):
        tracker = Tracker(model=small_net, tracker_config={"reacquire_appearance_ratio": ratio})
        tracker._acquired, tracker._appearance_ref = acquired, usual
        assert tracker._reacquirable(passing, factors).tolist() == expected


def test_adopt_size_after_global_skips_the_size_damping_once(small_net: torch.nn.Module) -> None:
    """``adopt_size_after_global``: the first confident local frame after a confident global pick takes the
    network's size undamped (``_smooth_size`` is not called on it), later frames are damped again; off, every
    confident local frame is damped."""
    frames = [scene(i) for i in range(7)]
    damped = {}
    for adopt in (False, True):
        config = {
            "adopt_size_after_global": adopt,
            "reacquire_appearance_ratio": 0.0,  # the global pick below must re-acquire
            "appearance_weight": 1.0,
            "texture_weight": 0.0,
        }
        tracker = Tracker(model=small_net, tracker_config=config)
        calls: list[int] = []
        smooth = tracker._smooth_size

        def spy(
            box: list[float], score: float, tracker: Tracker = tracker, smooth=smooth, calls=calls
        ) -> list[float]:
            calls.append(tracker.frame_index)
            return smooth(box, score)

        tracker._smooth_size = spy
        tracker.start(frames[0], box=BOX)
        tracker.update(frames[1])
        tracker.reset_memory()  # the next frame searches globally
        modes = [(r.search_mode, r.state) for r in (tracker.update(f) for f in frames[2:])]
        assert modes[0] == (SearchMode.GLOBAL, TrackState.TRACKING)
        assert all(m == (SearchMode.LOCAL, TrackState.TRACKING) for m in modes[1:])
        damped[adopt] = [i for i in calls if i >= 2]
    assert damped[False] == [3, 4, 5, 6]
    assert damped[True] == [4, 5, 6]  # frame 3, the first local frame after the global pick, is not damped
