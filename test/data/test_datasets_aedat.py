"""The .aedat4 reader (dv-processing) and FE108's raw events.aedat4 as a per-frame event stream."""

from __future__ import annotations

import datetime
from pathlib import Path

import dv_processing as dv
import numpy as np
import pytest
from PIL import Image

from mamba_tracking_ros.data.aedat import AedatEventStream, read_aedat, read_frame_timestamps
from mamba_tracking_ros.data.datasets import open_dataset
from mamba_tracking_ros.data.event_sim_check import DEFAULT_AEDAT

W, H = 40, 30
T0 = 1_600_000_000_000_000  # a DV-like absolute clock in microseconds


def write_aedat(path: Path, t, x, y, p, frames: list[tuple[int, np.ndarray]], exposure_us: int = 400) -> None:
    """Write events and APS frames with dv-processing's own writer (a DAVIS-style recording)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = dv.io.MonoCameraWriter(str(path), dv.io.MonoCameraWriter.DAVISConfig("DAVIS346_test", (W, H)))
    store = dv.EventStore()
    for ti, xi, yi, pi in zip(t.tolist(), x.tolist(), y.tolist(), p.tolist(), strict=True):
        store.push_back(ti, xi, yi, bool(pi))
    writer.writeEvents(store)
    for ts, image in frames:
        frame = dv.Frame(ts, image)
        frame.exposure = datetime.timedelta(microseconds=exposure_us)
        writer.writeFrame(frame)
    del writer  # closes the file


def random_events(n: int, t_lo: int, t_hi: int, seed: int = 0):
    """Sorted random events in [t_lo, t_hi)."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(t_lo, t_hi, n)).astype(np.int64)
    return t, rng.integers(0, W, n), rng.integers(0, H, n), rng.integers(0, 2, n)


def test_roundtrip_events_frames_and_sensor_size(tmp_path: Path) -> None:
    t, x, y, p = random_events(500, T0, T0 + 90_000)
    imgs = [np.random.default_rng(k).integers(0, 256, (H, W), dtype=np.uint8) for k in range(3)]
    stamps = [T0, T0 + 40_000, T0 + 80_000]
    write_aedat(tmp_path / "r.aedat4", t, x, y, p, list(zip(stamps, imgs, strict=True)))
    rec = read_aedat(tmp_path / "r.aedat4")
    assert rec.sensor_size == (H, W) and rec.camera == "DAVIS346_test"
    np.testing.assert_array_equal(rec.t, t)
    np.testing.assert_array_equal(rec.x, x)
    np.testing.assert_array_equal(rec.y, y)
    np.testing.assert_array_equal(rec.p, p)
    assert rec.t.dtype == np.int64 and rec.p.dtype == np.int8
    np.testing.assert_array_equal(rec.frame_t, stamps)
    np.testing.assert_array_equal(rec.frames, np.stack(imgs))
    assert (rec.frame_exposure_us == 400).all()
    np.testing.assert_array_equal(read_frame_timestamps(tmp_path / "r.aedat4"), stamps)
    window = rec.window(T0 + 40_000, T0 + 80_000)
    inside = (t >= T0 + 40_000) & (t < T0 + 80_000)
    np.testing.assert_array_equal(window.t, t[inside])
    np.testing.assert_array_equal(window.x, x[inside])


def test_real_davis346_recording_bulk_read() -> None:
    rec = read_aedat(DEFAULT_AEDAT)
    # Independent count with dv-processing's own EventStore API.
    reader = dv.io.MonoCameraRecording(str(DEFAULT_AEDAT))
    n, first, last = 0, None, None
    while (batch := reader.getNextEventBatch()) is not None:
        if batch.size():
            n += batch.size()
            first = batch.getLowestTime() if first is None else first
            last = batch.getHighestTime()
    assert len(rec.t) == n and rec.t[0] == first and rec.t[-1] == last
    assert rec.sensor_size == (260, 346) and rec.frames.shape[1:] == (260, 346)
    assert len(rec.frame_t) == len(rec.frames) and (np.diff(rec.frame_t) > 0).all()
    assert (np.diff(rec.t) >= 0).all() and set(np.unique(rec.p).tolist()) == {0, 1}
    assert rec.x.max() < 346 and rec.y.max() < 260 and rec.x.min() >= 0


def test_bad_files_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="aedat"):
        read_aedat(tmp_path / "missing.aedat4")
    junk = tmp_path / "junk.aedat4"
    junk.write_bytes(b"not an aedat file at all" * 10)
    with pytest.raises(ValueError, match="aedat"):
        read_aedat(junk)
    frames_only = tmp_path / "frames_only.aedat4"
    writer = dv.io.MonoCameraWriter(str(frames_only), dv.io.MonoCameraWriter.FrameOnlyConfig("cam", (W, H)))
    writer.writeFrame(dv.Frame(T0, np.zeros((H, W), np.uint8)))
    del writer
    with pytest.raises(ValueError, match="no event stream"):
        AedatEventStream(frames_only).window(T0, T0 + 10)


def make_fe108_sequence(seq: Path, n_frames: int = 3, n_aedat_frames: int | None = None):
    """FE108 original layout: img/0001.jpg.., groundtruth_rect.txt, events.aedat4 with frames + events."""
    stamps = [T0 + 50_000 * k for k in range(n_frames if n_aedat_frames is None else n_aedat_frames)]
    t, x, y, p = random_events(600, T0 - 50_000, T0 + 50_000 * n_frames, seed=1)
    grey = [np.full((H, W), 40 * (k + 1), np.uint8) for k in range(len(stamps))]
    write_aedat(seq / "events.aedat4", t, x, y, p, list(zip(stamps, grey, strict=True)))
    (seq / "img").mkdir(parents=True, exist_ok=True)
    for k in range(n_frames):
        Image.fromarray(np.full((H, W), 40 * (k + 1), np.uint8)).save(seq / "img" / f"{k + 1:04d}.jpg")
    (seq / "groundtruth_rect.txt").write_text("".join(f"{k + 1},2,10,8\n" for k in range(n_frames)))
    return np.array(stamps), (t, x, y, p)


def test_fe108_raw_events_give_each_frame_its_events(tmp_path: Path) -> None:
    stamps, (t, x, y, p) = make_fe108_sequence(tmp_path / "bike_low")
    s = open_dataset("fe108", tmp_path).sequence("bike_low")
    assert s.modalities == ("rgb", "events") and s.sensor_size == (H, W)
    np.testing.assert_array_equal(np.rint(s.timestamps * 1e6).astype(np.int64), stamps)
    total = 0
    for i in range(len(s)):
        f = s.frame(i)
        lo = stamps[i - 1] if i > 0 else stamps[0] - (stamps[1] - stamps[0])
        inside = (t >= lo) & (t < stamps[i])
        assert inside.sum() > 50
        np.testing.assert_array_equal(f.events.t, t[inside])
        np.testing.assert_array_equal(f.events.x, x[inside])
        np.testing.assert_array_equal(f.events.y, y[inside])
        np.testing.assert_array_equal(f.events.p, p[inside])
        assert f.rgb.shape == (H, W, 3) and abs(int(f.rgb.mean()) - 40 * (i + 1)) <= 3
        total += len(f.events.t)
    assert total == ((t >= stamps[0] - 50_000) & (t < stamps[-1])).sum()


def test_fe108_frame_count_mismatch_is_an_error(tmp_path: Path) -> None:
    make_fe108_sequence(tmp_path / "cup", n_frames=3, n_aedat_frames=4)
    with pytest.raises(ValueError, match="4 APS frame timestamps"):
        open_dataset("fe108", tmp_path).sequence("cup")
