"""Runtime tracker mechanics on the real `small` network (random init: mechanics, not accuracy).

Frames are a still photograph (skimage) panned across time, a simulated 16-bit thermal image derived from its
grey levels, and events drawn at its edges.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import skimage.data
import torch
from edge_events import edge_events

from mamba_tracking_ros.tracking import Frame, SearchMode, Tracker, TrackResult, TrackState  # noqa: E402

H, W = 120, 160
BOX = (60.0, 30.0, 40.0, 36.0)
SENTENCE = "the cat's face in the middle"
BASE = skimage.data.chelsea()  # 300 x 451 RGB


def scene(
    i: int, modalities: tuple[str, ...] = ("rgb", "thermal", "events"), timestamp: float | None = None
) -> Frame:
    """Frame i of a slow pan over the photo, with the requested modalities."""
    y0, x0 = 40 + 2 * i, 60 + 3 * i
    rgb = np.ascontiguousarray(BASE[y0 : y0 + H, x0 : x0 + W])
    gray = rgb.astype(np.float64).mean(axis=-1)
    parts: dict[str, object] = {}
    if "rgb" in modalities:
        parts["rgb"] = rgb
    if "thermal" in modalities:
        parts["thermal"] = (3000.0 + 40.0 * gray).astype(np.uint16)  # raw 16-bit counts
    if "events" in modalities:
        parts["events"] = edge_events(gray, i, 3000)
    return Frame(**parts, timestamp=0.1 * i if timestamp is None else timestamp, size=(H, W))


def check_result(result: TrackResult, frame: Frame, index: int) -> None:
    """A TrackResult is well formed: box inside the image, bounded confidence, enums, bookkeeping."""
    x, y, w, h = result.box
    assert all(isinstance(v, float) and math.isfinite(v) for v in result.box)
    assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= W + 1e-6 and y + h <= H + 1e-6
    assert -1.0 <= result.confidence <= 1.0
    assert 0.0 <= result.score <= 1.0
    assert isinstance(result.search_mode, SearchMode) and isinstance(result.state, TrackState)
    assert result.state != TrackState.IDLE
    assert result.modalities == frame.modalities
    assert result.timestamp == frame.timestamp and result.frame_index == index


SUBSETS = [
    ("rgb",),
    ("rgb", "thermal"),
    ("rgb", "events"),
    ("rgb", "thermal", "events"),
    ("thermal",),
    ("events",),
]


@pytest.mark.parametrize("modalities", SUBSETS, ids=["+".join(s) for s in SUBSETS])
@pytest.mark.parametrize("init", ["box", "text", "both"])
def test_start_and_update_for_each_modality_subset(
    small_net: torch.nn.Module, modalities: tuple, init: str
) -> None:
    tracker = Tracker(model=small_net)
    box = BOX if init in ("box", "both") else None
    text = SENTENCE if init in ("text", "both") else None
    frames = [scene(i, modalities) for i in range(3)]
    first = tracker.start(frames[0], box=box, text=text)
    check_result(first, frames[0], 0)
    assert tracker.text == text
    if box is not None:
        assert first.box == BOX and first.state == TrackState.TRACKING
        assert first.search_mode == SearchMode.LOCAL
        assert tracker.template_modalities == modalities
    else:  # MVLM template-free start: the whole frame is searched
        assert first.search_mode == SearchMode.GLOBAL
        assert first.state in (TrackState.WAITING_FOR_TARGET, TrackState.TRACKING)
    for i, frame in enumerate(frames[1:], start=1):
        result = tracker.update(frame)
        check_result(result, frame, i)


def test_missing_modalities_at_run_time(small_net: torch.nn.Module) -> None:
    tracker = Tracker(model=small_net, tracker_config={"template_update_threshold": 2.0})  # no refresh
    tracker.start(scene(0, ("rgb", "thermal")), box=BOX)
    assert tracker.template_modalities == ("rgb", "thermal")
    for i, mods in enumerate([("rgb",), ("events",), ("thermal", "events"), ("rgb", "thermal", "events")], 1):
        frame = scene(i, mods)
        check_result(tracker.update(frame), frame, i)
    assert tracker.template_modalities == ("rgb", "thermal")  # events never got a template
    refreshing = Tracker(model=small_net, tracker_config={"template_update_threshold": -1.0})
    refreshing.start(scene(0, ("rgb",)), box=BOX)
    refreshing.update(scene(1, ("rgb", "events")))  # events appear: their clip starts from this refresh
    assert refreshing.template_modalities == ("rgb", "events")


def run_sequence(tracker: Tracker, n: int = 4, text: str | None = SENTENCE) -> list[TrackResult]:
    """Start by box (+ sentence) and run n - 1 updates of the full-modality scene."""
    results = [tracker.start(scene(0), box=BOX, text=text)]
    results += [tracker.update(scene(i)) for i in range(1, n)]
    return results


def test_deterministic_with_the_same_seed() -> None:
    """With random initialisation (no checkpoint) the torch seed fixes every output."""
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        tracker = Tracker("small", checkpoint=None, device="cpu", tracker_config={"tau": -1.0})
        runs.append(run_sequence(tracker, n=3))
    assert runs[0] == runs[1]
    torch.manual_seed(124)  # a different initialisation gives different outputs: the comparison has teeth
    other = run_sequence(Tracker("small", checkpoint=None, device="cpu", tracker_config={"tau": -1.0}), n=3)
    assert [r.box for r in other] != [r.box for r in runs[0]]


def test_interleaved_trackers_do_not_share_state(small_net: torch.nn.Module) -> None:
    box_b = (20.0, 60.0, 30.0, 30.0)
    alone_a = run_sequence(Tracker(model=small_net), n=4)
    solo_b = Tracker(model=small_net)
    alone_b = [solo_b.start(scene(0, ("rgb", "events")), box=box_b, text="a dark patch")]
    alone_b += [solo_b.update(scene(i, ("rgb", "events"))) for i in range(1, 4)]
    a, b = Tracker(model=small_net), Tracker(model=small_net)
    mixed_a = [a.start(scene(0), box=BOX, text=SENTENCE)]
    mixed_b = [b.start(scene(0, ("rgb", "events")), box=box_b, text="a dark patch")]
    for i in range(1, 4):
        mixed_b.append(b.update(scene(i, ("rgb", "events"))))
        mixed_a.append(a.update(scene(i)))
    assert mixed_a == alone_a
    assert mixed_b == alone_b
    assert a.memory is not b.memory


def test_set_text_forces_global_search_once(
    small_net: torch.nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    encode = small_net.encode_text
    monkeypatch.setattr(small_net, "encode_text", lambda s: calls.append(s) or encode(s))
    always = {"tau": -1.0, "template_update_threshold": -1.0}  # every frame passes the gate and refreshes
    tracker = Tracker(model=small_net, tracker_config=always)
    run_sequence(tracker, n=3, text=None)
    assert tracker.next_search_mode == SearchMode.LOCAL
    tracker.set_text("the grey stripes")
    assert calls == ["the grey stripes"]  # encoded once, on arrival
    assert tracker.text == "the grey stripes" and tracker.confidence_memory is None
    assert tracker.state == TrackState.WAITING_FOR_TARGET and tracker.template_modalities == ()
    retarget = tracker.update(scene(3))
    assert retarget.search_mode == SearchMode.GLOBAL
    assert retarget.state == TrackState.TRACKING  # tau = -1: the new target is acquired at once
    assert tracker.template_modalities == ("rgb", "thermal", "events")  # re-seeded from the new target
    assert tracker.update(scene(4)).search_mode == SearchMode.LOCAL
    assert calls == ["the grey stripes"]  # never re-encoded per frame
    tracker.set_text("the cat again", keep_template=True)
    assert tracker.template_modalities != ()  # a refining sentence keeps the template clip
    assert tracker.update(scene(5)).search_mode == SearchMode.GLOBAL


def test_gating_states_follow_tau(small_net: torch.nn.Module) -> None:
    never = Tracker(model=small_net, tracker_config={"tau": 1.5, "lost_after": 2})  # kappa <= 1 never passes
    first = never.start(scene(0), box=BOX)
    assert first.state == TrackState.TRACKING
    results = [never.update(scene(i)) for i in range(1, 4)]
    assert [r.search_mode for r in results] == [SearchMode.LOCAL, SearchMode.GLOBAL, SearchMode.GLOBAL]
    assert [r.state for r in results] == [TrackState.RELOCALISING, TrackState.LOST, TrackState.LOST]
    waiting = Tracker(model=small_net, tracker_config={"tau": 1.5})
    states = [waiting.start(scene(0), text=SENTENCE).state] + [waiting.update(scene(i)).state for i in (1, 2)]
    assert states == [TrackState.WAITING_FOR_TARGET] * 3
    always = Tracker(model=small_net, tracker_config={"tau": -1.0})
    results = run_sequence(always, n=4)
    assert all(r.state == TrackState.TRACKING for r in results)
    assert all(r.search_mode == SearchMode.LOCAL for r in results)


@pytest.mark.parametrize("threshold", [-1.0, 1.0, 1.5])
def test_template_refresh_only_above_threshold(
    small_net: torch.nn.Module, monkeypatch: pytest.MonkeyPatch, threshold: float
) -> None:
    embeds = []
    embed = small_net.embed_images
    monkeypatch.setattr(
        small_net, "embed_images", lambda images, role="template": embeds.append(role) or embed(images, role)
    )
    tracker = Tracker(
        model=small_net, tracker_config={"template_update_threshold": threshold, "template_clip_len": 2}
    )
    tracker.start(scene(0), box=BOX, text=SENTENCE)
    initial = tracker.template_tokens("rgb").clone()
    n_tokens = initial.shape[1] // 2
    for i in range(1, 5):
        before = tracker.template_refreshes
        result = tracker.update(scene(i))
        assert tracker.template_refreshes - before == int(result.confidence >= threshold)
    assert embeds.count("template") == 1 + tracker.template_refreshes  # once per refresh, never per frame
    if threshold == -1.0:
        assert tracker.template_refreshes == 4
        clip = tracker.template_tokens("rgb")
        assert torch.equal(clip[:, :n_tokens], initial[:, :n_tokens])  # the initial template is kept
        assert not torch.equal(clip[:, n_tokens:], initial[:, n_tokens:])  # the other slot was refreshed
    if threshold == 1.5:
        assert tracker.template_refreshes == 0
        assert torch.equal(tracker.template_tokens("rgb"), initial)


def test_template_refresh_interval(small_net: torch.nn.Module) -> None:
    config = {"template_update_threshold": -1.0, "template_update_interval": 3}
    tracker = Tracker(model=small_net, tracker_config=config)
    tracker.start(scene(0, ("rgb",)), box=BOX)
    counts = []
    for i in range(1, 8):
        tracker.update(scene(i, ("rgb",)))
        counts.append(tracker.template_refreshes)
    assert counts == [0, 0, 1, 1, 1, 2, 2]  # frames 3 and 6: three frames after the start / last refresh


def test_text_only_start_seeds_the_template(small_net: torch.nn.Module) -> None:
    seeded = Tracker(model=small_net, tracker_config={"tau": -1.0, "template_update_threshold": -1.0})
    assert seeded.start(scene(0), text=SENTENCE).state == TrackState.TRACKING
    assert seeded.template_modalities == ("rgb", "thermal", "events")
    plain = Tracker(
        model=small_net, tracker_config={"template_update_threshold": -1.0, "seed_template_from_text": False}
    )
    plain.start(scene(0), text=SENTENCE)
    plain.update(scene(1))
    assert plain.template_modalities == ()


def test_reset_returns_to_a_fresh_tracker(small_net: torch.nn.Module) -> None:
    tracker = Tracker(model=small_net)
    run_sequence(tracker, n=3)
    tracker.reset()
    assert tracker.state == TrackState.IDLE and tracker.text is None and tracker.frame_index == -1
    assert tracker.memory.states == {} and tracker.template_modalities == ()
    assert tracker.confidence_memory is None and tracker.template_refreshes == 0
    with pytest.raises(RuntimeError):
        tracker.update(scene(0))
    assert run_sequence(tracker, n=3) == run_sequence(Tracker(model=small_net), n=3)


def test_time_going_backwards_resets_memory(
    small_net: torch.nn.Module, caplog: pytest.LogCaptureFixture
) -> None:
    looped, manual, plain = (Tracker(model=small_net) for _ in range(3))
    for tracker in (looped, manual, plain):
        run_sequence(tracker, n=3)
    manual.reset_memory()  # what a backwards timestamp must trigger
    with caplog.at_level(logging.WARNING, logger="mamba_tracking_ros.tracking.tracker"):
        back = looped.update(scene(3, timestamp=0.05))
    assert any("backwards" in r.getMessage() for r in caplog.records)
    assert back.search_mode == SearchMode.GLOBAL
    reference = manual.update(scene(3, timestamp=0.3))  # forward in time: no automatic reset here
    assert reference.search_mode == SearchMode.GLOBAL
    assert back.box == reference.box and back.confidence == reference.confidence
    for key, state in looped.memory.states.items():
        assert torch.equal(state, manual.memory.states[key])
    plain.update(scene(3))  # without the reset the carried memory gives other states
    assert any(not torch.equal(s, looped.memory.states[k]) for k, s in plain.memory.states.items())


def test_bad_start_arguments_name_the_field(small_net: torch.nn.Module) -> None:
    tracker = Tracker(model=small_net)
    frame = scene(0)
    for kwargs, field in [
        ({}, "box"),
        ({"box": (500.0, 10.0, 20.0, 20.0)}, "box"),
        ({"box": (10.0, 10.0, 0.0, 20.0)}, "box"),
        ({"box": (10.0, 10.0, 20.0)}, "box"),
        ({"text": "   "}, "text"),
        ({"text": ""}, "text"),
        ({"box": BOX, "text": 5}, "text"),
    ]:
        with pytest.raises(ValueError, match=f"^{field}"):
            tracker.start(frame, **kwargs)
    with pytest.raises(ValueError, match="^text"):
        tracker.set_text("")
    with pytest.raises(ValueError, match="^frame"):
        tracker.start(np.zeros((H, W, 3), np.uint8), box=BOX)
    with pytest.raises(RuntimeError):
        tracker.update(frame)


def test_thermal_of_another_size_is_resized_only_when_allowed(small_net: torch.nn.Module) -> None:
    full = scene(0, ("rgb", "thermal"))
    small = Frame(rgb=full.rgb, thermal=np.ascontiguousarray(full.thermal[::2, ::2]))
    with pytest.raises(ValueError, match="^thermal"):
        Tracker(model=small_net, tracker_config={"resize_thermal_to_rgb": False}).start(small, box=BOX)
    tracker = Tracker(model=small_net)  # resizing is the default
    check_result(tracker.start(small, box=BOX), small, 0)
    check_result(tracker.update(small), small, 1)


def test_device_auto_and_shared_model_arguments(small_net: torch.nn.Module) -> None:
    assert Tracker(model=small_net).device == next(small_net.parameters()).device
    with pytest.raises(ValueError, match="^checkpoint"):
        Tracker(model=small_net, checkpoint="weights.pt")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_tracker_runs_on_cuda() -> None:
    torch.manual_seed(0)
    tracker = Tracker("small", device="auto")
    assert tracker.device.type == "cuda"
    for i, result in enumerate(run_sequence(tracker, n=3)):
        check_result(result, scene(i), i)


def test_local_size_update_moves_towards_the_prediction_by_rate_times_score(
    small_net: torch.nn.Module,
) -> None:
    """size_update_rate damps w,h (SiamRPN-style) in LOCAL mode; the predicted centre is kept (the DSST
    refinement, a later step that moves and rescales the damped box, is off here)."""
    plain = {"tau": -1.0, "refine_translation": False, "refine_scale": 0.0}
    raw = Tracker(model=small_net, tracker_config={**plain, "size_update_rate": 1.0})
    damped = Tracker(model=small_net, tracker_config={**plain, "size_update_rate": 0.4})
    for tracker in (raw, damped):
        tracker.start(scene(0, ("rgb",)), box=BOX)
    a = raw.update(scene(1, ("rgb",)))
    b = damped.update(scene(1, ("rgb",)))
    assert a.search_mode == b.search_mode == SearchMode.LOCAL
    assert a.score == pytest.approx(b.score)
    rate = 0.4 * a.score
    assert b.box[2] == pytest.approx(BOX[2] + rate * (a.box[2] - BOX[2]), rel=1e-5)
    assert b.box[3] == pytest.approx(BOX[3] + rate * (a.box[3] - BOX[3]), rel=1e-5)
    assert b.box[0] + b.box[2] / 2 == pytest.approx(a.box[0] + a.box[2] / 2, rel=1e-5)
    assert b.box[1] + b.box[3] / 2 == pytest.approx(a.box[1] + a.box[3] / 2, rel=1e-5)
    with pytest.raises(ValueError, match="size_update_rate"):
        Tracker(model=small_net, tracker_config={"size_update_rate": 1.5})


def test_aspect_update_rate_pulls_the_aspect_towards_the_start_box(small_net: torch.nn.Module) -> None:
    """aspect_update_rate: the box keeps its centre and area; only that share of the network's log aspect
    ratio deviation from the start box's remains (0: the start box's aspect ratio on every frame)."""
    plain = {"tau": -1.0, "refine_translation": False, "refine_scale": 0.0, "size_update_rate": 1.0}
    runs = {}
    for rate in (1.0, 0.25, 0.0):
        tracker = Tracker(model=small_net, tracker_config={**plain, "aspect_update_rate": rate})
        tracker.start(scene(0, ("rgb",)), box=BOX)
        runs[rate] = [tracker.update(scene(i, ("rgb",))).box for i in (1, 2, 3)]
    start_aspect = math.log(BOX[2] / BOX[3])
    free_aspects = [math.log(b[2] / b[3]) for b in runs[1.0]]
    assert max(abs(a - start_aspect) for a in free_aspects) > 0.01  # the network did change the aspect here
    # frame 1: same input for every rate, so the boxes differ only by the pull
    free = runs[1.0][0]
    for share in (0.25, 0.0):
        box = runs[share][0]
        assert box[2] * box[3] == pytest.approx(free[2] * free[3], rel=1e-6)
        expected = start_aspect + share * (free_aspects[0] - start_aspect)
        assert math.log(box[2] / box[3]) == pytest.approx(expected, abs=1e-6)
        assert box[0] + box[2] / 2 == pytest.approx(free[0] + free[2] / 2, rel=1e-6)
        assert box[1] + box[3] / 2 == pytest.approx(free[1] + free[3] / 2, rel=1e-6)
    # rate 0: the start box's aspect ratio on every frame, whatever the network says
    for box in runs[0.0]:
        assert math.log(box[2] / box[3]) == pytest.approx(start_aspect, abs=1e-6)
    # a sentence-only track has no given box to pull towards: its boxes are the network's whatever the rate
    text_runs = []
    for rate in (1.0, 0.0):
        tracker = Tracker(model=small_net, tracker_config={**plain, "aspect_update_rate": rate})
        tracker.start(scene(0, ("rgb",)), text="a dark patch")
        text_runs.append([tracker.update(scene(i, ("rgb",))).box for i in (1, 2)])
    assert text_runs[0] == text_runs[1]
    with pytest.raises(ValueError, match="aspect_update_rate"):
        Tracker(model=small_net, tracker_config={"aspect_update_rate": -0.1})
