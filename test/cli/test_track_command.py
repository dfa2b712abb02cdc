"""`mamba-tracking track`: own footage (image folder, video file) -> boxes, states and an annotated video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from train_fixtures import write_project_tree

from mamba_tracking_ros.cli.main import main
from mamba_tracking_ros.data.datasets.base import read_boxes
from mamba_tracking_ros.eval.metrics import iou

N_FRAMES = 20


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> tuple[Path, Path, np.ndarray]:
    """An image folder and the same frames as an MJPG video (a textured square gliding over a real still)."""
    root = write_project_tree(
        tmp_path_factory.mktemp("footage"), 1, N_FRAMES, size=(120, 160), modalities=("rgb",)
    )
    folder = root / "seq00" / "rgb"
    gt = np.loadtxt(root / "seq00" / "groundtruth.txt", delimiter=",")
    video = root / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (160, 120))
    for path in sorted(folder.glob("*.png")):
        writer.write(cv2.imread(str(path)))
    writer.release()
    return folder, video, gt


def test_track_folder_from_a_box_follows_the_target(footage, tmp_path) -> None:
    """Box start on an image folder: one box and one time per frame, the shipped weights follow the square."""
    folder, _, gt = footage
    box = ",".join(str(v) for v in gt[0])
    out = tmp_path / "out"
    argv = ["track", str(folder), "--box", box, "--out", str(out), "--no-progress", "--threads", "1"]
    assert main(argv) == 0
    boxes = read_boxes(out / "rgb.txt")
    times = np.loadtxt(out / "rgb_time.txt")
    assert boxes.shape == (N_FRAMES, 4) and times.shape == (N_FRAMES,) and np.all(times > 0)
    overlaps = iou(boxes[1:], gt[1:])
    assert np.mean(overlaps > 0.3) >= 0.9, overlaps.round(2)  # lost = 0: the square is followed
    states = (out / "rgb_states.csv").read_text().splitlines()
    assert states[0] == "frame,state,score,search_mode" and states[1].startswith("0,tracking,1.0000,")
    capture = cv2.VideoCapture(str(out / "rgb.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == N_FRAMES
    ok, first = capture.read()
    capture.release()
    assert ok and first.shape == (120, 160, 3)


def test_track_video_from_a_sentence_with_a_retarget(footage, tmp_path) -> None:
    """Sentence start on a video file; --retarget makes that frame search the whole image (MVLM)."""
    _, video, _ = footage
    out = tmp_path / "out"
    argv = ["track", str(video), "--sentence", "the red checkered square", "--out", str(out)]
    argv += ["--retarget", "10:the square with a checker pattern", "--max-frames", "15", "--no-video"]
    assert main([*argv, "--no-progress"]) == 0
    rows = [line.split(",") for line in (out / "clip_states.csv").read_text().splitlines()[1:]]
    assert [int(r[0]) for r in rows] == list(range(15)) and rows[0][3] == "global"
    assert rows[10][3] == "global" and rows[9][3] == "local"  # tracking before the retarget
    assert read_boxes(out / "clip.txt").shape == (15, 4) and not (out / "clip.mp4").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give --box"),
        (["--box", "1,2,3"], "--box: expected X,Y,W,H"),
        (["--box", "1,2,0,4"], "--box: expected X,Y,W,H"),
        (["--sentence", "  "], "the sentence is empty"),
        (["--box", "1,2,3,4", "--retarget", "ten:the cat"], "--retarget: expected FRAME:SENTENCE"),
        (["--box", "1,2,3,4", "--start-frame", "99"], "no frame to track"),
        (["--box", "1,2,3,4", "--set", "no_such_knob=1"], "no_such_knob"),
    ],
)
def test_track_bad_arguments_are_clear_errors(footage, tmp_path, capsys, extra, message) -> None:
    """Each mistake exits 2 with a message naming it (and writes no result file)."""
    folder, _, _ = footage
    assert main(["track", str(folder), "--out", str(tmp_path / "o"), "--no-progress", *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o" / "rgb.txt").exists()


def test_track_unusable_sources_are_clear_errors(tmp_path, capsys) -> None:
    """A missing path, an empty folder and a file that is no video each exit 2 naming the source."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.avi").write_text("not a video")
    for source, message in (
        (tmp_path / "missing.mp4", "no such video file"),
        (tmp_path / "empty", "holds no images"),
        (tmp_path / "notes.avi", "notes.avi"),
    ):
        assert main(["track", str(source), "--box", "1,2,3,4", "--out", str(tmp_path / "o")]) == 2
        assert message in capsys.readouterr().err
