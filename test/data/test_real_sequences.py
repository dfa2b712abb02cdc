"""The real-footage test set: committed labels, the builder, and the sequences it writes."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from mamba_tracking_ros.cli.make_data_command import run_make_data
from mamba_tracking_ros.data.aedat import read_aedat
from mamba_tracking_ros.data.datasets.project import ProjectReader
from mamba_tracking_ros.data.footage import clip_path
from mamba_tracking_ros.data.real_sequences import (
    DAVIS_SOURCE,
    LABELS_DIR,
    build_real_sequences,
    check_boxes_in_image,
    davis_path,
    list_real_sequences,
    load_labels,
)

NAMES = list_real_sequences()
DAVIS_SEQ = next(n for n in NAMES if load_labels(n).source == DAVIS_SOURCE)
VIDEO_SEQ = min(
    (n for n in NAMES if load_labels(n).source != DAVIS_SOURCE), key=lambda n: load_labels(n).last_frame
)


def _source_size(source: str) -> tuple[int, int]:
    """(width, height) of a source's frames, read from the fetched footage."""
    if source == DAVIS_SOURCE:
        rec = read_aedat(davis_path(), frames=False)
        return rec.width, rec.height
    cap = cv2.VideoCapture(str(clip_path(source)))
    ok, frame = cap.read()
    cap.release()
    assert ok
    return frame.shape[1], frame.shape[0]


def test_committed_labels_are_sane() -> None:
    sources = {load_labels(n).source for n in NAMES}
    assert DAVIS_SOURCE in sources and "opencv/vtest" in sources
    sizes = {s: _source_size(s) for s in sources}
    for name in NAMES:
        labels = load_labels(name)
        assert 59 <= labels.n_frames <= 300, name
        assert labels.boxes.shape == (labels.n_frames, 4)
        check_boxes_in_image(labels, *sizes[labels.source])
        visible = ~(labels.full_occlusion | labels.out_of_view)
        assert (labels.boxes[visible, 2:] > 0).all()
        assert labels.sentence and labels.meta["labelled"] and labels.meta["checked"]


def test_builder_writes_readable_davis_sequence_with_real_events(tmp_path: Path) -> None:
    (seq_dir,) = build_real_sequences(tmp_path, names=[DAVIS_SEQ])
    labels = load_labels(DAVIS_SEQ)
    seq = ProjectReader(tmp_path).sequence(DAVIS_SEQ)
    assert len(seq) == labels.n_frames == len(seq.rgb_paths) == len(seq.timestamps)
    np.testing.assert_allclose(seq.boxes, labels.boxes)
    assert seq.sentence == labels.sentence
    frame = seq.frame(0)
    assert frame.rgb.shape == (260, 346, 3)
    h, w = frame.rgb.shape[:2]
    assert (seq.boxes[:, 0] >= 0).all() and (seq.boxes[:, 0] + seq.boxes[:, 2] <= w).all()
    assert (seq.boxes[:, 1] >= 0).all() and (seq.boxes[:, 1] + seq.boxes[:, 3] <= h).all()
    # The events are the recording's own, rebased by the offset the builder records.
    rec = read_aedat(davis_path())
    meta = json.loads((seq_dir / "meta.json").read_text())
    offset = meta["time_offset_us"]
    ev = np.load(seq_dir / "events.npz")
    assert (int(ev["height"]), int(ev["width"])) == (rec.height, rec.width) == (260, 346)
    lo = np.searchsorted(rec.t, offset)
    n = len(ev["t"])
    assert n > 10_000 and n == meta["event_count"]
    np.testing.assert_array_equal(ev["t"] + offset, rec.t[lo : lo + n])
    np.testing.assert_array_equal(ev["x"], rec.x[lo : lo + n])
    np.testing.assert_array_equal(ev["p"], rec.p[lo : lo + n])
    first = labels.first_frame
    np.testing.assert_allclose(seq.timestamps * 1e6 + offset, rec.frame_t[first : first + len(seq)], atol=1)
    np.testing.assert_array_equal(
        cv2.imread(str(seq.rgb_paths[5]), cv2.IMREAD_UNCHANGED), rec.frames[first + 5]
    )
    # Frame 10's event window holds exactly the recording's events between APS frames 9 and 10.
    win = seq.frame(10).events
    expected = np.count_nonzero((rec.t >= rec.frame_t[first + 9]) & (rec.t < rec.frame_t[first + 10]))
    assert len(win.t) == expected > 0


def test_builder_writes_readable_video_sequence(tmp_path: Path) -> None:
    build_real_sequences(tmp_path, names=[VIDEO_SEQ])
    labels = load_labels(VIDEO_SEQ)
    seq = ProjectReader(tmp_path).sequence(VIDEO_SEQ)
    assert len(seq) == labels.n_frames == len(seq.rgb_paths)
    assert seq.events is None and seq.attributes == labels.attributes
    assert int(seq.valid.sum()) == int((~(labels.full_occlusion | labels.out_of_view)).sum())
    cap = cv2.VideoCapture(str(clip_path(labels.source)))
    for _ in range(labels.first_frame):
        cap.grab()
    ok, bgr = cap.read()
    cap.release()
    assert ok
    np.testing.assert_array_equal(cv2.imread(str(seq.rgb_paths[0])), bgr)


def _copy_labels(tmp_path: Path, name: str) -> Path:
    """A writable copy of the committed labels of ``name`` under ``tmp_path/labels``."""
    root = tmp_path / "labels"
    shutil.copytree(LABELS_DIR / name, root / name)
    return root


def test_bad_or_missing_labels_give_clear_errors(tmp_path: Path) -> None:
    root = _copy_labels(tmp_path, DAVIS_SEQ)
    gt = root / DAVIS_SEQ / "groundtruth.txt"
    lines = gt.read_text().splitlines()
    gt.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match="groundtruth.txt has .* boxes but frames"):
        build_real_sequences(tmp_path / "out", labels_dir=root)
    assert not (tmp_path / "out").exists()  # nothing written before the labels are checked
    gt.write_text("\n".join([lines[0], "1,2,three,4", *lines[2:]]) + "\n")
    with pytest.raises(ValueError, match=r"groundtruth.txt:2: not a number"):
        load_labels(DAVIS_SEQ, root)
    gt.write_text("\n".join([lines[0], "nan,nan,nan,nan", *lines[2:]]) + "\n")
    with pytest.raises(ValueError, match="not flagged occluded"):
        load_labels(DAVIS_SEQ, root)
    meta_path = root / DAVIS_SEQ / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["out_of_view"] = [meta["first_frame"] + 1]
    meta_path.write_text(json.dumps(meta))
    assert load_labels(DAVIS_SEQ, root).out_of_view.sum() == 1  # flagged: a NaN box is allowed
    gt.write_text("\n".join([lines[0], "300,10,80,20", *lines[2:]]) + "\n")
    with pytest.raises(ValueError, match="outside the 346x260 image"):
        build_real_sequences(tmp_path / "out2", labels_dir=root)
    del meta["sentence"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="missing keys"):
        load_labels(DAVIS_SEQ, root)
    gt.unlink()
    meta_path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_labels(DAVIS_SEQ, root)
    with pytest.raises(FileNotFoundError, match="meta.json"):
        load_labels("no_such_sequence", root)
    with pytest.raises(ValueError, match="unknown sequences"):
        build_real_sequences(tmp_path / "out3", names=["no_such_sequence"])


def test_missing_footage_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("FOOTAGE_DIR", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="fetch_footage.sh"):
        build_real_sequences(tmp_path / "out", names=[DAVIS_SEQ])
    with pytest.raises(FileNotFoundError, match="fetch_footage.sh"):
        build_real_sequences(tmp_path / "out", names=[VIDEO_SEQ])
    assert not (tmp_path / "out").exists()


def test_make_data_real_rejects_train_options(tmp_path: Path) -> None:
    args = argparse.Namespace(split="real", out=str(tmp_path), count=3, seed=None, size=None, workers=1)
    with pytest.raises(ValueError, match="the real set is fixed"):
        run_make_data(args)
