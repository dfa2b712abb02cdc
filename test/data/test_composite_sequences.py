"""Composited sequences on real footage: exact boxes, visibility flags, darkness, sentences, round trip."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mamba_tracking_ros.data.composite_sequences import (
    FULL_OCCLUSION_VISIBLE,
    RenderedSequence,
    SequenceSpec,
    digest,
    render_sequence,
    write_sequence,
)
from mamba_tracking_ros.data.datasets import open_dataset
from mamba_tracking_ros.data.footage import footage_dir, pingpong_indices, read_clip
from mamba_tracking_ros.data.object_crops import colour_name, get_crop, recolour, still_crop

SIZE = (160, 120)


def _render(hard: tuple[str, ...] = (), length: int = 40, seed: int = 5, **kw: object) -> RenderedSequence:
    """A short, small sequence on real footage (the defaults are fast on 2 cores)."""
    spec = SequenceSpec(
        seed=seed,
        background=kw.pop("background", "opencv/vtest"),
        target=kw.pop("target", "still/cup"),
        hard_cases=hard,
        length=length,
        size=SIZE,
        **kw,
    )
    return render_sequence(spec)


def _placed_mask(r: RenderedSequence, i: int) -> tuple[np.ndarray, np.ndarray]:
    """The target's resized crop (documented rule: INTER_AREA when shrinking, alpha >= 0.5) and full-frame
    mask at its recorded placement."""
    crop = get_crop(r.spec.target)
    x, y, w, h = (int(v) for v in r.target_rect[i])
    interp = cv2.INTER_AREA if w < crop.size[0] else cv2.INTER_LINEAR
    rgb = cv2.resize(crop.rgb, (w, h), interpolation=interp)
    alpha = cv2.resize(crop.alpha.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
    H, W = r.rgb.shape[1:3]
    full_rgb = np.zeros((H, W, 3), np.uint8)
    full = np.zeros((H, W), bool)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x1 > x0 and y1 > y0:
        full[y0:y1, x0:x1] = alpha[y0 - y : y1 - y, x0 - x : x1 - x]
        full_rgb[y0:y1, x0:x1] = rgb[y0 - y : y1 - y, x0 - x : x1 - x]
    return full, full_rgb


def _bbox(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], float)


def test_footage_and_clip_fitting() -> None:
    """Real clips decode at the requested size; ping-pong never jumps by more than one clip frame."""
    assert (footage_dir() / "opencv" / "tree.avi").is_file()
    frames = read_clip("opencv/tree", 80, (96, 64), start=60)  # tree.avi has 68 frames: must bounce
    assert frames.shape == (80, 64, 96, 3) and frames.dtype == np.uint8 and frames.std() > 10
    idx = pingpong_indices(80, 68, 60)
    assert idx.min() >= 0 and idx.max() == 67 and (np.abs(np.diff(idx)) == 1).all()


def test_missing_footage_names_the_fetch_script(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("FOOTAGE_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="fetch_footage.sh"):
        render_sequence(SequenceSpec(seed=0, background="opencv/tree", target="still/cup", size=SIZE))


def test_boxes_are_exact_and_target_pixels_are_the_crop() -> None:
    """Plain sequence: gt box == bbox of the placed mask, and the RGB inside the mask is the resized crop."""
    r = _render(length=36)
    assert not r.full_occlusion.any() and not r.out_of_view.any()
    for i in range(len(r)):
        mask, crop_rgb = _placed_mask(r, i)
        np.testing.assert_array_equal(r.boxes[i], _bbox(mask))
        np.testing.assert_array_equal(r.rgb[i][mask], crop_rgb[mask])
        ring = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & ~mask
        assert (r.rgb[i][ring] != crop_rgb[ring]).any()  # the background around it is not the crop
    assert np.isfinite(r.boxes).all() and (r.visible_fraction == 1.0).all()
    assert np.abs(np.diff(r.boxes[:, :2], axis=0)).max() > 0  # it moves


def test_occlusion_flags_follow_the_pixels() -> None:
    """An occluder passes in front: fully occluded frames have NaN boxes and show no crop pixels."""
    r = _render(("occlusion",), length=60, occluders=("still/helmet",))
    assert r.full_occlusion.any() and not r.full_occlusion.all()
    assert "occlusion" in r.attributes and "full_occlusion" in r.attributes
    for i in range(len(r)):
        mask, crop_rgb = _placed_mask(r, i)
        same = (r.rgb[i][mask] == crop_rgb[mask]).all(axis=1).mean()
        if r.full_occlusion[i]:
            assert np.isnan(r.boxes[i]).all() and r.visible_fraction[i] <= FULL_OCCLUSION_VISIBLE
            assert same < 0.05
        else:
            np.testing.assert_array_equal(r.boxes[i], _bbox(mask))  # full box even when partly hidden
            assert r.visible_fraction[i] > FULL_OCCLUSION_VISIBLE
            assert same >= min(r.visible_fraction[i] - 0.02, 0.98)
    partial = (r.visible_fraction < 0.95) & ~r.full_occlusion
    assert partial.any()


def test_out_of_view_and_return() -> None:
    """The target leaves the image and returns: flags where no mask pixel is inside, clipped boxes else."""
    r = _render(("out_of_view",), length=60)
    W, H = SIZE
    assert r.out_of_view.any() and not r.out_of_view[-1] and not r.out_of_view[0]
    for i in range(len(r)):
        x, y, w, h = r.target_rect[i]
        mask, _ = _placed_mask(r, i)
        assert r.out_of_view[i] == (not mask.any())
        if r.out_of_view[i]:
            assert np.isnan(r.boxes[i]).all() and np.isfinite(r.amodal_boxes[i]).all()
        else:
            b = r.boxes[i]
            assert b[0] >= 0 and b[1] >= 0 and b[0] + b[2] <= W and b[1] + b[3] <= H
            np.testing.assert_array_equal(b, _bbox(mask))
    partly = np.array(
        [not o and (x < 0 or x + w > W) for o, (x, _, w, _) in zip(r.out_of_view, r.target_rect)]
    )
    assert partly.any()  # partly outside: clipped box, not flagged


def test_darkness_dims_rgb_but_not_thermal() -> None:
    r = _render(("low_light",), length=70)
    dark = r.illumination < 0.1
    bright = r.illumination == 1.0
    assert dark.sum() >= 10 and bright.sum() >= 10
    assert r.rgb[dark].mean() < 0.15 * r.rgb[bright].mean()
    # Events see the dimmed scene: far lower log contrast, so far fewer events once it is dark (not the ramp).
    steady_dark = dark & np.roll(dark, 1)
    steady_bright = bright & np.roll(bright, 1)
    steady_bright[0] = False
    events = np.array([len(r.event_window(i)) for i in range(len(r))])
    assert events[steady_dark].mean() < 0.5 * events[steady_bright].mean()

    def thermal_contrast(i: int) -> float:
        mask, _ = _placed_mask(r, i)
        th = r.thermal[i].astype(np.float64)
        return float(th[mask].mean() - np.median(th[~mask]))

    c_dark = np.mean([thermal_contrast(i) for i in np.flatnonzero(dark)])
    c_bright = np.mean([thermal_contrast(i) for i in np.flatnonzero(bright)])
    assert c_bright > 200  # a hot cup (328 K) on a near-ambient scene
    assert c_dark == pytest.approx(c_bright, rel=0.1)
    assert r.thermal.dtype == np.uint16 and r.thermal.max() <= 16383
    assert r.timestamps[1] - r.timestamps[0] == pytest.approx(1 / 30, abs=1e-6)


def test_scale_change_and_fast_motion() -> None:
    r = _render(("scale_change",), length=60, seed=11)
    area = r.amodal_boxes[:, 2] * r.amodal_boxes[:, 3]
    assert area.max() / area.min() > 2.0 and "scale_change" in r.attributes
    f = _render(("fast_motion",), length=50, seed=12)
    centre = f.amodal_boxes[:, :2] + f.amodal_boxes[:, 2:] / 2
    step = np.linalg.norm(np.diff(centre, axis=0), axis=1)
    assert (step > 0.5 * f.amodal_boxes[1:, 2]).any()
    assert (f.blur_length > 2).any() and "motion_blur" in f.attributes


def test_distractor_sentence_names_category_colour_and_relation() -> None:
    distractor = "still/cup@hue220"
    r = _render(("distractor",), length=36, distractors=(distractor,))
    target, other = get_crop("still/cup"), get_crop(distractor)
    assert target.colour != other.colour
    assert target.category in r.sentence and target.colour in r.sentence and other.colour in r.sentence
    tx = r.target_rect[0, 0] + r.target_rect[0, 2] / 2
    dx = r.distractor_rect[0, 0] + r.distractor_rect[0, 2] / 2
    ty = r.target_rect[0, 1] + r.target_rect[0, 3] / 2
    dy = r.distractor_rect[0, 1] + r.distractor_rect[0, 3] / 2
    relation = {"left of": tx < dx, "right of": tx > dx, "above": ty < dy, "below": ty > dy}
    said = [k for k in relation if f" {k} " in r.sentence]
    assert len(said) == 1 and relation[said[0]]
    assert any(o["role"] == "distractor" and o["recoloured_hue_deg"] == 220.0 for o in r.objects)


def test_recolouring_changes_the_colour_name() -> None:
    cup = still_crop("cup")
    blue = recolour(cup, 220.0)
    assert colour_name(cup.rgb, cup.alpha) == cup.colour
    assert blue.colour == "blue" and cup.colour != "blue" and (blue.alpha == cup.alpha).all()


def test_written_sequence_reads_back_identically(tmp_path) -> None:
    r = _render(("occlusion", "out_of_view"), length=90, seed=3, occluders=("still/helmet",))
    folder = write_sequence(r, tmp_path)
    seq = open_dataset("project", tmp_path).sequence(folder.name)
    np.testing.assert_array_equal(seq.boxes, r.boxes)  # NaN rows compare equal
    np.testing.assert_array_equal(seq.full_occlusion, r.full_occlusion)
    np.testing.assert_array_equal(seq.out_of_view, r.out_of_view)
    np.testing.assert_array_equal(seq.valid, np.isfinite(r.boxes).all(axis=1))
    assert seq.sentence == r.sentence and seq.attributes == r.attributes
    for i in (0, 1, len(r) // 2, len(r) - 1):
        f, g = seq.frame(i), r.frame(i)
        np.testing.assert_array_equal(f.rgb, g.rgb)
        assert f.thermal.dtype == np.uint16
        np.testing.assert_array_equal(f.thermal, g.thermal)
        assert f.events.time_range() == g.events.time_range()
        np.testing.assert_array_equal(f.events.t, g.events.t)
    total = sum(len(seq.frame(i).events) for i in range(len(r)))
    assert total == int((r.events.t < r.timestamps_us[-1]).sum()) > 0


def test_render_is_deterministic_and_seed_dependent() -> None:
    a = digest(_render(("distractor",), length=30, distractors=("still/cup@hue120",)))
    b = digest(_render(("distractor",), length=30, distractors=("still/cup@hue120",)))
    c = digest(_render(("distractor",), length=30, seed=6, distractors=("still/cup@hue120",)))
    assert a == b
    assert a["groundtruth_sha256"] != c["groundtruth_sha256"] and a["rgb_sha256"] != c["rgb_sha256"]


def test_bad_specs_raise_value_error() -> None:
    with pytest.raises(ValueError, match="hard_cases"):
        SequenceSpec(seed=0, background="opencv/tree", target="still/cup", hard_cases=("rain",))
    with pytest.raises(ValueError, match="distractors"):
        SequenceSpec(seed=0, background="opencv/tree", target="still/cup", hard_cases=("distractor",))
    with pytest.raises(ValueError, match="clip_id"):
        render_sequence(SequenceSpec(seed=0, background="nope", target="still/cup", size=SIZE))
    with pytest.raises(ValueError, match="unicorn"):
        render_sequence(SequenceSpec(seed=0, background="opencv/tree", target="still/unicorn", size=SIZE))
