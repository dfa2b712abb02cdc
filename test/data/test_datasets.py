"""Dataset readers on tiny trees written in each dataset's real on-disk layout (names, delimiters)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.io
from PIL import Image

from mamba_tracking_ros.data.datasets import DATASET_FORMATS, TrackingSequence, open_dataset, read_boxes
from mamba_tracking_ros.frame import EventWindow, Frame

H, W = 12, 16


def _jpg(path: Path, value: int, gray: bool = False) -> None:
    """A constant JPEG frame (constant images survive JPEG within +-2 levels)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (H, W) if gray else (H, W, 3)
    Image.fromarray(np.full(shape, value, dtype=np.uint8)).save(path, quality=95)


def _png(path: Path, array: np.ndarray) -> None:
    """A lossless PNG (8- or 16-bit) written with scikit-image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    skimage.io.imsave(str(path), array, check_contrast=False)


def _write(path: Path, text: str) -> None:
    """A text file (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _near(image: np.ndarray, value: int) -> bool:
    """Whether a decoded constant JPEG is the frame written with ``value``."""
    return abs(float(image.mean()) - value) < 3


# ------------------------------------------------------------------------------------------------------ LaSOT
@pytest.fixture
def lasot_root(tmp_path: Path) -> Path:
    """LaSOT: <class>/<class>-<n>/img/00000001.jpg, comma files, one-line flag files, nlp.txt."""
    seq = tmp_path / "airplane" / "airplane-1"
    for k, v in enumerate((10, 80, 160), start=1):
        _jpg(seq / "img" / f"{k:08d}.jpg", v)
    _write(seq / "groundtruth.txt", "367,101,41,16\n366,103,42.5,17\n0,0,0,0\n")
    _write(seq / "full_occlusion.txt", "0,0,1")
    _write(seq / "out_of_view.txt", "0,1,0")
    _write(seq / "nlp.txt", "white airplane landing on the ground\n")
    other = tmp_path / "bird" / "bird-2"
    _jpg(other / "img" / "00000001.jpg", 50)
    _write(other / "groundtruth.txt", "1,2,3,4\n")
    _write(other / "full_occlusion.txt", "0")
    _write(other / "out_of_view.txt", "0")
    _write(tmp_path / "testing_set.txt", "bird-2\n")
    return tmp_path


def test_lasot_reads_boxes_flags_sentence_and_frames(lasot_root: Path) -> None:
    """Sequence list, exact boxes, occlusion/out-of-view masks, visibility-aware valid, lazy RGB frames."""
    reader = open_dataset("lasot", lasot_root)
    assert reader.sequences() == ["airplane-1", "bird-2"]
    assert open_dataset("lasot", lasot_root, split="test").sequences() == ["bird-2"]
    seq = reader.sequence("airplane-1")
    assert isinstance(seq, TrackingSequence) and len(seq) == 3
    np.testing.assert_array_equal(seq.boxes, [[367, 101, 41, 16], [366, 103, 42.5, 17], [0, 0, 0, 0]])
    np.testing.assert_array_equal(seq.full_occlusion, [False, False, True])
    np.testing.assert_array_equal(seq.out_of_view, [False, True, False])
    np.testing.assert_array_equal(seq.valid, [True, False, False])
    assert seq.sentence == "white airplane landing on the ground"
    assert seq.object_class == "airplane"
    frame = seq.frame(1)
    assert isinstance(frame, Frame) and frame.modalities == ("rgb",)
    assert frame.rgb.shape == (H, W, 3) and frame.rgb.dtype == np.uint8 and _near(frame.rgb, 80)
    assert frame.timestamp == pytest.approx(1 / 30)


def test_lasot_errors_name_the_paths(lasot_root: Path) -> None:
    """Ground truth longer than the frame folder, missing flags, bad names and a missing split list."""
    gt = lasot_root / "airplane" / "airplane-1" / "groundtruth.txt"
    gt.write_text(gt.read_text() + "1,1,1,1\n")
    with pytest.raises(ValueError, match="groundtruth.txt has 4 boxes"):
        open_dataset("lasot", lasot_root).sequence("airplane-1")
    (lasot_root / "bird" / "bird-2" / "out_of_view.txt").write_text("0,0")
    with pytest.raises(ValueError, match="out_of_view"):
        open_dataset("lasot", lasot_root).sequence("bird-2")
    with pytest.raises(FileNotFoundError, match="zebra"):
        open_dataset("lasot", lasot_root).sequence("zebra-3")
    (lasot_root / "testing_set.txt").unlink()
    with pytest.raises(FileNotFoundError, match="testing_set.txt"):
        open_dataset("lasot", lasot_root, split="test").sequences()


# ------------------------------------------------------------------------------------------------------ TNL2K
def test_tnl2k_reads_imgs_language_and_ignores_stray_files(tmp_path: Path) -> None:
    """imgs/ with png+jpg frames and a stray '.pn_error' file, comma boxes, language.txt."""
    seq = tmp_path / "test" / "Assassin_video_1-Done"
    _png(seq / "imgs" / "00001.png", np.full((H, W, 3), 30, np.uint8))
    _jpg(seq / "imgs" / "00002.jpg", 120)
    _write(seq / "imgs" / "00003.pn_error", "broken")
    _write(seq / "groundtruth.txt", "10,20,30,40\n11,21,31,41\n")
    _write(seq / "language.txt", "the man in black who is running\n")
    reader = open_dataset("tnl2k", tmp_path, split="test")
    assert reader.sequences() == ["Assassin_video_1-Done"]
    s = reader.sequence("Assassin_video_1-Done")
    assert len(s) == 2 and s.sentence == "the man in black who is running"
    np.testing.assert_array_equal(s.boxes, [[10, 20, 30, 40], [11, 21, 31, 41]])
    assert [p.name for p in s.rgb_paths] == ["00001.png", "00002.jpg"]
    assert (s.frame(0).rgb == 30).all() and _near(s.frame(1).rgb, 120)
    _write(seq / "groundtruth.txt", "10,20,30,40\n")
    with pytest.raises(ValueError, match="imgs has 2 frames"):
        reader.sequence("Assassin_video_1-Done")


# ------------------------------------------------------------------------------------------------- OTB99-lang
@pytest.fixture
def otb_root(tmp_path: Path) -> Path:
    """OTB_videos/<seq>/img/0001.jpg with tab / comma / space ground truth and OTB_query_* sentence files."""
    videos = tmp_path / "OTB_videos"
    for k in range(1, 4):
        _jpg(videos / "Biker" / "img" / f"{k:04d}.jpg", 20 * k)
    _write(videos / "Biker" / "groundtruth_rect.txt", "262\t94\t16\t26\n263\t95\t16\t26\n264\t96\t16\t26\n")
    for k in range(1, 7):  # BlurCar3's ground truth starts at frame 3
        _jpg(videos / "BlurCar3" / "img" / f"{k:04d}.jpg", 30 * k)
    _write(videos / "BlurCar3" / "groundtruth_rect.txt", "1,2,3,4\n5,6,7,8\n9,10,11,12\n13,14,15,16\n")
    for k in range(1, 3):  # two-target video: Skating2-1 reads Skating2/groundtruth_rect.1.txt
        _jpg(videos / "Skating2" / "img" / f"{k:04d}.jpg", 100)
    _write(videos / "Skating2" / "groundtruth_rect.1.txt", "1 2 3 4\n5 6 7 8\n")
    _write(videos / "Skating2" / "groundtruth_rect.2.txt", "9 9 9 9\n9 9 9 9\n")
    _write(tmp_path / "OTB_query_test" / "Biker.txt", "a boy riding a bike\n")
    _write(tmp_path / "OTB_query_test" / "BlurCar3.txt", "black car moving on the road\n")
    _write(tmp_path / "OTB_query_train" / "Skating2-1.txt", "woman skating in a white dress\n")
    return tmp_path


def test_otb99_lang_splits_delimiters_start_frames_and_multi_target(otb_root: Path) -> None:
    """Test/train query folders, tab and space delimiters, BlurCar3 starting at frame 3, Skating2-1."""
    assert open_dataset("otb99_lang", otb_root, split="test").sequences() == ["Biker", "BlurCar3"]
    reader = open_dataset("otb99_lang", otb_root)
    assert reader.sequences() == ["Biker", "BlurCar3", "Skating2-1"]
    biker = reader.sequence("Biker")
    np.testing.assert_array_equal(biker.boxes[0], [262, 94, 16, 26])
    assert biker.sentence == "a boy riding a bike" and len(biker) == 3
    car = reader.sequence("BlurCar3")
    assert [p.name for p in car.rgb_paths] == ["0003.jpg", "0004.jpg", "0005.jpg", "0006.jpg"]
    assert _near(car.frame(0).rgb, 90)
    skate = reader.sequence("Skating2-1")
    np.testing.assert_array_equal(skate.boxes, [[1, 2, 3, 4], [5, 6, 7, 8]])
    assert skate.sentence == "woman skating in a white dress"


def test_otb99_lang_missing_frames_raise(otb_root: Path) -> None:
    """Ground truth running past the last frame file is an error naming the ground-truth file."""
    gt = otb_root / "OTB_videos" / "BlurCar3" / "groundtruth_rect.txt"
    gt.write_text(gt.read_text() + "1,1,1,1\n")
    with pytest.raises(ValueError, match="groundtruth_rect.txt has 5 boxes from frame 3"):
        open_dataset("otb99_lang", otb_root).sequence("BlurCar3")
    with pytest.raises(FileNotFoundError, match="Nope"):
        open_dataset("otb99_lang", otb_root).sequence("Nope")


# ---------------------------------------------------------------------------------------- LasHeR / RGBT234
def _rgbt_tree(seq: Path, rgb_dir: str, ir_dir: str, names: list[tuple[str, str]]) -> None:
    """Paired JPEG frames: colour visible, grey-as-3-channel infrared (as the releases store them)."""
    for k, (vn, iname) in enumerate(names):
        _jpg(seq / rgb_dir / vn, 40 + 10 * k)
        _jpg(seq / ir_dir / iname, 200 - 10 * k)


def test_lasher_uses_init_txt_and_returns_rgb_thermal(tmp_path: Path) -> None:
    """visible/v000000.jpg + infrared/i000000.jpg; init.txt is the evaluation box, per-modality kept."""
    seq = tmp_path / "testingset" / "1boygo"
    _rgbt_tree(seq, "visible", "infrared", [(f"v{k:06d}.jpg", f"i{k:06d}.jpg") for k in range(11)])
    _write(seq / "init.txt", "".join(f"{k},{k + 1},20,30\n" for k in range(11)))
    _write(seq / "visible.txt", "".join(f"{k + 1},{k + 1},20,30\n" for k in range(11)))
    _write(seq / "infrared.txt", "".join(f"{k + 2},{k + 1},20,30\n" for k in range(11)))
    reader = open_dataset("lasher", tmp_path, split="testingset")
    assert reader.sequences() == ["1boygo"]
    s = reader.sequence("1boygo")
    assert len(s) == 11 and s.rgb_paths[10].name == "v000010.jpg"
    np.testing.assert_array_equal(s.boxes[10], [10, 11, 20, 30])
    np.testing.assert_array_equal(s.modality_boxes["thermal"][10], [12, 11, 20, 30])
    f = s.frame(10)
    assert f.modalities == ("rgb", "thermal")
    assert f.rgb.shape == (H, W, 3) and f.thermal.shape == (H, W) and f.thermal.dtype == np.uint8
    assert _near(f.rgb, 140) and _near(f.thermal, 100)
    (seq / "infrared" / "i000010.jpg").unlink()
    with pytest.raises(ValueError, match="infrared has 10"):
        reader.sequence("1boygo")


def test_rgbt234_uses_visible_txt_and_marks_empty_boxes_invalid(tmp_path: Path) -> None:
    """visible/00001v.jpg + infrared/00001i.jpg, visible.txt / infrared.txt; a 0-size box is not valid."""
    seq = tmp_path / "afterrain"
    _rgbt_tree(seq, "visible", "infrared", [(f"{k:05d}v.jpg", f"{k:05d}i.jpg") for k in range(1, 4)])
    _write(seq / "visible.txt", "5,6,7,8\n0,0,0,0\n5,6,7,9\n")
    _write(seq / "infrared.txt", "4,6,7,8\n0,0,0,0\n4,6,7,9\n")
    s = open_dataset("rgbt234", tmp_path).sequence("afterrain")
    np.testing.assert_array_equal(s.boxes[2], [5, 6, 7, 9])
    np.testing.assert_array_equal(s.modality_boxes["thermal"][0], [4, 6, 7, 8])
    np.testing.assert_array_equal(s.valid, [True, False, True])


# ----------------------------------------------------------------------------------------------------- VTUAV
def test_vtuav_sparse_boxes_every_tenth_frame(tmp_path: Path) -> None:
    """rgb/ + ir/ frames, rgb.txt with one row per 10 frames: NaN and invalid in between."""
    seq = tmp_path / "test_ST" / "bike_003"
    _rgbt_tree(seq, "rgb", "ir", [(f"{k:06d}.jpg", f"{k:06d}.jpg") for k in range(1, 13)])
    _write(seq / "rgb.txt", "10 20 30 40\n11 21 31 41\n")
    _write(seq / "ir.txt", "10 20 30 40\n11 21 31 41\n")
    s = open_dataset("vtuav", tmp_path, split="test_ST").sequence("bike_003")
    assert len(s) == 12
    np.testing.assert_array_equal(s.boxes[0], [10, 20, 30, 40])
    np.testing.assert_array_equal(s.boxes[10], [11, 21, 31, 41])
    assert np.isnan(s.boxes[[1, 5, 9, 11]]).all()
    np.testing.assert_array_equal(np.flatnonzero(s.valid), [0, 10])
    _write(seq / "rgb.txt", "10 20 30 40\n11 21 31 41\n1 1 1 1\n")
    with pytest.raises(ValueError, match="rgb.txt has 3 boxes"):
        open_dataset("vtuav", tmp_path, split="test_ST").sequence("bike_003")


# -------------------------------------------------------------------------------------- FE108 / COESOT / FELT
def test_fe108_converted_aps_dvs_exposes_event_images_as_events(tmp_path: Path) -> None:
    """aps/frame0000.png grey APS + dvs/frame0000.png event images, groundtruth_rect.txt (comma)."""
    seq = tmp_path / "airplane_mul222"
    rng = np.random.default_rng(0)
    aps = [rng.integers(0, 256, (H, W), dtype=np.uint8) for _ in range(3)]
    dvs = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(3)]
    for k in range(3):
        _png(seq / "aps" / f"frame{k:04d}.png", aps[k])
        _png(seq / "dvs" / f"frame{k:04d}.png", dvs[k])
    _write(seq / "groundtruth_rect.txt", "100,60,30,20\n101,61,30,20\nNaN,NaN,NaN,NaN\n")
    s = open_dataset("fe108", tmp_path).sequence("airplane_mul222")
    assert np.isnan(s.boxes[2]).all() and list(s.valid) == [True, True, False]
    f = s.frame(1)
    assert f.modalities == ("rgb", "events") and s.events is None  # events: converted event image
    np.testing.assert_array_equal(f.rgb, np.repeat(aps[1][:, :, None], 3, axis=2))
    np.testing.assert_array_equal(s.event_frame(2), dvs[2])


def test_fe108_original_img_layout_has_no_event_images(tmp_path: Path) -> None:
    """The original release (img/0001.jpg, events.aedat4) reads the APS frames only."""
    seq = tmp_path / "bike_low"
    for k in range(1, 3):
        _jpg(seq / "img" / f"{k:04d}.jpg", 60 * k, gray=True)
    _write(seq / "events.aedat4", "")
    _write(seq / "groundtruth_rect.txt", "1,2,3,4\n5,6,7,8\n")
    s = open_dataset("fe108", tmp_path).sequence("bike_low")
    assert s.event_frame_paths is None and s.frame(1).rgb.shape == (H, W, 3) and _near(s.frame(1).rgb, 120)
    with pytest.raises(ValueError, match="event_frame"):
        s.event_frame(0)


@pytest.mark.parametrize("fmt", ["coesot", "felt"])
def test_coesot_felt_aps_dvs_folders_and_absent_flags(tmp_path: Path, fmt: str) -> None:
    """<seq>/<seq>_aps/frame0000.bmp, <seq>_dvs/frame0000.bmp, groundtruth.txt, absent.txt."""
    name = "dvSave-2022_10_11_19_24_36"
    seq = tmp_path / name
    for k in range(3):
        for sub, value in (("aps", 50 + k), ("dvs", 200 - k)):
            path = seq / f"{name}_{sub}" / f"frame{k:04d}.bmp"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((H, W, 3), value, np.uint8)).save(path)
    _write(seq / "groundtruth.txt", "1,2,3,4\n2,3,4,5\n3,4,5,6\n")
    _write(seq / "absent.txt", "0\n1\n0\n")
    reader = open_dataset(fmt, tmp_path)
    assert reader.sequences() == [name]
    s = reader.sequence(name)
    np.testing.assert_array_equal(s.absent, [False, True, False])
    np.testing.assert_array_equal(s.valid, [True, False, True])
    assert (s.frame(2).rgb == 52).all() and (s.event_frame(2) == 198).all()
    _write(seq / "absent.txt", "0\n1\n")
    with pytest.raises(ValueError, match="absent"):
        reader.sequence(name)


# ----------------------------------------------------------------------------------------- project layout
def _project_seq(root: Path, name: str = "lab_walk", n: int = 4, shuffle_events: bool = False) -> dict:
    """A full project-layout sequence; returns the raw arrays written."""
    seq = root / name
    rng = np.random.default_rng(1)
    rgb = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(n)]
    thermal = [rng.integers(300, 60000, (H, W), dtype=np.uint16) for _ in range(n)]
    for k in range(n):
        _png(seq / "rgb" / f"{k:06d}.png", rgb[k])
        _png(seq / "thermal" / f"{k:06d}.png", thermal[k])
    times = 0.5 + np.arange(n) * 0.04  # 25 fps, starting at 0.5 s
    _write(seq / "timestamps.txt", "".join(f"{t:.6f}\n" for t in times))
    boundaries = np.rint(times * 1e6).astype(np.int64)  # events exactly at frame times test the [start, end)
    t = np.sort(np.concatenate([rng.integers(int(0.44e6), int((times[-1] + 0.01) * 1e6), 500), boundaries]))
    m = len(t)
    x = rng.integers(0, W, m).astype(np.uint16)
    y = rng.integers(0, H, m).astype(np.uint16)
    p = rng.integers(0, 2, m).astype(np.int8)
    order = rng.permutation(m) if shuffle_events else np.arange(m)
    np.savez(seq / "events.npz", x=x[order], y=y[order], t=t[order], p=p[order])
    _write(seq / "groundtruth.txt", "".join("2,3,5,6\n" if k != 2 else "nan,nan,nan,nan\n" for k in range(n)))
    _write(seq / "sentence.txt", "the person in the red jacket\n")
    _write(seq / "attributes.txt", "low_light\nfast_motion\n")
    return {"rgb": rgb, "thermal": thermal, "times": times, "x": x, "y": y, "t": t, "p": p}


def test_project_layout_frames_thermal16_and_event_windows(tmp_path: Path) -> None:
    """16-bit thermal kept as stored, events cut into per-frame windows that tile the stream."""
    raw = _project_seq(tmp_path, shuffle_events=True)
    reader = open_dataset("project", tmp_path)
    assert reader.sequences() == ["lab_walk"]
    s = reader.sequence("lab_walk")
    assert s.sentence == "the person in the red jacket" and s.attributes == ["low_light", "fast_motion"]
    assert np.isnan(s.boxes[2]).all() and list(s.valid) == [True, True, False, True]
    total = 0
    for i in range(len(s)):
        f = s.frame(i)
        assert f.modalities == ("rgb", "thermal", "events")
        np.testing.assert_array_equal(f.rgb, raw["rgb"][i])
        assert f.thermal.dtype == np.uint16
        np.testing.assert_array_equal(f.thermal, raw["thermal"][i])
        assert f.timestamp == pytest.approx(raw["times"][i])
        end = int(round(raw["times"][i] * 1e6))
        start = int(round(raw["times"][i - 1] * 1e6)) if i else end - 40000
        inside = (raw["t"] >= start) & (raw["t"] < end)
        ev = f.events
        assert isinstance(ev, EventWindow) and ev.time_range() == (start, end)
        np.testing.assert_array_equal(ev.t, raw["t"][inside])  # time-sorted although the file was shuffled
        got = np.stack([ev.t, ev.x, ev.y, ev.p]).astype(np.int64)
        want = np.stack([raw[k][inside] for k in "txyp"]).astype(np.int64)
        np.testing.assert_array_equal(got[:, np.lexsort(got[::-1])], want[:, np.lexsort(want[::-1])])
        total += len(ev)
    assert total == int(((raw["t"] >= int(0.46e6)) & (raw["t"] < int(round(raw["times"][-1] * 1e6)))).sum())
    assert total > 0


def test_project_events_only_sequence_needs_sensor_size(tmp_path: Path) -> None:
    """Without images, events.npz must carry height/width; then frames are events-only of that size."""
    raw = _project_seq(tmp_path, name="dark")
    seq = tmp_path / "dark"
    for sub in ("rgb", "thermal"):
        for f in (seq / sub).iterdir():
            f.unlink()
        (seq / sub).rmdir()
    with pytest.raises(ValueError, match="height"):
        open_dataset("project", tmp_path).sequence("dark")
    np.savez(seq / "events.npz", x=raw["x"], y=raw["y"], t=raw["t"], p=raw["p"], height=H, width=W)
    f = open_dataset("project", tmp_path).sequence("dark").frame(3)
    assert f.modalities == ("events",) and f.size == (H, W) and len(f.events) > 0


def test_project_layout_errors(tmp_path: Path) -> None:
    """Missing timestamps with events, timestamp count mismatch, frame count mismatch, float event times."""
    raw = _project_seq(tmp_path)
    seq = tmp_path / "lab_walk"
    (seq / "timestamps.txt").unlink()
    with pytest.raises(FileNotFoundError, match="timestamps.txt"):
        open_dataset("project", tmp_path).sequence("lab_walk")
    _write(seq / "timestamps.txt", "0.1\n0.2\n")
    with pytest.raises(ValueError, match="timestamps.txt has 2 lines"):
        open_dataset("project", tmp_path).sequence("lab_walk")
    _write(seq / "timestamps.txt", "".join(f"{t}\n" for t in raw["times"]))
    (seq / "rgb" / "000003.png").unlink()
    with pytest.raises(ValueError, match="rgb has 3 frames"):
        open_dataset("project", tmp_path).sequence("lab_walk")
    _png(seq / "rgb" / "000003.png", raw["rgb"][3])
    np.savez(seq / "events.npz", x=raw["x"], y=raw["y"], t=raw["t"].astype(np.float64), p=raw["p"])
    with pytest.raises(ValueError, match="events.t"):
        open_dataset("project", tmp_path).sequence("lab_walk").frame(0)


# ----------------------------------------------------------------------------------------- shared behaviour
def test_registry_and_root_errors(tmp_path: Path) -> None:
    """Unknown format -> ValueError naming it; a missing root -> FileNotFoundError naming the path."""
    assert set(DATASET_FORMATS) == {
        "lasot",
        "tnl2k",
        "otb99_lang",
        "lasher",
        "rgbt234",
        "vtuav",
        "fe108",
        "coesot",
        "felt",
        "project",
    }
    with pytest.raises(ValueError, match="format"):
        open_dataset("got10k", tmp_path)
    missing = tmp_path / "nowhere"
    for fmt in DATASET_FORMATS:
        with pytest.raises(FileNotFoundError, match="nowhere"):
            open_dataset(fmt, missing)


def test_read_boxes_delimiters_polygons_and_bad_lines(tmp_path: Path) -> None:
    """Mixed delimiters, nan tokens, interior empty lines, 8-number polygons; bad tokens name file:line."""
    path = tmp_path / "gt.txt"
    path.write_text("1,2,3,4\n5\t6\t7\t8\n\n9 10, 11 12\nnan,nan,nan,nan\n0,0,4,0,4,2,0,2\n\n")
    boxes = read_boxes(path)
    assert boxes.shape == (6, 4)
    np.testing.assert_array_equal(
        boxes[[0, 1, 3, 5]], [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [0, 0, 4, 2]]
    )
    assert np.isnan(boxes[[2, 4]]).all()
    path.write_text("1,2,3,4\n1,2,x,4\n")
    with pytest.raises(ValueError, match=r"gt.txt:2"):
        read_boxes(path)
    path.write_text("1,2,3\n")
    with pytest.raises(ValueError, match="expected 4"):
        read_boxes(path)


def test_frame_index_errors(lasot_root: Path) -> None:
    """Out-of-range and non-integer frame indices raise ValueError naming the frame."""
    seq = open_dataset("lasot", lasot_root).sequence("bird-2")
    with pytest.raises(ValueError, match="frame"):
        seq.frame(5)
    with pytest.raises(ValueError, match="frame"):
        seq.frame(1.0)
