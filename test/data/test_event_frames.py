"""Event *images* (FE108 / COESOT / FELT ``dvs`` folders) as the events modality: converter, reader, eval.

Images are built the way the datasets render them: a plain background (white, black or mid grey) with
positive events in red (or bright) and negative events in blue (or dark).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_model import TINY_MODEL  # noqa: E402

from mamba_tracking_ros.data.datasets import TrackingSequence, open_dataset  # noqa: E402
from mamba_tracking_ros.data.datasets.base import NpzEventStream  # noqa: E402
from mamba_tracking_ros.data.event_frames import background_colour, event_image_to_window  # noqa: E402
from mamba_tracking_ros.eval.runner import ModelSpec, load_frame, run_evaluation  # noqa: E402
from mamba_tracking_ros.model import ModelConfig, build_model  # noqa: E402
from mamba_tracking_ros.tracking import Tracker  # noqa: E402
from mamba_tracking_ros.tracking.config import TrackerConfig  # noqa: E402
from mamba_tracking_ros.train.clips import prepare_sources  # noqa: E402

H, W = 60, 80
RED, BLUE, WHITE, BLACK = (255, 0, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


def _painted(
    background: tuple[int, ...] | int, pixels: dict[tuple[int, int], tuple[int, ...] | int]
) -> np.ndarray:
    """An HxW(x3) uint8 image of ``background`` with ``pixels[(x, y)]`` painted in their colour."""
    channels = () if isinstance(background, int) else (len(background),)
    image = np.empty((H, W, *channels), dtype=np.uint8)
    image[...] = background
    for (x, y), colour in pixels.items():
        image[y, x] = colour
    return image


def _as_set(window) -> set[tuple[int, int, int]]:
    """The window's events as a set of (x, y, polarity)."""
    return {(int(x), int(y), int(p)) for x, y, p in zip(window.x, window.y, window.p, strict=True)}


def _random_pixels(rng: np.random.Generator, n: int, on: tuple, off: tuple) -> dict:
    """``n`` distinct random pixels, half painted ``on`` and half ``off``."""
    flat = rng.choice(H * W, size=n, replace=False)
    return {(int(k % W), int(k // W)): (on if j % 2 else off) for j, k in enumerate(flat)}


@pytest.mark.parametrize(
    ("background", "on", "off"),
    [
        (WHITE, RED, BLUE),
        (BLACK, RED, BLUE),
        (BLACK, WHITE, BLUE),
        (128, 255, 0),
        ((128, 128, 128), RED, BLUE),
    ],
    ids=["white-red-blue", "black-red-blue", "black-white-blue", "grey-bright-dark", "grey-rgb-red-blue"],
)
def test_converter_coordinates_and_polarity_are_exact(background, on, off) -> None:
    rng = np.random.default_rng(3)
    pixels = _random_pixels(rng, 200, on, off)
    window = event_image_to_window(_painted(background, pixels), 1_000, 51_000)
    expected = {(x, y, 1 if colour == on else -1) for (x, y), colour in pixels.items()}
    assert len(window) == len(pixels) and _as_set(window) == expected
    assert window.x.dtype.kind == "i" and window.y.dtype.kind == "i"


def test_background_is_the_most_common_colour_even_when_not_white_or_black() -> None:
    pixels = {(x, 5): RED for x in range(30)} | {(x, 9): BLUE for x in range(20)}
    image = _painted((200, 180, 40), pixels)
    np.testing.assert_array_equal(background_colour(image), [200, 180, 40])
    assert _as_set(event_image_to_window(image, 0, 100)) == {(x, 5, 1) for x in range(30)} | {
        (x, 9, -1) for x in range(20)
    }
    # More red pixels than anything else: red is then the background and the rest are the events.
    flooded = _painted(RED, {(1, 2): WHITE})
    np.testing.assert_array_equal(background_colour(flooded), RED)
    # White minus red is (0, 255, 255): blue-ish relative to the background, so OFF by the colour rule.
    assert _as_set(event_image_to_window(flooded, 0, 10)) == {(1, 2, -1)}


def test_rgba_uint16_and_tolerance() -> None:
    rgb = _painted(WHITE, {(3, 4): RED, (7, 8): BLUE})
    rgba = np.concatenate([rgb, np.full((H, W, 1), 255, np.uint8)], axis=2)
    assert _as_set(event_image_to_window(rgba, 0, 10)) == {(3, 4, 1), (7, 8, -1)}
    grey16 = np.full((H, W), 30000, np.uint16)
    grey16[1, 2], grey16[3, 4] = 60000, 100
    assert _as_set(event_image_to_window(grey16, 0, 10)) == {(2, 1, 1), (4, 3, -1)}
    noisy = rgb.copy()
    noisy[10, 11] = (250, 252, 255)  # near-white compression noise
    assert len(event_image_to_window(noisy, 0, 10)) == 3
    assert _as_set(event_image_to_window(noisy, 0, 10, tolerance=8)) == {(3, 4, 1), (7, 8, -1)}


def test_timestamps_sorted_inside_the_window_and_evenly_spread() -> None:
    rng = np.random.default_rng(4)
    pixels = _random_pixels(rng, 1000, RED, BLUE)
    t0, t1 = 2_000_000, 2_033_333
    window = event_image_to_window(_painted(WHITE, pixels), t0, t1)
    t = window.t
    assert t.dtype == np.int64 and (np.diff(t) >= 0).all()
    assert t.min() >= t0 and t.max() < t1 and (window.t_start, window.t_end) == (t0, t1)
    counts = np.histogram(t, bins=4, range=(t0, t1))[0]
    assert counts.max() - counts.min() <= 2, counts
    # Each time bin samples the whole image, not a band of rows: both halves of the image in every bin.
    for b in range(4):
        in_bin = (t >= t0 + b * (t1 - t0) / 4) & (t < t0 + (b + 1) * (t1 - t0) / 4)
        ys = window.y[in_bin]
        assert (ys < H // 2).sum() > 50 and (ys >= H // 2).sum() > 50


def test_blank_image_gives_an_empty_window() -> None:
    for blank in (np.full((H, W, 3), 255, np.uint8), np.zeros((H, W), np.uint8)):
        window = event_image_to_window(blank, 5, 40)
        assert len(window) == 0 and window.time_range() == (5, 40)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((H, W, 2), np.uint8),
        np.zeros((H, W, 3, 1), np.uint8),
        np.zeros((H,), np.uint8),
        np.zeros((0, W, 3), np.uint8),
        np.zeros((H, W, 3), np.float32),
        [[0, 1], [1, 0]],
    ],
    ids=["two-channels", "4-d", "1-d", "empty", "float", "list"],
)
def test_malformed_image_raises_a_clear_error(bad) -> None:
    with pytest.raises(ValueError, match="event image"):
        event_image_to_window(bad, 0, 10)


def test_bad_window_raises() -> None:
    image = _painted(WHITE, {(1, 1): RED})
    with pytest.raises(ValueError, match="t_end"):
        event_image_to_window(image, 10, 5)
    with pytest.raises(ValueError, match="t_start"):
        event_image_to_window(image, 0.5, 5)


# ------------------------------------------------------------------------------------ datasets, eval, train
N, P = 6, 14  # frames, target size


def _target_xy(i: int) -> tuple[int, int]:
    """Top-left corner of the moving target square in frame ``i``."""
    return 10 + 6 * i, 12 + 3 * i


def _write_fe108(root: Path, name: str = "dog_mul") -> Path:
    """An FE108 converted sequence: grey APS frames, event images of a moving square's edges, boxes."""
    seq = root / name
    (seq / "aps").mkdir(parents=True)
    (seq / "dvs").mkdir()
    boxes = []
    for i in range(N):
        x, y = _target_xy(i)
        aps = np.full((H, W), 40, np.uint8)
        aps[y : y + P, x : x + P] = 220
        dvs = np.full((H, W, 3), 255, np.uint8)
        if i > 0:
            px, py = _target_xy(i - 1)
            previous = np.zeros((H, W), bool)
            previous[py : py + P, px : px + P] = True
            current = np.zeros((H, W), bool)
            current[y : y + P, x : x + P] = True
            dvs[current & ~previous] = RED  # brighter: the square arrived
            dvs[previous & ~current] = BLUE  # darker: the square left
        Image.fromarray(aps).save(seq / "aps" / f"frame{i:04d}.png")
        Image.fromarray(dvs).save(seq / "dvs" / f"frame{i:04d}.png")
        boxes.append((x, y, P, P))
    (seq / "groundtruth_rect.txt").write_text("".join(f"{x},{y},{w},{h}\n" for x, y, w, h in boxes))
    return seq


def test_fe108_event_images_are_the_events_modality(tmp_path: Path) -> None:
    seq_dir = _write_fe108(tmp_path)
    seq = open_dataset("fe108", tmp_path).sequence("dog_mul")
    assert seq.events is None and seq.modalities == ("rgb", "events")
    frame = seq.frame(2)
    assert frame.events is not None and frame.modalities == ("rgb", "events")
    (x1, y1), (x2, y2) = _target_xy(1), _target_xy(2)
    arrived = {(x, y) for x in range(x2, x2 + P) for y in range(y2, y2 + P)} - {
        (x, y) for x in range(x1, x1 + P) for y in range(y1, y1 + P)
    }
    on = frame.events.p > 0
    assert {(int(x), int(y)) for x, y in zip(frame.events.x[on], frame.events.y[on], strict=True)} == arrived
    # No stored timestamps: the window is the nominal frame interval (FE108 nominal 20 fps).
    assert frame.events.time_range() == (50_000, 100_000) and frame.timestamp == pytest.approx(0.1)
    assert len(seq.frame(0).events) == 0  # the first image is blank
    Image.fromarray(np.zeros((H, W), np.uint8)).save(seq_dir / "dvs" / "frame0003.png")
    assert len(seq.frame(3).events) == 0  # an all-black grey image is blank, not an error
    # An unusable event image (32-bit float) is a ValueError naming the file.
    Image.fromarray(np.zeros((H, W), np.float32)).save(seq_dir / "dvs" / "frame0004.tiff")
    seq.event_frame_paths[4] = seq_dir / "dvs" / "frame0004.tiff"
    with pytest.raises(ValueError, match=r"events: .*frame0004.tiff: event image: expected dtype"):
        seq.frame(4)


def test_raw_stream_is_preferred_over_event_images(tmp_path: Path) -> None:
    _write_fe108(tmp_path)
    images = open_dataset("fe108", tmp_path).sequence("dog_mul")
    times_us = np.arange(N, dtype=np.int64) * 40_000
    rng = np.random.default_rng(5)
    n = 500
    np.savez(
        tmp_path / "events.npz",
        x=rng.integers(0, W, n),
        y=rng.integers(0, H, n),
        t=np.sort(rng.integers(0, int(times_us[-1]), n)),
        p=rng.integers(0, 2, n),
    )
    both = TrackingSequence(
        name="both",
        dataset="test",
        boxes=images.boxes,
        rgb_paths=images.rgb_paths,
        event_frame_paths=images.event_frame_paths,
        events=NpzEventStream(tmp_path / "events.npz"),
        timestamps=times_us / 1e6,
    )
    raw = NpzEventStream(tmp_path / "events.npz").window(int(times_us[2]), int(times_us[3]))
    window = both.frame(3).events
    np.testing.assert_array_equal(window.t, raw.t)
    np.testing.assert_array_equal(window.x, raw.x)
    assert both.modalities == ("rgb", "events")


def test_events_only_sequence_takes_its_size_from_the_event_image(tmp_path: Path) -> None:
    _write_fe108(tmp_path)
    images = open_dataset("fe108", tmp_path).sequence("dog_mul")
    only = TrackingSequence(
        name="only", dataset="test", boxes=images.boxes, event_frame_paths=images.event_frame_paths
    )
    frame = only.frame(1)
    assert only.modalities == ("events",) and frame.size == (H, W) and len(frame.events) > 0
    sources = prepare_sources(only, 1, ("events",), TrackerConfig())
    assert (sources.height, sources.width) == (H, W)
    assert _as_set(sources.sources["events"]) == _as_set(frame.events)


def test_eval_and_tracker_run_on_event_images(tmp_path: Path) -> None:
    _write_fe108(tmp_path / "data")
    spec = ModelSpec(config=ModelConfig(**TINY_MODEL), device="cpu", seed=0)
    summary = run_evaluation(
        "fe108",
        tmp_path / "data",
        tmp_path / "results",
        trackers=["mamba"],
        modality_sets=["events", "rgb,events"],
        model=spec,
        workers=1,
        threads=1,
        progress=False,
    )
    assert [t["name"] for t in summary["trackers"]] == ["mamba[box|events]", "mamba[box|rgb+events]"]
    assert not summary.get("skipped")
    for slug in ("mamba_box_events", "mamba_box_rgb+events"):
        boxes = np.loadtxt(tmp_path / "results" / slug / "dog_mul.txt", delimiter=",", ndmin=2)
        assert boxes.shape == (N, 4) and np.isfinite(boxes).all()
    # The event branch really runs: the tracker reports the events modality as used on every frame.
    seq = open_dataset("fe108", tmp_path / "data").sequence("dog_mul")
    net = build_model(ModelConfig(**TINY_MODEL), checkpoint=None, device="cpu")
    tracker = Tracker(ModelConfig(**TINY_MODEL), model=net)
    result = tracker.start(load_frame(seq, 0, ("events",), (H, W)), box=tuple(seq.boxes[0]))
    assert result.modalities == ("events",)
    for i in range(1, N):
        assert tracker.update(load_frame(seq, i, ("events",), (H, W))).modalities == ("events",)
