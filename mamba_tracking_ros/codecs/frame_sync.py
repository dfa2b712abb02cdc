"""Stamp-based synchroniser for RGB, thermal and event streams (pure Python + numpy, no ROS).

The ingest node feeds every received image (``push_image``) and every decoded event packet (``push_events``)
with its ROS stamp in integer nanoseconds and the local arrival time (a monotonic clock, nanoseconds), and
calls ``poll`` from a timer. Out come :class:`SyncedFrameSet` objects, in stamp order.

Rules (all times are ROS stamps unless called *arrival*):

* **Reference clock.** The frame-set stamp is the stamp of the first *required* image modality in canonical
  order (``rgb`` then ``thermal``). When no image modality is required (events only), frame sets are cut from
  the event stream every ``event_period_ns``.
* **Pairing.** An image is paired with a reference frame when ``|stamp - ref| <= slop_ns`` (closest wins).
* **When a set goes out.** As soon as every required modality is there: a paired image, or for events an event
  stream that has reached the reference stamp (the window is complete). An optional modality is included when
  it is there too; the set waits for it at most ``optional_wait_ns`` of arrival time, and not at all when that
  stream has already passed ``ref + slop``, was never seen, or is stale.
* **Event windows.** Events are sliced to ``[previous set stamp, this stamp)`` (the first window after a
  start/reset, and any window after a long gap, reaches back at most ``max_event_window_ns``).
* **Dropped and counted** (``dropped[reason]``, number of items): images or events that arrive for a window
  already sent (``*_late``), reference frames whose required partner never came (``*_unmatched``), images that
  no reference can pair any more (``*_unpaired``), queue overflow (``*_queue_overflow``), duplicate stamps
  (``*_duplicate``), events beyond the buffer bound (``events_overflow``, oldest dropped first), events older
  than the window reach (``events_stale``) and over the per-set cap (``events_window_cap``).
* **Time going backwards** by more than ``backwards_reset_ns`` on any stream (a bag loop, a restarted driver)
  resets the synchroniser; the reason is appended to the notices (``pop_notices``) and ``resets`` counts it.
  Smaller steps back are reordered (events, images still in time) or dropped as late.
* **Stopped streams.** ``stream_ages(now)`` gives the arrival age of each stream so the caller can report one
  that stopped; ``stale_streams(now)`` lists those older than ``stale_after_ns`` (or never seen).

All per-event work is vectorised numpy (concatenate, argsort, searchsorted, boolean masks).
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mamba_tracking_ros.constants import IMAGE_MODALITIES, MODALITIES

__all__ = [
    "EventSlice",
    "FrameSynchronizer",
    "SyncConfig",
    "SyncedFrameSet",
]


_MS = 1_000_000


@dataclass(frozen=True)
class SyncConfig:
    """Synchroniser settings; times in nanoseconds (ROS stamps) unless stated."""

    enabled: tuple[str, ...] = MODALITIES  # modalities that are subscribed at all
    required: tuple[str, ...] = ("rgb",)  # a set goes out only with all of these
    slop_ns: int = 20 * _MS  # max |stamp difference| for pairing images
    optional_wait_ns: int | None = None  # arrival-time wait for optional modalities (None: = slop_ns)
    max_buffered_events: int = 5_000_000  # event buffer bound (oldest dropped first)
    max_events_per_set: int = 0  # cap per frame set (0: no cap); over it events are thinned evenly
    max_event_window_ns: int = 200 * _MS  # reach of the first window and of windows after a gap
    event_period_ns: int = 33 * _MS  # frame-set period when only events are required
    max_queue: int = 10  # images buffered per image modality
    stale_after_ns: int = 1_000 * _MS  # arrival age after which a stream counts as stopped
    backwards_reset_ns: int = 500 * _MS  # a stamp this far behind the newest on its stream resets

    def __post_init__(self) -> None:
        """Validate modality names and positive sizes; raise ValueError naming the field."""
        for name in ("enabled", "required"):
            value = tuple(getattr(self, name))
            bad = [m for m in value if m not in MODALITIES]
            if bad:
                raise ValueError(f"{name}: unknown modalities {bad}; expected a subset of {list(MODALITIES)}")
            if len(set(value)) != len(value):
                raise ValueError(f"{name}: duplicate modalities in {list(value)}")
            object.__setattr__(self, name, tuple(m for m in MODALITIES if m in value))
        if not self.required:
            raise ValueError("required: at least one modality must be required")
        missing = [m for m in self.required if m not in self.enabled]
        if missing:
            raise ValueError(f"required: {missing} are not enabled (enabled: {list(self.enabled)})")
        for name in (
            "slop_ns",
            "max_event_window_ns",
            "event_period_ns",
            "stale_after_ns",
            "backwards_reset_ns",
        ):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")
        if self.optional_wait_ns is not None and self.optional_wait_ns < 0:
            raise ValueError(f"optional_wait_ns: must be >= 0, got {self.optional_wait_ns}")
        if self.max_buffered_events < 1:
            raise ValueError(f"max_buffered_events: must be >= 1, got {self.max_buffered_events}")
        if self.max_events_per_set < 0:
            raise ValueError(f"max_events_per_set: must be >= 0 (0 = no cap), got {self.max_events_per_set}")
        if self.max_queue < 1:
            raise ValueError(f"max_queue: must be >= 1, got {self.max_queue}")

    @property
    def reference(self) -> str | None:
        """The image modality whose stamps define frame sets (None: an event-driven clock)."""
        return next((m for m in IMAGE_MODALITIES if m in self.required), None)

    @property
    def wait_ns(self) -> int:
        """Arrival-time wait for optional modalities."""
        return int(self.slop_ns if self.optional_wait_ns is None else self.optional_wait_ns)


@dataclass
class EventSlice:
    """Events of one frame set's window ``[start_ns, end_ns)``: x, y (uint16), t_ns (int64), p (uint8)."""

    x: np.ndarray
    y: np.ndarray
    t_ns: np.ndarray
    p: np.ndarray
    start_ns: int
    end_ns: int
    complete: bool  # False when the set went out before the event stream reached end_ns

    def __len__(self) -> int:
        """Number of events in the window."""
        return int(self.t_ns.shape[0])


@dataclass
class SyncedFrameSet:
    """One synchronised output: stamp, images ``{modality: (stamp_ns, payload)}`` and an event slice."""

    stamp_ns: int
    images: dict[str, tuple[int, Any]] = field(default_factory=dict)
    events: EventSlice | None = None
    events_dropped: int = 0  # events dropped (overflow, late, stale, cap) since the previous set

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modalities present, in canonical order."""
        present = set(self.images) | ({"events"} if self.events is not None else set())
        return tuple(m for m in MODALITIES if m in present)


@dataclass
class _Item:
    """A queued image."""

    stamp: int
    arrival: int
    payload: Any


class FrameSynchronizer:
    """Pairs images by stamp within a slop and slices buffered events to each frame set's window."""

    def __init__(self, config: SyncConfig | None = None) -> None:
        """Create an empty synchroniser."""
        self.config = config or SyncConfig()
        self.dropped: Counter[str] = Counter()
        self.reordered_events = 0  # events that arrived out of time order and were sorted in
        self.resets = 0
        self.emitted = 0
        self._notices: list[str] = []
        self._last_arrival: dict[str, int] = {}
        self._clear()

    # ------------------------------------------------------------------ state
    def _clear(self) -> None:
        """Forget all buffered data and time references (start and reset)."""
        self._queues: dict[str, deque[_Item]] = {m: deque() for m in IMAGE_MODALITIES}
        self._newest: dict[str, int] = {}
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._n_events = 0
        self._events_sorted = True
        self._ev_last = None  # largest buffered event time
        self._horizon: int | None = None  # event stream complete up to (excluding) this time
        self._last_emit: int | None = None
        self._next_tick: int | None = None
        self._tick_arrival: int | None = None
        self._window_dropped = 0

    def reset(self, reason: str) -> None:
        """Drop everything buffered and restart (time went backwards); the reason becomes a notice."""
        discarded = sum(len(q) for q in self._queues.values())
        if discarded:
            self.dropped["reset_discarded_images"] += discarded
        if self._n_events:
            self.dropped["reset_discarded_events"] += self._n_events
        self.resets += 1
        self._notices.append(reason)
        self._clear()

    def pop_notices(self) -> list[str]:
        """Return and clear the notices (resets) since the last call."""
        out, self._notices = self._notices, []
        return out

    def buffered_events(self) -> int:
        """Number of events currently buffered."""
        return self._n_events

    def queued(self, modality: str) -> int:
        """Number of images of ``modality`` waiting to be paired."""
        return len(self._queues[modality])

    def stream_ages(self, now_ns: int) -> dict[str, float | None]:
        """Seconds since each enabled stream last delivered a message (None: never seen)."""
        return {
            m: (None if m not in self._last_arrival else (now_ns - self._last_arrival[m]) / 1e9)
            for m in self.config.enabled
        }

    def stale_streams(self, now_ns: int) -> list[str]:
        """Enabled streams never seen or silent for longer than ``stale_after_ns`` of arrival time."""
        limit = self.config.stale_after_ns
        return [m for m in self.config.enabled if self._is_stale(m, now_ns, limit)]

    def _is_stale(self, modality: str, now_ns: int, limit: int | None = None) -> bool:
        """True when a stream was never seen or is silent for longer than ``limit``."""
        last = self._last_arrival.get(modality)
        return last is None or now_ns - last > (self.config.stale_after_ns if limit is None else limit)

    def _went_back(self, modality: str, stamp: int) -> bool:
        """Reset (and report) when ``stamp`` is far behind the newest stamp of its stream."""
        newest = self._newest.get(modality)
        if newest is not None and stamp < newest - self.config.backwards_reset_ns:
            self.reset(
                f"{modality}: time went backwards by {(newest - stamp) / 1e9:.3f} s "
                f"(stamp {stamp / 1e9:.3f} s after {newest / 1e9:.3f} s; bag loop or restarted driver): "
                "synchroniser reset"
            )
            return True
        return False

    # ------------------------------------------------------------------ input
    def push_image(self, modality: str, stamp_ns: int, payload: Any, now_ns: int) -> list[SyncedFrameSet]:
        """Queue one image (stamp and arrival in ns); return the frame sets it completes."""
        if modality not in IMAGE_MODALITIES or modality not in self.config.enabled:
            raise ValueError(f"modality: {modality!r} is not an enabled image modality")
        stamp = int(stamp_ns)
        self._last_arrival[modality] = int(now_ns)
        self._went_back(modality, stamp)
        cfg = self.config
        queue = self._queues[modality]
        if self._last_emit is not None:
            is_ref = modality == cfg.reference
            if (is_ref and stamp <= self._last_emit) or (
                not is_ref and stamp <= self._last_emit - cfg.slop_ns
            ):
                self.dropped[f"{modality}_late"] += 1
                return self._emit_ready(now_ns)
        stamps = [it.stamp for it in queue]
        pos = bisect.bisect_left(stamps, stamp)
        if pos < len(stamps) and stamps[pos] == stamp:
            self.dropped[f"{modality}_duplicate"] += 1
            return self._emit_ready(now_ns)
        queue.insert(pos, _Item(stamp, int(now_ns), payload))
        self._newest[modality] = max(stamp, self._newest.get(modality, stamp))
        while len(queue) > cfg.max_queue:
            queue.popleft()
            self.dropped[f"{modality}_queue_overflow"] += 1
        return self._emit_ready(now_ns)

    def push_events(
        self,
        t_ns: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        p: np.ndarray,
        now_ns: int,
        horizon_ns: int | None = None,
    ) -> list[SyncedFrameSet]:
        """Buffer decoded events (t in ROS ns); ``horizon_ns``: the stream is complete before this time."""
        self._last_arrival["events"] = int(now_ns)
        if "events" not in self.config.enabled:
            raise ValueError("modality: 'events' is not enabled")
        t = np.asarray(t_ns, dtype=np.int64).reshape(-1)
        n = t.shape[0]
        cols = [np.asarray(a).reshape(-1) for a in (x, y, p)]
        if any(c.shape[0] != n for c in cols):
            raise ValueError(f"events: column lengths differ (t={n}, x/y/p={[c.shape[0] for c in cols]})")
        if n == 0:
            if horizon_ns is not None:
                self._advance_horizon(int(horizon_ns))
            return self._emit_ready(now_ns)
        x16, y16 = cols[0].astype(np.uint16, copy=False), cols[1].astype(np.uint16, copy=False)
        p8 = cols[2].astype(np.uint8, copy=False)
        t_max = int(t.max())
        if self._went_back("events", t_max):
            pass  # buffer cleared; this packet starts the new epoch
        # out-of-order events inside the packet (or before the buffered ones) are sorted in, and counted
        if n > 1 and bool((t[1:] < t[:-1]).any()):
            running = np.maximum.accumulate(t)
            self.reordered_events += int(np.count_nonzero(t[1:] < running[:-1]))
            order = np.argsort(t, kind="stable")
            t, x16, y16, p8 = t[order], x16[order], y16[order], p8[order]
        if self._last_emit is not None:
            late = t < self._last_emit
            n_late = int(np.count_nonzero(late))
            if n_late:
                self.dropped["events_late"] += n_late
                self._window_dropped += n_late
                keep = ~late
                t, x16, y16, p8 = t[keep], x16[keep], y16[keep], p8[keep]
        if t.shape[0]:
            if self._ev_last is not None and int(t[0]) < self._ev_last:
                self.reordered_events += int(np.count_nonzero(t < self._ev_last))
                self._events_sorted = False
            self._chunks.append((t, x16, y16, p8))
            self._n_events += t.shape[0]
            self._ev_last = max(int(t[-1]), self._ev_last if self._ev_last is not None else int(t[-1]))
            self._newest["events"] = max(t_max, self._newest.get("events", t_max))
        # events at t_max may still follow in the next packet: the stream is complete *before* t_max
        self._advance_horizon(max(t_max, int(horizon_ns) if horizon_ns is not None else t_max))
        if self._n_events > self.config.max_buffered_events:
            self._drop_oldest(self._n_events - self.config.max_buffered_events)
        return self._emit_ready(now_ns)

    def _drop_oldest(self, excess: int) -> None:
        """Drop the ``excess`` oldest buffered events (whole chunks as views when the buffer is in order)."""
        self.dropped["events_overflow"] += excess
        self._window_dropped += excess
        self._n_events -= excess
        if not self._events_sorted:
            t, x, y, p = self._consolidate()
            self._chunks = [(t[excess:], x[excess:], y[excess:], p[excess:])]
            return
        while excess:
            t, x, y, p = self._chunks[0]
            if t.shape[0] <= excess:
                excess -= t.shape[0]
                self._chunks.pop(0)
            else:
                self._chunks[0] = (t[excess:], x[excess:], y[excess:], p[excess:])
                excess = 0

    def _advance_horizon(self, value: int) -> None:
        """Move the event completeness horizon forward (never back)."""
        if self._horizon is None or value > self._horizon:
            self._horizon = value

    def poll(self, now_ns: int) -> list[SyncedFrameSet]:
        """Release frame sets whose optional-modality wait has expired (call from a timer)."""
        return self._emit_ready(now_ns)

    # ------------------------------------------------------------------ matching
    def _consolidate(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Merge the buffered chunks into one time-sorted set of arrays."""
        if not self._chunks:
            empty = (
                np.empty(0, np.int64),
                np.empty(0, np.uint16),
                np.empty(0, np.uint16),
                np.empty(0, np.uint8),
            )
            return empty
        if len(self._chunks) == 1:
            t, x, y, p = self._chunks[0]
        else:
            t, x, y, p = (np.concatenate([c[i] for c in self._chunks]) for i in range(4))
        if not self._events_sorted:
            order = np.argsort(t, kind="stable")
            t, x, y, p = t[order], x[order], y[order], p[order]
            self._events_sorted = True
        self._chunks = [(t, x, y, p)]
        return t, x, y, p

    def _match(self, modality: str, stamp: int) -> int | None:
        """Index of the queued image of ``modality`` closest to ``stamp`` within slop, or None."""
        queue = self._queues[modality]
        best, best_d = None, self.config.slop_ns + 1
        for i, item in enumerate(queue):
            d = abs(item.stamp - stamp)
            if d < best_d:
                best, best_d = i, d
            elif item.stamp > stamp:
                break
        return best

    def _passed(self, modality: str, stamp: int) -> bool:
        """True when the stream already delivered a stamp past ``stamp + slop`` (no match can come)."""
        newest = self._newest.get(modality)
        return newest is not None and newest > stamp + self.config.slop_ns

    def _candidate(self, now_ns: int) -> tuple[int, int] | None:
        """(stamp, arrival) of the next reference, or None when there is none yet."""
        ref = self.config.reference
        if ref is not None:
            queue = self._queues[ref]
            return (queue[0].stamp, queue[0].arrival) if queue else None
        # event-driven clock: ticks every event_period_ns once the stream is complete up to the tick
        if self._next_tick is None:
            if not self._n_events:
                return None
            first = int(self._consolidate()[0][0])
            self._next_tick = first + self.config.event_period_ns
        if self._horizon is None or self._horizon < self._next_tick:
            return None
        if self._tick_arrival is None:
            self._tick_arrival = int(now_ns)
        return self._next_tick, self._tick_arrival

    def _emit_ready(self, now_ns: int) -> list[SyncedFrameSet]:
        """Emit every frame set whose required modalities are present, in stamp order."""
        out: list[SyncedFrameSet] = []
        cfg = self.config
        ref = cfg.reference
        while True:
            cand = self._candidate(now_ns)
            if cand is None:
                break
            stamp, arrival = cand
            matches: dict[str, int] = {}
            decision = "emit"
            for m in cfg.enabled:
                if m == ref:
                    continue
                required = m in cfg.required
                if m == "events":
                    if self._horizon is not None and self._horizon >= stamp:
                        continue
                    if required or not self._optional_done(m, arrival, now_ns):
                        decision = "wait"
                    continue
                idx = self._match(m, stamp)
                if idx is not None:
                    matches[m] = idx
                elif required:
                    if self._passed(m, stamp):
                        decision = f"{ref}_unmatched"
                        break
                    decision = "wait"
                elif not (self._passed(m, stamp) or self._optional_done(m, arrival, now_ns)):
                    decision = "wait"
            if decision == "wait":
                break
            if decision != "emit":
                self._queues[ref].popleft()
                self.dropped[decision] += 1
                continue
            out.append(self._emit(stamp, matches, now_ns))
        return out

    def _optional_done(self, modality: str, arrival: int, now_ns: int) -> bool:
        """An optional modality need not be waited for (stale, never seen, or waited long enough)."""
        return self._is_stale(modality, now_ns) or now_ns - arrival >= self.config.wait_ns

    def _emit(self, stamp: int, matches: dict[str, int], now_ns: int) -> SyncedFrameSet:
        """Build the frame set at ``stamp`` from the matched images and the event window; advance state."""
        cfg = self.config
        ref = cfg.reference
        images: dict[str, tuple[int, Any]] = {}
        if ref is not None:
            item = self._queues[ref].popleft()
            images[ref] = (item.stamp, item.payload)
        for m in IMAGE_MODALITIES:
            if m == ref or m not in cfg.enabled:
                continue
            queue = self._queues[m]
            if m in matches:
                for _ in range(matches[m]):  # older ones can pair with nothing any more
                    queue.popleft()
                    self.dropped[f"{m}_unpaired"] += 1
                item = queue.popleft()
                images[m] = (item.stamp, item.payload)
            while queue and queue[0].stamp <= stamp - cfg.slop_ns:
                queue.popleft()
                self.dropped[f"{m}_unpaired"] += 1
        events = None
        if "events" in cfg.enabled and "events" in self._last_arrival:
            events = self._slice_events(stamp)
        frame_set = SyncedFrameSet(stamp, images, events, self._window_dropped)
        self._window_dropped = 0
        self._last_emit = stamp
        if ref is None:
            self._next_tick = stamp + cfg.event_period_ns
            if self._horizon is not None and self._horizon - self._next_tick > cfg.max_event_window_ns:
                gap = self._horizon - self._next_tick
                self._next_tick += (gap // cfg.event_period_ns) * cfg.event_period_ns
            self._tick_arrival = None
        self.emitted += 1
        return frame_set

    def _slice_events(self, stamp: int) -> EventSlice:
        """Cut ``[previous stamp, stamp)`` out of the buffer (bounded reach, optional even thinning)."""
        cfg = self.config
        start = stamp - cfg.max_event_window_ns
        if self._last_emit is not None:
            start = max(start, self._last_emit)
        t, x, y, p = self._consolidate()
        i0 = int(np.searchsorted(t, start, side="left"))
        i1 = int(np.searchsorted(t, stamp, side="left"))
        if i0:
            self.dropped["events_stale"] += i0
            self._window_dropped += i0
        ts, xs, ys, ps = t[i0:i1], x[i0:i1], y[i0:i1], p[i0:i1]
        n = i1 - i0
        if cfg.max_events_per_set and n > cfg.max_events_per_set:
            keep = np.linspace(0, n - 1, cfg.max_events_per_set).round().astype(np.int64)
            ts, xs, ys, ps = ts[keep], xs[keep], ys[keep], ps[keep]
            over = n - cfg.max_events_per_set
            self.dropped["events_window_cap"] += over
            self._window_dropped += over
        self._chunks = [(t[i1:], x[i1:], y[i1:], p[i1:])] if i1 < t.shape[0] else []
        self._n_events = t.shape[0] - i1
        complete = self._horizon is not None and self._horizon >= stamp
        return EventSlice(xs, ys, ts, ps, int(start), int(stamp), complete)
