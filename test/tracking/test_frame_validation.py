"""Input validation (Frame, EventWindow) and the tracker config section: each error names its field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mamba_tracking_ros.frame import EventWindow
from mamba_tracking_ros.tracking import Frame, TrackerConfig
from mamba_tracking_ros.tracking.config import load_tracker_config

H, W = 24, 32


def events(n: int = 50, seed: int = 0, **kw: object) -> EventWindow:
    """A valid, time-sorted event window inside the H x W image."""
    rng = np.random.default_rng(seed)
    return EventWindow(
        x=rng.integers(0, W, n).astype(np.uint16),
        y=rng.integers(0, H, n).astype(np.uint16),
        t=np.sort(rng.integers(1000, 2000, n)).astype(np.int64),
        p=rng.integers(0, 2, n).astype(np.int8),
        **kw,
    )


def rgb() -> np.ndarray:
    return np.zeros((H, W, 3), dtype=np.uint8)


def test_valid_frames_report_their_modalities() -> None:
    assert Frame(rgb=rgb()).modalities == ("rgb",)
    f = Frame(rgb=rgb(), thermal=np.zeros((H, W), np.uint16), events=events(), timestamp=1.5)
    assert f.modalities == ("rgb", "thermal", "events") and f.size == (H, W) and f.timestamp == 1.5
    assert Frame(thermal=np.zeros((H, W), np.float32)).size == (H, W)
    assert Frame(events=events(), size=(H, W)).modalities == ("events",)
    assert Frame(thermal=np.zeros((H, W, 1), np.uint8)).thermal.shape == (H, W)
    empty = EventWindow(
        np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, bool)
    )
    assert len(Frame(rgb=rgb(), events=empty).events) == 0
    assert empty.time_range()[1] > empty.time_range()[0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "frame"),
        ({"rgb": np.zeros((H, W, 3), np.float32)}, "rgb"),
        ({"rgb": np.zeros((H, W), np.uint8)}, "rgb"),
        ({"rgb": np.zeros((H, W, 4), np.uint8)}, "rgb"),
        ({"rgb": [[1, 2, 3]]}, "rgb"),
        ({"thermal": np.zeros((H, W), np.int32)}, "thermal"),
        ({"thermal": np.zeros((H, W, 3), np.uint8)}, "thermal"),
        ({"thermal": np.full((H, W), np.nan, np.float32)}, "thermal"),
        ({"rgb": rgb(), "events": (1, 2, 3, 4)}, "events"),
        ({"events": events()}, "size"),
        ({"rgb": rgb(), "size": (H + 1, W)}, "size"),
        ({"rgb": rgb(), "timestamp": float("nan")}, "timestamp"),
        ({"rgb": rgb(), "timestamp": "now"}, "timestamp"),
    ],
)
def test_bad_frame_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}"):
        Frame(**kwargs)


def test_thermal_nan_in_one_pixel_is_rejected() -> None:
    th = np.zeros((H, W), np.float32)
    th[3, 4] = np.inf
    with pytest.raises(ValueError, match="^thermal"):
        Frame(thermal=th)


def test_events_out_of_bounds_are_rejected() -> None:
    ev = events()
    ev.x[7] = W  # one past the last column
    with pytest.raises(ValueError, match=r"^events\.x"):
        Frame(rgb=rgb(), events=ev)
    ev = events()
    ev.y[3] = H + 5
    with pytest.raises(ValueError, match=r"^events\.y"):
        Frame(rgb=rgb(), events=ev)
    ev = events()  # events refer to the thermal image when there is no RGB
    with pytest.raises(ValueError, match=r"^events\.x"):
        Frame(thermal=np.zeros((H, W // 2), np.uint8), events=ev)


def make_window(**overrides: object) -> EventWindow:
    ev = events(n=20)
    fields = {"x": ev.x, "y": ev.y, "t": ev.t, "p": ev.p, **overrides}
    return EventWindow(**fields)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"t": np.arange(20, 0, -1, dtype=np.int64)}, r"events\.t"),  # not sorted
        ({"t": np.linspace(0, 1, 20)}, r"events\.t"),  # float seconds instead of int64 microseconds
        ({"x": np.arange(19)}, "events"),  # length mismatch
        ({"p": np.full(20, 2, np.int8)}, r"events\.p"),
        ({"p": np.zeros(20, np.float32)}, r"events\.p"),
        ({"x": np.full(20, np.nan)}, r"events\.x"),
        ({"y": np.zeros((20, 1), np.int32)}, r"events\.y"),
        ({"x": list(range(20))}, r"events\.x"),
        ({"t_start": 10**9}, r"events\.t_start"),
        ({"t_end": 0}, r"events\.t_end"),
        ({"t_start": 1.5}, r"events\.t_start"),
    ],
)
def test_bad_event_window_names_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}"):
        make_window(**overrides)


def test_rgb_thermal_size_mismatch_unless_resizing() -> None:
    frame = Frame(rgb=rgb(), thermal=np.zeros((H // 2, W // 2), np.uint16))
    with pytest.raises(ValueError, match="^thermal"):
        frame.validate(resize_thermal_to_rgb=False)
    frame.validate(resize_thermal_to_rgb=True)  # no error: the tracker resizes it
    Frame(rgb=rgb(), thermal=np.zeros((H, W), np.uint8)).validate()


def test_tracker_config_defaults_and_validation() -> None:
    cfg = TrackerConfig()
    assert cfg.alpha_corr + cfg.alpha_cls == pytest.approx(1.0)
    assert TrackerConfig.from_dict(cfg.to_dict()) == cfg
    for key, bad in [
        ("alpha_corr", 1.5),
        ("psi_out", 0.0),
        ("template_clip_len", 0),
        ("top_k", 2.5),
        ("pad_mode", "edge"),
        ("thermal_percentiles", (99.0, 1.0)),
        ("search_factor", -1.0),
        ("tau", float("nan")),
        ("resize_thermal_to_rgb", "yes"),
    ]:
        with pytest.raises(ValueError, match=f"^{key}"):
            TrackerConfig.from_dict({key: bad})
    with pytest.raises(ValueError, match="^tracker: unknown"):
        TrackerConfig.from_dict({"tua": 0.3})


def test_tracker_section_is_read_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "custom.yaml"
    path.write_text("model:\n  name: small\ntracker:\n  tau: 0.4\n  template_clip_len: 2\n  psi_out: 0.5\n")
    cfg = load_tracker_config(path)
    assert (cfg.tau, cfg.template_clip_len, cfg.psi_out) == (0.4, 2, 0.5)
    assert cfg.search_factor == TrackerConfig().search_factor  # unspecified keys keep their defaults
    assert load_tracker_config(path, overrides={"tau": -0.2}).tau == -0.2
    no_section = tmp_path / "bare.yaml"
    no_section.write_text("model:\n  name: small\n")
    assert load_tracker_config(no_section) == TrackerConfig()
    bad = tmp_path / "bad.yaml"
    bad.write_text("tracker:\n  window_influence: 3\n")
    with pytest.raises(ValueError, match="^window_influence"):
        load_tracker_config(bad)
    assert isinstance(load_tracker_config("small"), TrackerConfig)
