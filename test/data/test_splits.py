"""Train/test splits: disjoint sources, a fixed test plan, a hash-versioned test manifest, make-data CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mamba_tracking_ros.cli.main import main
from mamba_tracking_ros.data.composite_sequences import HARD_CASES, SequenceSpec, render_sequence
from mamba_tracking_ros.data.datasets import open_dataset
from mamba_tracking_ros.data.footage import list_clips
from mamba_tracking_ros.data.object_crops import get_crop, list_crop_ids
from mamba_tracking_ros.data.splits import (
    PEDESTRIAN_TEST_FROM,
    PEDESTRIAN_TRAIN_BEFORE,
    check_digest,
    fixed_test_specs,
    generate_split,
    load_manifest,
    manifest_path,
    partition,
    split_of_spec,
    train_specs,
)


def _sources(spec: SequenceSpec) -> set[str]:
    return {i.partition("@hue")[0] for i in (spec.target, *spec.distractors, *spec.occluders)}


def test_partition_is_disjoint_and_covers_the_sources() -> None:
    parts = partition()
    train, test, test2 = parts["train"], parts["test"], parts["test2"]
    assert not set(train["backgrounds"]) & set(test["backgrounds"])
    assert not set(train["crops"]) & set(test["crops"])
    assert set(train["backgrounds"]) | set(test["backgrounds"]) | set(test2["backgrounds"]) == set(
        list_clips()
    )
    assert len(train["crops"]) >= 10 and len(test["crops"]) >= 10
    for cid in train["crops"] + test["crops"]:
        frame = get_crop(cid).source_frame
        if frame is not None:  # a vtest pedestrian: split by time with a gap
            assert frame < PEDESTRIAN_TRAIN_BEFORE if cid in train["crops"] else frame >= PEDESTRIAN_TEST_FROM
    left_out = set(list_crop_ids()) - set(train["crops"]) - set(test["crops"]) - set(test2["crops"])
    assert all(PEDESTRIAN_TRAIN_BEFORE <= get_crop(c).source_frame < PEDESTRIAN_TEST_FROM for c in left_out)


def test_specs_only_use_their_own_split() -> None:
    train = train_specs(60, seed=3)
    test = fixed_test_specs()
    assert all(split_of_spec(s) == {"train"} for s in train)
    assert all(split_of_spec(s) == {"test"} for s in test)
    assert not set().union(*map(_sources, train)) & set().union(*map(_sources, test))
    assert not {s.background for s in train} & {s.background for s in test}
    assert [s.to_dict() for s in train_specs(5, seed=3)] == [s.to_dict() for s in train[:5]]
    assert train_specs(5, seed=4)[0].to_dict() != train[0].to_dict()
    assert len({s.name for s in train}) == 60 and len({s.seed for s in train}) == 60
    counts = {h: sum(h in s.hard_cases for s in train) for h in HARD_CASES}
    assert min(counts.values()) >= 10  # every hard case is common in training


def test_test_plan_covers_every_hard_case_twice() -> None:
    specs = fixed_test_specs()
    assert 12 <= len(specs) <= 16
    assert all(100 <= s.length <= 150 and s.size == (320, 240) for s in specs)
    for h in HARD_CASES:
        assert sum(h in s.hard_cases for s in specs) >= 2, h
    assert sum(not s.hard_cases for s in specs) >= 2


def test_committed_manifest_matches_the_plan_and_its_hash() -> None:
    manifest = load_manifest(manifest_path())
    assert manifest["specs"] == [s.to_dict() for s in fixed_test_specs()]
    seqs = manifest["sequences"]
    assert set(seqs) == {s.name for s in fixed_test_specs()}
    for spec in fixed_test_specs():
        attrs = seqs[spec.name]["attributes"]
        assert set(spec.hard_cases) <= set(attrs)
        if "out_of_view" in spec.hard_cases:
            assert seqs[spec.name]["out_of_view_frames"] > 0
    assert sum(seqs[s.name]["full_occlusion_frames"] > 0 for s in fixed_test_specs()) >= 2


def test_changed_manifest_is_detected(tmp_path: Path) -> None:
    data = json.loads(manifest_path().read_text())
    name = sorted(data["sequences"])[0]
    data["sequences"][name]["groundtruth_sha256"] = "0" * 64
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="sha256 mismatch"):
        load_manifest(edited)
    data = json.loads(manifest_path().read_text())
    data["specs"][0]["seed"] += 1
    edited.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="sha256 mismatch"):
        load_manifest(edited)


def test_regenerated_test_sequence_verifies_and_a_change_fails() -> None:
    """Render the shortest committed test sequence: it reproduces its digest; a tampered record fails."""
    manifest = load_manifest(manifest_path())
    spec = min(fixed_test_specs(), key=lambda s: s.length)
    rendered = render_sequence(spec)
    expected = manifest["sequences"][spec.name]
    check_digest(spec.name, expected, rendered)
    for key, bad in (("rgb_sha256", "f" * 64), ("event_count", expected["event_count"] * 2 + 10)):
        with pytest.raises(ValueError, match=f"{spec.name}.*{key}"):
            check_digest(spec.name, {**expected, key: bad}, rendered)
    i = int(np.flatnonzero(np.isfinite(rendered.boxes[:, 0]))[-1])
    rendered.boxes[i, 0] += 1.0  # one pixel off in one frame
    with pytest.raises(ValueError, match="groundtruth_sha256"):
        check_digest(spec.name, expected, rendered)


def test_make_data_cli_writes_a_readable_train_split(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "train"
    assert main(["make-data", "--split", "train", "--out", str(out), "--count", "2", "--size", "96x72"]) == 0
    assert "wrote 2 sequences" in capsys.readouterr().out
    manifest = load_manifest(out / "manifest.json")
    reader = open_dataset("project", out)
    assert reader.sequences() == sorted(manifest["sequences"])
    for spec in map(SequenceSpec.from_dict, manifest["specs"]):
        seq = reader.sequence(spec.name)
        assert len(seq) == spec.length and seq.frame(0).rgb.shape == (72, 96, 3)
        assert seq.sentence and seq.sentence.startswith("the ")
        meta = json.loads((out / spec.name / "meta.json").read_text())
        assert meta["groundtruth_sha256"] == manifest["sequences"][spec.name]["groundtruth_sha256"]
        assert np.isfinite(seq.boxes[seq.valid]).all()


def test_make_data_test_split_is_fixed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ValueError, match="count"):
        generate_split("test", tmp_path, count=3)
    with pytest.raises(ValueError, match="size"):
        generate_split("test", tmp_path, size=(160, 120))
    assert main(["make-data", "--split", "test", "--out", str(tmp_path), "--count", "3"]) == 2
    assert "apply to --split train only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["make-data", "--split", "train", "--out", str(tmp_path), "--size", "320by240"])
