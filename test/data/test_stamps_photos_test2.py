"""Tux Paint stamp crops, photo backgrounds under a synthetic camera, and the second test split (test2)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mamba_tracking_ros.data.composite_sequences import (
    HARD_CASES,
    SequenceSpec,
    _interp_path,
    _zigzag,
)
from mamba_tracking_ros.data.footage import camera_path, clip_frame_count, clip_path, list_clips, read_clip
from mamba_tracking_ros.data.object_crops import (
    _HUE_NAMES,
    get_crop,
    list_crop_ids,
    looks_photographic,
    stamp_group,
    stamp_index,
    stamp_name,
    stamps_dir,
)
from mamba_tracking_ros.data.splits import (
    TEST2_SIZES,
    TEST2_VERSION,
    fixed_test2_specs,
    generate_split,
    load_manifest,
    manifest_path,
    partition,
    split_of_spec,
    train_specs,
)

COLOURS = {name for _, _, name in _HUE_NAMES} | {"black", "grey", "white", "brown"}


def test_stamp_crops_have_masks_ids_and_names() -> None:
    stamps = [c for c in list_crop_ids() if c.startswith("stamp/")]
    assert len(stamps) >= 100
    for cid in stamps[:: max(1, len(stamps) // 12)]:
        crop = get_crop(cid)
        assert crop.crop_id == cid and (stamps_dir() / f"{cid.removeprefix('stamp/')}.png").is_file()
        assert crop.alpha.dtype == bool and crop.alpha.shape == crop.rgb.shape[:2]
        # Tight around the mask: every border row / column holds a mask pixel.
        assert (
            crop.alpha[0].any()
            and crop.alpha[-1].any()
            and crop.alpha[:, 0].any()
            and crop.alpha[:, -1].any()
        )
        assert crop.category and crop.category == crop.category.strip().lower()
        assert crop.colour in COLOURS
        assert not set(crop.category.split()) & COLOURS


def test_stamp_names_from_descriptions_and_file_names() -> None:
    assert stamp_name("food/fruit/apple_fuji", "A Fuji apple.") == "fuji apple"
    assert stamp_name("food/fruit/lemon", "A yellow lemon.") == "lemon"
    # Long sentences and exclamations fall back to the file name.
    assert stamp_name("seasonal/christmas/Candy_cane_photo_1", "A candy cane is a traditional treat.") == (
        "candy cane"
    )
    assert stamp_name("animals/mammals/badger", None) == "badger"


def test_drawing_filter_rejects_flat_fills_and_keeps_photographs() -> None:
    drawing = np.zeros((120, 120, 4), np.uint8)
    drawing[20:100, 20:100] = (200, 40, 40, 255)  # one flat colour with a black outline
    drawing[20:100, 20:23, :3] = 0
    assert not looks_photographic(drawing)
    rel = stamp_index()[0]
    rgba = cv2.cvtColor(
        cv2.imread(str(stamps_dir() / f"{rel}.png"), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA
    )
    assert looks_photographic(rgba)
    assert all("cartoon" not in rel.split("/") for rel in stamp_index())


def test_photo_clip_has_the_requested_size_and_moves_smoothly() -> None:
    clip = "photo/Kite"
    assert clip in list_clips() and clip_frame_count(clip) >= 150
    frames = read_clip(clip, 24, size=(346, 260), start=5, offset=(0.3, 0.7))
    assert frames.shape == (24, 260, 346, 3) and frames.dtype == np.uint8
    step = [float(np.abs(frames[i + 1].astype(int) - frames[i]).mean()) for i in range(23)]
    overall = float(np.abs(frames[-1].astype(int) - frames[0]).mean())
    assert overall > 2.0  # the camera moved
    assert max(step) < overall  # ... smoothly, not by cuts
    again = read_clip(clip, 24, size=(346, 260), start=5, offset=(0.3, 0.7))
    assert np.array_equal(frames, again)
    other = read_clip(clip, 24, size=(346, 260), start=6, offset=(0.3, 0.7))
    assert not np.array_equal(frames, other)
    cam = camera_path(clip, 300, start=5)
    assert cam["centre"].min() >= 0.0 and cam["centre"].max() <= 1.0
    assert float(np.abs(np.diff(cam["centre"], axis=0)).max()) < 0.02


def test_train_and_test2_sources_are_disjoint_by_category() -> None:
    parts = partition()
    train, test2 = parts["train"], parts["test2"]
    assert not set(train["backgrounds"]) & set(test2["backgrounds"])
    assert not set(train["crops"]) & set(test2["crops"])
    assert len(test2["crops"]) >= 20 and sum(c.startswith("stamp/") for c in train["crops"]) > len(
        test2["crops"]
    )
    assert sum(c.startswith("photo/") for c in train["backgrounds"]) > len(test2["backgrounds"])
    train_groups = {stamp_group(c) for c in train["crops"] if c.startswith("stamp/")}
    test2_groups = {stamp_group(c) for c in test2["crops"]}
    assert not train_groups & test2_groups
    assert not any(g.startswith(t + "/") for g in train_groups for t in test2_groups)
    for spec in train_specs(40, seed=11):
        assert split_of_spec(spec) == {"train"}
    for spec in fixed_test2_specs():
        assert "train" not in split_of_spec(spec)
        assert spec.background not in train["backgrounds"]


def test_test2_specs_are_fixed_and_cover_every_hard_case() -> None:
    specs = fixed_test2_specs()
    assert [s.to_dict() for s in specs] == [s.to_dict() for s in fixed_test2_specs()]
    assert 16 <= len(specs) <= 20 and len({s.name for s in specs}) == len(specs)
    assert all(100 <= s.length <= 150 and s.size in TEST2_SIZES and s.motion == "zigzag" for s in specs)
    assert {s.size for s in specs} == set(TEST2_SIZES) and (320, 240) not in {s.size for s in specs}
    for h in HARD_CASES:
        assert sum(h in s.hard_cases for s in specs) >= 2, h
    assert sum(not s.hard_cases for s in specs) >= 2
    manifest = load_manifest(manifest_path(TEST2_VERSION))
    assert manifest["specs"] == [s.to_dict() for s in specs]
    assert set(manifest["sequences"]) == {s.name for s in specs}


def test_zigzag_motion_reverses_sharply_and_stays_in_view() -> None:
    rng = np.random.default_rng(3)
    half = np.array([30.0, 20.0])
    path = _interp_path(_zigzag(rng, 200, half, (640, 480)), 200)
    assert (path >= half).all() and (path <= np.array([640, 480]) - half).all()
    v = np.diff(path, axis=0)
    reversals = [int((np.sign(v[1:, a]) * np.sign(v[:-1, a]) < 0).sum()) for a in (0, 1)]
    assert min(reversals) >= 2  # both axes turn back repeatedly within 200 frames
    spec = SequenceSpec(seed=1, background="photo/Kite", target="stamp/animals/mammals/pig", motion="zigzag")
    assert SequenceSpec.from_dict(spec.to_dict()) == spec and spec.to_dict()["motion"] == "zigzag"
    assert "motion" not in SequenceSpec(seed=1, background="photo/Kite", target="still/cup").to_dict()
    with pytest.raises(ValueError, match="motion"):
        SequenceSpec(seed=1, background="photo/Kite", target="still/cup", motion="teleport")


def test_missing_packages_name_the_fetch_script(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FOOTAGE_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="fetch_footage.sh"):
        stamps_dir()
    with pytest.raises(FileNotFoundError, match="fetch_footage.sh"):
        clip_path("photo/Kite")
    with pytest.raises(FileNotFoundError, match="fetch_footage.sh"):
        read_clip("photo/Kite", 3)


def test_test2_split_is_fixed(tmp_path) -> None:
    with pytest.raises(ValueError, match="count"):
        generate_split("test2", tmp_path, count=3)
    with pytest.raises(ValueError, match="size"):
        generate_split("test2", tmp_path, size=(640, 480))
    with pytest.raises(ValueError, match="split"):
        generate_split("test3", tmp_path)
