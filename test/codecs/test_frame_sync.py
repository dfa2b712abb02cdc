"""FrameSynchronizer (pure Python): stamp pairing, event windows, drops per reason, resets, stale inputs."""

from __future__ import annotations

import numpy as np
import pytest

from mamba_tracking_ros.codecs.frame_sync import FrameSynchronizer, SyncConfig

MS = 1_000_000
T0 = 1_000_000 * MS  # 1000 s


def events(t: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random x, y, p for times t (returned as t, x, y, p)."""
    rng = np.random.default_rng(seed)
    n = t.shape[0]
    return np.asarray(t, np.int64), rng.integers(0, 640, n), rng.integers(0, 480, n), rng.integers(0, 2, n)


def test_config_validation_names_the_field() -> None:
    """Bad settings raise ValueError naming the field."""
    with pytest.raises(ValueError, match="required"):
        SyncConfig(enabled=("rgb",), required=("thermal",))
    with pytest.raises(ValueError, match="enabled: unknown"):
        SyncConfig(enabled=("rgb", "depth"))
    with pytest.raises(ValueError, match="slop_ns"):
        SyncConfig(slop_ns=0)
    with pytest.raises(ValueError, match="required: at least one"):
        SyncConfig(required=())
    assert SyncConfig(required=("events", "thermal")).reference == "thermal"
    assert SyncConfig(required=("events",)).reference is None


def test_pairs_closest_thermal_within_slop_and_counts_the_rest() -> None:
    """Both required: RGB pairs with the closest thermal inside the slop; older thermal frames are counted."""
    sync = FrameSynchronizer(
        SyncConfig(enabled=("rgb", "thermal"), required=("rgb", "thermal"), slop_ns=5 * MS)
    )
    assert sync.push_image("thermal", T0 - 20 * MS, "th_old", 0) == []
    assert sync.push_image("thermal", T0 - 4 * MS, "th_a", 0) == []
    assert sync.push_image("thermal", T0 + 2 * MS, "th_b", 0) == []
    out = sync.push_image("rgb", T0, "rgb0", 0)
    assert len(out) == 1
    assert out[0].stamp_ns == T0
    assert out[0].images == {"rgb": (T0, "rgb0"), "thermal": (T0 + 2 * MS, "th_b")}
    assert out[0].modalities == ("rgb", "thermal")
    assert sync.dropped["thermal_unpaired"] == 2  # th_old and th_a can pair with no later frame
    assert sync.queued("thermal") == 0


def test_required_partner_missing_waits_then_drops_reference() -> None:
    """A reference waits for a required partner; when the partner stream passes it, it is dropped."""
    sync = FrameSynchronizer(
        SyncConfig(enabled=("rgb", "thermal"), required=("rgb", "thermal"), slop_ns=5 * MS)
    )
    assert sync.push_image("rgb", T0, "rgb0", 0) == []
    assert sync.push_image("rgb", T0 + 33 * MS, "rgb1", 0) == []
    out = sync.push_image("thermal", T0 + 34 * MS, "th1", 0)  # passed T0 + slop: rgb0 can never pair
    assert [fs.images["rgb"][1] for fs in out] == ["rgb1"]
    assert sync.dropped["rgb_unmatched"] == 1


def test_optional_modality_waits_at_most_the_wait_time() -> None:
    """Optional thermal: included when it comes within the wait; otherwise the set leaves at poll time."""
    cfg = SyncConfig(enabled=("rgb", "thermal"), required=("rgb",), slop_ns=10 * MS, optional_wait_ns=15 * MS)
    sync = FrameSynchronizer(cfg)
    # never-seen optional stream: no wait at all
    out = sync.push_image("rgb", T0, "rgb0", now_ns=0)
    assert len(out) == 1 and out[0].modalities == ("rgb",)
    # stream seen: the set waits for it...
    sync.push_image("thermal", T0 + 20 * MS, "th_early", now_ns=1 * MS)
    assert sync.push_image("rgb", T0 + 33 * MS, "rgb1", now_ns=2 * MS) == []
    assert sync.poll(now_ns=10 * MS) == []
    out = sync.push_image("thermal", T0 + 35 * MS, "th1", now_ns=12 * MS)
    assert len(out) == 1 and out[0].images["thermal"] == (T0 + 35 * MS, "th1")
    # ... but not longer than optional_wait_ns of arrival time
    assert sync.push_image("rgb", T0 + 66 * MS, "rgb2", now_ns=20 * MS) == []
    assert sync.poll(now_ns=20 * MS + 14 * MS) == []
    out = sync.poll(now_ns=20 * MS + 15 * MS)
    assert len(out) == 1 and out[0].modalities == ("rgb",)
    # a thermal stream already past ref + slop is not waited for
    sync.push_image("thermal", T0 + 120 * MS, "th_far", now_ns=40 * MS)
    out = sync.push_image("rgb", T0 + 99 * MS, "rgb3", now_ns=41 * MS)
    assert len(out) == 1 and out[0].modalities == ("rgb",)


def test_event_windows_tile_the_stream_without_loss_or_duplicates() -> None:
    """Events required: each set holds [previous stamp, stamp); all events inside the span come out once."""
    cfg = SyncConfig(enabled=("rgb", "events"), required=("rgb", "events"), max_event_window_ns=40 * MS)
    sync = FrameSynchronizer(cfg)
    rng = np.random.default_rng(0)
    all_t = np.sort(rng.integers(T0 - 30 * MS, T0 + 140 * MS, 20_000))
    frames = [T0 + k * 33 * MS for k in range(4)]
    out = []
    for k, stamp in enumerate(frames):
        out += sync.push_image("rgb", stamp, k, 0)
        assert len(out) == k  # events have not reached this stamp yet
        chunk = all_t[(all_t >= (frames[k - 1] if k else T0 - 30 * MS)) & (all_t < stamp + 5 * MS)]
        if k:
            chunk = chunk[chunk >= frames[k - 1] + 5 * MS]
        out += sync.push_events(*events(chunk, k), now_ns=0)
        assert len(out) == k + 1
    for k, fs in enumerate(out):
        ev = fs.events
        assert ev.end_ns == frames[k] and ev.complete
        assert ev.start_ns == (frames[k] - 40 * MS if k == 0 else frames[k - 1])
        expected = all_t[(all_t >= ev.start_ns) & (all_t < ev.end_ns)]
        np.testing.assert_array_equal(ev.t_ns, expected)
        assert ev.x.dtype == np.uint16 and ev.p.dtype == np.uint8 and len(ev) == expected.shape[0]
    assert sum(len(fs.events) for fs in out) == np.count_nonzero(
        (all_t >= frames[0] - 40 * MS) & (all_t < frames[-1])
    )
    assert sync.dropped["events_stale"] == 0  # the first window reaches back 40 ms: nothing older was sent


def test_late_events_and_images_are_dropped_and_counted() -> None:
    """Events before the last sent stamp and a thermal frame too old to pair are dropped with a reason."""
    cfg = SyncConfig(enabled=("rgb", "thermal", "events"), required=("rgb", "events"), slop_ns=5 * MS)
    sync = FrameSynchronizer(cfg)
    sync.push_events(*events(np.arange(T0 - 10 * MS, T0 + 10 * MS, MS)), now_ns=0)
    out = sync.push_image("rgb", T0, "rgb0", 0)
    assert len(out) == 1 and len(out[0].events) == 10
    sync.push_events(*events(np.array([T0 - 3 * MS, T0 - 1, T0 + 11 * MS])), now_ns=1)
    assert sync.dropped["events_late"] == 2
    sync.push_image("thermal", T0 - 6 * MS, "late", 1)
    assert sync.dropped["thermal_late"] == 1
    sync.push_image("rgb", T0, "again", 1)
    assert sync.dropped["rgb_late"] == 1
    assert sync.push_image("rgb", T0 + 11 * MS, "rgb1", 2) == []  # optional thermal is live: wait for it
    out = sync.poll(now_ns=2 + 5 * MS)
    assert out[0].events_dropped == 2  # the late events are reported with the next set
    np.testing.assert_array_equal(out[0].events.t_ns, np.arange(T0, T0 + 10 * MS, MS))


def test_out_of_order_events_are_sorted_in_and_counted() -> None:
    """Events out of order inside a packet and across packets come out sorted; the count is kept."""
    sync = FrameSynchronizer(SyncConfig(enabled=("rgb", "events"), required=("rgb", "events")))
    t1 = np.array([T0 + 5, T0 + 1, T0 + 9, T0 + 3]) * 1
    t2 = np.array([T0 + 2, T0 + 40 * MS])
    sync.push_events(*events(t1), now_ns=0)
    sync.push_events(*events(t2), now_ns=0)
    assert sync.reordered_events == 2 + 1  # T0+1 and T0+3 in the first packet, T0+2 across packets
    out = sync.push_image("rgb", T0 + 10 * MS, "rgb", 0)
    np.testing.assert_array_equal(out[0].events.t_ns, np.sort(np.concatenate([t1, t2[:1]])))


def test_event_buffer_bound_drops_oldest() -> None:
    """Past max_buffered_events the oldest events go first; the count shows up on the next set."""
    cfg = SyncConfig(enabled=("rgb", "events"), required=("rgb", "events"), max_buffered_events=1000)
    sync = FrameSynchronizer(cfg)
    t = np.arange(T0, T0 + 3000 * 1000, 1000)  # 3000 events, 1 us apart
    sync.push_events(*events(t[:2000]), now_ns=0)
    sync.push_events(*events(t[2000:]), now_ns=0)
    assert sync.buffered_events() == 1000 and sync.dropped["events_overflow"] == 2000
    out = sync.push_image("rgb", int(t[-1]), "rgb", 0)
    np.testing.assert_array_equal(out[0].events.t_ns, t[2000:-1])
    assert out[0].events_dropped == 2000


def test_events_per_set_cap_thins_evenly() -> None:
    """max_events_per_set keeps an even sample over the whole window, first and last included."""
    cfg = SyncConfig(enabled=("rgb", "events"), required=("rgb", "events"), max_events_per_set=100)
    sync = FrameSynchronizer(cfg)
    t = np.arange(T0, T0 + 10_000 * 1000, 1000)
    sync.push_events(*events(t), now_ns=0, horizon_ns=int(t[-1]) + 1)  # complete up to the frame
    out = sync.push_image("rgb", int(t[-1]) + 1, "rgb", 0)
    got = out[0].events.t_ns
    assert got.shape[0] == 100 and got[0] == t[0] and got[-1] == t[-1]
    assert np.all(np.abs(np.diff(got) - (t[-1] - t[0]) / 99) <= 1000)
    assert out[0].events_dropped == 9900 and sync.dropped["events_window_cap"] == 9900


def test_time_going_backwards_resets_and_reports() -> None:
    """A stamp far behind the newest (bag loop) resets; the new epoch synchronises normally."""
    cfg = SyncConfig(enabled=("rgb", "thermal"), required=("rgb", "thermal"), backwards_reset_ns=500 * MS)
    sync = FrameSynchronizer(cfg)
    for k in range(3):
        sync.push_image("thermal", T0 + k * 33 * MS, k, 0)
        assert len(sync.push_image("rgb", T0 + k * 33 * MS, k, 0)) == 1
    sync.push_image("thermal", T0 + 99 * MS, "pending", 0)
    assert sync.push_image("rgb", T0 - 10_000 * MS, "loop0", 0) == []
    notes = sync.pop_notices()
    assert sync.resets == 1 and len(notes) == 1 and "backwards" in notes[0] and notes[0].startswith("rgb")
    assert sync.dropped["reset_discarded_images"] == 1
    out = sync.push_image("thermal", T0 - 10_000 * MS, "loop0", 0)
    assert len(out) == 1 and out[0].stamp_ns == T0 - 10_000 * MS
    assert sync.pop_notices() == []
    # a small step back is not a loop: the frame is late, nothing is reset
    sync.push_image("rgb", T0 - 10_000 * MS - 30 * MS, "small", 0)
    assert sync.resets == 1 and sync.dropped["rgb_late"] == 1


def test_events_backwards_resets() -> None:
    """Event time jumping back resets too, and the old buffer is discarded (counted)."""
    sync = FrameSynchronizer(SyncConfig(enabled=("rgb", "events"), required=("rgb", "events")))
    sync.push_events(*events(np.arange(T0, T0 + 100)), now_ns=0)
    sync.push_events(*events(np.arange(T0 - 5000 * MS, T0 - 5000 * MS + 10)), now_ns=0)
    assert sync.resets == 1 and sync.dropped["reset_discarded_events"] == 100
    assert sync.buffered_events() == 10 and "events" in sync.pop_notices()[0]


def test_queue_overflow_and_duplicates() -> None:
    """A reference queue waiting for a dead required stream is bounded; duplicate stamps are counted."""
    cfg = SyncConfig(enabled=("rgb", "thermal"), required=("rgb", "thermal"), max_queue=3)
    sync = FrameSynchronizer(cfg)
    for k in range(5):
        sync.push_image("rgb", T0 + k * 33 * MS, k, 0)
    assert sync.queued("rgb") == 3 and sync.dropped["rgb_queue_overflow"] == 2
    sync.push_image("rgb", T0 + 4 * 33 * MS, "dup", 0)
    assert sync.dropped["rgb_duplicate"] == 1


def test_stream_ages_and_stale_streams() -> None:
    """Ages are arrival-time seconds per enabled stream; never-seen and silent streams are stale."""
    cfg = SyncConfig(stale_after_ns=1000 * MS)
    sync = FrameSynchronizer(cfg)
    sync.push_image("rgb", T0, "a", now_ns=5_000 * MS)
    sync.push_events(*events(np.array([T0])), now_ns=5_500 * MS)
    ages = sync.stream_ages(now_ns=6_200 * MS)
    assert ages == {"rgb": pytest.approx(1.2), "thermal": None, "events": pytest.approx(0.7)}
    assert sync.stale_streams(now_ns=6_200 * MS) == ["rgb", "thermal"]


def test_events_only_clock() -> None:
    """Only events required: sets every event_period_ns; an optional RGB frame within slop is attached."""
    cfg = SyncConfig(enabled=("rgb", "events"), required=("events",), event_period_ns=10 * MS, slop_ns=2 * MS)
    sync = FrameSynchronizer(cfg)
    sync.push_image("rgb", T0 + 21 * MS, "rgb", now_ns=0)
    out = sync.push_events(*events(np.arange(T0, T0 + 35 * MS, 100_000)), now_ns=0)
    assert [fs.stamp_ns for fs in out] == [T0 + 10 * MS, T0 + 20 * MS]  # the 30 ms set waits for RGB
    out += sync.poll(now_ns=2 * MS)  # ... at most slop_ns (the default optional wait)
    assert [fs.stamp_ns for fs in out] == [T0 + 10 * MS, T0 + 20 * MS, T0 + 30 * MS]
    assert [len(fs.events) for fs in out] == [100, 100, 100]
    assert [fs.modalities for fs in out] == [("events",), ("rgb", "events"), ("events",)]


def test_five_million_events_vectorised() -> None:
    """5 M events in one push are buffered and sliced at once (no per-event Python work)."""
    sync = FrameSynchronizer(SyncConfig(enabled=("rgb", "events"), required=("rgb", "events")))
    n = 5_000_000
    t = T0 + np.arange(n, dtype=np.int64) * 6
    sync.push_events(t, np.zeros(n, np.uint16), np.zeros(n, np.uint16), np.ones(n, np.uint8), now_ns=0)
    out = sync.push_image("rgb", T0 + 15 * MS, "rgb", 0)
    assert len(out[0].events) == int(np.count_nonzero(t < T0 + 15 * MS))
    assert sync.buffered_events() == n - len(out[0].events)


def test_event_buffer_bound_with_out_of_order_packets() -> None:
    """The bound also holds when packets interleave in time: the globally oldest events are dropped."""
    cfg = SyncConfig(enabled=("rgb", "events"), required=("rgb", "events"), max_buffered_events=100)
    sync = FrameSynchronizer(cfg)
    a = np.arange(T0, T0 + 200_000, 2000)  # 100 events, even microseconds
    b = np.arange(T0 + 1000, T0 + 201_000, 2000)  # 100 events interleaved with a
    sync.push_events(*events(a), now_ns=0)
    sync.push_events(*events(b), now_ns=0)
    assert sync.buffered_events() == 100 and sync.dropped["events_overflow"] == 100
    out = sync.push_image("rgb", T0 + 199_000, "rgb", 0)
    np.testing.assert_array_equal(out[0].events.t_ns, np.sort(np.concatenate([a, b]))[100:-1])
